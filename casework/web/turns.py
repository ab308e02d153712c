"""Submissions taking turns: one thread per database runs them one after another.

Submissions wait for each other in the database anyway (on SQLite for the file's write
lock, on PostgreSQL for the row of the year's reference counter, which a submission's
statement locks while it runs), so a web process runs them through one queue per engine,
first come first served. The thread takes the next submission as soon as one is done,
without going back to the event loop, and is started when a submission arrives and none
is running; it ends after `IDLE_SECONDS` with nothing to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
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
