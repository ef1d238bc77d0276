"""Background jobs, run by real workers (``flask worker``) against this run's Redis."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq import Retry
from rq.job import Job, JobStatus

from app.core.cache import CacheManager, get_cache
from app.core.caller import caller_key
from app.core.jobs import get_queue
from app.services import jobs as jobs_service
from tests import processes, sample_jobs
from tests.conftest import MakeApp
from tests.fixtures.redis import run_burst_worker, worker_env

#: Every test here starts workers: one xdist worker runs them all, forking them from one
#: preloaded process (``tests.processes``).
pytestmark = pytest.mark.xdist_group("workers")

JOBS = "/api/v1/jobs"


@contextmanager
def running_worker(log: Path) -> Iterator[BaseProcess]:
    """A worker (``flask worker``) that runs until stopped, in a process group of its own."""
    process = processes.start(["flask", "--app", "app", "worker"], worker_env(), log)
    try:
        yield process
    finally:
        processes.stop(process)


def enqueue(app: Flask, func: Callable[..., Any], **options: Any) -> Job:
    """Queue ``func`` as the callers of ``app``'s test clients would: their job."""
    credentials = app.test_client().environ_base
    with app.test_request_context(environ_base=credentials):
        meta = {"owner": caller_key()}
        return get_queue().enqueue_call(func, meta=meta, **options)


def refreshed(app: Flask, job: Job) -> Job:
    with app.app_context():
        return Job.fetch(job.id, connection=get_queue().connection, serializer=job.serializer)


def wait_until_started(app: Flask, job: Job) -> None:
    deadline = time.monotonic() + 30
    while refreshed(app, job).get_status() != JobStatus.STARTED:
        assert time.monotonic() < deadline, "the worker never started the job"
        time.sleep(0.05)


def wait_for_job_process(app: Flask, name: str) -> int:
    """The pid of the process running ``sample_jobs.sleep_then_count(..., name)``."""
    deadline = time.monotonic() + 30
    while True:
        with app.app_context():
            pid = sample_jobs.job_process(name)
        if pid > 0:
            return pid
        assert time.monotonic() < deadline, "the worker never started the job"
        time.sleep(0.05)


def test_a_queued_purge_runs_and_reports_its_result(app: Flask, maintainer: FlaskClient) -> None:
    with app.app_context():
        cache: CacheManager = get_cache()
        CacheManager(cache.backend, version="retired", default_ttl=60).set("old", 1)
        cache.set("current", 2)
    client = maintainer

    response = client.post(f"{JOBS}/cache-purge")
    assert response.status_code == 202
    queued = response.json["data"]  # type: ignore[index]
    assert queued["status"] == "queued"
    assert queued["name"] == "purge_stale_cache"
    assert queued["retries_left"] == 3
    assert response.headers["Location"] == f"{JOBS}/{queued['id']}"

    run_burst_worker()

    job = client.get(response.headers["Location"]).json["data"]  # type: ignore[index]
    assert job["status"] == "finished"
    # What it scanned depends on what else is cached (sessions, say); one was stale.
    assert job["result"]["deleted"] == 1
    assert job["result"]["scanned"] >= 2
    assert job["error"] is None
    assert job["enqueued_at"] <= job["started_at"] <= job["ended_at"]
    with app.app_context():
        assert get_cache().get("current") == 2


