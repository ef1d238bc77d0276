"""The full tier: what a generated project ships works. Its own test suite and mypy
on a covering set of combinations (every combination with ``--full``), its
migrations, its servers, and fresh environments built from its own pyproject.toml."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import tasks
from tests.conftest import (
    assert_ok,
    bake,
    project_env,
    python_in,
    require_service,
    run_in,
)
from tests.matrix import all_combinations, combination_id, covering_set
from tests.openai_upstream import serve_openai

UV = Path(sys.executable).parent / "uv"
SMOKE = Path(__file__).with_name("smoke.py")
#: One mypy cache for every bake of the run: the dependencies are checked once.
MYPY_CACHE = Path(__file__).resolve().parents[1] / "build" / "mypy-cache"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``full_answers``: the covering set, or every valid combination with ``--full``."""
    if "full_answers" in metafunc.fixturenames:
        combos = all_combinations() if metafunc.config.getoption("full") else covering_set()
        metafunc.parametrize("full_answers", combos, ids=combination_id)


def suite_env(answers: dict[str, Any], services: dict[str, str]) -> dict[str, str]:
    """The environment of a baked suite: ours, plus the services ``answers`` need."""
    env = project_env()
    if answers.get("database") == "postgresql":
        env["DATABASE_URL"] = services["postgresql"]
    if answers.get("use_redis", True):
        env["REDIS_URL"] = services["redis"]
    return env


@pytest.fixture
def services_for(request: pytest.FixtureRequest) -> Any:
    """The URLs of the services a combination needs (a fixture each, so a missing
    service skips, or fails under CI, only the tests that need it)."""

    def get(answers: dict[str, Any]) -> dict[str, str]:
        services = {}
        if answers.get("database") == "postgresql":
            services["postgresql"] = request.getfixturevalue("postgres_server")
        if answers.get("use_redis", True):
            services["redis"] = request.getfixturevalue("redis_server")
        return services

    return get


@pytest.mark.slow
def test_baked_suite_passes(cookies: Any, services_for: Any, full_answers: dict[str, Any]) -> None:
    """The project's own suite, as its README runs it (in parallel) for the defaults, in
    one process for the others (the template's own workers already fill the CPUs);
    and mypy --strict on its code."""
    project = bake(cookies, **full_answers)
    MYPY_CACHE.mkdir(parents=True, exist_ok=True)
    assert_ok(python_in(project, "-m", "mypy", "--cache-dir", MYPY_CACHE, "app"))
    env = suite_env(full_answers, services_for(full_answers))
    parallel = [] if full_answers == covering_set()[0] else ["-n", "0"]
    result = python_in(project, "-m", "pytest", "-q", "-p", "no:cacheprovider", *parallel, env=env)
    assert_ok(result)
    assert " passed" in result.stdout
    assert " skipped" not in result.stdout


