"""The history of one chaos run: what clients asked and heard, what readers saw, which faults ran.

It is written as JSON lines while the run goes, so a run that dies half-way still leaves evidence,
and it is read back whole by the checker, which never sees the live cluster. Times are seconds
on the runner's monotonic clock since the run started: the only clock that can order a client's
answer before another client's request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

__all__ = [
    "AppendRecord",
    "Attempt",
    "FaultRecord",
    "FinalRecord",
    "History",
    "HistoryWriter",
    "LeaderRecord",
    "Outcome",
    "ReadRecord",
    "RollbackRecord",
    "StallRecord",
    "load_history",
]

Outcome = Literal["ok", "error", "timeout", "unknown"]
AttemptKind = Literal["answer", "refused", "lost"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One HTTP try of a logical append.

    `refused`: the connection was never made, so the request surely did not arrive.
    `lost`: the connection broke or the client gave up after sending: the request may have arrived.
    `answer`: an HTTP status came back; `probe` marks a deliberate resend after an answer, made to
    check that a repeated request_id is answered as a duplicate with the same index.
    """

    kind: AttemptKind
    at: float
    status: int | None = None
    index: int | None = None
    duplicate: bool | None = None
    text: str | None = None
    probe: bool = False
    node: str | None = None  # the node the request was sent to (failover mode tries several)
    sent: float | None = None  # when the try began: one sent after a leader's death is served by another


@dataclass(frozen=True, slots=True)
class AppendRecord:
    """One logical append: one request_id and msg, however many HTTP tries it took."""

    client: int
    request_id: str
    msg: str
    w: int
    timeout_ms: int | None
    invoke: float
    complete: float | None
    outcome: Outcome
    index: int | None = None
    duplicate: bool | None = None
    status: int | None = None
    text: str | None = None
    attempts: tuple[Attempt, ...] = ()
    node: str | None = None  # the node whose answer is the outcome (None: no answer)

    @property
    def surely_refused(self) -> bool:
        """Every try was refused before anything could be stored: the log must not hold it."""
        return self.refused_by(_is_refusal)

    @property
    def surely_refused_with_failover(self) -> bool:
        """The same with failover on, where a 503 proves nothing: a deposed leader's 503 says its entry
        "may or may not be kept", and a follower whose forward broke after sending answers 503 no leader."""
        return self.refused_by(lambda status: 400 <= status < 500)

    def refused_by(self, refusal: Callable[[int], bool]) -> bool:
        return bool(self.attempts) and all(
            a.kind == "refused" or (a.kind == "answer" and a.status is not None and refusal(a.status))
            for a in self.attempts
        )


def _is_refusal(status: int) -> bool:
    """Statuses the API documents as 'the log is unchanged' (504 keeps the entry, so it is not one)."""
    return 400 <= status < 600 and status != 504


@dataclass(frozen=True, slots=True)
class ReadRecord:
    """A GET / taken during the run: it must be a prefix of the final log."""

    node: str
    at: float
    log: tuple[str, ...]
    committed: bool = False  # GET /?committed=1 (failover mode): must also never shrink on that node


@dataclass(frozen=True, slots=True)
class FaultRecord:
    kind: str
    target: str
    start: float
    end: float | None
    params: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class FinalRecord:
    """A node's whole log, read after every fault was healed and the cluster was given time to converge.

    `readable` is False when the node did not answer at all (it did not come back): its log is then unknown,
    not empty, and the checker says so instead of calling every entry missing.
    """

    node: str
    log: tuple[str, ...]
    converged: bool
    readable: bool = True
    # Failover mode: each message's index (a leader's no-op takes an index but is never shown, so an
    # index is not the position), and the node's term and leader as /health gave them at the end.
    indexes: tuple[int, ...] = ()
    term: int | None = None
    leader: str | None = None

    def index_of(self) -> dict[str, int]:
        """Each message's index (its first one, should it be there twice)."""
        indexes = self.indexes or tuple(range(1, len(self.log) + 1))
        where: dict[str, int] = {}
        for msg, index in zip(self.log, indexes, strict=True):
            where.setdefault(msg, index)
        return where

    def at_index(self) -> dict[int, str]:
        indexes = self.indexes or tuple(range(1, len(self.log) + 1))
        return dict(zip(indexes, self.log, strict=True))


@dataclass(frozen=True, slots=True)
class RollbackRecord:
    """One entry found in a node's rollback file at the end (failover mode): a deposed leader's
    unreplicated entry, which an acknowledged w=1 append may legitimately end up as."""

    node: str
    file: str
    index: int
    term: int
    request_id: str | None
    msg: str


@dataclass(frozen=True, slots=True)
class LeaderRecord:
    """Failover mode: the leader every answering node agreed on changed (sampled through /health)."""

    at: float
    node: str | None  # None: no leader agreed on
    term: int


@dataclass(frozen=True, slots=True)
class StallRecord:
    """Failover mode: a node said it led a term (election role leader) for `until - since` seconds without
    serving it (/health without `peers`: no Leading built), seen by the leader watcher."""

    node: str
    term: int
    since: float
    until: float


@dataclass(slots=True)
class History:
    appends: list[AppendRecord] = field(default_factory=list)
    reads: list[ReadRecord] = field(default_factory=list)
    faults: list[FaultRecord] = field(default_factory=list)
    finals: list[FinalRecord] = field(default_factory=list)
    rollbacks: list[RollbackRecord] = field(default_factory=list)
    leaders: list[LeaderRecord] = field(default_factory=list)
    stalls: list[StallRecord] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def failover(self) -> bool:
        return bool(self.meta.get("failover"))


class HistoryWriter:
    """Appends records to a JSON-lines file, one line per record, flushed as it goes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] = path.open("w", encoding="utf-8")

    def write(
        self,
        record: AppendRecord | ReadRecord | FaultRecord | FinalRecord | RollbackRecord | LeaderRecord | StallRecord,
    ) -> None:
        kind = _KINDS[type(record)]
        self._file.write(json.dumps({"type": kind, **asdict(record)}, separators=(",", ":")) + "\n")
        self._file.flush()

    def write_meta(self, **meta: Any) -> None:
        self._file.write(json.dumps({"type": "meta", **meta}, separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


_KINDS: dict[type, str] = {
    AppendRecord: "append",
    ReadRecord: "read",
    FaultRecord: "fault",
    FinalRecord: "final",
    RollbackRecord: "rollback",
    LeaderRecord: "leader",
    StallRecord: "stall",
}


def load_history(path: Path) -> History:
    return parse_history(path.read_text(encoding="utf-8").splitlines())


def parse_history(lines: Iterable[str]) -> History:
    history = History()
    for line in lines:
        if not line.strip():
            continue
        data = json.loads(line)
        kind = data.pop("type")
        if kind == "append":
            attempts = tuple(Attempt(**a) for a in data.pop("attempts"))
            history.appends.append(AppendRecord(**data, attempts=attempts))
        elif kind == "read":
            history.reads.append(ReadRecord(data["node"], data["at"], tuple(data["log"]), data.get("committed", False)))
        elif kind == "fault":
            history.faults.append(FaultRecord(**data))
        elif kind == "final":
            data["indexes"] = tuple(data.get("indexes", ()))
            history.finals.append(FinalRecord(**{**data, "log": tuple(data["log"])}))
        elif kind == "stall":
            history.stalls.append(StallRecord(**data))
        elif kind == "leader":
            history.leaders.append(LeaderRecord(**data))
        elif kind == "rollback":
            history.rollbacks.append(RollbackRecord(**data))
        elif kind == "meta":
            history.meta.update(data)
    return history
