"""The checker's rules for a failover run, where a leader can change and a deposed leader's entries can
be rolled back. Pure: it sees only the recorded history.

What replog promises with failover on (README, failover): an append acknowledged with w >= 2 survives
any failover exactly once at the index it was given; an acknowledged w = 1 append may be undone, but then
it is in some node's rollback file, at that index; a retried request_id is answered as a duplicate with
its original index if the entry survived, and is never stored twice. So:

- majority_ack_lost: an acknowledged w >= 2 append is not in the final log.
- majority_ack_moved: an answer (first or repeated) for an acknowledged w >= 2 append names an index other
  than the one it holds in the final log.
- w1_ack_vanished: an answer (200/201) for a w = 1 append names index i, and the message is neither at i in
  the final log nor at i in any node's rollback file: silently gone.
- request_id_twice: a retried or re-sent request_id's message is in the final log more than once.
- committed_shrank: a node's `GET /?committed=1` showed fewer entries than the same node showed before,
  with no restart of that node in between (a restarted process may have to relearn the commit index).
- committed_not_prefix: a committed read is not a prefix of the final log.
- leader_stalled: a node said it led a term for seconds without serving it (its /health had no peers:
  the election made it leader but its role change never completed). Liveness, not safety, but it is
  what turns one failover into a storm of elections.

The rules shared with the classic checker (final_logs_differ, duplicate_message, real_time_order among
the entries that survived, unknown_message, refused_but_present with 503 no longer a refusal) stay there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from replog.chaos.history import AppendRecord, FaultRecord, FinalRecord, ReadRecord, RollbackRecord, StallRecord
from replog.chaos.violation import Ref, Violation, ref

__all__ = ["FAILOVER_RULES", "acks_survive", "committed_reads", "retried_once", "stalled_leaders"]

FAILOVER_RULES = (
    "majority_ack_lost",
    "majority_ack_moved",
    "w1_ack_vanished",
    "request_id_twice",
    "committed_shrank",
    "committed_not_prefix",
    "leader_stalled",
)
ACK_STATUSES = (200, 201)
KILLS = ("kill_secondary", "kill_master", "kill_node", "kill_leader")


def _answers(append: AppendRecord) -> list[int]:
    """Every index a 200/201 named for this append, probes included, in order."""
    return [a.index for a in append.attempts if a.kind == "answer" and a.status in ACK_STATUSES and a.index is not None]


def acks_survive(
    appends: list[AppendRecord], reference: FinalRecord, rollbacks: list[RollbackRecord]
) -> Iterable[Violation]:
    where = reference.index_of()
    held = reference.at_index()
    rolled = {(r.index, r.msg) for r in rollbacks}
    for append in appends:
        indexes = _answers(append)
        if append.outcome != "ok" or not indexes:
            continue
        if append.w >= 2:
            if append.msg not in where:
                yield Violation(
                    "majority_ack_lost",
                    f"{append.msg!r} (request_id {append.request_id}, w={append.w}) was acknowledged with index "
                    f"{indexes[0]} by {append.node} at {append.complete:.3f}s but is not in {reference.node}'s "
                    f"final log" + (" (it is in a rollback file)" if (indexes[0], append.msg) in rolled else ""),
                    at=append.complete,
                    refs=(ref(append), ref(reference), *_rolled_refs(rollbacks, append.msg)),
                )
                continue
            moved = sorted({i for i in indexes if i != where[append.msg]})
            if moved:
                yield Violation(
                    "majority_ack_moved",
                    f"{append.msg!r} (request_id {append.request_id}, w={append.w}) was answered with index(es) "
                    f"{moved} but sits at {where[append.msg]} in {reference.node}'s final log",
                    at=append.complete,
                    refs=(ref(append), ref(reference)),
                )
            continue
        for index in indexes:
            if held.get(index) != append.msg and (index, append.msg) not in rolled:
                yield Violation(
                    "w1_ack_vanished",
                    f"{append.msg!r} (request_id {append.request_id}, w=1) was acknowledged with index {index} by "
                    f"{append.node}; the final log holds {held.get(index)!r} there and no rollback file holds it "
                    f"(final index: {where.get(append.msg)})",
                    at=append.complete,
                    refs=(ref(append), ref(reference), *_rolled_refs(rollbacks, append.msg)),
                )


def retried_once(appends: list[AppendRecord], finals: list[FinalRecord]) -> Iterable[Violation]:
    resent = {a.msg: a for a in appends if len(a.attempts) > 1}
    for final in finals:
        counts: dict[str, list[int]] = defaultdict(list)
        for msg, index in zip(final.log, final.indexes or range(1, len(final.log) + 1), strict=True):
            if msg in resent:
                counts[msg].append(index)
        for msg, indexes in counts.items():
            if len(indexes) > 1:
                append = resent[msg]
                yield Violation(
                    "request_id_twice",
                    f"request_id {append.request_id} ({len(append.attempts)} tries) is in {final.node}'s final log "
                    f"{len(indexes)} times, at {indexes}",
                    at=append.complete,
                    refs=(ref(append), ref(final)),
                )


def committed_reads(reads: list[ReadRecord], faults: list[FaultRecord], reference: FinalRecord) -> Iterable[Violation]:
    restarts: dict[str, list[float]] = defaultdict(list)
    for fault in faults:
        if fault.kind in KILLS and fault.error is None:
            restarts[str(fault.params.get("node", fault.target))].append(fault.start)
    last: dict[str, ReadRecord] = {}
    for read in sorted((r for r in reads if r.committed), key=lambda r: r.at):
        if read.log != reference.log[: len(read.log)]:
            yield Violation(
                "committed_not_prefix",
                f"a committed read of {read.node} at {read.at:.3f}s ({len(read.log)} entries) is not a prefix of "
                f"{reference.node}'s final log",
                at=read.at,
                refs=(ref(read), ref(reference)),
            )
        before = last.get(read.node)
        restarted = before is not None and any(before.at <= t <= read.at for t in restarts[read.node])
        if before is not None and not restarted and len(read.log) < len(before.log):
            yield Violation(
                "committed_shrank",
                f"{read.node}'s committed view went from {len(before.log)} entries at {before.at:.3f}s to "
                f"{len(read.log)} at {read.at:.3f}s without a restart",
                at=read.at,
                refs=(ref(before), ref(read)),
            )
        last[read.node] = read


def stalled_leaders(stalls: list[StallRecord]) -> Iterable[Violation]:
    for stall in stalls:
        yield Violation(
            "leader_stalled",
            f"{stall.node} said it led term {stall.term} from {stall.since:.3f}s to at least {stall.until:.3f}s "
            f"without serving it (no Leading: its role change never completed)",
            at=stall.since,
            refs=(ref(stall),),
        )


def _rolled_refs(rollbacks: list[RollbackRecord], msg: str) -> list[Ref]:
    """The rollback entries that hold this message: the evidence of where an undone append went."""
    return [ref(r) for r in rollbacks if r.msg == msg]
