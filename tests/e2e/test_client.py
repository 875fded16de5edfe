"""replog.client against real nodes (results, errors with the server's words, tail, retries that never duplicate),
and failing over between nodes played in-process by aiohttp (elections, dead nodes, the deadline)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web

from replog.client import (
    AppendResult,
    AsyncClient,
    BatchResult,
    Client,
    ConnectionFailed,
    InvalidRequest,
    Message,
    NoLeader,
    ReadOnly,
    ReplicaHealth,
    ReplogClientError,
    RetryPolicy,
    Unauthorized,
    Unavailable,
    WriteConcernTimeout,
)
from replog.pipeline import PipelinedClient
from tests.e2e.cluster import Cluster, free_port

pytestmark = pytest.mark.e2e

READ_ONLY = "read-only: no quorum (1 of 3 nodes alive, 2 needed)"
# Long enough to outlast a master (re)start on a busy machine.
PATIENT = RetryPolicy(attempts=60, base_delay=0.05, max_delay=0.25)


@pytest.fixture
def client(cluster: Cluster) -> Iterator[Client]:
    with Client(cluster.url("master")) as client:
        yield client


async def _kill_both_secondaries(cluster: Cluster) -> None:
    cluster.kill("secondary-0")
    cluster.kill("secondary-1")
    await cluster.wait_status(0, "Unhealthy")
    await cluster.wait_status(1, "Unhealthy")


async def _lone_master(make_cluster: Callable[..., Cluster]) -> Cluster:
    """A master without secondaries: it has quorum alone, so it takes writes the moment it listens."""
    cluster = make_cluster(secondaries=0)
    cluster.start_master()
    await cluster.wait_up("master")
    return cluster


class LossyProxy:
    """TCP to the master that swallows the answer of the first `drops` connections and hangs up.

    The master has served those requests; the client only sees the connection close, the one failure after
    which a retry could duplicate an append if it did not resend the same request_id.
    """

    def __init__(self, target_port: int, drops: int) -> None:
        self.target_port = target_port
        self.drops = drops
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            drop = self.connections <= self.drops
            threading.Thread(target=self._serve, args=(downstream, drop), daemon=True).start()

    def _serve(self, downstream: socket.socket, drop: bool) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        self._sockets += [downstream, upstream]
        threading.Thread(target=_pipe, args=(downstream, upstream), daemon=True).start()
        if drop:
            upstream.recv(65536)  # the answer: the append is stored; the client will never see it
            _hang_up(downstream)
            _hang_up(upstream)
        else:
            _pipe(upstream, downstream)

    def close(self) -> None:
        for sock in self._sockets:
            _hang_up(sock)


def _hang_up(sock: socket.socket) -> None:
    """shutdown, not just close: close does not wake the thread blocked reading it, nor send the FIN."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)


# ------------------------------------------------------------------ sync


async def test_append_and_messages_round_trip(cluster: Cluster, client: Client) -> None:
    assert client.append("kek", w=3) == AppendResult(index=1, w=3, duplicate=False)
    assert client.append("lol").index == 2
    assert client.messages() == ["kek", "lol"]
    assert client.messages(from_=2, detail=True) == [Message(2, "lol")]
    assert client.messages(limit=1) == ["kek"]
    assert await cluster.wait_converged(["secondary-0", "secondary-1"]) == ["kek", "lol"]
    health = client.health()
    assert health.last_index == 2 and not health.read_only
    assert [p.status for p in health.secondaries] == ["Healthy", "Healthy"]


async def test_append_many_is_one_consecutive_batch(cluster: Cluster, client: Client) -> None:
    client.append("first")
    batch = client.append_many(["a", "b", "c"], w=2)
    assert batch == BatchResult(first_index=2, last_index=4, w=2, duplicate=False)
    assert client.messages(detail=True)[1:] == [Message(2, "a"), Message(3, "b"), Message(4, "c")]
    assert list(client.iter_messages(from_=2, page_size=2)) == [Message(2, "a"), Message(3, "b"), Message(4, "c")]


async def test_request_id_retry_returns_duplicate(cluster: Cluster, client: Client) -> None:
    first = client.append("once", w=2, request_id="req-1")
    again = client.append("once", w=2, request_id="req-1")
    assert (first.duplicate, again.duplicate, again.index) == (False, True, first.index)
    batch = client.append_many(["x", "y"], request_id="req-2")
    assert client.append_many(["x", "y"], request_id="req-2") == BatchResult(2, 3, 1, True)
    assert batch.indexes == range(2, 4)
    assert client.messages() == ["once", "x", "y"]


