"""The table `replog bench` prints, with each row's ratio to its reference row."""

from __future__ import annotations

import math
from typing import Any

from replog.bench.cpu import cpu_ms_per_1000
from replog.bench.loadgen import LoadResult
from replog.bench.scenarios import Row

__all__ = ["as_json", "ratio_text", "table"]


def ratio_text(row: Row, rows: dict[str, Row]) -> str:
    reference = rows.get(row.reference or "")
    if row.result is None or reference is None or reference.result is None:
        return ""
    name = f"{reference.system} {reference.mode}".strip()
    if row.compare == "p50":
        ours, theirs = row.result.percentile_ms(0.5), reference.result.percentile_ms(0.5)
        return f"p50 {ours / theirs:.2f}x of {name}" if theirs and not math.isnan(theirs) else ""
    if not reference.result.rate:
        return ""
    return f"{row.result.rate / reference.result.rate:.2f}x msgs/s of {name}"


def cpu_per_1000(result: LoadResult) -> float | None:
    """CPU ms of all the system's processes per 1,000 acknowledged messages (None when not measured)."""
    return None if result.cpu_s is None or not result.messages else cpu_ms_per_1000(result.cpu_s, result.messages)


def table(rows: list[Row]) -> str:
    by_key = {row.key: row for row in rows}
    header = ["system", "mode", "w", "in flight", "msgs/s", "p50 ms", "p99 ms", "CPU ms/1k", "vs reference"]
    lines = [header]
    for row in rows:
        if row.result is None:
            lines.append([row.system, row.mode, row.w, str(row.inflight), "skipped", "", "", "", row.skipped])
            continue
        lines.append(
            [
                row.system,
                row.mode,
                row.w,
                str(row.inflight),
                f"{row.result.rate:,.0f}",
                f"{row.result.percentile_ms(0.5):.2f}",
                f"{row.result.percentile_ms(0.99):.2f}",
                "" if (cpu := cpu_per_1000(row.result)) is None else f"{cpu:,.0f}",
                ratio_text(row, by_key),
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = [" | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in lines]
    rendered.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(rendered)


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
                p50_ms=round(row.result.percentile_ms(0.5), 3),
                p99_ms=round(row.result.percentile_ms(0.99), 3),
                messages=row.result.messages,
                errors=row.result.errors,
                cpu_ms_per_1000=None if (cpu := cpu_per_1000(row.result)) is None else round(cpu, 1),
                reference=row.reference,
                vs_reference=ratio_text(row, by_key),
            )
        out.append(item)
    return out
