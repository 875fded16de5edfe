"""The on-disk record format of a segment, and nothing else: encode, decode, validate, scan.

Little-endian. A segment file starts with `MAGIC | u16 FORMAT_VERSION | u64 first_index`; then records
`u32 body_len | u32 crc32 | u64 index | body`, body = `u16 request_id_len | request_id utf-8 | payload`
(request_id_len NO_REQUEST_ID means none). The crc covers the record from its index field to its end,
so a torn or flipped record is found by the reader, never served. Validation is paired (TigerStyle): a
record is checked before it is written and again whenever it is read.
"""

from __future__ import annotations

import mmap
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from struct import Struct
from typing import NamedTuple

from replog.errors import CorruptSegment, InvalidRequest
from replog.types import Entry

__all__ = [
    "BODY_BYTES_MAX",
    "CRC_START",
    "FORMAT_VERSION",
    "MAGIC",
    "NO_REQUEST_ID",
    "RECORD_HEAD",
    "RECORD_HEADER_BYTES",
    "SEGMENT_HEADER",
    "Buffer",
    "Record",
    "Scan",
    "Where",
    "decode_records",
    "encode_records",
    "header_problem",
    "record_problem",
    "scan_records",
]

FORMAT_VERSION = 1
MAGIC = b"RPLG"
SEGMENT_HEADER = Struct("<4sHQ")  # magic, format_version, first_index
RECORD_HEAD = Struct("<IIQH")  # body_len, crc32, index, request_id_len (the body's first field)
LEN_CRC = Struct("<II")  # the part of the head the crc does not cover
COVERED_HEAD = Struct("<QH")  # index, request_id_len: the start of what the crc covers
RECORD_HEADER_BYTES = 16  # body_len, crc32 and index; the body starts here
CRC_START = 8  # the crc covers the record from its index field to its end
NO_REQUEST_ID = 0xFFFF
BODY_BYTES_MAX = 0xFFFF_FFFF

Buffer = bytes | memoryview | mmap.mmap
Where = tuple[Path, int]  # a file, and the byte offset in it where a buffer read from it starts


class Record(NamedTuple):
    """An encoded record kept in two parts, so the payload is copied once: into the write buffer.

    A NamedTuple rather than a dataclass because one is built per appended entry.
    """

    head: bytes
    payload: bytes
    size: int


@dataclass(frozen=True, slots=True)
class Scan:
    offsets: array[int]
    end_offset: int
    problem: str | None  # why the scan stopped before the end of the file, if it did


def encode_record(entry: Entry) -> Record:
    """Encode one entry, validating it before it goes anywhere near the disk."""
    if entry.index < 1:
        raise AssertionError(f"entry index must be >= 1, got {entry.index}")
    if not isinstance(entry.payload, bytes):
        raise AssertionError(f"entry {entry.index}: payload must be bytes, got {type(entry.payload).__name__}")
    if entry.request_id is None:
        request_id, request_id_len = b"", NO_REQUEST_ID
    else:
        request_id = entry.request_id.encode("utf-8")
        request_id_len = len(request_id)
        if request_id_len >= NO_REQUEST_ID:
            raise InvalidRequest(f"entry {entry.index}: request_id is {request_id_len} bytes, max 65534")
    body_len = 2 + len(request_id) + len(entry.payload)
    if body_len > BODY_BYTES_MAX:
        raise InvalidRequest(f"entry {entry.index}: {len(entry.payload)} payload bytes do not fit a record")
    covered = COVERED_HEAD.pack(entry.index, request_id_len) + request_id
    head = LEN_CRC.pack(body_len, zlib.crc32(entry.payload, zlib.crc32(covered))) + covered
    return Record(head, entry.payload, RECORD_HEADER_BYTES + body_len)


def encode_records(entries: Sequence[Entry]) -> list[Record]:
    """encode_record for a batch, with the common case (bytes payload, no request id) inlined.

    Catch-up appends a thousand entries per frame; the checks stay, the per-call overhead goes.
    """
    pack_head, pack_covered, crc32 = LEN_CRC.pack, COVERED_HEAD.pack, zlib.crc32
    records: list[Record] = []
    for entry in entries:
        index, payload, request_id, _term = entry
        if request_id is not None or type(payload) is not bytes or index < 1:
            records.append(encode_record(entry))
            continue
        body_len = 2 + len(payload)
        covered = pack_covered(index, NO_REQUEST_ID)
        records.append(
            Record(
                pack_head(body_len, crc32(payload, crc32(covered))) + covered, payload, RECORD_HEADER_BYTES + body_len
            )
        )
    return records


