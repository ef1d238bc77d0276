"""Gunicorn settings for production: ``gunicorn`` reads this file by default.

Every value can be overridden with an environment variable of the same name in
upper case (``WEB_CONCURRENCY``, ``PORT``), as most platforms expect.
"""

import multiprocessing
import os

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
