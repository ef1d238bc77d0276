"""Fixtures and helpers for baking projects and running what they ship."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from tests.zygote import Zygote, process_cpu_seconds

TEMPLATE = Path(__file__).resolve().parents[1]
#: PostgreSQL server for the bakes' suites and migrations; each user of it creates
#: a database of its own there and drops it afterwards.
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
#: Redis for the bakes' suites; each run of a suite writes under a key prefix of
#: its own and deletes its keys afterwards.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
#: Hypothesis works out which characters UTF-8 can encode (2-3 s of CPU) once per
#: storage directory and keeps the answer there: one directory for every bake.
HYPOTHESIS_STORAGE = TEMPLATE / "build" / "hypothesis"
#: ruff itself: ``python -m ruff`` starts a Python only to find and run it.
RUFF = Path(sys.executable).parent / "ruff"
UNRENDERED = re.compile(r"\{\{|\{%|\{#|cookiecutter\.")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--full",
        action="store_true",
        help="run the full generated suite of every valid combination, not just a "
        "covering set (the nightly run)",
    )


#: ``CPU_LOG=path``: append each test's CPU seconds (its own and its subprocesses')
#: and wall seconds to ``path``, to find what the suite's time goes to.
CPU_LOG = os.environ.get("CPU_LOG")


def cpu_seconds() -> float:
    """Ours, our waited-for subprocesses' and those of our zygote, if we have one."""
    return process_cpu_seconds() + Zygote.cpu


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[object]:
    if not CPU_LOG:
        return (yield)
    cpu, wall = cpu_seconds(), time.monotonic()
    try:
        return (yield)
    finally:
        line = f"{cpu_seconds() - cpu:.1f}\t{time.monotonic() - wall:.1f}\t{item.nodeid}\n"
        with open(CPU_LOG, "a") as log:
            log.write(line)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the longest tests (baked suites, servers) first, so that no worker is
    left with one of them at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def services_required() -> bool:
    """Under CI (or REQUIRE_SERVICES=1) a missing service fails instead of skipping."""
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("REQUIRE_SERVICES") == "1"


def require_service(name: str, problem: str) -> None:
    reason = f"{name} is not available: {problem}"
    if services_required():
        pytest.fail(reason)
    pytest.skip(reason)


def bake(cookies: Any, **answers: Any) -> Path:
    """Generate a project with ``answers`` on top of the defaults; fail if that fails."""
    result = cookies.bake(extra_context=answers, template=str(TEMPLATE))
    exit_code, exception = result.exit_code, result.exception
    assert exit_code == 0, f"baking {answers} failed: {exception!r}"
    return Path(result.project_path)


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL URL, once it answers (skips, or fails under CI, when it does not)."""
    try:
        psycopg.connect(libpq_url(POSTGRES_URL), connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        require_service("PostgreSQL", f"{POSTGRES_URL}: {exc}".strip())
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_server() -> str:
    """The Redis URL, once it answers (skips, or fails under CI, when it does not)."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service("Redis", f"{REDIS_URL}: {exc}".strip())
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_server: str) -> Iterator[str]:
    """A Redis key prefix for one test; its keys are deleted afterwards."""
    prefix = f"tpl-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_server)
    # RQ names a job's keys after the job alone: find this prefix's jobs in its queues.
    jobs: set[str] = set()
    for queue in client.smembers("rq:queues"):  # type: ignore[union-attr]
        name = queue.decode().removeprefix("rq:queue:")
        if name.startswith(prefix):
            jobs.update(job.decode() for job in client.lrange(queue, 0, -1))  # type: ignore[union-attr]
            for registry in ("wip", "finished", "failed", "deferred", "scheduled", "canceled"):
                entries = client.zrange(f"rq:{registry}:{name}", 0, -1)
                jobs.update(entry.decode().partition(":")[0] for entry in entries)  # type: ignore[union-attr]
            client.srem("rq:queues", queue)
    for job in jobs:
        client.delete(f"rq:job:{job}", f"rq:results:{job}", f"rq:executions:{job}")
    for key in client.scan_iter(match=f"*{prefix}*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture
def postgres_database(postgres_server: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one test; dropped afterwards."""
    name = f"tpl_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_url(postgres_server), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_server.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(libpq_url(postgres_server), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def project_env(**overrides: str) -> dict[str, str]:
    """The environment for a command run in a baked project: ours, minus anything
    that would leak this run's configuration into it, plus ``overrides``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("PYTEST_", "DATABASE_", "REDIS_", "VIRTUAL_ENV", "AI_", "OPENAI_", "ANTHROPIC_")
        )
    }
    env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(HYPOTHESIS_STORAGE)
    env.update(overrides)
    return env


def run_in(
    project: Path, *args: str | Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command in ``project`` and return its result (output captured)."""
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=project,
        env=env or project_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def python_in(project: Path, *args: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run this environment's Python in ``project``."""
    return run_in(project, sys.executable, *args, **kwargs)


@pytest.fixture(scope="session")
def zygote() -> Iterator[Zygote]:
    """This worker's fork server for the smoke check (``tests/zygote.py``)."""
    with tempfile.TemporaryFile() as errors:
        server = Zygote(project_env(), errors)
        yield server
        server.close()


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, (
        f"{' '.join(result.args)} exited {result.returncode}\n"
        f"--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-6000:]}"
    )


def assert_ruff_clean(project: Path) -> None:
    """``ruff check`` and ``ruff format --check`` pass in ``project``."""
    assert_ok(run_in(project, RUFF, "check", "--no-cache", "."))
    assert_ok(run_in(project, RUFF, "format", "--check", "--no-cache", "."))