def test_a_worker_keeps_failures_and_runs_retries(app: Flask) -> None:
    failing = enqueue(app, sample_jobs.fail, args=["boom"])
    flaky = enqueue(app, sample_jobs.fail_once, args=["flaky"], retry=Retry(max=2))
    later = enqueue(app, sample_jobs.fail_once, args=["later"], retry=Retry(max=1, interval=30))
    # A job whose process is killed (out of memory, say) is retried, or fails.
    killed_retried = enqueue(app, sample_jobs.die_once, args=["retried"], retry=Retry(max=1))
    killed = enqueue(app, sample_jobs.die_once, args=["killed"])
    done = enqueue(app, sample_jobs.add, args=[2, 3])

    run_burst_worker()

    with app.app_context():
        failed_ids = get_queue().failed_job_registry.get_job_ids()
    assert {failing.id, killed.id} <= set(failed_ids)
    failed = refreshed(app, failing).latest_result()
    assert failed is not None
    assert "ValueError: boom" in (failed.exc_string or "")

    assert refreshed(app, flaky).return_value() == "succeeded on attempt 2"
    assert refreshed(app, killed_retried).return_value() == "survived attempt 2"
    assert refreshed(app, done).return_value() == 5

    # A retry with a delay waits in the scheduled registry for its time.
    waiting = refreshed(app, later)
    assert waiting.get_status() == JobStatus.SCHEDULED
    assert waiting.retries_left == 0
    with app.app_context():
        scheduled_at = get_queue().scheduled_job_registry.get_scheduled_time(later.id)
    assert 20 < scheduled_at.timestamp() - time.time() <= 30

    client = app.test_client()
    reported = client.get(f"{JOBS}/{failing.id}").json["data"]  # type: ignore[index]
    assert (reported["status"], reported["error"]) == ("failed", "ValueError")
    assert "boom" not in str(reported)  # no traceback or message for the client
    # A failure RQ records itself is named, not cut off at its first colon.
    reported = client.get(f"{JOBS}/{killed.id}").json["data"]  # type: ignore[index]
    assert (reported["status"], reported["error"]) == ("failed", "JobProcessKilled")


#: Seconds between heartbeats and between maintenance passes of the workers of
#: the next tests (the defaults are 10 and 30), so that they take seconds.
FAST_RECOVERY = {"JOB_HEARTBEAT_INTERVAL": "1", "JOB_MAINTENANCE_INTERVAL": "1"}


