"""What the master knows about one secondary, after etcd's tracker/progress.go.

A link is DOWN (no connection), AWAIT_HELLO (connected, waiting for the secondary to say
what it has), STREAM (sending batches) or REFUSED (the secondary holds a log that is not
ours; nothing is sent until it reconnects with a log we accept).

`inflight` holds the last index of every Append frame sent and not yet acknowledged, so
the window of frames in flight is bounded and a cumulative Ack frees a prefix of it.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from replog.types import HealthState, PeerId

__all__ = ["LinkMode", "Progress"]


class LinkMode(enum.Enum):
    DOWN = "down"
    AWAIT_HELLO = "await_hello"
    STREAM = "stream"
    REFUSED = "refused"


@dataclass(slots=True)
class Progress:
    peer: PeerId
    mode: LinkMode = LinkMode.DOWN
    acked_index: int = 0
    next_index: int = 1
    inflight: deque[int] = field(default_factory=deque)
    last_heard_ms: int | None = None
    last_sent_ms: int = 0
    health: HealthState = HealthState.UNHEALTHY
    refusal: str = ""
    catch_up_from: int = 0
    catch_up_to: int = 0

    @property
    def connected(self) -> bool:
        return self.mode in (LinkMode.AWAIT_HELLO, LinkMode.STREAM)

    def window_open(self, inflight_frames_max: int) -> bool:
        return len(self.inflight) < inflight_frames_max

    def start_stream(self, contiguous_index: int) -> None:
        """The secondary said it holds exactly 1..contiguous_index: stream from there."""
        self.mode = LinkMode.STREAM
        self.refusal = ""
        self.acked_index = contiguous_index
        self.next_index = contiguous_index + 1
        self.inflight.clear()

    def sent(self, last_index: int, now_ms: int) -> None:
        self.next_index = last_index + 1
        self.inflight.append(last_index)
        self.last_sent_ms = now_ms

    def acked(self, contiguous_index: int) -> None:
        self.acked_index = max(self.acked_index, contiguous_index)
        while self.inflight and self.inflight[0] <= contiguous_index:
            self.inflight.popleft()

    def link_lost(self) -> None:
        self.mode = LinkMode.DOWN
        self.inflight.clear()
        self.last_heard_ms = None

    def refuse(self, reason: str) -> None:
        self.mode = LinkMode.REFUSED
        self.refusal = reason
        self.acked_index = 0
        self.inflight.clear()
