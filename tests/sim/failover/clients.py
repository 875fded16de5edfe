"""Clients of a failover cluster: any node may be asked; a refusal is retried elsewhere.

Payloads name their writer and sequence (`b"c3-17"`), as in the fixed-master workload. A client
has one request outstanding; it asks the node it believes leads (the last one that answered, or
the leader a refusing node names) and sometimes a random node.
- refused (not leader, no quorum, node down): nothing was appended; retry unchanged, maybe elsewhere;
- unknown (the leader crashed or stepped down while we waited): retry with the same request_id if
  there is one (the new leader must answer a duplicate with the original index if the entry
  survived, and append it once otherwise), else give up: a retry without an id could append twice;
- ok: done, but sometimes retried anyway with the same request_id, as if the response were lost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .world import FailoverWorld

__all__ = ["Answer", "Client", "Clients", "Request"]


@dataclass(frozen=True, slots=True)
class Answer:
    kind: str  # "ok", "refused", "unknown" or "failed" (final: a failover cut the request's batch)
    index: int = 0
    first_index: int = 0
    duplicate: bool = False
    reason: str = ""
    hint: int | None = None  # A refusing follower names the leader it knows.


@dataclass(slots=True)
class Request:
    on_answer: Callable[[Request, Answer], None]
    payloads: tuple[bytes, ...]
    w: int
    request_id: str | None
    answers: int = 0

    def answer(self, answer: Answer) -> None:
        self.answers += 1
        self.on_answer(self, answer)

    def __str__(self) -> str:
        names = ",".join(p.decode() for p in self.payloads)
        return f"[{names} w={self.w}{' id=' + self.request_id if self.request_id else ''}]"

    __repr__ = __str__  # Trace lines hold requests unformatted: formatted only if a failure prints them.


class Client:
    def __init__(self, clients: Clients, client_id: int) -> None:
        self._clients = clients
        self._world = clients.world
        self.client_id = client_id
        self._seq = 0
        self._target = 0
        self.current: Request | None = None

    def start(self) -> None:
        self._later(self._world.rng.randint(0, 20))

    def on_answer(self, request: Request, answer: Answer) -> None:
        rng = self._world.rng
        if answer.kind == "ok":
            if request.request_id is not None and rng.random() < self._clients.lost_response_ratio:
                self._later(rng.randint(0, 50))
                return
            self.current = None
        elif answer.kind == "failed":
            self.current = None
        elif answer.kind == "unknown":
            if request.request_id is None or rng.random() < 0.2:
                self.current = None
            self._target = rng.randrange(len(self._world.nodes))
        else:
            if answer.hint is not None:
                self._target = answer.hint
            elif rng.random() < 0.5:
                self._target = rng.randrange(len(self._world.nodes))
            self._later(rng.randint(10, 60))
            return
        self._later(rng.randint(*self._clients.think_ms))

    def _later(self, delay_ms: int) -> None:
        self._world.schedule(delay_ms, f"client c{self.client_id} acts", self._act)

    def _act(self) -> None:
        if self._clients.stopped:
            return
        world = self._world
        if self.current is None:
            self.current = self._new_request()
        target = self._target if world.rng.random() < 0.9 else world.rng.randrange(len(world.nodes))
        world.note(f"c{self.client_id} asks n{target}", self.current)
        world.nodes[target].submit(self.current)

    def _new_request(self) -> Request:
        rng = self._world.rng
        count = 1 if rng.random() < 0.8 else rng.randint(2, 3)
        payloads = []
        for _ in range(count):
            self._seq += 1
            payloads.append(f"c{self.client_id}-{self._seq}".encode())
        self._clients.submitted.update(payloads)
        request_id = f"c{self.client_id}-r{self._seq}" if rng.random() < 0.6 else None
        return Request(self.on_answer, tuple(payloads), rng.randint(1, len(self._world.nodes)), request_id)


class Clients:
    def __init__(self, world: FailoverWorld, count: int) -> None:
        self.world = world
        self.submitted: set[bytes] = set()
        self.stopped = False
        self.think_ms = (0, world.rng.choice((5, 20, 60)))
        self.lost_response_ratio = world.rng.choice((0.0, 0.1, 0.3))
        self.clients = [Client(self, i) for i in range(count)]

    def start(self) -> None:
        for client in self.clients:
            client.start()

    def stop(self) -> None:
        """No new requests; answers to those already parked still arrive."""
        self.stopped = True
