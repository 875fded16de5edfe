"""Cutting a segmented log back to a prefix on disk, in an order that survives a crash at any step.

A follower that joins a new leader may hold entries the leader does not (Raft's log matching, Kafka's
truncation by leader epoch): they are removed with `truncate_after(index)` before the leader's entries
are appended. The store calls `cut_segments` with its fds closed; the files change in this order:

1. Every segment that starts after `index` is unlinked, newest first, and the directory is fsynced after
   each unlink. Without that fsync the removals could reach the disk in any order, and a crash could
   keep a newer segment while losing an older one: a hole, which recovery refuses (the node would not
   start). With it, a crash leaves the log ending at a segment boundary: a prefix of the old log.
2. The segment holding `index` is cut right after that entry's record (ftruncate) and fsynced. The size
   change is atomic: after a crash the file is either cut or whole, and whole is again a prefix of the
   old log, just longer than asked for.
3. Only after both does the store accept appends. New records go where the durable file now ends, so an
   old record can never sit after a new one in a file, nor share an index with it.

So whatever a crash interrupts, recovery finds a valid prefix of the log as it was, at least 1..index
long: never a hole, never old and new records mixed. A caller that finds its log longer than it cut it
after a restart simply truncates again (the follower's handshake does exactly that). This module does
only the file operations; the store owns the fds, the offset index, the caches and the epoch table.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from replog.storage.meta import fsync_dir

__all__ = ["cut_segments"]


def cut_segments(segments_dir: Path, doomed: Sequence[Path], cut: tuple[Path, int] | None) -> None:
    """Remove the `doomed` segments (in index order), newest first, then cut `cut` = (path, size).

    Every step is durable before the next starts. Raises OSError; the caller must then treat the store
    as unusable, since the files may be anywhere between the old log and the cut one (a valid prefix).
    """
    for path in reversed(doomed):
        path.unlink()
        fsync_dir(segments_dir)
    if cut is not None:
        path, size = cut
        fd = os.open(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)
