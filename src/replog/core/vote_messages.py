"""Election messages between nodes: vote and pre-vote requests, their answers, and TimeoutNow.

| message      | direction             | meaning                                                        |
|--------------|-----------------------|----------------------------------------------------------------|
| VoteRequest  | candidate → every node| "make me leader of `term`; my log ends at (last_term, last_index)" |
| VoteResponse | voter → candidate     | yes or no; `term` is the request's on a yes, the voter's on a no |
| TimeoutNow   | leader → one follower | leadership transfer: campaign at once (Raft §3.10)             |

A pre-vote is a `VoteRequest` with `pre_vote=True` for the term the candidate *would* campaign in
(its term + 1); nobody persists or adopts that term. `transfer=True` marks the real vote that a
`TimeoutNow` started: voters grant it even while they still hear from the old leader.

Every message names its sender, so a request/response transport (for example `POST /vote`)
needs no envelope. These are separate from `core.messages`: votes travel on their own short
requests, never on the replication stream.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TimeoutNow", "VoteMessage", "VoteRequest", "VoteResponse"]


@dataclass(frozen=True, slots=True)
class VoteRequest:
    term: int
    candidate: int
    last_term: int
    last_index: int
    pre_vote: bool = False
    transfer: bool = False


@dataclass(frozen=True, slots=True)
class VoteResponse:
    term: int
    voter: int
    granted: bool
    pre_vote: bool = False


@dataclass(frozen=True, slots=True)
class TimeoutNow:
    term: int
    leader: int


VoteMessage = VoteRequest | VoteResponse | TimeoutNow
