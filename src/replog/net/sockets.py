"""TCP options for every socket a node opens or accepts: a dead peer is noticed in seconds, not minutes.

A host that is cut off, powered off or rebooted drops packets instead of resetting connections. Without
help, Linux retransmits unacknowledged data for about 15 minutes (tcp_retries2) and never probes an idle
connection for hours, so a forwarded append or a pooled connection to a vanished leader would hang that
long. Each socket gets keepalive probes after `unhealthy_after_seconds` of idleness (three, a second
apart) and TCP_USER_TIMEOUT of twice `unhealthy_after_seconds` for unacknowledged data, the bound the
replication links use for silence. Accepted sockets inherit both from the listening socket.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from replog.config import Config

__all__ = ["socket_factory", "tune"]

KEEPALIVE_PROBES = 3
KEEPALIVE_INTERVAL_S = 1


def tune(sock: socket.socket, config: Config) -> socket.socket:
    """Set keepalive and the user timeout where the platform has them (Linux has all three)."""
    if sock.type != socket.SOCK_STREAM:
        return sock
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    options = {
        "TCP_KEEPIDLE": max(1, round(config.unhealthy_after_seconds)),
        "TCP_KEEPINTVL": KEEPALIVE_INTERVAL_S,
        "TCP_KEEPCNT": KEEPALIVE_PROBES,
        "TCP_USER_TIMEOUT": round(2 * config.unhealthy_after_seconds * 1000),
    }
    for name, value in options.items():
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
    return sock


def socket_factory(config: Config) -> Callable[[tuple[Any, ...]], socket.socket]:
    """aiohttp's `socket_factory`: a tuned socket for each address the connector tries."""

    def make(addr_info: tuple[Any, ...]) -> socket.socket:
        family, kind, proto, *_ = addr_info
        return tune(socket.socket(family=family, type=kind, proto=proto), config)

    return make
