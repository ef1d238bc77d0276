"""Structured logging: one JSON object per line, and one line per request.

Every record carries the id of the request it belongs to. The id comes from a
well-formed incoming ``X-Request-ID`` header, or is generated, and is returned on
every response so clients and log searches can meet in the middle.

The request id, the request's log line and the headers every response carries
(``add_response_headers``: the security headers, say) are the work of one thin
WSGI middleware around the app, :class:`RequestLog`, rather than of Flask hooks:
it edits the list of headers the response is about to send, instead of a
``Headers`` object once per header, and it sees every response, errors included.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from flask import Flask, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
#: Where the middleware leaves the request id, in the WSGI environ.
REQUEST_ID_KEY = "app.request_id"
#: Longest text of one field of a log line (message, traceback, extra field):
#: a huge value (an upstream's reply, say) cannot make a huge line. The start
#: and the end are kept; a traceback's end is where it failed.
MAX_LOG_FIELD_CHARS = 8000
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
# Attributes every LogRecord has (and how many); anything else was passed with ``extra=``.
_RECORD_ATTRS = logging.makeLogRecord({}).__dict__.keys()
_STANDARD_ATTRS = frozenset(_RECORD_ATTRS) | {"message", "asctime"}
_STANDARD_COUNT = len(_RECORD_ATTRS)

request_logger = logging.getLogger("app.request")


def get_request_id() -> str:
    """The id of the current request, taken from the client or generated once."""
    environ = request.environ
    request_id: str | None = environ.get(REQUEST_ID_KEY)
    if request_id is None:  # a request context made without the middleware
        request_id = environ[REQUEST_ID_KEY] = _request_id(environ)
    return request_id


def _request_id(environ: dict[str, Any]) -> str:
    incoming: str = environ.get("HTTP_X_REQUEST_ID", "")
    return incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex


class JSONFormatter(logging.Formatter):
    """Render a record as one JSON line, with its ``extra=`` fields at the top level."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {}
        if "request_id" not in record.__dict__ and has_request_context():
            fields["request_id"] = get_request_id()
        # A record's own attributes come first in its __dict__ (LogRecord sets
        # them all), the ``extra=`` fields after them: skip the former unread.
        for key, value in islice(record.__dict__.items(), _STANDARD_COUNT, None):
            if key not in _STANDARD_ATTRS and key[0] != "_":
                fields[key] = value
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return self.line(record.created, record.levelname, record.name, record.getMessage(), fields)

    @staticmethod
    def line(created: float, level: str, logger: str, message: str, fields: dict[str, Any]) -> str:
        """The JSON line of a record made of these (``fields``: its request id, its
        ``extra=`` fields and its traceback, in that order)."""
        entry: dict[str, Any] = {
            "ts": _timestamp(created),
            "level": level,
            "logger": logger,
            "message": _bounded(message),
        }
        for key, value in fields.items():
            entry[key] = _bounded(value)
        return _encode(entry)


_CONTAINERS = (list, dict, tuple)
#: ``json.dumps(value, default=str)``, without making an encoder for each line.
_encode = json.JSONEncoder(default=str).encode


def _timestamp(created: float) -> str:
    """``created`` in ISO 8601 with milliseconds, in UTC (``2026-01-02T03:04:05.678+00:00``)."""
    whole = int(created)
    return f"{_second(whole)}.{int((created - whole) * 1000):03d}+00:00"


@functools.lru_cache(maxsize=4)
def _second(whole: int) -> str:
    # The records of one second share its text.
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _bounded(value: Any) -> Any:
    """``value``, or its text cut in the middle if longer than ``MAX_LOG_FIELD_CHARS``
    (only text and containers can be long)."""
    if isinstance(value, str):
        if len(value) <= MAX_LOG_FIELD_CHARS:
            return value
        text = value
    elif isinstance(value, _CONTAINERS):
        text = _encode(value)
        if len(text) <= MAX_LOG_FIELD_CHARS:
            return value
    else:
        return value
    half = MAX_LOG_FIELD_CHARS // 2
    return f"{text[:half]} ...[{len(text) - 2 * half} characters cut]... {text[-half:]}"


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Write to the current ``sys.stdout``, even after something replaced it (test runners do)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)

    def write_line(self, line: str) -> None:
        """Write a line this handler's formatter made, as ``emit`` writes one."""
        with self.lock:  # type: ignore[union-attr]  # made by Handler.__init__
            try:
                self.stream = sys.stdout
                self.stream.write(line + self.terminator)
                self.stream.flush()
            except Exception:  # noqa: BLE001  (as emit does: report, never fail the request)
                self.handleError(logging.makeLogRecord({"msg": line}))


