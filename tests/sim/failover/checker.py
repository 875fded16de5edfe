"""The failover invariants, checked after every event, and the final checks after the heal.

- Elections: at most one leader per term (recorded when each `BecameLeader` is applied); a node's
  term never goes down, across crashes too (the hard state is compared with the last one seen).
- Logs: per node, no payload twice, a request_id's entries one contiguous batch, every payload a
  client's (or a leader's no-op).
- Commit: a leader's commit index is held, with an entry of its own term, by a majority's disks
  (Raft's rule, which rules out Figure 8); each running core's commit index never goes down; a node
  never truncates at or below the highest commit index it has shown; every node's log up to its
  commit index agrees with one cluster-wide committed log (so logs agree up to each node's commit
  index, and committed reads never change what they showed).
- Releases: at release the entry is on the leader's disk and identical on >= w nodes' synced logs.
  A released `w >= majority` entry is in every later leader's log at its index and is never
  rolled back; a retried request_id after such a release is answered with the same index.
- Dedup: a duplicate proposal points at entries holding exactly the request's payloads; a fresh
  one is made only by a leader whose log does not hold that request_id.
- Finally: every acknowledged append is in the final log exactly once, or in a rollback record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

from replog.core.election import Role
from replog.core.leader import Proposal
from replog.types import Entry, is_internal

from ..invariants import InvariantViolation

if TYPE_CHECKING:
    from .clients import Answer, Request
    from .node import SimNode
    from .world import FailoverWorld

__all__ = ["FailoverChecker"]


def fail(message: str) -> NoReturn:
    raise InvariantViolation(message)


def _key(entry: Entry) -> bytes:
    """A client payload names itself; a no-op is named by its term's request_id."""
    return (entry.request_id or "").encode() if is_internal(entry) else entry.payload


@dataclass(slots=True)
class _Mirror:
    """What the checker has verified of one node's log, so each event costs only what changed."""

    entries: list[Entry] = field(default_factory=list)
    index_of: dict[bytes, int] = field(default_factory=dict)
    span_of: dict[str, tuple[int, int]] = field(default_factory=dict)
    version: int = -1


