"""wire/vote_codec.py: every message round-trips; anything else is a ProtocolError naming what is wrong."""

from __future__ import annotations

import dataclasses

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replog.core.vote_messages import TimeoutNow, VoteMessage, VoteRequest, VoteResponse
from replog.errors import ProtocolError
from replog.wire import codec, vote_codec

INT_MAX = (1 << 63) - 1
ints = st.integers(0, INT_MAX)
messages: st.SearchStrategy[VoteMessage] = st.one_of(
    st.builds(VoteRequest, ints, ints, ints, ints, st.booleans(), st.booleans()),
    st.builds(VoteResponse, ints, ints, st.booleans(), st.booleans()),
    st.builds(TimeoutNow, ints, ints),
)


def _raw(kind: int, *fields: object) -> bytes:
    return bytes((kind,)) + msgpack.packb(list(fields), use_bin_type=True)


@given(messages)
def test_every_message_round_trips(message: VoteMessage) -> None:
    assert vote_codec.decode(vote_codec.encode(message)) == message


def test_kinds_and_layout_are_fixed() -> None:
    # The wire format is a contract between node versions: pin it, not just the round trip.
    assert vote_codec.encode(VoteRequest(7, 2, 6, 41, pre_vote=True)) == _raw(1, 7, 2, 6, 41, True, False)
    assert vote_codec.encode(VoteResponse(7, 1, granted=True)) == _raw(2, 7, 1, True, False)
    assert vote_codec.encode(TimeoutNow(7, 0)) == _raw(3, 7, 0)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty vote message"),
        (_raw(4, 1, 2), "unknown vote message kind 4"),
        (codec.encode(codec.Heartbeat(3))[:1] + b"\x91\x03", "unknown vote message kind 5"),
        (b"\x03", "undecodable TimeoutNow body"),
        (b"\x03\x92\x01", "undecodable TimeoutNow body"),  # an array that ends early
        (_raw(3, 1, 2) + b"\x00", "undecodable TimeoutNow body"),  # trailing bytes
        (b"\x03" + msgpack.packb({"term": 1, "leader": 2}), "TimeoutNow body is not an array"),
        (_raw(3, 1), "TimeoutNow has 1 fields, expected 2"),
        (_raw(3, 1, 2, 3), "TimeoutNow has 3 fields, expected 2"),
        (_raw(1, 1, 2, 3, 4, False), "VoteRequest has 5 fields, expected 6"),
        (_raw(3, True, 2), "TimeoutNow.term is bool True, expected int"),
        (_raw(2, 1, 2, 1, False), "VoteResponse.granted is int 1, expected bool"),
        (_raw(1, 1, 2, 3, 4, False, None), "VoteRequest.transfer is NoneType None, expected bool"),
        (_raw(3, 1.0, 2), "TimeoutNow.term is float 1.0, expected int"),
        (_raw(3, "1", 2), "TimeoutNow.term is str '1', expected int"),
        (_raw(3, 1, -1), "TimeoutNow.leader = -1 is outside 0.."),
        (_raw(3, INT_MAX + 1, 0), f"TimeoutNow.term = {INT_MAX + 1} is outside 0.."),
        (_raw(1, 1, 2, 3, [4], False, False), "VoteRequest.last_index is list [4], expected int"),
    ],
)
def test_malformed_messages_are_protocol_errors_that_say_why(data: bytes, words: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        vote_codec.decode(data)
    assert words in str(caught.value)


def test_the_largest_values_pass() -> None:
    message = VoteRequest(INT_MAX, INT_MAX, INT_MAX, INT_MAX, True, True)
    assert vote_codec.decode(vote_codec.encode(message)) == message


# ------------------------------------------------------------------ fuzzing


def _assert_valid(message: VoteMessage) -> None:
    """What decode promises about anything it returns: a real message with in-range, exactly typed fields."""
    assert type(message) in (VoteRequest, VoteResponse, TimeoutNow)
    for field in dataclasses.fields(message):
        value = getattr(message, field.name)
        if field.type == "bool":
            assert type(value) is bool
        else:
            assert type(value) is int and 0 <= value <= INT_MAX
    assert vote_codec.decode(vote_codec.encode(message)) == message


def _decode_or_protocol_error(data: bytes) -> VoteMessage | None:
    try:
        message = vote_codec.decode(data)
    except ProtocolError:
        return None
    _assert_valid(message)
    return message


@settings(max_examples=500)
@given(st.binary(max_size=80))
def test_random_bytes_decode_to_a_valid_message_or_a_protocol_error(data: bytes) -> None:
    _decode_or_protocol_error(data)


@settings(max_examples=500)
@given(st.binary(max_size=60))
def test_random_bodies_behind_a_valid_kind_decode_or_fail_cleanly(body: bytes) -> None:
    for kind in (1, 2, 3):
        _decode_or_protocol_error(bytes((kind,)) + body)


FIELD_COUNTS = {1: 6, 2: 4, 3: 2}
# Values a buggy check would let through: bools for ints and back, the range edges, lookalikes.
near_values = st.one_of(
    st.sampled_from([True, False, 0, 1, -1, INT_MAX, INT_MAX + 1, (1 << 64) - 1, -(1 << 63), 1.0, None, "1", b"1"]),
    ints,
    st.lists(st.integers(0, 3), max_size=2),
)


@st.composite
def near_messages(draw: st.DrawFn) -> bytes:
    """Well-formed msgpack with about the right number of almost-right fields: reaches every field check."""
    kind = draw(st.sampled_from([1, 2, 3]))
    count = FIELD_COUNTS[kind] + draw(st.sampled_from([0, 0, 0, -1, 1]))
    return _raw(kind, *draw(st.lists(near_values, min_size=count, max_size=count)))


@settings(max_examples=500)
@given(near_messages())
def test_almost_right_fields_decode_to_a_valid_message_or_a_protocol_error(data: bytes) -> None:
    _decode_or_protocol_error(data)


@settings(max_examples=500)
@given(messages, st.integers(0, 200), st.integers(1, 255), st.integers(0, 40))
def test_mutated_messages_decode_to_a_valid_message_or_a_protocol_error(
    message: VoteMessage, spot: int, xor: int, cut: int
) -> None:
    data = vote_codec.encode(message)
    at = spot % len(data)
    _decode_or_protocol_error(data[:at] + bytes((data[at] ^ xor,)) + data[at + 1 :])
    _decode_or_protocol_error(data[: max(0, len(data) - cut)])
    _decode_or_protocol_error(data + data[:cut])
