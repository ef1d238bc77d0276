"""The database layer: per-request transactions, timestamps, settings and readiness."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlmodel import Session, select

from app import create_app
from app.core.access import public
from app.core.config import ConfigurationError, Settings
from app.core.db import db, engine_options, get_session
from app.core.exceptions import ConflictError
from app.core.scoping import stamp
from app.models.item import Item
from tests.conftest import MakeApp
from tests.support import PRODUCTION, make_settings


def add_test_routes(app: Flask) -> None:
    """Routes that exist only in these tests, to reach the database's error paths."""

    @app.post("/_test/write-then-fail")
    def write_then_fail() -> None:
        get_session().add(Item(name="half-done", **stamp(Item)))
        get_session().flush()
        raise ConflictError("Changed my mind.")

    @app.post("/_test/raw-duplicate")
    def raw_duplicate() -> None:
        # No SAVEPOINT and no service: the integrity error escapes the view.
        get_session().add(Item(name="dup", **stamp(Item)))
        get_session().flush()

    @app.get("/_test/bad-sql")
    def bad_sql() -> None:
        get_session().execute(text("SELECT secret_column FROM no_such_table"))

    @app.get("/_test/pool-exhausted")
    def pool_exhausted() -> None:
        raise PoolTimeoutError("QueuePool limit of size 5 overflow 10 reached")

    @app.post("/_test/other-database")
    def other_database() -> None:
        # Write to an SQLite file that cannot be opened or is locked, without waiting.
        engine = create_engine(f"sqlite:///{request.get_json()['path']}")
        event.listen(engine, "connect", lambda dbapi, _: dbapi.execute("PRAGMA busy_timeout = 0"))
        try:
            with engine.begin() as connection:
                connection.execute(text("CREATE TABLE scratch (id INTEGER)"))
        finally:
            engine.dispose()


@pytest.fixture
def app(make_app: MakeApp) -> Flask:
    app = make_app()
    add_test_routes(app)
    return app


def test_a_successful_request_commits(client: FlaskClient, session: Session) -> None:
    client.post("/api/v1/items", json={"name": "kept"})
    assert session.exec(select(Item.name)).all() == ["kept"]


def test_a_failed_request_rolls_back(client: FlaskClient, session: Session) -> None:
    response = client.post("/_test/write-then-fail")
    assert response.status_code == 409
    assert session.exec(select(Item)).all() == []


def test_integrity_errors_are_409_without_sql(client: FlaskClient) -> None:
    client.post("/api/v1/items", json={"name": "dup"})
    response = client.post("/_test/raw-duplicate")
    assert response.status_code == 409
    assert response.json is not None
    assert response.json["error"]["code"] == "CONFLICT"
    assert "INSERT" not in response.get_data(as_text=True)


def test_database_errors_are_500_without_sql(client: FlaskClient) -> None:
    response = client.get("/_test/bad-sql")
    assert response.status_code == 500
    assert "no_such_table" not in response.get_data(as_text=True)


def test_timestamps_are_utc_and_updated_at_moves(client: FlaskClient, session: Session) -> None:
    item_id = client.post("/api/v1/items", json={"name": "clock"}).json["data"]["id"]  # type: ignore[index]
    item = session.get_one(Item, item_id)
    created = item.updated_at
    assert item.created_at.tzinfo is UTC
    item.description = "changed"
    session.add(item)
    session.flush()
    session.expire(item)
    assert item.updated_at > created
    assert item.created_at.tzinfo is UTC


def test_naive_datetimes_are_refused(session: Session) -> None:
    session.add(Item(name="naive", created_at=datetime(2020, 1, 1)))
    with pytest.raises(Exception, match="Naive datetime"):
        session.flush()


def test_ready_checks_the_database(client: FlaskClient) -> None:
    response = client.get("/api/v1/health/ready")
    assert response.status_code == 200
    assert response.json is not None
    assert response.json["data"]["checks"]["database"]["status"] == "ok"


def test_an_unreachable_database_is_503_not_500(client: FlaskClient, tmp_path: Path) -> None:
    response = client.post("/_test/other-database", json={"path": str(tmp_path / "no" / "db")})
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["error"]["code"] == "DATABASE_UNAVAILABLE"
    assert response.headers["Retry-After"] == "1"


