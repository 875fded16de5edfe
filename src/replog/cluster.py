"""`replog cluster`: a master and every configured secondary as child processes of this one.

Each child's output is copied to ours with a name prefix. Ctrl-C or SIGTERM stops them all
(SIGTERM, then SIGKILL after a grace period).

A child that exits before it reports listening failed to *start* (a locked data directory, a busy
port, a bad setting): the cluster names it and its last words, stops the others and exits non-zero.
A child that dies later (a crash, a `kill -9` to watch the cluster cope) is named with the command
that starts it again, and the others keep running: that is the fault a replicated log exists for.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["run_cluster"]

GRACE_SECONDS = 5.0
# What every node logs once it holds its data directory and its port (see node/run.py).
STARTED_MARK = " listening on "


@dataclass(eq=False)
class _Child:
    name: str
    args: list[str]
    process: subprocess.Popen[bytes]
    started: bool = False
    last_line: str = ""
    exit_code: int | None = None
    siblings: list[_Child] = field(default_factory=list)  # every child, this one included


def run_cluster(secondaries: int, passthrough: Sequence[str]) -> int:
    commands = [("master", ["master"])] + [
        (f"secondary-{i}", ["secondary", "--id", str(i)]) for i in range(secondaries)
    ]
    children: list[_Child] = []
    stopping = threading.Event()

    def stop_all(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)
    for name, args in commands:
        process = subprocess.Popen(
            [sys.executable, "-m", "replog", *args, *passthrough],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        child = _Child(name, args, process, siblings=children)
        children.append(child)
        threading.Thread(target=_copy_output, args=(child, stopping, passthrough), daemon=True).start()
    # A copier sets `stopping` when its child failed to start or was the last one running.
    while not stopping.wait(1.0):
        pass
    failed = [child for child in children if child.exit_code is not None and not child.started]
    for child in failed:
        sys.stderr.write(f"replog cluster: {child.name} failed to start: {child.last_line or 'no output'}\n")
    worst = _stop(children)
    if failed:
        sys.stderr.write("replog cluster: stopped the other nodes\n")
        return failed[0].exit_code or 1
    return worst


def _copy_output(child: _Child, stopping: threading.Event, passthrough: Sequence[str]) -> None:
    assert child.process.stdout is not None
    width = len("secondary-0")
    for raw in child.process.stdout:
        line = raw.decode(errors="replace")
        child.started = child.started or STARTED_MARK in line
        child.last_line = line.strip() or child.last_line
        sys.stdout.write(f"{child.name:<{width}} | {line}")
        sys.stdout.flush()
    child.exit_code = child.process.wait()
    if stopping.is_set():
        return
    sys.stdout.write(f"{child.name:<{width}} | exited with code {child.exit_code}\n")
    if not child.started or all(other.exit_code is not None for other in child.siblings):
        stopping.set()
        return
    again = shlex.join(["replog", *child.args, *passthrough])
    sys.stdout.write(f"{child.name:<{width}} | the others keep running; start it again with: {again}\n")
    sys.stdout.flush()


def _stop(children: list[_Child]) -> int:
    """Stop the children still running; the worst exit code among them (nodes that died earlier were
    reported when they died)."""
    running = [child for child in children if child.process.poll() is None]
    for child in running:
        child.process.send_signal(signal.SIGTERM)
    worst = 0
    for child in running:
        try:
            code = child.process.wait(GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            child.process.kill()
            code = child.process.wait()
        worst = worst or (code if code not in (0, -signal.SIGTERM) else 0)
    return worst
