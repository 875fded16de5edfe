"""The append counters and latency histogram /metrics serves, kept without prometheus_client's locks."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from replog.metrics import NodeMetrics


def _samples(metrics: NodeMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
    }


def test_counts_by_w_and_outcome_and_latency_buckets_inclusive_of_their_bound() -> None:
    metrics = NodeMetrics("master")
    for seconds in (0.001, 0.0011, 0.02, 31.0):
        metrics.observe_append(3, "ok", seconds)
    metrics.observe_append(1, "duplicate", 0.0004)
    metrics.observe_append(1, "invalid", 9.0)  # counted, but no latency: only stored appends have one
    got = _samples(metrics)
    assert got[("replog_appends_total", (("outcome", "ok"), ("w", "3")))] == 4
    assert got[("replog_appends_total", (("outcome", "invalid"), ("w", "1")))] == 1
    bucket = "replog_append_latency_seconds_bucket"
    assert got[(bucket, (("le", "0.001"), ("w", "3")))] == 1  # 0.001 <= 0.001
    assert got[(bucket, (("le", "0.0025"), ("w", "3")))] == 2
    assert got[(bucket, (("le", "30.0"), ("w", "3")))] == 3
    assert got[(bucket, (("le", "+Inf"), ("w", "3")))] == 4
    assert got[("replog_append_latency_seconds_count", (("w", "3"),))] == 4
    assert got[("replog_append_latency_seconds_sum", (("w", "3"),))] == 0.001 + 0.0011 + 0.02 + 31.0
    assert got[("replog_append_latency_seconds_count", (("w", "1"),))] == 1
    assert metrics.per_second.take()[0] == {"ok": 4, "duplicate": 1, "invalid": 1}  # the dashboard's charts
