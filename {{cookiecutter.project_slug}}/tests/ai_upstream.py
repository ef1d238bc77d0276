"""A scripted AI upstream on 127.0.0.1, so the real SDKs are tested over real HTTP.

Each test scripts the replies the upstream gives, in order, and reads back what
it received. Replies can be slow (to test timeouts) or cut off in the middle
of the body (to test a stream that fails half-way).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2


@dataclass
class Reply:
    """One scripted answer.

    :param delay: Seconds to wait before sending the status line.
    :param cut: Close the connection before the body is complete.
    :param pause: Seconds to wait between two chunks of the body.
    """

    status: int = 200
    chunks: list[bytes] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay: float = 0.0
    cut: bool = False
    pause: float = 0.0

    @classmethod
    def json(cls, body: Any, status: int = 200, **headers: str) -> Reply:
        return cls(
            status, [json.dumps(body).encode()], {"Content-Type": "application/json", **headers}
        )

    def to_response(self) -> httpx2.Response:
        """The same answer for an ``httpx2.MockTransport``."""
        return httpx2.Response(self.status, headers=self.headers, content=b"".join(self.chunks))


@dataclass
class Received:
    """One request the upstream received; header names in lower case."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class Upstream:
    """The script and the record of one test."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.received: list[Received] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._replies.clear()
            self.received.clear()

    def answer(self, received: Received) -> Reply:
        with self._lock:
            self.received.append(received)
            if self._replies:
                return self._replies.popleft()
        return Reply.json({"error": {"message": "nothing scripted"}}, status=599)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        received = Received(self.path, headers, json.loads(raw or b"{}"))
        reply = self.server.upstream.answer(received)
        time.sleep(reply.delay)
        length = sum(len(chunk) for chunk in reply.chunks) + (1 if reply.cut else 0)
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(length))
            self.send_header("Connection", "close")
            self.end_headers()
            for index, chunk in enumerate(reply.chunks):
                if index and reply.pause:
                    time.sleep(reply.pause)
                self.wfile.write(chunk)
                self.wfile.flush()
        except OSError:
            pass  # the client gave up first: what timeout tests are about
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    upstream: Upstream


@contextmanager
def serving() -> Iterator[Upstream]:
    """Run an upstream on a free loopback port until the block ends."""
    server = _Server(("127.0.0.1", 0), _Handler)
    host, port = server.server_address[:2]
    server.upstream = Upstream(f"http://{host!s}:{port}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.upstream
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()
