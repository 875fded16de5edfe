"""The chaos report's HTML without a browser: self-contained, escaped, and its data block round-trips;
and the flags that write it (`--report`, `--from-history`). The browser's view is tests/e2e/test_chaos_report.py."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from replog.chaos.checker import check
from replog.chaos.cli import add_arguments, run
from replog.chaos.history import History, HistoryWriter, load_history
from replog.chaos.report import summarize
from replog.chaos.report_html import CSP, render_report
from replog.chaos.timeline import build_timeline
from tests.unit import test_chaos_failover_checker as failover

HOSTILE = "</script><script>alert(1)</script><!--"


def _data_block(html: str) -> str:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    assert match is not None
    return match.group(1)


def test_the_report_loads_nothing_from_anywhere_and_says_pass() -> None:
    history = failover.clean()
    timeline = build_timeline(history, [])
    html = render_report(timeline, summarize(history, [], elapsed_s=1.0))
    assert f'content="{CSP}"' in html
    assert not re.search(r"<link|<img|<iframe|\bsrc=", html)  # every byte it needs is inline
    assert "uPlot" in html and "report-data" in html
    assert 'class="verdict pass" id="verdict">PASS: 0 violations<' in html
    assert json.loads(_data_block(html)) == json.loads(json.dumps(timeline.to_json()))
    assert html.count('<tr id="fault-') == len(history.faults)


def test_a_message_that_looks_like_markup_cannot_break_out() -> None:
    history = failover.clean()
    history.appends.append(failover.acked(HOSTILE, 9, 2, 0.2, 0.3))  # acknowledged, then lost: a violation
    violations = check(history)
    assert [v.rule for v in violations] == ["majority_ack_lost"] and HOSTILE in violations[0].detail
    timeline = build_timeline(history, violations)
    html = render_report(timeline, summarize(history, violations, elapsed_s=1.0))
    assert HOSTILE not in html
    assert html.count("<script") == 3 and html.count("</script>") == 3  # data, uPlot, ours
    assert json.loads(_data_block(html)) == json.loads(json.dumps(timeline.to_json()))
    assert f"FAIL: {len(violations)} violation" in html
    assert html.count('<tr id="violation-') == len(violations)


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_the_report_flags() -> None:
    args = _parse()
    assert (args.report, args.from_history) == (None, None)
    args = _parse("--report", "out/r.html", "--from-history", "run/history.jsonl")
    assert (args.report, args.from_history) == (Path("out/r.html"), Path("run/history.jsonl"))


def _write(history_path: Path, history: History | None = None) -> None:
    history = history or failover.clean()
    writer = HistoryWriter(history_path)
    writer.write_meta(**history.meta)
    for record in [*history.appends, *history.reads, *history.faults, *history.finals, *history.rollbacks]:
        writer.write(record)
    for record in history.leaders:
        writer.write(record)
    writer.close()


def test_from_history_checks_and_reports_without_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history = failover.clean()
    history.meta.update(duration=1.0, converged_after_s=2.5)  # the wait for convergence writes no record
    history_path = tmp_path / "history.jsonl"
    _write(history_path, history)
    assert check(load_history(history_path)) == []
    report = tmp_path / "deep" / "report.html"
    assert run(_parse("--from-history", str(history_path), "--report", str(report))) == 0
    out = capsys.readouterr().out
    assert f"report: {report}" in out and "violations: 0" in out and "(ran 3.5 s)" in out
    assert "PASS: 0 violations" in report.read_text(encoding="utf-8")


def test_from_history_with_a_violation_exits_1_and_still_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = failover.clean()
    history.finals = failover.finals(failover.FINAL[1:], failover.INDEXES[1:])
    history_path = tmp_path / "history.jsonl"
    _write(history_path, history)
    report = tmp_path / "report.html"
    assert run(_parse("--from-history", str(history_path), "--report", str(report))) == 1
    assert "majority_ack_lost" in capsys.readouterr().out
    assert "FAIL: " in report.read_text(encoding="utf-8")


def test_from_history_that_cannot_be_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(_parse("--from-history", str(tmp_path / "nothing.jsonl"))) == 2
    assert "cannot read the history" in capsys.readouterr().err


def test_with_json_the_report_is_named_inside_the_one_json_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history_path = tmp_path / "history.jsonl"
    _write(history_path)
    report = tmp_path / "report.html"
    assert run(_parse("--from-history", str(history_path), "--report", str(report), "--json")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["report"] == str(report) and summary["violations"] == 0 and report.exists()


def test_a_report_that_cannot_be_written_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history_path = tmp_path / "history.jsonl"
    _write(history_path)
    (tmp_path / "file").write_text("")
    assert run(_parse("--from-history", str(history_path), "--report", str(tmp_path / "file" / "r.html"))) == 2
    captured = capsys.readouterr()
    assert "cannot write the report" in captured.err and "violations: 0" in captured.out
