"""No Docker engine runs here, so the compose file and Dockerfile are checked by reading them.

Each compose service's command must be a valid `replog` command line whose settings (from
the service's environment) load without error, and the topology must be the classic one.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import yaml

from replog.cli import build_parser
from replog.config import load_config
from replog.hosts.compose import interpolate, load_topology

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yaml").read_text()))


def test_compose_runs_a_master_and_two_secondaries_with_valid_commands(tmp_path: Path) -> None:
    services = _compose()["services"]
    assert set(services) == {"master", "secondary-0", "secondary-1"}
    for name, service in services.items():
        command = service["command"]
        assert command[0] == "replog"
        args = build_parser().parse_args(command[1:])
        environment = {
            k: interpolate(str(v), {"REPLOG_CLUSTER_TOKEN": "s3cret"}) for k, v in service["environment"].items()
        }
        (tmp_path / "empty.yaml").write_text("{}")
        config = load_config(tmp_path / "empty.yaml", environ=environment)
        assert config.cluster_token == "s3cret"  # taken from the environment of `docker compose up`
        assert config.master == "master:7000"
        assert config.secondaries == ("secondary-0:8000", "secondary-1:9000")
        if name == "master":
            assert args.command == "master"
            assert service["ports"] == ["7000:7000"]
        else:
            assert args.command == "secondary"
            host, port = config.secondary_address(args.id)
            assert host == name and service["ports"] == [f"{port}:{port}"]
        assert any(volume.endswith(":/data") for volume in service["volumes"])
        assert "healthcheck" not in service  # the image's own HEALTHCHECK serves every service


def test_compose_puts_each_node_at_the_seed_address_on_one_network() -> None:
    topology = load_topology(ROOT / "docker-compose.yaml")
    assert str(topology.network) == "10.5.0.0/16"
    assert [(s.name, s.address, s.port) for s in topology.services] == [
        ("master", "10.5.0.2", 7000),
        ("secondary-0", "10.5.0.3", 8000),
        ("secondary-1", "10.5.0.4", 9000),
    ]
    assert all(s.environment["REPLOG_FAILOVER"] == "true" for s in topology.services)  # ${REPLOG_FAILOVER:-true}


def test_dockerfile_runs_as_non_root_with_a_data_volume_and_a_healthcheck() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    assert "USER replog" in lines
    assert "VOLUME /data" in lines
    cmd = next(line for line in lines if line.startswith("CMD "))
    assert shlex.split(cmd)[1].strip('[",') == "replog"
    check = next(line for line in lines if line.startswith("HEALTHCHECK "))
    command = json.loads(check.split(" CMD ", 1)[1])
    assert command == ["replog", "healthcheck"]
    assert build_parser().parse_args(command[1:]).command == "healthcheck"  # tests/hosts runs it for real
