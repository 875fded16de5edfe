"""SegmentLog under failing writes, fsync policies and the sync-thread overlap."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from replog.errors import ConfigError, CorruptSegment, StorageError, StorageFull
from replog.storage.segment import SegmentLog
from replog.types import Entry


def make_entries(lo: int, hi: int, size: int = 20) -> list[Entry]:
    return [Entry(i, bytes([i % 251]) * size, f"r{i}") for i in range(lo, hi + 1)]


def sizes_on_disk(data_dir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted((data_dir / "segments").glob("*.seg"))}


def failing_write(error: int, *, calls_ok: int = 0, after_bytes: int = 0) -> Callable[[int, object], int]:
    """An os.write that lets `calls_ok` calls through, then writes `after_bytes`, then fails with `error`."""
    real_write = os.write
    calls, budget = [calls_ok], [after_bytes]

    def write(fd: int, data: object) -> int:
        view = memoryview(data)  # type: ignore[arg-type]
        if calls[0] > 0:
            calls[0] -= 1
            return real_write(fd, view)
        if budget[0] > 0:
            written = real_write(fd, view[: budget[0]])
            budget[0] -= written
            return written
        raise OSError(error, os.strerror(error))

    return write


@pytest.mark.parametrize("after_bytes", [0, 7, 45])
def test_a_full_disk_leaves_the_log_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after_bytes: int
) -> None:
    store = SegmentLog.open(tmp_path)
    store.append(make_entries(1, 3))
    store.sync()
    before = sizes_on_disk(tmp_path)
    monkeypatch.setattr(os, "write", failing_write(errno.ENOSPC, after_bytes=after_bytes))
    with pytest.raises(StorageFull, match="disk is full"):
        store.append(make_entries(4, 6))
    monkeypatch.undo()
    assert (store.last_index, store.synced_index, sizes_on_disk(tmp_path)) == (3, 3, before)
    assert store.sync() == 3
    store.append(make_entries(4, 5))
    assert store.read(1, 10, 10**9) == make_entries(1, 5)
    store.close()
    with SegmentLog.open(tmp_path) as reopened:
        assert reopened.read(1, 10, 10**9) == make_entries(1, 5)


def test_a_full_disk_while_rolling_removes_the_new_segment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Records here are 48 bytes and a segment header 14, so a 210-byte segment holds four records.
    store = SegmentLog.open(tmp_path, segment_bytes_max=210, cache_bytes_max=0)
    store.append(make_entries(1, 3))
    before = sizes_on_disk(tmp_path)
    # Entry 4 still fits the current segment, 5..8 fill a new one and 9..12 a third. The writes are:
    # entry 4, header, 5..8, header, 9..12; the last one fails half-way.
    real_write = os.write
    monkeypatch.setattr(os, "write", failing_write(errno.ENOSPC, calls_ok=4, after_bytes=50))
    with pytest.raises(StorageFull):
        store.append(make_entries(4, 12))
    monkeypatch.setattr(os, "write", real_write)
    assert store.last_index == 3
    assert sizes_on_disk(tmp_path) == before
    store.append(make_entries(4, 12))
    assert len(sizes_on_disk(tmp_path)) == 3
    assert store.read(1, 20, 10**9) == make_entries(1, 12)
    store.close()
    with SegmentLog.open(tmp_path) as reopened:
        assert reopened.read(1, 20, 10**9) == make_entries(1, 12)


def test_other_write_errors_are_storage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with SegmentLog.open(tmp_path) as store:
        monkeypatch.setattr(os, "write", failing_write(errno.EIO))
        with pytest.raises(StorageError) as caught:
            store.append(make_entries(1, 1))
        monkeypatch.undo()
        assert not isinstance(caught.value, StorageFull)
        assert store.last_index == 0
        store.append(make_entries(1, 1))
        assert store.last_index == 1


def test_a_failed_fsync_makes_the_store_refuse_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SegmentLog.open(tmp_path)
    store.append(make_entries(1, 2))

    def broken_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(StorageError, match="sync"):
        store.sync()
    assert store.synced_index == 0
    monkeypatch.undo()
    with pytest.raises(StorageError, match="unusable"):
        store.append(make_entries(3, 3))
    store.close()


def count_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        calls.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


@pytest.mark.parametrize(("policy", "expected"), [("always", 3), ("interval", 1), ("never", 0)])
def test_fsync_policies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str, expected: int) -> None:
    with SegmentLog.open(tmp_path, fsync=policy, fsync_interval_ms=60_000) as store:
        store.append(make_entries(1, 1))  # creating the first segment fsyncs the directory
        calls = count_fsyncs(monkeypatch)
        for index in range(2, 5):
            store.append(make_entries(index, index))
            assert store.sync() == index
        assert len(calls) == expected


def test_sync_on_a_worker_thread_overlaps_appends(tmp_path: Path) -> None:
    store = SegmentLog.open(tmp_path, segment_bytes_max=4096, cache_bytes_max=2048)
    done = threading.Event()
    seen: list[tuple[int, int]] = []

    def syncer() -> None:
        while not done.is_set():
            synced = store.sync()
            seen.append((synced, store.last_index))

    worker = threading.Thread(target=syncer)
    worker.start()
    try:
        for lo in range(1, 2001, 20):
            store.append(make_entries(lo, lo + 19))
            assert store.read(max(1, lo - 30), lo + 19, 10**9) == make_entries(max(1, lo - 30), lo + 19)
    finally:
        done.set()
        worker.join()
    assert all(synced <= last for synced, last in seen)
    assert store.sync() == 2000
    store.close()
    with SegmentLog.open(tmp_path) as reopened:
        assert reopened.read(1, 2000, 10**9) == make_entries(1, 2000)


def test_a_crc_failure_on_read_is_corruption(tmp_path: Path) -> None:
    with SegmentLog.open(tmp_path, cache_bytes_max=0) as store:
        store.append(make_entries(1, 3))
        segment = next((tmp_path / "segments").glob("*.seg"))
        data = bytearray(segment.read_bytes())
        data[-1] ^= 0xFF
        segment.write_bytes(bytes(data))
        assert store.read(1, 2, 10**9) == make_entries(1, 2)
        with pytest.raises(CorruptSegment, match=segment.name):
            store.read(3, 3, 10**9)


def test_a_closed_store_refuses_work(tmp_path: Path) -> None:
    store = SegmentLog.open(tmp_path)
    store.close()
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.append(make_entries(1, 1))


@pytest.mark.parametrize(
    "options",
    [{"fsync": "sometimes"}, {"segment_bytes_max": 10}, {"cache_bytes_max": -1}, {"fsync_interval_ms": -5}],
)
def test_bad_settings_are_refused(tmp_path: Path, options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        SegmentLog.open(tmp_path, **options)  # type: ignore[arg-type]
