"""Time budget, retries, load shedding and the log line of each upstream call.

These are the parts of :class:`~app.core.ai.client.AIClient` that do not depend
on what is being generated; each is a small function or class of its own.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, TypeVar

from app.core.ai.base import GenerationRequest, Usage
from app.core.ai.errors import AIBusyError, AIError, AITimeoutError

T = TypeVar("T")
logger = logging.getLogger("app.ai")

#: An attempt with less time than this left is not started.
MIN_ATTEMPT_SECONDS = 0.05
BACKOFF_BASE_SECONDS = 0.25
BACKOFF_MAX_SECONDS = 4.0


class Slots:
    """At most ``limit`` AI calls at once in this process; the next is refused at once.

    Refusing (503 ``AI_BUSY``) instead of queueing keeps worker threads free for
    every other route while the provider is slow.
    """

    def __init__(self, limit: int) -> None:
        self._free = threading.BoundedSemaphore(limit)

    @contextmanager
    def take(self) -> Iterator[None]:
        if not self._free.acquire(blocking=False):
            raise AIBusyError()
        try:
            yield
        finally:
            self._free.release()


def with_retries(
    template: GenerationRequest,
    attempt: Callable[[GenerationRequest, int], T],
    *,
    deadline: float,
    max_retries: int,
    on_failure: Callable[[GenerationRequest, float, AIError, int], None],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``attempt(request, number)`` until it succeeds, within ``max_retries`` retries
    and the time left before ``deadline`` (a ``time.monotonic()`` value).

    Each attempt's request gets the time left as its timeout. A failed attempt is
    reported to ``on_failure(request, started, error, number)``; the last error is
    raised, or :class:`AITimeoutError` when no time is left for another attempt.
    """
    for number in range(max_retries + 1):
        remaining = deadline - time.monotonic()
        if remaining < MIN_ATTEMPT_SECONDS:
            break
        request = replace(template, timeout=remaining)
        started = time.perf_counter()
        try:
            return attempt(request, number)
        except AIError as exc:
            on_failure(request, started, exc, number)
            delay = retry_delay(exc, number, deadline=deadline, max_retries=max_retries)
            if delay is None:
                raise
            sleep(delay)
    raise AITimeoutError()


def retry_delay(exc: AIError, number: int, *, deadline: float, max_retries: int) -> float | None:
    """Seconds to wait before attempt ``number + 1``, or None to give up now."""
    if not exc.retryable or number >= max_retries:
        return None
    delay = getattr(exc, "retry_after", None)
    if delay is None:
        backoff = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**number)
        delay = backoff * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security
    # Waiting into the deadline would only turn this error into a timeout.
    if time.monotonic() + delay + MIN_ATTEMPT_SECONDS >= deadline:
        return None
    return float(delay)


def log_call(
    provider: str,
    request: GenerationRequest,
    started: float,
    outcome: str,
    *,
    usage: Usage | None = None,
    reply: str | None = None,
    attempt: int = 0,
    stream: bool = False,
) -> None:
    """Log one upstream call as one line: provider, model, latency, tokens, outcome.

    The log formatter adds the request id. Prompt and reply are logged only when
    ``reply`` is given (the client passes it only with ``AI_LOG_CONTENT``).
    """
    fields: dict[str, Any] = {
        "ai_provider": provider,
        "ai_model": request.model,
        "outcome": outcome,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        "attempt": attempt,
        "stream": stream,
    }
    if usage is not None:
        fields["prompt_tokens"] = usage.prompt_tokens
        fields["completion_tokens"] = usage.completion_tokens
    if reply is not None:
        fields["prompt"] = [{"role": m.role, "content": m.content} for m in request.messages]
        fields["completion"] = reply
    level = logging.INFO if outcome in {"ok", "client_closed"} else logging.WARNING
    logger.log(level, "AI call %s: %s", outcome, request.model, extra=fields)
