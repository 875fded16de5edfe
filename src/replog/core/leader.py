"""The master's state machine: assigns indexes, tracks every secondary, releases writers.

Inputs: `propose`, `on_written`, `on_synced`, `on_connected`, `on_disconnected`, `on_message`, `tick`.
Outputs (drained with `take_outputs`): Persist, Send, Disconnect, Release, HealthChanged,
ReadOnlyChanged, CatchUp. The Leader never waits and never reads a clock: `now_ms` comes in.

Two rules carry the guarantees:
- The fixed master sends only entries it has synced, so every secondary holds a prefix of a
  durable master log. A failover leader sends what it has *written* (its fsync runs in parallel,
  Raft §10.2.1): a follower may then hold entries the leader loses in a crash, and the next
  leader's log settles them as it settles any deposed leader's tail (below).
- The leader's own copy counts for `w` only once synced, and nothing is released (or shown as
  committed) beyond the leader's synced index: `w` nodes hold it durably, the leader among them.
- A connection always starts with the secondary's Hello, and streaming resumes right after
  what it says it holds. Retries, restarts, catch-up and healed partitions are all that one
  path; an entry is never sent to a node that already has it except by a retry whose
  duplicate the secondary drops.

With failover (DESIGN §9) the leader leads one term, and three rules join them:
- Its first entry is a no-op of its term. The Hello carries the follower's epoch table, and the
  Welcome says where the two logs stop agreeing (`match_index`): the follower keeps that prefix
  and drops, into a rollback file, whatever follows it. Streaming resumes after the match.
- A `w >= majority` waiter is released only once its index is committed: on a majority *and* at
  or below a majority-held entry of this term (Raft's rule, which stops the "Figure 8" overwrite
  of an old-term entry that a majority happened to hold).
- A peer in a later term ends this leadership: `HigherTerm` goes out and the shell steps down.
Without failover the term stays 0, no no-op is written, and a secondary holding more than the
master is refused as another history, exactly as before.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from replog.core.concern import ConcernWaiters, satisfied_index
from replog.core.epochs import Epochs, match_index
from replog.core.health import HealthThresholds, classify, quorum_needed
from replog.core.messages import (
    PROTOCOL_VERSION,
    STALE_TERM,
    Ack,
    Append,
    Error,
    Heartbeat,
    Hello,
    Message,
    Welcome,
)
from replog.core.outputs import (
    CatchUp,
    Disconnect,
    HealthChanged,
    HigherTerm,
    Output,
    Persist,
    ReadOnlyChanged,
    Reject,
    Release,
    Send,
)
from replog.core.progress import LinkMode, Progress
from replog.errors import InvalidRequest, InvalidWriteConcern, NotEnoughReplicas, Overloaded, ReadOnly
from replog.types import Entry, HealthState, PeerId, RecordRun, batch_bounds, noop_request_id

__all__ = ["Leader", "LeaderLimits", "PeerStatus", "Proposal", "ReadEntries", "Term"]

ReadEntries = Callable[[int, int, int], list[Entry] | RecordRun]
"""read(lo, hi, bytes_max) over the master's own log: entries, or in catch-up the records as they lie on disk."""


@dataclass(frozen=True, slots=True)
class LeaderLimits:
    thresholds: HealthThresholds
    heartbeat_interval_ms: int = 1000
    batch_entries_max: int = 512
    batch_bytes_max: int = 1 << 20
    inflight_frames_max: int = 8
    # Frames built per input: a catch-up frame is read from disk and encoded on the event loop, so
    # filling a whole window at once would stall live appends; acks and ticks refill the rest.
    pump_frames_max: int = 1
    request_id_window: int = 10_000
    waiters_max: int = 100_000
    waiters_per_w_max: int = 50_000
    suspend_on_slaves_dead: bool = False


@dataclass(frozen=True, slots=True)
class Term:
    """Which term this leader leads, as which node; `failover=False` is the fixed master (term 0)."""

    term: int = 0
    node_id: int = 0
    failover: bool = False
    epochs: Callable[[], Epochs] = tuple  # the local log's epoch table, read at each Hello


