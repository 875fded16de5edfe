"""CPU time of the processes of a system under test, read from /proc (Linux).

A rate on two shared cores moves with whatever else runs; the CPU the servers spend per
acknowledged append does not, so the table reports both. Only the system's own processes
(and their descendants) are counted, never the load generator.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["CLOCK_TICKS", "cpu_ms_per_1000", "cpu_seconds", "descendants", "stat_ticks"]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def _fields(stat_text: str) -> list[str]:
    # why: field 2 (comm) is in parentheses and may itself hold spaces or ')'; fields resume after the last ')'.
    return stat_text[stat_text.rindex(")") + 2 :].split()


def stat_ticks(stat_text: str) -> int:
    """utime + stime (fields 14 and 15 of /proc/<pid>/stat), in clock ticks."""
    rest = _fields(stat_text)  # rest[0] is field 3 (state)
    return int(rest[11]) + int(rest[12])


def _parent(stat_text: str) -> int:
    return int(_fields(stat_text)[1])  # field 4 (ppid)


def _read(pid: int) -> str | None:
    try:
        return (PROC / str(pid) / "stat").read_text()
    except OSError:  # why: a process may exit between listing and reading
        return None


def descendants(pids: Iterable[int]) -> set[int]:
    """`pids` and every live process below them."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (text := _read(int(entry.name))) is not None:
            children.setdefault(_parent(text), []).append(int(entry.name))
    found, todo = set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def cpu_seconds(pids: Iterable[int]) -> float:
    """CPU seconds (user + system) spent so far by `pids` and their descendants."""
    ticks = sum(stat_ticks(text) for pid in descendants(pids) if (text := _read(pid)) is not None)
    return ticks / CLOCK_TICKS


def cpu_ms_per_1000(cpu_s: float, messages: int) -> float:
    return cpu_s * 1e6 / messages if messages else float("nan")
