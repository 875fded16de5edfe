"""The seeded fault schedule: which fault, on what, when, for how long.

Three menus: the classic one (a fixed master, proxies on its links to the secondaries), the failover
one (every node a peer, a proxy on every directed link, and faults aimed at "leader": whichever node
leads when the fault starts, found by the injector through /health), and the hosts one (the failover
menu on namespace hosts: cuts made by nftables, including a node isolated from all, and no proxy faults).

Pure and decided up front from the seed, so one seed names one run's faults and a violation can be
replayed. Kinds are drawn from shuffled bags so that every kind comes up early in any run of
reasonable length; at most `max_concurrent` faults overlap, and a target never carries two faults at once
(SIGSTOP and kill -9 of the same process would fight each other). Every fault has an end: the runner
heals it then, and heals everything again at the end of the run.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "CLASSIC_KINDS",
    "FAILOVER_KINDS",
    "HOSTS_KINDS",
    "LEADER",
    "FaultEvent",
    "FaultKind",
    "link_name",
    "make_failover_schedule",
    "make_hosts_schedule",
    "make_schedule",
    "parse_link",
]


class FaultKind(StrEnum):
    PARTITION = "partition"  # proxy accepts and forwards nothing
    PROXY_DELAY = "proxy_delay"  # proxy delays every chunk both ways
    PROXY_DROP = "proxy_drop"  # proxy resets its connections and refuses new ones for a while
    PAUSE = "pause"  # SIGSTOP a secondary, SIGCONT it later
    KILL_SECONDARY = "kill_secondary"  # kill -9 a secondary, restart it later
    KILL_MASTER = "kill_master"  # kill -9 the master, restart it later
    SECONDARY_FAULTS = "secondary_faults"  # POST /faults on a secondary, reset later
    # Failover mode only.
    ONE_WAY = "one_way"  # link "a>b": b stops hearing a (a's bytes to b and b's answers to a are swallowed)
    PAUSE_NODE = "pause_node"  # SIGSTOP any node
    KILL_NODE = "kill_node"  # kill -9 any node, restart it later
    KILL_LEADER = "kill_leader"  # kill -9 the leader of the moment, restart it later
    PAUSE_LEADER = "pause_leader"  # SIGSTOP the leader: it wakes up deposed, or not
    ISOLATE_LEADER = "isolate_leader"  # cut every link to and from the leader, both directions
    # Hosts mode only.
    ISOLATE_NODE = "isolate_node"  # a node's host neither hears nor is heard by the other nodes' hosts


CLASSIC_KINDS: tuple[FaultKind, ...] = (
    FaultKind.PARTITION,
    FaultKind.PROXY_DELAY,
    FaultKind.PROXY_DROP,
    FaultKind.PAUSE,
    FaultKind.KILL_SECONDARY,
    FaultKind.KILL_MASTER,
    FaultKind.SECONDARY_FAULTS,
)
# Leader faults come up twice per bag: failover is what this mode is about.
FAILOVER_BAG: tuple[FaultKind, ...] = (
    FaultKind.PARTITION,
    FaultKind.PROXY_DELAY,
    FaultKind.PROXY_DROP,
    FaultKind.ONE_WAY,
    FaultKind.PAUSE_NODE,
    FaultKind.KILL_NODE,
    FaultKind.SECONDARY_FAULTS,
    FaultKind.KILL_LEADER,
    FaultKind.KILL_LEADER,
    FaultKind.PAUSE_LEADER,
    FaultKind.PAUSE_LEADER,
    FaultKind.ISOLATE_LEADER,
    FaultKind.ISOLATE_LEADER,
)
FAILOVER_KINDS: tuple[FaultKind, ...] = tuple(dict.fromkeys(FAILOVER_BAG))
# On hosts: no proxy to delay or reset a connection (and no tc netem in this kernel); a whole host cut off.
HOSTS_BAG: tuple[FaultKind, ...] = (
    *(kind for kind in FAILOVER_BAG if kind not in (FaultKind.PROXY_DELAY, FaultKind.PROXY_DROP)),
    FaultKind.ISOLATE_NODE,
)
HOSTS_KINDS: tuple[FaultKind, ...] = tuple(dict.fromkeys(HOSTS_BAG))
LEADER = "leader"
# Failover faults that act on a process, or on links: at most one of each at a time, so that two faults
# never act on one process (kill -9 and SIGSTOP would fight) or on one proxy (one heal would end both).
_PROCESS = frozenset({FaultKind.PAUSE_NODE, FaultKind.KILL_NODE, FaultKind.KILL_LEADER, FaultKind.PAUSE_LEADER})
_NETWORK = frozenset(
    {
        FaultKind.PARTITION,
        FaultKind.PROXY_DELAY,
        FaultKind.PROXY_DROP,
        FaultKind.ONE_WAY,
        FaultKind.ISOLATE_LEADER,
        FaultKind.ISOLATE_NODE,
    }
)


# (shortest, longest) time a fault lasts, seconds.
DURATIONS: dict[FaultKind, tuple[float, float]] = {
    FaultKind.PARTITION: (0.5, 3.0),
    FaultKind.PROXY_DELAY: (1.0, 4.0),
    FaultKind.PROXY_DROP: (0.2, 1.5),
    FaultKind.PAUSE: (0.3, 2.5),
    FaultKind.KILL_SECONDARY: (0.2, 2.0),
    FaultKind.KILL_MASTER: (0.1, 1.5),
    FaultKind.SECONDARY_FAULTS: (1.0, 4.0),
    FaultKind.ONE_WAY: (1.0, 4.0),
    FaultKind.PAUSE_NODE: (0.3, 2.5),
    FaultKind.KILL_NODE: (0.2, 2.0),
    FaultKind.KILL_LEADER: (0.3, 3.0),
    FaultKind.PAUSE_LEADER: (0.3, 3.0),
    FaultKind.ISOLATE_LEADER: (0.5, 4.0),
    FaultKind.ISOLATE_NODE: (0.5, 4.0),
}


@dataclass(frozen=True, slots=True)
class FaultEvent:
    kind: FaultKind
    target: str  # "master", "secondary-N" or "proxy-N"
    start: float  # seconds since the run started
    end: float
    params: dict[str, Any] = field(default_factory=dict)


def make_schedule(
    seed: int,
    duration: float,
    secondaries: int = 2,
    *,
    warmup: float = 1.0,
    quiet_tail: float = 1.0,
    max_concurrent: int = 2,
) -> list[FaultEvent]:
    """Faults starting in [warmup, duration - quiet_tail), each ending by `duration`."""
    return _draw(
        random.Random(seed),
        duration,
        CLASSIC_KINDS,
        lambda kind: _targets(kind, secondaries),
        lambda kind, target: target,
        warmup=warmup,
        quiet_tail=quiet_tail,
        max_concurrent=max_concurrent,
    )


def make_failover_schedule(
    seed: int,
    duration: float,
    nodes: tuple[str, ...] = ("master", "secondary-0", "secondary-1"),
    *,
    warmup: float = 2.0,
    quiet_tail: float = 1.0,
    max_concurrent: int = 2,
    bag: tuple[FaultKind, ...] = FAILOVER_BAG,
) -> list[FaultEvent]:
    """The failover menu: any node, any directed link, and "leader" (resolved when the fault starts)."""
    links = [link_name(a, b) for a in nodes for b in nodes if a != b]

    def targets(kind: FaultKind) -> list[str]:
        if kind in (FaultKind.KILL_LEADER, FaultKind.PAUSE_LEADER, FaultKind.ISOLATE_LEADER):
            return [LEADER]
        if kind in (FaultKind.PARTITION, FaultKind.PROXY_DELAY, FaultKind.PROXY_DROP, FaultKind.ONE_WAY):
            return links
        if kind is FaultKind.SECONDARY_FAULTS:
            return [n for n in nodes if n != nodes[0]]
        return list(nodes)

    def busy_key(kind: FaultKind, target: str) -> str:
        if kind in _PROCESS:
            return "process"
        return "network" if kind in _NETWORK else target

    return _draw(
        random.Random(seed),
        duration,
        bag,
        targets,
        busy_key,
        warmup=warmup,
        quiet_tail=quiet_tail,
        max_concurrent=max_concurrent,
    )


def make_hosts_schedule(
    seed: int, duration: float, nodes: tuple[str, ...] = ("master", "secondary-0", "secondary-1")
) -> list[FaultEvent]:
    """The hosts menu: the failover menu's targets, with nftables cuts in place of proxy faults."""
    return make_failover_schedule(seed, duration, nodes, bag=HOSTS_BAG)


