"""The Anthropic Messages API on the wire."""

from __future__ import annotations

from typing import Any

from tests.ai_upstream import Received, Reply, sse

NAME = "anthropic"
#: AI_BASE_URL is the upstream's address plus this.
BASE_PATH = ""
PATH = "/v1/messages"


def _message(text: str, stop_reason: str | None, usage: tuple[int, int]) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "upstream-model",
        "content": [{"type": "text", "text": text}] if text else [],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }


def reply(text: str, *, finish: str = "end_turn", usage: tuple[int, int] = (7, 3)) -> Reply:
    return Reply.json(_message(text, finish, usage))


def stream(
    deltas: list[str], *, usage: tuple[int, int] = (7, 3), cut_after: int | None = None
) -> Reply:
    """The Messages API's event sequence; or only ``cut_after`` deltas, then a dropped
    connection."""
    head = [
        sse(
            {"type": "message_start", "message": _message("", None, (usage[0], 0))}, "message_start"
        ),
        sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            "content_block_start",
        ),
    ]
    body = [
        sse(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": delta},
            },
            "content_block_delta",
        )
        for delta in deltas
    ]
    if cut_after is not None:
        chunks = head + body[:cut_after]
        return Reply(200, chunks, {"Content-Type": "text/event-stream"}, cut=True)
    tail = [
        sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": usage[1]},
            },
            "message_delta",
        ),
        sse({"type": "message_stop"}, "message_stop"),
    ]
    return Reply(200, head + body + tail, {"Content-Type": "text/event-stream"})


def refusal() -> Reply:
    return reply("", finish="refusal")


def error(status: int, **headers: str) -> Reply:
    body = {"type": "error", "error": {"type": "api_error", "message": f"upstream says {status}"}}
    return Reply.json(body, status=status, **headers)


def malformed() -> Reply:
    return Reply(200, [b"{this is not json"])


def auth_header(received: Received) -> str:
    return received.headers.get("authorization", "") or received.headers.get("x-api-key", "")


def conversation(received: Received) -> list[tuple[str, str]]:
    """The (role, content) turns the upstream received, the system prompt first."""
    turns = [("system", received.body["system"])] if "system" in received.body else []
    return turns + [(m["role"], m["content"]) for m in received.body["messages"]]


def max_tokens(received: Received) -> int:
    value: int = received.body["max_tokens"]
    return value


def schema(received: Received) -> dict[str, Any] | None:
    output_config = received.body.get("output_config")
    return output_config["format"]["schema"] if output_config else None
