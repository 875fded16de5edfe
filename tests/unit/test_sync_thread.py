"""SyncThread: a blocking call runs on a thread of its own while the event loop goes on."""

from __future__ import annotations

import asyncio
import threading

import pytest

from replog.node.sync_thread import SyncThread

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

    async def main() -> int:
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
