"""POST /vote and VoteClient over real sockets on 127.0.0.1: answers, refusals, and lost votes.

The route is mounted on the app factory the master and secondary apps use (`api._app`), so the
error middleware that turns replog errors into JSON statuses is the production one.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import msgpack
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from replog.core.election import Election, ElectionConfig, HardState, LogPosition, Role
from replog.core.outputs import BecameLeader, PersistHardState, SendVote
from replog.core.vote_messages import TimeoutNow, VoteMessage, VoteRequest, VoteResponse
from replog.errors import ProtocolError
from replog.net.auth import bearer
from replog.net.vote_client import VoteClient
from replog.web.api import _app as node_app
from replog.web.vote import split_answer, vote_routes
from replog.wire import vote_codec
from tests.e2e.cluster import free_port

TOKEN = "cluster-secret"
TIMEOUT_S = 0.5
ASK = VoteRequest(term=3, candidate=1, last_term=2, last_index=40)
YES = VoteResponse(term=3, voter=0, granted=True)


class Voter:
    """The node side of the route: records what arrived and answers VoteRequests with YES."""

    def __init__(self) -> None:
        self.seen: list[VoteMessage] = []

    def __call__(self, message: VoteMessage) -> VoteMessage | None:
        self.seen.append(message)
        if isinstance(message, VoteRequest) and message.candidate == 99:
            raise ProtocolError("node 99 is not a peer of node 0")  # what Election.on_message raises
        return YES if isinstance(message, VoteRequest) else None


Serve = Callable[..., Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start an app on an ephemeral port; returns its `host:port`."""
    servers: list[TestServer] = []

    async def start(routes: list[web.RouteDef], *, max_body_bytes: int = 1 << 20) -> str:
        app = node_app(max_body_bytes)
        app.add_routes(routes)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return f"127.0.0.1:{server.port}"

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _voter_at(serve: Serve, voter: Voter, **options: Any) -> str:
    return await serve(vote_routes(voter, cluster_token=TOKEN, body_timeout_s=1.0, **options))


# ------------------------------------------------------------------ the route + client, happy path


async def test_a_vote_request_round_trips_and_its_answer_comes_back(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    voter = Voter()
    client = VoteClient(session, {0: await _voter_at(serve, voter)}, TOKEN, TIMEOUT_S)
    assert await client.send(0, ASK) == YES
    assert voter.seen == [ASK]


async def test_no_answer_is_a_204_and_none(serve: Serve, session: aiohttp.ClientSession) -> None:
    voter = Voter()
    address = await _voter_at(serve, voter)
    client = VoteClient(session, {2: address}, TOKEN, TIMEOUT_S)
    assert await client.send(2, TimeoutNow(term=3, leader=1)) is None
    assert voter.seen == [TimeoutNow(3, 1)]
    async with session.post(
        f"http://{address}/vote", data=vote_codec.encode(TimeoutNow(3, 1)), headers=bearer(TOKEN)
    ) as response:
        assert response.status == 204 and await response.read() == b""


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize("presented", ["", "wrong-secret"])
async def test_a_missing_or_wrong_token_is_a_401_and_the_client_gets_none(
    serve: Serve, session: aiohttp.ClientSession, presented: str, caplog: pytest.LogCaptureFixture
) -> None:
    voter = Voter()
    address = await _voter_at(serve, voter)
    async with session.post(f"http://{address}/vote", data=vote_codec.encode(ASK), headers=bearer(presented)) as r:
        assert r.status == 401
        assert "cluster_token" in (await r.json())["error"]
    caplog.set_level(logging.INFO, logger="replog.vote")
    assert await VoteClient(session, {0: address}, presented, TIMEOUT_S).send(0, ASK) is None
    assert voter.seen == []  # the guard ran before the handler, both times
    assert [r.getMessage() for r in caplog.records if r.name == "replog.vote"] == [
        f"VoteRequest to node 0 ({'http://' + address + '/vote'}) lost: HTTP 401 "
        '{"error": "missing or wrong token: this request needs the cluster_token as a Bearer token"}'
    ]


async def test_an_empty_cluster_token_leaves_the_route_open_like_every_route(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    address = await serve(vote_routes(Voter(), cluster_token="", body_timeout_s=1.0))
    assert await VoteClient(session, {0: address}, "", TIMEOUT_S).send(0, ASK) == YES


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "bad vote message: empty vote message"),
        (b"GET / HTTP/1.1", "bad vote message: unknown vote message kind 71"),
        (b"\x03" + msgpack.packb([1, True]), "bad vote message: TimeoutNow.leader is bool True, expected int"),
        (vote_codec.encode(VoteRequest(3, 99, 2, 40)), "bad vote message: node 99 is not a peer of node 0"),
    ],
)
async def test_a_body_that_is_not_a_vote_is_a_400_naming_the_problem(
    serve: Serve, session: aiohttp.ClientSession, body: bytes, words: str
) -> None:
    voter = Voter()
    address = await _voter_at(serve, voter)
    async with session.post(f"http://{address}/vote", data=body, headers=bearer(TOKEN)) as response:
        assert response.status == 400
        assert response.content_type == "application/json"
        assert await response.json() == {"error": words}
    assert all(m.candidate == 99 for m in voter.seen if isinstance(m, VoteRequest))


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_above_the_bound_is_a_413(serve: Serve, session: aiohttp.ClientSession, chunked: bool) -> None:
    voter = Voter()
    address = await _voter_at(serve, voter, body_bytes_max=64)
    big = vote_codec.encode(ASK) + b"\x00" * 65

    async def chunks() -> AsyncIterator[bytes]:
        yield big  # An async generator body goes out chunked: no Content-Length to refuse up front.

    async with session.post(
        f"http://{address}/vote", data=chunks() if chunked else big, headers=bearer(TOKEN)
    ) as response:
        assert response.status == 413
        assert await response.json() == {"error": f"vote body of {len(big)} bytes is larger than 64 bytes"}
    assert voter.seen == []
    # Exactly at the bound is fine: the limit is on the size, not on the message.
    exact = vote_codec.encode(ASK)
    address = await _voter_at(serve, voter, body_bytes_max=len(exact))
    assert await VoteClient(session, {0: address}, TOKEN, TIMEOUT_S).send(0, ASK) == YES


