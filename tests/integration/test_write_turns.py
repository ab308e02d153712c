"""Writers taking turns: the SQLite write lock is first come, first served, and submissions
from the async routes run one at a time per engine, in the order they came."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from pathlib import Path

import anyio
import pytest
from conftest import wait_until
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import IntegrityError

from casework.db import (
    Executor,
    FairLock,
    WriteLockBusy,
    connection_of,
    direct_sqlite,
    make_engine,
    migrate,
    unit_of_work,
    writes_without_waiting,
)
from casework.web import turns
from casework.web.deps import run_submission


def _wait_until(condition: Callable[[], object], what: str) -> None:
    wait_until(condition, what, interval=0.001)


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


def _in_thread(main: Callable[[], Awaitable[None]], *, use_uvloop: bool = False) -> None:
    """anyio.run(main) in a thread of its own: an event loop that another test left set
    in this thread would stop a new one from running here."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            anyio.run(main, backend_options={"use_uvloop": use_uvloop})
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the event loop did not finish in 30 s"
    if errors:
        raise errors[0]


def _overlap(engines: list[Engine], tasks: int) -> tuple[int, list[tuple[int, int]]]:
    """Start `tasks` submissions per engine through run_submission, interleaved: the most
    that ran at the same time, and (engine, task) in the order they started."""
    running = 0
    most = 0
    started: list[tuple[int, int]] = []
    guard = threading.Lock()

    def work(key: tuple[int, int]) -> None:
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
            started.append(key)
        time.sleep(0.02)
        with guard:
            running -= 1

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for number in range(tasks):
                for index, engine in enumerate(engines):
                    key = (index, number)
                    group.start_soon(run_submission, engine, lambda k=key: work(k))
                    await anyio.sleep(0.001)

    _in_thread(main)
    return most, started


def test_submissions_take_turns_per_engine_in_the_order_they_came(engine: Engine) -> None:
    most, started = _overlap([engine], 8)
    assert most == 1
    assert started == [(0, number) for number in range(8)]


def test_submissions_to_different_databases_do_not_wait_for_each_other(tmp_path: Path) -> None:
    engines = [make_engine(f"sqlite:///{tmp_path / name}.db") for name in ("a", "b")]
    try:
        most, started = _overlap(engines, 4)
    finally:
        for engine in engines:
            engine.dispose()
    assert most == 2
    for index in (0, 1):
        assert [n for i, n in started if i == index] == list(range(4))


def test_a_submission_error_reaches_its_request_and_the_next_one_runs() -> None:
    queue = turns.Turns()
    outcomes: list[object] = []

    def fail() -> int:
        raise LookupError("no such group")

    async def main() -> None:
        with pytest.raises(LookupError, match="no such group"):
            await queue.run(fail)
        outcomes.append(await queue.run(lambda: 42))

    _in_thread(main)
    assert outcomes == [42]


def test_a_request_cancelled_before_its_turn_is_not_run() -> None:
    queue = turns.Turns()
    ran: list[str] = []
    release = threading.Event()

    def first() -> None:
        release.wait(10)
        ran.append("first")

    async def main() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(queue.run, first)
            await anyio.sleep(0.01)
            with anyio.move_on_after(0.05):
                await queue.run(lambda: ran.append("cancelled"))
            release.set()
        ran.append(await queue.run(lambda: "after"))

    _in_thread(main)
    assert ran == ["first", "after"]


@pytest.mark.parametrize("use_uvloop", [False, True], ids=["asyncio", "uvloop"])
def test_submissions_on_the_event_loop_run_one_per_turn_and_requests_are_read_between(
    use_uvloop: bool,
) -> None:
    """Each submission sends a byte, as an answer makes its client send the next request:
    the loop reads it before the submission after next at the latest (asyncio runs one
    more callback of the turn first; uvloop reads between any two)."""
    events: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        loop.add_reader(reader.fileno(), lambda: events.append("read " + reader.recv(64).decode()))
        queue = turns.LoopTurns(loop)

        def work(number: int) -> Callable[[], int]:
            def submission() -> int:
                events.append(f"work {number}")
                writer.send(str(number).encode())
                return number

            return submission

        try:
            results = await asyncio.gather(*(queue.run(work(n)) for n in range(6)))
        finally:
            loop.remove_reader(reader.fileno())
            reader.close()
            writer.close()
        assert results == list(range(6))
        assert not queue.busy

    _in_thread(main, use_uvloop=use_uvloop)
    assert [e for e in events if e.startswith("work")] == [f"work {n}" for n in range(6)]
    for number in range(4):
        read = next(i for i, e in enumerate(events) if e.startswith("read") and str(number) in e)
        assert read < events.index(f"work {number + 2}"), events


