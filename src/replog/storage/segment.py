"""SegmentLog: the on-disk LogStore, a segmented append-only log with a CRC on every record.

Why segments: a log only grows at its tail, so one file per `segment_bytes_max` keeps every file but the
newest immutable. That split is what makes recovery decisive (LogCabin's rule, see recovery.py): a crash
can only tear the tail of the newest segment, while damage in a closed segment is real corruption. For the
same reason a segment is fsynced before the next one is created (except under fsync "never"), and the
directory is fsynced after each new file, so a closed segment is always complete on disk. A file holds one
record format: when the newest segment is of an older format, the next append starts a new segment.

Why one write per append: the shell batches the proposals of one event-loop turn, so throughput comes from
batch size; `append` encodes the whole batch into one buffer and hands it to the kernel in one `os.write`
(one per segment touched), and `sync` pays one fsync for all of it (group commit). An append is all or
nothing: if a write fails (a full disk, say) the file is truncated back to the last good record and any
segment created for it is removed, so a later append never builds on half a record.

Why this threading: `sync` runs on a worker thread while the event loop keeps appending and reading. The
lock only guards the small bookkeeping both sides touch (the writer fd, the written index, the fds of
segments retired by a roll); `sync` snapshots the written index before its fsync and never holds the lock
across it, so the loop never waits for the disk. Syncs are serialized among themselves, and only `sync`
(or `close`) closes a retired fd, so an fsync in flight never sees its fd closed under it.

Why so little memory: payloads stay on disk. The offset index is derived data rebuilt by the recovery scan
(no sidecar file) and costs 8 bytes per entry (an `array('Q')` of record offsets per segment). Recent
entries sit in a tail cache bounded by `cache_bytes_max`, which serves the secondaries that keep up;
catch-up reads go to disk, one `pread` per chunk of at most `bytes_max`.

The record format itself (headers, CRCs, validation) lives in records.py, opening and recovery in
recovery.py; this module owns writing, reading, threads and caches.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import itertools
import logging
import os
import shutil
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from replog.errors import ConfigError, CorruptSegment, StorageError, StorageFull
from replog.storage.base import HardState, check_append, check_hard_state
from replog.storage.epochs import EpochTable
from replog.storage.meta import META_FILE_NAME, fsync_dir, write_meta
from replog.storage.records import (
    FORMAT_VERSION,
    MAGIC,
    RECORD_HEAD,
    SEGMENT_HEADER,
    decode_records,
    encode_records,
)
from replog.storage.recovery import (
    SEGMENTS_DIR_NAME,
    Segment,
    list_segment_files,
    load_meta,
    recover_segments,
    segment_path,
)
from replog.storage.truncation import cut_segments
from replog.types import Entry, RecordRun

__all__ = ["FORMAT_VERSION", "FSYNC_POLICIES", "SegmentLog"]

FSYNC_POLICIES = ("always", "interval", "never")

_READ_FDS_MAX = 16
_CACHE_COMPACT_AFTER = 1024
_LOGGER = logging.getLogger("replog.storage")


def _take_within(entries: Sequence[Entry], start: int, stop: int, bytes_max: int) -> list[Entry]:
    """entries[start:stop], stopping before bytes_max would be passed, but always at least one."""
    out: list[Entry] = []
    total = 0
    for i in range(start, stop):
        size = entries[i].size_bytes()
        if out and total + size > bytes_max:
            break
        out.append(entries[i])
        total += size
    return out


def _plan_groups(end_offset: int | None, sizes: Sequence[int], segment_bytes_max: int) -> list[int]:
    """How many records go to the current segment (first count), then to each new segment in turn.

    A segment takes a record while it stays within segment_bytes_max; an empty one takes any record.
    `end_offset` is None when the next record must start a new segment.
    """
    counts = [0]
    used = end_offset
    for size in sizes:
        if used is None or (used + size > segment_bytes_max and used > SEGMENT_HEADER.size):
            counts.append(0)
            used = SEGMENT_HEADER.size
        counts[-1] += 1
        used += size
    return counts


# --- small helpers -------------------------------------------------------------------------------------


def _storage_error(exc: OSError, what: str) -> StorageError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFull(f"{what}: the disk is full ({exc.strerror}); free some space")
    return StorageError(f"{what}: {exc}")


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _close_fds(fds: Sequence[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _check_settings(fsync: str, fsync_interval_ms: int, segment_bytes_max: int, cache_bytes_max: int) -> None:
    if fsync not in FSYNC_POLICIES:
        raise ConfigError(f"fsync must be one of {', '.join(FSYNC_POLICIES)}; got {fsync!r}")
    if fsync_interval_ms < 0:
        raise ConfigError(f"fsync_interval_ms must be >= 0; got {fsync_interval_ms}")
    if segment_bytes_max <= SEGMENT_HEADER.size + RECORD_HEAD.size:
        raise ConfigError(f"segment_bytes_max must exceed {SEGMENT_HEADER.size + RECORD_HEAD.size}")
    if cache_bytes_max < 0:
        raise ConfigError(f"cache_bytes_max must be >= 0; got {cache_bytes_max}")


# --- caches --------------------------------------------------------------------------------------------


class _TailCache:
    """The newest entries, bounded by bytes, so secondaries that keep up never touch the disk."""

    def __init__(self, bytes_max: int, next_index: int) -> None:
        self._bytes_max = bytes_max
        self._entries: list[Entry] = []
        self._sizes: list[int] = []  # the on-disk size of each entry's record, for the byte bound
        self._head = 0  # entries before it are evicted; compacted now and then
        self._bytes = 0
        self._next_index = next_index

    @property
    def first_index(self) -> int:
        return self._entries[self._head].index if self._head < len(self._entries) else self._next_index

    def extend(self, entries: Sequence[Entry], sizes: Sequence[int]) -> None:
        self._entries.extend(entries)
        self._sizes.extend(sizes)
        self._bytes += sum(sizes)
        self._next_index = entries[-1].index + 1
        while self._bytes > self._bytes_max and self._head < len(self._entries):
            self._bytes -= self._sizes[self._head]
            self._head += 1
        if self._head >= _CACHE_COMPACT_AFTER and 2 * self._head >= len(self._entries):
            del self._entries[: self._head]
            del self._sizes[: self._head]
            self._head = 0

    def restart(self, next_index: int) -> None:
        """Forget every entry: the log now continues at `next_index` with entries the cache never saw."""
        self._entries, self._sizes, self._head, self._bytes = [], [], 0, 0
        self._next_index = next_index

    def truncate_after(self, index: int) -> None:
        """Forget the entries after `index`."""
        if index < self.first_index:
            self._entries, self._sizes, self._head, self._bytes = [], [], 0, 0
        else:
            keep = self._head + index - self.first_index + 1
            self._bytes -= sum(self._sizes[keep:])
            del self._entries[keep:], self._sizes[keep:]
        self._next_index = min(self._next_index, index + 1)

    def read(self, lo: int, hi: int, bytes_max: int) -> list[Entry] | None:
        """Entries lo..hi if the cache holds lo (hi must not pass the log's end), else None."""
        first = self.first_index
        if lo < first:
            return None
        start = self._head + lo - first
        return _take_within(self._entries, start, start + hi - lo + 1, bytes_max)


class _ReadFds:
    """A few read-only fds, least recently used out, so catch-up reads do not reopen files each time."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._fds: OrderedDict[Path, int] = OrderedDict()

    def get(self, path: Path) -> int:
        fd = self._fds.pop(path, None)
        if fd is None:
            fd = os.open(path, os.O_RDONLY)
            if len(self._fds) >= self._capacity:
                os.close(self._fds.popitem(last=False)[1])
        self._fds[path] = fd
        return fd

    def close_all(self) -> None:
        _close_fds(list(self._fds.values()))
        self._fds.clear()


# --- the store -----------------------------------------------------------------------------------------


class SegmentLog:
    """The segmented on-disk LogStore. Build it with `SegmentLog.open(data_dir, ...)`."""

    def __init__(
        self,
        data_dir: Path,
        meta: dict[str, Any],
        segments: list[Segment],
        epochs: list[tuple[int, int]],
        *,
        fsync: str,
        fsync_interval_ms: int,
        segment_bytes_max: int,
        cache_bytes_max: int,
        logger: logging.Logger,
    ) -> None:
        self._data_dir = data_dir
        self._segments_dir = data_dir / SEGMENTS_DIR_NAME
        self._meta = meta
        self._segments = segments
        self._firsts = [segment.first_index for segment in segments]
        self._fsync = fsync
        self._fsync_interval_s = fsync_interval_ms / 1000
        self._segment_bytes_max = segment_bytes_max
        self._logger = logger
        self._last_index = segments[-1].last_index if segments else 0
        self._synced_index = self._last_index
        self._epochs = EpochTable(epochs, self._last_index)
        self._cache = _TailCache(cache_bytes_max, self._last_index + 1)
        self._read_fds = _ReadFds(_READ_FDS_MAX)
        # Shared with the sync thread, guarded by _lock: the writer fd, retired fds and _last_index.
        self._lock = threading.Lock()
        self._sync_mutex = threading.Lock()  # one sync (or close) at a time
        self._fd: int | None = None
        self._retired_fds: list[int] = []
        self._last_fsync_s = float("-inf")
        self._broken: str | None = None
        self._closed = False

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        fsync: str = "always",
        fsync_interval_ms: int = 100,
        segment_bytes_max: int = 64 * 1024 * 1024,
        cache_bytes_max: int = 8 * 1024 * 1024,
        logger: logging.Logger | None = None,
    ) -> SegmentLog:
        """Open (or create) the log in `data_dir`, recovering from a crash if there was one."""
        _check_settings(fsync, fsync_interval_ms, segment_bytes_max, cache_bytes_max)
        data_dir = Path(data_dir)
        segments_dir = data_dir / SEGMENTS_DIR_NAME
        try:
            if not segments_dir.is_dir():
                segments_dir.mkdir(parents=True)
                fsync_dir(data_dir)
            meta = load_meta(data_dir, has_segments=bool(list_segment_files(segments_dir)))
            recovered = recover_segments(segments_dir, logger or _LOGGER)
        except OSError as exc:
            raise _storage_error(exc, f"cannot open the log in {data_dir}") from exc
        store = cls(
            data_dir,
            meta,
            recovered.segments,
            recovered.epochs,
            fsync=fsync,
            fsync_interval_ms=fsync_interval_ms,
            segment_bytes_max=segment_bytes_max,
            cache_bytes_max=cache_bytes_max,
            logger=logger or _LOGGER,
        )
        store._open_writer()
        return store

    @staticmethod
    def wipe(data_dir: Path) -> None:
        """Remove the log's segments and metadata (`replog secondary --reset`); the store must be closed.

        Segments go newest first, so an interrupted wipe leaves a shorter log rather than a hole, and the
        metadata goes last, so segments never outlive the identity that says whose they are.
        """
        data_dir = Path(data_dir)
        segments_dir = data_dir / SEGMENTS_DIR_NAME
        try:
            if segments_dir.is_dir():
                for _, path in reversed(list_segment_files(segments_dir)):
                    path.unlink()
                fsync_dir(segments_dir)
                shutil.rmtree(segments_dir)
            for name in (META_FILE_NAME, META_FILE_NAME + ".tmp"):
                (data_dir / name).unlink(missing_ok=True)
            if data_dir.is_dir():
                fsync_dir(data_dir)
        except OSError as exc:
            raise _storage_error(exc, f"cannot wipe the log in {data_dir}") from exc

    # --- LogStore --------------------------------------------------------------------------------------

    @property
    def log_id(self) -> str:
        return str(self._meta.get("log_id", ""))

    def set_log_id(self, log_id: str) -> None:
        meta = {**self._meta, "log_id": log_id}
        write_meta(self._data_dir, meta)
        self._meta = meta

    @property
    def hard_state(self) -> HardState:
        term, voted_for = self._meta.get("term", 0), self._meta.get("voted_for")  # validated by load_meta
        return int(term), None if voted_for is None else int(voted_for)

    def set_hard_state(self, term: int, voted_for: int | None) -> None:
        """Kept in meta.json (an atomic, fsynced replace): votes are rare and must survive any crash."""
        self._check_usable()
        check_hard_state(self.hard_state, term, voted_for)
        if (term, voted_for) == self.hard_state:
            return
        meta = {**self._meta, "term": term, "voted_for": voted_for}
        write_meta(self._data_dir, meta)
        self._meta = meta

    @property
    def last_index(self) -> int:
        return self._last_index

    @property
    def synced_index(self) -> int:
        return self._synced_index

    def append(self, entries: Sequence[Entry]) -> None:
        self._check_usable()
        check_append(self._last_index, entries, self._epochs.last_term)
        if not entries:
            return
        records = encode_records(entries)
        sizes = [record.size for record in records]

        def joined(start: int, stop: int) -> bytes:
            return b"".join(itertools.chain.from_iterable(r[:2] for r in records[start:stop]))

        self._write_and_commit(sizes, joined)
        self._cache.extend(entries, sizes)
        self._epochs.extend(entries)

    def append_run(self, run: RecordRun) -> None:
        """Append records exactly as they came (check_run has checked each one): one write, no re-encoding.

        The tail cache holds entries, which a run never becomes here: it starts afresh after the run.
        """
        self._check_usable()
        if run.first_index != self._last_index + 1 or run.first_term < self._epochs.last_term:
            raise AssertionError(
                f"append of a run {run.first_index}.. (term {run.first_term}) after {self._last_index} "
                f"(term {self._epochs.last_term})"
            )
        starts = [0, *run.ends]
        sizes = [stop - start for start, stop in itertools.pairwise(starts)]
        with memoryview(run.data) as view:
            self._write_and_commit(sizes, lambda start, stop: view[starts[start] : starts[stop]])
        self._cache.restart(run.last_index + 1)
        self._epochs.extend_epochs(run.epochs, run.last_index)

    def truncate_after(self, index: int) -> None:
        """Remove every entry after `index`, durably, before returning (see truncation.py for the order).

        Holds the sync mutex throughout, so no fsync runs on an fd that is about to be closed; the event
        loop waits for a sync in flight, which is fine for something as rare as a change of leader. It
        fsyncs whatever the fsync policy: the no-hole argument depends on each step being durable.
        """
        if index < 0:
            raise AssertionError(f"truncate_after({index}): an index is >= 0")
        self._check_usable()
        if index >= self._last_index:
            return
        with self._sync_mutex:
            self._check_usable()
            keep = bisect.bisect_right(self._firsts, index)
            doomed = [segment.path for segment in self._segments[keep:]]
            kept = self._segments[keep - 1] if keep else None
            cut_offset = kept.record_end(index - kept.first_index) if kept is not None else 0
            cut = (kept.path, cut_offset) if kept is not None and cut_offset < kept.end_offset else None
            with self._lock:
                fds = [*self._retired_fds, *([self._fd] if self._fd is not None else [])]
                self._retired_fds, self._fd = [], None
            _close_fds(fds)
            self._read_fds.close_all()
            try:
                cut_segments(self._segments_dir, doomed, cut)
                fd = os.open(kept.path, os.O_WRONLY | os.O_APPEND) if kept is not None else None
            except OSError as exc:
                self._broken = f"truncation after index {index} failed ({exc}); restart the node to recover"
                self._logger.error("%s: %s", self._data_dir, self._broken)
                raise _storage_error(exc, f"cannot truncate the log in {self._data_dir}") from exc
            if kept is not None:
                del kept.offsets[index - kept.first_index + 1 :]
                kept.end_offset = cut_offset
            del self._segments[keep:], self._firsts[keep:]
            self._cache.truncate_after(index)
            self._epochs.truncate_after(index)
            with self._lock:
                self._fd = fd
                self._last_index = index
                self._synced_index = min(self._synced_index, index)

    def term_at(self, index: int) -> int:
        return self._epochs.term_at(index)

    def epochs(self) -> tuple[tuple[int, int], ...]:
        return self._epochs.epochs()

    def sync(self) -> int:
        return self._sync(force=False)

    def read(self, lo: int, hi: int, bytes_max: int) -> list[Entry]:
        self._check_usable()
        lo, hi = max(lo, 1), min(hi, self._last_index)
        if lo > hi:
            return []
        cached = self._cache.read(lo, hi, bytes_max)
        return cached if cached is not None else self._read_disk(lo, hi, bytes_max)

    def read_for_follower(self, lo: int, hi: int, bytes_max: int) -> list[Entry] | RecordRun:
        """What a leader sends a follower from `lo`: the tail cache's entries if it holds lo, else the records
        as they lie in lo's segment, up to its end, read with one pread and not decoded (the follower checks
        every record; see runs.py). Records of an older format are decoded into entries as `read` does."""
        self._check_usable()
        lo, hi = max(lo, 1), min(hi, self._last_index)
        if lo > hi:
            return []
        cached = self._cache.read(lo, hi, bytes_max)
        if cached is not None:
            return cached
        segment = self._segment_of(lo)
        if segment.version != FORMAT_VERSION:
            return self._read_disk(lo, hi, bytes_max)
        count = _count_within(segment, lo, min(hi, segment.last_index), bytes_max)
        position = lo - segment.first_index
        start = segment.offsets[position]
        data = self._pread(segment, start, segment.record_end(position + count - 1))
        ends = array("Q", [offset - start for offset in segment.offsets[position + 1 : position + count]])
        ends.append(len(data))
        run = RecordRun(lo, data, ends, self._epochs.between(lo, lo + count - 1))
        # Paired with the checks on append: the first and last record must be where, and of the term, the
        # offset index and the epoch table say. The follower checks the rest, crc included.
        for index, offset in ((lo, 0), (run.last_index, ends[-2] if count > 1 else 0)):
            found_index, term = RECORD_HEAD.unpack_from(data, offset)[2:4]
            if (found_index, term) != (index, self._epochs.term_at(index)):
                raise CorruptSegment(
                    f"{segment.path} at byte offset {start + offset}: record of index {found_index} and term "
                    f"{term} where the log holds index {index} of term {self._epochs.term_at(index)}"
                )
        return run

    def close(self) -> None:
        """Sync what was appended (an "interval" store fsyncs now), then release every fd."""
        if self._closed:
            return
        try:
            if self._broken is None:
                self._sync(force=True)
        finally:
            with self._sync_mutex, self._lock:
                fds = [*self._retired_fds, *([self._fd] if self._fd is not None else [])]
                self._retired_fds, self._fd, self._closed = [], None, True
            _close_fds(fds)
            self._read_fds.close_all()

    def __enter__(self) -> SegmentLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- writing ---------------------------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._closed:
            raise StorageError(f"the log in {self._data_dir} is closed")
        if self._broken is not None:
            raise StorageError(f"the log in {self._data_dir} is unusable: {self._broken}")

    def _open_writer(self) -> None:
        if not self._segments:
            return
        try:
            self._fd = os.open(self._segments[-1].path, os.O_WRONLY | os.O_APPEND)
            if self._fsync != "never":
                os.fsync(self._fd)  # so that what recovery found really is synced, as synced_index says
        except OSError as exc:
            self.close()
            raise _storage_error(exc, f"cannot open {self._segments[-1].path} for writing") from exc

    def _write_and_commit(self, sizes: Sequence[int], chunk: Callable[[int, int], bytes | memoryview]) -> None:
        """Write records of these sizes, `chunk(start, stop)` being the bytes of records start..stop-1."""
        newest = self._segments[-1] if self._segments else None
        # None starts a new segment: also when the newest one holds an older record format.
        end_offset = newest.end_offset if newest is not None and newest.version == FORMAT_VERSION else None
        counts = _plan_groups(end_offset, sizes, self._segment_bytes_max)
        created = self._write_groups(chunk, counts, len(sizes))
        self._commit(sizes, counts, created)

    def _write_groups(
        self, chunk: Callable[[int, int], bytes | memoryview], counts: Sequence[int], total: int
    ) -> list[tuple[Segment, int]]:
        """Write each group with one write, rolling to new segments between groups; all or nothing."""
        created: list[tuple[Segment, int]] = []
        fd, index, position = self._fd, self._last_index + 1, 0
        try:
            for group, count in enumerate(counts):
                if group > 0:
                    if fd is not None and self._fsync != "never":
                        self._fsync_fd(fd)  # a closed segment must be complete on disk before the next exists
                    created.append(self._create_segment(index))
                    fd = created[-1][1]
                if count:
                    if fd is None:
                        raise AssertionError("no segment to write to")
                    _write_all(fd, chunk(position, position + count))
                position, index = position + count, index + count
        except OSError as exc:
            self._roll_back(created)
            first, last = self._last_index + 1, self._last_index + total
            what = f"append of entries {first}..{last} failed, the log still ends at index {self._last_index}"
            raise _storage_error(exc, what) from exc
        return created

    def _create_segment(self, first_index: int) -> tuple[Segment, int]:
        path = segment_path(self._segments_dir, first_index)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        try:
            _write_all(fd, SEGMENT_HEADER.pack(MAGIC, FORMAT_VERSION, first_index))
            fsync_dir(self._segments_dir)
        except OSError:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        return Segment(path, first_index), fd

    def _roll_back(self, created: Sequence[tuple[Segment, int]]) -> None:
        """Undo a failed append: remove its new segments and cut the current one back to its last record."""
        try:
            for segment, fd in reversed(created):
                os.close(fd)
                segment.path.unlink()
            if created:
                fsync_dir(self._segments_dir)
            if self._fd is not None:
                os.ftruncate(self._fd, self._segments[-1].end_offset)
        except OSError as exc:
            self._broken = f"could not undo a failed append ({exc}); restart the node to recover"
            self._logger.error("%s: %s", self._data_dir, self._broken)

    def _commit(self, sizes: Sequence[int], counts: Sequence[int], created: Sequence[tuple[Segment, int]]) -> None:
        """Record a successful append in the offset index, then publish it to sync (the caller: the cache)."""
        targets = [self._segments[-1] if self._segments else None, *(segment for segment, _ in created)]
        position = 0
        for segment, count in zip(targets, counts, strict=True):
            if segment is not None and count:
                ends = list(itertools.accumulate(sizes[position : position + count], initial=segment.end_offset))
                segment.offsets.extend(ends[:-1])
                segment.end_offset = ends[-1]
            position += count
        self._segments.extend(segment for segment, _ in created)
        self._firsts.extend(segment.first_index for segment, _ in created)
        with self._lock:
            if created:
                self._retired_fds.extend([self._fd] if self._fd is not None else [])
                self._retired_fds.extend(fd for _, fd in created[:-1])
                self._fd = created[-1][1]
            self._last_index += len(sizes)

    def _sync(self, *, force: bool) -> int:
        with self._sync_mutex:
            self._check_usable()
            with self._lock:
                target, fd = self._last_index, self._fd
                retired, self._retired_fds = self._retired_fds, []
            _close_fds(retired)  # rolled segments were fsynced when they were closed
            if fd is not None and self._fsync_due(force):
                try:
                    self._fsync_fd(fd)
                except OSError as exc:
                    raise _storage_error(exc, f"sync of the log in {self._data_dir} failed") from exc
            with self._lock:
                self._synced_index = max(self._synced_index, target)
                return self._synced_index

    def _fsync_fd(self, fd: int) -> None:
        try:
            os.fsync(fd)
        except OSError as exc:
            # After a failed fsync the page cache may have dropped our data: never trust this store again.
            self._broken = f"fsync failed ({exc}); restart the node to recover"
            raise
        self._last_fsync_s = time.monotonic()

    def _fsync_due(self, force: bool) -> bool:
        if self._fsync == "always":
            return True
        if self._fsync == "never":
            return False
        return force or time.monotonic() - self._last_fsync_s >= self._fsync_interval_s

    # --- reading ---------------------------------------------------------------------------------------

    def _read_disk(self, lo: int, hi: int, bytes_max: int) -> list[Entry]:
        out: list[Entry] = []
        total, index = 0, lo
        while index <= hi:
            segment = self._segment_of(index)
            count = _count_within(segment, index, min(hi, segment.last_index), bytes_max - total)
            for entry in self._read_records(segment, index, count):
                size = entry.size_bytes()
                if out and total + size > bytes_max:
                    return out
                out.append(entry)
                total += size
            index += count
        return out

    def _read_records(self, segment: Segment, index: int, count: int) -> list[Entry]:
        """Records index..index+count-1 of one segment, with one pread, decoded and validated."""
        position = index - segment.first_index
        start = segment.offsets[position]
        data = self._pread(segment, start, segment.record_end(position + count - 1))
        entries = decode_records(data, index, count, (segment.path, start), segment.version)
        last = index + count - 1
        # Paired with the checks on append: what the file says must match what the epoch table says.
        if entries[0].term != self._epochs.term_at(index) or entries[-1].term != self._epochs.term_at(last):
            raise AssertionError(
                f"{segment.path}: entries {index}..{last} have terms {entries[0].term}..{entries[-1].term}, "
                f"the epoch table says {self._epochs.term_at(index)}..{self._epochs.term_at(last)}"
            )
        return entries

    def _segment_of(self, index: int) -> Segment:
        return self._segments[bisect.bisect_right(self._firsts, index) - 1]

    def _pread(self, segment: Segment, start: int, end: int) -> bytes:
        try:
            data = os.pread(self._read_fds.get(segment.path), end - start, start)
        except OSError as exc:
            raise _storage_error(exc, f"cannot read {segment.path}") from exc
        if len(data) != end - start:
            raise CorruptSegment(f"{segment.path} at byte offset {start}: short read ({len(data)} bytes)")
        return data


def _count_within(segment: Segment, lo: int, hi: int, bytes_budget: int) -> int:
    """How many records from lo (at least one, at most up to hi) fit in bytes_budget on disk.

    A record on disk is never smaller than its entry's size_bytes(), so the caller may still take more.
    """
    first, last = lo - segment.first_index, hi - segment.first_index
    limit = segment.offsets[first] + max(bytes_budget, 0)
    if segment.record_end(last) <= limit:
        return last - first + 1
    # Record p ends where record p + 1 starts; the record at `last` is known not to fit.
    fitting = bisect.bisect_right(segment.offsets, limit, first + 1, last + 1) - (first + 1)
    return max(1, fitting)
