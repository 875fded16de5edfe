"""The compose file's cluster on namespace hosts: each service on its own address, started as compose would.

    with HostCluster.from_compose(workdir) as cluster:
        cluster.start_all()
        with cluster.network.inside():          # this thread is now the client host
            ...  http://10.5.0.2:7000 ...
        cluster.network.cut(isolate("master", cluster.names))

Each node runs the service's own command line with the service's environment; the only changes are
the ones a container gets from outside the file: its volume (`REPLOG_DATA_DIR` points at a directory of
this run instead of the volume's /data), the caller's `overrides` for every node (faster timeouts in
tests; named in the run's log) and `node_env` for one node (its own TLS certificate, say).
Processes are ours, stopped by PID; leaving the block stops them and then deletes
every namespace, whatever happened inside.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from replog.hosts.compose import Service, Topology, load_topology
from replog.hosts.network import HostNetwork
from replog.processes import NodeCommand, NodeProcesses

__all__ = ["COMPOSE_FILE", "HostCluster", "node_argv"]

COMPOSE_FILE = Path(__file__).resolve().parents[3] / "docker-compose.yaml"


def node_argv(command: tuple[str, ...]) -> tuple[str, ...]:
    """The service's command with `replog` run by this interpreter (the image has it on PATH; a venv may not)."""
    if command[0] != "replog":
        raise ValueError(f"a node's command starts with `replog`, not {command[0]!r}")
    return (sys.executable, "-m", "replog", *command[1:])


class HostCluster:
    def __init__(
        self,
        topology: Topology,
        workdir: Path,
        overrides: Mapping[str, str] | None = None,
        node_env: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.topology = topology
        self.workdir = workdir
        self.overrides = dict(overrides or {})
        self.node_env = {name: dict(env) for name, env in (node_env or {}).items()}
        self.network = HostNetwork({s.name: s.address for s in topology.services}, topology.network)
        self.processes = NodeProcesses(workdir, {s.name: self._command(s) for s in topology.services})

    @classmethod
    def from_compose(
        cls,
        workdir: Path,
        overrides: Mapping[str, str] | None = None,
        compose_file: Path = COMPOSE_FILE,
        compose_environ: Mapping[str, str] | None = None,
        node_env: Mapping[str, Mapping[str, str]] | None = None,
    ) -> HostCluster:
        """`compose_environ` plays the shell of `docker compose up` (e.g. REPLOG_CLUSTER_TOKEN)."""
        return cls(load_topology(compose_file, compose_environ), workdir, overrides, node_env)

    @property
    def names(self) -> list[str]:
        return list(self.topology.names)

    def environment(self, name: str) -> dict[str, str]:
        """The node's REPLOG_* environment as it runs: the service's, its volume, and what the caller set."""
        service = self.topology.service(name)
        volume = {"REPLOG_DATA_DIR": str(self.data_dir(name))}
        return {**service.environment, **volume, **self.overrides, **self.node_env.get(name, {})}

    @property
    def scheme(self) -> str:
        return "https" if self.environment(self.names[0]).get("REPLOG_TLS_CERT_FILE") else "http"

    def url(self, name: str) -> str:
        """By address: this process does not see the hosts' /etc/hosts (with TLS, certificates must name it)."""
        service = self.topology.service(name)
        return f"{self.scheme}://{service.address}:{service.port}"

    @property
    def urls(self) -> dict[str, str]:
        return {name: self.url(name) for name in self.names}

    def data_dir(self, name: str) -> Path:
        """What the service's /data volume is in this run."""
        return self.workdir / "volumes" / name

    def _command(self, service: Service) -> NodeCommand:
        self.data_dir(service.name).mkdir(parents=True, exist_ok=True)
        argv = self.network.exec_argv(service.name, node_argv(service.command))
        return NodeCommand(tuple(argv), self.environment(service.name))

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> HostCluster:
        self.network.create()
        return self

    def __exit__(self, *_: object) -> None:
        try:
            self.processes.stop_all()
        finally:
            self.network.destroy()

    def start_all(self) -> None:
        for name in self.names:
            self.processes.start(name)
