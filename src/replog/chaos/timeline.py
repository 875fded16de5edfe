"""What a chaos report draws, computed from a recorded history and its violations. Pure: no I/O, no HTML.

Everything is on the run's own clock (seconds since the run started, as the history records it); the
report adds the wall-clock start when the history has one. Per-second series count appends by the second
their outcome was known (the answer, or the invoke for an append that never got one), so a dip lines up
with the fault that caused it. A fault aimed at "leader" is drawn on the node that led when it started.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from replog.chaos.history import (
    AppendRecord,
    FinalRecord,
    History,
    ReadRecord,
    RollbackRecord,
    StallRecord,
)
from replog.chaos.report import failover_windows
from replog.chaos.schedule import LEADER
from replog.chaos.violation import Ref, Violation, ref

__all__ = [
    "FailoverWindow",
    "FaultBand",
    "LeaderInterval",
    "Series",
    "Timeline",
    "ViolationMark",
    "build_timeline",
    "mode_of",
]

VIOLATIONS_SHOWN = 200  # a run that broke everything still gives a report a browser can open
LOG_SHOWN = 5  # entries kept at each end of a log shown as evidence (reads and finals hold whole logs)


@dataclass(frozen=True, slots=True)
class Series:
    """Appends per second by outcome; element i counts the second [i, i + 1)."""

    acknowledged: list[int]
    failed: list[int]
    timed_out: list[int]
    unknown: list[int]


@dataclass(frozen=True, slots=True)
class FaultBand:
    id: int
    kind: str
    target: str  # as scheduled: a node, a link "a>b", a proxy, or "leader"
    lane: str  # where it is drawn: the leader's node for a leader fault, else the target
    start: float
    end: float
    applied: bool
    params: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class FailoverWindow:
    """From a leader's kill -9 to the first acknowledged append sent after it (open: none came)."""

    node: str | None
    start: float
    end: float
    open: bool


@dataclass(frozen=True, slots=True)
class LeaderInterval:
    node: str | None  # None: the nodes that answered agreed on no leader
    term: int
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class ViolationMark:
    id: int
    rule: str
    detail: str
    at: float  # the end of the run for a violation about the end state
    at_end: bool
    records: list[dict[str, Any]]  # the history records it refers to, as in history.jsonl (long logs cut)


@dataclass(frozen=True, slots=True)
class Timeline:
    mode: str  # "classic", "failover" or "hosts"
    started: float | None  # Unix time of second 0, when the history says
    end: float  # the last moment anything was recorded
    series: Series
    lanes: list[str]
    faults: list[FaultBand]
    windows: list[FailoverWindow]
    leaders: list[LeaderInterval]
    violations: list[ViolationMark]
    violations_total: int
    violations_by_rule: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def mode_of(history: History) -> str:
    if history.meta.get("net") == "hosts":
        return "hosts"
    return "failover" if history.failover else "classic"


def build_timeline(history: History, violations: list[Violation]) -> Timeline:
    end = _end(history)
    faults = _faults(history, end)
    by_rule: dict[str, int] = {}
    for violation in violations:
        by_rule[violation.rule] = by_rule.get(violation.rule, 0) + 1
    records = _records_by_ref(history)
    return Timeline(
        mode=mode_of(history),
        started=_started(history),
        end=end,
        series=_series(history.appends, end),
        lanes=_lanes(history, faults),
        faults=faults,
        windows=[
            FailoverWindow(
                str(kill.params["node"]) if "node" in kill.params else None,
                kill.start,
                ack if ack is not None else end,
                ack is None,
            )
            for kill, ack in failover_windows(history)
        ],
        leaders=_leaders(history, end),
        violations=[
            ViolationMark(
                i,
                v.rule,
                v.detail,
                v.at if v.at is not None else end,
                v.at is None,
                [_shown(records[r]) for r in v.refs if r in records],
            )
            for i, v in enumerate(violations[:VIOLATIONS_SHOWN])
        ],
        violations_total=len(violations),
        violations_by_rule=by_rule,
    )


def _end(history: History) -> float:
    times: list[float] = [float(history.meta.get("duration") or 0.0)]
    times += [a.complete if a.complete is not None else a.invoke for a in history.appends]
    times += [f.end if f.end is not None else f.start for f in history.faults]
    times += [r.at for r in history.reads] + [leader.at for leader in history.leaders]
    return max(times)


def _started(history: History) -> float | None:
    started = history.meta.get("started")
    if not isinstance(started, str):
        return None
    try:
        return datetime.fromisoformat(started).timestamp()
    except ValueError:
        return None


def _series(appends: list[AppendRecord], end: float) -> Series:
    seconds = max(1, math.ceil(end))
    counts = {outcome: [0] * seconds for outcome in ("ok", "error", "timeout", "unknown")}
    for append in appends:
        at = append.complete if append.complete is not None else append.invoke
        counts[append.outcome][min(seconds - 1, max(0, int(at)))] += 1
    return Series(counts["ok"], counts["error"], counts["timeout"], counts["unknown"])


def _faults(history: History, end: float) -> list[FaultBand]:
    bands = []
    for i, fault in enumerate(sorted(history.faults, key=lambda f: f.start)):
        node = fault.params.get("node")
        lane = str(node) if fault.target == LEADER and node else fault.target
        # A heal that failed still means the fault was applied (and probably lasted longer).
        applied = fault.error is None or fault.error.startswith("heal failed")
        bands.append(
            FaultBand(
                i,
                fault.kind,
                fault.target,
                lane,
                fault.start,
                min(end, fault.end) if fault.end is not None else fault.start,
                applied,
                dict(fault.params),
                fault.error,
            )
        )
    return bands


def _lanes(history: History, faults: list[FaultBand]) -> list[str]:
    """The leader first (failover), then each node, then each link or proxy: how an operator reads a
    cluster, top down. Nodes come from the run's own list so that a node without faults still has a lane."""
    nodes = list(history.meta.get("urls") or {})
    nodes += sorted({b.lane for b in faults if ">" not in b.lane and not b.lane.startswith("proxy")} - set(nodes))
    others = sorted({b.lane for b in faults} - set(nodes))
    leader = [LEADER] if history.failover else []
    return [*leader, *(n for n in nodes if n != LEADER), *(o for o in others if o != LEADER)]


def _leaders(history: History, end: float) -> list[LeaderInterval]:
    records = sorted(history.leaders, key=lambda r: r.at)
    ends = [r.at for r in records[1:]] + [end]  # each lasts until the next change; the last one to the end
    return [LeaderInterval(r.node, r.term, r.at, until) for r, until in zip(records, ends, strict=False)]


Record = AppendRecord | ReadRecord | FinalRecord | RollbackRecord | StallRecord


def _records_by_ref(history: History) -> dict[Ref, Record]:
    records: Iterable[Record] = [
        *history.appends,
        *history.reads,
        *history.finals,
        *history.rollbacks,
        *history.stalls,
    ]
    return {ref(r): r for r in records}


def _shown(record: Record) -> dict[str, Any]:
    """The record as history.jsonl holds it, with whole logs cut to their ends (and their length said)."""
    shown: dict[str, Any] = {"type": ref(record).kind, **asdict(record)}
    for name in ("log", "indexes"):
        values = shown.get(name)
        if isinstance(values, tuple | list) and len(values) > 2 * LOG_SHOWN:
            shown[name] = [*values[:LOG_SHOWN], f"... {len(values) - 2 * LOG_SHOWN} more ...", *values[-LOG_SHOWN:]]
            shown[f"{name}_length"] = len(values)
    return shown
