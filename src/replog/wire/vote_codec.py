"""Election messages <-> bytes: the body of a `POST /vote` request and of its answer.

Same shape as wire/codec.py: `u8 kind | msgpack array`, positional fields in the dataclass's
order. The kinds are numbered apart from the replication frames' (1..3 here): the two never
share a channel, so a frame can never be mistaken for a vote. Decoding checks every field
(exact count, ints in 0..2**63-1, flags are real booleans) and raises ProtocolError naming the
message and the field, so a bad body can only become a 400, never reach the election.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import msgpack

from replog.core.vote_messages import TimeoutNow, VoteMessage, VoteRequest, VoteResponse
from replog.errors import ProtocolError

__all__ = ["decode", "encode"]

_INT_MAX = (1 << 63) - 1  # Terms, indexes and node ids all fit the storage layer's signed 64 bits.
_TYPES = {"int": int, "bool": bool}

_KIND_BY_TYPE: dict[type, int] = {VoteRequest: 1, VoteResponse: 2, TimeoutNow: 3}
_TYPE_BY_KIND = {kind: cls for cls, kind in _KIND_BY_TYPE.items()}

# (name, type) per field, read off the dataclasses so that a new field cannot be silently left off
# the wire: a field of another type fails here, at import, until this module learns it.
_FIELDS: dict[type, tuple[tuple[str, type], ...]] = {
    cls: tuple((field.name, _TYPES[str(field.type)]) for field in dataclasses.fields(cls)) for cls in _KIND_BY_TYPE
}


def encode(message: VoteMessage) -> bytes:
    cls = type(message)
    body = [getattr(message, name) for name, _ in _FIELDS[cls]]
    return bytes((_KIND_BY_TYPE[cls],)) + msgpack.packb(body, use_bin_type=True)


def decode(data: bytes) -> VoteMessage:
    if not data:
        raise ProtocolError("empty vote message")
    cls = _TYPE_BY_KIND.get(data[0])
    if cls is None:
        raise ProtocolError(f"unknown vote message kind {data[0]}")
    try:
        body = msgpack.unpackb(data[1:], raw=False, use_list=True, strict_map_key=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise ProtocolError(f"undecodable {cls.__name__} body: {exc}") from None
    if not isinstance(body, list):
        raise ProtocolError(f"{cls.__name__} body is not an array")
    fields = _FIELDS[cls]
    if len(body) != len(fields):
        raise ProtocolError(f"{cls.__name__} has {len(body)} fields, expected {len(fields)}")
    for value, (name, expected) in zip(body, fields, strict=True):
        _check(cls, name, expected, value)
    return cls(*body)


def _check(cls: type, name: str, expected: type, value: Any) -> None:
    where = f"{cls.__name__}.{name}"
    # Exact types: bool is an int subclass, and a flag is never a term (nor 1 a flag).
    if type(value) is not expected:
        raise ProtocolError(f"{where} is {type(value).__name__} {value!r:.40}, expected {expected.__name__}")
    if expected is int and not 0 <= value <= _INT_MAX:
        raise ProtocolError(f"{where} = {value} is outside 0..{_INT_MAX}")
