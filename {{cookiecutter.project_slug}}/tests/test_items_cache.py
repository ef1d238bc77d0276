"""Items are read from the cache, and every write is visible on the next read."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.conftest import MakeApp

ITEMS = "/api/v1/items"


def create(client: FlaskClient, name: str) -> dict[str, Any]:
    response = client.post(ITEMS, json={"name": name})
    assert response.status_code == 201, response.json
    data: dict[str, Any] = response.json["data"]  # type: ignore[index]
    return data


def names(client: FlaskClient, query: str = "") -> list[str]:
    body = client.get(f"{ITEMS}{query}").json
    return [item["name"] for item in body["data"]["data"]]  # type: ignore[index]


def test_reads_are_served_from_the_cache(client: FlaskClient) -> None:
    item = create(client, "cached")
    for url in (ITEMS, f"{ITEMS}/{item['id']}"):
        assert client.get(url).headers["X-Cache"] == "MISS"
        second = client.get(url)
        assert second.headers["X-Cache"] == "HIT"
        assert second.status_code == 200


def test_a_created_item_is_listed_at_once(client: FlaskClient) -> None:
    assert names(client) == []
    create(client, "new")
    assert names(client) == ["new"]


def test_an_update_is_read_back_at_once(client: FlaskClient) -> None:
    item = create(client, "before")
    url = f"{ITEMS}/{item['id']}"
    client.get(url)
    names(client, "?sort=name")
    client.patch(url, json={"name": "after"})
    assert client.get(url).json["data"]["name"] == "after"  # type: ignore[index]
    assert names(client, "?sort=name") == ["after"]


def test_a_deleted_item_is_gone_at_once(client: FlaskClient) -> None:
    item = create(client, "doomed")
    url = f"{ITEMS}/{item['id']}"
    client.get(url)
    client.delete(url)
    assert client.get(url).status_code == 404
    assert names(client) == []


def test_a_refused_write_leaves_the_cache_alone(client: FlaskClient) -> None:
    create(client, "taken")
    client.get(ITEMS)
    assert client.post(ITEMS, json={"name": "taken"}).status_code == 409
    assert client.get(ITEMS).headers["X-Cache"] == "HIT"


def test_a_missing_item_is_not_cached(client: FlaskClient) -> None:
    assert client.get(f"{ITEMS}/999999").status_code == 404
    assert "X-Cache" not in client.get(f"{ITEMS}/999999").headers


def test_item_writes_have_a_burst_limit_checked_before_validation(make_app: MakeApp) -> None:
    # The moving window counts exactly (the default may let one more through at a
    # window's edge), and invalid bodies are quick: all eleven fall within a second.
    client = make_app(RATE_LIMIT_STRATEGY="moving-window").test_client()
    codes = [client.post(ITEMS, json={}).status_code for _ in range(11)]
    assert codes == [422] * 10 + [429]
    assert client.get("/api/v1/version").status_code == 200  # the limit was the endpoint's own
