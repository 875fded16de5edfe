"""One broken rule, as the checker reports it (its own module so that every rule module can use it).

A violation names the moment it happened on the run's clock (`at`, None when it is about the end state)
and the history records it is about (`refs`), so that a report can place it on the timeline and show the
evidence next to it. A Ref is computed from the record itself, never from its position in a list: a
history re-read from its file, or edited to plant a violation, still resolves the same references.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from replog.chaos.history import AppendRecord, FinalRecord, ReadRecord, RollbackRecord, StallRecord

__all__ = ["Ref", "Violation", "ref"]

RefKind = Literal["append", "read", "final", "rollback", "stall"]


@dataclass(frozen=True, slots=True)
class Ref:
    """A history record's identity: an append's request_id, a final's node, a read's node and time..."""

    kind: RefKind
    key: str


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    detail: str
    at: float | None = None
    refs: tuple[Ref, ...] = ()

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


def ref(record: AppendRecord | ReadRecord | FinalRecord | RollbackRecord | StallRecord) -> Ref:
    """The reference to one record; the same record always gives the same one."""
    if isinstance(record, AppendRecord):
        return Ref("append", record.request_id)  # one per logical append, however many tries
    if isinstance(record, ReadRecord):
        return Ref("read", f"{record.node}@{record.at!r}/{'committed' if record.committed else 'plain'}")
    if isinstance(record, FinalRecord):
        return Ref("final", record.node)
    if isinstance(record, RollbackRecord):
        return Ref("rollback", f"{record.node}/{record.file}/{record.index}")
    return Ref("stall", f"{record.node}/{record.term}/{record.since!r}")
