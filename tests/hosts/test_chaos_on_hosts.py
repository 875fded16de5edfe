"""`replog chaos --net hosts`: the chaos run with each node on its own namespace host, partitions made by
nftables (a node isolated, a pair cut, a one-way cut, the leader cut off) beside kill -9 and SIGSTOP,
and the same checker. Run as a user would, through the CLI, for 60 seconds, side by side with the suite's
other chaos runs (tests/started_together.py)."""

from __future__ import annotations

import json

import pytest

from replog.chaos.history import load_history
from replog.chaos.schedule import HOSTS_KINDS
from replog.storage.lock import is_held
from tests.started_together import StartedTogether

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("hosts_available")]

DURATION_S = 60
SEED = 1


STARTED_TOGETHER = ["--net", "hosts", "--duration", str(DURATION_S), "--seed", str(SEED)]


def test_a_60_second_chaos_run_on_hosts_keeps_every_promise(started_together: StartedTogether) -> None:
    done = started_together.result(__name__)
    assert done.returncode == 0, done.tail
    summary = done.summary
    print(json.dumps(summary, indent=2))
    assert summary["net"] == "hosts"
    assert summary["violations"] == 0 and summary["converged"]
    assert set(summary["faults"]) == {kind.value for kind in HOSTS_KINDS}
    for kind in ("partition", "one_way", "isolate_node", "isolate_leader", "kill_leader", "kill_node", "pause_node"):
        assert summary["faults"][kind] >= 1, kind
    assert summary["elections"] >= 1 and summary["acknowledged"] >= 100  # traffic flowed all along (a busy CI is slow)
    assert summary["streamed_acknowledged"] > 0  # the client on /stream was judged too

    history = load_history(done.history_path)
    assert history.meta["addresses"]["master"] == "10.5.0.2"  # the compose file's hosts, not loopback
    assert all(url.startswith("http://10.5.0.") for url in history.meta["urls"].values())
    assert history.meta["overrides"]["REPLOG_ELECTION_TIMEOUT_SECONDS"] == "0.5"
    node_dirs = list(done.directory.glob("volumes/*/*/LOCK"))
    assert len(node_dirs) == 3 and not any(is_held(lock.parent) for lock in node_dirs)  # every node stopped
