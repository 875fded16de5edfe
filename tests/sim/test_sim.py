"""The seeded simulation runs: one test per seed, each a fault phase plus a liveness phase.

A failure prints the seed, the command that replays it and the tail of the event trace.
"""

from __future__ import annotations

import pytest

from .seeds import sim_seeds
from .world import SimFailure, World

SEEDS = sim_seeds()


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed_{seed}" for seed in SEEDS])
def test_seed(seed: int) -> None:
    world = World(seed)
    try:
        world.run()
    except SimFailure as failure:
        pytest.fail(failure.report(), pytrace=False)


def test_same_seed_same_run() -> None:
    """Determinism is what makes a seed a reproduction: two runs must match event for event."""
    first, second = World(7), World(7)
    first.run()
    second.run()
    assert first.trace_lines() == second.trace_lines()
    assert (first.steps, first.now_ms, first.stats) == (second.steps, second.now_ms, second.stats)


def test_runs_are_not_idle() -> None:
    """Guard against a simulator that passes because nothing happens: faults and releases occur."""
    stats: dict[str, int] = {}
    for seed in range(20):
        world = World(seed)
        world.run()
        for key, count in world.stats.items():
            stats[key] = stats.get(key, 0) + count
    keys = ("catch-up", "error_after_append", "master crashes", "secondary crashes", "peer Suspected")
    for key in (*keys, "record runs stored"):
        assert stats.get(key, 0) > 0, f"no {key!r} in 20 seeds: {stats}"
    assert stats.get("released w=3", 0) > 100, stats
    assert stats.get("duplicate proposals", 0) > 0, stats
