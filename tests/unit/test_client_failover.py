"""The clients' failover policy, pure: node lists, where and when the next try goes, and the give-up errors."""

from __future__ import annotations

import errno
import random

import pytest

from replog.client import ConnectionFailed, NoLeader, RetryPolicy, Unavailable, _http
from replog.client.failover import (
    CONNECT_TIMEOUT_MIN,
    DEFAULT_FAILOVER_TIMEOUT,
    Failover,
    TryAgain,
    failover_timeout,
    next_try,
)

# Nominal waits 0.1, 0.2, 0.4, 0.8, 1.0, 1.0, ...; jitter=1.0 gives the nominal wait, 0.0 half of it.
POLICY = RetryPolicy(attempts=3, base_delay=0.1, max_delay=1.0)
A, B, C = "http://a:7000", "http://b:8000", "http://c:9000"
REFUSED = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
NO_LEADER = NoLeader("no leader: election in progress (term 7)", retry_after=1.0)

# ------------------------------------------------------------------ node lists


@pytest.mark.parametrize(
    ("given", "environ", "expected"),
    [
        (None, {}, ("http://127.0.0.1:7000",)),
        ("", {"REPLOG_URL": "a:1,b:2"}, ("http://a:1", "http://b:2")),
        ("http://a:1,b:2", {"REPLOG_URL": "ignored:1"}, ("http://a:1", "http://b:2")),
        (" a:1 , b:2/ ,", {}, ("http://a:1", "http://b:2")),  # spaces, a trailing slash and a trailing comma
        (["a:1", "b:2,c:3"], {}, ("http://a:1", "http://b:2", "http://c:3")),
        (("a:1", "http://a:1/"), {}, ("http://a:1",)),  # one node named twice is one node
        ("https://log.example/api/", {}, ("https://log.example/api",)),
    ],
)
def test_resolve_urls(given: str | list[str] | None, environ: dict[str, str], expected: tuple[str, ...]) -> None:
    assert _http.resolve_urls(given, environ) == expected


@pytest.mark.parametrize(("bad", "match"), [([], "no node URL"), (",", "no node URL"), ("a:1,ftp://b", "not an http")])
def test_resolve_urls_rejects(bad: str | list[str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _http.resolve_urls(bad, {})


def test_no_leader_503_is_its_own_unavailable() -> None:
    body = b'{"error": "no leader: election in progress (term 7)"}'
    with pytest.raises(NoLeader, match=r"^no leader: election in progress \(term 7\)$") as caught:
        _http.decode(503, body, retry_after="2")
    assert isinstance(caught.value, Unavailable) and caught.value.retry_after == 2.0


# ------------------------------------------------------------------ deadline


@pytest.mark.parametrize(
    ("given", "nodes", "expected"),
    [(None, 1, None), (None, 2, DEFAULT_FAILOVER_TIMEOUT), (3.0, 1, 3.0), (0.5, 3, 0.5)],
)
def test_failover_timeout(given: float | None, nodes: int, expected: float | None) -> None:
    assert failover_timeout(given, nodes) == expected


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), float("nan")])
def test_failover_timeout_rejects(bad: float) -> None:
    with pytest.raises(ValueError, match="failover_timeout must be a positive number of seconds"):
        failover_timeout(bad, 2)


# ------------------------------------------------------------------ next_try


@pytest.mark.parametrize(
    ("failed_node", "tries", "nodes", "elapsed", "deadline", "jitter", "expected"),
    [
        # One-node mode: the same node, the policy's backoff, `attempts` tries in all; time does not matter.
        (0, 1, 1, 0.0, None, 1.0, TryAgain(0, 0.1)),
        (0, 2, 1, 99.0, None, 0.0, TryAgain(0, 0.1)),  # second wait 0.2, jittered down to half
        (0, 3, 1, 0.0, None, 1.0, None),  # attempts=3 spent
        # Failover over 3 nodes: the first pass goes on at once, each later round starts with a backoff.
        (0, 1, 3, 0.01, 5.0, 1.0, TryAgain(1, 0.0)),
        (1, 2, 3, 0.02, 5.0, 1.0, TryAgain(2, 0.0)),
        (2, 3, 3, 0.03, 5.0, 1.0, TryAgain(0, 0.1)),  # round 1 done: wait, then back to the first node
        (0, 4, 3, 0.2, 5.0, 1.0, TryAgain(1, 0.0)),
        (2, 6, 3, 0.4, 5.0, 1.0, TryAgain(0, 0.2)),
        # Later rounds wait at most failover_max_delay (0.25 s), not the policy's 1.0 s cap.
        (2, 9, 3, 0.7, 5.0, 1.0, TryAgain(0, 0.25)),
        (2, 30, 3, 4.0, 5.0, 1.0, TryAgain(0, 0.25)),
        (2, 30, 3, 4.8, 5.0, 1.0, None),  # round 10 would wait 0.25 s, ending past the deadline
        (2, 30, 3, 4.8, 5.0, 0.0, TryAgain(0, 0.125)),  # same round, a shorter jitter fits
        # Attempts do not end a failover: only the deadline does.
        (1, 50, 2, 1.0, 5.0, 1.0, TryAgain(0, 0.25)),
        (1, 1, 2, 5.0, 5.0, 1.0, None),  # no wait, but the deadline has come: give up
        # Failover with one URL (a load balancer, say): backoff every time, until the deadline.
        (0, 1, 1, 0.0, 2.0, 1.0, TryAgain(0, 0.1)),
        (0, 9, 1, 1.5, 2.0, 1.0, TryAgain(0, 0.25)),
        (0, 9, 1, 1.8, 2.0, 1.0, None),
    ],
)
def test_next_try(
    failed_node: int,
    tries: int,
    nodes: int,
    elapsed: float,
    deadline: float | None,
    jitter: float,
    expected: TryAgain | None,
) -> None:
    step = next_try(
        failed_node=failed_node,
        tries=tries,
        nodes=nodes,
        elapsed=elapsed,
        deadline=deadline,
        policy=POLICY,
        jitter=jitter,
    )
    assert step == (expected if expected is None else TryAgain(expected.node, pytest.approx(expected.delay)))


