"""The cache: JSON values, expiry, namespaces, versions, stampedes, and cached responses.

Every app the tests build uses the project's shared cache store if it has one, and
a dictionary in the process otherwise: these tests hold for whichever it uses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

from app import create_app
from app.core.cache import CacheManager, cached_response, get_cache
from app.core.responses import success
from tests.cached_resource import URL, add_resource_routes
from tests.support import make_settings


@pytest.fixture
def cache(app: Flask) -> Iterator[CacheManager]:
    with app.app_context():
        yield get_cache()


def manager_like(cache: CacheManager, **changes: Any) -> CacheManager:
    """Another manager on the same backend, as another app would have."""
    options = {"version": cache.version, "default_ttl": cache.default_ttl, **changes}
    return CacheManager(cache.backend, **options)


@pytest.mark.parametrize(
    "value", [{"a": [1, 2.5, None]}, [True, False], "text é", 0, None, {"nested": {"x": "y"}}]
)
def test_json_values_round_trip(cache: CacheManager, value: Any) -> None:
    cache.set("key", value)
    assert cache.get("key", default="missing") == value


def test_a_miss_returns_the_default(cache: CacheManager) -> None:
    assert cache.get("absent") is None
    assert cache.get("absent", default=7) == 7


def test_delete_removes_an_entry(cache: CacheManager) -> None:
    cache.set("key", 1)
    cache.delete("key")
    assert cache.get("key") is None


@pytest.mark.parametrize("value", [{1, 2}, object(), b"bytes", float("nan")])
def test_values_that_are_not_json_are_refused(cache: CacheManager, value: Any) -> None:
    with pytest.raises(TypeError, match="JSON"):
        cache.set("key", value)


def test_a_stored_value_that_is_not_json_reads_as_a_miss(
    cache: CacheManager, caplog: pytest.LogCaptureFixture
) -> None:
    cache.set("key", "fine")
    cache.backend.set(f"{cache.version}:key:key", b"\x80\x04not json", 60)
    assert cache.get("key", default="miss") == "miss"
    assert cache.get_or_set("key", lambda: "recomputed") == "recomputed"
    assert "is not JSON" in caplog.text


def test_entries_expire(cache: CacheManager) -> None:
    short = manager_like(cache, default_ttl=0.3)
    short.set("by-default", 1)
    short.set("explicit", 2, ttl=30)
    time.sleep(0.4)
    assert short.get("by-default") is None
    assert short.get("explicit") == 2


def test_the_default_ttl_comes_from_the_settings() -> None:
    app = create_app(make_settings(CACHE_DEFAULT_TTL=42))
    with app.app_context():
        assert get_cache().default_ttl == 42


def test_get_or_set_computes_once_then_serves_the_stored_value(cache: CacheManager) -> None:
    calls: list[int] = []

    def compute() -> dict[str, int]:
        calls.append(1)
        return {"answer": 42}

    assert cache.get_or_set("answer", compute) == {"answer": 42}
    assert cache.get_or_set("answer", compute) == {"answer": 42}
    assert len(calls) == 1


def test_listeners_hear_each_hit_and_miss(cache: CacheManager) -> None:
    heard: list[tuple[bool, str | None]] = []
    cache.on_lookup(lambda hit, namespace: heard.append((hit, namespace)))
    cache.get("absent")
    cache.get_or_set("answer", lambda: 42, namespace="numbers")
    cache.get_or_set("answer", lambda: 43, namespace="numbers")
    assert heard == [(False, None), (False, "numbers"), (True, "numbers")]


def test_a_failed_computation_is_not_stored(cache: CacheManager) -> None:
    def broken() -> int:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        cache.get_or_set("key", broken)
    # The lock was released: the next caller computes at once.
    started = time.perf_counter()
    assert cache.get_or_set("key", lambda: 5) == 5
    assert time.perf_counter() - started < 0.5


def test_concurrent_misses_compute_once(cache: CacheManager) -> None:
    calls: list[int] = []
    start = threading.Barrier(8)
    results: list[Any] = []

    def slow() -> str:
        calls.append(1)
        time.sleep(0.3)
        return "value"

    def reader() -> None:
        start.wait()
        results.append(cache.get_or_set("hot", slow))

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["value"] * 8
    assert len(calls) == 1


def test_invalidating_a_namespace_hides_its_entries_only(cache: CacheManager) -> None:
    cache.set("a", 1, namespace="books")
    cache.set("a", 2, namespace="films")
    cache.set("a", 3)
    cache.invalidate("books")
    assert cache.get("a", namespace="books") is None
    assert cache.get("a", namespace="films") == 2
    assert cache.get("a") == 3
    cache.set("a", 4, namespace="books")
    assert cache.get("a", namespace="books") == 4


def test_another_cache_version_sees_nothing_of_the_old_one(cache: CacheManager) -> None:
    cache.set("key", "v1", namespace="books")
    cache.set("plain", "v1")
    upgraded = manager_like(cache, version=f"{cache.version}-next")
    assert upgraded.get("key", namespace="books") is None
    assert upgraded.get("plain") is None


def test_purge_deletes_only_unreachable_entries(cache: CacheManager) -> None:
    old = manager_like(cache, version="old")
    old.set("gone", 1)
    cache.set("stale", 1, namespace="books")
    cache.invalidate("books")
    cache.set("fresh", 2, namespace="books")
    cache.set("plain", 3)
    result = cache.purge_stale()
    assert result["deleted"] == 2
    assert result["scanned"] == 5  # four entries and the generation of "books"
    assert cache.get("fresh", namespace="books") == 2
    assert cache.get("plain") == 3
    assert cache.purge_stale()["deleted"] == 0


def test_a_disabled_cache_always_computes(cache: CacheManager) -> None:
    disabled = manager_like(cache, enabled=False)
    disabled.set("key", 1)
    assert disabled.get("key") is None
    assert disabled.get_or_set("key", lambda: 1) == 1
    assert disabled.get_or_set("key", lambda: 2) == 2


@pytest.mark.parametrize("namespace", ["", "has:colon", "has space", "x" * 101])
def test_a_bad_namespace_is_refused(cache: CacheManager, namespace: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        cache.set("key", 1, namespace=namespace)


# -- cached responses ----------------------------------------------------------


@pytest.fixture
def resource_client(app: Flask, tmp_path: Path) -> FlaskClient:
    add_resource_routes(app, tmp_path / "resource.json")
    return app.test_client()


def test_a_response_is_cached_and_served_with_a_fresh_request_id(
    resource_client: FlaskClient,
) -> None:
    resource_client.post(URL, json={"name": "first"})
    miss = resource_client.get(URL, headers={"X-Request-ID": "one"})
    hit = resource_client.get(URL, headers={"X-Request-ID": "two"})
    assert (miss.headers["X-Cache"], hit.headers["X-Cache"]) == ("MISS", "HIT")
    assert hit.json == {**miss.json, "request_id": "two"}  # type: ignore[dict-item]
    assert hit.headers["X-Request-ID"] == "two"


def test_a_write_is_visible_on_the_next_read(resource_client: FlaskClient, tmp_path: Path) -> None:
    resource_client.post(URL, json={"name": "first"})
    resource_client.get(URL)
    assert resource_client.post(URL, json={"name": "second"}).status_code == 200
    response = resource_client.get(URL)
    assert response.headers["X-Cache"] == "MISS"
    assert response.json["data"] == {"name": "second"}  # type: ignore[index]


def test_a_failed_write_invalidates_nothing(resource_client: FlaskClient) -> None:
    resource_client.post(URL, json={"name": "first"})
    resource_client.get(URL)
    assert resource_client.post(URL, json=["not", "an", "object"]).status_code == 400
    assert resource_client.get(URL).headers["X-Cache"] == "HIT"


def test_the_query_string_is_part_of_the_key_in_any_order(resource_client: FlaskClient) -> None:
    resource_client.post(URL, json={"name": "first"})
    assert resource_client.get(f"{URL}?a=1&b=2").headers["X-Cache"] == "MISS"
    assert resource_client.get(f"{URL}?b=2&a=1").headers["X-Cache"] == "HIT"
    assert resource_client.get(f"{URL}?a=1&b=3").headers["X-Cache"] == "MISS"


def test_error_responses_are_not_cached(resource_client: FlaskClient) -> None:
    assert resource_client.get(URL).status_code == 404
    resource_client.post(URL, json={"name": "created"})
    # No invalidation was needed: the 404 was never stored.
    assert resource_client.get(URL).json["data"] == {"name": "created"}  # type: ignore[index]


def test_vary_gives_each_caller_an_entry_of_its_own(app: Flask) -> None:
    @app.get("/_test/whoami")
    @cached_response("people", vary=lambda: request.headers.get("X-User", ""))
    def whoami() -> Any:
        return success({"user": request.headers.get("X-User")})

    client = app.test_client()
    for user in ("ada", "grace", "ada"):
        response = client.get("/_test/whoami", headers={"X-User": user})
        assert response.json["data"] == {"user": user}  # type: ignore[index]
    assert response.headers["X-Cache"] == "HIT"
