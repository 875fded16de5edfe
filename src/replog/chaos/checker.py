"""Decide from a recorded history alone whether the cluster kept its promises.

Pure: no I/O, no clocks. It judges only what the clients were told and what the nodes showed, so
a violation here is a broken promise of replog, not of the harness. The rules:

- ack_missing: an acknowledged append (200/201) is absent from some node's final log.
- final_logs_differ: after healing and convergence every node must hold the same log.
- duplicate_message: no message appears twice in any log (final logs and reads during the run).
- read_not_prefix: everything a reader saw during the run is a prefix of the final log.
- real_time_order: if append A was answered before append B was sent, A's index < B's index.
- wrong_index: an acknowledged answer's index holds that very message in the final log (so a
  `duplicate: true` answer names the first copy's index); a 504's index holds it if it is present.
- duplicate_index: every answer for one request_id names the same index, and at most one of them
  says `duplicate: false` (a second one means it was appended twice).
- unknown_message: the final log holds nothing that no client sent.
- refused_but_present: an append refused on every try (connection refused, 4xx, 503, 507) is absent.
- node_unreadable: every node answers GET / at the end; the rules above judge the nodes that did.

A failover run (`meta.failover`) is judged by the rules in `failover_rules` instead of ack_missing,
wrong_index, duplicate_index and read_not_prefix, which assume a log that never loses an entry it showed:
there, a w = 1 acknowledgement may be undone (into a rollback file), an uncommitted entry a plain read
showed may be rolled back, and indexes are compared with the final log's own (a leader's no-op takes an
index that no read shows). real_time_order then only orders entries that survived at their index, and a
503 is no longer a refusal (a deposed leader's 503 may have kept the entry).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from replog.chaos.failover_rules import (
    FAILOVER_RULES,
    acks_survive,
    committed_reads,
    retried_once,
    stalled_leaders,
)
from replog.chaos.history import AppendRecord, FinalRecord, History, ReadRecord
from replog.chaos.violation import Violation, ref

__all__ = ["RULES", "Violation", "check"]

RULES = (
    "no_final_logs",
    "ack_missing",
    "final_logs_differ",
    "duplicate_message",
    "read_not_prefix",
    "real_time_order",
    "wrong_index",
    "duplicate_index",
    "unknown_message",
    "refused_but_present",
    "node_unreadable",
    *FAILOVER_RULES,
)

INDEXED_STATUSES = (200, 201, 504)


def check(history: History) -> list[Violation]:
    """Every violation of every rule, in rule order."""
    unreadable = [
        Violation(
            "node_unreadable", f"{f.node} did not answer GET / after healing: its final log is unknown", refs=(ref(f),)
        )
        for f in history.finals
        if not f.readable
    ]
    finals = [f for f in history.finals if f.readable]
    if not finals:
        return [Violation("no_final_logs", "the history holds no final log of any node"), *unreadable]
    reference = _reference(finals)
    if history.failover:
        return _check_failover(history, finals, reference, unreadable)
    return [
        *_acknowledged_everywhere(history.appends, finals),
        *_final_logs_identical(finals, reference),
        *_no_duplicates(history.reads, finals),
        *_reads_are_prefixes(history.reads, reference),
        *_real_time_order(history.appends),
        *_answers_match_log(history.appends, reference),
        *_one_index_per_request(history.appends),
        *_nothing_unasked(history.appends, finals),
        *unreadable,
    ]


def _check_failover(
    history: History, finals: list[FinalRecord], reference: FinalRecord, unreadable: list[Violation]
) -> list[Violation]:
    survivors = _survivors(history.appends, reference)
    return [
        *acks_survive(history.appends, reference, history.rollbacks),
        *_final_logs_identical(finals, reference),
        *_no_duplicates(history.reads, finals),
        *retried_once(history.appends, finals),
        *committed_reads(history.reads, history.faults, reference),
        *_real_time_order(survivors),
        *_nothing_unasked(history.appends, finals, failover=True),
        *stalled_leaders(history.stalls),
        *unreadable,
    ]


def _survivors(appends: list[AppendRecord], reference: FinalRecord) -> list[AppendRecord]:
    """Appends answered with an index that holds them in the final log (the others were rolled back)."""
    held = reference.at_index()
    return [a for a in _indexed(appends) if held.get(a.index or 0) == a.msg]


def _reference(finals: list[FinalRecord]) -> FinalRecord:
    """The master's final log is the one others are compared with (every node must equal it anyway)."""
    return next((f for f in finals if f.node == "master"), finals[0])


def _acknowledged_everywhere(appends: list[AppendRecord], finals: list[FinalRecord]) -> Iterable[Violation]:
    for final in finals:
        present = set(final.log)
        for append in appends:
            if append.outcome == "ok" and append.msg not in present:
                yield Violation(
                    "ack_missing",
                    f"{append.msg!r} (request_id {append.request_id}, w={append.w}, index {append.index}, "
                    f"acknowledged at {append.complete:.3f}s) is not in {final.node}'s final log",
                    at=append.complete,
                    refs=(ref(append), ref(final)),
                )


def _final_logs_identical(finals: list[FinalRecord], reference: FinalRecord) -> Iterable[Violation]:
    for final in finals:
        if final.log != reference.log or final.indexes != reference.indexes:
            at = _first_difference(final.log, reference.log)
            yield Violation(
                "final_logs_differ",
                f"{final.node} ({len(final.log)} entries) differs from {reference.node} ({len(reference.log)} "
                f"entries) first at index {at + 1}: {_at(final.log, at)} vs {_at(reference.log, at)}"
                + ("" if final.converged else " (the cluster did not converge in time)"),
                refs=(ref(final), ref(reference)),
            )


