"""A chaos run's report as one self-contained HTML file: opened from disk, it needs no network at all.

The verdict, the figures and the tables are written here as escaped HTML, so they read even with
scripts off; the charts are drawn in the browser by uPlot (vendored with the dashboard, inlined here)
from the timeline's data, which travels as JSON in a non-executed script block. The only I/O is
reading the bundled static files and `write_report`.
"""

from __future__ import annotations

import importlib.resources
import json
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from replog.chaos.history import History
from replog.chaos.timeline import FaultBand, Timeline, ViolationMark, build_timeline
from replog.chaos.violation import Violation

__all__ = ["CSP", "render_report", "write_report"]

# A file that runs scripts should still load nothing: no fetch, no remote font, no frame.
CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"
MODES = {
    "classic": "classic (fixed master, --no-failover)",
    "failover": "failover (proxies)",
    "hosts": "failover on namespace hosts (--net hosts)",
}


def write_report(path: Path, history: History, violations: list[Violation], summary: dict[str, Any]) -> Path:
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(build_timeline(history, violations), summary), encoding="utf-8")
    return path


def render_report(timeline: Timeline, summary: dict[str, Any]) -> str:
    title = f"replog chaos, seed {summary.get('seed')}: {_verdict_word(timeline)}"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{_static_text("web", "static/uPlot.min.css")}</style>
<style>{_static_text("chaos", "report_static/report.css")}</style>
</head>
<body>
<header>
<h1>replog chaos report</h1>
{_meta(timeline, summary)}
</header>
<main>
{_verdict(timeline)}
{_warnings(summary)}
<section class="stats">{_stats(timeline, summary)}</section>
<section class="panel"><h2>Appends per second <span class="hint">drag to zoom, both panels follow;
<button id="reset-zoom" type="button">reset zoom</button></span></h2><div id="rate"></div></section>
<section class="panel"><h2>Timeline <span class="hint">a fault links to its row; a red marker to its violation
</span></h2>{_legend(timeline)}<div id="timeline" class="lanes"></div></section>
{_violations_table(timeline)}
{_windows_table(timeline)}
{_faults_table(timeline)}
</main>
<script type="application/json" id="report-data">{_json_for_html(timeline.to_json())}</script>
<script>{_script(_static_text("web", "static/uPlot.iife.min.js"))}</script>
<script>{_script(_static_text("chaos", "report_static/report.js"))}</script>
</body>
</html>
"""


def _static_text(package: str, name: str) -> str:
    return importlib.resources.files(f"replog.{package}").joinpath(name).read_text(encoding="utf-8")


def _json_for_html(data: Any) -> str:
    """JSON that cannot end its <script> block early nor open a comment: <, > and & become escapes."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _script(source: str) -> str:
    if "</script" in source.lower() or "<!--" in source:
        raise ValueError("an inlined script would end its own <script> block")
    return source


def _verdict_word(timeline: Timeline) -> str:
    return "FAIL" if timeline.violations_total else "PASS"


def _verdict(timeline: Timeline) -> str:
    total = timeline.violations_total
    if not total:
        return '<div class="verdict pass" id="verdict">PASS: 0 violations</div>'
    rules = ", ".join(f"{escape(rule)}: {count}" for rule, count in timeline.violations_by_rule.items())
    noun = "violation" if total == 1 else "violations"
    return (
        f'<div class="verdict fail" id="verdict">FAIL: {total} {noun} '
        f'<span class="rules">{rules} (<a href="#violations">details</a>)</span></div>'
    )


def _meta(timeline: Timeline, summary: dict[str, Any]) -> str:
    items = [
        ("seed", summary.get("seed")),
        ("duration", f"{summary.get('duration_s')} s (ran {summary.get('elapsed_s')} s)"),
        ("mode", MODES.get(timeline.mode, timeline.mode)),
        ("clients", summary.get("clients")),
        ("on /stream", f"{summary['streamed']} appends" if summary.get("streamed") else None),
        ("started", _utc(timeline.started)),
        ("history", summary.get("history")),
    ]
    shown = "".join(f"<span>{escape(k)} <b>{escape(str(v))}</b></span>" for k, v in items if v is not None)
    return f'<div class="meta">{shown}</div>'


def _utc(started: float | None) -> str | None:
    return None if started is None else datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _warnings(summary: dict[str, Any]) -> str:
    warnings = []
    if summary.get("converged") is False:
        warnings.append("the nodes did not converge to one log in time after healing")
    if summary.get("heal_error"):
        warnings.append(f"heal error: {summary['heal_error']}")
    return "".join(f'<div class="warning">{escape(w)}</div>' for w in warnings)


