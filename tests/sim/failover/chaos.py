"""Seeded faults for the failover world, swarm-style: each seed draws its own mix.

The leader is the interesting target, so several faults aim at it: crash it, isolate it, cut one
direction of one of its links. The rest hit any node: crashes, partitions, asymmetric links,
vote loss, delay spikes, link resets and slow disks. Every fault heals itself after a while;
`stop()` heals everything for the liveness phase.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .node import SimNode
    from .world import FailoverWorld

__all__ = ["FailoverChaos"]


class FailoverChaos:
    def __init__(self, world: FailoverWorld) -> None:
        self._world = world
        rng = world.rng
        self.stopped = False
        self._actions: list[tuple[str, Callable[[], None]]] = [
            ("crash_leader", self._crash_leader),
            ("crash_any", self._crash_any),
            ("isolate_leader", self._isolate_leader),
            ("partition_any", self._partition_any),
            ("asymmetric", self._asymmetric),
            ("vote_loss", self._vote_loss),
            ("spike", self._spike),
            ("reset", self._reset),
            ("slow_disk", self._slow_disk),
            ("stall_leader_ticks", self._stall_leader_ticks),
        ]
        self._weights = [rng.choice((0, 1, 1, 2, 4)) for _ in self._actions]
        self._weights[0] = max(self._weights[0], 1)  # Leader crashes in every seed: they are the point.
        self._interval_ms = rng.choice(((20, 150), (50, 400), (200, 1000)))
        # A leader that dies right after winning leaves its no-op on its own disk only: the raw material
        # of Raft's Figure 8 (an older-term entry on a majority, overwritten by a later leader).
        self._new_leader_crash_p = rng.choice((0.0, 0.0, 0.2, 0.5))
        # A leader that dies while a follower catches up on entries older than its no-op: the other half.
        self._catch_up_crash_p = rng.choice((0.0, 0.0, 0.05, 0.2))
        # A leader that dies once a follower holds entries its own disk has not synced (it sends before its
        # fsync): the restarted node's log is shorter than a follower's. A generator of its own, so the
        # seeds that never reach this point run exactly as they did before it existed.
        self._ahead_rng = random.Random(f"ahead-{world.seed}")
        self._ahead_crash_p = self._ahead_rng.choice((0.0, 0.05, 0.2, 0.5))

    def describe(self) -> str:
        mix = ", ".join(f"{name}={weight}" for (name, _), weight in zip(self._actions, self._weights, strict=True))
        crashes = (
            f"new leaders crash with p={self._new_leader_crash_p}, mid catch-up p={self._catch_up_crash_p}, "
            f"behind a follower p={self._ahead_crash_p}"
        )
        return f"faults every {self._interval_ms} ms: {mix}; {crashes}"

    def start(self) -> None:
        self._next()

    def stop(self) -> None:
        self.stopped = True
        self._world.net.heal_all()
        for node in self._world.nodes:
            node.disk.slow_until_ms = 0
            node.ticks_stalled_until_ms = 0

    def on_new_leader(self, node: SimNode) -> None:
        if not self.stopped and self._world.rng.random() < self._new_leader_crash_p:
            self._later(0, 30, f"chaos crashes new leader {node.name}", self._crash, node)

    def on_catch_up_ack(self, node: SimNode) -> None:
        """`node` leads and a follower just acked entries older than this term's no-op."""
        if not self.stopped and self._world.rng.random() < self._catch_up_crash_p:
            self._later(0, 10, f"chaos crashes {node.name} mid catch-up", self._crash, node)

    def on_follower_ahead(self, node: SimNode) -> None:
        """`node` leads and a follower just acked entries `node` has written but not yet synced."""
        if not self.stopped and self._ahead_rng.random() < self._ahead_crash_p:
            self._later(0, 3, f"chaos crashes {node.name} behind its follower", self._crash, node)

    # ----------------------------------------------------------------- helpers

    def _next(self) -> None:
        self._world.schedule(self._world.rng.randint(*self._interval_ms), "chaos", self._act)

    def _act(self) -> None:
        if self.stopped:
            return
        _, action = self._world.rng.choices(self._actions, weights=self._weights)[0]
        action()
        self._next()

    def _later(self, low_ms: int, high_ms: int, label: str, fn: Callable[..., None], *args: object) -> None:
        self._world.schedule(self._world.rng.randint(low_ms, high_ms), label, self._unless_stopped, fn, args)

    def _unless_stopped(self, fn: Callable[..., None], args: tuple[object, ...]) -> None:
        if not self.stopped:
            fn(*args)

    def _node(self) -> SimNode:
        return self._world.rng.choice(self._world.nodes)

    def _leader(self) -> SimNode:
        leaders = [n for n in self._world.nodes if n.election is not None and n.lead_term is not None]
        return self._world.rng.choice(leaders) if leaders else self._node()

    def _crash(self, node: SimNode) -> None:
        if node.up:
            node.crash()
            self._later(20, 1500, f"chaos restarts {node.name}", node.start)

    def _crash_leader(self) -> None:
        self._crash(self._leader())

    def _crash_any(self) -> None:
        self._crash(self._node())

    def _isolate(self, node: SimNode) -> None:
        world = self._world
        world.note("chaos", f"isolates {node.name}")
        for other in world.nodes:
            if other is not node:
                for src, dst in ((node.id, other.id), (other.id, node.id)):
                    world.net.cut(src, dst)
                    self._later(100, 2000, f"chaos uncuts n{src}->n{dst}", world.net.uncut, src, dst)

    def _isolate_leader(self) -> None:
        self._isolate(self._leader())

    def _partition_any(self) -> None:
        self._isolate(self._node())

    def _asymmetric(self) -> None:
        """One direction of one link: src→dst drops, dst→src works. Often a leader's outbound link."""
        world = self._world
        rng = world.rng
        src = self._leader() if rng.random() < 0.5 else self._node()
        dst = rng.choice([n for n in world.nodes if n is not src])
        if rng.random() < 0.5:
            src, dst = dst, src
        world.note("chaos", f"cuts {src.name}->{dst.name} only")
        world.net.cut(src.id, dst.id)
        self._later(100, 2000, f"chaos uncuts {src.name}->{dst.name}", world.net.uncut, src.id, dst.id)

    def _vote_loss(self) -> None:
        world = self._world
        world.net.vote_loss = world.rng.choice((0.3, 0.6, 0.9))
        self._later(200, 2000, "chaos ends vote loss", setattr, world.net, "vote_loss", 0.0)

    def _spike(self) -> None:
        rng = self._world.rng
        self._world.net.spike(self._node().id, rng.randint(20, 300), rng.randint(100, 1500))

    def _reset(self) -> None:
        conns = self._world.net.live()
        if conns:
            self._world.net.reset(self._world.rng.choice(conns), "FAULT link reset")

    def _stall_leader_ticks(self) -> None:
        world = self._world
        node = self._leader()
        node.ticks_stalled_until_ms = world.now_ms + world.rng.randint(200, 1500)
        world.note("chaos", f"stalls {node.name}'s timers")

    def _slow_disk(self) -> None:
        world = self._world
        disk = self._node().disk
        disk.slow_until_ms = world.now_ms + world.rng.randint(100, 1500)
        disk.slow_extra_ms = world.rng.randint(10, 200)
