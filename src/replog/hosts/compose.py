"""The nodes as docker-compose.yaml declares them: command line, environment, address, port.

The compose file is the single source of how a node starts. The namespace hosts run exactly these
command lines with exactly this environment (after compose's own `${NAME:-default}` substitution), so
what the tests prove on the hosts is what `docker compose up` would run. Pure: text in, data out.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ComposeError", "Service", "Topology", "interpolate", "load_topology", "parse_topology"]

_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


class ComposeError(ValueError):
    """The compose file does not declare what the hosts need; the message says what is missing."""


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    command: tuple[str, ...]  # e.g. ("replog", "secondary", "--id", "0")
    environment: Mapping[str, str]  # REPLOG_* after substitution
    address: str  # its fixed address on the compose network, e.g. "10.5.0.3"
    port: int  # the container port it serves on (the first `ports:` entry)


@dataclass(frozen=True, slots=True)
class Topology:
    network: ipaddress.IPv4Network  # the compose network's subnet
    services: tuple[Service, ...]  # in file order: the master first

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(f"no service {name!r} in the compose file (it has {', '.join(self.names)})")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(service.name for service in self.services)


def load_topology(path: Path, environ: Mapping[str, str] | None = None) -> Topology:
    """Read `path`; `environ` plays the shell that runs `docker compose up` (default: empty)."""
    return parse_topology(path.read_text(), environ or {})


def parse_topology(text: str, environ: Mapping[str, str]) -> Topology:
    document = yaml.safe_load(text)
    networks = _mapping(document.get("networks"), "networks")
    if len(networks) != 1:
        raise ComposeError("the compose file must declare exactly one network (the nodes' own)")
    (network_name, network), *_ = networks.items()
    try:
        subnet = ipaddress.IPv4Network(network["ipam"]["config"][0]["subnet"])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ComposeError(f"network {network_name} needs ipam.config[0].subnet (an IPv4 subnet): {exc}") from None
    services = [
        _service(name, _mapping(spec, f"services.{name}"), network_name, subnet, environ)
        for name, spec in _mapping(document.get("services"), "services").items()
    ]
    return Topology(subnet, tuple(services))


def interpolate(value: str, environ: Mapping[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME-default}` and `${NAME:-default}` (unset or empty takes the default)."""

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        return environ.get(name) or (default or "")

    return _VARIABLE.sub(one, value)


def _service(
    name: str, spec: Mapping[str, Any], network: str, subnet: ipaddress.IPv4Network, environ: Mapping[str, str]
) -> Service:
    command = spec.get("command")
    if not isinstance(command, list) or not command:
        raise ComposeError(f"service {name}: command must be a list (the exec form)")
    environment = {str(k): interpolate(str(v), environ) for k, v in _mapping(spec.get("environment"), name).items()}
    try:
        address = str(spec["networks"][network]["ipv4_address"])
    except (KeyError, TypeError):
        raise ComposeError(f"service {name}: needs networks.{network}.ipv4_address") from None
    if ipaddress.IPv4Address(address) not in subnet:
        raise ComposeError(f"service {name}: {address} is outside {subnet}")
    ports = spec.get("ports") or []
    if not ports:
        raise ComposeError(f"service {name}: needs a ports entry")
    port = int(str(ports[0]).rsplit(":", 1)[-1])
    return Service(name, tuple(str(part) for part in command), environment, address, port)


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ComposeError(f"{what} must be a mapping in the compose file")
    return value
