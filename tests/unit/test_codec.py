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
    # Terms never decrease within a batch: draw the first, then steps of 0 or more.
    terms = [draw(st.integers(0, MAX_INDEX))]
    for _ in items[1:]:
        terms.append(draw(st.sampled_from([terms[-1], terms[-1], min(MAX_INDEX, terms[-1] + 1), MAX_INDEX])))
    pairs = enumerate(zip(items, terms, strict=True))
    entries = tuple(Entry(prev + 1 + i, payload, rid, term) for i, ((payload, rid), term) in pairs)
    return Append(prev, entries, draw(st.integers(terms[-1], MAX_INDEX)), draw(indexes))


@st.composite
def hellos(draw: st.DrawFn) -> Hello:
    """A v2 Hello whose epoch table is valid for its log: terms and first indexes both rising."""
    contiguous = draw(st.integers(0, MAX_INDEX))
    starts = sorted(draw(st.sets(st.integers(1, contiguous), max_size=5))) if contiguous else []
    terms = sorted(draw(st.sets(st.integers(0, MAX_INDEX), min_size=len(starts), max_size=len(starts))))
    epochs = tuple(zip(terms, starts, strict=True))
    return Hello(draw(indexes), draw(texts), contiguous, draw(indexes), draw(indexes), epochs)


@st.composite
def welcomes(draw: st.DrawFn) -> Welcome:
    last = draw(indexes)
    return Welcome(draw(texts), last, draw(indexes), draw(indexes), draw(st.integers(0, last)), draw(indexes))


messages = st.one_of(
    hellos(),
    welcomes(),
    appends(),
    st.builds(Ack, indexes),
    st.builds(Heartbeat, indexes, indexes, indexes),
    st.builds(Error, texts, texts, indexes),
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
        (frame(9, [1]), "unknown frame kind 9"),
        (frame(255, []), "unknown frame kind 255"),
        (frame(4, 5), "not an array"),
        (frame(4, {"contiguous_index": 5}), "not an array"),
        (frame(4, []), "0 fields, expected 1"),
        (frame(4, [1, 2]), "2 fields, expected 1"),
        (frame(1, [1, "l", 0]), "3 fields, expected 6"),
        (frame(4, ["5"]), "is not int"),
        (frame(4, [1.0]), "is not int"),
        (frame(4, [None]), "is not int"),
        (frame(4, [True]), "is not int"),
        (frame(5, [False, 0, 0]), "is not int"),
        (frame(4, [-1]), "out of range"),
        (frame(1, [-3, "l", 0, 1]), "out of range"),
        (frame(4, [1 << 63]), "out of range"),
        (frame(1, [1, b"l", 0, 1]), "is not str"),
        (frame(2, [5, 0, 0, 0, 0, 0]), "is not str"),
        (frame(6, ["c", 7, 0]), "is not str"),
        (frame(3, [0, [], 9, 0]), "at least one"),
        (frame(3, [0, [1, 0, b"x"], 9, 0]), r"at least one \(index, term, payload, request_id\) quadruple"),
        (frame(3, [0, [1, b"x", None], 9, 0]), "quadruple"),  # a protocol version 1 Append
        (frame(3, [0, "flat", 9, 0]), "is not list"),
        (frame(3, [0, [2, 0, b"x", None], 9, 0]), "where 1 belongs"),
        (frame(3, [0, [1, 0, b"x", None, 3, 0, b"y", None], 9, 0]), "where 2 belongs"),
        (frame(3, [4, [4, 0, b"x", None], 9, 0]), "where 5 belongs"),
        (frame(3, [0, [True, 0, b"x", None], 9, 0]), "where 1 belongs"),
        (frame(3, [0, [1, 0, "text", None], 9, 0]), "malformed payload"),
        (frame(3, [0, [1, 0, b"x", 5], 9, 0]), "malformed payload or request_id"),
        (frame(3, [0, [1, -1, b"x", None], 9, 0]), "entry 1 has a malformed term -1"),
        (frame(3, [0, [1, 1 << 63, b"x", None], 9, 0]), "entry 1 has a malformed term 9223372036854775808"),
        (frame(3, [0, [1, None, b"x", None], 9, 0]), "entry 1 has a malformed term None"),
        (frame(3, [0, [1, 2, b"x", None, 2, False, b"y", None], 9, 0]), "entry 2 has a malformed term False"),
        (frame(3, [0, [1, 1.0, b"x", None], 9, 0]), "entry 1 has a malformed term 1.0"),
        (
            frame(3, [0, [1, 5, b"x", None, 2, 5, b"y", None, 3, 4, b"z", None], 9, 0]),
            "entry 3 has term 4 after term 5",
        ),
        # A protocol version 1 batch of four entries has a multiple of four fields: the columns misalign.
        (
            frame(3, [0, [1, b"a", None, 2, b"b", None, 3, b"c", None, 4, b"d", None], 9, 0]),
            "entry 1 .* malformed term b'a'",
        ),
    ],
)
def test_malformed_frames_are_protocol_errors(raw: bytes, words: str) -> None:
    with pytest.raises(ProtocolError, match=words):
        decode(raw)


def test_a_float_entry_index_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        decode(frame(3, [0, [1.0, 0, b"x", None], 0, 0]))


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([0, [1, 3, b"x", None], 2, 0], "Append of term 2 carries an entry of a later term 3"),
        ([1, "l", 5, 2, 1, [1, 1, 1, 3]], r"epochs go backwards: \(1, 1\) then \(1, 3\)"),
        ([1, "l", 5, 2, 3, [1, 4, 2, 3]], r"epochs go backwards"),
        ([1, "l", 5, 2, 3, [1, 0]], r"fall outside the log 1..5"),
        ([1, "l", 5, 2, 3, [1, 1, 2, 6]], r"fall outside the log 1..5"),
        ([1, "l", 5, 2, 3, [1, 1, 2]], "pairs of integers"),
        (["l", 3, 1, 0, 4, 0], "Welcome match_index 4 beyond last_index 3"),
    ],
)
def test_terms_and_epochs_are_checked(body: list[Any], words: str) -> None:
    kind = {4: 3, 6: 1}.get(len(body), 2) if not isinstance(body[0], str) else 2
    with pytest.raises(ProtocolError, match=words):
        decode(frame(kind, body))


def test_an_append_carries_each_entrys_term_in_its_place() -> None:
    message = Append(6, (Entry(7, b"a", None, 2), Entry(8, b"b", "r", 2), Entry(9, b"c", None, 5)), 5, 4)
    body = msgpack.unpackb(encode(message)[1:])
    assert body == [6, [7, 2, b"a", None, 8, 2, b"b", "r", 9, 5, b"c", None], 5, 4]
    decoded = decode(encode(message))
    assert [e.term for e in decoded.entries] == [2, 2, 5]  # type: ignore[union-attr]
    assert all(type(e) is Entry for e in decoded.entries)  # type: ignore[union-attr]


def test_a_version_1_hello_still_decodes_so_that_it_can_be_refused() -> None:
    """The Hello's layout is the same in both versions: an old secondary gets an answer, not a dropped link."""
    assert decode(frame(1, [2, "log", 9, 1])) == Hello(2, "log", 9, protocol_version=1)


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
