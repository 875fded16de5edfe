"""Fixtures for end-to-end tests: a Cluster in the test's tmp dir, always stopped afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import Cluster


@pytest.fixture
async def make_cluster(tmp_path: Path) -> AsyncIterator[Callable[..., Cluster]]:
    clusters: list[Cluster] = []

    def make(secondaries: int = 2, **settings: Any) -> Cluster:
        cluster = Cluster(tmp_path / f"cluster{len(clusters)}", secondaries, **settings)
        clusters.append(cluster)
        return cluster

    yield make
    for cluster in clusters:
        await cluster.close()
        cluster.stop_all()


@pytest.fixture
async def cluster(make_cluster: Callable[..., Cluster]) -> AsyncIterator[Cluster]:
    """Master + 2 secondaries, all up and healthy."""
    cluster = make_cluster()
    await cluster.start_all()
    await cluster.wait_status(0, "Healthy")
    await cluster.wait_status(1, "Healthy")
    yield cluster
