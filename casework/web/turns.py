"""Submissions taking turns: one thread per database runs them one after another, and
on the event loop itself one per turn of the loop.

Submissions wait for each other in the database anyway (on SQLite for the file's write
lock, on PostgreSQL for the row of the year's reference counter, which a submission's
statement locks while it runs), so a web process runs them through one queue per engine,
first come first served. The thread takes the next submission as soon as one is done,
without going back to the event loop, and is started when a submission arrives and none
is running; it ends after `IDLE_SECONDS` with nothing to do.

`LoopTurns` is the same queue for submissions that run on the event loop (on SQLite,
`deps.run_submission`): one submission per turn of the loop, so that the loop reads the
requests that arrived in between and queues them in the order they came.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine

from casework.db import PerEngine

T = TypeVar("T")

IDLE_SECONDS = 5.0


@dataclass
class _Job(Generic[T]):
    work: Callable[[], T]
    context: contextvars.Context
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[T]

    def run(self) -> None:
        if self.future.cancelled():
            # The request went away before its turn came: it is not stored.
            return
        try:
            result = self.context.run(self.work)
        except BaseException as error:  # handed to the waiting request, whatever it is
            self._settle(_set_exception, error)
        else:
            self._settle(_set_result, result)

    def _settle(self, settle: Callable[[asyncio.Future[Any], Any], None], value: Any) -> None:
        # A closed event loop refuses (RuntimeError): no one is waiting any more.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(settle, self.future, value)


def _set_result(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _set_exception(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


class Turns:
    """One engine's queue of submissions and the thread that works through it."""

    def __init__(self, name: str = "samverkan-submissions") -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[_Job[Any]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = False
        self._pending = 0  # queued or running; changed on the event loop's side only

    @property
    def running(self) -> bool:
        """Whether the thread is running (it ends when idle)."""
        return self._running

    @property
    def busy(self) -> bool:
        """Whether a submission is queued or running here."""
        return self._pending > 0

    async def run(self, work: Callable[[], T]) -> T:
        """Run `work()` in this queue's thread when its turn comes; its result or error.

        If the waiting task is cancelled before the work has started, it does not run;
        once started, it runs to its end (a submission is committed or rolled back
        whole) and its outcome is dropped.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        job = _Job(work, contextvars.copy_context(), loop, future)
        with self._lock:
            self._jobs.put(job)
            self._pending += 1
            if not self._running:
                self._running = True
                threading.Thread(target=self._work, name=self._name, daemon=True).start()
        try:
            return await future
        finally:
            with self._lock:
                self._pending -= 1

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    # A job put after the timeout and before the lock is still taken.
                    if self._jobs.empty():
                        self._running = False
                        return
                continue
            job.run()


_turns = PerEngine(Turns)


def turns_for(engine: Engine) -> Turns:
    """The queue of submissions to `engine` in this process."""
    return _turns(engine)


class LoopTurns:
    """An event loop's queue of submissions that run on the loop itself, one per turn.

    The loop runs, in one turn, every callback and task that was ready when the turn
    began, and only then looks for new data on its sockets. Requests that each ran their
    submission as soon as they were read were therefore served in batches, in the order
    of the batch before: a request whose answer went out last in a batch, whose client
    sent its next one a moment after the loop had looked, was left out of the next batch
    and put last in the one after, again and again. With uvloop, one or two of 50 busy
    connections waited twice as long as the others for every answer (bench/README.md,
    JSON API). One submission per turn lets the loop read the sockets between any two,
    so each waits for those that came before it, and no longer.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._jobs: deque[tuple[Callable[[], Any], contextvars.Context, asyncio.Future[Any]]]
        self._jobs = deque()

    @property
    def busy(self) -> bool:
        """Whether a submission is waiting here for its turn."""
        return bool(self._jobs)

    async def run(self, work: Callable[[], T]) -> T:
        """Run `work()` on the loop when its turn comes; its result or error. If the
        waiting task is cancelled before then, it does not run."""
        future: asyncio.Future[T] = self._loop.create_future()
        if not self._jobs:
            self._loop.call_soon(self._next)
        self._jobs.append((work, contextvars.copy_context(), future))
        return await future

    def _next(self) -> None:
        work, context, future = self._jobs.popleft()
        try:
            if not future.cancelled():
                try:
                    result = context.run(work)
                except Exception as error:  # handed to the waiting request
                    future.set_exception(error)
                else:
                    future.set_result(result)
        finally:
            # After the request it answered: that one is woken first in the next turn.
            if self._jobs:
                self._loop.call_soon(self._next)


_loop_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopTurns] = (
    weakref.WeakKeyDictionary()
)


def loop_turns() -> LoopTurns:
    """The running event loop's queue of submissions."""
    loop = asyncio.get_running_loop()
    turns = _loop_turns.get(loop)
    if turns is None:
        turns = _loop_turns[loop] = LoopTurns(loop)
    return turns
