"""The table `replog bench` prints, with each row's ratio to its reference row.

With `--rounds N` every selected row runs N times, the rows of a round one after another, and the table
gives each figure's median over the rounds. A row's ratio is taken within each round (the row against its
reference measured moments before) and the median of those paired ratios is printed with their range:
on a shared machine one run's ratio moves by tens of percent, and a pair of rows run side by side moves
together far more than either moves alone.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from replog.bench.cpu import cpu_ms_per_1000
from replog.bench.loadgen import LoadResult
from replog.bench.scenarios import Row

__all__ = ["as_json", "ratio", "ratio_text", "rounds_json", "rounds_table", "table"]


def ratio(row: Row, rows: dict[str, Row]) -> float | None:
    """The row's p50 or rate (as its `compare` says) over its reference row's; None without both."""
    reference = rows.get(row.reference or "")
    if row.result is None or reference is None or reference.result is None:
        return None
    if row.compare == "p50":
        ours, theirs = row.result.percentile_ms(0.5), reference.result.percentile_ms(0.5)
        return ours / theirs if theirs and not math.isnan(theirs) and not math.isnan(ours) else None
    return row.result.rate / reference.result.rate if reference.result.rate else None


def _ratio_words(row: Row, rows: dict[str, Row], value: str) -> str:
    reference = rows[row.reference or ""]
    name = f"{reference.system} {reference.mode}".strip()
    return f"p50 {value} of {name}" if row.compare == "p50" else f"{value} msgs/s of {name}"


def ratio_text(row: Row, rows: dict[str, Row]) -> str:
    value = ratio(row, rows)
    return "" if value is None else _ratio_words(row, rows, f"{value:.2f}x")


def cpu_per_1000(result: LoadResult) -> float | None:
    """CPU ms of all the system's processes per 1,000 acknowledged messages (None when not measured)."""
    return None if result.cpu_s is None or not result.messages else cpu_ms_per_1000(result.cpu_s, result.messages)


_HEADER = ["system", "mode", "w", "in flight", "msgs/s", "p50 ms", "p99 ms", "CPU ms/1k", "vs reference"]


def _render(lines: list[list[str]]) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(_HEADER))]
    rendered = [" | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in lines]
    rendered.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(rendered)


def _cells(row: Row, rate: float, p50: float, p99: float, cpu: float | None, versus: str) -> list[str]:
    figures = [f"{rate:,.0f}", f"{p50:.2f}", f"{p99:.2f}", "" if cpu is None else f"{cpu:,.0f}"]
    return [row.system, row.mode, row.w, str(row.inflight), *figures, versus]


def _skipped(row: Row) -> list[str]:
    return [row.system, row.mode, row.w, str(row.inflight), "skipped", "", "", "", row.skipped]


def table(rows: list[Row]) -> str:
    by_key = {row.key: row for row in rows}
    lines = [_HEADER]
    for row in rows:
        result = row.result
        if result is None:
            lines.append(_skipped(row))
            continue
        p50, p99 = result.percentile_ms(0.5), result.percentile_ms(0.99)
        lines.append(_cells(row, result.rate, p50, p99, cpu_per_1000(result), ratio_text(row, by_key)))
    return _render(lines)


@dataclass
class RowOverRounds:
    """One row's figures in every round, with its ratio to its reference taken within each round."""

    row: Row  # the first round's: what the row is
    ratios: list[float]
    rounds: list[dict[str, Any]]

    def median(self, figure: str) -> float | None:
        values = [r[figure] for r in self.rounds if r[figure] is not None]
        return statistics.median(values) if values else None

    def versus(self, rows: dict[str, Row], rounds: int) -> str:
        if not self.ratios:
            return ""
        low, high = min(self.ratios), max(self.ratios)
        paired = f"{statistics.median(self.ratios):.2f}x (paired rounds {low:.2f}-{high:.2f})"
        fewer = f"; in {len(self.ratios)} of {rounds} rounds" if len(self.ratios) < rounds else ""
        return _ratio_words(self.row, rows, paired) + fewer


def over_rounds(rounds: list[list[Row]]) -> list[RowOverRounds]:
    """Each row key's figures across the rounds, in the order of the first round."""
    summary: dict[str, RowOverRounds] = {row.key: RowOverRounds(row, [], []) for row in rounds[0]}
    for rows in rounds:
        by_key = {row.key: row for row in rows}
        for row in rows:
            if row.result is None:
                continue
            entry = summary[row.key]
            value = ratio(row, by_key)
            entry.ratios += [] if value is None else [value]
            entry.rounds.append(
                {
                    "msgs_per_s": _rounded(row.result.rate, 1),
                    "p50_ms": _rounded(row.result.percentile_ms(0.5), 3),
                    "p99_ms": _rounded(row.result.percentile_ms(0.99), 3),
                    "cpu_ms_per_1000": _rounded(cpu_per_1000(row.result), 1),
                    "vs_reference": _rounded(value, 3),
                    "messages": row.result.messages,
                    "errors": row.result.errors,
                }
            )
    return list(summary.values())


_FIGURES = ("msgs_per_s", "p50_ms", "p99_ms", "cpu_ms_per_1000", "vs_reference")


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


def rounds_table(rounds: list[list[Row]]) -> str:
    """The table of `--rounds N`: each figure the median of its N runs; ratios paired within each round."""
    first = {row.key: row for row in rounds[0]}
    lines = [_HEADER]
    for entry in over_rounds(rounds):
        if not entry.rounds:
            lines.append(_skipped(entry.row))
            continue
        figures = [entry.median(figure) for figure in ("msgs_per_s", "p50_ms", "p99_ms")]
        rate, p50, p99 = (math.nan if value is None else value for value in figures)
        versus = entry.versus(first, len(rounds))
        lines.append(_cells(entry.row, rate, p50, p99, entry.median("cpu_ms_per_1000"), versus))
    return _render(lines) + f"\n(medians of {len(rounds)} rounds; each ratio paired within its round)"


def rounds_json(rounds: list[list[Row]]) -> list[dict[str, Any]]:
    first = {row.key: row for row in rounds[0]}
    out = []
    for entry in over_rounds(rounds):
        row = entry.row
        item: dict[str, Any] = {"key": row.key, "system": row.system, "mode": row.mode, "w": row.w}
        item.update(inflight=row.inflight, skipped=row.skipped or None, reference=row.reference)
        if entry.rounds:
            item.update({f"median_{figure}": entry.median(figure) for figure in _FIGURES})
            item.update(vs_reference=entry.versus(first, len(rounds)), rounds=entry.rounds)
        out.append(item)
    return out


def as_json(rows: list[Row]) -> list[dict[str, Any]]:
    by_key = {row.key: row for row in rows}
    out = []
    for row in rows:
        item: dict[str, Any] = {
            "key": row.key,
            "system": row.system,
            "mode": row.mode,
            "w": row.w,
            "inflight": row.inflight,
            "skipped": row.skipped or None,
        }
        if row.result is not None:
            item.update(
                msgs_per_s=round(row.result.rate, 1),
                p50_ms=_rounded(row.result.percentile_ms(0.5), 3),
                p99_ms=_rounded(row.result.percentile_ms(0.99), 3),
                messages=row.result.messages,
                errors=row.result.errors,
                cpu_ms_per_1000=None if (cpu := cpu_per_1000(row.result)) is None else round(cpu, 1),
                reference=row.reference,
                vs_reference=ratio_text(row, by_key),
            )
        out.append(item)
    return out
