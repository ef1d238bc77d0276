"""Every shipped provider when the upstream fails or a request oversteps a limit:
stable error codes, bounded retries and time, caps and allow-lists.

Each test runs once per provider (the ``wire`` fixture), through its real SDK.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from app.core.ai.errors import AIReplyTooLargeError
from app.core.ai.providers._sdk import BoundedStream
from tests.ai_upstream import Reply, Upstream
from tests.fixtures.ai import AI_TEST_KEY, MakeApp, data, error_code, events, post


@pytest.mark.parametrize(
    ("status", "expected_status", "code"),
    [
        (401, 502, "AI_PROVIDER_AUTH"),
        (403, 502, "AI_PROVIDER_AUTH"),
        (400, 502, "AI_PROVIDER_ERROR"),
        (500, 502, "AI_PROVIDER_ERROR"),
        (503, 502, "AI_PROVIDER_ERROR"),
    ],
)
def test_upstream_errors_map_to_stable_codes(
    make_ai_app: MakeApp,
    upstream: Upstream,
    wire: ModuleType,
    status: int,
    expected_status: int,
    code: str,
) -> None:
    upstream.script(wire.error(status))
    response = post(make_ai_app(AI_MAX_RETRIES=0), prompt="Hi")
    assert (response.status_code, error_code(response)) == (expected_status, code)
    assert AI_TEST_KEY not in response.get_data(as_text=True)


def test_an_upstream_429_is_a_503_with_retry_after(
    make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType
) -> None:
    upstream.script(wire.error(429, **{"Retry-After": "7"}))
    response = post(make_ai_app(AI_MAX_RETRIES=0), prompt="Hi")
    assert (response.status_code, error_code(response)) == (503, "AI_RATE_LIMITED")
    assert response.headers["Retry-After"] == "7"


def test_a_retry_after_longer_than_the_budget_is_not_waited_for(
    make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType
) -> None:
    upstream.script(wire.error(429, **{"Retry-After": "30"}))
    app = make_ai_app(AI_TIMEOUT=2, AI_MAX_RETRIES=3)
    started = time.monotonic()
    response = post(app, prompt="Hi")
    assert time.monotonic() - started < 1
    assert response.headers["Retry-After"] == "30"
    assert len(upstream.received) == 1


def test_a_malformed_body_is_a_provider_error(
    make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType
) -> None:
    upstream.script(wire.malformed())
    response = post(make_ai_app(AI_MAX_RETRIES=0), prompt="Hi")
    assert (response.status_code, error_code(response)) == (502, "AI_MALFORMED_REPLY")


def test_an_unreachable_upstream_is_a_provider_error(make_ai_app: MakeApp) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused.
    response = post(make_ai_app(AI_BASE_URL="http://127.0.0.1:9", AI_MAX_RETRIES=1), prompt="Hi")
    assert (response.status_code, error_code(response)) == (502, "AI_PROVIDER_ERROR")


def test_refused_content_is_a_422(
    make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType
) -> None:
    upstream.script(wire.refusal())
    response = post(make_ai_app(), prompt="Something the provider refuses")
    assert (response.status_code, error_code(response)) == (422, "AI_CONTENT_FILTERED")


def test_retryable_errors_are_retried_then_succeed(
    make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType
) -> None:
    upstream.script(
        wire.error(500), wire.error(429, **{"Retry-After": "0"}), wire.reply("Finally.")
    )
    response = post(make_ai_app(AI_MAX_RETRIES=2), prompt="Hi")
    assert data(response)["text"] == "Finally."
    assert len(upstream.received) == 3


def test_retries_are_bounded_in_number(
    make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType
) -> None:
    upstream.script(*[wire.error(500)] * 4)
    response = post(make_ai_app(AI_MAX_RETRIES=1), prompt="Hi")
    assert error_code(response) == "AI_PROVIDER_ERROR"
    assert len(upstream.received) == 2


def test_a_slow_upstream_times_out_within_the_budget(
    make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType
) -> None:
    slow = wire.reply("Too late.")
    slow.delay = 5
    upstream.script(slow, wire.reply("Too late as well."))
    app = make_ai_app(AI_TIMEOUT=1, AI_MAX_RETRIES=2)
    started = time.monotonic()
    response = post(app, prompt="Hi")
    elapsed = time.monotonic() - started
    assert (response.status_code, error_code(response)) == (504, "AI_TIMEOUT")
    # The budget, plus a margin for a busy machine; far from the upstream's 5 s.
    assert 0.9 < elapsed < 2, f"took {elapsed:.2f} s with a 1 s budget"


def test_max_tokens_is_capped(make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType) -> None:
    app = make_ai_app(AI_MAX_TOKENS=200)
    response = post(app, prompt="Hi", max_tokens=201)
    assert response.status_code == 422
    assert response.json is not None
    assert response.json["error"]["details"][0]["field"] == "max_tokens"
    assert upstream.received == []
    upstream.script(wire.reply("Short."))
    assert post(app, prompt="Hi", max_tokens=50).status_code == 200
    assert wire.max_tokens(upstream.received[0]) == 50


def test_only_allowed_models_can_be_chosen(
    make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType
) -> None:
    app = make_ai_app(AI_MODEL="main-model", AI_MODELS="cheap-model,other-model")
    response = post(app, prompt="Hi", model="secret-expensive-model")
    assert response.status_code == 422
    assert response.json is not None
    assert response.json["error"]["details"][0]["type"] == "model_not_allowed"
    assert upstream.received == []
    upstream.script(wire.reply("Hi."), wire.reply("Hi."))
    assert post(app, prompt="Hi", model="cheap-model").status_code == 200
    assert post(app, prompt="Hi").status_code == 200
    assert [r.body["model"] for r in upstream.received] == ["cheap-model", "main-model"]


def test_an_oversized_schema_is_rejected_before_any_call(
    make_ai_app: MakeApp, upstream: Upstream
) -> None:
    schema = {"type": "object", "description": "x" * 2000}
    response = post(make_ai_app(AI_MAX_SCHEMA_BYTES=1024), prompt="Hi", response_schema=schema)
    assert response.status_code == 422
    assert response.json is not None
    assert response.json["error"]["details"][0]["type"] == "schema_too_large"
    assert upstream.received == []


# The upstream is untrusted input: whatever it sends, the client gets an error
# envelope with a stable code (or, mid-stream, an error event), never a 500.


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, [b"Hello, I am not JSON"], {"Content-Type": "text/plain"}),
        Reply.json([1, 2, 3]),
        Reply.json({"choices": "x", "content": "x", "usage": "x"}),
        Reply.json({}),
    ],
    ids=["text", "list", "wrong-types", "empty"],
)
def test_a_reply_that_is_not_an_answer_is_a_502(
    make_ai_app: MakeApp, upstream: Upstream, reply: Reply
) -> None:
    upstream.script(reply)
    response = post(make_ai_app(AI_MAX_RETRIES=0), prompt="Hi")
    assert (response.status_code, error_code(response)) == (502, "AI_MALFORMED_REPLY")


def test_a_reply_with_values_of_the_wrong_type_is_a_502(
    make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType
) -> None:
    upstream.script(wire.reply(12345))  # a number where the text belongs
    response = post(make_ai_app(AI_MAX_RETRIES=0), prompt="Hi")
    assert (response.status_code, error_code(response)) == (502, "AI_MALFORMED_REPLY")


def test_a_reply_larger_than_allowed_is_not_read(
    make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType
) -> None:
    upstream.script(wire.reply("x" * 5000))
    response = post(make_ai_app(AI_MAX_REPLY_BYTES=1024), prompt="Hi")
    assert (response.status_code, error_code(response)) == (502, "AI_REPLY_TOO_LARGE")
    assert len(upstream.received) == 1  # not retried: it would be as large again


def test_a_compressed_reply_is_refused(
    make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType
) -> None:
    reply = wire.reply("Hi")
    reply.headers["Content-Encoding"] = "gzip"
    upstream.script(reply)
    response = post(make_ai_app(AI_MAX_RETRIES=0), prompt="Hi")
    assert (response.status_code, error_code(response)) == (502, "AI_MALFORMED_REPLY")
    assert upstream.received[0].headers["accept-encoding"] == "identity"


def test_a_stream_that_runs_too_long_is_cut_off(
    make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType
) -> None:
    reply = wire.stream([f"word{index} " for index in range(40)])
    reply.pause = 0.02
    upstream.script(reply)
    response = post(make_ai_app(AI_STREAM_MAX_SECONDS=0.2), prompt="Hi", stream=True)
    assert response.status_code == 200
    names = [name for name, _ in events(response)]
    # Some words, then the end: not the 40 words the upstream had to send.
    assert "delta" in names
    assert names.count("delta") < 40
    assert names[-1] == "error"
    assert events(response)[-1][1]["code"] == "AI_TIMEOUT"


def test_a_reply_body_is_counted_as_it_arrives() -> None:
    def body() -> Iterator[bytes]:
        yield from (b"x" * 600, b"x" * 600)

    stream = BoundedStream(body(), max_bytes=1000, deadline=time.monotonic() + 10)
    with pytest.raises(AIReplyTooLargeError):
        list(stream)


@pytest.mark.parametrize(
    ("schema", "kind"),
    [
        ({"$ref": "#"}, "schema_recursive"),
        ({"properties": {"next": {"$ref": "#"}}}, "schema_recursive"),
        (
            {
                "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"allOf": [{"$ref": "#/$defs/a"}]}},
                "$ref": "#/$defs/a",
            },
            "schema_recursive",
        ),
        ({"$ref": "#/$defs/missing"}, "invalid_ref"),
        ({"$id": "https://example.com/s", "type": "object"}, "unsupported_keyword"),
        (
            {
                "$defs": {
                    **{
                        f"d{level}": {"allOf": [{"$ref": f"#/$defs/d{level + 1}"}] * 8}
                        for level in range(8)
                    },
                    "d8": {"type": "string"},
                },
                "$ref": "#/$defs/d0",
            },
            "schema_too_large",
        ),
    ],
    ids=["self", "through-a-property", "cycle", "dangling", "id", "fan-out"],
)
def test_a_schema_that_cannot_be_checked_safely_is_a_422(
    make_ai_app: MakeApp, upstream: Upstream, schema: dict[str, Any], kind: str
) -> None:
    response = post(make_ai_app(), prompt="Hi", response_schema=schema)
    assert response.status_code == 422, response.json
    assert response.json is not None
    assert response.json["error"]["details"][0]["type"] == kind
    assert upstream.received == []


def test_a_reply_nested_too_deeply_is_a_problem_not_a_crash(
    make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType
) -> None:
    deep = "[" * 500 + "]" * 500
    upstream.script(wire.reply(deep), wire.reply(deep))
    schema = {"type": "array"}
    response = post(make_ai_app(AI_MAX_RETRIES=0), prompt="Hi", response_schema=schema)
    assert (response.status_code, error_code(response)) == (502, "AI_INVALID_RESPONSE")
