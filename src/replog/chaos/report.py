"""The run's summary: counted from the recorded history, so it says what happened, not what was planned."""

from __future__ import annotations

from collections import Counter
from typing import Any

from replog.chaos.checker import Violation
from replog.chaos.history import FaultRecord, History
from replog.chaos.schedule import CLASSIC_KINDS, FAILOVER_KINDS, HOSTS_KINDS

__all__ = ["failover_figures", "failover_windows", "format_summary", "summarize"]

SAMPLES_PER_RULE = 3


def summarize(history: History, violations: list[Violation], *, elapsed_s: float) -> dict[str, Any]:
    outcomes = Counter(a.outcome for a in history.appends)
    faults = Counter(f.kind for f in history.faults if f.error is None)
    final_lengths = {f.node: len(f.log) if f.readable else "unreadable" for f in history.finals}
    kinds = FAILOVER_KINDS if history.failover else CLASSIC_KINDS
    if history.meta.get("net") == "hosts":
        kinds = HOSTS_KINDS
    streamed = [a for a in history.appends if a.client == history.meta.get("stream_client")]
    summary = {
        "seed": history.meta.get("seed"),
        "duration_s": history.meta.get("duration"),
        "clients": history.meta.get("clients"),
        "elapsed_s": round(elapsed_s, 1),
        "appends": len(history.appends),
        "acknowledged": outcomes["ok"],
        "failed": outcomes["error"],
        "timed_out": outcomes["timeout"],
        "unknown": outcomes["unknown"],
        "retried": sum(1 for a in history.appends if sum(t.kind != "answer" for t in a.attempts) > 0),
        "duplicate_answers": sum(1 for a in history.appends for t in a.attempts if t.duplicate),
        "streamed": len(streamed),  # of the appends, those of the client on /stream
        "streamed_acknowledged": sum(a.outcome == "ok" for a in streamed),
        "reads": len(history.reads),
        "final_log_entries": final_lengths,
        "converged": all(f.converged for f in history.finals) and bool(history.finals),
        "failover": history.failover,
        "net": history.meta.get("net", "proxy"),
        "faults": {kind.value: faults[kind.value] for kind in kinds},
        "faults_not_applied": sum(1 for f in history.faults if f.error and not f.error.startswith("heal failed")),
        "heal_error": history.meta.get("heal_error"),
        "violations": len(violations),
        "violations_by_rule": dict(Counter(v.rule for v in violations)),
        "violation_samples": _samples(violations),
    }
    if history.failover:
        summary.update(failover_figures(history))
    return summary


def failover_figures(history: History) -> dict[str, Any]:
    """Elections, leader changes, unavailability after each leader kill, rolled-back entries."""
    terms = [leader.term for leader in history.leaders]
    final_terms = [f.term for f in history.finals if f.term is not None]
    first_term = terms[0] if terms else 0
    last_term = max([*terms, *final_terms], default=first_term)
    windows = [round(end - kill.start, 2) if end is not None else None for kill, end in failover_windows(history)]
    measured = [w for w in windows if w is not None]
    sent = {a.msg: a for a in history.appends}
    rolled_acks = {
        r.msg for r in history.rollbacks if r.msg in sent and sent[r.msg].outcome == "ok" and sent[r.msg].w == 1
    }
    finals = [f for f in history.finals if f.readable]
    final = set(finals[0].log) if finals else set()
    return {
        "elections": last_term - first_term,  # terms gained during the run (pre-votes that fail gain none)
        "first_term": first_term,
        "last_term": last_term,
        "leader_changes": max(0, len(history.leaders) - 1),
        "leaders": dict(Counter(str(leader.node) for leader in history.leaders)),
        "unavailability_s": windows,  # leader kill -> next acknowledged try sent after it, per kill_leader
        "unavailability_max_s": max(measured, default=None),
        "unavailability_mean_s": round(sum(measured) / len(measured), 2) if measured else None,
        "rolled_back_entries": sum(1 for r in history.rollbacks if r.msg in sent),
        "rolled_back_w1_acks_lost": len(rolled_acks - final),
        "final_leader": finals[0].leader if finals else None,
        "committed_reads": sum(1 for r in history.reads if r.committed),
        "converged_after_s": history.meta.get("converged_after_s"),
    }


def failover_windows(history: History) -> list[tuple[FaultRecord, float | None]]:
    """Each applied kill_leader fault, in start order, with the time of the first acknowledged try sent
    after it (None: none came). A try sent after a leader's death cannot have been served by it (answers
    it sent before dying may still arrive, even through a forwarding follower), so those do not count."""
    acks = sorted(
        (a.at, a.sent)
        for append in history.appends
        for a in append.attempts
        if append.outcome == "ok" and a.kind == "answer" and a.status in (200, 201) and not a.probe
    )
    windows = []
    for fault in sorted(history.faults, key=lambda f: f.start):
        if fault.kind == "kill_leader" and fault.error is None:
            windows.append((fault, next((at for at, sent in acks if sent is not None and sent > fault.start), None)))
    return windows


def _samples(violations: list[Violation]) -> list[str]:
    """The first few of each rule: one broken rule must not hide another in a long list."""
    shown: Counter[str] = Counter()
    samples = []
    for violation in violations:
        if shown[violation.rule] < SAMPLES_PER_RULE:
            shown[violation.rule] += 1
            samples.append(str(violation))
    return samples


def format_summary(summary: dict[str, Any]) -> str:
    faults = ", ".join(f"{kind} {count}" for kind, count in summary["faults"].items())
    lines = [
        f"replog chaos: seed {summary['seed']}, {summary['duration_s']} s, {summary['clients']} clients "
        f"(ran {summary['elapsed_s']} s)",
        f"appends {summary['appends']}: acknowledged {summary['acknowledged']}, failed {summary['failed']}, "
        f"timed out {summary['timed_out']}, unknown {summary['unknown']} "
        f"(retried {summary['retried']}, duplicate answers {summary['duplicate_answers']}; "
        f"on /stream {summary.get('streamed', 0)}, acknowledged {summary.get('streamed_acknowledged', 0)})",
        f"reads during the run {summary['reads']}; final logs {summary['final_log_entries']} "
        f"({'converged' if summary['converged'] else 'NOT converged'})",
        f"faults: {faults} (total {sum(summary['faults'].values())}, not applied {summary['faults_not_applied']})",
    ]
    if summary.get("failover"):
        lines.append(
            f"failover: elections {summary['elections']} (term {summary['first_term']} -> {summary['last_term']}), "
            f"leader changes {summary['leader_changes']} {summary['leaders']}, final leader {summary['final_leader']}"
        )
        lines.append(
            f"unavailability after leader kills (s): {summary['unavailability_s']} "
            f"(max {summary['unavailability_max_s']}, mean {summary['unavailability_mean_s']}); "
            f"rolled-back entries {summary['rolled_back_entries']} "
            f"(acknowledged w=1 only in rollback files: {summary['rolled_back_w1_acks_lost']}); "
            f"committed reads {summary['committed_reads']}"
        )
    if summary.get("heal_error"):
        lines.append(f"heal error: {summary['heal_error']}")
    lines.append(
        f"violations: {summary['violations']}" + (f" {summary['violations_by_rule']}" if summary["violations"] else "")
    )
    lines += [f"  {sample}" for sample in summary["violation_samples"]]
    if summary.get("history"):
        lines.append(f"history: {summary['history']}")
        lines.append(f"node logs and data: {summary['workdir']}")
    if summary.get("report"):
        lines.append(f"report: {summary['report']}")
    return "\n".join(lines)
