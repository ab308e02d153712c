"""Writers taking turns: the SQLite write lock is first come, first served, and writing use
cases from async routes run one at a time per SQLite engine, concurrently on PostgreSQL."""

from __future__ import annotations

import threading
import time

import anyio
import pytest
from sqlalchemy import Engine

from casework.db import FairLock
from casework.web.deps import run_write


def _wait_until(condition: object, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.001)


def test_fair_lock_is_handed_to_waiters_in_the_order_they_came() -> None:
    lock = FairLock()
    order: list[int] = []
    assert lock.acquire()

    def waiter(number: int) -> None:
        assert lock.acquire(timeout=10)
        order.append(number)
        lock.release()

    threads = []
    for number in range(6):
        thread = threading.Thread(target=waiter, args=(number,))
        thread.start()
        threads.append(thread)
        # The next one starts only once this one is queued.
        _wait_until(lambda n=number: len(lock._waiters) == n + 1, f"waiter {number} to queue")
    lock.release()
    for thread in threads:
        thread.join(10)
    assert order == list(range(6))


def test_fair_lock_is_reentrant_for_its_holder_only() -> None:
    lock = FairLock()
    assert lock.acquire()
    assert lock.acquire()
    lock.release()
    got: list[bool] = []
    other = threading.Thread(target=lambda: got.append(lock.acquire(timeout=0.05)))
    other.start()
    other.join(10)
    assert got == [False], "another thread took a lock still held once"
    lock.release()
    other = threading.Thread(target=lambda: got.append(lock.acquire(timeout=1)))
    other.start()
    other.join(10)
    assert got == [False, True]


def test_fair_lock_timeout_leaves_the_queue_and_release_checks_the_holder() -> None:
    lock = FairLock()
    assert lock.acquire()
    results: list[bool] = []
    thread = threading.Thread(target=lambda: results.append(lock.acquire(timeout=0.05)))
    thread.start()
    thread.join(10)
    assert results == [False]
    assert not lock._waiters, "a waiter that gave up is still queued"
    lock.release()
    # Free again: nobody was handed the lock by the release.
    assert lock.acquire(timeout=0)
    lock.release()
    with pytest.raises(RuntimeError, match="does not hold"):
        lock.release()


def _overlap(engine: Engine, tasks: int) -> tuple[int, list[int]]:
    """Run `tasks` writing units through run_write at once: the most that ran at the same
    time, and the order in which they started."""
    running = 0
    most = 0
    started: list[int] = []
    guard = threading.Lock()

    def work(number: int) -> None:
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
            started.append(number)
        time.sleep(0.02)
        with guard:
            running -= 1

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for number in range(tasks):
                group.start_soon(run_write, engine, lambda n=number: work(n))
                await anyio.sleep(0.001)

    anyio.run(main)
    return most, started


def test_writes_from_async_routes_take_turns_on_sqlite_only(engine: Engine) -> None:
    most, started = _overlap(engine, 8)
    if engine.dialect.name == "sqlite":
        assert most == 1
        assert started == list(range(8)), "SQLite writers did not run in the order they came"
    else:
        assert most > 1, "PostgreSQL writers were serialised"
