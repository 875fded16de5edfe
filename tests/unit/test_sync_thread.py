"""SyncThread: a blocking call runs on a thread of its own while the event loop goes on."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from replog.node.committer import GroupCommitter
from replog.node.sync_thread import SyncThread
from replog.storage.segment import SegmentLog
from replog.types import Entry

DEADLINE_S = 5


def test_the_call_runs_off_the_loop_thread_and_the_loop_runs_meanwhile() -> None:
    released = threading.Event()
    callers: list[int] = []

    def blocking_call() -> int:
        callers.append(threading.get_ident())
        # Only the loop sets this: if the call ran on the loop's thread, it would never return.
        if not released.wait(DEADLINE_S):
            raise TimeoutError("the loop did not run while the call blocked")
        return len(callers)

    async def main() -> list[int]:
        worker = SyncThread(blocking_call, "test-sync")
        worker.start()
        results = []
        for _ in range(3):
            released.clear()
            pending = asyncio.ensure_future(worker.run())
            await asyncio.sleep(0)  # why: let the job reach the thread before the loop releases it
            released.set()
            results.append(await asyncio.wait_for(pending, DEADLINE_S))
        worker.stop()
        return results

    assert asyncio.run(main()) == [1, 2, 3]
    assert threading.get_ident() not in callers
    assert len(set(callers)) == 1  # one long-lived thread, not one per call


def test_an_exception_in_the_call_reaches_the_awaiting_task() -> None:
    def failing_call() -> int:
        raise OSError(5, "Input/output error")

    async def main() -> None:
        worker = SyncThread(failing_call, "test-sync")
        worker.start()
        with pytest.raises(OSError, match="Input/output error"):
            await asyncio.wait_for(worker.run(), DEADLINE_S)
        worker.stop()

    asyncio.run(main())


def test_a_cancelled_wait_drops_the_outcome_and_the_next_call_still_works() -> None:
    released = threading.Event()
    calls: list[int] = []

    def call() -> int:
        calls.append(1)
        released.wait(DEADLINE_S)
        return len(calls)

    loop_errors: list[dict[str, object]] = []

    async def main() -> int:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: loop_errors.append(context))
        worker = SyncThread(call, "test-sync")
        worker.start()
        first = asyncio.ensure_future(worker.run())
        await asyncio.sleep(0)
        first.cancel()
        released.set()  # the first call ends after its waiter is gone: its outcome must be dropped quietly
        second = await asyncio.wait_for(worker.run(), DEADLINE_S)
        worker.stop()
        return second

    assert asyncio.run(main()) == 2
    assert loop_errors == []  # the dropped outcome raised nothing in the loop (no InvalidStateError)


def test_stop_ends_the_thread() -> None:
    async def main() -> threading.Thread:
        worker = SyncThread(lambda: 0, "test-sync-stop")
        worker.start()
        await worker.run()
        thread = next(thread for thread in threading.enumerate() if thread.name == "test-sync-stop")
        worker.stop()
        return thread

    thread = asyncio.run(main())
    thread.join(DEADLINE_S)
    assert not thread.is_alive()


class _Interrupt(BaseException):
    """Not an Exception: the thread must still hand it over and live on."""


def test_a_base_exception_reaches_the_task_and_the_thread_serves_the_next_call() -> None:
    outcomes = iter([_Interrupt(), 7])

    def call() -> int:
        outcome = next(outcomes)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def main() -> int:
        worker = SyncThread(call, "test-sync")
        worker.start()
        with pytest.raises(_Interrupt):
            await asyncio.wait_for(worker.run(), DEADLINE_S)
        result = await asyncio.wait_for(worker.run(), DEADLINE_S)
        worker.stop()
        return result

    assert asyncio.run(main()) == 7


def test_a_loop_closed_while_a_call_runs_does_not_kill_the_thread() -> None:
    started, released = threading.Event(), threading.Event()

    def call() -> str:
        started.set()
        released.wait(DEADLINE_S)
        return "done"

    worker = SyncThread(call, "test-sync")

    async def abandon() -> None:
        worker.start()
        pending = asyncio.ensure_future(worker.run())  # asyncio.run cancels it on the way out
        await asyncio.to_thread(started.wait, DEADLINE_S)
        assert not pending.done()

    asyncio.run(abandon())  # the loop is closed with the call still running on the thread
    released.set()  # its outcome now has no loop to go to

    async def again() -> str:
        return await asyncio.wait_for(worker.run(), DEADLINE_S)

    assert asyncio.run(again()) == "done"
    worker.stop()


def test_run_after_stop_raises_instead_of_waiting_forever() -> None:
    async def main() -> None:
        worker = SyncThread(lambda: 0, "test-sync")
        worker.start()
        worker.stop()
        with pytest.raises(RuntimeError, match="stopped or was never started"):
            await worker.run()

    asyncio.run(main())


def test_a_committer_ends_its_fsync_thread_when_stopped_or_cancelled(tmp_path: Path) -> None:
    def fsync_threads() -> list[threading.Thread]:
        return [thread for thread in threading.enumerate() if thread.name == "fsync"]

    async def stopped(store: SegmentLog) -> list[threading.Thread]:
        committer = GroupCommitter(store, lambda index: None, lambda index, error: None)
        committer.start()
        threads = fsync_threads()
        await committer.stop()
        return threads

    async def left_running(store: SegmentLog) -> list[threading.Thread]:
        committer = GroupCommitter(store, lambda index: None, lambda index, error: None)
        committer.start()
        committer.append([Entry(store.last_index + 1, b"x", None, 1)])
        await committer.wait_synced()
        return fsync_threads()  # asyncio.run cancels the commit task on the way out

    with SegmentLog.open(tmp_path / "log") as store:
        for scenario in (stopped, left_running):
            threads = asyncio.run(scenario(store))
            assert len(threads) == 1
            threads[0].join(DEADLINE_S)
            assert not threads[0].is_alive(), scenario.__name__
