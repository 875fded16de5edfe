"""Fixtures shared by every test directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.started_together import StartedTogether


@pytest.fixture(scope="session")
def started_together(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StartedTogether]:
    """The chaos runs of the selected tests that use this fixture, started side by side (tests/started_together.py)."""
    runs = {}
    for item in request.session.items:
        module = getattr(item, "module", None)
        arguments = getattr(module, "STARTED_TOGETHER", None)
        if arguments is not None and "started_together" in getattr(item, "fixturenames", ()):
            runs[module.__name__] = arguments
    together = StartedTogether(runs, lambda name: tmp_path_factory.mktemp(name.rsplit(".", 1)[-1]))
    try:
        yield together
    finally:
        together.close()
