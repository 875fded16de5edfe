"""The on-disk record format of a segment, and nothing else: encode, decode, validate, scan.

Little-endian. A segment file starts with `MAGIC | u16 format_version | u64 first_index`; then records.
Version 2 (what we write): `u32 body_len | u32 crc32 | u64 index | u64 term | body`. Version 1 (what
replog wrote before failover; still read, its entries have term 0): `u32 body_len | u32 crc32 | u64 index |
body`. In both, body = `u16 request_id_len | request_id utf-8 | payload` (request_id_len NO_REQUEST_ID means
none). The crc covers the record from its index field to its end (so the term too), so a torn or flipped
record is found by the reader, never served. A file holds one version only: its header says which.
Validation is paired (TigerStyle): a record is checked before it is written and again whenever it is read,
except when a leader reads records to ship them as they are (storage/runs.py): the follower checks those.
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
    "LAYOUTS",
    "MAGIC",
    "NO_REQUEST_ID",
    "RECORD_HEAD",
    "RECORD_HEADER_BYTES",
    "SEGMENT_HEADER",
    "TERM_MAX",
    "Buffer",
    "Layout",
    "Record",
    "Scan",
    "Where",
    "decode_records",
    "encode_records",
    "header_problem",
    "header_version",
    "record_problem",
    "scan_records",
]

FORMAT_VERSION = 2
MAGIC = b"RPLG"
SEGMENT_HEADER = Struct("<4sHQ")  # magic, format_version, first_index
RECORD_HEAD = Struct("<IIQQH")  # body_len, crc32, index, term, request_id_len (the body's first field)
LEN_CRC = Struct("<II")  # the part of the head the crc does not cover
COVERED_HEAD = Struct("<QQH")  # index, term, request_id_len: the start of what the crc covers
RECORD_HEADER_BYTES = 24  # body_len, crc32, index and term; the body starts here
CRC_START = 8  # the crc covers the record from its index field to its end
NO_REQUEST_ID = 0xFFFF
BODY_BYTES_MAX = 0xFFFF_FFFF
TERM_MAX = (1 << 64) - 1

Buffer = bytes | memoryview | mmap.mmap
# A NamedTuple's constructor is a Python function; tuple.__new__ builds the same object without that frame,
# about 0.2 us less per entry, which is most of what the batch paths below spend besides the crc.
_new_tuple = tuple.__new__
Where = tuple[Path, int]  # a file, and the byte offset in it where a buffer read from it starts


class Layout(NamedTuple):
    """Where the fields of a record sit in one format version."""

    version: int
    head: Struct  # the fixed part of a record, up to and including request_id_len
    header_bytes: int  # where the body starts


LAYOUTS = {
    1: Layout(1, Struct("<IIQH"), 16),
    FORMAT_VERSION: Layout(FORMAT_VERSION, RECORD_HEAD, RECORD_HEADER_BYTES),
}


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
    # (term, first_index) for each run of equal terms among the records scanned, in index order.
    epochs: list[tuple[int, int]]


def encode_record(entry: Entry) -> Record:
    """Encode one entry (always in the current format), validating it before it goes anywhere near the disk."""
    if entry.index < 1:
        raise AssertionError(f"entry index must be >= 1, got {entry.index}")
    if not isinstance(entry.payload, bytes):
        raise AssertionError(f"entry {entry.index}: payload must be bytes, got {type(entry.payload).__name__}")
    if type(entry.term) is not int or not 0 <= entry.term <= TERM_MAX:
        raise AssertionError(f"entry {entry.index}: term must be an int in 0..2**64-1, got {entry.term!r:.40}")
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
    covered = COVERED_HEAD.pack(entry.index, entry.term, request_id_len) + request_id
    head = LEN_CRC.pack(body_len, zlib.crc32(entry.payload, zlib.crc32(covered))) + covered
    return Record(head, entry.payload, RECORD_HEADER_BYTES + body_len)


def encode_records(entries: Sequence[Entry]) -> list[Record]:
    """encode_record for a batch, with the checks inlined; anything unusual goes to encode_record to be named.

    Catch-up appends a thousand entries per frame; the checks stay, the per-call overhead goes.
    """
    pack_head, pack_covered, crc32, new = LEN_CRC.pack, COVERED_HEAD.pack, zlib.crc32, _new_tuple
    records: list[Record] = []
    for entry in entries:
        index, payload, request_id, term = entry
        if type(payload) is not bytes or index < 1 or type(term) is not int or not 0 <= term <= TERM_MAX:
            records.append(encode_record(entry))
            continue
        if request_id is None:
            covered = pack_covered(index, term, NO_REQUEST_ID)
            body_len = 2 + len(payload)
        else:
            request_id_bytes = request_id.encode("utf-8")
            if len(request_id_bytes) >= NO_REQUEST_ID:
                records.append(encode_record(entry))
                continue
            covered = pack_covered(index, term, len(request_id_bytes)) + request_id_bytes
            body_len = 2 + len(request_id_bytes) + len(payload)
        if body_len > BODY_BYTES_MAX:
            records.append(encode_record(entry))
            continue
        head = pack_head(body_len, crc32(payload, crc32(covered))) + covered
        records.append(new(Record, (head, payload, RECORD_HEADER_BYTES + body_len)))
    return records


def record_problem(buf: Buffer, offset: int, index: int, layout: Layout) -> tuple[str | None, int]:
    """Check the record at `offset`; return (what is wrong or None, where the record ends)."""
    available = len(buf) - offset
    head = layout.head
    if available < head.size:
        return f"short record header ({available} of {head.size} bytes)", offset
    fields = head.unpack_from(buf, offset)
    body_len, crc, found_index, request_id_len = fields[0], fields[1], fields[2], fields[-1]
    end = offset + layout.header_bytes + body_len
    if end > len(buf):
        return f"short record ({available} of {end - offset} bytes)", offset
    if zlib.crc32(buf[offset + CRC_START : end]) != crc:
        return "crc mismatch", offset
    if found_index != index:
        return f"index {found_index} where {index} was expected", offset
    if body_len < 2 or (request_id_len != NO_REQUEST_ID and 2 + request_id_len > body_len):
        return f"request id length {request_id_len} does not fit a body of {body_len} bytes", offset
    return None, end


def _term_of(buf: Buffer, offset: int, layout: Layout) -> int:
    """The term of a record already checked by record_problem (version 1 records are term 0)."""
    return int(layout.head.unpack_from(buf, offset)[3]) if layout.version >= 2 else 0


def decode_record(view: memoryview, offset: int, index: int, where: Where, layout: Layout) -> tuple[Entry, int]:
    """Decode and validate the record at `offset` of `view`, which starts at where[1] in file where[0]."""
    problem, end = record_problem(view, offset, index, layout)
    if problem is not None:
        raise CorruptSegment(f"{where[0]} at byte offset {where[1] + offset}: {problem}")
    request_id_len = layout.head.unpack_from(view, offset)[-1]
    start = offset + layout.head.size
    request_id: str | None = None
    if request_id_len != NO_REQUEST_ID:
        try:
            request_id = str(view[start : start + request_id_len], "utf-8")
        except UnicodeDecodeError as exc:
            raise CorruptSegment(f"{where[0]} at byte offset {where[1] + offset}: bad request id ({exc})") from exc
        start += request_id_len
    return Entry(index, bytes(view[start:end]), request_id, _term_of(view, offset, layout)), end


def decode_records(data: bytes, index: int, count: int, where: Where, version: int = FORMAT_VERSION) -> list[Entry]:
    """Decode `count` consecutive records; the same checks as record_problem, inlined for catch-up speed.

    A record that fails any check is handed to decode_record, which names the problem and raises.
    """
    if version != FORMAT_VERSION:
        return _decode_records_slowly(data, index, count, where, LAYOUTS[version])
    entries: list[Entry] = []
    offset, size = 0, len(data)
    unpack, crc32, head_size, new = RECORD_HEAD.unpack_from, zlib.crc32, RECORD_HEAD.size, _new_tuple
    with memoryview(data) as view:
        for i in range(index, index + count):
            if size - offset < head_size:
                decode_record(view, offset, i, where, LAYOUTS[FORMAT_VERSION])
            body_len, crc, found_index, term, request_id_len = unpack(view, offset)
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
                decode_record(view, offset, i, where, LAYOUTS[FORMAT_VERSION])
            if request_id_len == NO_REQUEST_ID:
                entries.append(new(Entry, (i, bytes(view[start:end]), None, term)))
            else:
                try:
                    request_id = str(view[offset + head_size : start], "utf-8")
                except UnicodeDecodeError:
                    decode_record(view, offset, i, where, LAYOUTS[FORMAT_VERSION])  # names the problem, raises
                entries.append(new(Entry, (i, bytes(view[start:end]), request_id, term)))
            offset = end
    return entries


def _decode_records_slowly(data: bytes, index: int, count: int, where: Where, layout: Layout) -> list[Entry]:
    """decode_records for older formats: only files written before an upgrade, so one call per record."""
    entries: list[Entry] = []
    offset = 0
    with memoryview(data) as view:
        for i in range(index, index + count):
            entry, offset = decode_record(view, offset, i, where, layout)
            entries.append(entry)
    return entries


def scan_records(buf: Buffer, first_index: int, version: int) -> Scan:
    """Walk a segment's records until the end of the file or the first one that fails its checks."""
    if version == FORMAT_VERSION:
        return _scan_current(buf, first_index)
    layout = LAYOUTS[version]
    offsets = array("Q")
    epochs: list[tuple[int, int]] = []
    offset, index = SEGMENT_HEADER.size, first_index
    while offset < len(buf):
        problem, end = record_problem(buf, offset, index, layout)
        if problem is not None:
            return Scan(offsets, offset, problem, epochs)
        term = _term_of(buf, offset, layout)
        if not epochs or epochs[-1][0] != term:
            epochs.append((term, index))
        offsets.append(offset)
        offset, index = end, index + 1
    return Scan(offsets, offset, None, epochs)


