"""Seeded fault injection for the fault phase, in the "swarm testing" style of VOPR.

Each seed draws its own fault mix (some faults weighted high, others off entirely), so across
seeds the simulator explores quiet runs, runs dominated by one fault, and mixtures. Every fault
heals itself after a while; `stop()` heals everything at once for the liveness phase.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from replog.faults import FaultPlan

from .net import DIRECTIONS

if TYPE_CHECKING:
    from .world import World

__all__ = ["Chaos"]

_ERROR_AFTER_APPEND = (0.0, 0.0, 0.02, 0.1, 0.3)
_ACK_DELAYS_MS = ((0, 0), (0, 0), (0, 10), (5, 100), (50, 800))


class Chaos:
    def __init__(self, world: World) -> None:
        self._world = world
        rng = world.rng
        self.stopped = False
        self.injected: dict[str, int] = {}
        self._actions: list[tuple[str, Callable[[], None]]] = [
            ("reset", self._reset),
            ("partition", self._partition),
            ("swizzle", self._swizzle),
            ("spike", self._spike),
            ("crash_secondary", self._crash_secondary),
            ("crash_master", self._crash_master),
            ("fault_plan", self._fault_plan),
            ("slow_disk", self._slow_disk),
            ("disk_full", self._disk_full),
        ]
        self._weights = [rng.choice((0, 1, 1, 2, 4)) for _ in self._actions]
        self._interval_ms = rng.choice(((10, 100), (50, 400), (200, 1500)))
        self._swizzling = False

    def describe(self) -> str:
        mix = ", ".join(f"{name}={weight}" for (name, _), weight in zip(self._actions, self._weights, strict=True))
        return f"faults every {self._interval_ms} ms: {mix}"

    def start(self) -> None:
        if any(self._weights):
            self._next()

    def stop(self) -> None:
        """Heal every link, clear every FaultPlan and slow disk; the world restarts crashed nodes."""
        self.stopped = True
        world = self._world
        world.net.heal_all()
        for secondary in world.secondaries:
            secondary.faults = FaultPlan()
        for disk in [world.master.disk, *(s.disk for s in world.secondaries)]:
            disk.slow_until_ms = 0
            disk.full_until_ms = 0

    # ----------------------------------------------------------------- helpers

    def _next(self) -> None:
        self._world.schedule(self._world.rng.randint(*self._interval_ms), "chaos", self._act)

    def _act(self) -> None:
        if self.stopped:
            return
        name, action = self._world.rng.choices(self._actions, weights=self._weights)[0]
        self.injected[name] = self.injected.get(name, 0) + 1
        action()
        self._next()

    def _later(self, low_ms: int, high_ms: int, label: str, fn: Callable[..., None], *args: object) -> None:
        self._world.schedule(self._world.rng.randint(low_ms, high_ms), label, fn, *args)

    def _peer(self) -> int:
        return self._world.rng.randrange(self._world.config.secondaries)

    def _reset(self) -> None:
        conns = self._world.net.live()
        if conns:
            self._world.net.reset(self._world.rng.choice(conns).conn_id, "FAULT link reset")

    def _partition(self) -> None:
        peer = self._peer()
        self._world.note("chaos", f"partition s{peer}")
        self._world.net.partition(peer)
        self._later(100, 3000, f"chaos heals s{peer}", self._world.net.heal, peer)

    def _swizzle(self) -> None:
        """Clog every link direction one at a time, then unclog them in random order."""
        if self._swizzling:
            return
        self._swizzling = True
        rng = self._world.rng
        links = [(peer, d) for peer in range(self._world.config.secondaries) for d in DIRECTIONS]
        rng.shuffle(links)
        step_ms = rng.randint(10, 200)
        at_ms = 0
        for peer, direction in links:
            at_ms += step_ms
            self._world.schedule(at_ms, f"chaos clogs s{peer} {direction}", self._clog, peer, direction)
        rng.shuffle(links)
        for peer, direction in links:
            at_ms += step_ms
            self._world.schedule(at_ms, f"chaos unclogs s{peer} {direction}", self._world.net.unclog, peer, direction)
        self._world.schedule(at_ms, "chaos swizzle done", self._swizzle_done)

    def _clog(self, peer: int, direction: str) -> None:
        if not self.stopped:
            self._world.net.clog(peer, direction)

    def _swizzle_done(self) -> None:
        self._swizzling = False

    def _spike(self) -> None:
        rng = self._world.rng
        peer = self._peer()
        self._world.net.spike(peer, rng.randint(20, 400), rng.randint(100, 2000))

    def _crash_secondary(self) -> None:
        secondary = self._world.secondaries[self._peer()]
        if secondary.up:
            secondary.crash()
            self._later(50, 3000, f"chaos restarts {secondary.name}", secondary.start)

    def _crash_master(self) -> None:
        master = self._world.master
        if master.up:
            master.crash()
            self._later(50, 2000, "chaos restarts the master", master.start)

    def _fault_plan(self) -> None:
        rng = self._world.rng
        secondary = self._world.secondaries[self._peer()]
        secondary.faults = FaultPlan(
            error_after_append=rng.choice(_ERROR_AFTER_APPEND), delay_ms=rng.choice(_ACK_DELAYS_MS)
        )
        self._world.note("chaos", f"{secondary.name} faults: {secondary.faults}")

    def _slow_disk(self) -> None:
        rng = self._world.rng
        world = self._world
        disk = rng.choice([world.master.disk, *(s.disk for s in world.secondaries)])
        disk.slow_until_ms = world.now_ms + rng.randint(100, 2000)
        disk.slow_extra_ms = rng.randint(10, 300)

    def _disk_full(self) -> None:
        world = self._world
        disk = world.rng.choice([world.master.disk, *(s.disk for s in world.secondaries)])
        disk.full_until_ms = world.now_ms + world.rng.randint(10, 500)
        world.note("chaos", f"{disk.name}'s disk is full for a while")
