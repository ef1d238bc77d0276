"""The items API, end to end through HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

ITEMS = "/api/v1/items"


def create(client: FlaskClient, name: str, description: str | None = None) -> dict[str, Any]:
    response = client.post(ITEMS, json={"name": name, "description": description})
    assert response.status_code == 201, response.json
    data: dict[str, Any] = response.json["data"]  # type: ignore[index]
    return data


def error_code(response: Any) -> str:
    assert response.json["success"] is False
    code: str = response.json["error"]["code"]
    return code


def test_create_returns_the_item(client: FlaskClient) -> None:
    response = client.post(ITEMS, json={"name": "Widget", "description": "A thing."})
    assert response.status_code == 201
    body = response.json
    assert body is not None
    assert body["success"] is True
    item = body["data"]
    assert item["name"] == "Widget"
    assert item["description"] == "A thing."
    assert isinstance(item["id"], int)
    assert item["created_at"].endswith("Z") or item["created_at"].endswith("+00:00")
    assert item["updated_at"] >= item["created_at"]


def test_created_item_can_be_read_back(client: FlaskClient) -> None:
    item = create(client, "Gadget")
    response = client.get(f"{ITEMS}/{item['id']}")
    assert response.status_code == 200
    assert response.json is not None
    assert response.json["data"] == item


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({}, "name", "missing"),
        ({"name": ""}, "name", "string_too_short"),
        ({"name": "   "}, "name", "string_not_trimmed"),
        ({"name": " Widget"}, "name", "string_not_trimmed"),
        ({"name": "Widget\n"}, "name", "string_not_trimmed"),
        ({"name": "x" * 201}, "name", "string_too_long"),
        ({"name": 5}, "name", "string_type"),
        ({"name": "ok", "description": "x" * 2001}, "description", "string_too_long"),
        ({"name": "ok", "id": 9}, "id", "extra_forbidden"),
        ({"name": "ok", "created_at": "2020-01-01T00:00:00Z"}, "created_at", "extra_forbidden"),
    ],
)
def test_create_validates_the_body(
    client: FlaskClient, body: dict[str, Any], field: str, problem: str
) -> None:
    response = client.post(ITEMS, json=body)
    assert response.status_code == 422
    assert error_code(response) == "VALIDATION_ERROR"
    details = response.json["error"]["details"]  # type: ignore[index]
    assert {"location": "body", "field": field, "type": problem} in [
        {key: detail[key] for key in ("location", "field", "type")} for detail in details
    ]


def test_limits_are_inclusive(client: FlaskClient) -> None:
    item = create(client, "n" * 200, "d" * 2000)
    assert len(item["name"]) == 200
    assert len(item["description"]) == 2000


def test_duplicate_name_is_409(client: FlaskClient) -> None:
    create(client, "Unique")
    response = client.post(ITEMS, json={"name": "Unique"})
    assert response.status_code == 409
    assert error_code(response) == "ITEM_NAME_TAKEN"
    # The failed insert did not break the request's transaction for later requests.
    assert client.get(ITEMS).json["data"]["count"] == 1  # type: ignore[index]


def test_missing_item_is_404(client: FlaskClient) -> None:
    for method in (client.get, client.delete):
        response = method(f"{ITEMS}/999999")
        assert response.status_code == 404
        assert error_code(response) == "ITEM_NOT_FOUND"
    response = client.patch(f"{ITEMS}/999999", json={"name": "x"})
    assert response.status_code == 404


@pytest.mark.parametrize("item_id", ["0", "-1", "abc", "2147483648", "1.5"])
def test_invalid_ids_are_422(client: FlaskClient, item_id: str) -> None:
    response = client.get(f"{ITEMS}/{item_id}")
    assert response.status_code == 422
    assert response.json["error"]["details"][0]["location"] == "path"  # type: ignore[index]


def test_update_changes_only_the_given_fields(client: FlaskClient) -> None:
    item = create(client, "Old", "Keep me")
    response = client.patch(f"{ITEMS}/{item['id']}", json={"name": "New"})
    assert response.status_code == 200
    updated = response.json["data"]  # type: ignore[index]
    assert updated["name"] == "New"
    assert updated["description"] == "Keep me"
    assert updated["created_at"] == item["created_at"]
    assert updated["updated_at"] > item["updated_at"]


def test_update_can_clear_the_description(client: FlaskClient) -> None:
    item = create(client, "Described", "text")
    response = client.patch(f"{ITEMS}/{item['id']}", json={"description": None})
    assert response.json["data"]["description"] is None  # type: ignore[index]


def test_update_rejects_a_null_name(client: FlaskClient) -> None:
    item = create(client, "Named")
    response = client.patch(f"{ITEMS}/{item['id']}", json={"name": None})
    assert response.status_code == 422


def test_update_with_an_empty_body_changes_nothing(client: FlaskClient) -> None:
    item = create(client, "Same")
    response = client.patch(f"{ITEMS}/{item['id']}", json={})
    assert response.status_code == 200
    assert response.json["data"] == item  # type: ignore[index]


def test_update_to_a_taken_name_is_409(client: FlaskClient) -> None:
    create(client, "First")
    second = create(client, "Second")
    response = client.patch(f"{ITEMS}/{second['id']}", json={"name": "First"})
    assert response.status_code == 409
    assert error_code(response) == "ITEM_NAME_TAKEN"
    assert client.get(f"{ITEMS}/{second['id']}").json["data"]["name"] == "Second"  # type: ignore[index]


def test_delete_removes_the_item(client: FlaskClient) -> None:
    item = create(client, "Doomed")
    response = client.delete(f"{ITEMS}/{item['id']}")
    assert response.status_code == 204
    assert response.data == b""
    assert client.get(f"{ITEMS}/{item['id']}").status_code == 404


def test_list_pages_through_every_item_once(client: FlaskClient) -> None:
    names = [f"item-{number:02d}" for number in range(7)]
    for name in names:
        create(client, name)
    seen: list[str] = []
    for offset in range(0, 10, 3):
        body = client.get(f"{ITEMS}?limit=3&offset={offset}&sort=name").json["data"]  # type: ignore[index]
        assert body["count"] == 7
        assert body["limit"] == 3
        assert body["offset"] == offset
        seen += [item["name"] for item in body["data"]]
    assert seen == names


def test_list_sorts_and_filters(client: FlaskClient) -> None:
    for name in ("banana", "apple", "cherry", "apple pie"):
        create(client, name)
    names = lambda query: [  # noqa: E731
        item["name"]
        for item in client.get(f"{ITEMS}?{query}").json["data"]["data"]  # type: ignore[index]
    ]
    assert names("sort=name") == ["apple", "apple pie", "banana", "cherry"]
    assert names("sort=-name") == ["cherry", "banana", "apple pie", "apple"]
    assert names("sort=id") == ["banana", "apple", "cherry", "apple pie"]
    assert names("sort=-created_at") == ["apple pie", "cherry", "apple", "banana"]
    assert names("q=APPLE&sort=name") == ["apple", "apple pie"]
    assert names("q=%25") == []


def test_list_defaults(client: FlaskClient) -> None:
    body = client.get(ITEMS).json["data"]  # type: ignore[index]
    assert body == {"data": [], "count": 0, "limit": 20, "offset": 0}


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "limit=-5", "offset=-1", "limit=abc", "sort=password", "extra=1"],
)
def test_list_rejects_bad_queries(client: FlaskClient, query: str) -> None:
    response = client.get(f"{ITEMS}?{query}")
    assert response.status_code == 422
    assert response.json["error"]["details"][0]["location"] == "query"  # type: ignore[index]


def test_the_largest_page_is_allowed(client: FlaskClient) -> None:
    assert client.get(f"{ITEMS}?limit=100").status_code == 200


def test_items_are_documented(client: FlaskClient) -> None:
    spec: dict[str, Any] = client.get("/api/v1/openapi.json").json  # type: ignore[assignment]
    items = spec["paths"]["/api/v1/items"]
    assert set(items) == {"get", "post"}
    assert {"201", "409", "422"} <= set(items["post"]["responses"])
    assert {parameter["name"] for parameter in items["get"]["parameters"]} == {
        "limit",
        "offset",
        "sort",
        "q",
    }
    one = spec["paths"]["/api/v1/items/{item_id}"]
    assert set(one) == {"get", "patch", "delete"}
    (parameter,) = one["get"]["parameters"]
    assert parameter["in"] == "path"
    assert parameter["schema"]["type"] == "integer"
    assert parameter["schema"]["minimum"] == 1
    assert "404" in one["get"]["responses"]


@pytest.mark.parametrize("raw", ["1.0", "+1", "%201", "01", "1%20", "\uff11"])
def test_an_item_has_one_url(client: FlaskClient, raw: str) -> None:
    item = create(client, "Only one")
    path = raw.replace("1", str(item["id"]))
    response = client.get(f"{ITEMS}/{path}")
    assert response.status_code == 422, response.json
    assert client.get(f"{ITEMS}/{item['id']}").status_code == 200


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", ITEMS, {"name": "nul\x00name"}),
        ("post", ITEMS, {"name": "ok", "description": "nul\x00description"}),
        ("get", f"{ITEMS}?q=a%00b", None),
    ],
)
def test_text_with_nul_is_422_not_a_database_error(
    client: FlaskClient, method: str, url: str, body: dict[str, Any] | None
) -> None:
    response = getattr(client, method)(url, json=body)
    assert response.status_code == 422
    assert response.json["error"]["details"][0]["type"] == "string_unstorable_character"


def test_null_clears_a_description_but_not_a_name(client: FlaskClient) -> None:
    item = create(client, "Nullable", "Some text")
    cleared = client.patch(f"{ITEMS}/{item['id']}", json={"description": None})
    assert cleared.json["data"]["description"] is None  # type: ignore[index]
    refused = client.patch(f"{ITEMS}/{item['id']}", json={"name": None})
    assert refused.status_code == 422
