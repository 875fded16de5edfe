"""Opening a segmented log after a stop or a crash: find the segments, validate them, cut a torn tail.

LogCabin's rule: a crash can only tear the tail of the newest segment, so a short or CRC-failing record
there is an interrupted write that nobody was ever told about and is cut off with a warning, while the same
damage in a closed segment is real corruption and the node refuses to start rather than serve a log with a
hole. The scan also rebuilds the derived data the store keeps in memory: each segment's offset index and
the log's epoch table (terms never decrease along a log; a record that breaks that is corruption too).

Versions: `meta.json`'s format_version describes the directory (this file layout), which has not changed;
each segment's header names its own record format, so a log written before terms existed keeps its version
1 segments, read as term 0, and new records go to version 2 segments.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from replog.errors import CorruptSegment, StorageError
from replog.storage.meta import META_FILE_NAME, fsync_dir, read_meta, write_meta
from replog.storage.records import (
    FORMAT_VERSION,
    SEGMENT_HEADER,
    Buffer,
    Scan,
    header_problem,
    header_version,
    scan_records,
)

__all__ = [
    "META_FORMAT_VERSION",
    "SEGMENTS_DIR_NAME",
    "Recovered",
    "Segment",
    "list_segment_files",
    "load_meta",
    "recover_segments",
    "segment_path",
]

META_FORMAT_VERSION = 1
SEGMENTS_DIR_NAME = "segments"
_SEGMENT_NAME = re.compile(r"^(\d{20})\.seg$")


@dataclass(eq=False)
class Segment:
    path: Path
    first_index: int
    # offsets[i] is where the record of index first_index + i starts in the file.
    offsets: array[int] = field(default_factory=lambda: array("Q"))
    end_offset: int = SEGMENT_HEADER.size
    version: int = FORMAT_VERSION  # the record format of this file, from its header

    @property
    def last_index(self) -> int:
        return self.first_index + len(self.offsets) - 1

    def record_end(self, position: int) -> int:
        """Where the record at `position` (index - first_index) ends."""
        return self.offsets[position + 1] if position + 1 < len(self.offsets) else self.end_offset


@dataclass(frozen=True, slots=True)
class Recovered:
    segments: list[Segment]
    epochs: list[tuple[int, int]]  # (term, first_index) per run of equal terms, over all segments


def segment_path(segments_dir: Path, first_index: int) -> Path:
    return segments_dir / f"{first_index:020d}.seg"


def list_segment_files(segments_dir: Path) -> list[tuple[int, Path]]:
    found = [(m, p) for p in segments_dir.iterdir() if (m := _SEGMENT_NAME.match(p.name))]
    return sorted((int(m.group(1)), p) for m, p in found)


def load_meta(data_dir: Path, has_segments: bool) -> dict[str, Any]:
    meta = read_meta(data_dir)
    path = data_dir / META_FILE_NAME
    if meta is None:
        if has_segments:
            raise StorageError(f"{path} is missing but segments exist; refusing to guess whose log they are")
        meta = {"format_version": META_FORMAT_VERSION, "log_id": ""}
        write_meta(data_dir, meta)
        return meta
    version = meta.get("format_version")
    if version != META_FORMAT_VERSION:
        raise StorageError(
            f"{path} has format_version {version!r}, but this replog reads only version {META_FORMAT_VERSION}"
        )
    if not isinstance(meta.get("log_id", ""), str):
        raise StorageError(f"{path}: log_id must be a string")
    # term and voted_for appeared with failover; a file without them is from before and reads as (0, None).
    term, voted_for = meta.get("term", 0), meta.get("voted_for")
    if type(term) is not int or term < 0:
        raise StorageError(f"{path}: term must be an integer >= 0, found {term!r}")
    if voted_for is not None and (type(voted_for) is not int or voted_for < 0):
        raise StorageError(f"{path}: voted_for must be null or an integer >= 0, found {voted_for!r}")
    return meta


def recover_segments(segments_dir: Path, logger: logging.Logger) -> Recovered:
    named = list_segment_files(segments_dir)
    segments: list[Segment] = []
    epochs: list[tuple[int, int]] = []
    expected = 1
    for position, (first_index, path) in enumerate(named):
        if position < len(named) - 1:
            segment, scan = _load_closed(path, first_index, expected)
        else:
            recovered = _recover_newest(path, first_index, expected, logger)
            if recovered is None:
                break
            segment, scan = recovered
        _add_epochs(epochs, scan, segment)
        segments.append(segment)
        expected = segment.last_index + 1
    return Recovered(segments, epochs)


@contextlib.contextmanager
def _mapped(path: Path) -> Iterator[Buffer]:
    """The file's bytes, memory-mapped so that scanning a large segment does not load it on the heap."""
    with path.open("rb") as file:
        if os.fstat(file.fileno()).st_size == 0:
            yield b""
            return
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            yield mapped


