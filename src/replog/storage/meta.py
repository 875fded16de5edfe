"""A node's small, rarely written metadata: `meta.json` next to the segments.

The file holds the identity of the log (`log_id`), optionally the node's id, and the on-disk format version.
It changes about once in a node's life (a fresh secondary adopting its master's log id), so it is plain
JSON a human can read, and every write is atomic and durable: write a temp file, fsync it, rename it over
the old one, then fsync the directory so the rename itself survives a crash. A reader therefore sees either
the old file or the new one, never a mix; a file that does not parse is real damage, not a torn write.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from replog.errors import StorageError

__all__ = ["META_FILE_NAME", "fsync_dir", "read_meta", "write_meta"]

META_FILE_NAME = "meta.json"
_TEMP_SUFFIX = ".tmp"


def read_meta(data_dir: Path) -> dict[str, Any] | None:
    """The metadata in `data_dir`, or None when the directory has none yet."""
    path = Path(data_dir) / META_FILE_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc}") from exc
    try:
        meta = json.loads(text)
    except ValueError as exc:
        raise StorageError(f"{path} is not valid JSON ({exc}); refusing to guess the log's identity") from exc
    if not isinstance(meta, dict):
        raise StorageError(f"{path} must hold a JSON object, found {type(meta).__name__}")
    return meta


def write_meta(data_dir: Path, meta: dict[str, Any]) -> None:
    """Replace the metadata in `data_dir` atomically and durably."""
    data_dir = Path(data_dir)
    path = data_dir / META_FILE_NAME
    temp_path = data_dir / (META_FILE_NAME + _TEMP_SUFFIX)
    data = (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode("utf-8")
    try:
        _write_file_durably(temp_path, data)
        os.replace(temp_path, path)
        fsync_dir(data_dir)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp_path.unlink()
        raise StorageError(f"cannot write {path}: {exc}") from exc


def fsync_dir(path: Path) -> None:
    """Make the directory's entries (created, renamed or removed files) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file_durably(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
