"""The pure parts of `replog bench --failover`: percentiles, which ack ends a window, pauses, failure kinds."""

from __future__ import annotations

import pytest

from replog.bench.failover import FailoverReport, Round, _reason, percentile
from replog.bench.writers import Ack, Writers

OLD, NEW = "http://127.0.0.1:1", "http://127.0.0.1:2"


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [([3.0, 1.0, 2.0], 0.5, 2.0), ([float(v) for v in range(1, 21)], 0.99, 20.0), ([1.0] * 4 + [9.0], 0.5, 1.0)],
)
def test_percentile_is_nearest_rank(values: list[float], fraction: float, expected: float) -> None:
    assert percentile(values, fraction) == expected


def _writers(*acks: Ack) -> Writers:
    writers = Writers([OLD, NEW], clients=1)
    writers.acks.extend(acks)
    return writers


def test_the_window_ends_at_the_first_ack_of_an_append_sent_after_the_kill() -> None:
    # "b" was sent before the kill at 1.5 and answered after it (the dead leader's last word, relayed).
    writers = _writers(
        Ack(1.0, "a", 1, OLD, 0.9), Ack(2.0, "b", 2, NEW, 1.4), Ack(2.5, "c", 3, NEW, 1.6), Ack(3.0, "d", 4, NEW, 2.9)
    )
    assert writers.first_ack_sent_after(1.5) == Ack(2.5, "c", 3, NEW, 1.6)
    assert writers.first_ack_sent_after(3.0) is None
    assert writers.acked_since(2.0) == 2
    assert writers.acked == {"a": 1, "b": 2, "c": 3, "d": 4}


def test_largest_gap_counts_the_edges_of_the_interval() -> None:
    writers = _writers(Ack(1.0, "a", 1, NEW), Ack(1.2, "b", 2, NEW), Ack(2.0, "c", 3, NEW))
    assert writers.largest_gap(0.9, 2.1) == pytest.approx(0.8)
    assert writers.largest_gap(2.1, 5.0) == pytest.approx(2.9)  # no ack at all: the whole interval


def test_report_splits_the_window_and_counts_elections_apart_from_hand_backs() -> None:
    report = FailoverReport(kills=2, clients=4, settings={})
    report.rounds = [Round("master", 1, 1.5, 1.4, "secondary-0", 7.0, 0.3), Round("master", 3, 2.0, 1.9, "b", 7.0, 0)]
    report.terms_gained, report.hand_backs = 4, 2
    assert report.window == {"p50": 1.5, "p99": 2.0, "max": 2.0}
    assert report.pickup["p50"] == pytest.approx(0.1)
    assert report.hand_back == {"p50": 0.3, "p99": 0.3, "max": 0.3}  # only rounds with a hand-back
    assert report.elections == 2
    text = "\n".join(report.lines())
    assert "2 elections, 2 hand-backs" in text and "lost acknowledged appends: 0" in text
    assert report.as_json()["window_s"]["p99"] == 2.0


def test_failure_reasons_drop_the_details_that_vary() -> None:
    assert _reason("read-only: no quorum (1 of 3 nodes alive, 2 needed)") == "read-only: no quorum ("
