"""Where to try a request next, after how long, or when to give up: the clients' retry policy, pure.

Two modes, chosen once per client:

- **One node** (one URL and no `failover_timeout`): exactly the client of before failover. A try that gets
  no answer is retried on the same node, `RetryPolicy.attempts` tries in all with its backoff between them;
  every answer of the server is final, a 503 "no leader" included.
- **Failover** (several URLs, or a `failover_timeout` given): a try that gets no answer, or a 503 whose
  error starts with "no leader" (an election is in progress) or "read-only" (that node is cut off from
  the majority, which may well have a leader), moves on to the next node. The first pass
  over the nodes does not wait, because the node after a dead one may well be the leader; every later
  round waits `RetryPolicy`'s backoff first, since by then the cluster is electing and asking again at
  once would only add load, but no more than `RetryPolicy.failover_max_delay` (0.25 s): the new leader
  should be found soon after it is ready, not up to a doubled backoff later. The deadline, not
  `attempts`, ends the retries: no try starts after it and no connect outlasts it. Once a node holds the
  request, the client's `timeout` bounds the wait for its answer.

Every try of one call resends the same request body, so an append keeps its request_id and a node that
already stored it answers `duplicate=True` instead of appending it twice. Other 503s stay final (a limit
reached, say). When the deadline passes with every node still read-only, the caller gets that ReadOnly.

The clock, the sleep and the random draws stay with the caller, so every decision here is table-tested.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from replog.client import _http
from replog.client.errors import ConnectionFailed, NoLeader, ReadOnly, ReplogClientError
from replog.client.retry import RetryPolicy

__all__ = ["DEFAULT_FAILOVER_TIMEOUT", "CONNECT_TIMEOUT_MIN", "Failover", "TryAgain", "failover_timeout", "next_try"]

# Long enough for a leader's death to be noticed and a new one elected (a few election timeouts), short
# enough that a caller whose cluster is really down hears so while the reason is still fresh.
DEFAULT_FAILOVER_TIMEOUT = 10.0
# A socket timeout of 0 would make the socket non-blocking; a connect needs at least a few milliseconds.
CONNECT_TIMEOUT_MIN = 0.01


@dataclass(frozen=True, slots=True)
class TryAgain:
    """Try node number `node` (an index into the client's URLs) after waiting `delay` seconds."""

    node: int
    delay: float


def failover_timeout(given: float | None, nodes: int) -> float | None:
    """The deadline of a call in seconds, or None for the one-node mode; see the module's docstring."""
    if given is None:
        return DEFAULT_FAILOVER_TIMEOUT if nodes > 1 else None
    if not (given > 0 and math.isfinite(given)):
        raise ValueError(f"failover_timeout must be a positive number of seconds, got {given}")
    return given


def next_try(
    *,
    failed_node: int,
    tries: int,
    nodes: int,
    elapsed: float,
    deadline: float | None,
    policy: RetryPolicy,
    jitter: float,
) -> TryAgain | None:
    """After try number `tries` (from 1) failed on `failed_node`: where and when to try again, or None to give up.

    `elapsed` is the seconds since the call began, `deadline` its failover timeout (None: one-node mode),
    `jitter` a uniform draw from [0, 1) for the backoff.
    """
    if deadline is None:
        if tries >= policy.attempts:
            return None
        return TryAgain(failed_node, policy.delay(tries - 1, jitter))
    delay = 0.0 if tries % nodes else policy.failover_delay(tries // nodes - 1, jitter)
    if elapsed + delay >= deadline:
        return None
    return TryAgain((failed_node + 1) % nodes, delay)


class Failover:
    """The tries of one call: the node to try now, what to do after a failure, and the error on giving up.

    Holds no socket and reads no clock: the transport passes `now` (a monotonic reading) in.
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        start: int,
        policy: RetryPolicy,
        deadline: float | None,
        now: float,
        rng: random.Random,
    ) -> None:
        if deadline is None and len(urls) != 1:
            raise ValueError("several nodes need a failover deadline")
        self.urls = tuple(urls)
        self.node = start
        self.tries = 0
        self._policy = policy
        self._deadline = deadline
        self._started = now
        self._rng = rng
        self._tried: dict[int, None] = {}

    @property
    def url(self) -> str:
        return self.urls[self.node]

    def retries_no_leader(self) -> bool:
        """Whether a 503 "no leader" or "read-only" is one more failure to ride out (failover mode) or final
        (one-node mode)."""
        return self._deadline is not None

    def connect_timeout(self, timeout: float | None, now: float) -> float | None:
        """The socket's connect timeout for the next try: `timeout`, cut to what is left of the deadline."""
        if self._deadline is None:
            return timeout
        left = max(CONNECT_TIMEOUT_MIN, self._started + self._deadline - now)
        return left if timeout is None else min(timeout, left)

    def failed(self, reason: BaseException, now: float) -> TryAgain | ReplogClientError:
        """Record that the try on `self.node` failed for `reason`: a NoLeader answer, else why it got no answer.

        Returns where to try next (and moves there) or the error to raise.
        """
        self.tries += 1
        self._tried[self.node] = None
        if self._deadline is None and _http.is_tls_failure(reason):
            return self._give_up(reason)  # One node and a TLS mismatch: a retry would meet the same certificate.
        step = next_try(
            failed_node=self.node,
            tries=self.tries,
            nodes=len(self.urls),
            elapsed=now - self._started,
            deadline=self._deadline,
            policy=self._policy,
            jitter=self._rng.random(),
        )
        if step is None:
            return self._give_up(reason)
        self.node = step.node
        return step

    def _give_up(self, reason: BaseException) -> ReplogClientError:
        if self._deadline is None:
            return _http.connection_failed(self.url, reason, self.tries)
        nodes = ", ".join(self.urls[node] for node in self._tried)
        if isinstance(reason, NoLeader | ReadOnly):
            last = f"{self.url}: {reason}"
        else:
            last = str(_http.connection_failed(self.url, reason, 1))
        message = (
            f"no node took the request within failover_timeout={self._deadline:g} s "
            f"({self.tries} attempts on {nodes}); last error: {last}"
        )
        if isinstance(reason, NoLeader):
            return NoLeader(message, retry_after=reason.retry_after)
        if isinstance(reason, ReadOnly):
            return ReadOnly(message, retry_after=reason.retry_after)
        return ConnectionFailed(message, attempts=self.tries)
