"""Both clients against a scripted local HTTP server: what is retried, with which request_id, and what is not."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from replog.client import AsyncClient, Client, ConnectionFailed, ReadOnly, RetryPolicy
from tests.e2e.cluster import free_port

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)


class Script:
    """What the server does with request 1, 2, ...: 'drop' (hang up unanswered), 'hang', or a (status, body)."""

    def __init__(self, *steps: Any) -> None:
        self.steps = list(steps)
        self.seen: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def next(self, body: dict[str, Any]) -> Any:
        with self.lock:
            self.seen.append(body)
            return self.steps[min(len(self.seen), len(self.steps)) - 1]


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(script: Script) -> str:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                step = script.next(json.loads(raw) if raw else {})
                if step == "drop":
                    self.close_connection = True
                    return
                if step == "hang":
                    time.sleep(1.0)
                    self.close_connection = True
                    return
                status, answer = step
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Retry-After", "1")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


APPENDED = (201, {"index": 1, "w": 1, "duplicate": False})


def test_sync_retries_a_lost_answer_with_the_same_request_id(serve: Any) -> None:
    script = Script("drop", "drop", APPENDED)
    with Client(serve(script), retry=FAST) as client:
        assert client.append("x").index == 1
    ids = {body["request_id"] for body in script.seen}
    assert len(script.seen) == 3 and len(ids) == 1


async def test_async_retries_a_lost_answer_with_the_same_request_id(serve: Any) -> None:
    script = Script("drop", APPENDED)
    async with AsyncClient(serve(script), retry=FAST) as client:
        assert (await client.append("x", request_id="mine")).index == 1
    assert [body["request_id"] for body in script.seen] == ["mine", "mine"]


def test_sync_gives_up_after_the_policy_attempts() -> None:
    with pytest.raises(ConnectionFailed, match=r"cannot reach .* \(after 3 attempts\)") as caught:
        Client(f"127.0.0.1:{free_port()}", retry=FAST).append("x")
    assert caught.value.attempts == 3 and caught.value.status is None


async def test_async_gives_up_after_the_policy_attempts() -> None:
    async with AsyncClient(f"127.0.0.1:{free_port()}", retry=FAST) as client:
        with pytest.raises(ConnectionFailed, match="after 3 attempts"):
            await client.messages()


def test_sync_slow_answer_is_not_retried(serve: Any) -> None:
    script = Script("hang", APPENDED)
    with pytest.raises(ConnectionFailed, match=r"no answer within 0\.2 s"):
        Client(serve(script), timeout=0.2, retry=FAST).append("x")
    assert len(script.seen) == 1


async def test_async_slow_answer_is_not_retried(serve: Any) -> None:
    script = Script("hang", APPENDED)
    async with AsyncClient(serve(script), timeout=0.2, retry=FAST) as client:
        with pytest.raises(ConnectionFailed, match=r"no answer within 0\.2 s"):
            await client.append("x")
    assert len(script.seen) == 1


def test_server_errors_are_final(serve: Any) -> None:
    script = Script((503, {"error": "read-only: no quorum (1 of 3 nodes alive, 2 needed)"}), APPENDED)
    with pytest.raises(ReadOnly) as caught, Client(serve(script), retry=FAST) as client:
        client.append("x")
    assert caught.value.retry_after == 1.0 and len(script.seen) == 1


def test_keep_alive_connection_is_reused_and_replaced_when_dropped(serve: Any) -> None:
    script = Script(APPENDED, "drop", APPENDED)
    with Client(serve(script), retry=FAST) as client:
        client.append("a")
        assert client.append("b").index == 1
    assert len(script.seen) == 3
