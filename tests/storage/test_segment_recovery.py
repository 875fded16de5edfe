"""SegmentLog across restarts: what survives, what a crash may tear, and what counts as corruption.

The crash tests follow LogCabin's torn-tail rule: cut or damage the last record at every byte offset and
recovery must return exactly the longest valid prefix, while damage in a closed segment stops the node.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from replog.errors import CorruptSegment, StorageError
from replog.storage.meta import read_meta, write_meta
from replog.storage.segment import SegmentLog
from replog.types import Entry

RECORD_OVERHEAD_BYTES = 26  # body_len, crc32, index, term and request_id_len
TEMPLATE_SEGMENT_BYTES = 220  # with these entries: segments of 1..4, 5..8 and 9..12


def make_entries(lo: int, hi: int) -> list[Entry]:
    return [Entry(i, f"payload-{i}".encode() * (1 + i % 3), None if i % 2 else f"req-{i}") for i in range(lo, hi + 1)]


def record_bytes(entry: Entry) -> int:
    return RECORD_OVERHEAD_BYTES + len(entry.payload) + len((entry.request_id or "").encode())


def segment_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "segments").glob("*.seg"))


def write_log(data_dir: Path, entries: list[Entry], **options: int) -> None:
    with SegmentLog.open(data_dir, **options) as store:  # type: ignore[arg-type]
        store.append(entries)
        store.sync()


def read_all(store: SegmentLog) -> list[Entry]:
    return store.read(1, store.last_index, 10**12)


def test_entries_survive_close_and_open(tmp_path: Path) -> None:
    entries = make_entries(1, 20)
    write_log(tmp_path, entries)
    with SegmentLog.open(tmp_path) as store:
        assert (store.last_index, store.synced_index) == (20, 20)
        assert read_all(store) == entries
        store.append(make_entries(21, 22))
        assert store.sync() == 22
    with SegmentLog.open(tmp_path) as store:
        assert read_all(store) == make_entries(1, 22)


def test_many_segments_reopen_identically(tmp_path: Path) -> None:
    entries = make_entries(1, 400)
    with SegmentLog.open(tmp_path, segment_bytes_max=300) as store:
        for lo in range(1, 401, 13):
            store.append(entries[lo - 1 : lo + 12])
            store.sync()
    files = segment_files(tmp_path)
    assert len(files) > 20
    assert files[0].name == f"{1:020d}.seg"
    with SegmentLog.open(tmp_path, segment_bytes_max=300, cache_bytes_max=0) as store:
        assert store.last_index == 400
        assert read_all(store) == entries
        assert store.read(150, 160, 10**9) == entries[149:160]
    # A different segment size later is fine: it only affects new segments.
    with SegmentLog.open(tmp_path, segment_bytes_max=10_000) as store:
        store.append(make_entries(401, 410))
        assert read_all(store) == make_entries(1, 410)


def test_an_empty_directory_gets_metadata(tmp_path: Path) -> None:
    SegmentLog.open(tmp_path / "new").close()
    assert read_meta(tmp_path / "new") == {"format_version": 1, "log_id": ""}


@pytest.fixture
def template(tmp_path: Path) -> tuple[Path, list[Entry]]:
    """Two closed segments and an open one holding entries 9..12; the last record has a request id."""
    entries = make_entries(1, 12)
    write_log(tmp_path / "template", entries, segment_bytes_max=TEMPLATE_SEGMENT_BYTES)
    files = segment_files(tmp_path / "template")
    assert [f.name for f in files] == [f"{i:020d}.seg" for i in (1, 5, 9)]
    assert entries[-1].request_id
    return tmp_path / "template", entries


def reopen_damaged(template: Path, target: Path, data: bytes) -> SegmentLog:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(template, target)
    segment_files(target)[-1].write_bytes(data)
    return SegmentLog.open(target, segment_bytes_max=TEMPLATE_SEGMENT_BYTES, cache_bytes_max=0)


def test_a_torn_tail_is_cut_at_every_byte_offset(
    template: tuple[Path, list[Entry]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source, entries = template
    newest = segment_files(source)[-1].read_bytes()
    last_start = len(newest) - record_bytes(entries[-1])
    caplog.set_level(logging.WARNING, logger="replog.storage")
    for cut in range(last_start, len(newest)):
        caplog.clear()
        with reopen_damaged(source, tmp_path / "work", newest[:cut]) as store:
            assert read_all(store) == entries[:-1], cut
            assert store.synced_index == 11
            store.append([Entry(12, b"again", "r")])
            assert store.read(12, 12, 0) == [Entry(12, b"again", "r")]
        if cut > last_start:
            assert f"dropped {cut - last_start} bytes" in caplog.text
            assert f"byte offset {last_start}" in caplog.text
            assert "00000000000000000009.seg" in caplog.text
        with SegmentLog.open(tmp_path / "work") as store:
            assert read_all(store) == [*entries[:-1], Entry(12, b"again", "r")]


def test_a_damaged_last_record_is_dropped_at_every_byte_offset(
    template: tuple[Path, list[Entry]], tmp_path: Path
) -> None:
    source, entries = template
    newest = segment_files(source)[-1].read_bytes()
    for offset in range(len(newest) - record_bytes(entries[-1]), len(newest)):
        damaged = bytearray(newest)
        damaged[offset] ^= 0x40
        with reopen_damaged(source, tmp_path / "work", bytes(damaged)) as store:
            assert read_all(store) == entries[:-1], offset
            store.append(make_entries(12, 13))
            assert read_all(store) == make_entries(1, 13)


def test_a_torn_first_record_leaves_an_empty_open_segment(template: tuple[Path, list[Entry]], tmp_path: Path) -> None:
    source, entries = template
    newest = segment_files(source)[-1].read_bytes()
    with reopen_damaged(source, tmp_path / "work", newest[:20]) as store:
        assert read_all(store) == entries[:8]
        store.append(make_entries(9, 13))
    with SegmentLog.open(tmp_path / "work") as store:
        assert read_all(store) == make_entries(1, 13)


def test_a_torn_segment_header_removes_the_file(template: tuple[Path, list[Entry]], tmp_path: Path) -> None:
    source, entries = template
    with reopen_damaged(source, tmp_path / "work", b"RPL") as store:
        assert read_all(store) == entries[:8]
        assert len(segment_files(tmp_path / "work")) == 2
        store.append(make_entries(9, 10))
    with SegmentLog.open(tmp_path / "work") as store:
        assert read_all(store) == make_entries(1, 10)


def test_a_damaged_closed_segment_stops_the_open(template: tuple[Path, list[Entry]], tmp_path: Path) -> None:
    source, _ = template
    work = tmp_path / "work"
    shutil.copytree(source, work)
    first = segment_files(work)[0]
    data = bytearray(first.read_bytes())
    data[30] ^= 0x01
    first.write_bytes(bytes(data))
    with pytest.raises(CorruptSegment, match=r"00000000000000000001\.seg at byte offset 14"):
        SegmentLog.open(work)


def test_a_truncated_closed_segment_stops_the_open(template: tuple[Path, list[Entry]], tmp_path: Path) -> None:
    source, _ = template
    work = tmp_path / "work"
    shutil.copytree(source, work)
    middle = segment_files(work)[1]
    middle.write_bytes(middle.read_bytes()[:-1])
    with pytest.raises(CorruptSegment, match=middle.name):
        SegmentLog.open(work)


def test_a_missing_middle_segment_stops_the_open(template: tuple[Path, list[Entry]], tmp_path: Path) -> None:
    source, _ = template
    work = tmp_path / "work"
    shutil.copytree(source, work)
    segment_files(work)[1].unlink()
    with pytest.raises(CorruptSegment, match="missing"):
        SegmentLog.open(work)


def test_a_segment_whose_name_disagrees_with_its_header(template: tuple[Path, list[Entry]], tmp_path: Path) -> None:
    source, _ = template
    work = tmp_path / "work"
    shutil.copytree(source, work)
    files = segment_files(work)
    files[-1].write_bytes(files[-1].read_bytes()[:6] + (99).to_bytes(8, "little") + files[-1].read_bytes()[14:])
    with pytest.raises(CorruptSegment, match="first index 99"):
        SegmentLog.open(work)


def test_another_format_version_is_refused(tmp_path: Path) -> None:
    write_meta(tmp_path, {"format_version": 2, "log_id": "x"})
    with pytest.raises(StorageError, match="format_version 2"):
        SegmentLog.open(tmp_path)


def test_segments_without_metadata_are_refused(tmp_path: Path) -> None:
    write_log(tmp_path, make_entries(1, 3))
    (tmp_path / "meta.json").unlink()
    with pytest.raises(StorageError, match=r"meta\.json is missing"):
        SegmentLog.open(tmp_path)


def test_unreadable_metadata_is_refused(tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text("{not json")
    with pytest.raises(StorageError, match="not valid JSON"):
        SegmentLog.open(tmp_path)


def test_metadata_keeps_unknown_keys(tmp_path: Path) -> None:
    write_meta(tmp_path, {"format_version": 1, "log_id": "", "node_id": 2})
    with SegmentLog.open(tmp_path) as store:
        store.set_log_id("adopted")
    assert json.loads((tmp_path / "meta.json").read_text()) == {
        "format_version": 1,
        "log_id": "adopted",
        "node_id": 2,
    }


def test_wipe_leaves_an_empty_log(tmp_path: Path) -> None:
    with SegmentLog.open(tmp_path, segment_bytes_max=200) as store:
        store.set_log_id("old")
        store.append(make_entries(1, 30))
    SegmentLog.wipe(tmp_path)
    assert read_meta(tmp_path) is None
    with SegmentLog.open(tmp_path) as store:
        assert (store.last_index, store.log_id) == (0, "")
        store.append(make_entries(1, 2))
        assert read_all(store) == make_entries(1, 2)


def test_a_hundred_thousand_entries_reopen(tmp_path: Path) -> None:
    count = 100_000
    with SegmentLog.open(tmp_path, fsync="never", segment_bytes_max=1024 * 1024) as store:
        for lo in range(1, count + 1, 1000):
            store.append([Entry(i, i.to_bytes(4, "little"), None) for i in range(lo, lo + 1000)])
        store.sync()
    assert len(segment_files(tmp_path)) > 1
    with SegmentLog.open(tmp_path, cache_bytes_max=0) as store:
        assert store.last_index == count
        everything = store.read(1, count, 10**12)
        assert [e.index for e in everything] == list(range(1, count + 1))
        assert all(e.payload == e.index.to_bytes(4, "little") for e in everything)
        store.append([Entry(count + 1, b"next")])
        assert store.read(count, count + 1, 10**9)[-1] == Entry(count + 1, b"next")