def sole_handler(logger: logging.Logger, level: int) -> StdoutHandler | None:
    """This module's handler, if it is all that a record of ``logger`` at
    ``level`` would meet on its way: no other handler, and no filter on a logger
    or on the handler. Then a line can be written without making a record."""
    found: StdoutHandler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if (
                found is not None
                or type(handler) is not StdoutHandler
                or type(handler.formatter) is not JSONFormatter
                or handler.filters
                or handler.level > level
            ):
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent
    return found


def configure_logging(level: str) -> None:
    """Send every logger's records to stdout as JSON lines (idempotent)."""
    root = logging.getLogger()
    if not any(isinstance(handler, StdoutHandler) for handler in root.handlers):
        handler = StdoutHandler()
        handler.setFormatter(JSONFormatter())
        root.addHandler(handler)
    root.setLevel(level)


StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class RequestLog:
    """WSGI middleware: gives each request its id, adds the id and the default
    headers to its response, and logs one line per request.

    A default header is left out where the response already has one of that
    name (a view that sets its own ``Cache-Control``, say).
    """

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        #: (name, value, lower-case name) of each default response header.
        self.default_headers: list[tuple[str, str, str]] = []

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = environ.get(REQUEST_ID_KEY) or _request_id(environ)
        environ[REQUEST_ID_KEY] = request_id

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            present = {name.lower() for name, _ in headers}
            headers.append((REQUEST_ID_HEADER, request_id))
            headers.extend(
                (name, value) for name, value, lower in self.default_headers if lower not in present
            )
            if request_logger.isEnabledFor(logging.INFO):
                _log_request(environ, request_id, status, time.perf_counter() - started)
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


def _log_request(environ: dict[str, Any], request_id: str, status: str, seconds: float) -> None:
    method = environ.get("REQUEST_METHOD", "")
    path = environ.get("PATH_INFO", "")
    if not path.isascii():  # WSGI carries the path's bytes as Latin-1
        path = path.encode("latin-1").decode("utf-8", "replace")
    code = int(status[:3])
    fields = {
        "request_id": request_id,
        "method": method,
        "path": path,
        "status": code,
        "latency_ms": round(seconds * 1000, 2),
        "client_ip": environ.get("REMOTE_ADDR"),
    }
    handler = sole_handler(request_logger, logging.INFO)
    if handler is not None:
        # The usual set-up: the line, without the record nobody else would see.
        message = f"{method} {path} {code}"
        handler.write_line(
            JSONFormatter.line(time.time(), "INFO", request_logger.name, message, fields)
        )
        return
    # A record made directly: Logger.info would look up the caller's frame,
    # which no request line needs.
    record = request_logger.makeRecord(
        request_logger.name,
        logging.INFO,
        __file__,
        0,
        "%s %s %s",
        (method, path, code),
        None,
        extra=fields,
    )
    request_logger.handle(record)


def add_response_headers(app: Flask, headers: dict[str, str]) -> None:
    """Send ``headers`` on every response of ``app`` that does not set them itself."""
    middleware: RequestLog = app.extensions["request_log"]
    middleware.default_headers += [(name, value, name.lower()) for name, value in headers.items()]


def init_app(app: Flask) -> None:
    configure_logging(app.extensions["settings"].LOG_LEVEL)
    middleware = RequestLog(app.wsgi_app)
    app.wsgi_app = middleware  # type: ignore[method-assign]
    app.extensions["request_log"] = middleware
