"""`replog chaos`: its flags and its entry point, kept here so the main CLI only has to wire them in."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from replog.chaos.checker import Violation, check
from replog.chaos.history import History, load_history
from replog.chaos.report import format_summary, summarize
from replog.chaos.report_html import write_report
from replog.chaos.runner import ChaosOptions, run_chaos
from replog.chaos.timeline import build_timeline
from replog.hosts.cluster import COMPOSE_FILE

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=_positive_float, default=60.0, help="seconds of faults and traffic")
    parser.add_argument("--seed", type=int, default=1, help="seeds the fault schedule and the clients")
    parser.add_argument(
        "--clients",
        type=_client_count,
        default=4,
        help="concurrent POST clients (1..64); one client on /stream runs beside them",
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="work directory (default: a new temp dir)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    # Failover is the product's default, so it is the chaos run's too; the fixed master stays one flag away.
    parser.add_argument(
        "--failover",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="every node runs failover: true behind a proxy per directed link and faults also hit the leader "
        "(default); --no-failover runs the fixed master behind proxies to its secondaries",
    )
    parser.add_argument(
        "--net",
        choices=("proxy", "hosts"),
        default="proxy",
        help="proxy: every node on 127.0.0.1 behind fault proxies (default; works anywhere); hosts: each node "
        "on its own network namespace host, cut by nftables (needs root, iproute2, nftables)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="FILE.html",
        help="also write the run's report: one self-contained HTML file (timeline, faults, verdict)",
    )
    parser.add_argument(
        "--from-history",
        type=Path,
        default=None,
        metavar="HISTORY.jsonl",
        help="run nothing: check a recorded history.jsonl, print its summary (and write --report from it)",
    )
    parser.add_argument(
        "--compose",
        type=Path,
        default=_default_compose(),
        help="with --net hosts: the compose file whose services (commands, REPLOG_* environment, addresses) run",
    )


def run(args: argparse.Namespace) -> int:
    """0: no violation; 1: violations; 2: the run itself could not be made, or its report not written."""
    if args.from_history is not None:
        return _from_history(args)
    options = ChaosOptions(
        duration=args.duration,
        seed=args.seed,
        clients=args.clients,
        data_dir=args.data_dir,
        failover=args.failover,
        net=args.net,
        compose_file=args.compose,
    )
    try:
        result = run_chaos(options)
    except RuntimeError as exc:
        print(f"replog chaos: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("replog chaos: interrupted; every node it started was stopped", file=sys.stderr)
        return 130
    # Written whatever the verdict: a failing run is the one whose report is read.
    written = args.report is None or _report(
        args.report, load_history(result.history_path), result.violations, result.summary
    )
    print(json.dumps(result.summary, indent=2) if args.json else format_summary(result.summary))
    return 2 if not written else 1 if result.violations else 0


def _from_history(args: argparse.Namespace) -> int:
    """Judge and report a run made earlier (or elsewhere): the history alone holds all the evidence."""
    try:
        history = load_history(args.from_history)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        print(f"replog chaos: cannot read the history {args.from_history}: {exc}", file=sys.stderr)
        return 2
    violations = check(history)
    summary = summarize(history, violations, elapsed_s=_elapsed(history, build_timeline(history, violations).end))
    summary.update(history=str(args.from_history.resolve()), workdir=str(args.from_history.resolve().parent))
    written = args.report is None or _report(args.report, history, violations, summary)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 2 if not written else 1 if violations else 0


def _report(path: Path, history: History, violations: list[Violation], summary: dict[str, Any]) -> bool:
    """Write the report and name it in the summary (so that --json stays one JSON document)."""
    try:
        summary["report"] = str(write_report(path, history, violations, summary))
    except OSError as exc:
        print(f"replog chaos: cannot write the report {path}: {exc}", file=sys.stderr)
        return False
    return True


def _elapsed(history: History, last_record: float) -> float:
    """How long the run took as far as its history tells: up to its last record, or to the end of the wait
    for convergence after the faults (which writes no record of its own, only the time it took)."""
    converged_after = history.meta.get("converged_after_s")
    if isinstance(converged_after, int | float):
        return max(last_record, float(history.meta.get("duration") or 0.0) + converged_after)
    return last_record


def _default_compose() -> Path:
    """./docker-compose.yaml where there is one (a checkout, an operator's directory), else the project's."""
    here = Path("docker-compose.yaml")
    return here.resolve() if here.exists() else COMPOSE_FILE


def _positive_float(text: str) -> float:
    value = float(text)
    if not 0 < value <= 86_400:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 86400]")
    return value


def _client_count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{text} is not in 1..64")
    return value