class FailoverChecker:
    def __init__(self, world: FailoverWorld) -> None:
        self._world = world
        n = world.config.nodes
        self.majority = n // 2 + 1
        self.leader_of_term: dict[int, int] = {}
        self._votes: dict[tuple[int, int], int] = {}  # (voter, term) -> candidate, across crashes
        self._terms = [0] * n
        self._mirrors = [_Mirror() for _ in range(n)]
        self.committed: list[Entry] = []  # The cluster's committed log, as long as any node has shown.
        self._shown = [0] * n  # Highest commit index each node has shown (committed reads).
        self._core: list[tuple[object | None, int]] = [(None, 0)] * n  # (running core, its commit index)
        self.majority_released: dict[int, Entry] = {}  # index -> the entry released there with w >= majority
        self._answered: dict[str, tuple[int, int, int]] = {}  # request_id -> (first, last, w) of an ok
        self.acknowledged: list[tuple[Request, Answer]] = []
        self.commit_rule = True  # A scenario turns it off to watch a commit-rule bug lose a write end to end.

    # ------------------------------------------------------------- per event

    def after_event(self) -> None:
        """Re-check only what the event could have changed: disks whose version moved, touched nodes."""
        nodes = self._world.nodes
        for node in nodes:
            mirror = self._mirrors[node.id]
            if node.disk.version != mirror.version:
                mirror.version = node.disk.version
                self._check_log(node, mirror)
        if any(node.touched for node in nodes):
            for node in nodes:  # A leader's commit rule reads the other nodes' disks: check every one.
                node.touched = False
                if node.election is not None:
                    self._check_commit(node)
                    self._check_leader(node)

    def _check_log(self, node: SimNode, mirror: _Mirror) -> None:
        disk = node.disk
        entries = mirror.entries
        keep = min(len(entries), disk.last_index)
        if keep and disk.entries(keep, keep)[0] != entries[keep - 1]:
            keep = 0  # Cannot happen without a truncation, which forgets the tail first; recheck all.
        if keep < len(entries):
            for entry in reversed(entries[keep:]):
                del mirror.index_of[_key(entry)]
                if entry.request_id is not None:
                    first, _ = mirror.span_of[entry.request_id]
                    if first > entry.index - 1:
                        del mirror.span_of[entry.request_id]
                    else:
                        mirror.span_of[entry.request_id] = (first, entry.index - 1)
            del entries[keep:]
        if disk.last_index <= keep:
            return
        submitted = self._world.clients.submitted
        for entry in disk.entries(keep + 1):
            payload = _key(entry)
            if not is_internal(entry) and payload not in submitted:
                fail(f"{node.name} holds {payload!r} at {entry.index}, which no client submitted")
            if payload in mirror.index_of:
                fail(f"{node.name}: {payload!r} appears twice, at {mirror.index_of[payload]} and {entry.index}")
            if entry.request_id is not None:
                span = mirror.span_of.get(entry.request_id)
                if span is not None and span[1] != entry.index - 1:
                    fail(f"{node.name}: request_id {entry.request_id} at {span} and again at {entry.index}")
                mirror.span_of[entry.request_id] = (entry.index if span is None else span[0], entry.index)
            mirror.index_of[payload] = entry.index
            entries.append(entry)

    def _check_commit(self, node: SimNode) -> None:
        core = node.leader if node.leader is not None else node.follower
        commit = node.commit_index
        previous_core, previous = self._core[node.id]
        if core is previous_core and commit < previous:
            fail(f"{node.name}'s commit index went down from {previous} to {commit}")
        self._core[node.id] = (core, commit)
        shown = self._shown[node.id]
        if commit <= shown:
            return
        if commit > node.disk.synced_index:
            fail(f"{node.name} shows 1..{commit} as committed but has synced only 1..{node.disk.synced_index}")
        committed = self.committed
        for entry in node.disk.entries(shown + 1, commit):
            if entry.index <= len(committed):
                if committed[entry.index - 1] != entry:
                    fail(
                        f"logs disagree below the commit index: {node.name} has {entry} at {entry.index}, "
                        f"another node committed {committed[entry.index - 1]}"
                    )
            else:
                committed.append(entry)
        self._shown[node.id] = commit

    def _check_leader(self, node: SimNode) -> None:
        leader = node.leader
        if leader is None:
            return
        disk = node.disk
        queued = node.committer.pending
        if (leader.last_index, leader.synced_index) != (disk.last_index + queued, disk.synced_index):
            fail(
                f"{node.name}: leader says last {leader.last_index} synced {leader.synced_index}, "
                f"its disk {disk.last_index} (+{queued} queued) / {disk.synced_index}"
            )
        if leader.waiting() != len(node.waiting):
            fail(f"{node.name}: leader has {leader.waiting()} waiters, the shell {len(node.waiting)} parked clients")
        commit = leader.commit_index
        if commit and self.commit_rule:
            # Raft's commit rule, checked on the disks: a majority holds this leader's log up to the commit
            # index *and* up to an entry of its own term (its no-op). Entries of one term at one index are
            # the same entry (log matching), so comparing terms suffices.
            upto = max(commit, node.noop_index)
            holders = sum(
                n.disk.synced_index >= upto and n.disk.term_at(upto) == leader.term for n in self._world.nodes
            )
            if holders < self.majority:
                fail(
                    f"{node.name} (term {leader.term}) commits 1..{commit} while only {holders} node(s) hold its log "
                    f"up to {upto}, the first entry of its term being {node.noop_index}"
                )

    # ----------------------------------------------------------- elections

    def on_hard_state(self, node: SimNode, term: int, voted_for: int | None) -> None:
        if term < node.disk.hard_state[0]:
            fail(f"{node.name} persists term {term} after {node.disk.hard_state[0]}")
        if voted_for is not None:
            earlier = self._votes.setdefault((node.id, term), voted_for)
            if earlier != voted_for:
                fail(f"{node.name} votes twice in term {term}: for n{earlier}, then for n{voted_for}")

    def on_term(self, node: SimNode) -> None:
        election = node.election
        assert election is not None
        if election.term < self._terms[node.id]:
            fail(f"{node.name}'s term went down from {self._terms[node.id]} to {election.term}")
        self._terms[node.id] = election.term

    def on_became_leader(self, node: SimNode, term: int) -> None:
        earlier = self.leader_of_term.setdefault(term, node.id)
        if earlier != node.id:
            fail(f"two leaders in term {term}: n{earlier} and {node.name}")
        if node.disk.hard_state != (term, node.id):
            fail(f"{node.name} leads term {term} with hard state {node.disk.hard_state}")

    def on_leader_built(self, node: SimNode) -> None:
        """Every entry released with w >= majority so far is in the new leader's log, at its index."""
        disk = node.disk
        for index, entry in self.majority_released.items():
            held = disk.entries(index, index) if index <= disk.last_index else []
            if held != [entry]:
                fail(
                    f"{node.name} leads term {node.lead_term} without released entry {index} ({entry.payload!r}, "
                    f"w >= majority): it holds {held[:1]}"
                )

    def after_crash(self, node: SimNode) -> None:
        if node.disk.synced_index < self._shown[node.id]:
            fail(f"{node.name} lost committed entries in a crash: synced {node.disk.synced_index}")

    def on_truncate(self, node: SimNode, after: int, dropped: list[Entry]) -> None:
        if after < self._shown[node.id]:
            fail(f"{node.name} truncates after {after}, below the commit index it showed ({self._shown[node.id]})")
        for entry in dropped:
            if self.majority_released.get(entry.index) == entry:
                fail(f"{node.name} rolls back {entry.index} ({entry.payload!r}), released with w >= majority")

    # --------------------------------------------------------- client side

    def on_proposal(self, node: SimNode, request: Request, proposal: Proposal) -> None:
        span = (proposal.first_index, proposal.last_index)
        rid = request.request_id
        if proposal.duplicate:
            held = node.disk.entries(*span)
            if [e.payload for e in held] != list(request.payloads) or any(e.request_id != rid for e in held):
                fail(f"{node.name}: duplicate {rid} points at {span} holding {held}, not {request.payloads}")
        elif rid is not None and rid in self._mirrors[node.id].span_of:
            fail(
                f"{node.name} appends {rid} again at {span}: its log holds it at {self._mirrors[node.id].span_of[rid]}"
            )

    def on_release(self, node: SimNode, request: Request, proposal: Proposal, index: int) -> None:
        disk = node.disk
        if index != proposal.last_index or disk.synced_index < index:
            fail(f"{node.name} released {index} for {proposal} with its log synced to {disk.synced_index}")
        entries = disk.entries(proposal.first_index, index)
        if [e.payload for e in entries] != list(request.payloads):
            fail(f"{node.name} released {proposal.first_index}..{index} holding {entries}, not {request.payloads}")
        last = entries[-1]
        holders = sum(
            n.disk.synced_index >= index and n.disk.entries(index, index) == [last] for n in self._world.nodes
        )
        if holders < request.w:
            fail(f"{node.name} released {index} for w={request.w} while only {holders} node(s) hold it durably")
        rid = request.request_id
        if rid is not None and rid in self._answered:
            first, last_index, w = self._answered[rid]
            if w >= self.majority and (first, last_index) != (proposal.first_index, index):
                fail(f"{rid} was released at {first}..{last_index} (w={w}), a retry at {proposal.first_index}..{index}")
        if request.w >= self.majority:
            for entry in entries:
                earlier = self.majority_released.setdefault(entry.index, entry)
                if earlier != entry:
                    fail(f"two entries released with w >= majority at {entry.index}: {earlier} and {entry}")
        self._world.stats[f"released w={request.w}"] += 1

    def on_ok(self, request: Request, answer: Answer) -> None:
        if request.request_id is not None:
            self._answered.setdefault(request.request_id, (answer.first_index, answer.index, request.w))
        self.acknowledged.append((request, answer))

    # ----------------------------------------------------------------- final

    def after_liveness(self) -> None:
        world = self._world
        leader = world.leaders()[0]
        final = leader.disk.entries()
        for node in world.nodes:
            if node.disk.entries() != final:
                fail(f"{node.name}'s log differs from the leader's after the heal")
            if node.waiting:
                fail(f"{node.name} still has {len(node.waiting)} clients waiting after the heal")
        if final[: len(self.committed)] != self.committed:
            fail("the final log does not start with the committed log")
        index_of = {e.payload: e.index for e in final}
        rolled_back = {e.payload for node in world.nodes for e in node.rollback}
        for request, answer in self.acknowledged:
            for offset, payload in enumerate(request.payloads):
                index = index_of.get(payload)
                if index is None:
                    if payload not in rolled_back:
                        fail(f"acknowledged {request} ({payload!r}) is in neither the final log nor a rollback file")
                    world.stats["acknowledged, then rolled back"] += 1
                elif request.w >= self.majority and index != answer.first_index + offset:
                    fail(f"acknowledged {request} at {answer.first_index} (w={request.w}) ended at {index}")
        for node in world.nodes:
            e = node.election
            assert e is not None
            if node is not leader and e.role is Role.LEADER:
                fail(f"{node.name} also thinks it leads")
