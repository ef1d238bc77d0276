"""OpenAI Chat Completions on the wire."""

from __future__ import annotations

from typing import Any

from tests.ai_upstream import Received, Reply, sse

NAME = "openai"
#: AI_BASE_URL is the upstream's address plus this.
BASE_PATH = "/v1"
PATH = "/v1/chat/completions"


def reply(text: str, *, finish: str = "stop", usage: tuple[int, int] = (7, 3)) -> Reply:
    return Reply.json(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": "upstream-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": usage[0],
                "completion_tokens": usage[1],
                "total_tokens": sum(usage),
            },
        }
    )


def _chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "upstream-model",
        "choices": choices,
        **extra,
    }
    return sse(body)


def stream(
    deltas: list[str], *, usage: tuple[int, int] = (7, 3), cut_after: int | None = None
) -> Reply:
    """Deltas, a finish chunk, a usage chunk and [DONE]; or only ``cut_after`` deltas, then a
    dropped connection."""
    chunks = [
        _chunk([{"index": 0, "delta": {"content": delta}, "finish_reason": None}])
        for delta in deltas
    ]
    if cut_after is not None:
        return Reply(200, chunks[:cut_after], {"Content-Type": "text/event-stream"}, cut=True)
    chunks.append(_chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    total = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
    chunks.append(_chunk([], usage=total))
    chunks.append(b"data: [DONE]\n\n")
    return Reply(200, chunks, {"Content-Type": "text/event-stream"})


def refusal() -> Reply:
    return reply("", finish="content_filter")


def error(status: int, **headers: str) -> Reply:
    body = {"error": {"message": f"upstream says {status}", "type": "error", "code": None}}
    return Reply.json(body, status=status, **headers)


def malformed() -> Reply:
    return Reply(200, [b"{this is not json"])


def auth_header(received: Received) -> str:
    return received.headers.get("authorization", "")


def conversation(received: Received) -> list[tuple[str, str]]:
    """The (role, content) turns the upstream received, system turns included."""
    return [(m["role"], m["content"]) for m in received.body["messages"]]


def max_tokens(received: Received) -> int:
    value: int = received.body["max_completion_tokens"]
    return value


def schema(received: Received) -> dict[str, Any] | None:
    response_format = received.body.get("response_format")
    return response_format["json_schema"]["schema"] if response_format else None