def test_a_job_whose_worker_dies_runs_again_on_another_worker(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in FAST_RECOVERY.items():
        monkeypatch.setenv(name, value)
    # No retries of its own: a worker's death is not the job's failure.
    job = enqueue(app, sample_jobs.sleep_then_count, args=[1, "reruns"])
    with (
        running_worker(tmp_path / "first.log") as first,
        running_worker(tmp_path / "second.log") as second,
    ):
        job_process = wait_for_job_process(app, "reruns")
        with app.app_context():
            running_on = sample_jobs.job_worker(job_process)
        (dead, survivor) = (first, second) if running_on == first.pid else (second, first)
        processes.stop(dead, signal.SIGKILL)
        os.kill(job_process, signal.SIGKILL)
        killed_at = time.monotonic()

        # Found by the survivor's maintenance pass, not by anyone reading the job:
        # within 2 heartbeat intervals + 2 maintenance intervals, plus the run.
        bound = 2 * 1 + 2 * 1 + 1
        while (status := refreshed(app, job).get_status()) != JobStatus.FINISHED:
            assert status != JobStatus.FAILED, (tmp_path / "second.log").read_text()
            assert time.monotonic() - killed_at < bound + 5, f"still {status}"
            time.sleep(0.1)
        assert survivor.is_alive()
    finished = refreshed(app, job)
    assert finished.meta["abandoned_reruns"] == 1
    with app.app_context():
        assert sample_jobs.completed_runs("reruns") == 1


def test_a_job_whose_worker_died_is_not_reported_as_running(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in FAST_RECOVERY.items():
        monkeypatch.setenv(name, value)
    job = enqueue(app, sample_jobs.sleep_then_count, args=[2, "runs"], retry=Retry(max=1))
    client = app.test_client()
    with running_worker(tmp_path / "worker.log") as worker:
        job_process = wait_for_job_process(app, "runs")
        assert client.get(f"{JOBS}/{job.id}").json["data"]["status"] == "started"  # type: ignore[index]
        # The worker and the child running the job (which has a session of its own).
        processes.stop(worker, signal.SIGKILL)
        os.kill(job_process, signal.SIGKILL)
    killed_at = time.monotonic()

    # No worker is left to notice. Once the heartbeat lapses (2 intervals), a
    # read of the job puts it back on the queue rather than report it running.
    while (reported := client.get(f"{JOBS}/{job.id}").json["data"])["status"] == "started":  # type: ignore[index]
        assert time.monotonic() - killed_at < 2 * 1 + 3, "reported as running for too long"
        time.sleep(0.1)
    assert (reported["status"], reported["retries_left"]) == ("queued", 0)

    run_burst_worker()
    assert refreshed(app, job).get_status() == JobStatus.FINISHED
    with app.app_context():
        assert sample_jobs.completed_runs("runs") == 1


def test_sigterm_lets_the_running_job_finish(app: Flask, tmp_path: Path) -> None:
    job = enqueue(app, sample_jobs.sleep_then_count, args=[1, "graceful"])
    log = tmp_path / "worker.log"
    with running_worker(log) as worker:
        wait_until_started(app, job)
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGTERM)
        worker.join(timeout=30)
        assert worker.exitcode == 0, log.read_text()
    assert refreshed(app, job).get_status() == JobStatus.FINISHED
    with app.app_context():
        assert sample_jobs.completed_runs("graceful") == 1


def worker_status(log: Path) -> int | None:
    """Run ``flask worker-status`` (a worker container's health check); its exit code."""
    process = processes.start(["flask", "--app", "app", "worker-status"], worker_env(), log)
    process.join(timeout=60)
    return process.exitcode


def test_worker_status_tells_whether_a_worker_serves_the_queue(app: Flask, tmp_path: Path) -> None:
    assert worker_status(tmp_path / "idle.log") == 1
    assert "no worker on" in (tmp_path / "idle.log").read_text()
    job = enqueue(app, sample_jobs.sleep_then_count, args=[1, "status"])
    with running_worker(tmp_path / "worker.log"):
        wait_until_started(app, job)
        assert worker_status(tmp_path / "busy.log") == 0


def test_an_unknown_job_is_404(app: Flask) -> None:
    response = app.test_client().get(f"{JOBS}/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "JOB_NOT_FOUND"  # type: ignore[index]


def test_a_job_of_another_app_is_404(app: Flask, make_app: MakeApp) -> None:
    other = make_app(REDIS_KEY_PREFIX=f"{os.environ['REDIS_KEY_PREFIX']}:other")
    job = enqueue(other, sample_jobs.add, args=[1, 1])
    assert app.test_client().get(f"{JOBS}/{job.id}").status_code == 404
    assert other.test_client().get(f"{JOBS}/{job.id}").status_code == 200


@pytest.mark.parametrize("job_id", ["has space", "x" * 65, "semi;colon", "cache-purge"])
def test_a_malformed_job_id_is_not_found(app: Flask, job_id: str) -> None:
    response = app.test_client().get(f"{JOBS}/{job_id}")
    assert response.status_code in (404, 405)


def test_the_purge_url_is_not_a_job(app: Flask) -> None:
    response = app.test_client().options(f"{JOBS}/cache-purge")
    assert set(response.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}


def test_starting_purges_is_rate_limited(maintainer: FlaskClient) -> None:
    codes = [maintainer.post(f"{JOBS}/cache-purge").status_code for _ in range(3)]
    assert codes == [202, 202, 429]


@pytest.mark.parametrize(
    ("recorded", "reported"),
    [
        ("Traceback (most recent call last):\n  ...\nValueError: bad: input", "ValueError"),
        (
            "Traceback ...\nrq.timeouts.JobTimeoutException: Task exceeded (600 s)",
            "JobTimeoutException",
        ),
        ("Traceback ...\nKeyError", "KeyError"),
        (
            "Moved to FailedJobRegistry, due to AbandonedJobError, at 2026-12-01 10:11:12",
            "WorkerDied",
        ),
        ("Work-horse terminated unexpectedly; waitpid returned 9 (signal 9); ", "JobProcessKilled"),
        ("Job stopped by user, work-horse terminated.", "JobStopped"),
        ("Traceback ...\nValueError: Job stopped by user", "ValueError"),
    ],
)
def test_a_failure_is_named_whole(recorded: str, reported: str) -> None:
    assert jobs_service.error_name(recorded) == reported
