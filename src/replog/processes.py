"""replog nodes as child processes we started and stop by PID (chaos runs, namespace hosts).

Each node has its command line and environment (`NodeCommand`): on loopback, `replog ... --config
<its file>` (see `replog_command`); on namespace hosts, the compose file's command run through
`ip netns exec` (which execs it, so the PID we hold is the node's own).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["NodeCommand", "NodeProcesses", "replog_command"]

STOP_WAIT_S = 5.0
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class NodeCommand:
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)  # on top of ours, PYTHONUNBUFFERED=1 included


def replog_command(name: str, config: Path) -> NodeCommand:
    """`master` or `secondary-N` on this machine, with its settings from `config`."""
    args = ["master"] if name == "master" else ["secondary", "--id", name.rsplit("-", 1)[1]]
    return NodeCommand((sys.executable, "-m", "replog", *args, "--config", str(config)))


class NodeProcesses:
    def __init__(self, workdir: Path, commands: Mapping[str, NodeCommand]) -> None:
        """`commands`: how to start each node, by name ("master", "secondary-N")."""
        self.workdir = workdir
        self._commands = dict(commands)
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._paused: set[str] = set()
        (workdir / "logs").mkdir(parents=True, exist_ok=True)

    def log_path(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    def start(self, name: str) -> int:
        """Start `master` or `secondary-N`; its output is appended to logs/<name>.log. Returns the PID."""
        if self.alive(name):
            raise RuntimeError(f"{name} is already running")
        command = self._commands[name]
        with self.log_path(name).open("ab") as log_file:
            self._processes[name] = subprocess.Popen(
                command.argv,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                env={**_inherited_environment(), "PYTHONUNBUFFERED": "1", **command.env},
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


def _inherited_environment() -> dict[str, str]:
    """Ours, without REPLOG_*: a node's settings are its command's, not whatever this shell exported."""
    return {key: value for key, value in os.environ.items() if not key.startswith("REPLOG_")}


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
