"""With auth, the AI quota is per user, and administrators get a higher one."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.conftest import MakeApp
from tests.fixtures.auth import MakeUser, bearer, tokens
from tests.test_ai_limits import exact, statuses


def test_each_user_has_a_quota_of_their_own(make_app: MakeApp, make_user: MakeUser) -> None:
    app = exact(make_app, AI_RATE_LIMIT="1/minute")
    make_user("other@example.com")
    other = bearer(tokens(app, "other@example.com")["access_token"])
    client = app.test_client()
    assert statuses(client, 2) == [200, 429]
    assert statuses(client, 1, **other) == [200]


def test_administrators_have_a_higher_quota(make_app: MakeApp, make_user: MakeUser) -> None:
    app = exact(make_app, AI_RATE_LIMIT="1/minute", AI_RATE_LIMIT_ADMIN="3/minute")
    make_user("boss@example.com", roles=("user", "admin"))
    boss = bearer(tokens(app, "boss@example.com")["access_token"])
    assert statuses(app.test_client(), 4, **boss) == [200, 200, 200, 429]


def test_the_quota_does_not_reach_anonymous_callers(make_app: MakeApp) -> None:
    # They are refused before: the AI routes need a user.
    app = exact(make_app, AI_RATE_LIMIT="1/minute")
    assert statuses(FlaskClient(app), 3) == [401, 401, 401]
    assert statuses(app.test_client(), 1) == [200]
