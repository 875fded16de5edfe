"""Failover across hosts: the leader's host is cut from the other two by nftables while clients write.

The majority elects a leader within the failover targets (one to two election timeouts for a leader that
is cut off), the cut-off leader stops acknowledging within the election timeout (check-quorum), and after
the heal it rejoins: every w=2 acknowledgement is on every node exactly once, and every w=1 write that
only the cut-off leader took is in its rollback file, not in the log. Compose-file settings throughout
(election_timeout_seconds 1.0). Each load loop is bounded in count and time.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from replog.client import Client, ReplogClientError
from replog.hosts.cluster import HostCluster
from replog.hosts.cuts import isolate
from replog.storage.rollback import read_rollback
from tests.hosts.support import agreed_leader, health, request, until

pytestmark = pytest.mark.e2e

ELECTION_TIMEOUT_S = 1.0  # docker-compose.yaml leaves the default
ELECT_WITHIN_S = 2 * ELECTION_TIMEOUT_S + 1.0  # [T, 2T] of silence, a pre-vote and a vote; 1 s for a busy CI
STOP_ACKING_WITHIN_S = ELECTION_TIMEOUT_S + 0.5  # check-quorum's T, plus the last answer on its way
LOAD_SECONDS_MAX = 60.0


@dataclass
class Load:
    """Appends from the client host, one at a time, until stopped or bounded; what was acknowledged when."""

    cluster: HostCluster
    urls: list[str]
    w: int
    prefix: str
    limit: int = 5_000
    acked: list[tuple[float, float, str]] = field(default_factory=list)  # (sent, acknowledged, msg)
    failed: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name=self.prefix, daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        deadline = time.monotonic() + LOAD_SECONDS_MAX
        with self.cluster.network.inside(), Client(self.urls, timeout=5.0, failover_timeout=15.0) as client:
            for number in range(self.limit):
                if self.stop.is_set() or time.monotonic() > deadline:
                    return
                msg, sent = f"{self.prefix}-{number}", time.monotonic()
                try:
                    client.append(msg, w=self.w)
                    self.acked.append((sent, time.monotonic(), msg))
                except ReplogClientError as exc:
                    self.failed.append(f"{msg}: {exc}")
                    time.sleep(0.02)  # why: a refused write is retried at a bounded pace, not in a hot loop


def _one_of(names: list[str], name: str | None) -> str | None:
    return name if name in names else None


def final_log(cluster: HostCluster, name: str) -> list[str]:
    status, body = request(cluster, "GET", f"{cluster.url(name)}/", timeout=10.0)
    assert status == 200
    return body


def test_the_leader_cut_from_the_majority_is_replaced_and_rolls_back_what_only_it_took(
    compose_cluster: HostCluster,
) -> None:
    cluster = compose_cluster
    old = agreed_leader(cluster, cluster.names)
    assert old == "master"  # the configured master leads a fresh cluster
    majority = [name for name in cluster.names if name != old]
    w2 = Load(cluster, list(cluster.urls.values()), w=2, prefix="w2")
    only_old = Load(cluster, [cluster.url(old)], w=1, prefix="w1-on-old")
    threads = [w2.start()]
    until(lambda: len(w2.acked) >= 50, 20, "w=2 appends to flow")
    threads.append(only_old.start())
    until(lambda: len(only_old.acked) >= 20, 20, "w=1 appends on the leader to flow")

    cut_at = time.monotonic()
    cluster.network.cut(isolate(old, cluster.names))
    cut_done = time.monotonic()  # each host's rules go in one after the other: only now is the cut whole
    new = until(lambda: _one_of(majority, agreed_leader(cluster, majority)), 15, "the majority to elect a leader")
    elected_after = time.monotonic() - cut_at
    until(lambda: (health(cluster, old) or {}).get("role") not in (None, "leader"), 10, f"{old} to step down")
    until(lambda: any(acked > cut_at + elected_after for _, acked, _ in w2.acked), 20, "w=2 acks on the new leader")
    last_old_ack = max(acked for _, acked, _ in only_old.acked) - cut_at
    print(f"\nleader cut off: {new} elected after {elected_after:.2f}s; {old}'s last w=1 ack {last_old_ack:.2f}s")
    assert elected_after <= ELECT_WITHIN_S
    assert last_old_ack <= STOP_ACKING_WITHIN_S

    healed_at = time.monotonic()
    cluster.network.heal()
    until(lambda: agreed_leader(cluster, cluster.names), 20, "all three to follow one leader after the heal")
    w2.stop.set()
    only_old.stop.set()
    for thread in threads:
        thread.join(30)
    logs = {}

    def converged() -> bool:
        logs.update({name: final_log(cluster, name) for name in cluster.names})
        return all(log == logs[old] for log in logs.values())

    until(converged, 20, "every node to show the same log")
    log = Counter(logs[old])
    assert all(log[msg] == 1 for _, _, msg in w2.acked), "a w=2 acknowledgement was lost or duplicated"
    rolled_back = {
        entry.payload.decode()
        for path in (cluster.data_dir(old) / old / "rollback").glob("*.jsonl")
        for entry in read_rollback(path)
    }
    # Sent once the cut was whole and acknowledged before the heal: only the cut-off leader took these.
    after_cut = {msg for sent, acked, msg in only_old.acked if sent > cut_done and acked < healed_at}
    assert after_cut, "the cut-off leader acknowledged nothing with w=1: nothing shows the rollback"
    assert after_cut <= rolled_back and not after_cut & set(log)
    for _, _, msg in only_old.acked:  # never lost silently (a retry answered after the heal may be in both)
        assert msg in log or msg in rolled_back, msg
    assert (health(cluster, old) or {}).get("rolled_back", 0) >= len(after_cut)


FAST = {  # the chaos run's settings on the hosts: Unhealthy after 1.2 s, so a link silent for 2.4 s is dropped
    "REPLOG_HEARTBEAT_SECONDS": "0.2",
    "REPLOG_SUSPECT_AFTER_SECONDS": "0.6",
    "REPLOG_UNHEALTHY_AFTER_SECONDS": "1.2",
    "REPLOG_BACKOFF_MAX_SECONDS": "0.4",
    "REPLOG_ELECTION_TIMEOUT_SECONDS": "0.5",
}


def test_a_link_into_a_cut_host_is_dropped_and_redialled_and_the_follower_catches_up(
    hosts_available: None, tmp_path: Path
) -> None:
    """A cut host drops packets and never resets the connection: TCP alone would retransmit into it for
    minutes, with its backoff growing, and stay dead long after the heal. The leader drops a link silent
    for twice unhealthy_after_seconds, so the follower catches up within moments of the heal."""
    with HostCluster.from_compose(tmp_path, overrides=FAST) as cluster:
        cluster.start_all()
        until(lambda: agreed_leader(cluster, cluster.names) == "master", 30, "master to lead")
        load = Load(cluster, [cluster.url("master")], w=2, prefix="w2", limit=3_000)
        thread = load.start()
        until(lambda: len(load.acked) >= 20, 20, "appends to flow")
        cluster.network.cut(isolate("secondary-1", cluster.names))

        def link_dropped() -> str | None:
            peers = (health(cluster, "master") or {}).get("peers", [])
            error = next((p["last_error"] for p in peers if p["name"] == "secondary-1"), "")
            return error if "nothing heard for 2.4 s" in error else None

        until(link_dropped, 10, "the leader to drop its silent link to secondary-1")
        until(lambda: len(load.acked) >= 200, 30, "w=2 appends to go on with secondary-0")
        healed_at = time.monotonic()
        cluster.network.heal()
        target = int((health(cluster, "master") or {}).get("last_index", 0))

        def caught_up() -> bool:
            view = health(cluster, "secondary-1") or {}
            return int(view.get("last_index", 0)) >= target

        until(caught_up, 15, "secondary-1 to catch up after the heal")
        caught_up_after = time.monotonic() - healed_at
        load.stop.set()
        thread.join(30)
        print(f"\nsecondary-1 caught up {caught_up_after:.2f}s after the heal (to index {target})")
        assert caught_up_after <= 5.0
