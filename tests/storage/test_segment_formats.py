"""Record formats on disk: version 1 files (written before entries had terms) next to version 2 ones.

A log written by an older replog must open and read as term 0, and new records must never go into a
version 1 file. The version 1 encoder is kept here, checked against a segment the old code wrote.
"""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import pytest

from replog.errors import CorruptSegment
from replog.storage import records
from replog.storage.meta import write_meta
from replog.storage.segment import SegmentLog
from replog.types import Entry

# Written by replog 8a8a964 (record format 1): entries 1..3 as in OLD_ENTRIES, in one segment.
OLD_SEGMENT = bytes.fromhex(
    "52504c470100010000000000000007000000b920894c0100000000000000ffff6669727374020000004bb87fe7020000000000"
    "00000000120000006292be09030000000000000008007265712dd0bad0bb74686972642000ff"
)
OLD_ENTRIES = [Entry(1, b"first", None), Entry(2, b"", ""), Entry(3, b"third \x00\xff", "req-кл")]


def encode_v1(entry: Entry) -> bytes:
    """A record of format 1: `u32 body_len | u32 crc32 | u64 index | u16 request_id_len | request_id | payload`."""
    request_id = b"" if entry.request_id is None else entry.request_id.encode()
    request_id_len = 0xFFFF if entry.request_id is None else len(request_id)
    covered = struct.pack("<QH", entry.index, request_id_len) + request_id + entry.payload
    return struct.pack("<II", 2 + len(request_id) + len(entry.payload), zlib.crc32(covered)) + covered


def v1_segment(entries: list[Entry]) -> bytes:
    return struct.pack("<4sHQ", b"RPLG", 1, entries[0].index) + b"".join(encode_v1(e) for e in entries)


def v2_segment(entries: list[Entry]) -> bytes:
    encoded = records.encode_records(entries)
    return records.SEGMENT_HEADER.pack(b"RPLG", 2, entries[0].index) + b"".join(r.head + r.payload for r in encoded)


def write_segments(data_dir: Path, *segments: bytes) -> list[Path]:
    """A data directory as an older replog leaves it: meta.json (format 1) and the given segment files."""
    (data_dir / "segments").mkdir(parents=True)
    write_meta(data_dir, {"format_version": 1, "log_id": "old-log"})
    paths = []
    for data in segments:
        first_index = struct.unpack_from("<Q", data, 6)[0]
        paths.append(data_dir / "segments" / f"{first_index:020d}.seg")
        paths[-1].write_bytes(data)
    return paths


def make_entries(lo: int, hi: int, term: int = 0) -> list[Entry]:
    return [Entry(i, f"p{i}".encode() * (1 + i % 4), None if i % 2 else f"r{i}", term) for i in range(lo, hi + 1)]


def segment_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "segments").glob("*.seg"))


def read_all(store: SegmentLog) -> list[Entry]:
    return store.read(1, store.last_index, 10**12)


def test_the_kept_v1_encoder_matches_what_the_old_code_wrote() -> None:
    assert v1_segment(OLD_ENTRIES) == OLD_SEGMENT


def test_a_segment_written_by_the_old_code_reads_as_term_0(tmp_path: Path) -> None:
    write_segments(tmp_path, OLD_SEGMENT)
    with SegmentLog.open(tmp_path, cache_bytes_max=0) as store:
        assert store.log_id == "old-log"
        assert read_all(store) == OLD_ENTRIES
        assert all(entry.term == 0 for entry in read_all(store))
        assert (store.epochs(), store.term_at(3)) == (((0, 1),), 0)


def test_appending_to_a_v1_log_starts_a_v2_segment(tmp_path: Path) -> None:
    old = [make_entries(1, 4), make_entries(5, 9)]
    paths = write_segments(tmp_path, *(v1_segment(entries) for entries in old))
    before = paths[-1].read_bytes()
    with SegmentLog.open(tmp_path, cache_bytes_max=0) as store:
        store.append(make_entries(10, 11, term=0))
        store.append(make_entries(12, 12, term=2))
        assert paths[-1].read_bytes() == before  # not one byte went into the old file
        assert [p.name for p in segment_files(tmp_path)] == [f"{i:020d}.seg" for i in (1, 5, 10)]
        assert segment_files(tmp_path)[-1].read_bytes()[4:6] == (2).to_bytes(2, "little")
    expected = make_entries(1, 11) + make_entries(12, 12, term=2)
    with SegmentLog.open(tmp_path, cache_bytes_max=0) as store:
        assert read_all(store) == expected
        assert store.epochs() == ((0, 1), (2, 12))
        store.append(make_entries(13, 14, term=2))  # the newest segment is v2 now: no new file
        assert len(segment_files(tmp_path)) == 3


