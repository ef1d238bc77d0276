"""Rate limits: the per-client budget, per-view limits, bursts, who counts as a client,
the 429 envelope and its headers, and the OpenAPI document."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from pydantic import ValidationError

from app.core.access import public
from app.core.exceptions import APIError
from app.core.rate_limit import apply_view_limits, rate_limit
from app.core.responses import success
from tests.conftest import MakeApp
from tests.support import make_settings

VERSION = "/api/v1/version"


@pytest.fixture
def exact_app(make_app: MakeApp) -> MakeApp:
    """Build apps counting with the moving window, which is exact; the sliding
    window counter may let one more request through just after a window ends."""

    def make(**overrides: Any) -> Flask:
        return make_app(RATE_LIMIT_STRATEGY="moving-window", **overrides)

    return make


@pytest.fixture
def limited_app(exact_app: MakeApp) -> MakeApp:
    """Build apps with a test route limited to 2 a minute, on top of ``overrides``."""

    def make(**overrides: Any) -> Flask:
        app = exact_app(**overrides)

        @app.get("/_test/scarce")
        @rate_limit("2/minute")
        def scarce() -> Any:
            return success({"ok": True})

        apply_view_limits(app)
        return app

    return make


def from_addresses(app: Flask) -> FlaskClient:
    """A client known only by its address (no credentials), whatever the project."""
    return FlaskClient(app)


def statuses(client: FlaskClient, url: str, times: int, **kwargs: Any) -> list[int]:
    return [client.get(url, **kwargs).status_code for _ in range(times)]


@pytest.mark.parametrize("strategy", ["sliding-window-counter", "moving-window"])
def test_the_default_limit_applies_to_every_endpoint(make_app: MakeApp, strategy: str) -> None:
    # A day: a window that a test of milliseconds will not see turn over.
    app = make_app(RATE_LIMIT_DEFAULT="3/day", RATE_LIMIT_STRATEGY=strategy)
    client = app.test_client()
    assert statuses(client, VERSION, 2) == [200, 200]
    # One budget for the whole API: another endpoint draws on the same one.
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get(VERSION).status_code == 429


def test_a_refused_request_gets_the_envelope_and_retry_after(exact_app: MakeApp) -> None:
    client = from_addresses(exact_app(RATE_LIMIT_DEFAULT="1/minute"))
    first = client.get(VERSION)
    assert first.headers["X-RateLimit-Limit"] == "1"
    assert first.headers["X-RateLimit-Remaining"] == "0"
    assert "Retry-After" not in first.headers

    response = client.get(VERSION)
    assert response.status_code == 429
    body = response.json
    assert body is not None
    assert body["success"] is False
    assert body["error"]["code"] == "RATE_LIMITED"
    assert body["error"]["details"] == {"limit": "1 per 1 minute"}
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Reset"]) > time.time()


def test_another_429_keeps_its_own_retry_after(exact_app: MakeApp) -> None:
    """A 429 that no limit refused (an upstream's, say) says when to retry itself:
    the limits only add their state."""
    app = exact_app(RATE_LIMIT_DEFAULT="5/minute")

    @app.get("/_test/busy")
    @public
    def busy() -> Any:
        raise APIError(
            "Busy upstream.", code="UPSTREAM_BUSY", status=429, headers={"Retry-After": "7"}
        )

    apply_view_limits(app)
    response = from_addresses(app).get("/_test/busy")
    assert response.status_code == 429
    assert response.headers.getlist("Retry-After") == ["7"]
    assert response.headers["X-RateLimit-Remaining"] == "4"


def test_a_view_limit_counts_for_its_endpoint_on_top_of_the_budget(limited_app: MakeApp) -> None:
    client = limited_app(RATE_LIMIT_DEFAULT="6/minute").test_client()
    assert statuses(client, "/_test/scarce", 3) == [200, 200, 429]
    assert client.get("/_test/scarce").json["error"]["details"]["limit"] == "2 per 1 minute"  # type: ignore[index]
    # The view's own limit does not use up the budget of other endpoints ...
    assert client.get(VERSION).status_code == 200
    # ... but every request counted against the budget, refused or not: 4 + 1 of 6.
    assert statuses(client, VERSION, 2) == [200, 429]


def test_a_view_limit_can_count_against_its_own_key(exact_app: MakeApp) -> None:
    app = exact_app()

    @app.post("/_test/sign-in")
    @rate_limit("2/minute", key=lambda: f"account:{request.headers.get('X-Account', '')}")
    def sign_in() -> Any:
        return success({"ok": True})

    apply_view_limits(app)
    client = app.test_client()

    def attempts(account: str, address: str) -> list[int]:
        headers, environ = {"X-Account": account}, {"REMOTE_ADDR": address}
        return [
            client.post("/_test/sign-in", headers=headers, environ_base=environ).status_code
            for _ in range(2)
        ]

    # Counted per account, whatever the address the attempts come from.
    assert attempts("ada", "198.51.100.1") == [200, 200]
    assert attempts("ada", "198.51.100.2") == [429, 429]
    assert attempts("grace", "198.51.100.1") == [200, 200]


def test_stacked_limits_allow_a_burst_then_hold_the_rate(exact_app: MakeApp) -> None:
    app = exact_app()

    @app.get("/_test/bursty")
    @rate_limit("3/second;4/minute")
    def bursty() -> Any:
        return success({"ok": True})

    apply_view_limits(app)
    client = app.test_client()
    assert statuses(client, "/_test/bursty", 4) == [200, 200, 200, 429]
    time.sleep(1.05)
    assert statuses(client, "/_test/bursty", 2) == [200, 429]
    refused = client.get("/_test/bursty").json
    assert refused["error"]["details"]["limit"] == "4 per 1 minute"  # type: ignore[index]


def test_each_client_address_has_its_own_budget(exact_app: MakeApp) -> None:
    client = from_addresses(exact_app(RATE_LIMIT_DEFAULT="2/minute"))
    first = {"REMOTE_ADDR": "198.51.100.1"}
    second = {"REMOTE_ADDR": "198.51.100.2"}
    assert statuses(client, VERSION, 3, environ_base=first) == [200, 200, 429]
    assert statuses(client, VERSION, 2, environ_base=second) == [200, 200]


def test_a_client_cannot_claim_another_address_without_a_trusted_proxy(exact_app: MakeApp) -> None:
    client = from_addresses(exact_app(RATE_LIMIT_DEFAULT="2/minute"))
    peer = {"REMOTE_ADDR": "198.51.100.1"}
    codes = [
        client.get(VERSION, environ_base=peer, headers={"X-Forwarded-For": f"203.0.113.{n}"})
        for n in range(3)
    ]
    assert [response.status_code for response in codes] == [200, 200, 429]


def test_behind_a_trusted_proxy_the_forwarded_address_counts(exact_app: MakeApp) -> None:
    app = exact_app(RATE_LIMIT_DEFAULT="2/minute", TRUSTED_PROXY_COUNT=1)
    client = from_addresses(app)
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for address in ("203.0.113.1", "203.0.113.2"):
        headers = {"X-Forwarded-For": address}
        assert statuses(client, VERSION, 2, environ_base=proxy, headers=headers) == [200, 200]
    assert client.get(VERSION, environ_base=proxy, headers=headers).status_code == 429


def test_an_ipv6_client_counts_by_its_64_network(exact_app: MakeApp) -> None:
    client = from_addresses(exact_app(RATE_LIMIT_DEFAULT="2/minute"))
    same_network = [{"REMOTE_ADDR": f"2001:db8:1:2::{n}"} for n in (1, 2, 3)]
    codes = [client.get(VERSION, environ_base=address).status_code for address in same_network]
    assert codes == [200, 200, 429]
    other_network = {"REMOTE_ADDR": "2001:db8:1:3::1"}
    assert client.get(VERSION, environ_base=other_network).status_code == 200


def test_health_checks_are_never_limited(exact_app: MakeApp) -> None:
    app = exact_app(RATE_LIMIT_DEFAULT="1/minute")
    app.extensions["readiness_probes"].clear()  # the limits are under test, not the dependencies
    client = app.test_client()
    for url in ("/api/v1/health", "/api/v1/health/ready"):
        responses = [client.get(url) for _ in range(3)]
        assert [response.status_code for response in responses] == [200, 200, 200]
        assert "X-RateLimit-Limit" not in responses[-1].headers


def test_limits_can_be_turned_off(limited_app: MakeApp) -> None:
    client = limited_app(RATE_LIMIT_ENABLED=False, RATE_LIMIT_DEFAULT="1/minute").test_client()
    assert statuses(client, "/_test/scarce", 3) == [200, 200, 200]
    assert statuses(client, VERSION, 3) == [200, 200, 200]
    assert "X-RateLimit-Limit" not in client.get(VERSION).headers


def test_limited_operations_document_429_with_retry_after(limited_app: MakeApp) -> None:
    document = limited_app().test_client().get("/api/v1/openapi.json").json
    assert document is not None
    version = document["paths"][VERSION]["get"]["responses"]["429"]
    assert version["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    assert version["headers"]["Retry-After"]["schema"] == {"type": "integer"}
    assert "429" not in document["paths"]["/api/v1/health"]["get"]["responses"]


def test_without_a_default_limit_only_views_with_limits_document_429(limited_app: MakeApp) -> None:
    document = limited_app(RATE_LIMIT_DEFAULT="").test_client().get("/api/v1/openapi.json").json
    assert document is not None
    assert "429" not in document["paths"][VERSION]["get"]["responses"]


@pytest.mark.parametrize("value", ["lots", "10/fortnight", "ten/minute"])
def test_a_malformed_default_limit_is_refused_by_name(value: str) -> None:
    with pytest.raises(ValidationError, match="RATE_LIMIT_DEFAULT"):
        make_settings(RATE_LIMIT_DEFAULT=value)


def test_a_malformed_view_limit_fails_when_the_view_is_defined() -> None:
    with pytest.raises(ValueError, match="couldn't parse"):
        rate_limit("often")
