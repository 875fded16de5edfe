"""Runs started together: the suite's three 60-second chaos runs (#4, #10 and #11 each asked for one).

A test module that needs such a run names it at module level, `STARTED_TOGETHER = <function of a
directory>`, and asks `started_together.result(<function>)` for its outcome. The first time any test asks,
every such function of the selected tests starts, each in a thread of its own, and they run side by side.
Each run mostly waits (a few dozen appends a second, a fault every few seconds), so on two cores the three
take the wall time of one: one after another they were 190 s of a 12-minute suite.

Nothing else shares their resources meanwhile: pytest itself waits in the first run's fixture, and the
hosts run's namespaces and addresses are used only by tests/hosts, whose tests wait for every run first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import pytest


class StartedTogether:
    def __init__(self, functions: list[Callable[[Path], Any]], tmp_path_factory: pytest.TempPathFactory) -> None:
        self._executor = ThreadPoolExecutor(max_workers=max(1, len(functions)), thread_name_prefix="together")
        self._futures: dict[Callable[[Path], Any], Future[Any]] = {
            function: self._executor.submit(function, tmp_path_factory.mktemp(function.__module__.rsplit(".", 1)[-1]))
            for function in functions
        }

    def result(self, function: Callable[[Path], Any]) -> Any:
        """The outcome of a run started together (its exception, raised here, if it failed)."""
        return self._futures[function].result()

    def wait_all(self) -> None:
        wait(self._futures.values())

    def close(self) -> None:
        self._executor.shutdown(wait=True)


@pytest.fixture(scope="session")
def started_together(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StartedTogether]:
    functions: list[Callable[[Path], Any]] = []
    for item in request.session.items:
        function = getattr(getattr(item, "module", None), "STARTED_TOGETHER", None)
        if function is not None and function not in functions:
            functions.append(function)
    runs = StartedTogether(functions, tmp_path_factory)
    yield runs
    runs.close()
