"""Host tests run only where network namespaces and nftables work (root, iproute2, nftables): elsewhere
they are skipped with the reason. `.ci/run` installs both, so CI runs them for real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from replog.hosts.cluster import HostCluster
from replog.hosts.network import unavailable_reason
from replog.net.certs import write_certs
from tests.hosts.support import agreed_leader, logs_tail, until
from tests.started_together import StartedTogether

START_TIMEOUT_S = 30.0


@pytest.fixture(autouse=True)
def _no_chaos_run_alongside(started_together: StartedTogether) -> None:
    """Runs started together during the e2e tests (tests/started_together.py) end before any host test: their
    timings (elections, cuts, convergence) are not to share two cores with a chaos run."""
    started_together.wait_all()


@pytest.fixture
def hosts_available() -> None:
    if reason := unavailable_reason():
        pytest.skip(f"namespace hosts unavailable here: {reason}")


@pytest.fixture
def compose_cluster(hosts_available: None, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[HostCluster]:
    """The compose file's three nodes on their own hosts, as the file starts them, with a leader elected."""
    yield from _running(HostCluster.from_compose(tmp_path), request)


@pytest.fixture
def tls_compose_cluster(hosts_available: None, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[HostCluster]:
    """The same with TLS on every link: `replog certs` for the three service names and their addresses, each
    node given its own certificate through REPLOG_TLS_* as an operator would add them to the compose file."""
    names = ["master", "secondary-0", "secondary-1"]
    certs = write_certs(tmp_path / "certs", [*names, "10.5.0.2", "10.5.0.3", "10.5.0.4"])
    node_env = {
        name: {
            "REPLOG_TLS_CERT_FILE": str(certs.certs[name][0]),
            "REPLOG_TLS_KEY_FILE": str(certs.certs[name][1]),
            "REPLOG_TLS_CA_FILE": str(certs.ca_file),
        }
        for name in names
    }
    yield from _running(HostCluster.from_compose(tmp_path, node_env=node_env), request)


def _running(cluster: HostCluster, request: pytest.FixtureRequest) -> Iterator[HostCluster]:
    with cluster:
        cluster.start_all()
        until(lambda: agreed_leader(cluster, cluster.names), START_TIMEOUT_S, "the cluster to elect a leader")
        yield cluster
        if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
            print(logs_tail(cluster))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