async def test_read_only_raised_with_the_server_message(cluster: Cluster, client: Client) -> None:
    await _kill_both_secondaries(cluster)
    with pytest.raises(ReadOnly) as caught:
        client.append("refused")
    assert str(caught.value) == READ_ONLY
    assert (caught.value.status, caught.value.retry_after) == (503, 1.0)
    assert client.messages() == []


async def test_write_concern_timeout_carries_the_index(cluster: Cluster, client: Client) -> None:
    cluster.kill("secondary-1")
    client.append("before", w=2)
    with pytest.raises(WriteConcernTimeout) as caught:
        client.append("slow", w=3, timeout_ms=300)
    assert (caught.value.index, caught.value.w, caught.value.status) == (2, 3, 504)
    assert "stored on the leader, replication continues" in str(caught.value)
    assert client.messages() == ["before", "slow"]


async def test_invalid_requests_carry_the_server_message(cluster: Cluster, client: Client) -> None:
    with pytest.raises(InvalidRequest, match=r"^'w' must be an integer in 1\.\.3, got 9$") as caught:
        client.append("x", w=9)
    assert caught.value.status == 400
    with pytest.raises(InvalidRequest, match="'msgs' must be a non-empty array of strings"):
        client.append_many([])
    with pytest.raises(InvalidRequest, match="query parameter 'from' must be an integer in 1"):
        client.messages(from_=0)
    with pytest.raises(InvalidRequest, match="no such path: /nope/health") as caught:
        Client(cluster.url("master") + "/nope").node_health()
    assert caught.value.status == 404
    with pytest.raises(InvalidRequest, match="secondaries are read-only: append on the master") as caught:
        Client(cluster.url("secondary-0")).append("x")
    assert caught.value.status == 405
    with pytest.raises(InvalidRequest, match="body larger than max_body_bytes") as caught:
        client.append("x" * (2 << 20))
    assert caught.value.status == 413
    assert client.messages() == []


async def test_tail_follows_new_messages(cluster: Cluster, client: Client) -> None:
    client.append_many(["a", "b"])
    follower = asyncio.create_task(asyncio.to_thread(_take, cluster.url("master"), 1, 4))
    await asyncio.sleep(0.2)
    client.append("c")
    client.append("d")
    got = await asyncio.wait_for(follower, 15)
    assert got == [Message(1, "a"), Message(2, "b"), Message(3, "c"), Message(4, "d")]


async def test_tail_from_the_end_skips_what_is_there(cluster: Cluster, client: Client) -> None:
    client.append_many(["old-1", "old-2"])
    follower = asyncio.create_task(asyncio.to_thread(_take, cluster.url("master"), None, 2))
    for n in itertools.count():  # keep appending until the tail has started and seen two
        client.append(f"new-{n}")
        if follower.done():
            break
        await asyncio.sleep(0.05)
    first, second = await follower
    assert first.msg.startswith("new-") and first.index >= 3 and second.index == first.index + 1


def _take(url: str, from_: int | None, count: int) -> list[Message]:
    with Client(url) as reader:
        return list(itertools.islice(reader.tail(from_=from_, poll_interval=0.1), count))


async def test_tail_reads_a_secondary(cluster: Cluster, client: Client) -> None:
    client.append_many(["a", "b", "c"], w=3)
    with Client(cluster.url("secondary-1")) as secondary:
        assert secondary.last_index() == 3
        assert list(itertools.islice(secondary.tail(from_=2), 2)) == [Message(2, "b"), Message(3, "c")]
        assert secondary.faults().delay_ms == (0, 0)
        assert secondary.set_faults(delay_ms=(1, 2)).delay_ms == (1, 2)


# ----------------------------------------------------------------- async


