"""Jobs for the tests. The worker imports them by name, as it does the app's own jobs,
and runs each in a process of its own: what they share lives in Redis."""

from __future__ import annotations

import os
import signal
import time

from app.core.config import get_settings
from app.core.redis import get_redis


def _key(name: str) -> str:
    return f"{get_settings().REDIS_KEY_PREFIX}:sample:{name}"


def add(a: int, b: int) -> int:
    return a + b


def fail(message: str) -> None:
    raise ValueError(message)


def fail_once(name: str) -> str:
    """Fail on the first attempt, succeed on the next."""
    attempt = int(get_redis().incr(_key(name)))  # type: ignore[arg-type]
    if attempt == 1:
        raise RuntimeError("the first attempt fails")
    return f"succeeded on attempt {attempt}"


def die_once(name: str) -> str:
    """Kill the process running the job on the first attempt, as the OOM killer would."""
    attempt = int(get_redis().incr(_key(name)))  # type: ignore[arg-type]
    if attempt == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return f"survived attempt {attempt}"


def sleep_then_count(seconds: float, name: str) -> int:
    """Note the process running the job (and its worker), sleep, then count a
    completed run."""
    get_redis().set(_key(f"{name}:pid"), os.getpid())
    get_redis().set(_key(f"worker-of:{os.getpid()}"), os.getppid())
    time.sleep(seconds)
    return int(get_redis().incr(_key(name)))  # type: ignore[arg-type]


def job_process(name: str) -> int:
    return int(get_redis().get(_key(f"{name}:pid")) or 0)  # type: ignore[arg-type]


def job_worker(pid: int) -> int:
    """The pid of the worker that started the job process ``pid``."""
    return int(get_redis().get(_key(f"worker-of:{pid}")) or 0)  # type: ignore[arg-type]


def completed_runs(name: str) -> int:
    return int(get_redis().get(_key(name)) or 0)  # type: ignore[arg-type]
