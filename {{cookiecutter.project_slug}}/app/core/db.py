"""The database: engine, one session per request, and Alembic migrations.

Views get the session with :func:`get_session` and pass it to services. The
request's work is committed in one place, after a successful response; any
error response or exception rolls it back when the session closes. Services
``flush`` (inside a SAVEPOINT where a constraint may fail) so conflicts surface
as domain errors before the view answers.

Migrations run through Flask-Alembic: ``flask db upgrade``, ``flask db
downgrade``, ``flask db revision "message"`` and ``flask db check`` (fails when
the models and the migrations differ).
"""

from __future__ import annotations

import inspect
import logging
import traceback
from typing import TYPE_CHECKING, Any

import sqlmodel
from flask import Flask, Response, current_app, g, has_request_context, request
from flask_sqlalchemy_lite import SQLAlchemy
from sqlalchemy import Engine, event, make_url, text
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.types import TypeDecorator

from app.core import scoping
from app.core.config import PROJECT_ROOT, Settings
from app.core.errors import HTTP_ERRORS, handle_api_error
from app.core.exceptions import APIError
from app.core.readiness import add_probe
from app.core.responses import error

if TYPE_CHECKING:
    from flask_alembic import Alembic

logger = logging.getLogger(__name__)

#: Methods that change nothing (RFC 9110, section 9.2.1).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

db = SQLAlchemy(session_options={"class_": sqlmodel.Session, "expire_on_commit": False})


def get_session() -> sqlmodel.Session:
    """The session of the current request, committed if the response succeeds.

    A request that cannot change anything (GET, HEAD, OPTIONS) reads in
    autocommit mode on PostgreSQL: each statement sees the latest committed
    data, with no BEGIN and COMMIT round trips around it.
    """
    session: sqlmodel.Session = db.session  # type: ignore[assignment]
    if "db_session_used" not in g:
        g.db_session_used = True
        if (
            has_request_context()
            and request.method in SAFE_METHODS
            and _reads_in_autocommit(session)
        ):
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return session


def _reads_in_autocommit(session: sqlmodel.Session) -> bool:
    # Only a session that checks out its own connection: one joined to an outer
    # transaction (the tests') must stay in it.
    bind = session.get_bind()
    return isinstance(bind, Engine) and bind.dialect.name == "postgresql"


def get_migrations() -> Alembic:
    """The Alembic extension of the current app."""
    migrations: Alembic = current_app.extensions["alembic"]
    return migrations


def engine_options(settings: Settings) -> dict[str, Any]:
    """``create_engine`` arguments for ``DATABASE_URL``."""
    url = make_url(settings.DATABASE_URL)
    options: dict[str, Any] = {
        "url": url,
        "echo": settings.DATABASE_ECHO,
        # Errors and the echo log show statements, never their values: those are
        # emails, password hashes, tokens.
        "hide_parameters": True,
    }
    if url.get_backend_name() == "postgresql":
        options.update(
            # No ping before each checkout: it costs a round trip on every
            # request. A connection the server dropped fails its first statement
            # instead: that request answers 503 DATABASE_UNAVAILABLE (Retry-After),
            # the pool drops every connection as old as it, and the next request
            # connects anew. Recycling replaces connections before the idle
            # timeouts of servers and proxies close them.
            pool_pre_ping=False,
            pool_size=settings.DATABASE_POOL_SIZE,
            max_overflow=settings.DATABASE_MAX_OVERFLOW,
            pool_recycle=settings.DATABASE_POOL_RECYCLE,
            pool_timeout=settings.DATABASE_POOL_TIMEOUT,
            connect_args={
                "connect_timeout": settings.DATABASE_CONNECT_TIMEOUT,
                "options": f"-c statement_timeout={settings.DATABASE_STATEMENT_TIMEOUT_MS}",
            },
        )
    return options


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when a transaction
        # begins, so that SAVEPOINTs and rollbacks work as on PostgreSQL.
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        dbapi_connection.execute("PRAGMA busy_timeout = 5000")

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")


def _render_item(kind: str, obj: Any, _context: Any) -> str | bool:
    # Write a custom column type as its underlying SQLAlchemy type, so that
    # migrations never import application code that may change later.
    if kind == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def _drop_async_teardown(app: Flask) -> None:
    """Remove Flask-SQLAlchemy-Lite's teardown of async sessions, which this app never opens.

    Flask runs an ``async def`` teardown through asgiref: a new thread and event
    loop for every request, for nothing. The synchronous teardown that closes
    the request's session stays.
    """
    funcs = app.teardown_appcontext_funcs
    funcs[:] = [
        func
        for func in funcs
        if not (
            inspect.iscoroutinefunction(func) and func.__module__.startswith("flask_sqlalchemy")
        )
    ]


def _commit_session(response: Response) -> Response:
    if g.pop("db_session_used", False) and response.status_code < 400:
        try:
            db.session.commit()
        except APIError as exc:  # a commit hook refused (a shared store is unreachable, say)
            db.session.rollback()
            return handle_api_error(exc)
        except DBAPIError as exc:
            # The view succeeded but its work is not stored (the connection was
            # lost, a deferred constraint failed): the client must not see success.
            db.session.rollback()
            return _database_error(exc)
    return response


