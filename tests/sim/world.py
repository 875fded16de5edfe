"""The simulated world: one seeded rng, an integer clock and a heap of events.

Why: the core is pure, so everything nondeterministic (network timing, fsync latency, crashes,
clients) lives here and draws from one `random.Random(seed)`. Events are `(due_ms, seq, ...)`
on a heap; `seq` breaks ties, so the order is total and a seed replays event for event. After
every event the Checker runs the safety invariants; a bounded trace keeps the last events for
the failure report.

A run (`run()`) is a fault phase of `steps_max` events followed by a liveness phase (VOPR): heal
every link, restart every node, stop the faults and the clients, and run until the cluster is
quiescent (every log equal to the master's, nobody waiting, every peer Healthy) within a bound.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from replog.core.follower import Follower
from replog.core.leader import Leader
from replog.core.messages import Append
from replog.core.progress import LinkMode
from replog.types import HealthState, RecordRun

from .chaos import Chaos
from .invariants import Checker, InvariantViolation
from .master import LeaderFactory, RequestIdRecovery, SimMaster, recent_request_ids
from .net import SimNet
from .secondary import FollowerFactory, SimSecondary
from .workload import Workload

__all__ = ["SimConfig", "SimFailure", "World"]

TRACE_MAX = 400


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Timings are sim milliseconds, scaled down from config.yaml's defaults by about 5x."""

    secondaries: int = 2
    clients: int = 4
    tick_ms: int = 50
    heartbeat_interval_ms: int = 200
    suspect_after_ms: int = 600
    unhealthy_after_ms: int = 1500
    backoff_base_ms: int = 50
    backoff_max_ms: int = 1600
    dial_timeout_ms: int = 400
    net_delay_ms: tuple[int, int] = (1, 5)
    disk_sync_ms: tuple[int, int] = (1, 8)
    batch_entries_max: int = 16
    batch_bytes_max: int = 1 << 20
    inflight_frames_max: int = 4
    request_id_window: int = 10_000
    waiters_max: int = 10_000
    suspend_on_slaves_dead: bool = False
    steps_max: int = 2500
    liveness_ms_max: int = 30_000

    @classmethod
    def random(cls, rng: random.Random) -> SimConfig:
        """Per-seed variety: cluster size, batching limits, latencies."""
        return replace(
            cls(),
            secondaries=rng.choice((2, 2, 2, 3, 4)),
            clients=rng.randint(1, 6),
            net_delay_ms=rng.choice(((1, 2), (1, 5), (2, 30))),
            disk_sync_ms=rng.choice(((0, 1), (1, 8), (2, 40))),
            batch_entries_max=rng.choice((1, 2, 4, 16, 1024)),
            batch_bytes_max=rng.choice((64, 300, 1 << 20)),
            inflight_frames_max=rng.choice((1, 2, 4, 16)),
            waiters_max=rng.choice((3, 10_000, 10_000)),
            suspend_on_slaves_dead=rng.random() < 0.2,
        )


class SimFailure(AssertionError):
    """An invariant broke (or the core raised) during a seeded run; carries what replays it."""

    def __init__(self, seed: int, step: int, now_ms: int, error: BaseException, trace: list[str]) -> None:
        self.seed, self.step, self.now_ms, self.error, self.trace = seed, step, now_ms, error, trace
        super().__init__(f"seed {seed}, step {step}, t={now_ms} ms: {type(error).__name__}: {error}")

    def report(self, tail: int = 40) -> str:
        lines = [
            str(self),
            f"reproduce: REPLOG_SIM_SEED={self.seed} python -m pytest tests/sim/test_sim.py -k seed_{self.seed}",
            f"last {min(tail, len(self.trace))} events:",
            *self.trace[-tail:],
        ]
        return "\n".join(lines)


