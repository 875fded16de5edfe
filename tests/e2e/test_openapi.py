"""The OpenAPI description matches the live master: schemathesis fuzzes every client endpoint.

Designed 5xx answers (503 read-only, 504 on timeout_ms) are declared in the spec and checked by
schemathesis' status and schema conformance checks; an undeclared failure would show up either as
a response outside the spec or as a traceback in the master's log, which the test also reads.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.cluster import Cluster

pytestmark = pytest.mark.e2e


async def test_openapi_is_served_and_lists_every_client_endpoint(cluster: Cluster) -> None:
    session = await cluster.http()
    async with session.get(cluster.url("master") + "/openapi.json") as response:
        spec = await response.json()
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {"/", "/messages", "/health", "/metrics"}
    assert {"200", "201", "400", "413", "503", "504"} <= set(spec["paths"]["/"]["post"]["responses"])


@pytest.mark.parametrize("failover", [False, True], ids=["fixed-master", "failover"])
async def test_schemathesis_finds_nothing_outside_the_spec(
    failover: bool, make_cluster: Callable[..., Cluster]
) -> None:
    """Against the leader of each configuration (failover is the default, with its own /health shape)."""
    cluster = make_cluster(failover=failover, election_timeout_seconds=0.5) if failover else make_cluster()
    await cluster.start_all()
    await _serving(cluster, failover)
    schemathesis = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    command = [
        schemathesis,
        "run",
        cluster.url("master") + "/openapi.json",
        "--checks",
        "all",
        "--exclude-checks",
        "not_a_server_error",
        "--max-examples",
        "60",
        "--phases",
        "examples,coverage,fuzzing",
        "--seed",
        "1",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=240, env={**os.environ, "NO_COLOR": "1"})
    assert run.returncode == 0, run.stdout[-4000:]
    assert "No issues found" in run.stdout
    problems = [block for block in cluster.log_text("master").split("Traceback")[1:] if "BadHttpMessage" not in block]
    assert not problems, problems[0][:2000]
    assert (await cluster.append("still serving", w=3))[0] == 201


async def _serving(cluster: Cluster, failover: bool) -> None:
    """Until the master takes w=3 appends: with failover, once it leads and hears both followers."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        health = await cluster.health("master")
        alive = (health.get("quorum") or {}).get("alive")
        if alive == 3 and (health.get("role") == "leader" or not failover):
            return
        assert loop.time() < deadline, f"the master did not serve within 30 s: {health}"
        await asyncio.sleep(0.1)  # why: poll, bounded, for the first election and both links