async def test_async_round_trip_batch_duplicate_and_tail(cluster: Cluster) -> None:
    async with AsyncClient(cluster.url("master")) as client:
        assert await client.append("kek", w=3, request_id="r") == AppendResult(1, 3, False)
        assert await client.append("kek", w=3, request_id="r") == AppendResult(1, 3, True)
        assert await client.append_many(["a", "b"], w=2) == BatchResult(2, 3, 2, False)
        assert await client.messages() == ["kek", "a", "b"]
        assert await client.messages(from_=3, detail=True) == [Message(3, "b")]
        assert [m.index async for m in client.iter_messages(page_size=2)] == [1, 2, 3]
        assert (await client.health()).last_index == 3

        tail = client.tail(from_=3, poll_interval=0.1)
        assert await asyncio.wait_for(anext(tail), 5) == Message(3, "b")
        pending = asyncio.create_task(anext(tail))
        await client.append("c")
        assert await asyncio.wait_for(pending, 5) == Message(4, "c")
        await tail.aclose()


async def test_async_errors(cluster: Cluster) -> None:
    async with AsyncClient(cluster.url("master")) as client:
        with pytest.raises(InvalidRequest, match=r"^'w' must be an integer in 1\.\.3, got 0$"):
            await client.append("x", w=0)
        cluster.kill("secondary-1")
        with pytest.raises(WriteConcernTimeout) as caught:
            await client.append("slow", w=3, timeout_ms=300)
        assert caught.value.index == 1
        cluster.kill("secondary-0")
        await cluster.wait_status(0, "Unhealthy")
        await cluster.wait_status(1, "Unhealthy")
        with pytest.raises(ReadOnly, match=f"^{READ_ONLY}$".replace("(", r"\(").replace(")", r"\)")):
            await client.append("refused")


