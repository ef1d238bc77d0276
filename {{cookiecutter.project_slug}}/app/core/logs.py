"""Structured logging: one JSON object per line, and one line per request.

Every record carries the id of the request it belongs to. The id comes from a
well-formed incoming ``X-Request-ID`` header, or is generated, and is returned on
every response so clients and log searches can meet in the middle.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
#: Longest text of one field of a log line (message, traceback, extra field):
#: a huge value (an upstream's reply, say) cannot make a huge line. The start
#: and the end are kept; a traceback's end is where it failed.
MAX_LOG_FIELD_CHARS = 8000
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
# Attributes every LogRecord has; anything else was passed with ``extra=``.
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

request_logger = logging.getLogger("app.request")


def get_request_id() -> str:
    """The id of the current request, taken from the client or generated once."""
    if "request_id" not in g:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request_id: str = g.request_id
    return request_id


class JSONFormatter(logging.Formatter):
    """Render a record as one JSON line, with its ``extra=`` fields at the top level."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = get_request_id()
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps({key: _bounded(value) for key, value in entry.items()}, default=str)


def _bounded(value: Any) -> Any:
    if not isinstance(value, str | list | dict | tuple):
        return value
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) <= MAX_LOG_FIELD_CHARS:
        return value
    half = MAX_LOG_FIELD_CHARS // 2
    return f"{text[:half]} ...[{len(text) - 2 * half} characters cut]... {text[-half:]}"


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Write to the current ``sys.stdout``, even after something replaced it (test runners do)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def configure_logging(level: str) -> None:
    """Send every logger's records to stdout as JSON lines (idempotent)."""
    root = logging.getLogger()
    if not any(isinstance(handler, StdoutHandler) for handler in root.handlers):
        handler = StdoutHandler()
        handler.setFormatter(JSONFormatter())
        root.addHandler(handler)
    root.setLevel(level)


def init_app(app: Flask) -> None:
    configure_logging(app.extensions["settings"].LOG_LEVEL)
    app.before_request(_start_timer)
    app.after_request(_log_request)


def _start_timer() -> None:
    g.request_started = time.perf_counter()


def _log_request(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = get_request_id()
    started = g.get("request_started", time.perf_counter())
    request_logger.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "client_ip": request.remote_addr,
        },
    )
    return response
