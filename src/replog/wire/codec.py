"""Replication frames <-> messages. The only module that knows the wire format.

A frame is one WebSocket binary message: `u8 kind | msgpack body`. Bodies are msgpack arrays
(positional, so a frame carries no field names); an Append's entries are flattened into one
array of index, term, payload, request_id quadruples (protocol version 2; version 1 had no term). An Append
that carries a RecordRun (catch-up, version 3) is a frame of its own kind whose body holds the records as
they lie on the leader's disk, one bytes field; decoding checks every record as a segment reader would.
Decoding validates every field's type, the entries' continuity and that their terms never
decrease, and raises ProtocolError on anything else, so a bad frame can only close its link,
never reach the core (nor trip a store's assertion).
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import msgpack

from replog.core.messages import Ack, Append, Error, Heartbeat, Hello, Message, Welcome
from replog.errors import ProtocolError
from replog.storage.runs import check_run
from replog.types import Entry, RecordRun

__all__ = ["decode", "encode"]

_KIND_BY_TYPE: dict[type, int] = {Hello: 1, Welcome: 2, Append: 3, Ack: 4, Heartbeat: 5, Error: 6}
_APPEND_RECORDS = 7
_MAX_INDEX = (1 << 63) - 1
_FIELDS_PER_ENTRY = 4  # index, term, payload, request_id
# Entry(...) runs a Python-level __new__ per entry; tuple.__new__ builds the same NamedTuple in C.
_new_entry = functools.partial(tuple.__new__, Entry)


def encode(message: Message) -> bytes:
    kind = _KIND_BY_TYPE[type(message)]
    match message:
        case Hello(node_id, log_id, contiguous_index, protocol_version, term, epochs):
            flat_epochs = [number for epoch in epochs for number in epoch]
            body: list[Any] = [node_id, log_id, contiguous_index, protocol_version, term, flat_epochs]
        case Welcome(log_id, last_index, term, leader_id, match_index, commit_index):
            body = [log_id, last_index, term, leader_id, match_index, commit_index]
        case Append(prev_index, RecordRun() as run, term, commit_index):
            kind, body = _APPEND_RECORDS, [prev_index, run.data, term, commit_index]
        case Append(prev_index, entries, term, commit_index):
            body = [prev_index, _flatten(entries), term, commit_index]
        case Ack(contiguous_index):
            body = [contiguous_index]
        case Heartbeat(last_index, term, commit_index):
            body = [last_index, term, commit_index]
        case Error(code, detail, term):
            body = [code, detail, term]
    return bytes((kind,)) + msgpack.packb(body, use_bin_type=True)


def _flatten(entries: tuple[Entry, ...]) -> list[Any]:
    """Entries as one flat array of quadruples, built a column at a time (catch-up frames hold a thousand)."""
    flat: list[Any] = [None] * (_FIELDS_PER_ENTRY * len(entries))
    if entries:
        indexes, payloads, request_ids, terms = zip(*entries, strict=True)
        flat[0::4], flat[1::4], flat[2::4], flat[3::4] = indexes, terms, payloads, request_ids
    return flat


def decode(frame: bytes) -> Message:
    if not frame:
        raise ProtocolError("empty frame")
    try:
        body = msgpack.unpackb(frame[1:], raw=False, use_list=True, strict_map_key=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise ProtocolError(f"undecodable frame body: {exc}") from None
    if not isinstance(body, list):
        raise ProtocolError("frame body is not an array")
    kind = frame[0]
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise ProtocolError(f"unknown frame kind {kind}")
    return decoder(body)


def _fields(body: list[Any], *types: type) -> list[Any]:
    if len(body) != len(types):
        raise ProtocolError(f"frame has {len(body)} fields, expected {len(types)}")
    for value, expected in zip(body, types, strict=True):
        # bool is an int subclass; a flag is never a valid index.
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ProtocolError(f"field {value!r:.40} is not {expected.__name__}")
        if expected is int and not 0 <= value <= _MAX_INDEX:
            raise ProtocolError(f"integer field {value} out of range")
    return body


def _decode_hello(body: list[Any]) -> Hello:
    if len(body) == 4:  # Version 1's Hello: decoded only so that the leader can refuse it by name.
        return Hello(*_fields(body, int, str, int, int))
    node_id, log_id, contiguous_index, version, term, flat = _fields(body, int, str, int, int, int, list)
    return Hello(node_id, log_id, contiguous_index, version, term, _epochs(flat, contiguous_index))


def _epochs(flat: list[Any], last_index: int) -> tuple[tuple[int, int], ...]:
    """(term, first_index) pairs: both rising, every run starting inside the log."""
    if len(flat) % 2 or any(type(n) is not int or not 0 <= n <= _MAX_INDEX for n in flat):
        raise ProtocolError("Hello epochs must be (term, first_index) pairs of integers")
    epochs = tuple(zip(flat[0::2], flat[1::2], strict=True))
    for (term, first), (next_term, next_first) in itertools.pairwise(epochs):
        if next_term <= term or next_first <= first:
            raise ProtocolError(f"Hello epochs go backwards: ({term}, {first}) then ({next_term}, {next_first})")
    if epochs and (epochs[0][1] < 1 or epochs[-1][1] > last_index):
        raise ProtocolError(f"Hello epochs {epochs[0]}..{epochs[-1]} fall outside the log 1..{last_index}")
    return epochs


def _decode_welcome(body: list[Any]) -> Welcome:
    welcome = Welcome(*_fields(body, str, int, int, int, int, int))
    if welcome.match_index > welcome.last_index:
        raise ProtocolError(f"Welcome match_index {welcome.match_index} beyond last_index {welcome.last_index}")
    return welcome


def _decode_append(body: list[Any]) -> Append:
    prev_index, flat, term, commit_index = _fields(body, int, list, int, int)
    count, rest = divmod(len(flat), _FIELDS_PER_ENTRY)
    if not count or rest:
        raise ProtocolError("Append needs at least one (index, term, payload, request_id) quadruple")
    # Whole-column checks run in C (catch-up frames carry a thousand entries); the loop below only
    # runs to name the first bad entry. Sorting a sorted list is one linear pass.
    indexes, terms, payloads, request_ids = flat[0::4], flat[1::4], flat[2::4], flat[3::4]
    if (
        set(map(type, indexes)) != {int}
        or indexes != list(range(prev_index + 1, prev_index + count + 1))
        or set(map(type, terms)) != {int}
        or terms[0] < 0
        or terms[-1] > _MAX_INDEX
        or terms != sorted(terms)
        or set(map(type, payloads)) != {bytes}
        or not set(map(type, request_ids)) <= {str, type(None)}
    ):
        _name_bad_entry(prev_index, indexes, terms, payloads, request_ids)
    if terms[-1] > term:
        raise ProtocolError(f"Append of term {term} carries an entry of a later term {terms[-1]}")
    entries = tuple(map(_new_entry, zip(indexes, payloads, request_ids, terms, strict=True)))
    return Append(prev_index, entries, term, commit_index)


def _name_bad_entry(
    prev_index: int, indexes: list[Any], terms: list[Any], payloads: list[Any], request_ids: list[Any]
) -> None:
    expected, previous_term = prev_index + 1, 0
    for index, term, payload, request_id in zip(indexes, terms, payloads, request_ids, strict=True):
        if type(index) is not int or index != expected:
            raise ProtocolError(f"Append entry index {index!r:.20} where {expected} belongs")
        if type(term) is not int or not 0 <= term <= _MAX_INDEX:
            raise ProtocolError(f"Append entry {index} has a malformed term {term!r:.20}")
        if term < previous_term:
            raise ProtocolError(f"Append entry {index} has term {term} after term {previous_term}")
        if not isinstance(payload, bytes) or not (request_id is None or isinstance(request_id, str)):
            raise ProtocolError(f"Append entry {index} has a malformed payload or request_id")
        expected, previous_term = expected + 1, term
    raise AssertionError("_name_bad_entry found no bad entry")


def _decode_append_records(body: list[Any]) -> Append:
    prev_index, data, term, commit_index = _fields(body, int, bytes, int, int)
    run = check_run(data, prev_index + 1)
    if isinstance(run, str):
        raise ProtocolError(f"Append of records after {prev_index}: {run}")
    if run.last_term > term:
        raise ProtocolError(f"Append of term {term} carries an entry of a later term {run.last_term}")
    return Append(prev_index, run, term, commit_index)


def _decode_ack(body: list[Any]) -> Ack:
    return Ack(*_fields(body, int))


def _decode_heartbeat(body: list[Any]) -> Heartbeat:
    return Heartbeat(*_fields(body, int, int, int))


def _decode_error(body: list[Any]) -> Error:
    return Error(*_fields(body, str, str, int))


_DECODERS = {
    1: _decode_hello,
    2: _decode_welcome,
    3: _decode_append,
    4: _decode_ack,
    5: _decode_heartbeat,
    6: _decode_error,
    _APPEND_RECORDS: _decode_append_records,
}