async def test_async_not_enough_replicas_is_unavailable(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster(suspend_on_slaves_dead=True)
    cluster.start_master()
    cluster.start_secondary(0)
    await cluster.wait_up("master", "secondary-0")
    await cluster.wait_status(0, "Healthy")
    async with AsyncClient(cluster.url("master")) as client:
        with pytest.raises(Unavailable, match="suspend_on_slaves_dead") as caught:
            await client.append("x", w=3)
    assert not isinstance(caught.value, ReadOnly)


async def test_tokens(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster(client_token="append-secret", read_token="read-secret", cluster_token="cluster-secret")
    await cluster.start_all()
    await cluster.wait_status(0, "Healthy")
    url = cluster.url("master")
    with pytest.raises(Unauthorized, match="needs the client_token as a Bearer token") as caught:
        Client(url).append("x")
    assert caught.value.status == 401
    assert Client(url, token="append-secret").append("x").index == 1
    with pytest.raises(Unauthorized, match="read_token"):
        Client(url, token="append-secret").messages()
    async with AsyncClient(url, token="read-secret") as reader:
        assert await reader.messages() == ["x"]
    with pytest.raises(Unauthorized, match="cluster_token"):
        Client(cluster.url("secondary-0")).set_faults(delay_ms=(1, 1))
    assert Client(cluster.url("secondary-0"), token="cluster-secret").set_faults(delay_ms=(1, 1)).delay_ms == (1, 1)
    with pytest.raises(Unauthorized, match="/stream needs the client_token as a Bearer token"):
        await PipelinedClient(url).connect()
    async with PipelinedClient(url, token="append-secret") as pipelined:
        assert (await pipelined.append("y", w=2)).index == 2


# --------------------------------------------------------------- retries


async def test_lost_answer_is_retried_and_stored_once(cluster: Cluster) -> None:
    proxy = LossyProxy(cluster.master_port, drops=2)
    try:
        with Client(proxy.url) as client:
            result = await asyncio.to_thread(client.append, "once", 3)
        assert result == AppendResult(index=1, w=3, duplicate=True)  # the third attempt found the first one
        assert proxy.connections == 3
    finally:
        proxy.close()
    assert await cluster.messages("master") == ["once"]
    assert await cluster.wait_converged(["secondary-0", "secondary-1"]) == ["once"]


async def test_async_lost_answer_is_retried_and_stored_once(cluster: Cluster) -> None:
    proxy = LossyProxy(cluster.master_port, drops=1)
    try:
        async with AsyncClient(proxy.url) as client:
            result = await client.append_many(["a", "b"], w=2)
        assert result == BatchResult(1, 2, 2, duplicate=True)
    finally:
        proxy.close()
    assert await cluster.messages("master") == ["a", "b"]


async def test_client_waits_for_a_master_that_starts_late(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster(secondaries=0)
    with Client(cluster.url("master"), retry=PATIENT) as client:
        pending = asyncio.create_task(asyncio.to_thread(client.append, "early"))
        await asyncio.sleep(0.3)
        assert not pending.done()
        cluster.start_master()
        assert (await asyncio.wait_for(pending, 20)).index == 1
    assert await cluster.messages("master") == ["early"]


async def test_append_across_a_kill_9_and_restart_is_stored_once(make_cluster: Callable[..., Cluster]) -> None:
    cluster = await _lone_master(make_cluster)
    async with AsyncClient(cluster.url("master"), retry=PATIENT) as client:
        await client.append("before")
        cluster.kill("master")
        pending = asyncio.create_task(client.append("during", request_id="restart-1"))
        await asyncio.sleep(0.3)
        cluster.start_master()
        assert await asyncio.wait_for(pending, 20) == AppendResult(2, 1, False)
        assert (await client.append("during", request_id="restart-1")).duplicate
        assert await client.messages() == ["before", "during"]


def test_connection_failed_names_the_url() -> None:
    port = free_port()
    with pytest.raises(Exception, match=f"cannot reach http://127.0.0.1:{port}"):
        Client(f"127.0.0.1:{port}", retry=RetryPolicy(attempts=2, base_delay=0.01)).health()


# -------------------------------------------------------------- failover

# Quick rounds, so that a test sees several of them well inside its deadline.
QUICK = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)
NO_LEADER = (503, {"error": "no leader: election in progress (term 7)"})
ACCEPTED = (201, {"index": 1, "w": 1, "duplicate": False})
BATCH_ACCEPTED = (201, {"first_index": 2, "last_index": 3, "index": 3, "w": 1, "duplicate": False})
SECONDARY_HEALTH = {"role": "secondary", "id": 0, "contiguous_index": 1, "master_connected": True}


class FakeNode:
    """One node of a cluster in failover, played in-process by aiohttp: each request gets its script's next
    answer (the last one repeats). It records what reached it, to show every try carried the same request_id."""

    def __init__(self, *answers: tuple[int, Any]) -> None:
        self.answers = list(answers)
        self.seen: list[dict[str, Any]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        self.seen.append({"method": request.method, "path": request.path, **body})
        status, answer = self.answers[min(len(self.seen), len(self.answers)) - 1]
        return web.json_response(answer, status=status, headers={"Retry-After": "1"})

    def request_ids(self) -> list[str]:
        return [seen["request_id"] for seen in self.seen]


@pytest.fixture
async def serve_node() -> AsyncIterator[Callable[[FakeNode], Awaitable[str]]]:
    """Start a FakeNode on an ephemeral port of 127.0.0.1; returns its URL."""
    runners: list[web.AppRunner] = []

    async def start(node: FakeNode) -> str:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", node.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        node.url = f"http://{host}:{port}"
        return node.url

    yield start
    for runner in runners:
        await runner.cleanup()


def _closed_port() -> str:
    return f"http://127.0.0.1:{free_port()}"


async def _calls(kind: str, urls: list[str], *calls: Callable[[Any], Any], **options: Any) -> list[Any]:
    """Run `calls` one after the other on one client of `kind` ("sync" in a thread, so the fake nodes on this
    loop keep answering; or "async"); each call takes the client and returns a result (or an awaitable)."""
    if kind == "sync":

        def run() -> list[Any]:
            with Client(urls, retry=QUICK, **options) as client:
                return [call(client) for call in calls]

        return await asyncio.to_thread(run)
    results = []
    async with AsyncClient(urls, retry=QUICK, **options) as client:
        for call in calls:
            result = call(client)
            results.append(await result if inspect.isawaitable(result) else result)
    return results


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_append_rides_out_an_election_with_one_request_id(
    kind: str, serve_node: Callable[[FakeNode], Awaitable[str]]
) -> None:
    """A dead leader (closed port) and two nodes still electing: the append goes round until one takes it."""
    electing = FakeNode(NO_LEADER)
    winner = FakeNode(NO_LEADER, ACCEPTED, BATCH_ACCEPTED)
    urls = [_closed_port(), await serve_node(electing), await serve_node(winner)]
    result, url_after, batch = await _calls(
        kind,
        urls,
        lambda c: c.append("x", request_id="failover-1"),
        lambda c: c.url,
        lambda c: c.append_many(["a", "b"], request_id="failover-2"),
    )
    assert result == AppendResult(index=1, w=1, duplicate=False)
    # Two rounds of dead, electing, winner: the winner takes the second try that reaches it.
    assert electing.request_ids() == ["failover-1"] * 2
    assert winner.request_ids()[:2] == ["failover-1"] * 2
    # The next call starts at the node that answered: nobody else hears of it.
    assert url_after == winner.url and batch == BatchResult(2, 3, 1, False)
    assert winner.request_ids()[2:] == ["failover-2"] and len(electing.seen) == 2


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("layout", [("electing", "electing"), ("dead", "dead"), ("dead", "electing")])
async def test_failover_gives_up_at_its_deadline_naming_the_nodes_and_the_last_error(
    kind: str, layout: tuple[str, str], serve_node: Callable[[FakeNode], Awaitable[str]]
) -> None:
    fakes = [FakeNode(NO_LEADER) if role == "electing" else None for role in layout]
    urls = [await serve_node(fake) if fake else _closed_port() for fake in fakes]
    deadline = 0.5
    started = time.monotonic()
    with pytest.raises(ReplogClientError) as caught:
        await _calls(kind, urls, lambda c: c.append("x", request_id="doomed"), failover_timeout=deadline)
    elapsed = time.monotonic() - started
    # Gave up because of the deadline, not a count of attempts: it kept trying until then, and not longer.
    assert deadline - QUICK.max_delay <= elapsed <= deadline + 0.25
    message = str(caught.value)
    assert message.startswith("no node took the request within failover_timeout=0.5 s (")
    assert f" attempts on {urls[0]}, {urls[1]}); last error: " in message
    # The last error is the last node's, whichever of the two the deadline fell on.
    last = message.split("; last error: ", 1)[1]
    if last.startswith("cannot reach "):
        assert isinstance(caught.value, ConnectionFailed) and caught.value.attempts > 3
        assert layout[urls.index(last.split()[2].rstrip(":"))] == "dead"
    else:
        assert isinstance(caught.value, NoLeader) and caught.value.retry_after == 1.0
        url, error = last.split(": ", 1)
        assert layout[urls.index(url)] == "electing" and error == NO_LEADER[1]["error"]
    for fake in filter(None, fakes):
        assert len(fake.seen) > 3 and set(fake.request_ids()) == {"doomed"}


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_node_cut_off_from_the_majority_is_passed_by(
    kind: str, serve_node: Callable[[FakeNode], Awaitable[str]]
) -> None:
    """Read-only means that node has no quorum; with several nodes, the majority's leader may be elsewhere."""
    cut_off = FakeNode((503, {"error": READ_ONLY}))
    leader = FakeNode(ACCEPTED)
    urls = [await serve_node(cut_off), await serve_node(leader)]
    (result,) = await _calls(kind, urls, lambda c: c.append("x", request_id="cut-off-1"))
    assert result.index == ACCEPTED[1]["index"]
    assert cut_off.request_ids() == ["cut-off-1"] and leader.request_ids() == ["cut-off-1"]


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_read_only_everywhere_is_raised_at_the_deadline(
    kind: str, serve_node: Callable[[FakeNode], Awaitable[str]]
) -> None:
    nodes = [FakeNode((503, {"error": READ_ONLY})) for _ in range(2)]
    urls = [await serve_node(node) for node in nodes]
    with pytest.raises(ReadOnly, match=r"no node took the request within failover_timeout=0\.5 s"):
        await _calls(kind, urls, lambda c: c.append("x", request_id="nobody"), failover_timeout=0.5)


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ((503, {"error": "too many appends waiting (waiters_max=1)"}), Unavailable),
        ((400, {"error": "'w' must be an integer in 1..3, got 9"}), InvalidRequest),
        ((504, {"error": "w=3 not reached in 300 ms", "index": 4, "w": 3}), WriteConcernTimeout),
    ],
)
async def test_other_answers_stay_final_with_several_nodes(
    kind: str, answer: tuple[int, Any], error: type[Exception], serve_node: Callable[[FakeNode], Awaitable[str]]
) -> None:
    first, second = FakeNode(answer), FakeNode(ACCEPTED)
    urls = [await serve_node(first), await serve_node(second)]
    with pytest.raises(error) as caught:
        await _calls(kind, urls, lambda c: c.append("x"))
    assert type(caught.value) is error and str(caught.value) == answer[1]["error"]
    assert (len(first.seen), second.seen) == (1, [])


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_reads_try_the_next_node_when_one_does_not_answer(
    kind: str, serve_node: Callable[[FakeNode], Awaitable[str]]
) -> None:
    reader = FakeNode((200, [{"index": 1, "msg": "a"}]), (200, SECONDARY_HEALTH))
    urls = [_closed_port(), await serve_node(reader)]
    messages, health = await _calls(kind, urls, lambda c: c.messages(), lambda c: c.node_health())
    assert messages == ["a"] and health.contiguous_index == 1
    assert [(seen["method"], seen["path"]) for seen in reader.seen] == [("GET", "/messages"), ("GET", "/health")]


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_one_url_keeps_a_no_leader_answer_final_unless_given_a_failover_timeout(
    kind: str, serve_node: Callable[[FakeNode], Awaitable[str]]
) -> None:
    node = FakeNode(NO_LEADER, NO_LEADER, ACCEPTED)
    url = await serve_node(node)
    with pytest.raises(NoLeader, match=r"^no leader: election in progress \(term 7\)$"):
        await _calls(kind, [url], lambda c: c.append("x"))
    assert len(node.seen) == 1
    # Opting in with one URL (a load balancer in front of the nodes, say) rides out the election there.
    (result,) = await _calls(kind, [url], lambda c: c.append("x", request_id="lb-1"), failover_timeout=5)
    assert result.index == 1 and node.request_ids()[1:] == ["lb-1", "lb-1"]


# ----------------------------------------------------- health, any node's URL


def _replica_health(role: str, leader_url: str | None) -> dict[str, Any]:
    leader = {"id": 1, "name": "secondary-0", "url": leader_url} if leader_url else None
    return {
        "id": 0, "name": "master", "role": role, "term": 7, "leader": leader, "last_index": 3, "commit_index": 3,
        "rolled_back": 0, "read_only": False, "quorum": {"alive": 3, "needed": 2}, "peers": [],
    }  # fmt: skip


async def test_health_from_any_node_is_the_leaders_view(make_cluster: Callable[..., Cluster]) -> None:
    """The quick tour's `log.health().read_only` raised "is secondary 0, not the master" against the
    default configuration, whose nodes all answer in the failover shape, the leader included."""
    cluster = make_cluster(failover=True, election_timeout_seconds=0.5)
    await cluster.start_all()
    await cluster.wait_up("master", "secondary-0", "secondary-1")
    leader = await _agreed_leader(cluster)
    follower = next(name for name in ("master", "secondary-0", "secondary-1") if name != leader)
    for name in (leader, follower):
        with Client(cluster.url(name)) as log:
            view = log.health()
        assert isinstance(view, ReplicaHealth) and view.role == "leader" and view.name == leader
        assert len(view.peers) == 2 and not view.read_only
        async with AsyncClient(cluster.url(name)) as alog:
            assert (await alog.health()).name == leader


async def _agreed_leader(cluster: Cluster) -> str:
    names = ("master", "secondary-0", "secondary-1")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        views = [await cluster.health(name) for name in names]
        leaders = {(view.get("leader") or {}).get("name") for view in views}
        if len(leaders) == 1 and None not in leaders:
            return str(leaders.pop())
        assert loop.time() < deadline, f"no agreed leader: {views}"
        await asyncio.sleep(0.1)  # why: poll, bounded, for the first election


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_health_without_a_leader_says_so(kind: str, serve_node: Callable[[FakeNode], Awaitable[str]]) -> None:
    lost = FakeNode((200, _replica_health("candidate", None)))
    with pytest.raises(NoLeader, match=r"^master at http://127\.0\.0\.1:\d+ is a candidate in term 7 and knows no"):
        await _calls(kind, [await serve_node(lost)], lambda c: c.health())
    stale = FakeNode((200, _replica_health("follower", None)))
    stale_url = await serve_node(stale)  # named as the leader, it has since become a follower
    naming = FakeNode((200, _replica_health("follower", stale_url)))
    with pytest.raises(NoLeader, match="was named as the leader but does not lead"):
        await _calls(kind, [await serve_node(naming)], lambda c: c.health())
    assert [seen["path"] for seen in stale.seen] == ["/health"]
    secondary = FakeNode((200, SECONDARY_HEALTH))
    with pytest.raises(ReplogClientError, match="is secondary 0, not the master"):
        await _calls(kind, [await serve_node(secondary)], lambda c: c.health())