def _scan_current(buf: Buffer, first_index: int) -> Scan:
    """scan_records for the current format, record_problem's checks inlined (recovery walks every record of
    every segment). The first record that fails any check is handed to record_problem to be named."""
    unpack, crc32, head_size = RECORD_HEAD.unpack_from, zlib.crc32, RECORD_HEAD.size
    offsets = array("Q")
    epochs: list[tuple[int, int]] = []
    offset, index, size, last_term = SEGMENT_HEADER.size, first_index, len(buf), -1
    with memoryview(buf) as view:
        while offset < size:
            end = offset
            if size - offset >= head_size:
                body_len, crc, found_index, term, request_id_len = unpack(view, offset)
                end = offset + RECORD_HEADER_BYTES + body_len
            if (
                end == offset
                or end > size
                or found_index != index
                or body_len < 2
                or (request_id_len != NO_REQUEST_ID and 2 + request_id_len > body_len)
                or crc32(view[offset + CRC_START : end]) != crc
            ):
                problem = record_problem(buf, offset, index, LAYOUTS[FORMAT_VERSION])[0]
                return Scan(offsets, offset, problem or "record check failed", epochs)
            if term != last_term:
                epochs.append((term, index))
                last_term = term
            offsets.append(offset)
            offset, index = end, index + 1
    return Scan(offsets, offset, None, epochs)


def header_version(buf: Buffer) -> int:
    """The format version a segment's header names (check header_problem first)."""
    return int(SEGMENT_HEADER.unpack_from(buf, 0)[1])


def header_problem(buf: Buffer, first_index: int) -> str | None:
    magic, version, header_first_index = SEGMENT_HEADER.unpack_from(buf, 0)
    if magic != MAGIC:
        return f"bad magic {magic!r}"
    if version not in LAYOUTS:
        readable = " and ".join(str(v) for v in sorted(LAYOUTS))
        return f"format version {version}, this replog reads only versions {readable}"
    if header_first_index != first_index:
        return f"header says first index {header_first_index} but the file name says {first_index}"
    return None