# ------------------------------------------------------------------ lost votes: None, one line, no exception


async def test_a_closed_port_is_none_within_the_timeout(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="replog.vote")
    client = VoteClient(session, {1: f"127.0.0.1:{free_port()}"}, TOKEN, TIMEOUT_S)
    started = time.monotonic()
    assert await client.send(1, ASK) is None
    assert time.monotonic() - started < TIMEOUT_S
    (line,) = [r for r in caplog.records if r.name == "replog.vote"]
    assert line.levelno == logging.INFO and "lost: ClientConnectorError" in line.getMessage()


async def test_a_peer_that_never_answers_is_none_at_the_timeout(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    accepted = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()  # Holds the connection open, answers nothing.
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    caplog.set_level(logging.INFO, logger="replog.vote")
    try:
        client = VoteClient(session, {1: f"127.0.0.1:{port}"}, TOKEN, 0.2)
        started = time.monotonic()
        assert await client.send(1, ASK) is None
        elapsed_s = time.monotonic() - started
    finally:
        server.close()
    assert accepted.is_set()
    assert 0.19 <= elapsed_s < 0.2 + 1.0  # 0.19: loop timers may fire a clock tick early
    (line,) = [r for r in caplog.records if r.name == "replog.vote"]
    assert line.getMessage().endswith("lost: no answer within 0.2 s")


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (200, b"\x07garbage", "undecodable answer: unknown vote message kind 7"),
        (200, b"", "undecodable answer: empty vote message"),
        (500, b"boom", "HTTP 500 boom"),
        (200, b"\x00" * 5000, "answer of 5000 bytes, too large"),
    ],
)
async def test_a_bad_answer_is_none_and_one_line(
    serve: Serve, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture, status: int, body: bytes, words: str
) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=status, body=body)

    address = await serve([web.post("/vote", answer)])
    caplog.set_level(logging.INFO, logger="replog.vote")
    assert await VoteClient(session, {0: address}, TOKEN, TIMEOUT_S).send(0, ASK) is None
    (line,) = [r for r in caplog.records if r.name == "replog.vote"]
    assert line.levelno == logging.INFO and line.getMessage().endswith(words)


