"""Metrics under the production server: gunicorn with two worker processes, as
``gunicorn.conf.py`` sets it up, sharing their values through
``PROMETHEUS_MULTIPROC_DIR``. Each worker writes its counts there at least every
``FLUSH_SECONDS``, and the one that answers a scrape first writes its own."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.core.metrics import FLUSH_SECONDS
from tests.fixtures.metrics import METRICS_TEST_TOKEN

# With the serving tests: one test worker runs the tests that start gunicorn masters.
pytestmark = pytest.mark.xdist_group("serving")

PROJECT = Path(__file__).resolve().parents[1]
HEALTH = "/api/v1/health"
#: Requests sent at once, each on a connection of its own, so that both workers take some.
CONCURRENCY = 8
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
IN_FLIGHT = ("http_requests_in_flight", ())


class Server(NamedTuple):
    base: str
    folder: Path
    process: subprocess.Popen[bytes]


def get(url: str, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback
    # Long enough for a worker that is still booting (seconds on a busy machine):
    # until one accepts, the connection waits in the listen queue.
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        body: bytes = response.read()
        return body


def answers(base: str) -> bool:
    """Whether the server answers ``GET /api/v1/health`` now."""
    try:
        get(f"{base}{HEALTH}")
    except OSError:
        return False
    return True


def scrape(server: Server) -> Samples:
    """Every sample of one scrape, by name and labels."""
    text = get(f"{server.base}/metrics", {"Authorization": f"Bearer {METRICS_TEST_TOKEN}"})
    return {
        (found.name, tuple(sorted(found.labels.items()))): found.value
        for family in text_string_to_metric_families(text.decode())
        for found in family.samples
    }


def health_count(samples: Samples) -> float:
    labels = (("method", "GET"), ("route", HEALTH), ("status", "200"))
    return samples.get(("http_request_duration_seconds_count", labels), 0.0)


def settled(server: Server, count: float) -> Samples:
    """A scrape that counts ``count`` health requests and none in flight, once
    every worker has written its counts (within a few ``FLUSH_SECONDS``)."""
    deadline = time.monotonic() + 5 * FLUSH_SECONDS
    while True:
        samples = scrape(server)
        if health_count(samples) == count and samples[IN_FLIGHT] == 0:
            return samples
        assert time.monotonic() < deadline, f"{health_count(samples)} requests, not {count}"
        time.sleep(0.1)


def written_count(server: Server) -> float:
    """The health requests counted, once every worker has written its counts
    (nothing is being sent: each writes them within ``FLUSH_SECONDS``)."""
    time.sleep(2 * FLUSH_SECONDS)
    return health_count(scrape(server))


def send_health_requests(server: Server, count: int) -> None:
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(lambda _: get(f"{server.base}{HEALTH}"), range(count)))


def wait_for_workers_other_than(server: Server, gone: set[int]) -> None:
    """Until gunicorn has replaced the workers ``gone``, and their live gauges are gone."""
    deadline = time.monotonic() + 30
    while gone & pids_with(server.folder, "gauge_livesum") or (
        len(pids_with(server.folder, "gauge_livesum")) < 2
    ):
        assert time.monotonic() < deadline, "the old workers' gauges stayed"
        time.sleep(0.1)


def pids_with(folder: Path, kind: str) -> set[int]:
    """The processes that wrote values of ``kind`` (``histogram``, ``gauge_livesum``)."""
    return {int(path.stem.rpartition("_")[2]) for path in folder.glob(f"{kind}_*.db")}


def write_stale_values(folder: Path) -> None:
    """Values as a previous run of the server would have left them."""
    code = (
        "from prometheus_client import Histogram\n"
        "Histogram('http_request_duration_seconds', 'x', ['method', 'route', 'status'])"
        ".labels('GET', '/stale', '200').observe(0.1)\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True)  # noqa: S603
    assert list(folder.glob("histogram_*.db"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("prometheus")
    write_stale_values(folder)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    log = tmp_path_factory.mktemp("metrics-serving") / "gunicorn.log"
    env = {
        **os.environ,
        "APP_ENV": "testing",
        "PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
        "METRICS_TOKEN": METRICS_TEST_TOKEN,
    }
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - the project's own server
            command, cwd=PROJECT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 60
            # Until both workers have their instruments (early in building the app)
            # and the server answers (a worker accepts once its app is built).
            while len(pids_with(folder, "gauge_livesum")) < 2 or not answers(base):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not start two workers:\n{log.read_text()}")
                time.sleep(0.1)
            yield Server(base, folder, process)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def test_the_values_of_a_previous_run_are_gone(server: Server) -> None:
    samples = scrape(server)
    assert not [key for key in samples if ("route", "/stale") in key[1]]


def test_counts_add_up_across_workers(server: Server) -> None:
    # Once every worker has written its counts: the other worker may still hold
    # a health request of the fixture's, which a scrape now would not count.
    before = written_count(server)
    sent = 0
    # Until both workers have counted requests (each writes its own file).
    while len(pids_with(server.folder, "histogram")) < 2 or sent < 200:
        assert sent < 5000, "one worker took every request"
        send_health_requests(server, 40)
        sent += 40
    settled(server, before + sent)
    for _ in range(6):  # whichever worker answers the scrape, it counts them all
        samples = scrape(server)
        assert health_count(samples) == before + sent
        assert samples[IN_FLIGHT] == 0


def test_workers_that_stop_write_their_last_counts(server: Server) -> None:
    before = written_count(server)
    workers = pids_with(server.folder, "gauge_livesum")
    send_health_requests(server, 100)
    for pid in workers:  # at once, before their next flush
        os.kill(pid, signal.SIGTERM)
    wait_for_workers_other_than(server, workers)
    samples = scrape(server)
    assert health_count(samples) == before + 100
    assert samples[IN_FLIGHT] == 0


def test_a_worker_that_dies_keeps_its_counts_and_leaves_no_request_in_flight(
    server: Server,
) -> None:
    # Every count written: a worker killed outright loses those it has not.
    before = written_count(server)
    victim = min(pids_with(server.folder, "gauge_livesum"))
    os.kill(victim, signal.SIGKILL)
    # gunicorn starts another worker; the dead one's live gauge is dropped.
    wait_for_workers_other_than(server, {victim})
    samples = scrape(server)
    assert health_count(samples) == before
    assert samples[IN_FLIGHT] == 0
