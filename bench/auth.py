"""Benchmark of the auth module: what authentication costs per request, and login latency.

    .venv/bin/python bench/auth.py [--runs N] [--seconds S]

On one gunicorn server of the default project (SQLite file, production profile,
argon2 at its production cost), in the same run:
- requests/s of an authenticated ``GET /api/v1/items`` (token decoded, session and
  user checked in the database, page queried) against the same route without a
  token (answered 401 after the cheap header check) and against ``/api/v1/health``;
- latency of ``POST /api/v1/auth/login`` (one argon2id verification).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from load import BIN, bake, call, clean_env, gunicorn, median_of, requests_per_second

PASSWORD = "a long benchmark passphrase"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-auth-") as tmp:
        # Auth alone: no Redis (its session cache has a benchmark of its own), no AI.
        project = bake(Path(tmp) / "out", "use_redis=no", "ai_provider=none")
        database = f"sqlite:///{Path(tmp) / 'bench.db'}"
        env = clean_env(
            APP_ENV="production",
            DATABASE_URL=database,
            LOG_LEVEL="WARNING",
            # What authentication costs is measured here, not rate limiting.
            RATE_LIMIT_ENABLED="false",
        )
        subprocess.run(
            [BIN / "flask", "--app", "app", "db", "upgrade"],
            cwd=project,
            env=env,
            check=True,
            capture_output=True,
        )
        with gunicorn(project, env, "--workers", "1", "--threads", "4") as port:
            account = {"email": "bench@example.com", "password": PASSWORD, "full_name": "B"}
            assert call(port, "POST", "/api/v1/auth/register", account)[0] == 201
            credentials = {"email": account["email"], "password": PASSWORD}

            def login_seconds() -> float:
                started = time.perf_counter()
                status, body = call(port, "POST", "/api/v1/auth/login", credentials)
                assert status == 200, body
                return time.perf_counter() - started

            logins = [login_seconds() for _ in range(10)]
            _, body = call(port, "POST", "/api/v1/auth/login", credentials)
            token = body["data"]["access_token"]
            bearer = {"Authorization": f"Bearer {token}"}
            call(port, "POST", "/api/v1/items", {"name": "benchmark item"}, bearer)

            def rate(path: str, **kwargs: object) -> float:
                return median_of(
                    options.runs,
                    lambda: requests_per_second(port, path, seconds=options.seconds, **kwargs),
                )

            authenticated = rate("/api/v1/items", headers=bearer)
            anonymous = rate("/api/v1/items", expect=401)
            health = rate("/api/v1/health")

    print(f"median of {options.runs} runs of {options.seconds:.0f} s, 1 worker x 4 threads\n")
    print(f"{'GET /api/v1/items with a token':<40}{authenticated:>9.0f} req/s")
    print(f"{'GET /api/v1/items without (401)':<40}{anonymous:>9.0f} req/s")
    print(f"{'GET /api/v1/health':<40}{health:>9.0f} req/s")
    print(f"{'authenticated / unauthenticated':<40}{authenticated / anonymous:>9.2f}")
    print(f"{'authenticated / health':<40}{authenticated / health:>9.2f}")
    print(
        f"{'POST /api/v1/auth/login':<40}{statistics.median(logins) * 1000:>9.0f} ms"
        " (median of 10, argon2id 64 MiB x 3)"
    )


if __name__ == "__main__":
    main()
