"""The AI module's errors: each has a stable code and an HTTP status, never a 500.

Providers raise these in place of their SDK's exceptions. ``retryable`` tells
the client whether another attempt may succeed; messages never contain the API
key or the upstream's reply.
"""

from __future__ import annotations

import math
from typing import Any

from app.core.exceptions import APIError


class AIError(APIError):
    """Something went wrong talking to the AI provider."""

    status, code, message = 502, "AI_PROVIDER_ERROR", "The AI provider failed to answer."
    retryable: bool = False

    def __init__(
        self, message: str | None = None, *, retryable: bool | None = None, details: Any = None
    ) -> None:
        super().__init__(message, details=details)
        if retryable is not None:
            self.retryable = retryable


class AIProviderError(AIError):
    """A 5xx, a broken connection or a malformed body from the upstream."""


class AIMalformedReplyError(AIProviderError):
    """A reply that is not JSON, or JSON of the wrong shape: the upstream is broken
    or is not what ``AI_BASE_URL`` claims. Not retried: it would say the same."""

    code, message = "AI_MALFORMED_REPLY", "The AI provider sent a reply that is not a valid answer."


class AIReplyTooLargeError(AIProviderError):
    """A reply larger than ``AI_MAX_REPLY_BYTES``; reading stopped there."""

    code, message = "AI_REPLY_TOO_LARGE", "The AI provider's reply was larger than allowed."


class AITimeoutError(AIError):
    status, code, message = 504, "AI_TIMEOUT", "The AI provider did not answer in time."


class AIProviderAuthError(AIError):
    status, code, message = (
        502,
        "AI_PROVIDER_AUTH",
        "The AI provider refused our credentials; check AI_API_KEY.",
    )


class AIContentFilteredError(AIError):
    status, code, message = 422, "AI_CONTENT_FILTERED", "The AI provider refused this content."


class AIInvalidResponseError(AIError):
    status, code, message = (
        502,
        "AI_INVALID_RESPONSE",
        "The AI reply did not match the requested schema.",
    )


class AIRateLimitedError(AIError):
    """The upstream answered 429.

    :param retry_after: Seconds the upstream asked us to wait, if it said; the
        client gets it back as ``Retry-After``.
    """

    status, code, message = 503, "AI_RATE_LIMITED", "The AI provider is rate limiting us."
    retryable = True

    def __init__(self, message: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.headers["Retry-After"] = str(max(1, math.ceil(retry_after or 1)))


class AIBusyError(AIError):
    """This process already has ``AI_MAX_CONCURRENT`` AI calls in flight.

    Shedding the excess at once keeps worker threads free for every other route.
    """

    status, code, message = 503, "AI_BUSY", "Too many AI requests in flight; retry shortly."

    def __init__(self) -> None:
        super().__init__()
        self.headers["Retry-After"] = "1"
