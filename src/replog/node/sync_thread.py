"""SyncThread: one long-lived thread that runs a blocking call (the store's fsync) for the event loop.

Why not `asyncio.to_thread`: the committer syncs once per batch on every node, and under one sequential
client every append is a batch of its own, so the hop to a thread and back is paid on the critical path of
each write. Measured on the 2-core VM of this project (uvloop, the call a no-op, 3,000 hops, three runs):
through the default executor a hop costs 83-90 µs of wall time and 69-77 µs of the loop thread's CPU; a
thread of our own fed by a `queue.SimpleQueue` costs 23-28 µs and 16-20 µs. The executor's hop goes
through a concurrent Future, its condition variable and the callbacks that chain it to an asyncio
Future; here the thread hands the outcome straight to `call_soon_threadsafe`.

The caller awaits each call before making the next (the committer does), so the queue holds at most one
job. A call whose awaiting task was cancelled still runs to its end (an fsync cannot be interrupted); its
outcome is dropped. The life is one-shot: `start`, any number of `run`s, `stop`, which lets the thread
finish the call in hand and exit; a `run` after `stop` raises. The thread is a daemon only so that it never
holds up the interpreter's exit (a node's own stop still waits for an fsync in flight: the store's close
takes the same sync mutex).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["SyncThread"]

T = TypeVar("T")

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class SyncThread(Generic[T]):
    """Runs `call` on a thread of its own each time `run()` is awaited."""

    def __init__(self, call: Callable[[], T], name: str) -> None:
        self._call = call
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._stopped = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Let the thread exit once the call in hand (if any) is done. Safe to call more than once."""
        if not self._stopped:
            self._stopped = True
            self._jobs.put(None)

    async def run(self) -> T:
        """The call's result (or its exception), computed on the thread; the loop runs on meanwhile."""
        if self._stopped or not self._thread.is_alive():
            raise RuntimeError(f"{self._thread.name}: run() on a thread that is stopped or was never started")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future))
        return await future

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future = job
            try:
                outcome: tuple[T | None, BaseException | None] = (self._call(), None)
            except BaseException as exc:  # handed to the awaiting task, which decides what it means
                outcome = (None, exc)
            with contextlib.suppress(RuntimeError):  # the loop closed while the call ran: nobody awaits it
                loop.call_soon_threadsafe(_settle, future, *outcome)


def _settle(future: asyncio.Future[T], result: T | None, error: BaseException | None) -> None:
    if future.done():  # the awaiting task was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]