def link_name(source: str, destination: str) -> str:
    """The directed link `source` dials `destination` on (one fault proxy each)."""
    return f"{source}>{destination}"


def parse_link(link: str) -> tuple[str, str]:
    source, destination = link.split(">")
    return source, destination


def _draw(
    rng: random.Random,
    duration: float,
    kinds: tuple[FaultKind, ...],
    targets_of: Callable[[FaultKind], list[str]],
    busy_key: Callable[[FaultKind, str], str],
    *,
    warmup: float,
    quiet_tail: float,
    max_concurrent: int,
) -> list[FaultEvent]:
    events: list[FaultEvent] = []
    busy_until: dict[str, float] = {}
    bag: list[FaultKind] = []
    t = warmup
    last_start = duration - quiet_tail
    while t < last_start:
        if not bag:
            bag = list(kinds)
            rng.shuffle(bag)
        active = [e for e in events if e.end > t]
        if len(active) >= max_concurrent:
            t = min(e.end for e in active) + 0.05
            continue
        kind = bag[-1]
        targets = [name for name in targets_of(kind) if busy_until.get(busy_key(kind, name), 0.0) <= t]
        if not targets:
            t += 0.2
            continue
        bag.pop()
        target = rng.choice(targets)
        low, high = DURATIONS[kind]
        end = min(duration, t + rng.uniform(low, high))
        events.append(FaultEvent(kind, target, round(t, 3), round(end, 3), _params(kind, rng)))
        busy_until[busy_key(kind, target)] = end
        t += rng.uniform(0.3, 1.5)
    return events


