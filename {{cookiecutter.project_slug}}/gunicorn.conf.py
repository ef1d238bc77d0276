"""Gunicorn settings for production: ``gunicorn`` reads this file by default.

Every value can be overridden with an environment variable of the same name in
upper case (``WEB_CONCURRENCY``, ``PORT``), as most platforms expect.
"""

import json
import multiprocessing
import os
import socket
import uuid

from gunicorn import util

wsgi_app = "app:create_app()"
# All interfaces: inside a container the port is what gets published.
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", min(multiprocessing.cpu_count() * 2, 8)))
# Threads let one worker overlap requests that wait on the database or the network.
worker_class = "gthread"
{%- if cookiecutter.ai_provider != "none" %}
# AI calls spend seconds waiting on the provider. A thread blocked on a socket
# costs no CPU (the read releases the GIL) and little memory, so each worker
# runs many: with AI_MAX_CONCURRENT (100) AI calls in flight, the other threads
# still answer health checks and every other route at once.
{%- if cookiecutter.database != "none" %}
# Database requests stay bounded by the connection pool (DATABASE_POOL_SIZE +
# DATABASE_MAX_OVERFLOW); AI requests never hold a connection.
{%- endif %}
threads = int(os.environ.get("GUNICORN_THREADS", "128"))
{%- else %}
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
{%- endif %}
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# On SIGTERM, finish in-flight requests for up to this many seconds.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Recycle workers now and then, so a slow leak cannot grow without bound.
max_requests = 2000
max_requests_jitter = 200
# The app logs one JSON line per request itself.
accesslog = None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def _error_envelope(sock: socket.socket, status: int, reason: str, message: str) -> None:
    """gunicorn's answer to a request it refuses before the app runs (a request
    line over ``limit_request_line``: 414; headers over the limits: 431; an
    unreadable request: 400), in the API's error envelope instead of an HTML page."""
    code = reason.upper().replace(" ", "_").replace("-", "_")
    body = json.dumps(
        {
            "success": False,
            "message": f"{reason}: the server refused the request before reading it.",
            "error": {"code": code, "details": None},
            "request_id": uuid.uuid4().hex,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


# gunicorn writes these errors with ``util.write_error``; this is the one place
# to change how they look.
util.write_error = _error_envelope
