"""Redis: a shared cache and shared limits, a fast answer when Redis is down or hung,
JSON only in the cache, the readiness check and the production guard."""

from __future__ import annotations

import pickle
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import ValidationError
from redis import ConnectionError as RedisConnectionError
from redis import Redis

from app import create_app
from app.core.cache import CacheManager, get_cache
from app.core.config import ConfigurationError, Settings
from app.core.redis import create_client
from tests.cached_resource import URL, add_resource_routes
from tests.conftest import MakeApp
from tests.support import make_settings

VERSION = "/api/v1/version"
#: A request may take this long with Redis down. With redis-py's defaults a client
#: takes about 10 s to give up on a closed port (Redis(host, port): three retries
#: with backoff), or waits forever for a Redis that does not answer (no timeouts).
FAST = 0.5


def closed_port_url() -> str:
    """A Redis URL on a loopback port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def hung_redis_url() -> Iterator[str]:
    """A server that accepts connections and never answers (the kernel completes them)."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as server:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"


def cache_of(app: Flask) -> CacheManager:
    with app.app_context():
        return get_cache()


def test_a_down_redis_is_noticed_well_under_a_second() -> None:
    client = create_client(make_settings(REDIS_URL=closed_port_url()))
    started = time.perf_counter()
    with pytest.raises(RedisConnectionError):
        client.ping()
    assert time.perf_counter() - started < FAST


def timed(client: FlaskClient, method: str, url: str, **kwargs: Any) -> tuple[int, float]:
    """The status of a request and the seconds it took."""
    started = time.perf_counter()
    status = client.open(url, method=method, **kwargs).status_code
    return status, time.perf_counter() - started