#: SQLite errors that mean "busy or unreachable, try again", not "your SQL is wrong".
_SQLITE_UNAVAILABLE = {"SQLITE_BUSY", "SQLITE_BUSY_SNAPSHOT", "SQLITE_LOCKED", "SQLITE_CANTOPEN"}
#: SQLSTATE classes with the same meaning: connection, resources, operator intervention.
_SQLSTATE_UNAVAILABLE = ("08", "53", "57")


def is_unavailable(exc: OperationalError) -> bool:
    """Whether the database is down, overloaded or locked, as opposed to a bug."""
    if exc.connection_invalidated:
        return True
    original = exc.orig
    if getattr(original, "sqlite_errorname", None) in _SQLITE_UNAVAILABLE:
        return True
    sqlstate = getattr(original, "sqlstate", "")
    # A driver error without a SQLSTATE never reached the server: the connection failed.
    return sqlstate is None or str(sqlstate).startswith(_SQLSTATE_UNAVAILABLE)


def _database_unavailable(exc: DBAPIError) -> Response:
    unavailable = exc.connection_invalidated or isinstance(exc, InterfaceError)
    if not (unavailable or (isinstance(exc, OperationalError) and is_unavailable(exc))):
        return _unexpected_database_error(exc)
    # The driver's message, without the statement (which the exception's own
    # text would add).
    logger.warning("Database unavailable: %s: %s", type(exc.orig).__name__, exc.orig)
    return error(
        "The database is unavailable; try again shortly.",
        "DATABASE_UNAVAILABLE",
        503,
        headers={"Retry-After": "1"},
    )


def _integrity_conflict(exc: IntegrityError) -> Response:
    # The constraint's name helps whoever reads the log; never the driver's
    # message, whose detail quotes the values ("Key (email)=(...) exists").
    diagnostics = getattr(exc.orig, "diag", None)
    constraint = getattr(diagnostics, "constraint_name", None) or _sqlite_constraint(exc)
    logger.warning("Integrity error on %s", constraint or "a constraint")
    return error("The request conflicts with existing data.", "CONFLICT", 409)


def _sqlite_constraint(exc: IntegrityError) -> str | None:
    # SQLite names the columns, not the values: "UNIQUE constraint failed: items.name".
    message = str(exc.orig)
    return message if message.startswith(("UNIQUE", "NOT NULL", "FOREIGN KEY", "CHECK")) else None


def _unexpected_database_error(exc: DBAPIError) -> Response:
    # A bug, so a 500 with the place it happened logged. Not the driver's message:
    # PostgreSQL quotes values in it ("invalid input syntax ...: "<value>"",
    # "DETAIL: Key (email)=(...)"), and values never go to the log.
    frames = "".join(traceback.format_tb(exc.__traceback__))
    logger.error(
        "Unhandled %s (SQLSTATE %s)",
        type(exc.orig).__name__,
        getattr(exc.orig, "sqlstate", None),
        extra={"stack": frames},
    )
    code, message = HTTP_ERRORS[500]
    return error(message, code, 500)


def _database_error(exc: DBAPIError) -> Response:
    if isinstance(exc, IntegrityError):
        return _integrity_conflict(exc)
    return _database_unavailable(exc)


def _pool_exhausted(_exc: PoolTimeoutError) -> Response:
    # Every pooled connection stayed busy for DATABASE_POOL_TIMEOUT seconds: more
    # threads want the database than the pool allows. Shed the request.
    logger.warning("No database connection became free within the pool timeout")
    return error(
        "The database is busy; retry shortly.", "DATABASE_BUSY", 503, headers={"Retry-After": "1"}
    )


def init_app(app: Flask) -> None:
    settings: Settings = app.extensions["settings"]
    app.config["SQLALCHEMY_ENGINES"] = {"default": engine_options(settings)}
    app.config["ALEMBIC"] = {
        "script_location": str(PROJECT_ROOT / "migrations"),
        "file_template": "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s",
        # New revisions come out linted and formatted like the rest of the code
        # (``python -m ruff``, so it works without an activated environment).
        "post_write_hooks": {
            "hooks": "ruff_fix, ruff_format",
            "ruff_fix.type": "module",
            "ruff_fix.module": "ruff",
            "ruff_fix.options": "check --fix --quiet REVISION_SCRIPT_FILENAME",
            "ruff_format.type": "module",
            "ruff_format.module": "ruff",
            "ruff_format.options": "format --quiet REVISION_SCRIPT_FILENAME",
        },
    }
    app.config["ALEMBIC_CONTEXT"] = {
        # Batch mode lets migrations alter tables on SQLite too.
        "render_as_batch": True,
        "compare_type": True,
        "render_item": _render_item,
    }
    db.init_app(app)
    _drop_async_teardown(app)
    # Alembic announces at INFO every plugin it sets up on import; keep the CLI readable.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    from flask_alembic import Alembic

    Alembic(metadatas=sqlmodel.SQLModel.metadata, run_mkdir=False).init_app(app)

    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)

    def probe() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    add_probe(app, "database", probe)
    scoping.init_app(app)
    app.after_request(_commit_session)
    app.register_error_handler(IntegrityError, _integrity_conflict)
    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(InterfaceError, _database_unavailable)
    app.register_error_handler(DBAPIError, _unexpected_database_error)
    app.register_error_handler(PoolTimeoutError, _pool_exhausted)
