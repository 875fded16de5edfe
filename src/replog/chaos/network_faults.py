"""How a chaos run breaks the network: through fault proxies on loopback, or with nftables between hosts.

Both take the schedule's network faults as they are (a link "a>b", a node, or the resolved leader in
`params["node"]`) and make them true until healed. The schedule lets only one network fault act at a
time, so healing one never ends another.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from replog.chaos.proxy import FaultProxy
from replog.chaos.schedule import FaultEvent, FaultKind, link_name, parse_link
from replog.hosts.cuts import Cut, between, isolate, one_way
from replog.hosts.network import HostNetwork

__all__ = ["HostFaults", "NetworkFaults", "ProxyFaults"]


class NetworkFaults(Protocol):
    kinds: frozenset[FaultKind]  # the fault kinds this network can make

    async def apply(self, event: FaultEvent) -> None: ...

    async def heal(self, event: FaultEvent) -> None: ...

    async def heal_all(self) -> None: ...


class ProxyFaults:
    """Faults made by the proxies: "proxy-N" (classic) or one per directed link "a>b" (failover)."""

    kinds = frozenset(
        {FaultKind.PARTITION, FaultKind.ONE_WAY, FaultKind.ISOLATE_LEADER, FaultKind.PROXY_DELAY, FaultKind.PROXY_DROP}
    )

    def __init__(self, proxies: dict[str, FaultProxy], nodes: list[str]) -> None:
        self._proxies = proxies
        self._nodes = nodes

    async def apply(self, event: FaultEvent) -> None:
        match event.kind:
            case FaultKind.PROXY_DELAY:
                self._proxies[event.target].set_delay(int(event.params["delay_ms"]))
            case FaultKind.PROXY_DROP:
                self._proxies[event.target].drop(refuse=True)
            case _:
                for proxy, upstream, downstream in self._cuts(event):
                    proxy.blackhole(upstream=upstream, downstream=downstream)

    async def heal(self, event: FaultEvent) -> None:
        if event.kind in (FaultKind.PROXY_DELAY, FaultKind.PROXY_DROP):
            self._proxies[event.target].heal()
            return
        for proxy, _, _ in self._cuts(event):
            proxy.heal()

    async def heal_all(self) -> None:
        for proxy in self._proxies.values():
            proxy.heal()

    def _cuts(self, event: FaultEvent) -> list[tuple[FaultProxy, bool, bool]]:
        """(proxy, cut what the dialler sends, cut what it hears back) for a partition-like fault."""
        if event.kind is FaultKind.PARTITION and event.target.startswith("proxy-"):
            return [(self._proxies[event.target], True, True)]  # classic: the master's link to one secondary
        if event.kind is FaultKind.ISOLATE_LEADER:
            leader = event.params["node"]
            others = [name for name in self._nodes if name != leader]
            links = [link_name(leader, o) for o in others] + [link_name(o, leader) for o in others]
            return [(self._proxies[link], True, True) for link in links]
        source, destination = parse_link(event.target)
        if event.kind is FaultKind.ONE_WAY:
            # destination stops hearing source: what source sends on its own connections to destination, and
            # what destination answers on destination's connections to source.
            return [
                (self._proxies[link_name(source, destination)], True, False),
                (self._proxies[link_name(destination, source)], False, True),
            ]
        return [
            (self._proxies[link_name(source, destination)], True, True),
            (self._proxies[link_name(destination, source)], True, True),
        ]


class HostFaults:
    """Faults made by nftables rules in the hosts' namespaces: packets are lost, connections stall."""

    kinds = frozenset({FaultKind.PARTITION, FaultKind.ONE_WAY, FaultKind.ISOLATE_NODE, FaultKind.ISOLATE_LEADER})

    def __init__(self, network: HostNetwork) -> None:
        self._network = network

    def cuts(self, event: FaultEvent) -> frozenset[Cut]:
        match event.kind:
            case FaultKind.ISOLATE_NODE | FaultKind.ISOLATE_LEADER:
                return isolate(event.params.get("node", event.target), self._network.hosts)
            case FaultKind.ONE_WAY:
                return one_way(*parse_link(event.target))
            case FaultKind.PARTITION:
                return between(*parse_link(event.target))
        raise ValueError(f"{event.kind} is not a network fault between hosts")

    # nft runs as a child process per host: in a thread, so the clients' loop never waits on it.
    async def apply(self, event: FaultEvent) -> None:
        await asyncio.to_thread(self._network.cut, self.cuts(event))

    async def heal(self, event: FaultEvent) -> None:
        await asyncio.to_thread(self._network.heal, self.cuts(event))

    async def heal_all(self) -> None:
        await asyncio.to_thread(self._network.heal)
