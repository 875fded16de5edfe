"""The view across nodes that the dashboard charts: the leader's samples and everyone's events.

Every node keeps its own ring; the node that served the page asks the others for theirs. The samples
charted are the leader's (it alone answers appends and knows each follower's lag); the events are
merged from every node that answered, so an election the followers saw is marked even if the old
leader, whose ring died with it, cannot be asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["LeaderView", "merge_events", "pick_leader"]


@dataclass(frozen=True, slots=True)
class LeaderView:
    """Whose samples to chart: `name` leads in `term` (None: the fixed master), or nobody is known."""

    name: str | None
    term: int | None
    index: int  # position of the ring answer to chart (the leader's, else the serving node's own)


def pick_leader(answers: Sequence[dict[str, Any] | None], own: int) -> LeaderView:
    """The answer of the node that says it leads in the highest term; else the serving node's own.

    `answers` are rings as served by `GET /ui/samples` (None: no answer); each carries `role`/`term`.
    Two nodes may both think they lead for a moment after a partition: the higher term is the real one.
    """
    best: tuple[int, int] | None = None
    for index, answer in enumerate(answers):
        if answer is None or answer.get("role") not in ("leader", "master"):
            continue
        term = answer.get("term") or 0
        if best is None or term > best[0]:
            best = (term, index)
    if best is None:
        return LeaderView(None, None, own)
    answer = answers[best[1]]
    assert answer is not None
    return LeaderView(answer.get("node"), answer.get("term"), best[1])


def merge_events(event_lists: Iterable[Iterable[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Events of several nodes in time order, one per key (the earliest sighting of a new leader)."""
    first: dict[str, dict[str, Any]] = {}
    for events in event_lists:
        for event in events:
            seen = first.get(event["key"])
            if seen is None or event["t"] < seen["t"]:
                first[event["key"]] = event
    return sorted(first.values(), key=lambda e: (e["t"], e["key"]))
