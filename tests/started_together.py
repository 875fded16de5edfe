"""Runs started together: the suite's three 60-second chaos runs (#4, #10 and #11 each asked for one).

A test module that needs such a run names its `replog chaos` arguments at module level,
`STARTED_TOGETHER = [...]`, and a test that uses the `started_together` fixture asks it for the run's
outcome. The first time any test asks, the run of every selected test that uses the fixture starts, each
as a `replog chaos --json` process of its own, as a user would run it, and they run side by side. Each
mostly waits (a few dozen appends a second, a fault every few seconds), so on two cores the three take
the wall time of one: one after another they were 190 s of a 12-minute suite.

Whoever asks waits for all of them, so no other test shares the machine with a run (their liveness
checks are timed: elections, convergence). Ctrl-C reaches the runs too (one process group); a session
that ends early stops those still running with SIGTERM, on which `replog chaos` stops every node it
started.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUN_TIMEOUT_S = 300.0  # the three 60-second runs, their healing, convergence and checks, on a slow machine
STOP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class FinishedRun:
    directory: Path  # its --data-dir: history.jsonl, node logs and data
    returncode: int
    stdout: str
    stderr: str

    @property
    def summary(self) -> dict[str, Any]:
        """The run's --json summary; an assertion error with its output if it printed none."""
        try:
            return dict(json.loads(self.stdout))
        except ValueError:
            raise AssertionError(f"replog chaos printed no summary (exit {self.returncode}):\n{self.tail}") from None

    @property
    def history_path(self) -> Path:
        return self.directory / "history.jsonl"

    @property
    def tail(self) -> str:
        return self.stdout[-3000:] + self.stderr[-3000:]


class StartedTogether:
    def __init__(self, runs: dict[str, Sequence[str]], directory_for: Any) -> None:
        """`runs`: each module's `replog chaos` arguments by module name; `directory_for(name)` a new directory."""
        self._runs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        for name, arguments in runs.items():
            directory = directory_for(name)
            argv = [sys.executable, "-m", "replog", "chaos", *arguments, "--json", "--data-dir", str(directory)]
            with (directory / "stdout").open("wb") as out, (directory / "stderr").open("wb") as err:
                self._runs[name] = (subprocess.Popen(argv, stdout=out, stderr=err), directory)
        self._finished: dict[str, FinishedRun] = {}
        self._deadline = time.monotonic() + RUN_TIMEOUT_S  # one for all: they run side by side

    def result(self, module: str) -> FinishedRun:
        """The run of that module, once every run has finished."""
        self.wait_all()
        return self._finished[module]

    def wait_all(self) -> None:
        """Until every run has ended; those that outlive the shared deadline are stopped and say so."""
        late: list[str] = []
        for name, (process, _) in self._runs.items():
            try:
                process.wait(max(0.0, self._deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                late.append(name)
        _stop([self._runs[name][0] for name in late])
        for name, (process, directory) in self._runs.items():
            if name not in self._finished:
                note = f"\n[started_together: still running after {RUN_TIMEOUT_S:g} s; stopped]" if name in late else ""
                stdout, stderr = (directory / "stdout").read_text(), (directory / "stderr").read_text()
                self._finished[name] = FinishedRun(directory, process.wait(), stdout, stderr + note)

    def close(self) -> None:
        _stop([process for process, _ in self._runs.values() if process.poll() is None])


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to all (on which `replog chaos` stops every node it started), then SIGKILL to any left."""
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
