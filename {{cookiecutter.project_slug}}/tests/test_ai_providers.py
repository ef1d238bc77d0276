"""Every shipped provider, through its real SDK, against a scripted upstream on 127.0.0.1:
generation, chat, streaming, structured output, logging.

Each test runs once per provider (the ``wire`` fixture): the same behaviour is
expected of all of them. Failures and limits are in ``test_ai_provider_errors.py``.
"""

from __future__ import annotations

import json
from types import ModuleType

import httpx2
import pytest

from app.core import ai
from app.core.ai.registry import build_provider
from tests.ai_upstream import Upstream
from tests.fixtures.ai import AI_TEST_KEY, GENERATE, MakeApp, data, error_code, events, post

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
}


def test_plain_generation(make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType) -> None:
    upstream.script(wire.reply("Hello there.", usage=(11, 4)))
    response = post(make_ai_app(), prompt="Say hello")
    assert response.status_code == 200
    assert data(response) == {
        "text": "Hello there.",
        "data": None,
        "model": "upstream-model",
        "provider": wire.NAME,
        "finish_reason": "stop",
        "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15},
    }
    (received,) = upstream.received
    assert received.path == wire.PATH
    assert AI_TEST_KEY in wire.auth_header(received)
    assert wire.conversation(received) == [("user", "Say hello")]
    assert wire.max_tokens(received) == 1024  # AI_MAX_TOKENS when the request names none


def test_chat_messages_reach_the_upstream_in_order(
    make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType
) -> None:
    upstream.script(wire.reply("Paris."))
    turns = [
        ("system", "Answer in one word."),
        ("user", "Capital of Italy?"),
        ("assistant", "Rome."),
        ("user", "And of France?"),
    ]
    messages = [{"role": role, "content": content} for role, content in turns]
    response = post(make_ai_app(), messages=messages)
    assert data(response)["text"] == "Paris."
    assert wire.conversation(upstream.received[0]) == turns


def test_streaming_sends_deltas_in_order_then_usage(
    make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType
) -> None:
    upstream.script(wire.stream(["Once", " upon", " a time"], usage=(5, 3)))
    response = post(make_ai_app(), prompt="Tell a story", stream=True)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert events(response) == [
        ("delta", {"text": "Once"}),
        ("delta", {"text": " upon"}),
        ("delta", {"text": " a time"}),
        (
            "done",
            {
                "model": "upstream-model",
                "provider": wire.NAME,
                "finish_reason": "stop",
                "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
            },
        ),
    ]


def test_a_stream_that_breaks_midway_ends_with_an_error_event(
    make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType
) -> None:
    upstream.script(wire.stream(["Once", " upon", " a time"], cut_after=2))
    response = post(make_ai_app(), prompt="Tell a story", stream=True)
    received = events(response)
    assert received[:2] == [("delta", {"text": "Once"}), ("delta", {"text": " upon"})]
    name, body = received[2]
    assert (name, body["code"]) == ("error", "AI_PROVIDER_ERROR")
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert len(received) == 3


def test_a_stream_that_cannot_open_answers_with_the_error_envelope(
    make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType
) -> None:
    upstream.script(wire.error(401))
    response = post(make_ai_app(), prompt="Hi", stream=True)
    assert response.status_code == 502
    assert response.mimetype == "application/json"
    assert error_code(response) == "AI_PROVIDER_AUTH"


def test_structured_output_is_validated(
    make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType
) -> None:
    upstream.script(wire.reply('{"name": "Ada", "age": 36}'))
    response = post(make_ai_app(), prompt="Who wrote the first program?", response_schema=PERSON)
    assert response.status_code == 200
    assert data(response)["data"] == {"name": "Ada", "age": 36}
    assert data(response)["text"] is None
    (received,) = upstream.received
    assert wire.schema(received) == PERSON
    role, instruction = wire.conversation(received)[0]
    assert role == "system"
    assert "JSON Schema" in instruction


