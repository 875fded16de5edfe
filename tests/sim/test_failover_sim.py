"""The seeded failover runs: three nodes electing their leader under crashes, partitions,
asymmetric links and vote loss; one test per seed, then a liveness phase after the heal.

A failure prints the seed, the command that replays it and the tail of the event trace.
"""

from __future__ import annotations

import pytest

from .failover.world import FailoverWorld
from .seeds import sim_seeds
from .world import SimFailure

SEEDS = sim_seeds()


def report(failure: SimFailure, tail: int = 60) -> str:
    return "\n".join(
        [
            str(failure),
            f"reproduce: REPLOG_SIM_SEED={failure.seed} python -m pytest tests/sim/test_failover_sim.py",
            f"last {min(tail, len(failure.trace))} events:",
            *failure.trace[-tail:],
        ]
    )


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed_{seed}" for seed in SEEDS])
def test_failover_seed(seed: int) -> None:
    world = FailoverWorld(seed)
    try:
        world.run()
    except SimFailure as failure:
        pytest.fail(report(failure), pytrace=False)
