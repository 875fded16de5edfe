"""One node per data directory: an exclusive `flock` on `<node dir>/LOCK`, held for the node's life.

Two processes on one log would each believe they own its tail and write the same segment file. Kafka
(`.lock`), etcd and PostgreSQL (`postmaster.pid`) all refuse a second process at start; so do we, before
anything in the directory is read. `flock` is released by the kernel when the process dies, however it
dies (kill -9 included), so a stale lock file never blocks a restart: the file's content, the holder's
pid, is only there to name the holder in the error.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from replog.errors import DataDirInUse, StorageError

__all__ = ["LOCK_FILE_NAME", "DataDirLock", "is_held"]

LOCK_FILE_NAME = "LOCK"


class DataDirLock:
    """Held from `acquire` until `release` (or the process's end)."""

    def __init__(self, directory: Path, fd: int) -> None:
        self.directory = directory
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, directory: Path) -> DataDirLock:
        """Lock `directory` (created if missing) or raise DataDirInUse naming the pid that holds it."""
        directory = Path(directory)
        path = directory / LOCK_FILE_NAME
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot open the lock file {path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise DataDirInUse(
                f"data directory {directory} is in use by another replog node (pid {holder}); "
                "stop that node first, or give this one its own data_dir"
            ) from None
        # Only the holder writes the file, so a reader that lost the race always sees a whole pid.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(directory, fd)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # Closing the only descriptor drops the flock.
            self._fd = None


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
    except OSError:
        text = ""
    return text or "unknown"


def is_held(directory: Path) -> bool:
    """Whether a live process holds `directory`'s lock now (probed with a shared lock, dropped at once)."""
    try:
        fd = os.open(Path(directory) / LOCK_FILE_NAME, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # why: closing drops the probe's own lock, if it got one
    return False