def record_problem(buf: Buffer, offset: int, index: int) -> tuple[str | None, int]:
    """Check the record at `offset`; return (what is wrong or None, where the record ends)."""
    available = len(buf) - offset
    if available < RECORD_HEAD.size:
        return f"short record header ({available} of {RECORD_HEAD.size} bytes)", offset
    body_len, crc, found_index, request_id_len = RECORD_HEAD.unpack_from(buf, offset)
    end = offset + RECORD_HEADER_BYTES + body_len
    if end > len(buf):
        return f"short record ({available} of {end - offset} bytes)", offset
    if zlib.crc32(buf[offset + CRC_START : end]) != crc:
        return "crc mismatch", offset
    if found_index != index:
        return f"index {found_index} where {index} was expected", offset
    if body_len < 2 or (request_id_len != NO_REQUEST_ID and 2 + request_id_len > body_len):
        return f"request id length {request_id_len} does not fit a body of {body_len} bytes", offset
    return None, end


def decode_record(view: memoryview, offset: int, index: int, where: Where) -> tuple[Entry, int]:
    """Decode and validate the record at `offset` of `view`, which starts at where[1] in file where[0]."""
    problem, end = record_problem(view, offset, index)
    if problem is not None:
        raise CorruptSegment(f"{where[0]} at byte offset {where[1] + offset}: {problem}")
    request_id_len = RECORD_HEAD.unpack_from(view, offset)[3]
    start = offset + RECORD_HEAD.size
    request_id: str | None = None
    if request_id_len != NO_REQUEST_ID:
        try:
            request_id = str(view[start : start + request_id_len], "utf-8")
        except UnicodeDecodeError as exc:
            raise CorruptSegment(f"{where[0]} at byte offset {where[1] + offset}: bad request id ({exc})") from exc
        start += request_id_len
    return Entry(index, bytes(view[start:end]), request_id), end


def decode_records(data: bytes, index: int, count: int, where: Where) -> list[Entry]:
    """Decode `count` consecutive records; the same checks as record_problem, inlined for catch-up speed.

    A record that fails any check is handed to decode_record, which names the problem and raises.
    """
    entries: list[Entry] = []
    offset, size = 0, len(data)
    unpack, crc32, head_size = RECORD_HEAD.unpack_from, zlib.crc32, RECORD_HEAD.size
    with memoryview(data) as view:
        for i in range(index, index + count):
            if size - offset < head_size:
                decode_record(view, offset, i, where)
            body_len, crc, found_index, request_id_len = unpack(view, offset)
            end = offset + RECORD_HEADER_BYTES + body_len
            start = offset + head_size
            if request_id_len != NO_REQUEST_ID:
                start += request_id_len
            if (
                end > size
                or found_index != i
                or body_len < 2
                or start > end
                or crc32(view[offset + CRC_START : end]) != crc
            ):
                decode_record(view, offset, i, where)
            if request_id_len == NO_REQUEST_ID:
                entries.append(Entry(i, bytes(view[start:end]), None))
            else:
                entries.append(decode_record(view, offset, i, where)[0])
            offset = end
    return entries


def scan_records(buf: Buffer, first_index: int) -> Scan:
    """Walk a segment's records until the end of the file or the first one that fails its checks."""
    offsets = array("Q")
    offset, index = SEGMENT_HEADER.size, first_index
    while offset < len(buf):
        problem, end = record_problem(buf, offset, index)
        if problem is not None:
            return Scan(offsets, offset, problem)
        offsets.append(offset)
        offset, index = end, index + 1
    return Scan(offsets, offset, None)


def header_problem(buf: Buffer, first_index: int) -> str | None:
    magic, version, header_first_index = SEGMENT_HEADER.unpack_from(buf, 0)
    if magic != MAGIC:
        return f"bad magic {magic!r}"
    if version != FORMAT_VERSION:
        return f"format version {version}, this replog reads only version {FORMAT_VERSION}"
    if header_first_index != first_index:
        return f"header says first index {header_first_index} but the file name says {first_index}"
    return None
