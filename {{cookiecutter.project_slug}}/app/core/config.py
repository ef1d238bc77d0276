"""Settings, read from environment variables and ``.env``.

One ``Settings`` class holds every knob; ``APP_ENV`` picks the profile:

- ``development`` (default): embedded defaults, so a fresh checkout runs as is;
- ``testing``: what the test suite builds its apps with;
- ``production``: refuses to start on development defaults or weak secrets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from limits import parse_many
from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: The value ``.env.example`` ships with; the project generator replaces it in ``.env``.
PLACEHOLDER_SECRET = "change-me-to-a-long-random-string"  # noqa: S105 - refused in production
MIN_SECRET_BYTES = 32


class ConfigurationError(RuntimeError):
    """The settings are unsafe for the selected ``APP_ENV``."""


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


#: A list given in the environment as comma-separated values.
CommaSeparated = Annotated[list[str], NoDecode, BeforeValidator(_split_commas)]


def _check_rate_limits(value: str) -> str:
    value = value.strip()
    if value:
        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(
                f"{value!r} is not a rate limit: use forms like '60/minute' or '10/second;1/hour'"
            ) from exc
    return value


#: Rate limits such as "10/second;100/hour"; empty: none.
RateLimits = Annotated[str, AfterValidator(_check_rate_limits)]
{%- if cookiecutter.use_redis %}


def _check_redis_url(value: str | None) -> str | None:
    if not value:
        return None
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must start with redis://, rediss:// or unix://")
    return value


#: A Redis URL; empty: none.
RedisURL = Annotated[str | None, AfterValidator(_check_redis_url)]
{%- endif %}


class Settings(BaseSettings):
    """Every setting of the application, with its environment variable name."""

    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=True,
    )

    APP_ENV: Literal["development", "testing", "production"] = "development"
    PROJECT_NAME: str = "{{ cookiecutter.project_name }}"
    PROJECT_DESCRIPTION: str = "{{ cookiecutter.description }}"
    DEBUG: bool = False
    SECRET_KEY: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    #: Largest request body accepted, in bytes; larger ones answer 413.
    MAX_CONTENT_LENGTH: int = Field(default=1024 * 1024, gt=0)
    #: Deepest nesting and most object members a JSON body may have; more answer 400.
    MAX_JSON_DEPTH: int = Field(default=64, ge=2, le=512)
    MAX_JSON_KEYS: int = Field(default=1000, ge=1)
    #: Longest URL (path and query string) accepted; longer ones answer 414. Keep it
    #: below the server's own request-line limit (gunicorn: 4094 bytes).
    MAX_URL_LENGTH: int = Field(default=2048, ge=64, le=8000)
    #: Serve the OpenAPI document and Swagger UI. Unset: on, except in production.
    API_DOCS_ENABLED: bool | None = None
    #: Origins allowed to call the API from a browser (comma separated); empty: no CORS.
    CORS_ORIGINS: CommaSeparated = []
    #: Number of reverse proxies in front of the app whose X-Forwarded-* headers
    #: are trusted. 0 (the default) trusts none: the headers are ignored.
    TRUSTED_PROXY_COUNT: int = Field(default=0, ge=0, le=5)
    #: Seconds each dependency gets to answer the readiness check.
    HEALTH_CHECK_TIMEOUT: float = Field(default=2.0, gt=0, le=30)

    #: Rate limits, counted per client: an identified caller, or else an IP address
    #: (see ``app/core/rate_limit.py``).
    RATE_LIMIT_ENABLED: bool = True
    #: Requests each client may make, across the whole API; views may add stricter
    #: limits. Stack limits for bursts: "10/second;60/minute". Empty: no such limit.
    RATE_LIMIT_DEFAULT: RateLimits = "60/minute"
    #: Requests each client may make to each write endpoint that applies it
    #: (``@rate_limit(write_limit)``), on top of the default. Empty: no such limit.
    RATE_LIMIT_WRITES: RateLimits = "10/second;60/minute"
    #: "sliding-window-counter": two counters per client and limit, approximate at
    #: window edges. "moving-window": exact, but stores one entry per request.
    RATE_LIMIT_STRATEGY: Literal["sliding-window-counter", "moving-window"] = (
        "sliding-window-counter"
    )

    #: False: every cache lookup misses and nothing is stored.
    CACHE_ENABLED: bool = True
{%- if cookiecutter.use_redis %}
    #: Seconds a cache entry lives unless the caller says otherwise.
    CACHE_DEFAULT_TTL: int = Field(default=300, ge=1)
{%- else %}
    #: Seconds a cache entry lives unless the caller says otherwise. Each process
    #: has its own cache, so other processes see a change within this time: keep it short.
    CACHE_DEFAULT_TTL: int = Field(default=10, ge=1)
{%- endif %}
    #: Part of every cache key: change it on deploy to start from an empty cache.
    CACHE_VERSION: str = Field(default="1", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
{%- if cookiecutter.use_redis %}

    #: Redis for the shared cache, the rate-limit counters and the job queue:
    #: ``redis://[:password@]host:6379/0`` (``rediss://`` for TLS). Unset: the cache
    #: and the rate limits stay in the process and background jobs are unavailable.
    REDIS_URL: RedisURL = None
    #: Start of every key this app writes; apps sharing a Redis need different ones.
    REDIS_KEY_PREFIX: str = Field(
        default="{{ cookiecutter.project_slug }}",
        pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
    )
    #: Seconds to connect, and to wait for each answer. Redis answers within a
    #: millisecond, so waiting longer only delays noticing that it is down.
    REDIS_TIMEOUT: float = Field(default=0.25, gt=0, le=10)
    #: Seconds a background job may run before the worker stops it.
    JOB_TIMEOUT: int = Field(default=600, ge=1)
    #: Seconds a finished job's result stays readable at /api/v1/jobs/<id>.
    JOB_RESULT_TTL: int = Field(default=86_400, ge=1)
    #: Seconds between the heartbeats of a running job. A job whose worker died
    #: is found once two go missing (see app/core/jobs.py).
    JOB_HEARTBEAT_INTERVAL: int = Field(default=10, ge=1, le=300)
    #: Seconds between a worker's maintenance passes, which put the jobs of dead
    #: workers back on the queue.
    JOB_MAINTENANCE_INTERVAL: int = Field(default=30, ge=1, le=3600)
{%- endif %}
{%- if cookiecutter.database != "none" %}

    #: SQLAlchemy URL. Relative SQLite paths live in the ``instance/`` folder.
{%- if cookiecutter.database == "postgresql" %}
    #: PostgreSQL: ``postgresql+psycopg://user:password@host:5432/dbname``.
{%- endif %}
    DATABASE_URL: str = "sqlite:///{{ cookiecutter.project_slug }}.db"
    DATABASE_ECHO: bool = False
    #: Connections each process keeps open. A request that finds them all busy
    #: waits up to DATABASE_POOL_TIMEOUT, then answers 503 DATABASE_BUSY. Keep
    #: processes x (pool + overflow) under PostgreSQL's max_connections (100).
    DATABASE_POOL_SIZE: int = Field(default=10, ge=1)
    #: Extra connections opened for a burst and closed right after: churn. 0 by default.
    DATABASE_MAX_OVERFLOW: int = Field(default=0, ge=0)
    #: Seconds after which a pooled connection is replaced.
    DATABASE_POOL_RECYCLE: int = Field(default=1800, ge=-1)
    #: Seconds a request waits for a free pooled connection.
    DATABASE_POOL_TIMEOUT: float = Field(default=10, gt=0)
    #: Seconds to wait for a new database connection.
    DATABASE_CONNECT_TIMEOUT: int = Field(default=5, ge=1)
    #: PostgreSQL statement_timeout in milliseconds (0 disables it).
    DATABASE_STATEMENT_TIMEOUT_MS: int = Field(default=30_000, ge=0)
{%- endif %}
{%- if cookiecutter.use_auth %}

    #: HS256 signs with JWT_SECRET_KEY; RS256 and EdDSA sign with the private key
    #: file and let other services verify tokens with the public key alone.
    JWT_ALGORITHM: Literal["HS256", "RS256", "EdDSA"] = "HS256"
    JWT_SECRET_KEY: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    JWT_PRIVATE_KEY_FILE: Path | None = None
    JWT_PUBLIC_KEY_FILE: Path | None = None
    JWT_ISSUER: str = "{{ cookiecutter.project_slug }}"
    JWT_AUDIENCE: str = "{{ cookiecutter.project_slug }}-api"
    #: Seconds an access token lives.
    JWT_ACCESS_TOKEN_TTL: int = Field(default=15 * 60, ge=30, le=24 * 3600)
    #: Seconds a refresh token lives; each refresh issues a new one, so a session
    #: ends after this long without use (and at AUTH_SESSION_MAX_AGE at the latest).
    JWT_REFRESH_TOKEN_TTL: int = Field(default=30 * 86_400, ge=60)
    AUTH_SESSION_MAX_AGE: int = Field(default=90 * 86_400, ge=60)
    #: Seconds of clock difference tolerated when checking token times.
    JWT_LEEWAY: int = Field(default=10, ge=0, le=300)
    #: argon2id cost; the defaults (64 MiB, 3 passes, 4 lanes) exceed OWASP's minimum.
    PASSWORD_HASH_TIME_COST: int = Field(default=3, ge=1)
    PASSWORD_HASH_MEMORY_KIB: int = Field(default=65_536, ge=8)
    PASSWORD_HASH_PARALLELISM: int = Field(default=4, ge=1)
    #: Seconds a session's state may be served from a shared cache before
    #: the database is asked again; revocations drop it at once.
    AUTH_SESSION_CACHE_TTL: float = Field(default=30, ge=0)
    #: Roles that rate limits do not apply to (comma separated), e.g. "admin".
    RATE_LIMIT_EXEMPT_ROLES: CommaSeparated = []
{%- endif %}
{%- if cookiecutter.use_api_keys %}

    #: Start of every API key (``<prefix>_<id>_<secret>``), so secret scanners can find leaks.
    API_KEY_PREFIX: str = Field(
        default="{{ cookiecutter.project_slug }}",
        pattern=r"^[a-z][a-z0-9_]{0,31}$",
    )
    #: Key of the HMAC that stored key secrets are hashed with. Unset: derived from
    #: SECRET_KEY, so rotating SECRET_KEY then invalidates every API key.
    API_KEY_PEPPER: SecretStr | None = None
    #: Keys a user may have that are not revoked.
    API_KEY_MAX_PER_USER: int = Field(default=20, ge=1, le=1000)
    #: Seconds a key's state may be served from the store every process shares
    #: before the database is asked again; revocations drop it at once. 0:
    #: always ask the database.
    API_KEY_CACHE_TTL: float = Field(default=30, ge=0)
{%- endif %}
{%- if cookiecutter.ai_provider != "none" %}

    #: The AI provider (see app/core/ai/registry.py). Unset: the real one when
    #: AI_API_KEY is set, otherwise the offline, deterministic ``fake``.
    AI_PROVIDER: str | None = None
    AI_API_KEY: SecretStr | None = None
    #: The model used when a request names none (unset: the provider's default).
    AI_MODEL: str | None = None
    #: Other models a request may choose (comma separated); AI_MODEL always may.
    AI_MODELS: CommaSeparated = []
    #: Another endpoint for the provider's API (a compatible server, a gateway).
    #: It comes from settings only, never from a request.
    AI_BASE_URL: str | None = None
    #: Seconds one AI request may take, every retry included.
    AI_TIMEOUT: float = Field(default=30.0, gt=0, le=600)
    AI_MAX_RETRIES: int = Field(default=2, ge=0, le=10)
    #: The most tokens a request may ask for, and what it gets if it asks for none.
    AI_MAX_TOKENS: int = Field(default=1024, ge=1)
    #: Largest ``response_schema`` accepted, in bytes of compact JSON.
    AI_MAX_SCHEMA_BYTES: int = Field(default=16_384, ge=256)
    #: Largest reply read from the provider, in bytes (a stream: all its events
    #: together); reading stops there with 502 AI_REPLY_TOO_LARGE.
    AI_MAX_REPLY_BYTES: int = Field(default=2 * 1024 * 1024, ge=1024)
    #: Seconds a streamed reply may last in all (AI_TIMEOUT bounds each wait
    #: within it); then it ends with an AI_TIMEOUT error event.
    AI_STREAM_MAX_SECONDS: float = Field(default=300.0, gt=0, le=3600)
    #: AI calls one process runs at once; more are refused with 503 AI_BUSY, so
    #: that slow upstream calls never hold every worker thread.
    AI_MAX_CONCURRENT: int = Field(default=100, ge=1)
    #: Log prompts and replies (they may hold personal data: off by default).
    AI_LOG_CONTENT: bool = False
    #: AI requests each caller may make, generation and jobs together (on top of
    #: RATE_LIMIT_DEFAULT). Empty: no AI quota.
    AI_RATE_LIMIT: RateLimits = "10/hour"
{%- if cookiecutter.use_auth %}
    #: The AI quota of administrators.
    AI_RATE_LIMIT_ADMIN: RateLimits = "100/hour"
{%- endif %}
    #: Seconds a reply to a deterministic request (temperature 0) is kept and
    #: given again to the same request; 0: replies are never reused.
    AI_CACHE_TTL: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _check_ai_settings(self) -> Settings:
        from urllib.parse import urlsplit

        from app.core.ai.registry import PROVIDERS

        if self.AI_PROVIDER is not None and self.AI_PROVIDER not in PROVIDERS:
            raise ValueError(f"AI_PROVIDER must be one of: {', '.join(PROVIDERS)}")
        if self.AI_BASE_URL is not None:
            parts = urlsplit(self.AI_BASE_URL)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise ValueError("AI_BASE_URL must be an http:// or https:// URL")
        return self
{%- endif %}

{%- if cookiecutter.use_metrics %}

    #: Serve Prometheus metrics at /metrics and measure every request for them.
    METRICS_ENABLED: bool = True
    #: The bearer token a scraper must send to /metrics. Unset: anyone may
    #: scrape (production requires one while METRICS_ENABLED is true).
    METRICS_TOKEN: SecretStr | None = None
{%- endif %}

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.APP_ENV != "production":
            return self
        problems = []
        secret = self.SECRET_KEY.get_secret_value()
        if secret == PLACEHOLDER_SECRET or len(secret.encode()) < MIN_SECRET_BYTES:
            problems.append(
                f"SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes of random data "
                "(generate one with: python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')"
            )
        if self.DEBUG:
            problems.append("DEBUG must be false")
{%- if cookiecutter.database != "none" %}
        if "DATABASE_URL" not in self.model_fields_set:
            problems.append(
                "DATABASE_URL must be set: the embedded SQLite default is for development"
            )
{%- endif %}
{%- if cookiecutter.use_auth %}
        problems += self._token_problems()
{%- endif %}
{%- if cookiecutter.ai_provider != "none" %}
        if self.AI_PROVIDER == "fake":
            problems.append("AI_PROVIDER must not be 'fake': the offline fake is for development")
        if self.AI_API_KEY is None or not self.AI_API_KEY.get_secret_value():
            problems.append("AI_API_KEY must be set (the provider's API key)")
{%- endif %}
{%- if cookiecutter.use_redis %}
        if not self.REDIS_URL:
            problems.append(
                "REDIS_URL must be set: without Redis the cache and the rate limits are "
                "per process and background jobs cannot run"
            )
{%- endif %}
{%- if cookiecutter.use_metrics %}
        token = self.METRICS_TOKEN.get_secret_value() if self.METRICS_TOKEN else ""
        weak = token == PLACEHOLDER_SECRET or len(token.encode()) < MIN_SECRET_BYTES
        if self.METRICS_ENABLED and weak:
            problems.append(
                f"METRICS_TOKEN must be at least {MIN_SECRET_BYTES} bytes of random data "
                "(Prometheus sends it as a bearer token), or METRICS_ENABLED=false"
            )
{%- endif %}
        if problems:
            raise ConfigurationError(
                "Refusing to start with APP_ENV=production: " + "; ".join(problems)
            )
        return self

{%- if cookiecutter.use_auth %}

    @model_validator(mode="after")
    def _cheap_hashing_in_tests(self) -> Settings:
        # Hashing at production cost would make the test suite crawl.
        if self.APP_ENV == "testing":
            for name, cheapest in (
                ("PASSWORD_HASH_TIME_COST", 1),
                ("PASSWORD_HASH_MEMORY_KIB", 8),
                ("PASSWORD_HASH_PARALLELISM", 1),
            ):
                if name not in self.model_fields_set:
                    setattr(self, name, cheapest)
        return self

    @model_validator(mode="after")
    def _token_keys_exist(self) -> Settings:
        if self.JWT_ALGORITHM != "HS256":
            for name in ("JWT_PRIVATE_KEY_FILE", "JWT_PUBLIC_KEY_FILE"):
                path = getattr(self, name)
                if path is None or not path.is_file():
                    raise ConfigurationError(
                        f"JWT_ALGORITHM={self.JWT_ALGORITHM} needs {name} to name a PEM file"
                        f" (got {path})."
                    )
        return self

    def _token_problems(self) -> list[str]:
        problems = []
        secret = self.JWT_SECRET_KEY.get_secret_value()
        weak = secret == PLACEHOLDER_SECRET or len(secret.encode()) < MIN_SECRET_BYTES
        if self.JWT_ALGORITHM == "HS256" and weak:
            problems.append(
                f"JWT_SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes of random data"
            )
        if self.PASSWORD_HASH_MEMORY_KIB < 19_456 or self.PASSWORD_HASH_TIME_COST < 2:
            problems.append(
                "PASSWORD_HASH_MEMORY_KIB >= 19456 and PASSWORD_HASH_TIME_COST >= 2 "
                "(the OWASP minimum for argon2id)"
            )
        return problems
{%- endif %}

    @property
    def is_production(self) -> bool:
        return self.APP_ENV == "production"

    @property
    def api_docs_enabled(self) -> bool:
        """Whether the OpenAPI document and Swagger UI are served."""
        if self.API_DOCS_ENABLED is None:
            return not self.is_production
        return self.API_DOCS_ENABLED

    def flask_config(self) -> dict[str, Any]:
        """The subset of settings that Flask and its extensions read from ``app.config``."""
        return {
            "SECRET_KEY": self.SECRET_KEY.get_secret_value(),
            "DEBUG": self.DEBUG,
            "TESTING": self.APP_ENV == "testing",
            # Every error, even in tests, leaves through the JSON error handlers.
            "PROPAGATE_EXCEPTIONS": False,
            "MAX_CONTENT_LENGTH": self.MAX_CONTENT_LENGTH,
        }


def get_settings() -> Settings:
    """The settings of the current app (inside an app or request context)."""
    from flask import current_app

    settings: Settings = current_app.extensions["settings"]
    return settings