def test_with_redis_down_requests_are_served_fast(
    make_app: MakeApp, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(REDIS_URL=closed_port_url())
    add_resource_routes(app, tmp_path / "resource.json")
    (tmp_path / "resource.json").write_text('{"name": "still works"}')
    client = app.test_client()
    for _ in range(5):
        for url in (URL, VERSION):  # the cache, the rate limiter
            status, seconds = timed(client, "GET", url)
            assert (status, seconds < FAST) == (200, True)
    assert client.get(URL).json["data"] == {"name": "still works"}  # type: ignore[index]
    # Logged once per outage, not once per request.
    assert caplog.text.count("Cache unavailable") == 1
    assert caplog.text.count("Rate-limit store unavailable") == 1


def test_with_redis_down_a_write_that_invalidates_answers_503(
    make_app: MakeApp, tmp_path: Path
) -> None:
    app = make_app(REDIS_URL=closed_port_url())
    add_resource_routes(app, tmp_path / "resource.json")
    status, seconds = timed(app.test_client(), "POST", URL, json={"name": "new"})
    # Another process could go on serving the old response from Redis once it
    # is back: the write cannot be confirmed, so it is refused, fast.
    assert (status, seconds < FAST) == (503, True)


def test_with_redis_down_each_process_still_counts_its_requests() -> None:
    settings = make_settings(
        REDIS_URL=closed_port_url(),
        RATE_LIMIT_DEFAULT="3/minute",
        RATE_LIMIT_STRATEGY="moving-window",
    )
    app = create_app(settings)
    client = app.test_client()
    assert [client.get(VERSION).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_a_hung_redis_costs_one_slow_request_not_every_request(
    make_app: MakeApp, tmp_path: Path, hung_redis_url: str
) -> None:
    app = make_app(REDIS_URL=hung_redis_url, REDIS_TIMEOUT=0.1)
    add_resource_routes(app, tmp_path / "resource.json")
    (tmp_path / "resource.json").write_text('{"name": "x"}')
    client = app.test_client()
    # The first request to meet the cache, and the first to meet the limiter,
    # wait for the timeouts; after that, each serves without Redis at once.
    for url in (URL, VERSION):
        status, seconds = timed(client, "GET", url)
        assert (status, seconds < 2) == (200, True)
    for _ in range(5):
        for url in (URL, VERSION):
            status, seconds = timed(client, "GET", url)
            assert (status, seconds < FAST) == (200, True)


def test_readiness_checks_redis(client: FlaskClient) -> None:
    response = client.get("/api/v1/health/ready")
    assert response.status_code == 200
    assert response.json["data"]["checks"]["redis"]["status"] == "ok"  # type: ignore[index]


def test_readiness_reports_redis_down_fast() -> None:
    app = create_app(make_settings(REDIS_URL=closed_port_url()))
    probes = app.extensions["readiness_probes"]
    app.extensions["readiness_probes"] = {"redis": probes["redis"]}  # Redis alone is under test
    client = app.test_client()
    started = time.perf_counter()
    response = client.get("/api/v1/health/ready")
    assert time.perf_counter() - started < FAST
    assert response.status_code == 503
    check = response.json["error"]["details"]["checks"]["redis"]  # type: ignore[index]
    assert check == {"status": "down", "error": "ConnectionError"}


class _Exploit:
    """Unpickling this writes a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.marker, "pwned"))


def test_a_pickled_value_planted_in_redis_is_never_unpickled(
    redis_client: Redis, redis_key_prefix: str, tmp_path: Path
) -> None:
    app = create_app(make_settings())
    cache = cache_of(app)
    marker = tmp_path / "marker"
    payload = pickle.dumps(_Exploit(marker))
    redis_client.set(f"{redis_key_prefix}:cache:{cache.version}:key:report", payload)
    with app.app_context():
        assert cache.get("report", default="miss") == "miss"
        assert cache.get_or_set("report", lambda: {"safe": True}) == {"safe": True}
    assert not marker.exists()
    pickle.loads(payload)  # noqa: S301 - proof that the payload would have run
    assert marker.read_text() == "pwned"


def test_two_apps_share_entries_and_invalidations() -> None:
    first, second = cache_of(create_app(make_settings())), cache_of(create_app(make_settings()))
    first.set("greeting", "hello", namespace="words")
    assert second.get("greeting", namespace="words") == "hello"
    second.invalidate("words")
    assert first.get("greeting", namespace="words") is None


def test_concurrent_misses_across_apps_compute_once() -> None:
    caches = [cache_of(create_app(make_settings())) for _ in range(2)]
    calls: list[int] = []
    results: list[Any] = []
    start = threading.Barrier(8)

    def slow() -> int:
        calls.append(1)
        time.sleep(0.3)
        return 42

    def reader(cache: CacheManager) -> None:
        start.wait()
        results.append(cache.get_or_set("hot", slow))

    threads = [threading.Thread(target=reader, args=(caches[n % 2],)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [42] * 8
    assert len(calls) == 1


def test_an_invalidation_made_while_redis_was_unreachable_is_not_lost() -> None:
    reachable = cache_of(create_app(make_settings())).backend
    unreachable = cache_of(create_app(make_settings(REDIS_URL=closed_port_url()))).backend
    cache = CacheManager(reachable, version="1", default_ttl=60, retry_interval=0)
    cache.set("page", "old", namespace="pages")
    cache.backend = unreachable
    cache.invalidate("pages")  # Redis is down: the invalidation has to wait
    cache.backend = reachable  # Redis is back
    assert cache.get("page", namespace="pages") is None


def test_production_requires_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL")
    with pytest.raises(ConfigurationError, match="REDIS_URL must be set"):
        Settings(_env_file=None, APP_ENV="production", SECRET_KEY="s" * 48)  # type: ignore[call-arg]


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "127.0.0.1:6379", "memcached://x"])
def test_a_redis_url_of_another_scheme_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="REDIS_URL"):
        make_settings(REDIS_URL=url)


def test_without_redis_jobs_answer_503(make_app: MakeApp) -> None:
    client = make_app(REDIS_URL="").test_client()
    response = client.get(f"/api/v1/jobs/{uuid.uuid4()}")
    assert response.status_code == 503
    assert response.json["error"]["code"] == "JOBS_UNAVAILABLE"  # type: ignore[index]


def test_the_worker_needs_redis() -> None:
    app = create_app(make_settings(REDIS_URL=""))
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code == 2
    assert "REDIS_URL is not set" in result.output


@pytest.mark.parametrize("fault", ["refused", "hung"])
def test_job_routes_answer_503_while_redis_is_down(
    make_app: MakeApp,
    hung_redis_url: str,
    maintainer_of: Callable[[Flask], FlaskClient],
    fault: str,
) -> None:
    url = closed_port_url() if fault == "refused" else hung_redis_url
    app = make_app(REDIS_URL=url, REDIS_TIMEOUT=0.1)
    for response in (
        app.test_client().get(f"/api/v1/jobs/{uuid.uuid4()}"),
        maintainer_of(app).post("/api/v1/jobs/cache-purge"),
    ):
        assert response.status_code == 503, response.get_data(as_text=True)
        assert response.json["error"]["code"] == "REDIS_UNAVAILABLE"  # type: ignore[index]
        assert response.headers["Retry-After"] == "1"