def test_an_invalid_structured_reply_is_repaired_once(
    make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType
) -> None:
    upstream.script(
        wire.reply('{"name": "Ada"}', usage=(10, 5)),
        wire.reply('```json\n{"name": "Ada", "age": 36}\n```', usage=(20, 6)),
    )
    response = post(make_ai_app(), prompt="Who?", response_schema=PERSON)
    assert response.status_code == 200
    assert data(response)["data"] == {"name": "Ada", "age": 36}
    assert data(response)["usage"]["prompt_tokens"] == 30  # both calls count
    first, repair = upstream.received
    turns = wire.conversation(repair)
    assert turns[: len(wire.conversation(first))] == wire.conversation(first)
    assert turns[-2] == ("assistant", '{"name": "Ada"}')
    assert "required" in turns[-1][1]


def test_a_reply_still_invalid_after_the_repair_is_a_502(
    make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType
) -> None:
    upstream.script(wire.reply("Ada Lovelace, secretly"), wire.reply('{"name": 7, "age": -1}'))
    response = post(make_ai_app(), prompt="Who?", response_schema=PERSON)
    assert response.status_code == 502
    assert error_code(response) == "AI_INVALID_RESPONSE"
    assert response.json is not None
    problems = response.json["error"]["details"]
    assert {(p["path"], p["keyword"]) for p in problems} == {("/name", "type"), ("/age", "minimum")}
    assert "secretly" not in response.get_data(as_text=True)
    assert len(upstream.received) == 2


def test_each_upstream_call_logs_one_line_without_secrets_or_content(
    make_ai_app: MakeApp,
    upstream: Upstream,
    wire: ModuleType,
    capsys: pytest.CaptureFixture[str],
) -> None:
    upstream.script(wire.error(500), wire.reply("The secret recipe.", usage=(9, 4)))
    client = make_ai_app(AI_MAX_RETRIES=1).test_client()
    client.post(GENERATE, json={"prompt": "Private words"}, headers={"X-Request-ID": "ai-log-1"})
    output = capsys.readouterr().out
    lines = [json.loads(line) for line in output.splitlines()]
    calls = [line for line in lines if line["logger"] == "app.ai"]
    assert [call["outcome"] for call in calls] == ["AI_PROVIDER_ERROR", "ok"]
    ok = calls[1]
    assert ok["ai_provider"] == wire.NAME
    assert ok["request_id"] == "ai-log-1"
    assert (ok["prompt_tokens"], ok["completion_tokens"]) == (9, 4)
    assert ok["latency_ms"] >= 0
    for secret in (AI_TEST_KEY, "Private words", "secret recipe"):
        assert secret not in output


def test_content_is_logged_only_when_asked(
    make_ai_app: MakeApp,
    upstream: Upstream,
    wire: ModuleType,
    capsys: pytest.CaptureFixture[str],
) -> None:
    upstream.script(wire.reply("The secret recipe."))
    post(make_ai_app(AI_LOG_CONTENT=True), prompt="Private words")
    output = capsys.readouterr().out
    assert "Private words" in output
    assert "secret recipe" in output
    assert AI_TEST_KEY not in output


def test_the_sdk_takes_an_injected_http_client(make_ai_app: MakeApp, wire: ModuleType) -> None:
    """The provider sends through the client it is given: here, a mock transport."""
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        response: httpx2.Response = wire.reply("From the mock transport.").to_response()
        return response

    app = make_ai_app(AI_BASE_URL="http://upstream.invalid" + wire.BASE_PATH)
    http_client = httpx2.Client(transport=httpx2.MockTransport(handler))
    ai.init_app(app, build_provider(app.extensions["settings"], http_client=http_client))
    response = post(app, prompt="Hi")
    assert data(response)["text"] == "From the mock transport."
    assert [request.url.path for request in seen] == [wire.PATH]
