"""Wire codec: every message round-trips, and every malformed frame is a ProtocolError."""

from __future__ import annotations

import contextlib
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from replog.core.messages import Ack, Append, Error, Heartbeat, Hello, Message, Welcome
from replog.errors import ProtocolError
from replog.types import Entry
from replog.wire.codec import decode, encode

MAX_INDEX = (1 << 63) - 1
indexes = st.integers(0, MAX_INDEX)
texts = st.text(st.characters(codec="utf-8"), max_size=40)
request_ids = st.none() | st.text(st.characters(codec="utf-8"), min_size=1, max_size=30)


@st.composite
def appends(draw: st.DrawFn) -> Append:
    prev = draw(st.integers(0, MAX_INDEX - 50))
    items = draw(st.lists(st.tuples(st.binary(max_size=64), request_ids), min_size=1, max_size=20))
    return Append(prev, tuple(Entry(prev + 1 + i, payload, rid) for i, (payload, rid) in enumerate(items)))


messages = st.one_of(
    st.builds(Hello, indexes, texts, indexes, indexes),
    st.builds(Welcome, texts, indexes),
    appends(),
    st.builds(Ack, indexes),
    st.builds(Heartbeat, indexes),
    st.builds(Error, texts, texts),
)


@given(messages)
def test_every_message_round_trips(message: Message) -> None:
    decoded = decode(encode(message))
    assert decoded == message
    assert type(decoded) is type(message)


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (Hello(1, "l", 0), 1),
        (Welcome("l", 0), 2),
        (Append(0, (Entry(1, b""),)), 3),
        (Ack(0), 4),
        (Heartbeat(0), 5),
        (Error("c", "d"), 6),
    ],
)
def test_frame_starts_with_its_kind_byte(message: Message, kind: int) -> None:
    assert encode(message)[0] == kind


def frame(kind: int, body: Any) -> bytes:
    return bytes((kind,)) + msgpack.packb(body, use_bin_type=True)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"", "empty frame"),
        (b"\x04", "undecodable"),
        (b"\x04\xc1", "undecodable"),
        (frame(4, [1]) + b"\x00", "undecodable"),
        (frame(0, [1]), "unknown frame kind 0"),
        (frame(7, [1]), "unknown frame kind 7"),
        (frame(255, []), "unknown frame kind 255"),
        (frame(4, 5), "not an array"),
        (frame(4, {"contiguous_index": 5}), "not an array"),
        (frame(4, []), "0 fields, expected 1"),
        (frame(4, [1, 2]), "2 fields, expected 1"),
        (frame(1, [1, "l", 0]), "3 fields, expected 4"),
        (frame(4, ["5"]), "is not int"),
        (frame(4, [1.0]), "is not int"),
        (frame(4, [None]), "is not int"),
        (frame(4, [True]), "is not int"),
        (frame(5, [False]), "is not int"),
        (frame(4, [-1]), "out of range"),
        (frame(1, [-3, "l", 0, 1]), "out of range"),
        (frame(4, [1 << 63]), "out of range"),
        (frame(1, [1, b"l", 0, 1]), "is not str"),
        (frame(2, [5, 0]), "is not str"),
        (frame(6, ["c", 7]), "is not str"),
        (frame(3, [0, []]), "at least one"),
        (frame(3, [0, [1, b"x"]]), "at least one"),
        (frame(3, [0, "flat"]), "is not list"),
        (frame(3, [0, [2, b"x", None]]), "where 1 belongs"),
        (frame(3, [0, [1, b"x", None, 3, b"y", None]]), "where 2 belongs"),
        (frame(3, [4, [4, b"x", None]]), "where 5 belongs"),
        (frame(3, [0, [True, b"x", None]]), "where 1 belongs"),
        (frame(3, [0, [1, "text", None]]), "malformed payload"),
        (frame(3, [0, [1, b"x", 5]]), "malformed payload or request_id"),
    ],
)
def test_malformed_frames_are_protocol_errors(raw: bytes, words: str) -> None:
    with pytest.raises(ProtocolError, match=words):
        decode(raw)


def test_a_float_entry_index_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        decode(frame(3, [0, [1.0, b"x", None]]))


@given(st.binary(max_size=200))
def test_random_bytes_decode_or_raise_protocol_error(raw: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode(raw)


msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 63), (1 << 64) - 1) | st.floats() | texts | st.binary(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(texts, children, max_size=3),
    max_leaves=12,
)


@given(st.integers(0, 8), st.lists(msgpack_values, max_size=5))
def test_well_formed_msgpack_with_wrong_shapes_decodes_or_raises_protocol_error(kind: int, body: list[Any]) -> None:
    try:
        message = decode(frame(kind, body))
    except ProtocolError:
        return
    assert type(message) in (Hello, Welcome, Append, Ack, Heartbeat, Error)
