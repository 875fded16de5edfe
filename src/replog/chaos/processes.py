"""The replog nodes of a chaos run, as child processes we started and stop by PID.

The master and the secondaries read different config files on purpose: a secondary listens on its
own entry of `secondaries`, and the master dials those entries. Giving the master the proxies'
ports and the secondaries their real ones puts a fault proxy on every replication link.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["NodeProcesses"]

STOP_WAIT_S = 5.0
PR_SET_PDEATHSIG = 1


class NodeProcesses:
    def __init__(self, workdir: Path, configs: dict[str, Path]) -> None:
        """`configs`: the config file of each node by name ("master", "secondary-N")."""
        self.workdir = workdir
        self._configs = dict(configs)
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._paused: set[str] = set()
        (workdir / "logs").mkdir(parents=True, exist_ok=True)

    def log_path(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    def start(self, name: str) -> int:
        """Start `master` or `secondary-N`; its output is appended to logs/<name>.log. Returns the PID."""
        if self.alive(name):
            raise RuntimeError(f"{name} is already running")
        config = self._configs[name]
        args = ["master"] if name == "master" else ["secondary", "--id", name.rsplit("-", 1)[1]]
        with self.log_path(name).open("ab") as log_file:
            self._processes[name] = subprocess.Popen(
                [sys.executable, "-m", "replog", *args, "--config", str(config)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                preexec_fn=_die_with_parent,
            )
        self._paused.discard(name)
        return self._processes[name].pid

    def alive(self, name: str) -> bool:
        process = self._processes.get(name)
        return process is not None and process.poll() is None

    def paused(self, name: str) -> bool:
        return name in self._paused and self.alive(name)

    def pid(self, name: str) -> int | None:
        process = self._processes.get(name)
        return process.pid if process is not None and process.poll() is None else None

    def kill(self, name: str) -> None:
        """kill -9 and reap."""
        process = self._processes[name]
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(STOP_WAIT_S)
        self._paused.discard(name)

    def pause(self, name: str) -> None:
        self._signal(name, signal.SIGSTOP)
        self._paused.add(name)

    def resume(self, name: str) -> None:
        self._signal(name, signal.SIGCONT)
        self._paused.discard(name)

    def _signal(self, name: str, sig: signal.Signals) -> None:
        process = self._processes[name]
        if process.poll() is None:
            os.kill(process.pid, sig)

    def stop_all(self) -> None:
        """Every process we started: SIGCONT (a stopped one cannot act on SIGTERM), SIGTERM, wait, SIGKILL."""
        for process in self._processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGCONT)
                    process.terminate()
        for process in self._processes.values():
            try:
                process.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._paused.clear()


def _find_prctl() -> Callable[..., int] | None:
    """Looked up once in the parent: a forked child must not load libraries before exec."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


_PRCTL = _find_prctl()


def _die_with_parent() -> None:
    """In the child, before exec: get SIGKILL if the chaos run itself dies without cleaning up (kill -9)."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)
