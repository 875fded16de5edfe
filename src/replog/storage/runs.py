"""Runs of records (types.RecordRun): consecutive entries as they lie on disk, shipped without decoding.

Catch-up used to decode each record read from the leader's disk into an Entry, pack it into msgpack,
unpack it on the follower and encode it into a record again, with two CRCs computed on the way. A run
skips all of that: the leader reads the bytes with one pread and sends them, and the follower checks each
record (`check_run`: length, CRC, index, term order, request id) and writes the same bytes with one write.
The CRC computed when the entry was first appended travels with it, so damage on the leader's disk, on
the wire or in a buffer is found before the follower stores anything.

Only records of the current format (records.FORMAT_VERSION) form runs. A run is pure data (types.py): the
core sees its first and last index and term, and cuts off the part a follower already holds (`after`).
"""

from __future__ import annotations

import zlib
from array import array
from pathlib import Path

from replog.storage.records import (
    CRC_START,
    NO_REQUEST_ID,
    RECORD_HEAD,
    RECORD_HEADER_BYTES,
    decode_records,
)
from replog.types import Entry, RecordRun

__all__ = ["check_run", "run_entries"]


_WIRE = Path("<replication frame>")  # where a bad record came from, for decode_records' message


def run_entries(run: RecordRun) -> list[Entry]:
    """Decode a checked run's records (for a store that keeps entries, not records)."""
    return decode_records(run.data, run.first_index, len(run), (_WIRE, 0))


def check_run(data: bytes, first_index: int) -> RecordRun | str:
    """Check every record of `data` (records of the current format, first_index onwards), as a reader of
    the segment would: a RecordRun if all are sound and fill `data` exactly, else what is wrong, named."""
    unpack, crc32, head_size = RECORD_HEAD.unpack_from, zlib.crc32, RECORD_HEAD.size
    ends = array("Q")
    epochs: list[tuple[int, int]] = []
    offset, size, index, last_term = 0, len(data), first_index, -1
    with memoryview(data) as view:
        while offset < size:
            if size - offset < head_size:
                return f"record {index}: {size - offset} bytes, shorter than a record header"
            body_len, crc, found_index, term, request_id_len = unpack(view, offset)
            end = offset + RECORD_HEADER_BYTES + body_len
            if end > size:
                return f"record {index}: runs {end - size} bytes past the end of the frame"
            if found_index != index:
                return f"record at byte {offset} has index {found_index} where {index} belongs"
            if crc32(view[offset + CRC_START : end]) != crc:
                return f"record {index}: crc mismatch"
            if request_id_len != NO_REQUEST_ID:
                start = offset + head_size
                if start + request_id_len > end:
                    return f"record {index}: request id length {request_id_len} does not fit its body"
                try:
                    str(view[start : start + request_id_len], "utf-8")
                except UnicodeDecodeError:
                    return f"record {index}: request id is not UTF-8"
            elif body_len < 2:
                return f"record {index}: body of {body_len} bytes"
            if term != last_term:
                if term < last_term:
                    return f"record {index}: term {term} after term {last_term}"
                epochs.append((term, index))
                last_term = term
            ends.append(end)
            offset, index = end, index + 1
    if not ends:
        return "no records"
    return RecordRun(first_index, data, ends, tuple(epochs))