class World:
    def __init__(
        self,
        seed: int,
        *,
        config: SimConfig | None = None,
        leader_cls: LeaderFactory = Leader,
        follower_cls: FollowerFactory = Follower,
        net_cls: Callable[[World], SimNet] = SimNet,
        recover_request_ids: RequestIdRecovery = recent_request_ids,
        faults: bool = True,
        clients: bool = True,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.config = config or SimConfig.random(self.rng)
        self.now_ms = 0
        self.steps = 0
        self._heap: list[tuple[int, int, str, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self._trace: deque[tuple[int, str, object]] = deque(maxlen=TRACE_MAX)
        self.stats: Counter[str] = Counter()  # What happened, so tests can show the run was not idle.
        self.transcript: list[str] | None = None  # Golden scenarios set a list: every delivered message.
        self.net = net_cls(self)
        self.checker = Checker(self)
        self.master = SimMaster(self, leader_cls, recover_request_ids)
        self.secondaries = [SimSecondary(self, i, follower_cls) for i in range(self.config.secondaries)]
        self.workload = Workload(self, self.config.clients if clients else 0)
        self.chaos = Chaos(self)
        self._faults = faults
        self._started = False

    # --------------------------------------------------------------- the loop

    def schedule(self, delay_ms: int, label: str, fn: Callable[..., None], *args: Any) -> None:
        if delay_ms < 0:
            raise AssertionError(f"scheduling {label} in the past ({delay_ms} ms)")
        self._seq += 1
        heapq.heappush(self._heap, (self.now_ms + delay_ms, self._seq, label, fn, args))

    def record(self, who: str, what: object) -> None:
        """A trace line that also goes to the transcript, when a scenario keeps one."""
        self._trace.append((self.now_ms, who, what))
        if self.transcript is not None:
            self.transcript.append(f"{self.now_ms:>6} ms  {who:<14} {_short(what)}")

    def note(self, who: str, what: object) -> None:
        """Add a line to the trace; `what` is formatted only if a failure prints it."""
        self._trace.append((self.now_ms, who, what))

    def step(self) -> bool:
        """Run one event and check every invariant; False when nothing is left to do."""
        if not self._heap:
            return False
        due_ms, _, label, fn, args = heapq.heappop(self._heap)
        self.now_ms = due_ms
        self.steps += 1
        self._trace.append((due_ms, "event", label))
        try:
            fn(*args)
            self.checker.after_event()
        except Exception as exc:
            raise SimFailure(self.seed, self.steps, self.now_ms, exc, self.trace_lines()) from exc
        return True

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.note("world", f"seed {self.seed}: {self.config}")
        self.master.start()
        for secondary in self.secondaries:
            secondary.start()
        self.workload.start()
        if self._faults:
            self.note("world", self.chaos.describe())
            self.chaos.start()

    def run_steps(self, steps: int) -> None:
        self.start()
        for _ in range(steps):
            if not self.step():
                return

    def run_for(self, duration_ms: int) -> None:
        self.run_until(lambda: False, duration_ms)

    def run_until(self, done: Callable[[], bool], duration_ms: int) -> bool:
        """Step until `done()` or until sim time passes now + duration_ms; True if done."""
        self.start()
        deadline_ms = self.now_ms + duration_ms
        while not done():
            if not self._heap or self._heap[0][0] > deadline_ms:
                self.now_ms = max(self.now_ms, deadline_ms)
                return done()
            self.step()
        return True

    def run(self) -> None:
        """The whole VOPR run: fault phase, then heal and check liveness."""
        self.run_steps(self.config.steps_max)
        self.heal()
        if not self.run_until(self.quiescent, self.config.liveness_ms_max):
            self._fail_liveness()
        try:
            self.checker.after_liveness()
        except InvariantViolation as exc:
            raise SimFailure(self.seed, self.steps, self.now_ms, exc, self.trace_lines()) from exc

    # ------------------------------------------------------------ operations

    def heal(self) -> None:
        """Liveness phase: no more faults or new requests; every link healed, every node up."""
        self.note("world", "HEAL: faults off, links healed, nodes restarted, clients stop")
        self.chaos.stop()
        self.workload.stop()
        self.master.start()
        for secondary in self.secondaries:
            secondary.start()

    def dial(self, peer: int, incarnation: int) -> None:
        """The master dials a secondary: connected, refused (node down) or timed out (partitioned)."""
        if not self.net.reachable(peer):
            self.schedule(
                self.config.dial_timeout_ms,
                f"dial s{peer} times out",
                self.master.on_dial_result,
                peer,
                incarnation,
                None,
            )
        elif not self.secondaries[peer].up:
            self.schedule(
                self.rng.randint(1, 3), f"dial s{peer} refused", self.master.on_dial_result, peer, incarnation, None
            )
        else:
            self.schedule(self.rng.randint(1, 5), f"dial s{peer} connects", self._dial_connected, peer, incarnation)

    def _dial_connected(self, peer: int, incarnation: int) -> None:
        secondary = self.secondaries[peer]
        if not self.net.reachable(peer) or not secondary.up:
            self.master.on_dial_result(peer, incarnation, None)
            return
        conn_id = self.net.open(peer)
        self.note("net", f"open #{conn_id} master -> s{peer}")
        secondary.accept(conn_id)
        self.master.on_dial_result(peer, incarnation, conn_id)

    def quiescent(self) -> bool:
        master = self.master
        leader = master.leader
        if leader is None or leader.waiting() or master.waiting or leader.read_only:
            return False
        last = master.disk.last_index
        if master.disk.synced_index != last:
            return False
        if any(not s.up or s.disk.synced_index != last or s.disk.last_index != last for s in self.secondaries):
            return False
        return all(s.health is HealthState.HEALTHY and s.mode is LinkMode.STREAM for s in leader.peer_status())

    # ---------------------------------------------------------------- report

    def _fail_liveness(self) -> None:
        master = self.master
        state = [f"master up={master.up} log 1..{master.disk.last_index} synced {master.disk.synced_index}"]
        if master.leader is not None:
            state.append(f"waiting={master.leader.waiting()} read_only={master.leader.read_only}")
            state += [str(s) for s in master.leader.peer_status()]
        state += [
            f"{s.name} up={s.up} log 1..{s.disk.last_index} synced {s.disk.synced_index}" for s in self.secondaries
        ]
        error = InvariantViolation(
            f"liveness: not quiescent {self.config.liveness_ms_max} ms after the heal: " + "; ".join(state)
        )
        raise SimFailure(self.seed, self.steps, self.now_ms, error, self.trace_lines())

    def trace_lines(self) -> list[str]:
        return [f"{at_ms:>8} ms  {who:<14} {_short(what)}" for at_ms, who, what in self._trace]


def _short(what: object) -> str:
    """Long Appends print as index ranges, so a trace line stays one line."""
    message = getattr(what, "message", what)
    if isinstance(message, Append):
        entries = message.entries
        first, last = (
            (entries.first_index, entries.last_index)
            if isinstance(entries, RecordRun)
            else (
                entries[0].index,
                entries[-1].index,
            )
        )
        text = f"Append(prev={message.prev_index}, {first}..{last})"
        return text if message is what else f"{type(what).__name__}(peer={getattr(what, 'peer', '?')}, {text})"
    text = str(what)
    return text if len(text) <= 160 else text[:157] + "..."
