"""Every failover node must hold the same map of the cluster, or its votes mean nothing.

Each address a node holds for node j must reach node j (which says which node it is in `/health`), every
node must count the same nodes, and all must run with failover. Addresses themselves may differ (a proxy,
a NAT, a service name): identity and count are what a vote depends on. Each peer's first answer is checked;
a peer that is not up yet checks us when it starts.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from replog.config import Config
from replog.node.names import node_name

__all__ = ["cluster_difference", "first_disagreement"]


async def first_disagreement(config: Config, node_id: int, session: aiohttp.ClientSession) -> str:
    """Ask each peer once it answers; the first difference found ('' once every peer agreed)."""
    pending = {peer: address for peer, address in enumerate(config.nodes) if peer != node_id}
    timeout = aiohttp.ClientTimeout(total=config.connection_timeout)
    while pending:
        for peer, address in list(pending.items()):
            try:
                async with session.get(f"{config.url_of(address)}/health", timeout=timeout) as response:
                    health = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError):
                continue  # Not up yet: it checks us when it starts, and we check it when it answers.
            del pending[peer]
            problem = cluster_difference(config, peer, address, health)
            if problem:
                return problem
        if pending:
            await asyncio.sleep(config.connection_timeout)  # why: retry the peers not up yet, unhurried
    return ""


def cluster_difference(config: Config, peer: int, address: str, health: Any) -> str:
    """What differs between our configuration and what the node at `address` says of itself ('' if none)."""
    ours = f"this node's settings list {len(config.nodes)} nodes and put {node_name(peer)} at {address}"
    if not isinstance(health, dict) or "term" not in health:
        return f"{ours}, but the node there runs without failover: set failover the same on every node"
    if health.get("nodes_total") != len(config.nodes):
        return f"{ours}, but that node's settings list {health.get('nodes_total')} nodes: use one node list everywhere"
    if health.get("id") != peer:
        return f"{ours}, but the node there is {health.get('name')}: the node lists differ in order or addresses"
    return ""
