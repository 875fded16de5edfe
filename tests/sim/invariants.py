"""Safety invariants, checked after every simulated event (LogCabin style), plus the final checks.

The checker looks at the nodes' disks (the truth) and the core's public state and raises
`InvariantViolation` on the first difference. Per event it does work proportional to what
changed (new log entries, peers), so it can run after every one of thousands of events.

- Logs: the master's log is numbered 1..n with no hole; no payload appears twice; every payload
  was submitted by a client; a request_id's entries form one contiguous batch; every secondary's
  log (even its unsynced tail) is a prefix of the master's durable log; nothing synced is lost.
- Releases: at release time the entry is durable on the master and on at least w nodes, holds the
  client's payloads, and per w new (non-duplicate) proposals are released in index order. After
  every later crash each released entry is still there, unchanged, on at least w nodes.
- Dedup: a retried request_id gets the original indexes and never a second entry.
- Leader: its synced/last index match its disk; acked_index never exceeds the secondary's real
  synced index; a connected peer has a live link; after every tick each peer's health equals
  `classify(now - last_heard)` (measured by the sim, not by the core; a link not yet heard from
  is Unhealthy) and read-only is exactly "alive < quorum_needed".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from replog.core.health import classify, quorum_needed
from replog.core.leader import Proposal
from replog.core.progress import LinkMode
from replog.types import HealthState

if TYPE_CHECKING:
    from .workload import ClientRequest
    from .world import World

__all__ = ["Checker", "InvariantViolation", "ReleaseRecord"]

_CONNECTED = (LinkMode.AWAIT_HELLO, LinkMode.STREAM)


class InvariantViolation(AssertionError):
    """A safety or liveness property of replog does not hold in this run."""


@dataclass(frozen=True, slots=True)
class ReleaseRecord:
    index: int
    w: int
    payload: bytes
    at_ms: int


class Checker:
    def __init__(self, world: World) -> None:
        self._world = world
        self._payloads: list[bytes] = []  # The master's log as checked so far, index i at [i - 1].
        self._request_ids: list[str | None] = []
        self._index_of: dict[bytes, int] = {}
        self._span_of: dict[str, tuple[int, int]] = {}  # request_id -> its batch in the master's log
        self._durable = 0  # Highest master index ever synced: never lost.
        self._secondary_checked: list[int] = [0] * world.config.secondaries
        self._master_version = -1
        self._secondary_versions: list[int] = [-1] * world.config.secondaries
        self.releases: list[ReleaseRecord] = []
        self._released_by_w: dict[int, int] = {}
        self._answered_span: dict[str, tuple[int, int]] = {}
        self.checks = 0

    # ------------------------------------------------------------- per event

    def after_event(self) -> None:
        """Re-check only what the event could have changed: disks whose version moved, a touched leader."""
        self.checks += 1
        world = self._world
        master_moved = world.master.disk.version != self._master_version
        if master_moved:
            self._master_version = world.master.disk.version
            self._check_master_log()
        for secondary in world.secondaries:
            # The master's durable log only grows, so an unchanged secondary disk stays a prefix of it.
            if secondary.disk.version != self._secondary_versions[secondary.node_id]:
                self._secondary_versions[secondary.node_id] = secondary.disk.version
                self._check_secondary(secondary.node_id)
        if world.master.touched:
            world.master.touched = False
            self._check_leader()

    def _check_master_log(self) -> None:
        disk = self._world.master.disk
        if disk.synced_index < self._durable:
            fail(f"the master's synced index fell from {self._durable} to {disk.synced_index}")
        if disk.last_index < len(self._payloads):
            self._forget_master_tail(disk.last_index)
        if disk.last_index > len(self._payloads):
            for entry in disk.entries(len(self._payloads) + 1):
                self._check_new_master_entry(entry.index, entry.payload, entry.request_id)
        self._durable = disk.synced_index

    def _forget_master_tail(self, last_index: int) -> None:
        if last_index < self._durable:
            fail(f"the master lost synced entries: log ends at {last_index}, {self._durable} were synced")
        for index in range(len(self._payloads), last_index, -1):
            del self._index_of[self._payloads[index - 1]]
            request_id = self._request_ids[index - 1]
            if request_id is not None:
                first, _ = self._span_of[request_id]
                if first >= index:
                    del self._span_of[request_id]
                else:
                    self._span_of[request_id] = (first, index - 1)
        del self._payloads[last_index:]
        del self._request_ids[last_index:]

    def _check_new_master_entry(self, index: int, payload: bytes, request_id: str | None) -> None:
        expected = len(self._payloads) + 1
        if index != expected:
            fail(f"master log: index {index} where {expected} belongs (a hole)")
        if payload in self._index_of:
            fail(f"payload {payload!r} appears twice in the master's log: at {self._index_of[payload]} and {index}")
        if payload not in self._world.workload.submitted:
            fail(f"master log holds {payload!r} at {index}, which no client submitted")
        if request_id is not None:
            span = self._span_of.get(request_id)
            if span is not None and span[1] != index - 1:
                fail(f"request_id {request_id} created a second entry: {span} and again at {index}")
            self._span_of[request_id] = (index if span is None else span[0], index)
        self._index_of[payload] = index
        self._payloads.append(payload)
        self._request_ids.append(request_id)

    def _check_secondary(self, node_id: int) -> None:
        world = self._world
        secondary = world.secondaries[node_id]
        disk = secondary.disk
        master_durable = world.master.disk.synced_index
        if disk.last_index > master_durable:
            fail(f"{secondary.name} holds 1..{disk.last_index}, beyond the master's durable 1..{master_durable}")
        checked = min(self._secondary_checked[node_id], disk.last_index)
        if disk.last_index > checked:
            for entry in disk.entries(checked + 1):
                if entry.payload != self._payloads[entry.index - 1]:
                    fail(
                        f"{secondary.name}'s log is not a prefix of the master's: at {entry.index} it holds "
                        f"{entry.payload!r}, the master {self._payloads[entry.index - 1]!r}"
                    )
        self._secondary_checked[node_id] = disk.last_index
        follower = secondary.follower
        queued = secondary.committer.pending
        if follower is not None and (follower.appended_index, follower.synced_index) != (
            disk.last_index + queued,
            disk.synced_index,
        ):
            fail(
                f"{secondary.name}: follower says appended {follower.appended_index} synced "
                f"{follower.synced_index}, its disk {disk.last_index} (+{queued} queued) / {disk.synced_index}"
            )

    def _check_leader(self) -> None:
        master = self._world.master
        leader = master.leader
        if leader is None:
            return
        disk = master.disk
        queued = master.committer.pending
        if (leader.last_index, leader.synced_index) != (disk.last_index + queued, disk.synced_index):
            fail(
                f"leader says last {leader.last_index} synced {leader.synced_index}, "
                f"its disk {disk.last_index} (+{queued} queued) / {disk.synced_index}"
            )
        if leader.waiting() != len(master.waiting):
            fail(f"leader has {leader.waiting()} waiters, the shell {len(master.waiting)} parked clients")
        for status in leader.peer_status():
            secondary = self._world.secondaries[status.peer]
            if status.acked_index > secondary.disk.synced_index:
                fail(
                    f"leader counts s{status.peer} as holding 1..{status.acked_index} but its disk has synced "
                    f"only 1..{secondary.disk.synced_index}"
                )
            if status.mode in _CONNECTED and master.links[status.peer].conn is None:
                fail(f"leader thinks s{status.peer} is connected ({status.mode.value}) but its link is down")
        if leader.read_only != (leader.alive() < leader.quorum_needed()):
            fail(f"read_only={leader.read_only} with {leader.alive()} alive of {leader.quorum_needed()} needed")

    # ------------------------------------------------------------- per tick

    def after_tick(self) -> None:
        """Right after a tick the leader has re-evaluated health: compare with the sim's own clock."""
        master = self._world.master
        leader = master.leader
        if leader is None:
            return
        thresholds = master.limits.thresholds
        alive = 1
        for status in leader.peer_status():
            link = master.links[status.peer]
            silence = None
            if status.mode in _CONNECTED:
                if link.conn is None:
                    fail(f"s{status.peer} is {status.mode.value} but the sim's link is down")
                if link.heard_ms is not None:
                    silence = master.leader_now_ms - link.heard_ms
            expected = classify(silence, thresholds)
            if status.health is not expected:
                fail(f"s{status.peer} is {status.health.value}, expected {expected.value} (silent {silence} ms)")
            alive += expected is not HealthState.UNHEALTHY
        should_be_read_only = alive < quorum_needed(len(master.links))
        if leader.read_only != should_be_read_only:
            fail(
                f"read_only is {leader.read_only} with {alive} nodes alive (quorum {quorum_needed(len(master.links))})"
            )

    # ------------------------------------------------------ proposals/releases

    def on_proposal(self, request: ClientRequest, proposal: Proposal) -> None:
        disk = self._world.master.disk
        span = (proposal.first_index, proposal.last_index)
        if request.request_id is not None and request.request_id in self._answered_span:
            original = self._answered_span[request.request_id]
            if not proposal.duplicate or span != original:
                fail(f"retry of {request.request_id} (answered {original}) got {proposal}")
        if proposal.duplicate:
            held = [e.payload for e in disk.entries(*span)]
            if held != list(request.payloads):
                fail(f"duplicate {request.request_id} points at {span} holding {held}, not {request.payloads}")

    def on_release(self, request: ClientRequest, proposal: Proposal, index: int) -> None:
        world = self._world
        disk = world.master.disk
        if index != proposal.last_index:
            fail(f"Release at {index} for a proposal ending at {proposal.last_index}")
        if disk.synced_index < index:
            fail(f"released {index} (w={request.w}) before the master synced it ({disk.synced_index})")
        held = [e.payload for e in disk.entries(proposal.first_index, proposal.last_index)]
        if held != list(request.payloads):
            fail(f"released {proposal.first_index}..{index} holds {held}, the client sent {request.payloads}")
        holders = self._holders(index)
        if holders < request.w:
            fail(f"released {index} for w={request.w} while only {holders} node(s) hold it durably")
        if not proposal.duplicate:
            previous = self._released_by_w.get(request.w, 0)
            if index <= previous:
                fail(f"w={request.w}: released {index} after already releasing {previous}")
            self._released_by_w[request.w] = index
        if request.request_id is not None:
            self._answered_span[request.request_id] = (proposal.first_index, index)
        world.stats[f"released w={request.w}"] += 1
        self.releases.append(ReleaseRecord(index, request.w, request.payloads[-1], world.now_ms))

    def on_reject(self, request: ClientRequest, proposal: Proposal) -> None:
        """A rejected proposal's entries were never written, so no node can hold them."""
        disk = self._world.master.disk
        if proposal.last_index <= disk.last_index:
            fail(
                f"rejected {request} at {proposal.first_index}..{proposal.last_index}, "
                f"but the log holds 1..{disk.last_index}"
            )

    def after_crash(self) -> None:
        """Released entries survive any crash: still in the master's log, unchanged, on >= w nodes."""
        disk = self._world.master.disk
        payloads = [e.payload for e in disk.entries(1, disk.synced_index)]
        for record in self.releases:
            if record.index > len(payloads) or payloads[record.index - 1] != record.payload:
                fail(f"released entry {record.index} ({record.payload!r}) is no longer in the master's durable log")
            if self._holders(record.index) < record.w:
                fail(f"released entry {record.index} (w={record.w}) is now on fewer than {record.w} nodes")

    def _holders(self, index: int) -> int:
        world = self._world
        return int(world.master.disk.synced_index >= index) + sum(
            s.disk.synced_index >= index for s in world.secondaries
        )

    # ----------------------------------------------------------------- final

    def after_liveness(self) -> None:
        """After the heal: every log equals the master's, nobody waits, every peer is Healthy."""
        world = self._world
        master = world.master
        leader = master.leader
        if leader is None:
            fail("the master is down after the heal")
        master_log = master.disk.entries()
        for secondary in world.secondaries:
            if secondary.disk.entries() != master_log:
                fail(f"{secondary.name} holds 1..{secondary.disk.last_index}, the master 1..{len(master_log)}")
        if leader.waiting() or master.waiting:
            fail(f"{leader.waiting()} writers still wait after the heal ({len(master.waiting)} parked clients)")
        unhealthy = [s for s in leader.peer_status() if s.health is not HealthState.HEALTHY]
        if unhealthy:
            fail(f"peers not Healthy after the heal: {unhealthy}")
        if leader.read_only:
            fail("the master is still read-only after the heal")
        self.after_crash()


def fail(message: str) -> NoReturn:
    raise InvariantViolation(message)