def _targets(kind: FaultKind, secondaries: int) -> list[str]:
    if kind is FaultKind.KILL_MASTER:
        return ["master"]
    if kind in (FaultKind.PARTITION, FaultKind.PROXY_DELAY, FaultKind.PROXY_DROP):
        return [f"proxy-{i}" for i in range(secondaries)]
    return [f"secondary-{i}" for i in range(secondaries)]


def _params(kind: FaultKind, rng: random.Random) -> dict[str, Any]:
    if kind is FaultKind.PROXY_DELAY:
        return {"delay_ms": rng.randint(20, 250)}
    if kind in (FaultKind.KILL_LEADER, FaultKind.PAUSE_LEADER, FaultKind.ISOLATE_LEADER):
        return {}
    if kind is FaultKind.SECONDARY_FAULTS:
        variant = rng.choice(
            ["error_after_append", "error_after_append", "delay_ms", "internal_looping", "unavailable"]
        )
        if variant == "error_after_append":
            return {"error_after_append": round(rng.uniform(0.1, 0.5), 2), "delay_ms": [0, rng.randint(0, 50)]}
        if variant == "delay_ms":
            low = rng.randint(0, 100)
            return {"delay_ms": [low, low + rng.randint(0, 300)]}
        if variant == "internal_looping":
            return {"internal_looping": round(rng.uniform(0.3, 2.0), 2)}
        return {"server_unavailable": round(rng.uniform(0.3, 2.0), 2)}
    return {}
