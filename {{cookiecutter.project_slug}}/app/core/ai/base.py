"""What every AI provider offers, and the values that cross that boundary.

The protocol is synchronous on purpose. Flask views run in a WSGI worker thread
and the shipped ``gunicorn.conf.py`` gives each process enough threads to keep
a hundred slow upstream calls in flight (each one waits on a socket, which
releases the GIL). An ``async`` protocol would need an event loop per request
inside a sync view, gaining no concurrency while losing connection reuse.

A provider maps a :class:`GenerationRequest` to its SDK and back, and turns the
SDK's exceptions into the errors of :mod:`app.core.ai.errors`. Everything that
is the same for every provider (retries, the time budget, logging, structured
output validation and repair) lives once, in :mod:`app.core.ai.client`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One turn of a conversation."""

    role: Role
    content: str


@dataclass(frozen=True)
class Usage:
    """Tokens the upstream counted for one call (or the sum of several)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass(frozen=True)
class GenerationRequest:
    """One upstream call, already checked against the settings' limits.

    :param timeout: Seconds this call may take; the client sets it from what is
        left of the request's time budget.
    :param json_schema: Ask for a JSON reply matching this schema, through the
        provider's native structured-output mode. The reply is still validated
        by the client: providers and compatible servers differ in how strictly
        they follow it.
    """

    messages: tuple[Message, ...]
    model: str
    max_tokens: int
    timeout: float
    temperature: float | None = None
    json_schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class Completion:
    """A finished reply."""

    text: str
    model: str
    finish_reason: str
    usage: Usage
    #: Things the client should know, e.g. an option this provider ignores.
    warnings: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class TextDelta:
    """The next piece of a streamed reply."""

    text: str


@dataclass(frozen=True)
class StreamEnd:
    """The last event of a stream: how it ended and what it cost."""

    model: str
    finish_reason: str
    usage: Usage


StreamEvent = TextDelta | StreamEnd


def close_stream(events: Iterator[StreamEvent]) -> None:
    """End a stream early: a generator's ``finally`` blocks run and its upstream
    response is closed, instead of whenever the garbage collector gets to it."""
    close = getattr(events, "close", None)
    if close is not None:
        close()


class AIProvider(Protocol):
    """A text generation backend: one SDK (or the offline fake) behind one interface."""

    #: The name ``AI_PROVIDER`` selects it by.
    name: str
    #: The model used when neither the request nor ``AI_MODEL`` names one.
    default_model: str

    def generate(self, request: GenerationRequest) -> Completion:
        """Return the whole reply, or raise an :class:`~app.core.ai.errors.AIError`."""
        ...

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        """Yield :class:`TextDelta` events in order, then one :class:`StreamEnd`.

        Errors raised before the first event and while iterating are
        :class:`~app.core.ai.errors.AIError` subclasses.
        """
        ...

    def close(self) -> None:
        """Release the provider's connections."""
        ...
