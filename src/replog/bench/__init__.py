"""`replog bench`: replog side by side with a bare HTTP handler, NATS JetStream and Redis.

Every system is started here on 127.0.0.1, driven by the same Python load generator with the
same 100-byte messages, and stopped again; every run is bounded by a count and a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from replog.bench.report import as_json, rounds_json, rounds_table, table
from replog.bench.scenarios import Budget, Plan, Row, plans
from replog.commands._common import positive_int

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--compare", action="store_true", help="also run the bare handler, NATS JetStream and Redis")
    parser.add_argument("--quick", action="store_true", help="a short run (3,000 messages or 3 s per row)")
    parser.add_argument("--count", type=int, default=30_000, help="messages per row (default 30000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="deadline per row (default 10)")
    parser.add_argument(
        "--only",
        help="comma-separated row keys (bare,http,http-tls,http-interval,http-never,http-memory,"
        "nats-seq,nats-seq-sync,seq,nats-async,pipelined,pipelined-tls,pipelined-1k,redis,"
        "http-failover,http-forwarded,seq-failover,pipelined-failover)",
    )
    parser.add_argument(
        "--rounds",
        type=positive_int,
        default=1,
        help="run the selected rows N times, a round after another; print medians and each ratio paired "
        "within its round (default 1)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument(
        "--scale", type=int, metavar="N", help="instead of the table: recovery, memory and catch-up with N messages"
    )
    parser.add_argument("--fixed-master", action="store_true", help="--scale against a fixed master (failover: false)")
    parser.add_argument(
        "--failover",
        action="store_true",
        help="instead of the table: kill -9 the leader of a failover cluster --kills times under w=2 load",
    )
    parser.add_argument("--kills", type=int, default=20, help="leader kills of --failover (default 20)")
    parser.add_argument("--clients", type=int, default=4, help="w=2 writers of --failover (default 4)")
    parser.add_argument(
        "--steady",
        type=float,
        metavar="SECONDS",
        help="instead of the table: a failover cluster under w=3 load, no faults, counting elections",
    )
    parser.add_argument(
        "--election-timeout",
        type=float,
        metavar="T",
        help="election_timeout_seconds of --failover/--steady (default: the node's default, 1.0)",
    )


def run(args: argparse.Namespace) -> int:
    if args.failover or args.steady:
        return _run_failover(args)
    if args.scale:
        from replog.bench.scale import run_scale

        report = asyncio.run(run_scale(args.scale, failover=not args.fixed_master))
        print(json.dumps(report.as_json(), indent=2) if args.json else "\n".join(report.lines()))
        return 0
    budget = Budget(3_000, 3.0) if args.quick else Budget(args.count, args.seconds)
    chosen = set(args.only.split(",")) if args.only else None
    selected = [p for p in plans() if (p.key in chosen if chosen else args.compare or not p.comparison)]
    total = len(selected) * args.rounds
    rounds = [
        [_run_one(plan, budget, number * len(selected) + position, total) for position, plan in enumerate(selected, 1)]
        for number in range(args.rounds)
    ]
    sys.stderr.write("\n")
    if args.rounds == 1:
        print(json.dumps(as_json(rounds[0]), indent=2) if args.json else table(rounds[0]))
    else:
        print(json.dumps(rounds_json(rounds), indent=2) if args.json else rounds_table(rounds))
    return 0


def _run_failover(args: argparse.Namespace) -> int:
    """--failover and/or --steady: reports of their own, not rows of the table. Exit 1 if a write was lost."""
    from replog.bench.failover import run_failover
    from replog.bench.steady import run_steady

    settings = {} if args.election_timeout is None else {"election_timeout_seconds": args.election_timeout}
    reports: dict[str, Any] = {}
    if args.failover:
        reports["failover"] = asyncio.run(run_failover(args.kills, args.clients, **settings))
    if args.steady:
        started = time.monotonic()

        def progress(done: int) -> None:
            elapsed = time.monotonic() - started
            sys.stderr.write(f"\r--steady: {done:>10,} appends, {elapsed:6.0f} s since the cluster started")
            sys.stderr.flush()

        reports["steady"] = asyncio.run(run_steady(args.steady, progress, **settings))
        sys.stderr.write("\n")
    if args.json:
        print(json.dumps({key: report.as_json() for key, report in reports.items()}, indent=2))
    else:
        print("\n\n".join("\n".join(report.lines()) for report in reports.values()))
    failover = reports.get("failover")
    bad = failover is not None and (failover.lost or failover.duplicated or failover.moved or failover.errors)
    return 1 if bad else 0


def _run_one(plan: Plan, budget: Budget, position: int, total: int) -> Row:
    started = time.monotonic()

    def progress(done: int) -> None:
        share = min(1.0, max(done / budget.count, (time.monotonic() - started) / budget.deadline_s))
        bar = "#" * int(share * 30)
        sys.stderr.write(f"\r[{position}/{total}] {plan.key:<14} [{bar:<30}] {done:>8,} msgs")
        sys.stderr.flush()

    progress(0)
    return asyncio.run(plan.run(budget, progress))
