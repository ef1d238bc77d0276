"""HTTP hardening for a JSON API: response headers, CORS and trusted proxies.

The headers follow the OWASP REST Security Cheat Sheet. A view that needs a
different ``Cache-Control`` (a cacheable public resource, say) sets its own and
this module leaves it alone.
"""

from __future__ import annotations

from flask import Flask, Request, Response
from flask.sessions import NullSession, SessionInterface
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

from app.core.config import Settings
from app.core.logs import add_response_headers

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}
HSTS = "max-age=63072000; includeSubDomains"
# Headers a browser client may read from a cross-origin response.
EXPOSED_HEADERS = [
    "X-Request-ID",
    "Retry-After",
    "Allow",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
]


class NoSessions(SessionInterface):
    """No cookie sessions: clients authenticate each request themselves, so
    there is no session cookie to steal or forge, and no cookie to sign or
    verify on every request."""

    def open_session(self, app: Flask, request: Request) -> NullSession:
        return self.make_null_session(app)

    def save_session(self, app: Flask, session: object, response: Response) -> None:
        return None


def init_app(app: Flask) -> None:
    settings: Settings = app.extensions["settings"]
    app.session_interface = NoSessions()

    if settings.TRUSTED_PROXY_COUNT:
        # Only behind that many proxies are X-Forwarded-* honest; without this
        # setting a client could claim any address or scheme.
        hops = settings.TRUSTED_PROXY_COUNT
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )

    if settings.CORS_ORIGINS:
        CORS(
            app,
            resources={r"/api/*": {"origins": settings.CORS_ORIGINS}},
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        )

    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
    if settings.is_production:
        headers["Strict-Transport-Security"] = HSTS
    add_response_headers(app, headers)