def _stats(timeline: Timeline, summary: dict[str, Any]) -> str:
    faults = sum((summary.get("faults") or {}).values())
    stats: list[tuple[str, Any, str]] = [
        ("appends", summary.get("appends"), ""),
        ("acknowledged", summary.get("acknowledged"), "ok"),
        ("failed", summary.get("failed"), "bad" if summary.get("failed") else ""),
        ("timed out", summary.get("timed_out"), "warn" if summary.get("timed_out") else ""),
        ("unknown", summary.get("unknown"), ""),
        ("faults applied", faults, ""),
        ("faults not applied", summary.get("faults_not_applied"), ""),
        ("violations", timeline.violations_total, "bad" if timeline.violations_total else "ok"),
    ]
    if timeline.mode != "classic":
        stats += [
            ("elections", summary.get("elections"), ""),
            ("leader changes", summary.get("leader_changes"), ""),
            ("failover max", _seconds(summary.get("unavailability_max_s")), "warn"),
            ("failover mean", _seconds(summary.get("unavailability_mean_s")), ""),
            ("rolled back", summary.get("rolled_back_entries"), ""),
            ("final leader", summary.get("final_leader"), ""),
        ]
    return "".join(
        f'<div class="stat {cls}"><div class="label">{escape(label)}</div>'
        f'<div class="value{"" if isinstance(value, int) else " text"}" title="{escape(str(value))}">'
        f"{escape('-' if value is None else str(value))}</div></div>"
        for label, value, cls in stats
    )


def _seconds(value: Any) -> str | None:
    return None if value is None else f"{value} s"


def _legend(timeline: Timeline) -> str:
    kinds = sorted({band.kind for band in timeline.faults})
    items = [f'<span><span class="swatch" data-kind="{escape(k)}"></span>{escape(k)}</span>' for k in kinds]
    if timeline.windows:
        items.append('<span><span class="swatch" style="background:rgba(242,73,92,.35)"></span>failover window</span>')
    items.append('<span><span class="swatch" style="border:1px dashed #8e8e9f"></span>not applied</span>')
    leader = '<div class="legend" id="leader-legend"><span>leader:</span></div>'  # its nodes' colors: the script's
    return f'{leader}<div class="legend" id="timeline-legend"><span>faults:</span>{"".join(items)}</div>'


def _violations_table(timeline: Timeline) -> str:
    if not timeline.violations_total:
        return '<section class="panel" id="violations"><h2>Violations</h2><p>None: every rule held.</p></section>'
    rows = "".join(_violation_row(v) for v in timeline.violations)
    more = timeline.violations_total - len(timeline.violations)
    note = f"<p>{more} more not shown here: run the checker on the history for all of them.</p>" if more else ""
    return (
        f'<section class="panel" id="violations"><h2>Violations ({timeline.violations_total})</h2>{note}'
        "<table><tr><th>#</th><th>rule</th><th>at (s into the run)</th><th>what and its history records</th></tr>"
        f"{rows}</table>"
        "</section>"
    )


def _violation_row(v: ViolationMark) -> str:
    records = "".join(f"<pre>{escape(json.dumps(r, indent=2, default=str))}</pre>" for r in v.records)
    at = "end of run" if v.at_end else f"{v.at:.3f}"
    return (
        f'<tr id="violation-{v.id}" class="violation"><td class="num">{v.id + 1}</td><td>{escape(v.rule)}</td>'
        f'<td class="num">{at}</td><td>{escape(v.detail)}<details open><summary>{len(v.records)} history '
        f"record(s)</summary>{records}</details></td></tr>"
    )


def _windows_table(timeline: Timeline) -> str:
    if not timeline.windows:
        return ""
    rows = "".join(
        f'<tr><td>{escape(str(w.node))}</td><td class="num">{w.start:.3f}</td>'
        f'<td class="num">{"none came" if w.open else f"{w.end:.3f}"}</td>'
        f'<td class="num">{"-" if w.open else f"{w.end - w.start:.2f}"}</td></tr>'
        for w in timeline.windows
    )
    return (
        '<section class="panel"><h2>Failover windows: leader kill → first acknowledged append sent after it</h2>'
        "<table><tr><th>leader killed</th><th>kill at (s)</th><th>first ack at (s)</th><th>window (s)</th></tr>"
        f"{rows}</table></section>"
    )


def _faults_table(timeline: Timeline) -> str:
    rows = "".join(_fault_row(f) for f in timeline.faults)
    return (
        f'<section class="panel" id="faults"><h2>Faults ({len(timeline.faults)})</h2><table><tr><th>#</th>'
        "<th>kind</th><th>target</th><th>on</th><th>start (s)</th><th>end (s)</th><th>params</th><th>error</th>"
        f"</tr>{rows}</table></section>"
    )


def _fault_row(f: FaultBand) -> str:
    params = json.dumps(f.params, separators=(", ", ": ")) if f.params else ""
    return (
        f'<tr id="fault-{f.id}"><td class="num">{f.id + 1}</td><td>{escape(f.kind)}</td><td>{escape(f.target)}</td>'
        f'<td>{escape(f.lane)}</td><td class="num">{f.start:.3f}</td><td class="num">{f.end:.3f}</td>'
        f"<td>{escape(params)}</td><td>{escape(f.error or '')}</td></tr>"
    )
