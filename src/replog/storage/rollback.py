"""Rollback files: the entries a node drops when it truncates to follow a new leader, kept for a human.

MongoDB's rule: a write that a deposed leader held but the majority did not is never silently lost. Before
a store's `truncate_after`, the node writes the entries it is about to drop to
`<node_dir>/rollback/<term>-<first>-<last>.jsonl`, one JSON object per line, `{"index", "term",
"request_id", "msg"}`, with `msg` the payload as text when it is UTF-8 and otherwise `null` plus
`msg_base64`. JSON lines, not our record format: whoever reads these files has no replog at hand.

A file in rollback/ is always complete: it is written under a temporary name, fsynced, then linked to its
final name (a link, unlike a rename, fails rather than replace a file of the same name, which then gets a
`.1`, `.2` suffix), and the directory is fsynced before `write_rollback` returns. A crash before that
leaves at most a stale temporary file and no truncation, since the caller truncates only afterwards.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from replog.storage.meta import fsync_dir
from replog.types import Entry

__all__ = ["ROLLBACK_DIR_NAME", "read_rollback", "write_rollback"]

ROLLBACK_DIR_NAME = "rollback"
_SUFFIXES_MAX = 1000  # far more than one node ever rolls back the same range; a bound, not a policy


def write_rollback(node_dir: Path, term: int, entries: Sequence[Entry]) -> Path:
    """Write `entries` (consecutive, about to be truncated at `term`) durably; return the file's path."""
    if not entries:
        raise AssertionError("write_rollback needs at least one entry")
    rollback_dir = Path(node_dir) / ROLLBACK_DIR_NAME
    if not rollback_dir.is_dir():
        rollback_dir.mkdir(parents=True, exist_ok=True)
        fsync_dir(rollback_dir.parent)
    stem = f"{term}-{entries[0].index}-{entries[-1].index}"
    temp_path = rollback_dir / f".{stem}.jsonl.tmp"
    _write_durably(temp_path, "".join(_line(entry) for entry in entries).encode("utf-8"))
    try:
        path = _link_unused(temp_path, rollback_dir, stem)
    finally:
        temp_path.unlink(missing_ok=True)
    fsync_dir(rollback_dir)
    return path  # The caller logs the rollback, naming the range, the file and why.


def read_rollback(path: Path) -> list[Entry]:
    """The entries of a rollback file, as they were in the log."""
    entries = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        msg = record["msg"]
        payload = msg.encode("utf-8") if msg is not None else base64.b64decode(record["msg_base64"])
        entries.append(Entry(record["index"], payload, record["request_id"], record["term"]))
    return entries


def _line(entry: Entry) -> str:
    record: dict[str, Any] = {"index": entry.index, "term": entry.term, "request_id": entry.request_id}
    try:
        record["msg"] = entry.payload.decode("utf-8")
    except UnicodeDecodeError:
        record["msg"] = None
        record["msg_base64"] = base64.b64encode(entry.payload).decode("ascii")
    return json.dumps(record, ensure_ascii=False) + "\n"


def _write_durably(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _link_unused(temp_path: Path, rollback_dir: Path, stem: str) -> Path:
    for attempt in range(_SUFFIXES_MAX):
        path = rollback_dir / (f"{stem}.jsonl" if attempt == 0 else f"{stem}.{attempt}.jsonl")
        with contextlib.suppress(FileExistsError):
            os.link(temp_path, path)
            return path
    raise FileExistsError(f"{rollback_dir}: {_SUFFIXES_MAX} rollback files for {stem} already")
