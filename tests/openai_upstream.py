"""A minimal OpenAI-compatible upstream on 127.0.0.1, for serving tests and benchmarks.

It answers ``POST /v1/chat/completions`` (plain or streamed) after ``delay``
seconds, echoing the last user message, and counts how many requests it holds
at once. Standard library only; it never talks to anything but its clients.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Stats:
    """What the upstream saw: requests answered and the most held at once."""

    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1
            self.requests += 1


def completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-local",
        "object": "chat.completion",
        "created": 0,
        "model": "local-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": len(text.split()), "total_tokens": 2},
    }


def chunks(text: str) -> Iterator[bytes]:
    base = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "local-model"}
    for word in text.split(" "):
        delta = {"index": 0, "delta": {"content": word + " "}, "finish_reason": None}
        yield f"data: {json.dumps({**base, 'choices': [delta]})}\n\n".encode()
    usage = {"prompt_tokens": 1, "completion_tokens": len(text.split()), "total_tokens": 2}
    yield f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode()
    yield b"data: [DONE]\n\n"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        stats = self.server.stats
        stats.enter()
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            time.sleep(self.server.delay)
            text = f"echo: {body['messages'][-1]['content']}"
            if body.get("stream"):
                payload = b"".join(chunks(text))
                content_type = "text/event-stream"
            else:
                payload = json.dumps(completion(text)).encode()
                content_type = "application/json"
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client went away
        finally:
            stats.leave()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Many clients connect at once; the default backlog of 5 would drop some.
    request_queue_size = 1024
    delay: float
    stats: Stats


@contextmanager
def serve_openai(delay: float = 0.0) -> Iterator[tuple[str, Stats]]:
    """Run the upstream on a free loopback port; yield its base URL (for AI_BASE_URL)
    and its stats."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.delay, server.stats = delay, Stats()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", server.stats
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
