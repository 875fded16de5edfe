"""Property tests over hostile input: the HTTP body parser and the secondary's frame handling.

Whatever arrives, the parser answers with a request or an InvalidRequest (a 4xx), never another
exception; and a Follower fed random or mutated frames never persists anything out of order: every
Persist continues exactly where the previous one ended with terms that never go down (the store would
stop the node otherwise), and a bad frame ends in a Disconnect.
"""

from __future__ import annotations

import contextlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from replog.core.follower import Follower
from replog.core.messages import Append, Heartbeat, Welcome
from replog.core.outputs import Disconnect, Persist
from replog.errors import InvalidRequest, InvalidWriteConcern, ProtocolError
from replog.storage.memory import MemoryLog
from replog.types import Entry
from replog.web.requests import parse_append
from replog.wire import codec

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
bodies = st.dictionaries(
    st.sampled_from(["msg", "msgs", "w", "request_id", "timeout_ms", "other"]), json_values, max_size=5
)


@given(st.binary(max_size=300))
def test_random_bytes_are_a_request_or_an_invalid_request(raw: bytes) -> None:
    with contextlib.suppress(InvalidRequest, InvalidWriteConcern):
        parse_append(raw, default_w=1, w_max=3)


@given(bodies)
def test_random_json_objects_are_a_request_or_an_invalid_request(body: dict[str, object]) -> None:
    try:
        parsed = parse_append(json.dumps(body).encode(), default_w=1, w_max=3)
    except (InvalidRequest, InvalidWriteConcern):  # both are 400s naming the problem
        return
    assert 1 <= parsed.w <= 3 and parsed.payloads and all(isinstance(p, bytes) for p in parsed.payloads)


def _valid_frames(count: int) -> list[bytes]:
    """A well-formed stream: Welcome, then batches continuing 1..count, with heartbeats between."""
    frames = [codec.encode(Welcome("log", count))]
    index = 1
    while index <= count:
        # Terms rise every few entries, across and within batches, so a flipped byte can make one go down.
        batch = tuple(Entry(i, f"m{i}".encode(), None, 1 + i // 3) for i in range(index, min(count, index + 2) + 1))
        frames.append(codec.encode(Append(index - 1, batch)))
        frames.append(codec.encode(Heartbeat(count)))
        index = batch[-1].index + 1
    return frames


mutations = st.lists(
    st.tuples(st.integers(0, 30), st.sampled_from(["flip", "drop", "dup", "swap", "cut"]), st.integers(0, 255)),
    max_size=6,
)


def _mutate(frames: list[bytes], plan: list[tuple[int, str, int]]) -> list[bytes]:
    frames = list(frames)
    for position, kind, value in plan:
        at = position % len(frames)
        frame = frames[at]
        if kind == "flip" and frame:
            spot = value % len(frame)
            frames[at] = frame[:spot] + bytes([frame[spot] ^ (value or 1)]) + frame[spot + 1 :]
        elif kind == "drop":
            del frames[at]
        elif kind == "dup":
            frames.insert(at, frame)
        elif kind == "swap" and at + 1 < len(frames):
            frames[at], frames[at + 1] = frames[at + 1], frames[at]
        elif kind == "cut":
            frames[at] = frame[: value % (len(frame) + 1)]
        if not frames:
            break
    return frames


@settings(max_examples=300)
@given(st.integers(1, 12), mutations)
def test_a_follower_never_persists_out_of_order_whatever_the_frames(
    count: int, plan: list[tuple[int, str, int]]
) -> None:
    follower = Follower(0, log_id="", synced_index=0)
    follower.on_connected()
    follower.take_outputs()
    store = MemoryLog()  # its append asserts what a real store asserts: no hole, no term going down
    stored = 0
    for frame in _mutate(_valid_frames(count), plan):
        try:
            message = codec.decode(frame)
        except ProtocolError:
            break  # The shell closes the link on an undecodable frame: nothing reaches the core.
        follower.on_message(message)
        outputs = follower.take_outputs()
        for output in outputs:
            if isinstance(output, Persist):
                assert output.entries[0].index == stored + 1, "a Persist that does not continue the log"
                assert [e.index for e in output.entries] == list(range(stored + 1, stored + 1 + len(output.entries)))
                store.append(output.entries)
                stored = store.sync()
                follower.on_synced(stored)
        if any(isinstance(output, Disconnect) for output in outputs):
            break  # A protocol error closes the link; the next Hello resynchronises.
    assert follower.synced_index == stored <= count