@dataclass(frozen=True, slots=True)
class Proposal:
    token: int
    first_index: int
    last_index: int
    duplicate: bool


@dataclass(frozen=True, slots=True)
class PeerStatus:
    peer: PeerId
    health: HealthState
    mode: LinkMode
    acked_index: int
    last_heard_ms_ago: int | None
    refusal: str


class Leader:
    def __init__(
        self,
        peers: Sequence[PeerId],
        *,
        log_id: str,
        last_index: int,
        limits: LeaderLimits,
        read_entries: ReadEntries,
        now_ms: int,
        recent_request_ids: Iterable[tuple[str, int, int]] = (),
        term: Term | None = None,
    ) -> None:
        """`last_index` is the recovered log's end; a recovered log is synced."""
        self._term = term or Term()
        self._log_id = log_id
        self._limits = limits
        self._read = read_entries
        self._now_ms = now_ms
        self._last_index = last_index
        self._synced_index = last_index
        self._written_index = last_index  # On the leader's disk, maybe not yet synced.
        self._progress = {peer: Progress(peer) for peer in peers}
        self._waiters = ConcernWaiters(len(peers) + 1)
        self._next_token = 1
        self._outputs: list[Output] = []
        self._request_ids: OrderedDict[str, tuple[int, int]] = OrderedDict()
        for request_id, first, last in recent_request_ids:
            self._remember(request_id, first, last)
        # With failover, the ids found in a log another leader wrote (checked for cut batches above).
        self._inherited_request_ids = set(self._request_ids) if self._term.failover else set()
        self._read_only = not self._quorum()
        self._commit_index = 0
        # Only entries at or after this index are of this term; a majority must hold one before
        # anything is committed. The fixed master's whole log is "its term".
        self._term_start = 0
        if self._term.failover:
            self._term_start = last_index + 1
            noop = Entry(self._term_start, b"", noop_request_id(self._term.term), self._term.term)
            self._last_index = self._term_start
            self._outputs.append(Persist((noop,)))

    # ----------------------------------------------------------------- queries

    @property
    def last_index(self) -> int:
        return self._last_index

    @property
    def synced_index(self) -> int:
        return self._synced_index

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def term(self) -> int:
        return self._term.term

    @property
    def commit_index(self) -> int:
        """The highest index a majority holds under this leader's commit rule (0 until one does)."""
        return self._commit_index

    @property
    def w_max(self) -> int:
        return len(self._progress) + 1

    def alive(self) -> int:
        return 1 + sum(p.health is not HealthState.UNHEALTHY for p in self._progress.values())

    def quorum_needed(self) -> int:
        return quorum_needed(len(self._progress))

    def waiting(self) -> int:
        return len(self._waiters)

    def peer_status(self) -> list[PeerStatus]:
        return [
            PeerStatus(
                peer=p.peer,
                health=p.health,
                mode=p.mode,
                acked_index=p.acked_index,
                last_heard_ms_ago=None if p.last_heard_ms is None else self._now_ms - p.last_heard_ms,
                refusal=p.refusal,
            )
            for p in self._progress.values()
        ]

    def take_outputs(self) -> list[Output]:
        outputs, self._outputs = self._outputs, []
        return outputs

    # ------------------------------------------------------------------ inputs

    def propose(self, payloads: Sequence[bytes], w: int, request_id: str | None = None) -> Proposal:
        """Append payloads as consecutive entries and wait for `w` copies of the last one.

        A request_id seen before appends nothing: the caller waits on the original entries.
        """
        if not 1 <= w <= self.w_max:
            raise InvalidWriteConcern(f"w must be an integer in 1..{self.w_max}, got {w}")
        if not payloads:
            raise InvalidRequest("nothing to append")
        if request_id is not None and request_id in self._request_ids:
            first, last = self._request_ids[request_id]
            if last - first + 1 < len(payloads) and request_id in self._inherited_request_ids:
                # With failover a node may hold only the head of a batch when it wins (the old leader
                # sent the rest later, or never): answering "duplicate" would acknowledge payloads that
                # are in no log. The head stays; the client learns the request was cut. Only ids this
                # leader inherited from the log can be cut: its own batches are whole.
                raise InvalidRequest(
                    f"request_id {request_id} holds only {last - first + 1} of its {len(payloads)} entries "
                    f"({first}..{last}): a failover cut the batch and the rest was not appended"
                )
            return self._wait(first, last, w, duplicate=True)
        if self._read_only:
            raise ReadOnly(self.alive(), self.quorum_needed(), self.w_max)
        if self._limits.suspend_on_slaves_dead and w - 1 > (secondaries_alive := self.alive() - 1):
            raise NotEnoughReplicas(
                f"w={w} needs {w - 1} secondaries but only {secondaries_alive} are alive (suspend_on_slaves_dead is on)"
            )
        if len(self._waiters) >= self._limits.waiters_max:
            raise Overloaded(f"too many appends waiting ({self._limits.waiters_max}, waiters_max)")
        if self._waiters.waiting(w) >= self._limits.waiters_per_w_max:
            limit = self._limits.waiters_per_w_max
            raise Overloaded(f"too many appends waiting for w={w} ({limit}, waiters_per_w_max)")
        first, term = self._last_index + 1, self._term.term
        entries = tuple(Entry(first + offset, payload, request_id, term) for offset, payload in enumerate(payloads))
        self._last_index = entries[-1].index
        self._outputs.append(Persist(entries))
        if request_id is not None:
            self._remember(request_id, first, self._last_index)
        return self._wait(first, self._last_index, w, duplicate=False)

    def abort_unwritten(self, written_index: int, reason: str) -> None:
        """The shell could not write entries after `written_index`: forget them and fail their waiters.

        Only written entries are ever sent (and synced), so no node holds anything past `written_index`:
        the indexes are free to be assigned again, and the refused requests get `Reject` with the reason.
        (Entries written and sent whose fsync then fails never get here: the shell stops the node.)
        """
        if not self._written_index <= written_index <= self._last_index:
            raise AssertionError(
                f"abort_unwritten({written_index}) outside written {self._written_index}..last {self._last_index}"
            )
        self._last_index = written_index
        for token in self._waiters.pop_above(written_index):
            self._outputs.append(Reject(token, reason))
        for request_id, (_, last) in list(self._request_ids.items()):
            if last > written_index:
                del self._request_ids[request_id]

    def step_down(self, reason: str) -> None:
        """This node no longer leads: every waiter fails with `reason` (its entry may or may not survive)."""
        for token in self._waiters.pop_above(-1):
            self._outputs.append(Reject(token, reason))

    def on_written(self, index: int) -> None:
        """The shell wrote 1..index to the store (not yet synced): with failover they may be sent."""
        if index > self._last_index:
            raise AssertionError(f"written {index} beyond last index {self._last_index}")
        if index <= self._written_index:
            return
        self._written_index = index
        if self._term.failover:
            for progress in self._progress.values():
                self._pump(progress)

    def on_synced(self, index: int) -> None:
        if index > self._last_index:
            raise AssertionError(f"synced {index} beyond last index {self._last_index}")
        if index <= self._synced_index:
            return
        self._synced_index = index
        self._written_index = max(self._written_index, index)
        self._release()
        for progress in self._progress.values():
            self._pump(progress)

    def on_connected(self, peer: PeerId, now_ms: int) -> None:
        self._now_ms = now_ms
        progress = self._progress[peer]
        progress.mode = LinkMode.AWAIT_HELLO
        progress.inflight.clear()
        # Heard only once its Hello is accepted, and a refusal stands until then: a refused secondary
        # that redials must not show Healthy (and count for quorum) between the dial and its refusal.
        progress.last_heard_ms = None
        progress.last_sent_ms = now_ms
        self._refresh_health(now_ms)

    def on_disconnected(self, peer: PeerId, now_ms: int) -> None:
        self._now_ms = now_ms
        progress = self._progress[peer]
        if progress.mode is LinkMode.REFUSED:
            progress.inflight.clear()
            progress.last_heard_ms = None
        else:
            progress.link_lost()
        self._refresh_health(now_ms)

    def on_message(self, peer: PeerId, message: Message, now_ms: int) -> None:
        self._now_ms = now_ms
        progress = self._progress[peer]
        if not progress.connected:
            return  # A frame that raced the disconnect: the next Hello will say the truth.
        match message:
            case Hello():
                self._on_hello(progress, message)
            case Ack(contiguous_index=index):
                self._on_ack(progress, index)
            case Error(code=code, detail=detail, term=term):
                if code == STALE_TERM and term > self._term.term:
                    self._outputs.append(HigherTerm(term))
                self._outputs.append(Disconnect(peer, f"secondary reported {code}: {detail}"))
            case _:
                self._protocol_error(progress, f"unexpected {type(message).__name__} from a secondary")
        if progress.mode is LinkMode.STREAM:  # Heard: its accepted Hello, and every frame after it.
            progress.last_heard_ms = now_ms
        self._refresh_health(now_ms)

    def tick(self, now_ms: int) -> None:
        """Heartbeats on idle links, health and read-only re-evaluation."""
        self._now_ms = now_ms
        for progress in self._progress.values():
            idle_ms = now_ms - progress.last_sent_ms
            if progress.mode is LinkMode.STREAM and idle_ms >= self._limits.heartbeat_interval_ms:
                heartbeat = Heartbeat(self._send_limit, self._term.term, self._commit_index)
                self._outputs.append(Send(progress.peer, heartbeat))
                progress.last_sent_ms = now_ms
            self._pump(progress)
        self._refresh_health(now_ms)

    # ----------------------------------------------------------------- helpers

    def _wait(self, first: int, last: int, w: int, *, duplicate: bool) -> Proposal:
        token = self._next_token
        self._next_token += 1
        self._waiters.add(w, last, token)
        self._release()
        return Proposal(token, first, last, duplicate)

    def _remember(self, request_id: str, first: int, last: int) -> None:
        self._request_ids[request_id] = (first, last)
        while len(self._request_ids) > self._limits.request_id_window:
            self._request_ids.popitem(last=False)

    @property
    def _send_limit(self) -> int:
        """The last entry that may be sent: written with failover (followers ahead of our disk are settled
        by the next leader's log), synced for the fixed master (its secondaries are never truncated)."""
        return self._written_index if self._term.failover else self._synced_index

    def _own_durable(self) -> int:
        """The leader's own copy counts for `w` (and for the majority) only up to its synced index."""
        return self._synced_index

    def _durable(self) -> list[int]:
        return [self._own_durable(), *(p.acked_index for p in self._progress.values())]

    def _release(self) -> None:
        durable = self._durable()
        own = self._own_durable()
        majority = self.quorum_needed()
        # Followers may hold entries our disk does not yet: what we commit and release stays within our
        # own synced log, so `w=1` still means "on the leader's disk" and committed reads show only it.
        held_by_majority = min(satisfied_index(durable, majority), own)
        if held_by_majority >= self._term_start and held_by_majority > self._commit_index:
            self._commit_index = held_by_majority
        ready = self._waiters.pop_satisfied(durable, majority=majority, commit_index=self._commit_index, own_index=own)
        for token, index in ready:
            self._outputs.append(Release(token, index))

    def _on_hello(self, progress: Progress, hello: Hello) -> None:
        if progress.mode is not LinkMode.AWAIT_HELLO:
            self._protocol_error(progress, "Hello in the middle of a stream")
            return
        if hello.term > self._term.term and self._term.failover:
            self._outputs.append(HigherTerm(hello.term))
            self._outputs.append(Disconnect(progress.peer, f"follower is in term {hello.term}, we lead {self.term}"))
            return
        refusal = self._refusal(hello)
        if refusal:
            progress.refuse(refusal)
            self._outputs.append(Send(progress.peer, Error("refused", refusal)))
            self._outputs.append(Disconnect(progress.peer, refusal))
            self._release()
            return
        match = self._match(hello)
        progress.start_stream(match)
        welcome = Welcome(
            self._log_id, self._send_limit, self._term.term, self._term.node_id, match, self._commit_index
        )
        self._outputs.append(Send(progress.peer, welcome))
        if match < self._send_limit:
            progress.catch_up_from = match + 1
            progress.catch_up_to = self._send_limit
            self._outputs.append(CatchUp(progress.peer, match + 1, self._send_limit, done=False))
        self._release()
        self._pump(progress)

    def _match(self, hello: Hello) -> int:
        """Where the follower's log stops agreeing with ours: it keeps 1..match and drops the rest."""
        if not self._term.failover:
            return hello.contiguous_index  # The fixed master refused any longer log already.
        ours = match_index(self._term.epochs(), self._last_index, hello.epochs, hello.contiguous_index)
        return min(ours, self._send_limit)  # Streaming resumes after the match, from our written log.

    def _refusal(self, hello: Hello) -> str:
        if hello.protocol_version != PROTOCOL_VERSION:
            return (
                f"replication protocol version mismatch: the secondary speaks version {hello.protocol_version}, "
                f"this master speaks version {PROTOCOL_VERSION}; run the same replog release on every node"
            )
        if hello.log_id and hello.log_id != self._log_id:
            return f"secondary holds log {hello.log_id}, not this master's log {self._log_id}"
        if hello.contiguous_index > self._synced_index and not self._term.failover:
            # The master sends only synced entries, so a longer log comes from another history.
            return (
                f"secondary holds entries 1..{hello.contiguous_index} but the master has only "
                f"1..{self._synced_index}: it belongs to another history"
            )
        return ""

    def _on_ack(self, progress: Progress, index: int) -> None:
        if progress.mode is not LinkMode.STREAM:
            self._protocol_error(progress, "Ack before Hello")
            return
        if index > progress.next_index - 1:
            self._protocol_error(progress, f"Ack({index}) beyond what was sent ({progress.next_index - 1})")
            return
        progress.acked(index)
        if progress.catch_up_to and progress.acked_index >= progress.catch_up_to:
            self._outputs.append(CatchUp(progress.peer, progress.catch_up_from, progress.catch_up_to, done=True))
            progress.catch_up_to = 0
        self._release()
        self._pump(progress)

    def _pump(self, progress: Progress) -> None:
        """Send batches while there is sendable data the peer lacks and the window has room."""
        limits = self._limits
        limit = self._send_limit
        for _ in range(limits.pump_frames_max):
            if not (
                progress.mode is LinkMode.STREAM
                and progress.next_index <= limit
                and progress.window_open(limits.inflight_frames_max)
            ):
                return
            hi = min(limit, progress.next_index + limits.batch_entries_max - 1)
            batch = self._read(progress.next_index, hi, limits.batch_bytes_max)
            first, _, last, _ = batch_bounds(batch) if batch else (0, 0, 0, 0)
            if first != progress.next_index:
                raise AssertionError(f"log read at {progress.next_index} returned a batch from {first}")
            entries = batch if isinstance(batch, RecordRun) else tuple(batch)
            self._outputs.append(Send(progress.peer, Append(first - 1, entries, self._term.term, self._commit_index)))
            progress.sent(last, self._now_ms)

    def _protocol_error(self, progress: Progress, detail: str) -> None:
        self._outputs.append(Send(progress.peer, Error("protocol", detail)))
        self._outputs.append(Disconnect(progress.peer, f"protocol error: {detail}"))

    def _refresh_health(self, now_ms: int) -> None:
        for progress in self._progress.values():
            silence = None
            if progress.connected and progress.last_heard_ms is not None:
                silence = now_ms - progress.last_heard_ms
            health = classify(silence, self._limits.thresholds)
            if health is not progress.health:
                self._outputs.append(HealthChanged(progress.peer, progress.health, health))
                progress.health = health
        read_only = not self._quorum()
        if read_only != self._read_only:
            self._read_only = read_only
            self._outputs.append(ReadOnlyChanged(read_only, self.alive(), self.quorum_needed()))

    def _quorum(self) -> bool:
        return self.alive() >= self.quorum_needed()
