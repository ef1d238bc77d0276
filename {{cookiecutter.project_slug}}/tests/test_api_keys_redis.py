"""API keys across servers: a revocation is seen by every server sharing Redis at
once, a revocation Redis cannot confirm is refused and changes nothing, and with
Redis gone keys are checked in the database."""

from __future__ import annotations

from flask.testing import FlaskClient

from app.api.api_keys import api_keys
from tests.conftest import MakeApp
from tests.fixtures.redis import OwnRedis
from tests.test_api_keys import ITEMS, KEYS, create_key, error_of, key_header
from tests.test_auth_redis import fault, refused


def test_a_revocation_is_seen_by_another_server_at_once(make_app: MakeApp) -> None:
    first, second = make_app().test_client(), make_app().test_client()
    key = create_key(first, "items:read")
    with second.application.app_context():
        states = api_keys().states
        assert states is not None
        # A minute later: the mark that a new key sets is gone, and copies are kept.
        states.backend.delete(states.key(key["prefix"]))
        assert second.get(ITEMS, headers=key_header(key)).status_code == 200
        assert states.lookup(key["prefix"]) is not None

    assert first.delete(f"{KEYS}/{key['id']}").status_code == 200
    assert error_of(second.get(ITEMS, headers=key_header(key))) == (401, "API_KEY_REVOKED")


def test_a_revocation_redis_cannot_confirm_is_refused_and_changes_nothing(
    make_app: MakeApp, own_redis: OwnRedis
) -> None:
    first, second = (
        make_app(REDIS_URL=own_redis.url, REDIS_TIMEOUT=0.1).test_client() for _ in range(2)
    )
    key = create_key(first, "items:read")
    assert second.get(ITEMS, headers=key_header(key)).status_code == 200
    for kind in ("paused", "stopped"):
        with fault(own_redis, kind):
            assert refused(first.delete(f"{KEYS}/{key['id']}"), "API_KEY_STATE_UNAVAILABLE")
        assert second.get(ITEMS, headers=key_header(key)).status_code == 200, kind
        assert first.get(f"{KEYS}/{key['id']}").json["data"]["revoked_at"] is None  # type: ignore[index]
    assert first.delete(f"{KEYS}/{key['id']}").status_code == 200
    assert error_of(second.get(ITEMS, headers=key_header(key))) == (401, "API_KEY_REVOKED")


def test_without_redis_keys_are_checked_in_the_database(make_app: MakeApp) -> None:
    up = make_app().test_client()
    key = create_key(up, "items:read")
    down = make_app(REDIS_URL="redis://127.0.0.1:9/0", REDIS_TIMEOUT=0.05)
    guest = FlaskClient(down)
    assert guest.get(ITEMS, headers=key_header(key)).status_code == 200
    assert refused(down.test_client().delete(f"{KEYS}/{key['id']}"), "API_KEY_STATE_UNAVAILABLE")
    assert up.delete(f"{KEYS}/{key['id']}").status_code == 200
    assert error_of(guest.get(ITEMS, headers=key_header(key))) == (401, "API_KEY_REVOKED")
