"""Prometheus metrics: how much the API serves, how fast, and how its parts fare.

``GET /metrics`` answers in the Prometheus text format (prometheus-client, the
official library, renders it). What it holds:

- ``http_request_duration_seconds``, a histogram by ``method``, ``route`` and
  ``status``; its ``_count`` is the number of requests (no separate counter:
  one instrument less to update on every request). The route is the URL rule
  (``/api/v1/widgets/<int:widget_id>``), never the raw path; a URL that matches no
  rule counts as ``<unmatched>`` and a method outside HTTP's usual ones as
  ``OTHER``, so no client can add series at will. The duration runs until the
  response starts (for a stream: its headers).
- ``http_requests_in_flight``: requests being served now.
- ``rate_limit_refusals_total`` by ``route``: the 429 answers.
- ``cache_lookups_total`` by cache ``namespace`` and ``result`` (hit, miss).
- ``job_queue_depth`` by ``queue``, read at each scrape, when the app has a job
  queue.

Other modules add theirs with :meth:`Metrics.counter` and the like. Scrapes
themselves are not counted.

Under gunicorn, each worker process counts its own requests; with
``PROMETHEUS_MULTIPROC_DIR`` set (``gunicorn.conf.py`` sets it up before the
workers start), every worker writes its values to files there and a scrape,
whichever worker answers it, adds them all up.

A request costs no write to those files: what the request path counts (the
requests, those in flight, cache lookups, rate-limit refusals) is counted in
plain process memory, and written to the instruments (the files) in one go by
:meth:`Metrics.flush`: before every read of this process's registry (its
scrapes), every :data:`FLUSH_SECONDS` in multiprocess mode, and when a gunicorn
worker exits (``app/features/metrics_server.py``). So a scrape sees the
requests of its own worker up to that moment and those of the others up to
their last flush; a worker killed outright (``SIGKILL``, a crash) loses the
requests it finished since its last flush.

With ``METRICS_TOKEN`` set, a scrape must send ``Authorization: Bearer <token>``
(production requires one); ``METRICS_ENABLED=false`` removes the endpoint and
every measurement.
"""

from __future__ import annotations

import hmac
import logging
import math
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from app.core.access import public
from app.core.config import Settings
from app.core.exceptions import UnauthorizedError
from app.core.rate_limit import rate_limit_exempt

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger(__name__)

#: Where the worker processes of one server keep their values (prometheus-client
#: reads this variable); unset: each process keeps its own, in memory.
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
#: The route of a request that matched no URL rule (404, and 405).
UNMATCHED = "<unmatched>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Seconds: from a cache hit (about a millisecond) to a request near the timeout.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: The buckets' upper bounds as the histogram keeps them, the last taking the rest.
LATENCY_BOUNDS = (*LATENCY_BUCKETS, math.inf)
#: Seconds between two writes of a worker's counts to the shared files, at most
#: (under a busy worker's load, a little more).
FLUSH_SECONDS = 1.0
SCRAPE_PATH = "/metrics"
#: Where Flask's request object is, in the WSGI environment (werkzeug puts it there).
FLASK_REQUEST = "werkzeug.request"

bp = Blueprint("metrics", __name__)


class MetricsTokenRequired(UnauthorizedError):
    code = "METRICS_TOKEN_REQUIRED"
    message = "Send the metrics token: 'Authorization: Bearer <METRICS_TOKEN>'."

    def __init__(self) -> None:
        super().__init__(headers={"WWW-Authenticate": 'Bearer realm="metrics"'})


class JobQueue(Protocol):
    """What :class:`QueueDepth` reads of a job queue."""

    @property
    def name(self) -> str: ...

    @property
    def count(self) -> int: ...


class BatchHistogram(Histogram):
    """prometheus-client's histogram, which can also take many observations at once."""

    def observe_counts(self, counts: Sequence[float], total: float) -> None:
        """Add ``counts[i]`` observations to the ``i``-th bucket (the buckets in
        order, the last one ``+Inf``), adding up to ``total``: one write per
        bucket instead of two per observation."""
        self._sum.inc(total)
        for bucket, count in zip(self._buckets, counts, strict=True):
            if count:
                bucket.inc(count)


