"""The secondary's state machine: accepts only the next index, acknowledges what is durable.

`appended_index` is what the local log holds (maybe not yet synced); `synced_index` is what
survives a crash and is the only thing ever acknowledged or shown to readers. An Append that
overlaps what we hold is a retry: the known entries are dropped and the rest appended, so
every entry is stored exactly once. An Append that would leave a hole cannot happen on one
ordered connection unless the master is broken, so it closes the link and the next Hello
resynchronises, one recovery path for everything.
"""

from __future__ import annotations

from replog.core.messages import Ack, Append, Error, Heartbeat, Hello, Message, Welcome
from replog.core.outputs import MASTER, Disconnect, Output, Persist, Send, SetLogId, Truncate
from replog.types import Entry, RecordRun, batch_bounds

__all__ = ["Follower"]


class Follower:
    def __init__(self, node_id: int, *, log_id: str, synced_index: int, last_term: int = 0) -> None:
        """A recovered log is synced: pass its last index as `synced_index`, and that entry's term."""
        self._node_id = node_id
        self._log_id = log_id
        self._appended_index = synced_index
        self._synced_index = synced_index
        # Terms never decrease along a log; a batch below this is the master's bug, and it must close the
        # link here rather than reach the store, whose own check is an assertion that stops the node.
        self._last_term = last_term
        self._connected = False
        self._welcomed = False
        self._leader_commit = 0
        self._outputs: list[Output] = []
        self.refusal = ""

    @property
    def synced_index(self) -> int:
        return self._synced_index

    @property
    def appended_index(self) -> int:
        return self._appended_index

    @property
    def log_id(self) -> str:
        return self._log_id

    @property
    def connected(self) -> bool:
        return self._connected

    def take_outputs(self) -> list[Output]:
        outputs, self._outputs = self._outputs, []
        return outputs

    @property
    def commit_index(self) -> int:
        """What this node holds that the leader says a majority holds: committed reads show only this."""
        return min(self._leader_commit, self._synced_index)

    def on_connected(self, term: int = 0, epochs: tuple[tuple[int, int], ...] = ()) -> None:
        """A leader connected; the shell has synced everything appended before calling this.

        `term` and `epochs` (the local log's epoch table) let the leader find where our logs differ.
        """
        if self._appended_index != self._synced_index:
            raise AssertionError("Hello must report a synced log: sync before on_connected")
        self._connected = True
        self._welcomed = False
        hello = Hello(self._node_id, self._log_id, self._synced_index, term=term, epochs=epochs)
        self._outputs.append(Send(MASTER, hello))

    def on_disconnected(self) -> None:
        self._connected = False
        self._welcomed = False

    def on_message(self, message: Message) -> None:
        if not self._connected:
            return
        match message:
            case Welcome():
                self._on_welcome(message)
            case Append() if self._welcomed:
                self._leader_commit = max(self._leader_commit, message.commit_index)
                self._on_append(message)
            case Heartbeat() if self._welcomed:
                self._leader_commit = max(self._leader_commit, message.commit_index)
                self._outputs.append(Send(MASTER, Ack(self._synced_index)))
            case Error(code=code, detail=detail):
                if code == "refused":
                    self.refusal = detail
                self._outputs.append(Disconnect(MASTER, f"master reported {code}: {detail}"))
            case _:
                self._protocol_error(f"unexpected {type(message).__name__} from the master")

    def on_synced(self, index: int) -> None:
        if index > self._appended_index:
            raise AssertionError(f"synced {index} beyond appended {self._appended_index}")
        if index <= self._synced_index:
            return
        self._synced_index = index
        if self._connected and self._welcomed:
            self._outputs.append(Send(MASTER, Ack(index)))

    def persist_failed(self, last_index: int) -> None:
        """The local log could not store a Persist and still ends at `last_index`: forget the rest."""
        if not self._synced_index <= last_index <= self._appended_index:
            raise AssertionError(f"store ends at {last_index}, outside {self._synced_index}..{self._appended_index}")
        self._appended_index = last_index
        self._outputs.append(Disconnect(MASTER, f"local log write failed; resuming from {last_index}"))

    def _on_welcome(self, welcome: Welcome) -> None:
        if self._log_id and welcome.log_id != self._log_id:
            self._protocol_error(f"master's log {welcome.log_id} is not ours ({self._log_id})")
            return
        if not self._log_id:
            self._log_id = welcome.log_id
            self._outputs.append(SetLogId(welcome.log_id))
        if welcome.match_index < self._synced_index:
            # Our tail after the match is not in the leader's log: it came from a leader that lost its
            # term. The shell writes it to a rollback file, then cuts it; the stream resumes after the match.
            self._outputs.append(Truncate(welcome.match_index))
            self._appended_index = self._synced_index = welcome.match_index
            self._last_term = 0  # Unknown without a read; the store still refuses a term going down.
        elif welcome.match_index > self._synced_index:
            self._protocol_error(f"Welcome matches up to {welcome.match_index} but we hold 1..{self._synced_index}")
            return
        self._leader_commit = max(self._leader_commit, welcome.commit_index)
        self.refusal = ""
        self._welcomed = True

    def _on_append(self, append: Append) -> None:
        if append.prev_index > self._appended_index:
            self._protocol_error(
                f"gap: batch starts after {append.prev_index} but we hold only 1..{self._appended_index}"
            )
            return
        fresh = _after(append.entries, self._appended_index)
        if fresh:
            first, first_term, last, last_term = batch_bounds(fresh)
            if first_term < self._last_term:
                self._protocol_error(f"entry {first} has term {first_term}, below our term {self._last_term}")
                return
            # Entries go to the store as they came, terms included (the codec checked them within the batch).
            self._appended_index, self._last_term = last, last_term
            self._outputs.append(Persist(fresh))
        else:
            # A pure duplicate from a retry: nothing to store, but the master needs the ack.
            self._outputs.append(Send(MASTER, Ack(self._synced_index)))

    def _protocol_error(self, detail: str) -> None:
        self._outputs.append(Send(MASTER, Error("protocol", detail)))
        self._outputs.append(Disconnect(MASTER, f"protocol error: {detail}"))


def _after(entries: tuple[Entry, ...] | RecordRun, index: int) -> tuple[Entry, ...] | RecordRun | None:
    """The entries of a batch after `index` (None or empty if it holds none)."""
    if isinstance(entries, RecordRun):
        return entries.after(index)
    return entries[max(0, index - entries[0].index + 1) :] if entries else entries
