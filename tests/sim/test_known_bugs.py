"""Regressions for real bugs the simulator found in production code, kept so they stay fixed.

1. The master's restart rebuilt the request_id window with a loop that never advanced when the
   log ended inside a multi-entry batch carrying a request_id: the master never finished starting.
"""

from __future__ import annotations

from replog.core.dedup import recent_request_ids
from replog.storage.memory import MemoryLog
from replog.types import Entry

from .test_scenarios import quiet_world

READS_MAX = 100


class ReadBudget:
    """A read function that fails loudly instead of letting a read loop spin forever."""

    def __init__(self, store: MemoryLog) -> None:
        self._store = store
        self.reads = 0

    def __call__(self, lo: int, hi: int, bytes_max: int) -> list[Entry]:
        self.reads += 1
        if self.reads > READS_MAX:
            raise RuntimeError(f"read({lo}, {hi}) called {self.reads} times: the loop never advances")
        return self._store.read(lo, hi, bytes_max)


def test_rebuild_request_ids_when_the_log_ends_in_a_batch() -> None:
    store = MemoryLog("log")
    store.append([Entry(1, b"a", None), Entry(2, b"b", "r1"), Entry(3, b"c", "r1")])
    store.sync()
    assert list(recent_request_ids(ReadBudget(store), store.last_index, 100)) == [("r1", 2, 3)]


def test_rebuild_request_ids_over_many_chunks_and_the_window_edge() -> None:
    store = MemoryLog("log")
    store.append([Entry(i, b"x" * 1000, f"r{i // 3}") for i in range(1, 10_001)])
    store.sync()
    rebuilt = list(recent_request_ids(ReadBudget(store), store.last_index, 10))
    assert rebuilt[0] == ("r3330", 9991, 9992)  # The window cuts the first request in two.
    assert rebuilt[-1] == ("r3333", 9999, 10000)


def test_master_restart_after_a_batch_with_request_id() -> None:
    """The same bug as the simulator first hit it: a master restart must finish."""
    world = quiet_world()
    request = world.workload.request((b"p1", b"p2"), w=1, request_id="r-1")
    assert world.run_until(lambda: request.outcome is not None, 1_000)
    world.master.crash()
    world.master.start()
    assert world.run_until(world.quiescent, 3_000)