def test_a_torn_v1_tail_is_cut_at_every_byte_offset(tmp_path: Path) -> None:
    entries = make_entries(1, 6)
    data = v1_segment(entries)
    last_start = len(data) - len(encode_v1(entries[-1]))
    template = tmp_path / "template"
    write_segments(template, v1_segment(make_entries(1, 6)))
    for cut in range(last_start, len(data)):
        work = tmp_path / "work"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(template, work)
        segment_files(work)[-1].write_bytes(data[:cut])
        with SegmentLog.open(work) as store:
            assert read_all(store) == entries[:-1], cut
            store.append(make_entries(6, 6, term=1))
        assert [p.name for p in segment_files(work)] == [f"{i:020d}.seg" for i in (1, 6)]
        with SegmentLog.open(work, cache_bytes_max=0) as store:
            assert read_all(store) == entries[:-1] + make_entries(6, 6, term=1)
            assert store.epochs() == ((0, 1), (1, 6))


def test_an_empty_v1_newest_segment_is_replaced_by_a_v2_one(tmp_path: Path) -> None:
    write_segments(tmp_path, v1_segment(make_entries(1, 3)), v1_segment(make_entries(4, 4))[:14])
    with SegmentLog.open(tmp_path) as store:
        assert store.last_index == 3
        assert len(segment_files(tmp_path)) == 1
        store.append(make_entries(4, 5, term=1))
    with SegmentLog.open(tmp_path) as store:
        assert read_all(store) == make_entries(1, 3) + make_entries(4, 5, term=1)
        assert segment_files(tmp_path)[-1].read_bytes()[:6] == b"RPLG\x02\x00"


def test_an_unknown_record_format_is_refused(tmp_path: Path) -> None:
    data = bytearray(v2_segment(make_entries(1, 2)))
    data[4:6] = (3).to_bytes(2, "little")
    write_segments(tmp_path, bytes(data))
    with pytest.raises(CorruptSegment, match="format version 3, this replog reads only versions 1 and 2"):
        SegmentLog.open(tmp_path)


def test_a_term_that_decreases_on_disk_is_corruption_not_a_torn_tail(tmp_path: Path) -> None:
    entries = make_entries(1, 3, term=4) + make_entries(4, 4, term=2)
    (path,) = write_segments(tmp_path, v2_segment(entries))
    size = path.stat().st_size
    with pytest.raises(CorruptSegment, match="entry 4 has term 2 after term 4"):
        SegmentLog.open(tmp_path)
    assert path.stat().st_size == size  # nothing was cut off


def test_a_torn_v2_tail_with_terms_is_cut_at_every_byte_offset(tmp_path: Path) -> None:
    """The same as the v1 crash test, now with a last entry that opens a new term, and a byte flipped too."""
    entries = make_entries(1, 3, term=1) + make_entries(4, 5, term=3) + make_entries(6, 6, term=8)
    data = v2_segment(entries)
    last_start = len(data) - records.encode_records(entries[-1:])[0].size
    template = tmp_path / "template"
    write_segments(template, data)
    for cut in range(last_start, len(data) * 2 - last_start):
        damaged = bytearray(data[:cut])
        if cut >= len(data):  # the second half of the range flips one byte of the whole last record instead
            damaged = bytearray(data)
            damaged[cut - len(data) + last_start] ^= 0x10
        work = tmp_path / "work"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(template, work)
        segment_files(work)[-1].write_bytes(bytes(damaged))
        with SegmentLog.open(work, cache_bytes_max=0) as store:
            assert read_all(store) == entries[:-1], cut
            assert store.epochs() == ((1, 1), (3, 4)), cut
            assert store.term_at(5) == 3
            store.append(make_entries(6, 6, term=5))
            assert store.epochs() == ((1, 1), (3, 4), (5, 6))


@pytest.mark.parametrize("term", [1 << 64, True, 2.0])
def test_a_term_that_does_not_fit_a_record_is_refused_before_writing(tmp_path: Path, term: object) -> None:
    with SegmentLog.open(tmp_path) as store:
        with pytest.raises(AssertionError, match="term must be an int"):
            store.append([Entry(1, b"ok", None, 0), Entry(2, b"x", None, term)])  # type: ignore[arg-type]
        assert (store.last_index, store.epochs()) == (0, ())
        assert segment_files(tmp_path) == [] or segment_files(tmp_path)[0].stat().st_size == 14


def test_truncating_into_a_v1_segment_then_appending_starts_a_v2_segment(tmp_path: Path) -> None:
    write_segments(tmp_path, v1_segment(make_entries(1, 4)), v1_segment(make_entries(5, 9)))
    with SegmentLog.open(tmp_path) as store:
        store.append(make_entries(10, 12, term=1))  # a v2 segment from 10
        store.truncate_after(6)
        assert [p.name for p in segment_files(tmp_path)] == [f"{i:020d}.seg" for i in (1, 5)]
        assert segment_files(tmp_path)[-1].read_bytes() == v1_segment(make_entries(5, 6))
        store.append(make_entries(7, 8, term=3))
        assert [p.name for p in segment_files(tmp_path)] == [f"{i:020d}.seg" for i in (1, 5, 7)]
    with SegmentLog.open(tmp_path, cache_bytes_max=0) as store:
        assert read_all(store) == make_entries(1, 6) + make_entries(7, 8, term=3)
        assert store.epochs() == ((0, 1), (3, 7))
