"""The one way the app talks to an AI provider: limits, time budget, retries and logs.

:class:`AIClient` wraps the configured :class:`~app.core.ai.base.AIProvider`:

- every call gets a time budget of ``AI_TIMEOUT`` seconds, shared by all its
  attempts (and by the repair turn of structured output), so a request never
  outlives it by more than a small margin;
- retryable failures (429, 5xx, broken connections) are retried at most
  ``AI_MAX_RETRIES`` times, with jittered backoff or the upstream's
  ``Retry-After``, and never when the wait would run past the budget;
- at most ``AI_MAX_CONCURRENT`` calls run at once in this process; more are
  refused at once (503 ``AI_BUSY``), so slow upstream calls cannot take every
  worker thread from the other routes;
- each upstream attempt logs one line: provider, model, latency, tokens,
  outcome (and the request id, added by the log formatter). Prompt and reply
  text only with ``AI_LOG_CONTENT``; the API key never.

The mechanics of each live in :mod:`app.core.ai.resilience`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from app.core.ai.base import (
    AIProvider,
    Completion,
    GenerationRequest,
    Message,
    StreamEnd,
    StreamEvent,
    TextDelta,
    Usage,
    close_stream,
)
from app.core.ai.errors import AIError, AIInvalidResponseError
from app.core.ai.resilience import Slots, log_call, with_retries
from app.core.ai.structured import (
    SchemaSpec,
    instruction,
    json_schema_of,
    repair_turns,
    validate_reply,
)
from app.core.config import Settings
from app.core.exceptions import ValidationFailedError

T = TypeVar("T")


@dataclass(frozen=True)
class StructuredCompletion:
    """A reply validated against a schema: ``value`` is a model instance or plain JSON."""

    value: Any
    model: str
    finish_reason: str
    usage: Usage
    repaired: bool
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Call:
    """One call to the provider (one attempt, or one stream), as it ended."""

    provider: str
    model: str
    #: "ok", "client_closed" (a stream its reader left) or the error code.
    outcome: str
    seconds: float
    usage: Usage | None = None
    stream: bool = False


class AIClient:
    """Generation through the configured provider, within the settings' limits.

    :param sleep: How to wait between attempts.
    """

    def __init__(
        self,
        provider: AIProvider,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.provider = provider
        self.settings = settings
        self._sleep = sleep
        self.slots = Slots(settings.AI_MAX_CONCURRENT)
        self._call_listeners: list[Callable[[Call], None]] = []

    def on_call(self, listener: Callable[[Call], None]) -> None:
        """Call ``listener`` with each :class:`Call` to the provider once it ends
        (a metrics module counts calls by outcome, and tokens, so)."""
        self._call_listeners.append(listener)

    @property
    def default_model(self) -> str:
        return self.settings.AI_MODEL or self.provider.default_model

    @property
    def allowed_models(self) -> list[str]:
        """``AI_MODEL`` (or the provider's default) and the ``AI_MODELS`` allow-list."""
        return list(dict.fromkeys([self.default_model, *self.settings.AI_MODELS]))

    def generate(
        self,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        """Return the provider's whole reply to ``messages``."""
        template = self._request(messages, model, max_tokens, temperature)
        deadline = time.monotonic() + self.settings.AI_TIMEOUT
        with self.slots.take():
            return self._generate(template, deadline)

    def generate_object(
        self,
        messages: Sequence[Message],
        spec: SchemaSpec,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> StructuredCompletion:
        """Return a reply that matches ``spec``, parsed and validated.

        An invalid reply gets one repair turn that shows the model its reply
        and the problems; if that one is invalid too, raise
        :class:`AIInvalidResponseError` with the problems (never the reply).
        """
        schema = json_schema_of(spec)
        template = self._request(
            (instruction(schema), *messages), model, max_tokens, temperature, json_schema=schema
        )
        deadline = time.monotonic() + self.settings.AI_TIMEOUT
        with self.slots.take():
            reply = self._generate(template, deadline)
            value, problems = validate_reply(reply.text, spec)
            usage, repaired = reply.usage, bool(problems)
            if problems:
                turns = template.messages + repair_turns(reply.text, problems)
                reply = self._generate(replace(template, messages=turns), deadline)
                usage += reply.usage
                value, problems = validate_reply(reply.text, spec)
                if problems:
                    raise AIInvalidResponseError(details=problems)
        return StructuredCompletion(
            value=value,
            model=reply.model,
            finish_reason=reply.finish_reason,
            usage=usage,
            repaired=repaired,
            warnings=reply.warnings,
        )

    def stream(
        self,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[StreamEvent]:
        """Stream the reply: :class:`TextDelta` events, then one :class:`StreamEnd`.

        The request is checked now; the upstream call starts on the first
        ``next()``, which raises if the stream cannot be opened (so a caller
        that pulls one event first can still answer with an error status).
        ``AI_TIMEOUT`` bounds the wait for the stream to open and every wait
        between two events, not the length of the whole stream.
        """
        template = self._request(messages, model, max_tokens, temperature)
        return self._stream(template, time.monotonic() + self.settings.AI_TIMEOUT)

    def resolve(self, *, model: str | None, max_tokens: int | None) -> tuple[str, int]:
        """The model and token cap a request gets, or a validation error (422)
        if it asks for a model not allowed or more tokens than ``AI_MAX_TOKENS``."""
        model = model or self.default_model
        if model not in self.allowed_models:
            raise _field_error(
                "model",
                f"Model {model!r} is not allowed; use one of: {', '.join(self.allowed_models)}.",
                "model_not_allowed",
            )
        cap = self.settings.AI_MAX_TOKENS
        if max_tokens is not None and max_tokens > cap:
            raise _field_error(
                "max_tokens", f"Input should be less than or equal to {cap}", "less_than_equal"
            )
        return model, max_tokens or cap

    def close(self) -> None:
        self.provider.close()

    # -- internals -------------------------------------------------------------

    def _request(
        self,
        messages: Sequence[Message],
        model: str | None,
        max_tokens: int | None,
        temperature: float | None,
        json_schema: dict[str, Any] | None = None,
    ) -> GenerationRequest:
        model, max_tokens = self.resolve(model=model, max_tokens=max_tokens)
        return GenerationRequest(
            messages=tuple(messages),
            model=model,
            max_tokens=max_tokens,
            timeout=self.settings.AI_TIMEOUT,
            temperature=temperature,
            json_schema=json_schema,
        )

    def _generate(self, template: GenerationRequest, deadline: float) -> Completion:
        def attempt(request: GenerationRequest, number: int) -> Completion:
            started = time.perf_counter()
            completion = self.provider.generate(request)
            self._log(request, started, "ok", completion.usage, completion.text, attempt=number)
            return completion

        return self._with_retries(template, deadline, attempt)

    def _stream(self, template: GenerationRequest, deadline: float) -> Iterator[StreamEvent]:
        with self.slots.take():
            started = time.perf_counter()

            def open_stream(
                request: GenerationRequest, _number: int
            ) -> tuple[StreamEvent, Iterator[StreamEvent]]:
                events = self.provider.stream(request)
                return next(events), events

            first, events = self._with_retries(template, deadline, open_stream)
            outcome, usage, text = "client_closed", Usage(), []
            try:
                for event in itertools.chain((first,), events):
                    if isinstance(event, TextDelta) and self.settings.AI_LOG_CONTENT:
                        text.append(event.text)
                    elif isinstance(event, StreamEnd):
                        usage = event.usage
                    yield event
                outcome = "ok"
            except AIError as exc:
                outcome = exc.code
                raise
            finally:
                close_stream(events)
                self._log(template, started, outcome, usage, "".join(text), stream=True)

    def _with_retries(
        self,
        template: GenerationRequest,
        deadline: float,
        attempt: Callable[[GenerationRequest, int], T],
    ) -> T:
        def failed(request: GenerationRequest, started: float, exc: AIError, number: int) -> None:
            self._log(request, started, exc.code, attempt=number)

        return with_retries(
            template,
            attempt,
            deadline=deadline,
            max_retries=self.settings.AI_MAX_RETRIES,
            on_failure=failed,
            sleep=self._sleep,
        )

    def _log(
        self,
        request: GenerationRequest,
        started: float,
        outcome: str,
        usage: Usage | None = None,
        reply: str = "",
        *,
        attempt: int = 0,
        stream: bool = False,
    ) -> None:
        content = reply if self.settings.AI_LOG_CONTENT else None
        log_call(
            self.provider.name,
            request,
            started,
            outcome,
            usage=usage,
            reply=content,
            attempt=attempt,
            stream=stream,
        )
        if self._call_listeners:
            call = Call(
                self.provider.name,
                request.model,
                outcome,
                time.perf_counter() - started,
                usage,
                stream,
            )
            for listener in self._call_listeners:
                listener(call)


def _field_error(field: str, message: str, kind: str) -> ValidationFailedError:
    return ValidationFailedError(
        details=[{"location": "body", "field": field, "message": message, "type": kind}]
    )
