"""`replog cluster`: a master and every configured secondary as child processes of this one.

Each child's output is copied to ours with a name prefix. Ctrl-C or SIGTERM stops them all
(SIGTERM, then SIGKILL after a grace period), and if one child dies the others are stopped
too, so a half cluster is never left running.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Sequence

__all__ = ["run_cluster"]

GRACE_SECONDS = 5.0


def run_cluster(secondaries: int, passthrough: Sequence[str]) -> int:
    commands = [("master", ["master"])] + [
        (f"secondary-{i}", ["secondary", "--id", str(i)]) for i in range(secondaries)
    ]
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    stopping = threading.Event()

    def stop_all(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)
    for name, args in commands:
        child = subprocess.Popen(
            [sys.executable, "-m", "replog", *args, *passthrough],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        children.append((name, child))
        threading.Thread(target=_copy_output, args=(name, child, stopping), daemon=True).start()
    # A child's exit closes its output, and its copier then sets `stopping` too.
    while not stopping.wait(1.0):
        pass
    return _stop(children)


def _copy_output(name: str, child: subprocess.Popen[bytes], stopping: threading.Event) -> None:
    assert child.stdout is not None
    width = len("secondary-0")
    for line in child.stdout:
        sys.stdout.write(f"{name:<{width}} | {line.decode(errors='replace')}")
        sys.stdout.flush()
    if not stopping.is_set():
        sys.stdout.write(f"{name:<{width}} | exited with code {child.wait()}\n")
        stopping.set()


def _stop(children: list[tuple[str, subprocess.Popen[bytes]]]) -> int:
    for _, child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    worst = 0
    for _, child in children:
        try:
            code = child.wait(GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            code = child.wait()
        worst = worst or (code if code not in (0, -signal.SIGTERM) else 0)
    return worst
