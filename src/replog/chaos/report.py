"""The run's summary: counted from the recorded history, so it says what happened, not what was planned."""

from __future__ import annotations

from collections import Counter
from typing import Any

from replog.chaos.checker import Violation
from replog.chaos.history import History
from replog.chaos.schedule import FaultKind

__all__ = ["format_summary", "summarize"]

SAMPLES_PER_RULE = 3


def summarize(history: History, violations: list[Violation], *, elapsed_s: float) -> dict[str, Any]:
    outcomes = Counter(a.outcome for a in history.appends)
    faults = Counter(f.kind for f in history.faults if f.error is None)
    final_lengths = {f.node: len(f.log) if f.readable else "unreadable" for f in history.finals}
    return {
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
        "reads": len(history.reads),
        "final_log_entries": final_lengths,
        "converged": all(f.converged for f in history.finals) and bool(history.finals),
        "faults": {kind.value: faults[kind.value] for kind in FaultKind},
        "faults_not_applied": sum(1 for f in history.faults if f.error and not f.error.startswith("heal failed")),
        "heal_error": history.meta.get("heal_error"),
        "violations": len(violations),
        "violations_by_rule": dict(Counter(v.rule for v in violations)),
        "violation_samples": _samples(violations),
    }


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
        f"(retried {summary['retried']}, duplicate answers {summary['duplicate_answers']})",
        f"reads during the run {summary['reads']}; final logs {summary['final_log_entries']} "
        f"({'converged' if summary['converged'] else 'NOT converged'})",
        f"faults: {faults} (total {sum(summary['faults'].values())}, not applied {summary['faults_not_applied']})",
    ]
    if summary.get("heal_error"):
        lines.append(f"heal error: {summary['heal_error']}")
    lines.append(
        f"violations: {summary['violations']}" + (f" {summary['violations_by_rule']}" if summary["violations"] else "")
    )
    lines += [f"  {sample}" for sample in summary["violation_samples"]]
    if summary.get("history"):
        lines.append(f"history: {summary['history']}")
        lines.append(f"node logs and data: {summary['workdir']}")
    return "\n".join(lines)
