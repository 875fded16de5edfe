"""Frames of the pipelined client stream (`/stream` on the master): msgpack arrays of items.

A client frame holds any number of appends, `[correlation_id, w, msg, request_id | None]`; a
master frame holds any number of answers, `[correlation_id, index, error | None]` with error
`[status, message]`, in whatever order the write concerns are met. Both sides coalesce what is
pending into one frame per event-loop turn, so one frame may carry thousands of items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from replog.errors import ProtocolError

__all__ = ["StreamAnswer", "StreamAppend", "decode_answers", "decode_appends", "encode_answers", "encode_appends"]


@dataclass(frozen=True, slots=True)
class StreamAppend:
    correlation_id: int
    w: int
    msg: str
    request_id: str | None


@dataclass(frozen=True, slots=True)
class StreamAnswer:
    correlation_id: int
    index: int
    status: int  # 201 appended, 200 duplicate, else the HTTP status of the error
    error: str


def encode_appends(items: list[tuple[int, int, str, str | None]]) -> bytes:
    return msgpack.packb(items, use_bin_type=True)


def decode_appends(frame: bytes) -> list[StreamAppend]:
    """Decode a client frame; a malformed frame raises ProtocolError (the stream then closes)."""
    items = _unpack_array(frame)
    appends = []
    for item in items:
        if not (isinstance(item, list) and len(item) == 4 and _is_int(item[0])):
            raise ProtocolError("each append must be [correlation_id, w, msg, request_id]")
        correlation_id, w, msg, request_id = item
        # Field errors are answered per item (400), so only the shape is checked here.
        appends.append(StreamAppend(correlation_id, w, msg, request_id))
    return appends


def encode_answers(answers: list[list[Any]]) -> bytes:
    return msgpack.packb(answers, use_bin_type=True)


def decode_answers(frame: bytes) -> list[StreamAnswer]:
    answers = []
    for item in _unpack_array(frame):
        if not (isinstance(item, list) and len(item) == 3 and _is_int(item[0]) and _is_int(item[1])):
            raise ProtocolError("each answer must be [correlation_id, index, error]")
        correlation_id, index, error = item
        if error is None:
            answers.append(StreamAnswer(correlation_id, index, 201, ""))
        elif isinstance(error, list) and len(error) == 2 and _is_int(error[0]) and isinstance(error[1], str):
            answers.append(StreamAnswer(correlation_id, index, error[0], error[1]))
        else:
            raise ProtocolError("an answer's error must be [status, message] or null")
    return answers


def _unpack_array(frame: bytes) -> list[Any]:
    try:
        items = msgpack.unpackb(frame, raw=False, use_list=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise ProtocolError(f"undecodable stream frame: {exc}") from None
    if not isinstance(items, list):
        raise ProtocolError("a stream frame must be an array")
    return items


def _is_int(value: Any) -> bool:
    return type(value) is int