# ------------------------------------------------------------------ send_soon and close


async def test_send_soon_hands_the_answer_over_and_forgets_the_task(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    client = VoteClient(session, {0: await _voter_at(serve, Voter())}, TOKEN, TIMEOUT_S)
    answers: list[VoteMessage] = []
    asked, told = client.send_soon(0, ASK, answers.append), client.send_soon(0, TimeoutNow(3, 1), answers.append)
    assert asked is not None and told is not None
    await asyncio.wait_for(asyncio.gather(asked, told), timeout=5)
    assert answers == [YES]  # TimeoutNow has no answer: on_answer is not called for it
    assert not client._tasks


async def test_close_cancels_votes_in_flight_and_drops_later_ones(session: aiohttp.ClientSession) -> None:
    arrived = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        arrived.set()
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        client = VoteClient(session, {1: f"127.0.0.1:{server.sockets[0].getsockname()[1]}"}, TOKEN, 30.0)
        answers: list[VoteMessage] = []
        task = client.send_soon(1, ASK, answers.append)
        assert task is not None
        await asyncio.wait_for(arrived.wait(), timeout=5)
        await asyncio.wait_for(client.close(), timeout=5)  # far below the 30 s timeout: it was cancelled
        assert task.cancelled() and not client._tasks and answers == []
        assert client.send_soon(1, ASK, answers.append) is None
    finally:
        server.close()


async def test_an_unknown_peer_is_the_callers_bug(session: aiohttp.ClientSession) -> None:
    client = VoteClient(session, {0: "127.0.0.1:1"}, TOKEN, TIMEOUT_S)
    with pytest.raises(ValueError, match=r"node 5 is not a peer \(peers: \[0\]\)"):
        await client.send(5, ASK)
    with pytest.raises(ValueError, match="node 5 is not a peer"):
        client.send_soon(5, ASK, lambda answer: None)


async def test_an_exception_in_on_answer_is_logged_not_lost(
    serve: Serve, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    client = VoteClient(session, {0: await _voter_at(serve, Voter())}, TOKEN, TIMEOUT_S)

    def broken(answer: VoteMessage) -> None:
        raise RuntimeError("bug in the shell")

    task = client.send_soon(0, ASK, broken)
    assert task is not None
    # _finished was added before asyncio.wait's own callback, so it has run when wait returns.
    await asyncio.wait_for(asyncio.wait([task]), timeout=5)
    (line,) = [r for r in caplog.records if r.name == "replog.vote"]
    assert line.levelno == logging.ERROR and line.exc_info and "bug in the shell" in str(line.exc_info[1])


# ------------------------------------------------------------------ split_answer, against the real Election


def _election(node_id: int, *, now_ms: int = 0) -> Election:
    config = ElectionConfig(node_id, nodes_total=3, preferred_id=0, election_timeout_ms=100)
    return Election(
        config,
        hard_state=HardState(),
        log_position=lambda: LogPosition(0, 0),
        rng=random.Random(0),
        now_ms=now_ms,
    )


def _handle(election: Election, message: VoteMessage, now_ms: int) -> tuple[VoteMessage | None, list[Any]]:
    election.on_message(message, now_ms)
    return split_answer(message, election.take_outputs())


def test_a_vote_is_answered_after_the_hard_state_that_grants_it() -> None:
    election = _election(0)
    election.take_outputs()
    answer, rest = _handle(election, VoteRequest(1, 2, 0, 0), 0)
    assert answer == VoteResponse(1, 0, granted=True)
    assert PersistHardState(1, 2) in rest and not any(isinstance(o, SendVote) for o in rest)


def test_an_ignored_request_and_a_timeout_now_have_no_answer() -> None:
    election = _election(1)
    election.take_outputs()
    assert election.on_leader_contact(1, 0, now_ms=10)
    election.take_outputs()
    # Stickiness: node 2 wants term 2 while node 1 still hears its leader: no answer at all.
    assert _handle(election, VoteRequest(2, 2, 0, 0), 20) == (None, [])
    # TimeoutNow: node 1 campaigns at once; its VoteRequests, to the old leader too, go out on their own.
    answer, rest = _handle(election, TimeoutNow(1, 0), 30)
    assert answer is None and election.role is Role.CANDIDATE
    asks = {o.peer: o.message for o in rest if isinstance(o, SendVote)}
    assert set(asks) == {0, 2} and all(isinstance(m, VoteRequest) and m.transfer for m in asks.values())


def test_only_the_response_to_the_requester_is_the_answer() -> None:
    other = SendVote(2, VoteResponse(3, 0, granted=False))
    mine = SendVote(1, YES)
    assert split_answer(ASK, [PersistHardState(3, 1), other, mine]) == (YES, [PersistHardState(3, 1), other])
    assert split_answer(ASK, [SendVote(1, ASK)]) == (None, [SendVote(1, ASK)])  # a request is never an answer
    assert split_answer(YES, [mine]) == (None, [mine])  # only a VoteRequest is answered


async def test_a_declared_oversized_body_is_refused_before_it_is_sent(serve: Serve) -> None:
    # Only the head arrives: reading the body would wait for body_timeout_s (a 408), refusing it does not.
    host, port = (await _voter_at(serve, Voter())).split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = f"POST /vote HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 100000\r\n\r\n"
    writer.write(head.encode())
    try:
        status_line = await asyncio.wait_for(reader.readline(), timeout=0.5)
    finally:
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 413 ")


# ------------------------------------------------------------------ three elections, over HTTP


class Node:
    """A shell in miniature: an Election behind POST /vote, sending its votes with a VoteClient."""

    def __init__(self, node_id: int, session: aiohttp.ClientSession, addresses: dict[int, str]) -> None:
        self.loop = asyncio.get_running_loop()
        config = ElectionConfig(node_id, nodes_total=3, preferred_id=0, election_timeout_ms=1000)
        position = LogPosition(0, 0)
        self.election = Election(
            config,
            hard_state=HardState(),
            log_position=lambda: position,
            rng=random.Random(node_id),
            now_ms=self.now_ms(),
        )
        peers = {peer: address for peer, address in addresses.items() if peer != node_id}
        self.client = VoteClient(session, peers, TOKEN, 1.0)
        self.persisted: list[PersistHardState] = []
        self.received: list[VoteMessage] = []
        self.leading = asyncio.Event()

    def now_ms(self) -> int:
        return int(self.loop.time() * 1000)

    def handle(self, message: VoteMessage) -> VoteMessage | None:
        self.received.append(message)
        self.election.on_message(message, self.now_ms())
        answer, rest = split_answer(message, self.election.take_outputs())
        self.apply(rest)
        return answer

    def on_answer(self, answer: VoteMessage) -> None:
        self.election.on_message(answer, self.now_ms())
        self.apply(self.election.take_outputs())

    def apply(self, outputs: list[Any]) -> None:
        for output in outputs:
            if isinstance(output, PersistHardState):
                self.persisted.append(output)
            elif isinstance(output, SendVote):
                self.client.send_soon(output.peer, output.message, self.on_answer)
            elif isinstance(output, BecameLeader):
                self.leading.set()


async def test_the_preferred_node_is_elected_through_real_requests(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    nodes: dict[int, Node] = {}
    addresses = {
        i: await serve(vote_routes(lambda m, i=i: nodes[i].handle(m), cluster_token=TOKEN, body_timeout_s=1.0))
        for i in range(3)
    }
    nodes.update({i: Node(i, session, addresses) for i in range(3)})
    nodes[0].election.tick(nodes[0].now_ms())  # the preferred node campaigns at once; the others never tick
    nodes[0].apply(nodes[0].election.take_outputs())
    try:
        await asyncio.wait_for(nodes[0].leading.wait(), timeout=5)
    finally:
        for node in nodes.values():
            await node.client.close()
    assert nodes[0].election.role is Role.LEADER and nodes[0].election.term == 1
    # Pre-vote persisted nothing; the real vote made each voter write (term 1, voted for 0) before answering.
    assert nodes[0].persisted == [PersistHardState(1, 0)]
    assert any(nodes[i].persisted == [PersistHardState(1, 0)] for i in (1, 2))
    # Every answer came back in a response body: nothing was POSTed to the candidate.
    assert nodes[0].received == []
    assert {type(m) for i in (1, 2) for m in nodes[i].received} == {VoteRequest}
