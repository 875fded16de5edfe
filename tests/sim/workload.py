"""Clients appending self-describing payloads, after FoundationDB's cycle test.

Every payload names its writer and its place in that writer's sequence (`b"c3-17"`), so the
checkers can verify order and dedup from the data alone. A client has one request outstanding,
like one HTTP connection:
- each request appends 1..3 payloads with a random `w`, and about half carry a `request_id`;
- a refusal (read-only, master down) is retried unchanged: nothing was appended;
- an unknown outcome (the master crashed while we waited) is retried with the same request_id
  when there is one, otherwise abandoned (retrying without an id could append twice, by design);
- sometimes a client that got its answer retries anyway with the same request_id, as if the
  response had been lost: the master must answer with the original indexes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .master import Outcome

if TYPE_CHECKING:
    from .world import World

__all__ = ["Client", "ClientRequest", "Workload"]


@dataclass(slots=True)
class ClientRequest:
    on_answer: Callable[[ClientRequest, Outcome], None]
    payloads: tuple[bytes, ...]
    w: int
    request_id: str | None
    outcome: Outcome | None = None
    answers: int = 0

    def answer(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.answers += 1
        self.on_answer(self, outcome)

    def __str__(self) -> str:
        names = ",".join(p.decode() for p in self.payloads)
        return f"[{names} w={self.w}{' id=' + self.request_id if self.request_id else ''}]"


class Client:
    def __init__(self, workload: Workload, client_id: int) -> None:
        self._workload = workload
        self._world = workload.world
        self.client_id = client_id
        self._seq = 0
        self.current: ClientRequest | None = None
        self.acknowledged = 0
        self.unknown = 0

    def start(self) -> None:
        self._later(self._world.rng.randint(0, 20))

    def on_answer(self, request: ClientRequest, outcome: Outcome) -> None:
        rng = self._world.rng
        if outcome.kind == "ok":
            self.acknowledged += 1
            if request.request_id is not None and rng.random() < self._workload.lost_response_ratio:
                self._later(rng.randint(0, 50))  # The response was "lost": retry the same request.
                return
            self.current = None
        elif outcome.kind == "unknown":
            self.unknown += 1
            if request.request_id is None or rng.random() < 0.3:
                self.current = None
        else:
            self._later(rng.randint(10, 100))  # Refused: back off a little, then retry unchanged.
            return
        self._later(rng.randint(*self._workload.think_ms))

    def _later(self, delay_ms: int) -> None:
        self._world.schedule(delay_ms, f"client c{self.client_id} acts", self._act)

    def _act(self) -> None:
        if self._workload.stopped:
            return
        if self.current is None:
            self.current = self._new_request()
        self._world.note(f"c{self.client_id}", f"submits {self.current}")
        self._world.master.submit(self.current)

    def _new_request(self) -> ClientRequest:
        rng = self._world.rng
        count = 1 if rng.random() < 0.8 else rng.randint(2, 3)
        payloads = []
        for _ in range(count):
            self._seq += 1
            payloads.append(f"c{self.client_id}-{self._seq}".encode())
        self._workload.submitted.update(payloads)
        request_id = f"c{self.client_id}-r{self._seq}" if rng.random() < 0.5 else None
        w = rng.randint(1, self._world.config.secondaries + 1)
        return ClientRequest(self.on_answer, tuple(payloads), w, request_id)


class Workload:
    def __init__(self, world: World, clients: int) -> None:
        self.world = world
        self.submitted: set[bytes] = set()
        self.stopped = False
        self.think_ms = (0, world.rng.choice((5, 20, 80)))
        self.lost_response_ratio = world.rng.choice((0.0, 0.05, 0.2))
        self.clients = [Client(self, i) for i in range(clients)]

    def start(self) -> None:
        for client in self.clients:
            client.start()

    def stop(self) -> None:
        """No new requests; answers to those already in flight still arrive."""
        self.stopped = True

    def acknowledged(self) -> int:
        return sum(c.acknowledged for c in self.clients)

    def request(self, payloads: tuple[bytes, ...], w: int, request_id: str | None = None) -> ClientRequest:
        """A one-off request for hand-written scenarios: nobody retries it."""
        self.submitted.update(payloads)
        request = ClientRequest(self._record_answer, payloads, w, request_id)
        self.world.record("client", f"submits {request}")
        self.world.master.submit(request)
        return request

    def _record_answer(self, request: ClientRequest, outcome: Outcome) -> None:
        self.world.record("client", f"{request} -> {outcome.kind} {outcome.index or outcome.reason}")
