"""Rebuilding the request_id dedup window from the log itself, so it survives a restart.

Every entry of a batch carries its request's request_id, so the window is the runs of equal
request_ids in the log's last `window` entries. Pure: it reads through the function it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from replog.types import Entry

__all__ = ["recent_request_ids"]

READ_BYTES_MAX = 4 << 20


def recent_request_ids(
    read_entries: Callable[[int, int, int], list[Entry]], last_index: int, window: int
) -> Iterator[tuple[str, int, int]]:
    """Yield (request_id, first_index, last_index) for each request among the last `window` entries."""
    if window <= 0 or last_index == 0:
        return
    index = max(1, last_index - window + 1)
    run: tuple[str, int, int] | None = None  # the request whose entries are being read
    while index <= last_index:
        chunk = read_entries(index, last_index, READ_BYTES_MAX)
        if not chunk or chunk[0].index != index:
            raise AssertionError(f"log read at {index} returned {chunk[:1]}")
        index = chunk[-1].index + 1
        for entry in chunk:
            if run is not None and entry.request_id == run[0]:
                run = (run[0], run[1], entry.index)
                continue
            if run is not None:
                yield run
            run = None if entry.request_id is None else (entry.request_id, entry.index, entry.index)
    if run is not None:
        yield run
