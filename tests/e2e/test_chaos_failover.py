"""`replog chaos --failover` end to end: 60 seconds of faults aimed at whichever node leads (kill -9,
SIGSTOP, isolation), one-way cuts and the classic faults, on three real failover nodes, each behind a
proxy per directed link. Every promise of failover must hold, and the run must really have failed over.

The run is made once, side by side with the suite's other chaos runs, and shared, as in test_chaos.py:
one test judges it, one plants violations of the failover rules in its recorded history to show the
checker would have caught them.
"""

from __future__ import annotations

import dataclasses

import pytest

from replog.chaos.checker import check
from replog.chaos.history import FinalRecord, History, ReadRecord, load_history
from replog.chaos.report import format_summary
from replog.chaos.schedule import FAILOVER_KINDS
from tests.started_together import FinishedRun, StartedTogether

pytestmark = pytest.mark.e2e

SEED = 2
DURATION_S = 60.0


STARTED_TOGETHER = ["--duration", str(DURATION_S), "--seed", str(SEED), "--clients", "4"]  # failover: the default


@pytest.fixture(scope="module")
def failover_run(started_together: StartedTogether) -> FinishedRun:
    return started_together.result(__name__)


def test_a_60_second_failover_chaos_run_keeps_every_promise(failover_run: FinishedRun) -> None:
    summary = failover_run.summary
    report = format_summary(summary)
    print(report)
    assert failover_run.returncode == 0, failover_run.tail
    assert summary["violations"] == 0 and check(load_history(failover_run.history_path)) == [], report
    assert summary["failover"], report
    assert summary["converged"], report
    assert summary["acknowledged"] > 100, report
    assert summary["streamed_acknowledged"] > 0, report  # the client on /stream was judged too
    assert all(summary["faults"][kind.value] > 0 for kind in FAILOVER_KINDS), report
    # It really failed over: leaders changed, and after each leader kill appends were acknowledged again.
    assert summary["elections"] >= 3 and summary["leader_changes"] >= 3, report
    assert summary["unavailability_s"] and None not in summary["unavailability_s"], report
    assert summary["committed_reads"] > 0, report


def _finals(history: History, log: tuple[str, ...], indexes: tuple[int, ...]) -> list[FinalRecord]:
    return [dataclasses.replace(f, log=log, indexes=indexes) for f in history.finals]


def test_the_failover_rules_flag_violations_planted_in_the_recorded_history(failover_run: FinishedRun) -> None:
    history = load_history(failover_run.history_path)
    assert history.failover and check(history) == []
    final = history.finals[0]
    where = final.index_of()
    majority = next(a for a in history.appends if a.outcome == "ok" and a.w >= 2 and a.msg in where)
    at = final.log.index(majority.msg)

    lost = dataclasses.replace(
        history,
        finals=_finals(history, final.log[:at] + final.log[at + 1 :], final.indexes[:at] + final.indexes[at + 1 :]),
    )
    assert "majority_ack_lost" in {v.rule for v in check(lost)}

    twice = dataclasses.replace(
        history, finals=_finals(history, (*final.log, majority.msg), (*final.indexes, final.indexes[-1] + 1))
    )
    assert "duplicate_message" in {v.rule for v in check(twice)}

    committed = [r for r in history.reads if r.committed and r.log]
    shrunk = dataclasses.replace(
        history, reads=[*history.reads, ReadRecord(committed[-1].node, committed[-1].at + 0.001, (), committed=True)]
    )
    assert "committed_shrank" in {v.rule for v in check(shrunk)}

    w1 = [a for a in history.appends if a.outcome == "ok" and a.w == 1 and a.msg not in where]
    if w1:  # an acknowledged w=1 append that a failover undid: only its rollback file accounts for it
        assert "w1_ack_vanished" in {v.rule for v in check(dataclasses.replace(history, rollbacks=[]))}
