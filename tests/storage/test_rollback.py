"""Rollback files: complete, durable, readable without replog, and never overwritten."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from replog.storage.rollback import read_rollback, write_rollback
from replog.types import Entry

ENTRIES = [
    Entry(41, b"hello", "req-1", 3),
    Entry(42, "привет ✓".encode(), None, 3),
    Entry(43, b"\xff\xfe not utf-8", "req-3", 4),
    Entry(44, b"", "", 4),
]


def test_one_json_object_per_entry(tmp_path: Path) -> None:
    path = write_rollback(tmp_path, 5, ENTRIES)
    assert path == tmp_path / "rollback" / "5-41-44.jsonl"
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines == [
        {"index": 41, "term": 3, "request_id": "req-1", "msg": "hello"},
        {"index": 42, "term": 3, "request_id": None, "msg": "привет ✓"},
        {
            "index": 43,
            "term": 4,
            "request_id": "req-3",
            "msg": None,
            "msg_base64": base64.b64encode(b"\xff\xfe not utf-8").decode(),
        },
        {"index": 44, "term": 4, "request_id": "", "msg": ""},
    ]
    assert read_rollback(path) == ENTRIES


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    first = write_rollback(tmp_path, 5, ENTRIES)
    second = write_rollback(tmp_path, 5, ENTRIES[:1] + ENTRIES[1:])
    third = write_rollback(tmp_path, 5, [e._replace(payload=b"other") for e in ENTRIES])
    assert [p.name for p in (first, second, third)] == ["5-41-44.jsonl", "5-41-44.1.jsonl", "5-41-44.2.jsonl"]
    assert read_rollback(first) == ENTRIES
    assert all(e.payload == b"other" for e in read_rollback(third))
    # Only complete files are left behind: no temporary file survives a successful write.
    assert sorted(p.name for p in (tmp_path / "rollback").iterdir()) == sorted(p.name for p in (first, second, third))


def test_the_file_and_the_directory_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    path = write_rollback(tmp_path / "node", 2, ENTRIES[:2])
    rollback_dir = str(tmp_path / "node" / "rollback")
    assert rollback_dir + "/.2-41-42.jsonl.tmp" in synced  # the data, before it gets its name
    assert synced[-1] == rollback_dir  # the name, last
    assert str(tmp_path / "node") in synced  # the new rollback directory itself
    assert path.exists()


def test_nothing_to_roll_back_is_a_caller_bug(tmp_path: Path) -> None:
    with pytest.raises(AssertionError):
        write_rollback(tmp_path, 1, [])
    assert not (tmp_path / "rollback").exists()