def test_failover_rounds_wait_the_backoff_capped_at_failover_max_delay() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=2.0, failover_max_delay=0.3)
    assert [policy.failover_delay(k, 1.0) for k in range(4)] == pytest.approx([0.1, 0.2, 0.3, 0.3])
    assert policy.failover_delay(10_000, 0.0) == pytest.approx(0.15)  # equal jitter: at least half the cap
    assert RetryPolicy(max_delay=0.2, failover_max_delay=1.0).failover_delay(5, 1.0) == 0.2  # max_delay still caps
    assert policy.delay(4, 1.0) == pytest.approx(1.6)  # the one-node backoff is unchanged
    with pytest.raises(ValueError, match="failover_max_delay"):
        RetryPolicy(failover_max_delay=-1)


def test_retry_policy_delay_is_the_delays_sequence() -> None:
    policy = RetryPolicy(attempts=6, base_delay=0.1, max_delay=0.5)
    draws = random.Random(3)
    assert list(policy.delays(random.Random(3))) == [policy.delay(k, draws.random()) for k in range(5)]
    assert policy.delay(10_000, 1.0) == 0.5  # a long failover's late rounds neither overflow nor exceed the cap


# ------------------------------------------------------------------ Failover


def _tries(urls: tuple[str, ...], deadline: float | None, start: int = 0) -> Failover:
    return Failover(urls, start=start, policy=POLICY, deadline=deadline, now=100.0, rng=random.Random(1))


def test_failover_goes_round_from_the_remembered_node_and_names_what_it_tried() -> None:
    tries = _tries((A, B, C), deadline=1.0, start=1)
    assert tries.url == B
    assert tries.failed(REFUSED, now=100.0) == TryAgain(2, 0.0) and tries.url == C
    step = tries.failed(NO_LEADER, now=100.1)
    assert step == TryAgain(0, 0.0) and tries.url == A
    step = tries.failed(REFUSED, now=100.2)
    assert isinstance(step, TryAgain) and step.node == 1 and 0.05 <= step.delay <= 0.1
    error = tries.failed(NO_LEADER, now=101.0)
    assert isinstance(error, NoLeader) and error.retry_after == 1.0 and error.status == 503
    assert str(error) == (
        f"no node took the request within failover_timeout=1 s (4 attempts on {B}, {C}, {A}); "
        f"last error: {B}: no leader: election in progress (term 7)"
    )


def test_failover_gives_up_with_connection_failed_when_the_last_node_did_not_answer() -> None:
    tries = _tries((A, B), deadline=0.5)
    assert tries.failed(NO_LEADER, now=100.0) == TryAgain(1, 0.0)
    error = tries.failed(REFUSED, now=100.6)
    assert isinstance(error, ConnectionFailed) and error.attempts == 2 and error.status is None
    assert str(error) == (
        f"no node took the request within failover_timeout=0.5 s (2 attempts on {A}, {B}); "
        f"last error: cannot reach {B}: [Errno 111] Connection refused"
    )


def test_one_node_mode_gives_up_exactly_as_before_failover() -> None:
    tries = _tries((A,), deadline=None)
    assert not tries.retries_no_leader()
    assert isinstance(tries.failed(REFUSED, now=100.0), TryAgain)
    assert isinstance(tries.failed(REFUSED, now=100.0), TryAgain)
    error = tries.failed(REFUSED, now=100.0)
    assert isinstance(error, ConnectionFailed) and error.attempts == 3
    assert str(error) == str(_http.connection_failed(A, REFUSED, 3))
    assert str(error) == f"cannot reach {A}: [Errno 111] Connection refused (after 3 attempts)"


def test_connect_timeout_never_outlasts_the_deadline() -> None:
    tries = _tries((A, B), deadline=2.0)
    assert tries.retries_no_leader()
    assert tries.connect_timeout(30.0, now=100.0) == 2.0
    assert tries.connect_timeout(30.0, now=101.5) == pytest.approx(0.5)
    assert tries.connect_timeout(0.2, now=101.5) == 0.2
    assert tries.connect_timeout(None, now=101.0) == pytest.approx(1.0)
    assert tries.connect_timeout(30.0, now=105.0) == CONNECT_TIMEOUT_MIN  # never 0, a non-blocking socket
    assert _tries((A,), deadline=None).connect_timeout(30.0, now=1e9) == 30.0


def test_several_nodes_need_a_deadline() -> None:
    with pytest.raises(ValueError, match="deadline"):
        _tries((A, B), deadline=None)
