"""The bench's table over several rounds: medians of each figure, and each ratio paired within its round."""

from __future__ import annotations

import json

from replog.bench.loadgen import LoadResult
from replog.bench.report import ratio, rounds_json, rounds_table, table
from replog.bench.scenarios import Row


def _row(key: str, rate: float, p50_ms: float = 1.0, reference: str | None = None, compare: str = "rate") -> Row:
    result = LoadResult(messages=int(rate), seconds=1.0, latencies_s=[p50_ms / 1000] * 10, cpu_s=0.1)
    return Row(key, key, "mode", "3", 64, result, reference=reference, compare=compare)


def _round(bare: float, http: float, nats_p50: float, seq_p50: float) -> list[Row]:
    return [
        _row("bare", bare),
        _row("http", http, reference="bare"),
        _row("nats", 100, p50_ms=nats_p50),
        _row("seq", 100, p50_ms=seq_p50, reference="nats", compare="p50"),
        Row("redis", "Redis", "mode", "2", 64, None, skipped="redis-server not found"),
    ]


ROUNDS = [_round(1000, 700, 2.0, 2.0), _round(2000, 1000, 1.0, 1.6), _round(3000, 1800, 4.0, 4.8)]


def test_a_ratio_is_taken_against_the_reference_of_the_same_round() -> None:
    rows = {row.key: row for row in ROUNDS[1]}
    assert ratio(rows["http"], rows) == 0.5
    assert ratio(rows["seq"], rows) == 1.6  # p50: lower is better, ours over theirs
    assert ratio(rows["bare"], rows) is None  # no reference
    assert ratio(Row("x", "x", "m", "1", 1, None, reference="bare"), rows) is None  # skipped


def test_the_table_prints_the_median_of_the_paired_ratios_not_the_ratio_of_the_medians() -> None:
    text = rounds_table(ROUNDS)
    http = next(line for line in text.splitlines() if line.startswith("http "))
    # Medians alone would say 1,000 / 2,000 = 0.50x; the rounds' own ratios are 0.70, 0.50 and 0.60.
    assert "0.60x (paired rounds 0.50-0.70) msgs/s of bare mode" in http
    assert " 1,000 " in http and " 2,000 " in next(line for line in text.splitlines() if line.startswith("bare "))
    seq = next(line for line in text.splitlines() if line.startswith("seq "))
    assert "p50 1.20x (paired rounds 1.00-1.60) of nats mode" in seq
    redis = next(line for line in text.splitlines() if line.startswith("Redis "))
    assert "skipped" in redis and "redis-server not found" in redis
    assert text.endswith("(medians of 3 rounds; each ratio paired within its round)")


def test_one_round_prints_the_plain_table() -> None:
    text = table(ROUNDS[0])
    assert "0.70x msgs/s of bare mode" in text and "paired" not in text


def test_the_json_keeps_every_round() -> None:
    rows = {item["key"]: item for item in json.loads(json.dumps(rounds_json(ROUNDS)))}
    http = rows["http"]
    assert [r["msgs_per_s"] for r in http["rounds"]] == [700, 1000, 1800]
    assert [r["vs_reference"] for r in http["rounds"]] == [0.7, 0.5, 0.6]
    assert http["median_msgs_per_s"] == 1000 and http["median_vs_reference"] == 0.6
    assert [r["messages"] for r in http["rounds"]] == [700, 1000, 1800] and http["rounds"][0]["errors"] == 0
    assert rows["redis"]["skipped"] == "redis-server not found" and "rounds" not in rows["redis"]


def test_a_row_measured_in_fewer_rounds_says_so() -> None:
    """A reference skipped in one round leaves that round without a pair: the ratio covers the other two."""
    rounds = [_round(1000, 700, 2.0, 2.0), _round(2000, 1000, 1.0, 1.6), _round(3000, 1800, 4.0, 4.8)]
    rounds[1][0] = Row("bare", "bare", "mode", "3", 64, None, skipped="crashed")
    http = next(line for line in rounds_table(rounds).splitlines() if line.startswith("http "))
    assert "0.65x (paired rounds 0.60-0.70) msgs/s of bare mode; in 2 of 3 rounds" in http
