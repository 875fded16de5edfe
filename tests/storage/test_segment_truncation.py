"""SegmentLog.truncate_after on disk: what each file looks like afterwards, and what a failure midway leaves.

Every step of a truncation is durable before the next starts (truncation.py), so the files after a crash at
step k are the files after step k; failing the step k + 1 here reproduces exactly that state.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from replog.errors import StorageError
from replog.storage.segment import SegmentLog
from replog.types import Entry

SEGMENT_BYTES = 300


def make_entries(lo: int, hi: int, term: int = 1) -> list[Entry]:
    return [Entry(i, bytes([i % 251]) * 30, f"r{i}", term) for i in range(lo, hi + 1)]


def segment_firsts(data_dir: Path) -> list[int]:
    return sorted(int(p.stem) for p in (data_dir / "segments").glob("*.seg"))


def failing_after(real: Callable[..., object], calls_ok: int, counter: list[int]) -> Callable[..., object]:
    def call(*args: object) -> object:
        counter[0] += 1
        if counter[0] > calls_ok:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(*args)

    return call


@pytest.fixture
def template(tmp_path: Path) -> tuple[Path, list[Entry]]:
    entries = make_entries(1, 20) + make_entries(21, 40, term=2)
    with SegmentLog.open(tmp_path / "template", segment_bytes_max=SEGMENT_BYTES) as store:
        store.append(entries)
    assert len(segment_firsts(tmp_path / "template")) >= 5
    return tmp_path / "template", entries


def test_the_cut_segment_ends_right_after_the_kept_record(template: tuple[Path, list[Entry]], tmp_path: Path) -> None:
    source, entries = template
    firsts = segment_firsts(source)
    for index in range(0, 41):
        work = tmp_path / "work"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(source, work)
        with SegmentLog.open(work, segment_bytes_max=SEGMENT_BYTES) as store:
            store.truncate_after(index)
        assert segment_firsts(work) == [first for first in firsts if first <= index], index
        with SegmentLog.open(work, segment_bytes_max=SEGMENT_BYTES, cache_bytes_max=0) as store:
            assert store.read(1, 40, 10**9) == entries[:index], index


@pytest.mark.parametrize("calls_ok", range(11))
def test_a_failure_midway_leaves_a_valid_prefix(
    template: tuple[Path, list[Entry]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls_ok: int
) -> None:
    source, entries = template
    work = tmp_path / "work"
    shutil.copytree(source, work)
    index = 3  # in the first segment, so that every later segment goes: 9 unlinks, then one ftruncate
    old_firsts = segment_firsts(work)
    assert len(old_firsts) == 10
    store = SegmentLog.open(work, segment_bytes_max=SEGMENT_BYTES)
    counter = [0]
    monkeypatch.setattr(os, "unlink", failing_after(os.unlink, calls_ok, counter))
    monkeypatch.setattr(os, "ftruncate", failing_after(os.ftruncate, calls_ok, counter))
    if calls_ok >= len(old_firsts):
        store.truncate_after(index)
        monkeypatch.undo()
    else:
        with pytest.raises(StorageError, match="cannot truncate"):
            store.truncate_after(index)
        monkeypatch.undo()
        with pytest.raises(StorageError, match="unusable"):
            store.append(make_entries(index + 1, index + 1, term=3))
    store.close()
    with SegmentLog.open(work, segment_bytes_max=SEGMENT_BYTES, cache_bytes_max=0) as reopened:
        found = reopened.read(1, 40, 10**9)
        # A prefix of the old log, at least 1..index, ending where the files now end: never a hole.
        assert found == entries[: len(found)]
        assert len(found) >= index
        assert len(found) in {first - 1 for first in old_firsts[1:]} | {40, index}
        # calls_ok unlinks went through, newest first; after all of them, the ftruncate.
        expected = {0: 40, len(old_firsts): index}.get(calls_ok) or old_firsts[-calls_ok] - 1
        assert len(found) == expected
        reopened.truncate_after(index)  # the caller simply truncates again
        reopened.append(make_entries(index + 1, index + 2, term=3))
        assert reopened.read(1, 40, 10**9) == entries[:index] + make_entries(index + 1, index + 2, term=3)
