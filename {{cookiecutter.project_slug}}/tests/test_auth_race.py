"""Concurrent refreshes of one refresh token: exactly one wins.

This runs on a database of its own, without the per-test transaction, so that
each request really has its own connection and the requests really race.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app import create_app
from app.core.db import db
from tests.fixtures.auth import PASSWORD
from tests.fixtures.database import migrate, temporary_database
from tests.support import make_settings

AUTH = "/api/v1/auth"
CONTENDERS = 8


def test_concurrent_refreshes_of_one_token_let_exactly_one_through(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with temporary_database(tmp_path_factory) as url:
        migrate(url)
        app = create_app(make_settings(DATABASE_URL=url))
        try:
            client = app.test_client()
            body = {"email": "racer@example.com", "password": PASSWORD, "full_name": "Racer"}
            assert client.post(f"{AUTH}/register", json=body).status_code == 201
            credentials = {"email": body["email"], "password": PASSWORD}
            login = client.post(f"{AUTH}/login", json=credentials)
            refresh_token = login.json["data"]["refresh_token"]  # type: ignore[index]
            start = threading.Barrier(CONTENDERS)

            def refresh(_: int) -> int:
                start.wait(timeout=10)
                response = app.test_client().post(
                    f"{AUTH}/refresh", json={"refresh_token": refresh_token}
                )
                return response.status_code

            with ThreadPoolExecutor(CONTENDERS) as pool:
                statuses = list(pool.map(refresh, range(CONTENDERS)))

            assert statuses.count(200) == 1, statuses
            # The others were refused: as a replay (401), or, on SQLite, busy (503).
            assert set(statuses) <= {200, 401, 503}, statuses
            again = client.post(f"{AUTH}/refresh", json={"refresh_token": refresh_token})
            assert again.status_code == 401
        finally:
            with app.app_context():
                db.engine.dispose()
