"""Turn every exception into the error envelope, with a stable code.

Routing errors (404, 405), body errors (400, 413, 415), validation (422), the
errors that services raise, and unexpected exceptions (500) all leave through
here; nothing answers with an HTML page or a stack trace.
"""

from __future__ import annotations

import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from app.core.exceptions import APIError
from app.core.responses import error

logger = logging.getLogger(__name__)

#: Stable codes and short messages for the HTTP errors Flask and Werkzeug raise.
HTTP_ERRORS: dict[int, tuple[str, str]] = {
    400: ("BAD_REQUEST", "The request is malformed."),
    401: ("UNAUTHORIZED", "Authentication is required."),
    403: ("FORBIDDEN", "You are not allowed to do this."),
    404: ("NOT_FOUND", "The requested URL was not found."),
    405: ("METHOD_NOT_ALLOWED", "The method is not allowed for this URL."),
    406: ("NOT_ACCEPTABLE", "The requested representation is not available."),
    409: ("CONFLICT", "The request conflicts with existing data."),
    413: ("PAYLOAD_TOO_LARGE", "The request body is too large."),
    414: ("URI_TOO_LONG", "The URL is too long."),
    415: ("UNSUPPORTED_MEDIA_TYPE", "The request body has an unsupported content type."),
    429: ("RATE_LIMITED", "Too many requests."),
    500: ("INTERNAL_ERROR", "An unexpected error occurred."),
    503: ("SERVICE_UNAVAILABLE", "The service is unavailable."),
}
#: Response headers of an HTTP error worth passing on to the client.
_KEPT_HEADERS = {"allow", "retry-after", "www-authenticate"}
#: Problems listed in one error response: enough to fix a request, and a body of
#: thousands of problems never costs more than these to build and send.
MAX_LISTED_PROBLEMS = 20


def handle_api_error(exc: APIError) -> Response:
    message, details = exc.message, exc.details
    if isinstance(details, list) and len(details) > MAX_LISTED_PROBLEMS:
        listed = f"The first {MAX_LISTED_PROBLEMS} of {len(details)} problems are listed."
        message = f"{message} {listed}"
        details = details[:MAX_LISTED_PROBLEMS]
    return error(message, exc.code, exc.status, details=details, headers=exc.headers)


def handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    code, message = HTTP_ERRORS.get(
        status, (exc.name.upper().replace(" ", "_"), exc.description or exc.name)
    )
    headers = {name: value for name, value in exc.get_headers() if name.lower() in _KEPT_HEADERS}
    return error(message, code, status, headers=headers)


def handle_unexpected_error(exc: Exception) -> Response:
    # The client gets a request id to quote; the log gets the traceback.
    logger.exception("Unhandled %s", type(exc).__name__)
    code, message = HTTP_ERRORS[500]
    return error(message, code, 500)


def init_app(app: Flask) -> None:
    app.register_error_handler(APIError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected_error)