def flask_cli(project: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = project_env(DATABASE_URL=database_url)
    return python_in(project, "-m", "flask", "--app", "app", *args, env=env)


@pytest.mark.slow
def test_migrations_on_postgresql(cookies: Any, postgres_database: str) -> None:
    project = bake(cookies, database="postgresql")
    assert_ok(flask_cli(project, postgres_database, "db", "upgrade"))
    checked = flask_cli(project, postgres_database, "db", "check")
    assert_ok(checked)
    assert "No changes detected" in checked.stdout
    assert_ok(flask_cli(project, postgres_database, "db", "downgrade", "base"))
    assert "Changes detected" in flask_cli(project, postgres_database, "db", "check").stdout


@pytest.mark.slow
def test_migrations_on_sqlite(cookies: Any, tmp_path: Path) -> None:
    project = bake(cookies, database="sqlite")
    url = f"sqlite:///{tmp_path / 'check.db'}"
    assert_ok(flask_cli(project, url, "db", "upgrade"))
    assert_ok(flask_cli(project, url, "db", "check"))


@pytest.mark.slow
def test_a_new_model_needs_a_migration_and_gets_one(cookies: Any, tmp_path: Path) -> None:
    project = bake(cookies, database="sqlite")
    url = f"sqlite:///{tmp_path / 'drift.db'}"
    assert_ok(flask_cli(project, url, "db", "upgrade"))
    models = project / "app" / "models" / "item.py"
    models.write_text(
        models.read_text() + "    sku: str | None = Field(default=None, max_length=40)\n"
    )
    drift = flask_cli(project, url, "db", "check")
    assert drift.returncode == 1
    assert "Changes detected" in drift.stdout
    assert_ok(flask_cli(project, url, "db", "revision", "add sku"))
    (revision,) = (project / "migrations").glob("*_add_sku.py")
    assert "add_column" in revision.read_text()
    assert_ok(python_in(project, "-m", "ruff", "check", "--no-cache", str(revision)))
    assert_ok(flask_cli(project, url, "db", "upgrade"))
    assert_ok(flask_cli(project, url, "db", "check"))


def find_python(version: str) -> str:
    """An interpreter of ``version``: on PATH, or installed by pyenv."""
    found = tasks.find_python(version)
    if found is None:
        require_service(f"Python {version}", "no interpreter found on PATH or in ~/.pyenv")
    return str(found)


FRESH_ENVIRONMENTS = [
    pytest.param({}, None, id="default"),
    pytest.param(
        {"database": "none", "use_auth": False, "use_redis": False, "ai_provider": "none"},
        None,
        id="minimal",
    ),
    pytest.param({"database": "sqlite", "ai_provider": "anthropic"}, None, id="anthropic"),
    pytest.param({"database": "sqlite", "python_version": "3.13"}, "3.13", id="sqlite-py3.13"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("answers", "python"), FRESH_ENVIRONMENTS)
def test_a_fresh_environment_has_everything_the_project_needs(
    cookies: Any, answers: dict[str, Any], python: str | None
) -> None:
    """Installs only what the baked pyproject.toml declares (from uv's cache), so a
    missing dependency fails the import, health and migration checks."""
    interpreter = find_python(python) if python else sys.executable
    project = bake(cookies, **answers)
    env = project_env(UV_PYTHON_DOWNLOADS="never")
    sync = [UV, "sync", "--locked", "--quiet", "--python", str(interpreter)]
    assert_ok(run_in(project, *sync, env=env))
    venv_python = project / ".venv" / "bin" / "python"
    version = run_in(project, venv_python, "-c", "import sys; print(sys.version_info[:2])")
    if python:
        assert version.stdout.strip() == str(tuple(int(part) for part in python.split(".")))
    smoke = run_in(project, venv_python, SMOKE, env=env)
    assert_ok(smoke)
    assert "smoke: ok" in smoke.stdout
    # The development tools come with it too.
    assert_ok(run_in(project, venv_python, "-m", "ruff", "check", "--no-cache", ".", env=env))
    assert_ok(run_in(project, venv_python, "-m", "pytest", "--version", env=env))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http(
    method: str, url: str, body: Any = None, token: str | None = None
) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        status, headers, raw = exc.code, dict(exc.headers), exc.read()
        exc.close()
    is_json = headers.get("Content-Type", "").startswith("application/json")
    return status, headers, json.loads(raw) if is_json else raw.decode()


@contextmanager
def serving(
    command: list[str], project: Path, env: dict[str, str], port: int, *, graceful: bool = True
) -> Iterator[str]:
    """Start a server, wait until it answers, yield its base URL, then stop it with SIGTERM.

    :param graceful: The server must exit with status 0 on SIGTERM (gunicorn does;
        Flask's development server just dies).
    """
    process = subprocess.Popen(
        command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # Generous: on a loaded machine, workers importing the AI SDKs take a while.
        deadline = time.monotonic() + 60
        while True:
            try:
                http("GET", f"{base}/api/v1/health")
                break
            except OSError:  # refused, or accepted by the socket while workers boot
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read() if process.stdout else ""
                    pytest.fail(f"{command} did not start:\n{output}")
                time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        finally:
            output = process.stdout.read() if process.stdout else ""
            if process.stdout:
                process.stdout.close()
        assert code == 0 or not graceful, output


def sign_up(base: str) -> str:
    """Register and sign in over HTTP; return the access token."""
    account = {"email": "ada@example.com", "password": "a long passphrase", "full_name": "Ada"}
    status, _, body = http("POST", f"{base}/api/v1/auth/register", account)
    assert status == 201, body
    credentials = {"email": account["email"], "password": account["password"]}
    status, _, body = http("POST", f"{base}/api/v1/auth/login", credentials)
    assert status == 200, body
    token: str = body["data"]["access_token"]
    return token


def exercise_items(base: str, token: str | None) -> None:
    """Create, list and conflict over HTTP (with ``token``, when the project has auth)."""
    if token:
        assert http("GET", f"{base}/api/v1/items")[0] == 401
    status, _, body = http("POST", f"{base}/api/v1/items", {"name": "served"}, token)
    assert status == 201, body
    status, _, body = http("GET", f"{base}/api/v1/items", token=token)
    assert status == 200
    assert [item["name"] for item in body["data"]["data"]] == ["served"]
    status, _, body = http("POST", f"{base}/api/v1/items", {"name": "served"}, token)
    assert status == 409
    assert body["error"]["code"] == "ITEM_NAME_TAKEN"


def exercise_ai(base: str, token: str | None) -> None:
    """The AI endpoint through the real server: one reply, and one streamed."""
    status, _, body = http("POST", f"{base}/api/v1/ai/generate", {"prompt": "hi"}, token)
    assert status == 200, body
    assert (body["data"]["text"], body["data"]["provider"]) == ("echo: hi", "openai")
    request = urllib.request.Request(
        f"{base}/api/v1/ai/generate",
        data=json.dumps({"prompt": "one two", "stream": True}).encode(),
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = [
            line.removeprefix(b"event: ").strip()
            for line in response.read().splitlines()
            if line.startswith(b"event: ")
        ]
    assert events == [b"delta", b"delta", b"delta", b"done"]


@pytest.mark.slow
def test_production_server_on_postgresql(
    cookies: Any, postgres_database: str, redis_server: str, redis_prefix: str
) -> None:
    project = bake(cookies)
    assert_ok(flask_cli(project, postgres_database, "db", "upgrade"))
    port = free_port()
    with serve_openai() as (upstream_url, upstream):
        env = project_env(
            APP_ENV="production",
            SECRET_KEY="x" * 48,
            DATABASE_URL=postgres_database,
            REDIS_URL=redis_server,
            REDIS_KEY_PREFIX=redis_prefix,
            AI_API_KEY="sk-test-not-a-real-key",
            AI_BASE_URL=upstream_url,
            PORT=str(port),
            WEB_CONCURRENCY="2",
        )
        gunicorn = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
        with serving(gunicorn, project, env, port) as base:
            status, headers, body = http("GET", f"{base}/api/v1/health/ready")
            assert status == 200, body
            assert body["data"]["checks"]["database"]["status"] == "ok"
            assert body["data"]["checks"]["redis"]["status"] == "ok"
            assert headers["Server"] == "gunicorn"
            assert headers["Strict-Transport-Security"].startswith("max-age=")
            assert len(headers["X-Request-ID"]) == 32
            token = sign_up(base)
            exercise_items(base, token)
            exercise_ai(base, token)
            assert upstream.requests == 2
            # Production serves no API docs unless API_DOCS_ENABLED says so.
            status, _, body = http("GET", f"{base}/api/v1/openapi.json")
            assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
            # What gunicorn refuses before the app runs comes in the envelope too.
            status, headers, body = http("GET", f"{base}/api/v1/health?pad={'x' * 5000}")
            assert (status, body["error"]["code"]) == (414, "URI_TOO_LONG")
            assert headers["Content-Type"] == "application/json"
            # A background job: queued through the server, run by a worker. (Cache
            # purges are for administrators; any user may queue a generation.)
            purge = http("POST", f"{base}/api/v1/jobs/cache-purge", token=token)
            assert purge[0] == 403
            job = {"prompt": "later"}
            status, headers, body = http("POST", f"{base}/api/v1/ai/jobs", job, token)
            assert status == 202, body
            worker = python_in(project, "-m", "flask", "--app", "app", "worker", "--burst", env=env)
            assert_ok(worker)
            status, _, body = http("GET", f"{base}{headers['Location']}", token=token)
            assert (status, body["data"]["status"]) == (200, "finished"), body
            assert body["data"]["result"]["text"] == "echo: later"


@pytest.mark.slow
def test_production_refuses_to_start_on_development_defaults(cookies: Any) -> None:
    project = bake(cookies)
    env = project_env(APP_ENV="production")
    result = python_in(project, "-c", "from app import create_app; create_app()", env=env)
    assert result.returncode != 0
    assert "Refusing to start with APP_ENV=production" in result.stderr
    assert "DATABASE_URL must be set" in result.stderr
    assert "AI_API_KEY must be set" in result.stderr
    assert "REDIS_URL must be set" in result.stderr


@pytest.mark.slow
def test_development_server_runs_on_embedded_defaults(cookies: Any) -> None:
    """The README quick start: the generated .env, an SQLite file, ``flask run``."""
    project = bake(cookies)
    env = project_env()
    assert_ok(python_in(project, "-m", "flask", "--app", "app", "db", "upgrade", env=env))
    assert list((project / "instance").glob("*.db"))
    port = free_port()
    flask_run = [sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port)]
    with serving(flask_run, project, env, port, graceful=False) as base:
        status, _, body = http("GET", f"{base}/api/v1/health")
        assert (status, body["data"]) == (200, {"status": "ok"})
        exercise_items(base, sign_up(base))
        status, headers, _ = http("GET", f"{base}/api/v1/docs")
        assert status == 200
        assert headers["Content-Type"].startswith("text/html")
