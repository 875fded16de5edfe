"""docker-compose.yaml's cluster, each node on its own host (10.5.0.2, .3, .4), started with the file's own
command lines and REPLOG_* variables: the closest this machine comes to `docker compose up`.

The seed's walk-through runs as its README wrote it, with curl on the client host.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from replog.hosts.cluster import HostCluster
from replog.hosts.cuts import isolate
from replog.net.certs import write_certs
from tests.hosts.support import health, until

pytestmark = pytest.mark.e2e

CURL = ["curl", "--silent", "--show-error", "--max-time", "30"]


def curl(cluster: HostCluster, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cluster.network.exec_argv("client", [*CURL, *args]), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def answer(process: subprocess.Popen[str], timeout: float = 10.0) -> object:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return json.loads(out)


def test_the_seed_walkthrough_on_hosts_and_w3_waits_for_a_cut_secondary(compose_cluster: HostCluster) -> None:
    cluster = compose_cluster
    post = ["-X", "POST", "10.5.0.2:7000", "-H", "Content-Type: application/json", "-d"]
    assert answer(curl(cluster, *post, '{"msg": "kek", "w": 3}'))["w"] == 3
    for address in ("10.5.0.2:7000", "10.5.0.3:8000", "10.5.0.4:9000"):
        assert answer(curl(cluster, address)) == ["kek"]

    cluster.network.cut(isolate("secondary-1", cluster.names))
    blocked = curl(cluster, *post, '{"msg": "lol", "w": 3}')
    with pytest.raises(subprocess.TimeoutExpired):
        blocked.communicate(timeout=2.0)  # w=3 needs the cut host: it waits (the wait is the assertion)
    assert answer(curl(cluster, *post, '{"msg": "w2 goes on", "w": 2}'))["w"] == 2
    assert answer(curl(cluster, "10.5.0.4:9000")) == ["kek"]  # the cut host has neither

    cluster.network.heal()
    assert answer(blocked, timeout=30.0)["w"] == 3
    until(lambda: answer(curl(cluster, "10.5.0.4:9000")) == ["kek", "lol", "w2 goes on"], 15, "secondary-1 caught up")


def test_the_image_healthcheck_finds_its_node_by_the_data_directory(compose_cluster: HostCluster) -> None:
    """`replog healthcheck` (the Dockerfile's HEALTHCHECK) with a service's environment, on its host."""
    cluster = compose_cluster
    env = {"PATH": "/usr/bin:/bin", **cluster.environment("secondary-0")}
    argv = cluster.network.exec_argv("secondary-0", [sys.executable, "-m", "replog", "healthcheck"])

    def healthcheck() -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=20, cwd=cluster.workdir)

    ok = healthcheck()
    assert ok.returncode == 0, ok.stderr
    assert "secondary-0 at http://secondary-0:8000/health answers" in ok.stdout
    cluster.processes.kill("secondary-0")
    until(lambda: health(cluster, "secondary-0") is None, 5, "secondary-0 to stop answering")
    down = healthcheck()
    assert down.returncode == 1
    assert "no replog node holds a data directory" in down.stderr


def test_tls_on_every_link_across_hosts(tls_compose_cluster: HostCluster, tmp_path: Path) -> None:
    """The walk-through over HTTPS by service name, verified against the cluster's CA; plain HTTP and a client
    that trusts another CA get nothing; the image's health check speaks TLS with the node's own settings."""
    cluster = tls_compose_cluster
    ca = cluster.environment("master")["REPLOG_TLS_CA_FILE"]
    post = ["-X", "POST", "https://master:7000", "-H", "Content-Type: application/json", "-d"]
    assert answer(curl(cluster, "--cacert", ca, *post, '{"msg": "kek", "w": 3}'))["w"] == 3
    for url in ("https://secondary-0:8000", "https://secondary-1:9000"):
        assert answer(curl(cluster, "--cacert", ca, url)) == ["kek"]

    plain = curl(cluster, "http://master:7000")
    plain.communicate(timeout=10)
    assert plain.returncode != 0  # a TLS port answers no plain HTTP request
    other_ca = write_certs(tmp_path / "other", ["master"]).ca_file
    stranger = curl(cluster, "--cacert", str(other_ca), "https://master:7000")
    _, err = stranger.communicate(timeout=10)
    assert stranger.returncode == 60 and "certificate" in err  # curl: peer certificate cannot be verified

    env = {"PATH": "/usr/bin:/bin", **cluster.environment("secondary-1")}
    argv = cluster.network.exec_argv("secondary-1", [sys.executable, "-m", "replog", "healthcheck"])
    check = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=20, cwd=cluster.workdir)
    assert check.returncode == 0, check.stderr
    assert "secondary-1 at https://secondary-1:9000/health answers" in check.stdout