def _no_duplicates(reads: list[ReadRecord], finals: list[FinalRecord]) -> Iterable[Violation]:
    logs: list[tuple[str, FinalRecord | ReadRecord, float | None]] = [
        (f"{f.node}'s final log", f, None) for f in finals
    ]
    logs += [(f"a read of {r.node} at {r.at:.3f}s", r, r.at) for r in reads]
    for where, record, at in logs:
        for msg, count in Counter(record.log).items():
            if count > 1:
                indexes = [i + 1 for i, m in enumerate(record.log) if m == msg]
                yield Violation(
                    "duplicate_message",
                    f"{msg!r} appears {count} times in {where}, at indexes {indexes}",
                    at=at,
                    refs=(ref(record),),
                )


def _reads_are_prefixes(reads: list[ReadRecord], reference: FinalRecord) -> Iterable[Violation]:
    for read in reads:
        if read.log != reference.log[: len(read.log)]:
            at = _first_difference(read.log, reference.log)
            yield Violation(
                "read_not_prefix",
                f"a read of {read.node} at {read.at:.3f}s ({len(read.log)} entries) is not a prefix of "
                f"{reference.node}'s final log: index {at + 1} read {_at(read.log, at)}, "
                f"final {_at(reference.log, at)}",
                at=read.at,
                refs=(ref(read), ref(reference)),
            )


def _indexed(appends: list[AppendRecord]) -> list[AppendRecord]:
    """Appends answered with an index: acknowledged ones and 504s (whose entry the master kept)."""
    return [a for a in appends if a.index is not None and a.complete is not None and a.outcome in ("ok", "timeout")]


def _real_time_order(appends: list[AppendRecord]) -> Iterable[Violation]:
    """Sweep: B sorted by send time against the highest index answered before it was sent."""
    indexed = _indexed(appends)
    by_answer = sorted(indexed, key=lambda a: a.complete or 0.0)
    highest: AppendRecord | None = None
    done = 0
    for later in sorted(indexed, key=lambda a: a.invoke):
        while done < len(by_answer) and (by_answer[done].complete or 0.0) < later.invoke:
            candidate = by_answer[done]
            if highest is None or (candidate.index or 0) > (highest.index or 0):
                highest = candidate
            done += 1
        if highest is not None and (highest.index or 0) >= (later.index or 0):
            yield Violation(
                "real_time_order",
                f"{highest.msg!r} got index {highest.index}, answered at {highest.complete:.3f}s, before "
                f"{later.msg!r} was sent at {later.invoke:.3f}s, which got index {later.index}",
                at=later.invoke,
                refs=(ref(highest), ref(later)),
            )


def _answers_match_log(appends: list[AppendRecord], reference: FinalRecord) -> Iterable[Violation]:
    position = {}
    for i, msg in enumerate(reference.log):
        position.setdefault(msg, i + 1)
    for append in _indexed(appends):
        held = _at(reference.log, (append.index or 0) - 1)
        if append.outcome == "ok" and held != repr(append.msg):
            yield Violation(
                "wrong_index",
                f"{append.msg!r} was acknowledged with index {append.index} (duplicate: {append.duplicate}) but "
                f"{reference.node}'s final log holds {held} there",
                at=append.complete,
                refs=(ref(append), ref(reference)),
            )
        elif append.outcome == "timeout" and append.msg in position and position[append.msg] != append.index:
            yield Violation(
                "wrong_index",
                f"{append.msg!r} timed out (504) with index {append.index} but sits at {position[append.msg]}",
                at=append.complete,
                refs=(ref(append), ref(reference)),
            )


def _one_index_per_request(appends: list[AppendRecord]) -> Iterable[Violation]:
    answers: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    records = {append.request_id: append for append in appends}
    for append in appends:
        for attempt in append.attempts:
            if attempt.kind == "answer" and attempt.status in INDEXED_STATUSES and attempt.index is not None:
                answers[append.request_id].append((attempt.index, bool(attempt.duplicate)))
    for request_id, seen in answers.items():
        record = records[request_id]
        indexes = sorted({index for index, _ in seen})
        if len(indexes) > 1:
            yield Violation(
                "duplicate_index",
                f"request_id {request_id} was answered with indexes {indexes}",
                at=record.complete,
                refs=(ref(record),),
            )
        fresh = sum(1 for _, duplicate in seen if not duplicate)
        if fresh > 1:
            yield Violation(
                "duplicate_index",
                f"request_id {request_id} was answered {fresh} times with duplicate: false",
                at=record.complete,
                refs=(ref(record),),
            )


def _nothing_unasked(
    appends: list[AppendRecord], finals: list[FinalRecord], *, failover: bool = False
) -> Iterable[Violation]:
    sent = {a.msg for a in appends}
    refused = {a.msg: a for a in appends if (a.surely_refused_with_failover if failover else a.surely_refused)}
    for final in finals:
        for i, msg in enumerate(final.log):
            if msg not in sent:
                yield Violation(
                    "unknown_message",
                    f"{final.node}'s final log holds {msg!r} at {i + 1}, never sent",
                    refs=(ref(final),),
                )
            elif msg in refused:
                record = refused[msg]
                yield Violation(
                    "refused_but_present",
                    f"{msg!r} was refused on every try ({_describe_attempts(record)}) yet {final.node} holds it "
                    f"at {i + 1}",
                    at=record.complete,
                    refs=(ref(record), ref(final)),
                )


def _describe_attempts(record: AppendRecord) -> str:
    return ", ".join(str(a.status) if a.kind == "answer" else a.kind for a in record.attempts)


def _first_difference(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def _at(log: tuple[str, ...], i: int) -> str:
    return repr(log[i]) if 0 <= i < len(log) else "nothing"