def test_a_submission_on_the_event_loop_hands_on_its_error_and_skips_a_cancelled_one() -> None:
    ran: list[str] = []

    async def main() -> None:
        queue = turns.loop_turns()
        assert turns.loop_turns() is queue

        def fail() -> None:
            ran.append("fail")
            raise LookupError("no such group")

        failing = asyncio.ensure_future(queue.run(fail))
        cancelled = asyncio.ensure_future(queue.run(lambda: ran.append("cancelled")))
        last = asyncio.ensure_future(queue.run(lambda: ran.append("last") or "done"))
        await asyncio.sleep(0)  # all three queued
        cancelled.cancel()
        with pytest.raises(LookupError, match="no such group"):
            await failing
        assert await last == "done"
        assert cancelled.cancelled()

    _in_thread(main)
    assert ran == ["fail", "last"]


def test_a_submission_waiting_on_the_event_loop_follows_one_queued_in_the_thread_meanwhile(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    ran: list[tuple[str, str]] = []
    release = threading.Event()

    def record(name: str) -> Callable[[], None]:
        return lambda: ran.append((name, threading.current_thread().name))

    def slow() -> None:
        release.wait(10)
        record("thread")()

    async def main() -> None:
        loop_thread = threading.current_thread().name
        # Queued on the loop; before its turn comes, a submission is queued in the thread.
        waiting = asyncio.ensure_future(
            run_submission(engine, record("work"), without_waiting=record("on the loop"))
        )
        in_thread = asyncio.ensure_future(turns.turns_for(engine).run(slow))
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.gather(waiting, in_thread)
        assert ("on the loop", loop_thread) not in ran

    try:
        _in_thread(main)
    finally:
        engine.dispose()
    assert ran == [("thread", "samverkan-submissions"), ("work", "samverkan-submissions")]


def test_the_submission_thread_ends_when_idle_and_starts_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(turns, "IDLE_SECONDS", 0.05)
    queue = turns.Turns(name="samverkan-submissions-test")
    names: list[str] = []

    async def main() -> None:
        names.append(await queue.run(lambda: threading.current_thread().name))
        assert queue.running

    _in_thread(main)
    _wait_until(lambda: not queue.running, "the idle thread to end")
    assert not any(t.name == "samverkan-submissions-test" for t in threading.enumerate())
    _in_thread(main)
    assert names == ["samverkan-submissions-test"] * 2


def test_each_engine_has_one_queue(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        assert turns.turns_for(engine) is turns.turns_for(engine)
        assert turns.turns_for(engine) is not turns.Turns()
    finally:
        engine.dispose()


def test_only_a_sqlite_file_without_fsync_at_commit_is_written_from_the_event_loop(
    tmp_path: Path, migrated_engine: Engine
) -> None:
    normal = make_engine(f"sqlite:///{tmp_path / 'normal.db'}", sqlite_synchronous="normal")
    full = make_engine(f"sqlite:///{tmp_path / 'full.db'}", sqlite_synchronous="full")
    memory = make_engine("sqlite://")
    try:
        assert writes_without_waiting(normal)
        assert not writes_without_waiting(full)
        assert not writes_without_waiting(memory)
        if migrated_engine.dialect.name == "postgresql":
            assert not writes_without_waiting(migrated_engine)
    finally:
        for engine in (normal, full, memory):
            engine.dispose()


def _holding_the_write_lock(path: Path) -> sqlite3.Connection:
    """Another process's writer, as SQLite sees it: a connection in BEGIN IMMEDIATE."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    return other


@pytest.mark.parametrize("transaction", [unit_of_work, direct_sqlite])
def test_a_writer_that_may_not_wait_gives_up_at_once_and_writes_nothing(
    tmp_path: Path, transaction: Callable[..., AbstractContextManager[Executor]]
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")

    def cases(on: Executor) -> int:
        return int(connection_of(on).execute(text("SELECT count(*) FROM cases")).scalar_one())

    try:
        migrate(engine)
        other = _holding_the_write_lock(tmp_path / "x.db")
        started = time.monotonic()
        with pytest.raises(WriteLockBusy), transaction(engine, wait=False) as writer:
            cases(writer)
        # Well under the busy timeout of 5 s, with room for a busy machine.
        assert time.monotonic() - started < 3, "it waited for the busy timeout"
        other.rollback()
        other.close()
        # Another writer in this process: the in-process lock is taken.
        with transaction(engine) as writer:
            cases(writer)
            failed: list[BaseException] = []

            def try_without_waiting() -> None:
                try:
                    with transaction(engine, wait=False):
                        pass
                except BaseException as error:
                    failed.append(error)

            thread = threading.Thread(target=try_without_waiting)
            thread.start()
            thread.join(10)
            assert [type(e) for e in failed] == [WriteLockBusy]
        # Free again: it writes. A unit of work's connection waits as usual afterwards; a
        # direct write runs on the engine's own writer, which never waits.
        with transaction(engine, wait=False) as writer:
            timeout = connection_of(writer).execute(text("PRAGMA busy_timeout")).scalar()
        assert timeout == (0 if transaction is direct_sqlite else 5000)
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    finally:
        engine.dispose()


def test_direct_writes_that_do_not_wait_keep_one_connection_of_their_own(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        migrate(engine)
        checked_out: list[object] = []
        event.listen(engine, "checkout", lambda dbapi, _record, _proxy: checked_out.append(dbapi))
        used = []
        for number in range(3):
            with direct_sqlite(engine, wait=False) as writer:
                writer.execute(
                    text("INSERT INTO reference_counters VALUES ('SB', :y, 0)"), {"y": number}
                )
                used.append(writer._connection)
        assert used[0] is used[1] is used[2]
        # Taken from the pool once, and not returned: the pool's connections stay its own.
        assert checked_out == [used[0]]
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        with engine.connect() as connection:
            assert connection.connection.driver_connection is not used[0]
        # An error rolls its transaction back and the connection goes on.
        with pytest.raises(IntegrityError), direct_sqlite(engine, wait=False) as writer:
            writer.execute(text("INSERT INTO reference_counters VALUES ('SB', 5, 0)"))
            writer.execute(text("INSERT INTO reference_counters VALUES ('SB', 0, 0)"))
        with direct_sqlite(engine, wait=False) as writer:
            assert writer._connection is used[0]
            rows = writer.execute(text("SELECT year FROM reference_counters ORDER BY year"))
            assert [year for (year,) in rows.all()] == [0, 1, 2]
        # Disposing of the engine closes it.
        engine.dispose()
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            used[0].execute("SELECT 1")
        with direct_sqlite(engine, wait=False) as writer:
            assert writer._connection is not used[0]
    finally:
        engine.dispose()


def test_direct_writes_to_a_database_in_memory_stay_on_its_one_connection() -> None:
    engine = make_engine("sqlite://")
    try:
        migrate(engine)
        with direct_sqlite(engine, wait=False) as writer:
            writer.execute(text("INSERT INTO reference_counters VALUES ('SB', 2026, 7)"))
        with engine.connect() as connection:
            last = connection.exec_driver_sql("SELECT last FROM reference_counters").scalar()
        assert last == 7
    finally:
        engine.dispose()


def test_a_submission_runs_on_the_event_loop_unless_another_writer_holds_the_lock(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    migrate(engine)
    threads: list[str] = []

    def submission(wait: bool = True) -> int:
        with unit_of_work(engine, wait=wait) as session:
            session.connection().exec_driver_sql("CREATE TABLE IF NOT EXISTS t (x)")
            session.connection().exec_driver_sql("INSERT INTO t VALUES (1)")
        threads.append(threading.current_thread().name)
        return len(threads)

    async def main() -> None:
        loop_thread = threading.current_thread().name
        await run_submission(engine, submission, without_waiting=lambda: submission(False))
        assert threads == [loop_thread]
        # Another process writes: the submission waits its turn in the submission thread.
        other = _holding_the_write_lock(tmp_path / "x.db")
        releaser = threading.Timer(0.2, lambda: (other.rollback(), other.close()))
        releaser.start()
        await run_submission(engine, submission, without_waiting=lambda: submission(False))
        releaser.join()
        assert threads[1] == "samverkan-submissions"

    try:
        _in_thread(main)
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2
    finally:
        engine.dispose()
