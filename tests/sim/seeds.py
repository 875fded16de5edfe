"""Seed selection for the simulator (read from the environment when the test module is collected).

- default: seeds 0..199
- REPLOG_SIM_SEEDS=N: seeds 0..N-1 (the overnight soak sets a large N)
- REPLOG_SIM_SEED=S: exactly seed S (replays a failure printed by any run, even S >= N)
"""

from __future__ import annotations

import os

__all__ = ["sim_seeds"]

SEEDS_DEFAULT = 200


def sim_seeds(default: int = SEEDS_DEFAULT) -> list[int]:
    single = os.environ.get("REPLOG_SIM_SEED")
    if single:
        return [int(single)]
    return list(range(int(os.environ.get("REPLOG_SIM_SEEDS", default))))