def test_a_locked_database_is_503_not_500(client: FlaskClient, tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    blocker = sqlite3.connect(path)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        response = client.post("/_test/other-database", json={"path": str(path)})
    finally:
        blocker.rollback()
        blocker.close()
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["error"]["code"] == "DATABASE_UNAVAILABLE"


def test_not_ready_when_the_database_is_down() -> None:
    app = create_app(make_settings(DATABASE_URL="sqlite:////nonexistent-dir/db.sqlite"))
    response = app.test_client().get("/api/v1/health/ready")
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["error"]["details"]["checks"]["database"]["status"] == "down"


def test_postgres_engines_get_pool_and_timeout_settings() -> None:
    settings = make_settings(
        DATABASE_URL="postgresql://app@db.internal/app",
        DATABASE_POOL_SIZE=7,
        DATABASE_STATEMENT_TIMEOUT_MS=1500,
    )
    options = engine_options(settings)
    assert options["pool_size"] == 7
    assert options["connect_args"]["options"] == "-c statement_timeout=1500"


def test_production_refuses_the_embedded_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="DATABASE_URL"):
        Settings(_env_file=None, **PRODUCTION)  # type: ignore[arg-type]


def test_production_takes_the_database_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db.internal/app")
    settings = Settings(_env_file=None, **PRODUCTION)  # type: ignore[arg-type]
    assert settings.DATABASE_URL.endswith("@db.internal/app")


def test_foreign_keys_are_enforced(session: Session) -> None:
    # SQLite ignores foreign keys unless asked per connection; the engine asks.
    session.execute(text("CREATE TABLE parents (id INTEGER PRIMARY KEY)"))
    session.execute(
        text("CREATE TABLE children (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parents)")
    )
    with pytest.raises(IntegrityError):
        session.execute(text("INSERT INTO children (id, parent_id) VALUES (1, 42)"))


def test_an_exhausted_connection_pool_answers_503(client: FlaskClient) -> None:
    response = client.get("/_test/pool-exhausted")
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["error"]["code"] == "DATABASE_BUSY"
    assert response.headers["Retry-After"] == "1"


@pytest.mark.postgresql
def test_a_dropped_connection_costs_one_503_then_the_pool_connects_anew(
    database_url: str,
) -> None:
    """Pooled connections are not pinged before use: one that the server dropped
    fails the request that gets it, as an outage (503), and no other request."""
    app = create_app(make_settings())  # its own connections, outside the test's transaction

    @app.get("/_test/backend")
    @public
    def backend() -> Any:
        return {"pid": get_session().execute(text("SELECT pg_backend_pid()")).scalar()}

    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    client = app.test_client()
    try:
        first = client.get("/_test/backend")
        with engine.connect() as server:
            server.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first.json["pid"]})  # type: ignore[index]
        dropped = client.get("/_test/backend")
        then = client.get("/_test/backend")
    finally:
        engine.dispose()
        with app.app_context():
            db.engine.dispose()
    assert first.status_code == 200
    assert dropped.status_code == 503
    assert dropped.json["error"]["code"] == "DATABASE_UNAVAILABLE"  # type: ignore[index]
    assert dropped.headers["Retry-After"] == "1"
    assert then.status_code == 200
    assert then.json["pid"] != first.json["pid"]  # type: ignore[index]


def test_a_commit_that_fails_answers_503_not_success(database_url: str) -> None:
    """The view succeeded, but the commit after it fails: the connection is lost
    (PostgreSQL: its server process is ended), or the database stays locked
    (SQLite: a reader holds it). The client must not be told its write is stored."""
    app = create_app(make_settings())  # its own connections, outside the test's transaction
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as setup:
        setup.execute(text("CREATE TABLE IF NOT EXISTS commit_probe (id INTEGER)"))
    blocker = engine.connect()
    postgres = engine.dialect.name == "postgresql"

    @app.post("/_test/commit-fails")
    @public
    def commit_fails() -> Any:
        session = get_session()
        if not postgres:
            session.execute(text("PRAGMA busy_timeout = 50"))
        session.execute(text("INSERT INTO commit_probe VALUES (1)"))
        if postgres:
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
            blocker.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        else:
            blocker.exec_driver_sql("BEGIN")
            blocker.execute(text("SELECT * FROM commit_probe"))
        return {"stored": True}

    try:
        response = app.test_client().post("/_test/commit-fails")
    finally:
        if not postgres:
            blocker.exec_driver_sql("ROLLBACK")
        blocker.close()
        with engine.connect() as cleanup:
            stored = cleanup.execute(text("SELECT count(*) FROM commit_probe")).scalar()
            cleanup.execute(text("DROP TABLE commit_probe"))
        engine.dispose()
        with app.app_context():
            db.engine.dispose()
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.json is not None
    assert response.json["error"]["code"] == "DATABASE_UNAVAILABLE"
    assert stored == 0