def _check_contiguous(path: Path, first_index: int, expected: int) -> None:
    if first_index != expected:
        raise CorruptSegment(
            f"{path} at byte offset 0: starts at index {first_index} but index {expected} was expected "
            "(a segment is missing or misnamed)"
        )


def _load_closed(path: Path, first_index: int, expected: int) -> tuple[Segment, Scan]:
    """A closed segment must validate fully: any damage in it is real corruption."""
    _check_contiguous(path, first_index, expected)
    with _mapped(path) as buf:
        if len(buf) < SEGMENT_HEADER.size:
            raise CorruptSegment(f"{path} at byte offset 0: short segment header ({len(buf)} bytes)")
        problem = header_problem(buf, first_index)
        if problem is not None:
            raise CorruptSegment(f"{path} at byte offset 0: {problem}")
        version = header_version(buf)
        scan = scan_records(buf, first_index, version)
    if scan.problem is not None:
        raise CorruptSegment(f"{path} at byte offset {scan.end_offset}: {scan.problem}")
    if not scan.offsets:
        raise CorruptSegment(f"{path}: a closed segment holds no records")
    return Segment(path, first_index, scan.offsets, scan.end_offset, version), scan


def _recover_newest(path: Path, first_index: int, expected: int, logger: logging.Logger) -> tuple[Segment, Scan] | None:
    """Scan the newest segment and cut off its torn tail; None if the file held nothing worth keeping."""
    _check_contiguous(path, first_index, expected)
    with _mapped(path) as buf:
        size = len(buf)
        if size < SEGMENT_HEADER.size:
            scan, version = None, FORMAT_VERSION
        else:
            problem = header_problem(buf, first_index)
            if problem is not None:
                raise CorruptSegment(f"{path} at byte offset 0: {problem}")
            version = header_version(buf)
            scan = scan_records(buf, first_index, version)
    if scan is None:
        logger.warning("%s: torn segment header (%d bytes); removing the file", path, size)
        _remove(path)
        return None
    if scan.problem is not None:
        _truncate(path, scan.end_offset)
        logger.warning(
            "%s: torn tail at byte offset %d (%s); dropped %d bytes",
            path,
            scan.end_offset,
            scan.problem,
            size - scan.end_offset,
        )
    if not scan.offsets and version != FORMAT_VERSION:
        # The next append would start a new-format segment with this very name: the old one goes first.
        logger.warning("%s: an empty format %d segment; removing the file", path, version)
        _remove(path)
        return None
    return Segment(path, first_index, scan.offsets, scan.end_offset, version), scan


def _add_epochs(epochs: list[tuple[int, int]], scan: Scan, segment: Segment) -> None:
    """Append a segment's runs of terms to the log's, refusing a term that goes down."""
    for term, first_index in scan.epochs:
        if epochs and term < epochs[-1][0]:
            offset = segment.offsets[first_index - segment.first_index]
            raise CorruptSegment(
                f"{segment.path} at byte offset {offset}: entry {first_index} has term {term} after term "
                f"{epochs[-1][0]} (terms never decrease along a log)"
            )
        if not epochs or term != epochs[-1][0]:
            epochs.append((term, first_index))


def _remove(path: Path) -> None:
    path.unlink()
    fsync_dir(path.parent)


def _truncate(path: Path, size: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)
