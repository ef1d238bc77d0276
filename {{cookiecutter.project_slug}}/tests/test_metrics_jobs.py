"""The job queue's depth, read from this run's Redis at each scrape."""

from __future__ import annotations

from flask import Flask

from app.core.jobs import get_queue
from tests import sample_jobs
from tests.fixtures.metrics import sample


def test_the_queue_depth_is_read_at_each_scrape(app: Flask) -> None:
    with app.app_context():
        queue = get_queue()
        assert sample(app, "job_queue_depth", queue=queue.name) == 0
        for number in range(3):
            queue.enqueue(sample_jobs.add, number, 1)
        assert sample(app, "job_queue_depth", queue=queue.name) == 3
        queue.empty()
        assert sample(app, "job_queue_depth", queue=queue.name) == 0


def test_a_scrape_answers_while_the_queue_cannot_be_read(app: Flask) -> None:
    # A queue on a port where no Redis listens: the depth is left out, not the scrape.
    from redis import Redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    from rq import Queue

    # No retries: each would wait out a backoff before the scrape answers.
    unreachable = Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    down = Queue("down", connection=unreachable)
    app.extensions["job_queue"] = down
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert "job_queue_depth" not in response.get_data(as_text=True)