class _Flush(Collector):
    """Writes a process's counts to its instruments before the registry's other
    collectors read them (it is the first)."""

    def __init__(self, flush: Callable[[], None]) -> None:
        self.flush = flush

    def collect(self) -> Iterator[Metric]:
        self.flush()
        return iter(())


class Metrics:
    """The app's instruments, and the registry a scrape reads.

    :param multiprocess_dir: The folder the processes of one server share
        (``PROMETHEUS_MULTIPROC_DIR``), or None to keep the values in this process.
    """

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_Flush(self.flush))
        if multiprocess_dir:
            # The instruments write to files; a scrape reads every process's files.
            MultiProcessCollector(self.registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
            self._home: CollectorRegistry | None = None
        else:
            self._home = self.registry
        self.latency = BatchHistogram(
            "http_request_duration_seconds",
            "Seconds until the response started, of each HTTP request answered.",
            ("method", "route", "status"),
            registry=self._home,
            buckets=LATENCY_BUCKETS,
        )
        self.in_flight = Gauge(
            "http_requests_in_flight",
            "HTTP requests being served.",
            registry=self._home,
            multiprocess_mode="livesum",  # the processes alive now, added up
        )
        self.rate_limited = self.counter(
            "rate_limit_refusals_total", "Requests refused by a rate limit (429).", ("route",)
        )
        self.cache_lookups = self.counter(
            "cache_lookups_total", "Cache lookups, by hit or miss.", ("namespace", "result")
        )
        # What flush() writes to the instruments above. The requests being
        # served, by the id of their WSGI environment (a set's add and discard
        # are atomic, an int's += is not). Since the last flush: by (method,
        # route, status), the requests in each latency bucket, then their
        # seconds in all; and by counter and labels, the counters' increments.
        self._serving: set[int] = set()
        self._counted: dict[tuple[str, str, str], list[float]] = {}
        self._increments: dict[tuple[Counter, tuple[str, ...]], int] = {}
        self._counting = threading.Lock()
        self._flushing = threading.Lock()
        # (method, route, status) -> its histogram
        self._children: dict[tuple[str, str, str], BatchHistogram] = {}
        self._first_request: list[Callable[[Flask], None]] = []
        self._lock = threading.Lock()
        if self._home is None:  # multiprocess mode
            # Started by the process that serves (a gunicorn worker, after gevent
            # has patched ``threading``: then a greenlet), not the one that
            # builds the app before a fork.
            self.at_first_request(self._flush_regularly)

    # -- instruments of other modules -------------------------------------------

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(name, documentation, labels, registry=self._home)

    def histogram(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str] = (),
        *,
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> Histogram:
        return Histogram(name, documentation, labels, registry=self._home, buckets=buckets)

    def add_collector(self, collector: Collector) -> None:
        """Add values read at each scrape (a queue's depth, say)."""
        self.registry.register(collector)

    def at_first_request(self, wire: Callable[[Flask], None]) -> None:
        """Call ``wire(app)`` once, before the app's first request: the metrics are
        set up before the extensions they listen to exist."""
        self._first_request.append(wire)

    # -- what the app reports ------------------------------------------------------

    def measure(self, app: Flask) -> None:
        """Measure every request of ``app`` in its WSGI callable: a request is in
        flight until the callable returns, and is counted, with its route, status
        and seconds, as its response starts (``start_response``, after every
        hook). (Flask's hooks would cost a few function calls more per request.)"""
        serve = app.wsgi_app
        serving = self._serving
        count = self._count_request

        def measured(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            if self._first_request:
                self._wire(app)
            if environ.get("PATH_INFO") == SCRAPE_PATH:
                return serve(environ, start_response)
            started = time.perf_counter()

            def response_starts(
                status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
            ) -> Callable[[bytes], object]:
                count(environ, status, time.perf_counter() - started)
                return start_response(status, headers, exc_info)

            request_id = id(environ)
            serving.add(request_id)
            try:
                return serve(environ, response_starts)
            finally:
                serving.discard(request_id)

        app.wsgi_app = measured  # type: ignore[method-assign]

    def _count_request(self, environ: WSGIEnvironment, status: str, seconds: float) -> None:
        current = environ.get(FLASK_REQUEST)
        rule = current.url_rule if current is not None else None
        method = current.method if current is not None else "OTHER"
        route = rule.rule if rule is not None else UNMATCHED
        code = status[:3]  # of "200 OK"
        key = (method if method in METHODS else "OTHER", route, code)
        bucket = bisect_left(LATENCY_BOUNDS, seconds)  # the first bound >= seconds
        with self._counting:
            counts = self._counted.get(key)
            if counts is None:
                counts = self._counted[key] = [0.0] * (len(LATENCY_BOUNDS) + 1)
            counts[bucket] += 1
            counts[-1] += seconds
        if code == "429":
            self._increment(self.rate_limited, (route,))

    def cache_looked_up(self, hit: bool, namespace: str | None) -> None:
        self._increment(self.cache_lookups, (namespace or "", "hit" if hit else "miss"))

    def _increment(self, counter: Counter, labels: tuple[str, ...]) -> None:
        key = (counter, labels)
        with self._counting:
            self._increments[key] = self._increments.get(key, 0) + 1

    def flush(self) -> None:
        """Write what this process counted since the last flush to the instruments
        (in multiprocess mode, to its files), and the requests in flight now."""
        with self._flushing:
            with self._counting:
                counted, self._counted = self._counted, {}
                increments, self._increments = self._increments, {}
            for key, counts in counted.items():
                latency = self._children.get(key)
                if latency is None:
                    latency = self._children[key] = self.latency.labels(*key)
                latency.observe_counts(counts[:-1], counts[-1])
            for (counter, labels), amount in increments.items():
                counter.labels(*labels).inc(amount)
            self.in_flight.set(len(self._serving))

    def _flush_regularly(self, app: Flask) -> None:
        def flush_forever() -> None:
            while True:
                time.sleep(FLUSH_SECONDS)
                try:
                    self.flush()
                except Exception:  # a full disk, say: the next round tries again
                    logger.exception("Could not write the metrics of this process")

        threading.Thread(target=flush_forever, name="metrics-flush", daemon=True).start()

    def exposition(self) -> bytes:
        """Every value, in the Prometheus text format."""
        return generate_latest(self.registry)

    def _wire(self, app: Flask) -> None:
        with self._lock:
            wirings, self._first_request = self._first_request, []
        for wire in wirings:
            wire(app)


class QueueDepth(Collector):
    """``job_queue_depth``: the jobs waiting in a queue, read at each scrape.

    :param get_queue: The queue, or None while there is none.
    """

    def __init__(self, get_queue: Callable[[], JobQueue | None]) -> None:
        self.get_queue = get_queue

    def collect(self) -> Iterator[Metric]:
        queue = self.get_queue()
        if queue is None:
            return
        try:
            depth = queue.count
        except Exception:  # its store is down: the scrape still answers, without it
            logger.warning("Could not read the depth of the job queue", exc_info=True)
            return
        family = GaugeMetricFamily("job_queue_depth", "Jobs waiting to run.", labels=["queue"])
        family.add_metric([queue.name], depth)
        yield family


@bp.get(SCRAPE_PATH)
@public
@rate_limit_exempt
def scrape() -> Response:
    """Prometheus metrics (for the monitoring system: not in the OpenAPI document)."""
    settings: Settings = current_app.extensions["settings"]
    if settings.METRICS_TOKEN is not None:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        expected = settings.METRICS_TOKEN.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), expected):
            raise MetricsTokenRequired()
    metrics: Metrics = current_app.extensions["metrics"]
    return Response(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
