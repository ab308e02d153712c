"""Database engines, migrations and the unit of work.

SQLite is the default and must cope with several writers (web requests, flows): every
connection runs in WAL mode with a busy timeout and foreign keys on, and every
transaction starts with BEGIN IMMEDIATE, so a read-then-write transaction takes the
write lock up front instead of failing with "database is locked" when it tries to
upgrade. Only a unit of work declared read-only (`unit_of_work(engine, write=False)`)
starts with a plain, deferred BEGIN: in WAL mode it reads a snapshot without taking the
write lock. Within one process, the writing units of work on a SQLite engine queue on a
lock of their own before BEGIN IMMEDIATE, instead of napping in SQLite's busy handler.
A short, busy write (a submission) may run on the sqlite3 connection itself, in the same
turn and the same kind of transaction (`direct_sqlite`). PostgreSQL is used through
psycopg 3.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlmodel import Session

log = logging.getLogger("samverkan.db")

SQLITE_BUSY_TIMEOUT_MS = 5000
# A writing connection copies the WAL back into the database file (a checkpoint) once the
# WAL holds this many pages (4 KiB each), inside the commit that crossed the line. The web
# server checkpoints in a thread of its own (`WalCheckpointer`) well before that, so its
# writers seldom do; a process without one (the CLI, a flow) does it at 16 MiB.
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 4000
# Up to 40 connections: one for each thread of the web server's thread pool (16 by
# default, see Settings.worker_threads; AnyIO's own default is 40), so none waits for one.
POOL_SIZE = 10
POOL_MAX_OVERFLOW = 30
# A pooled PostgreSQL connection idle for longer than this is checked with a round trip
# before it is handed out. One used more recently is trusted, as PgBouncer trusts its
# server connections (server_check_delay): checking every one cost a submission 7–8 % of
# its time. If the server dropped it meanwhile, the request using it fails, and SQLAlchemy
# then replaces the pool's connections.
POSTGRES_PING_AFTER_IDLE_SECONDS = 10.0
_IDLE_SINCE = "samverkan_idle_since"
# An execution option: the transaction only reads, so SQLite may begin it deferred.
READ_ONLY = "samverkan_read_only"
# An execution option: a writing transaction that gives up at once if the write lock is
# taken (`WriteLockBusy`) instead of waiting for it.
NO_WAIT = "samverkan_no_wait"


T = TypeVar("T")


class PerEngine(Generic[T]):
    """One `factory()` per engine, made on its first use and gone with the engine."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._made: weakref.WeakKeyDictionary[Engine, T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, engine: Engine) -> T:
        made = self._made.get(engine)
        if made is None:
            with self._lock:
                made = self._made.get(engine)
                if made is None:
                    made = self._made[engine] = self._factory()
        return made


class WriteLockBusy(Exception):
    """The database's write lock is taken, and the unit of work was told not to wait for
    it (`unit_of_work(…, wait=False)`); nothing was written."""


class FairLock:
    """A reentrant lock handed to its waiters in the order they asked for it.

    `threading.RLock` lets whichever thread wins the race take it: under load some
    writers win again and again while others wait for seconds. Here a release hands the
    lock straight to the longest waiter, so a writer waits for the writers ahead of it and
    no more.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[tuple[int, threading.Lock]] = deque()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self, timeout: float = -1) -> bool:
        me = threading.get_ident()
        with self._mutex:
            if self._owner is None and not self._waiters:
                self._owner, self._depth = me, 1
                return True
            if self._owner == me:
                self._depth += 1
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append((me, turn))
        if turn.acquire(timeout=timeout):
            return True  # the releasing thread made this one the owner
        with self._mutex:
            if (me, turn) in self._waiters:
                self._waiters.remove((me, turn))
                return False
        return True  # handed over between the timeout and the check

    def release(self) -> None:
        with self._mutex:
            if self._owner != threading.get_ident():
                raise RuntimeError("cannot release a lock this thread does not hold")
            self._depth -= 1
            if self._depth:
                return
            if self._waiters:
                self._owner, turn = self._waiters.popleft()
                self._depth = 1
                turn.release()
            else:
                self._owner = None


# One lock per SQLite engine, held by each writing unit of work for its whole transaction.
_sqlite_write_locks: weakref.WeakKeyDictionary[Engine, FairLock] = weakref.WeakKeyDictionary()
# Each SQLite engine's `synchronous` setting (NORMAL or FULL).
_sqlite_synchronous: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()
# The running `WalCheckpointer`s of each SQLite engine (one per web application on it),
# told of every commit (`_committed`).
_checkpointers: weakref.WeakKeyDictionary[Engine, set[WalCheckpointer]] = (
    weakref.WeakKeyDictionary()
)
# PostgreSQL advisory lock (first key; the second is the schema's hash) held while the
# schema is migrated and seeded, so that processes starting together take turns.
SCHEMA_LOCK_KEY = 0x5A3B_E4A1


def normalise_url(url: str | URL) -> URL:
    """Parse a database URL; plain `postgresql://` and `postgres://` mean psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(
    url: str | URL | None = None, *, echo: bool = False, sqlite_synchronous: str | None = None
) -> Engine:
    """An engine for `url` (default: the configured database), set up for concurrent use.

    `sqlite_synchronous` ("normal" or "full") defaults to the configured one.
    """
    if url is None or (sqlite_synchronous is None and _is_sqlite(url)):
        from casework.settings import get_settings

        settings = get_settings()
        url = settings.database_url if url is None else url
        sqlite_synchronous = sqlite_synchronous or settings.sqlite_synchronous
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo=echo, synchronous=sqlite_synchronous or "normal")
    return _postgres_engine(parsed, echo=echo)


# psycopg parses a statement's %(name)s placeholders once and keeps the result, but only
# for statements of at most 4 096 characters and 50 parameters; a longer one is parsed
# again at every execution. A submission stored in one statement (`one_statement`) has
# about 5 800 characters and 69 parameters: parsing it cost 0.2 ms of CPU a submission,
# a seventh of the whole request. These are psycopg's module constants, read at each
# execution (psycopg 3.2, 3.3); the test suite checks that they still exist.
PSYCOPG_CACHED_STATEMENT_LENGTH = 16_384
PSYCOPG_CACHED_STATEMENT_PARAMS = 200


def _cache_long_statements() -> None:
    from psycopg import _queries

    _queries.MAX_CACHED_STATEMENT_LENGTH = max(
        _queries.MAX_CACHED_STATEMENT_LENGTH, PSYCOPG_CACHED_STATEMENT_LENGTH
    )
    _queries.MAX_CACHED_STATEMENT_PARAMS = max(
        _queries.MAX_CACHED_STATEMENT_PARAMS, PSYCOPG_CACHED_STATEMENT_PARAMS
    )


def _postgres_engine(url: URL, *, echo: bool) -> Engine:
    if url.get_driver_name() == "psycopg":
        _cache_long_statements()
    engine = create_engine(url, echo=echo, pool_size=POOL_SIZE, max_overflow=POOL_MAX_OVERFLOW)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is None or time.monotonic() - idle_since < POSTGRES_PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool throws the connection away and hands out another one.
            raise exc.DisconnectionError(f"an idle connection was closed: {error}") from error

    return engine


def _is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_engine(url: URL, *, echo: bool, synchronous: str) -> Engine:
    if synchronous.upper() not in ("NORMAL", "FULL"):
        raise ValueError(f"sqlite_synchronous must be normal or full, not {synchronous!r}")
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    memory = url.database in (None, "", ":memory:")
    # The pool hands out the connection returned last (LIFO), not the one idle longest: a
    # connection's page cache holds only while no other connection has written since its
    # last transaction, so writers one after another (the web server's submissions) keep
    # reusing one warm cache instead of each reading its pages again.
    pool_args = (
        {}
        if memory
        else {"pool_size": POOL_SIZE, "max_overflow": POOL_MAX_OVERFLOW, "pool_use_lifo": True}
    )
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        **pool_args,
    )
    _sqlite_write_locks[engine] = FairLock()
    event.listen(engine, "engine_disposed", _drop_own_writer)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Stop pysqlite from issuing its own (deferred) BEGIN; `_on_begin` issues ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            # NORMAL: a commit is durable against a crash of the application but may be
            # undone by a power cut or an OS crash before the next checkpoint; the
            # database stays consistent either way. FULL also waits for fsync on commit.
            cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            _begin_immediate(
                connection.connection.driver_connection, no_wait=bool(options.get(NO_WAIT))
            )

    @event.listens_for(engine, "commit")
    def _on_commit(_connection: Any) -> None:
        _committed(engine)

    _sqlite_synchronous[engine] = synchronous.upper()

    return engine


def alembic_config() -> Config:
    """Alembic configured in code: the migrations ship inside the casework package."""
    config = Config()
    config.set_main_option("script_location", "casework:migrations")
    return config


def migrate(engine_or_url: Engine | str | URL | None = None, *, revision: str = "head") -> None:
    """Bring the database schema up to `revision` (the application runs this on start)."""
    own_engine = not isinstance(engine_or_url, Engine)
    engine = engine_or_url if isinstance(engine_or_url, Engine) else make_engine(engine_or_url)
    try:
        config = alembic_config()
        with _sqlite_migration_lock(engine), engine.connect() as connection:
            # On PostgreSQL the whole upgrade runs in one transaction holding the lock:
            # a process that waited for it finds the schema at head and does nothing.
            lock_schema(connection)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
    finally:
        if own_engine:
            engine.dispose()


def lock_schema(connection: Connection | Session) -> None:
    """On PostgreSQL, wait for the schema's advisory lock, held until the transaction ends.

    Migrations and seeding take it, so processes that start at the same time (several web
    processes, workers, `samverkan db upgrade`) take turns. A lock per schema: installations
    in different schemas of one database do not wait for each other. On SQLite a writing
    transaction holds the file's write lock from its start (BEGIN IMMEDIATE) instead.
    """
    bind = connection.get_bind() if isinstance(connection, Session) else connection
    if bind.dialect.name != "postgresql":
        return
    connection.execute(
        text("SELECT pg_advisory_xact_lock(:key, hashtext(coalesce(current_schema(), '')))"),
        {"key": SCHEMA_LOCK_KEY},
    )


def sqlite_file(engine: Engine) -> str | None:
    """The path of `engine`'s SQLite database file; None for another database, an
    in-memory one or a `file:` URI."""
    database = engine.url.database
    if (
        engine.dialect.name != "sqlite"
        or not database
        or database == ":memory:"
        or database.startswith("file:")
    ):
        return None
    return database


@contextmanager
def _sqlite_migration_lock(engine: Engine) -> Iterator[None]:
    """On a SQLite file, an exclusive lock on `<file>.migrate-lock` for the migration.

    Alembic commits each SQLite migration step on its own, so two processes could both
    find a step missing; the lock file makes them take turns (the second one waits, then
    finds nothing to do). An in-memory database is private to its process.
    """
    database = sqlite_file(engine)
    if database is None:
        yield
        return
    import fcntl

    with open(f"{database}.migrate-lock", "a") as lock_file:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)


def _read_only(engine: Engine) -> Engine:
    """The engine with the read-only option on its connections (same pool, same events).

    Made per unit of work: a cached one would keep its engine, and its pool, alive.
    """
    return engine.execution_options(**{READ_ONLY: True})


def writes_without_waiting(engine: Engine) -> bool:
    """Whether a short write to `engine` may run where waiting is not allowed (on the web
    server's event loop): a SQLite file with `synchronous=NORMAL`, whose commit writes the
    WAL without an `fsync` (the WAL is synced at checkpoints, which `WalCheckpointer` runs
    in a thread of its own), and whose `unit_of_work(…, wait=False)` gives up at once when
    another writer holds the lock. Not PostgreSQL: every statement is a round trip."""
    return _sqlite_synchronous.get(engine) == "NORMAL" and sqlite_file(engine) is not None


@contextmanager
def unit_of_work(engine: Engine, *, write: bool = True, wait: bool = True) -> Iterator[Session]:
    """One transaction: commit once when the block ends, roll back on any exception.

    Objects stay readable after the commit (expire_on_commit=False), so a use case can
    return what it stored. With `write=False` the block promises to only read: on SQLite
    the transaction then begins deferred and does not take the write lock (a write in it
    may fail with "database is locked"). A writing unit of work on SQLite first waits for
    the engine's in-process write lock (at most the busy timeout, then it goes on and
    lets SQLite's busy handler decide), so this process's writers queue in turn, first come
    first served.

    With `wait=False` (SQLite, writing) the unit of work does not wait for the write lock:
    if this process's lock or the database's is taken, `WriteLockBusy` is raised before
    anything is written.
    """
    with _writer_turn(engine, write=write, wait=wait) as no_wait:
        if not write:
            bind = _read_only(engine)
        elif no_wait:
            bind = engine.execution_options(**{NO_WAIT: True})
        else:
            bind = engine
        with Session(bind, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise


@contextmanager
def _writer_turn(engine: Engine, *, write: bool, wait: bool) -> Iterator[bool]:
    """A writer's turn at the engine's in-process SQLite write lock, for the block; yields
    whether the writer must not wait for the database's lock either. Nothing to take on
    another database or for a reader."""
    lock = _sqlite_write_locks.get(engine) if write else None
    no_wait = lock is not None and not wait
    if no_wait:
        assert lock is not None
        if not lock.acquire(timeout=0):
            raise WriteLockBusy("another writer in this process holds the write lock")
        locked = True
    else:
        locked = lock is not None and lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        yield no_wait
    finally:
        if locked:
            assert lock is not None
            lock.release()


# --- SQLite writes on the sqlite3 connection itself -------------------------------------------


class Rows:
    """What a `DirectSQLite` statement returned, read the way SQLAlchemy's results are."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int = -1) -> None:
        self._rows = rows
        self.rowcount = rowcount  # the rows an INSERT, UPDATE or DELETE changed

    def all(self) -> list[tuple[Any, ...]]:
        return list(self._rows)

    def first(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def one_or_none(self) -> tuple[Any, ...] | None:
        if len(self._rows) > 1:
            raise exc.MultipleResultsFound("more than one row where at most one was expected")
        return self.first()

    def one(self) -> tuple[Any, ...]:
        row = self.one_or_none()
        if row is None:
            raise exc.NoResultFound("no row where one was expected")
        return row

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar(self) -> Any:
        """The first row's first value; None without a row."""
        row = self.first()
        return None if row is None else row[0]

    def scalars(self) -> list[Any]:
        return [row[0] for row in self._rows]


@dataclass(frozen=True)
class _Prepared:
    """A statement compiled for SQLite: its SQL, and per `?` in it the parameter's name
    and the bind processor of its type (None when the value goes in as it is)."""

    sql: str
    slots: tuple[tuple[str, Callable[[Any], Any] | None], ...]

    def values(self, parameters: Mapping[str, Any]) -> tuple[Any, ...]:
        try:
            return tuple(
                parameters[name] if process is None else process(parameters[name])
                for name, process in self.slots
            )
        except KeyError as missing:
            raise exc.ArgumentError(f"no value for the parameter {missing}") from None


def _prepare(dialect: Dialect, statement: Executable, names: Iterable[str]) -> _Prepared:
    """`statement` compiled for `dialect` with the parameters `names` (an INSERT's columns).

    Refused with TypeError: what the execution of a compiled statement would add to it
    (defaults computed in Python, expanding IN lists, parameters with values of their own).
    """
    assert isinstance(statement, ClauseElement)
    compiled = statement.compile(dialect=dialect, column_keys=list(names))
    assert isinstance(compiled, SQLCompiler)
    if compiled.insert_prefetch or compiled.update_prefetch:
        raise TypeError("a statement whose defaults are computed in Python: give every column")
    if compiled.positiontup is None or compiled.escaped_bind_names:
        raise TypeError("a statement whose parameters are not plain positional ones")
    slots = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        own_value = bind.callable is not None or not (bind.required or bind.value is None)
        if bind.expanding or own_value:
            raise TypeError(f"the parameter {name!r} is expanding or has a value of its own")
        slots.append((name, bind.type.dialect_impl(dialect).bind_processor(dialect)))
    return _Prepared(compiled.string, tuple(slots))


# Per engine: (id of the statement, its parameters' names) -> (the statement, _Prepared).
# The statement is kept so that its id cannot be reused while the entry exists.
_prepared = PerEngine(dict[tuple[int, frozenset[str]], tuple[Executable, _Prepared]])


class DirectSQLite:
    """A writing transaction on a SQLite engine's sqlite3 connection itself (`direct_sqlite`).

    `execute` runs Core statements as SQLAlchemy would, compiled by SQLAlchemy with the
    engine's dialect (once per statement and set of parameter names) and their values
    converted by the bind processors of their types, but without the machinery around each
    execution (events, execution contexts, result objects) or an ORM session: a
    submission takes a third less CPU this way than in a unit of work (bench/README.md,
    JSON API, 29).

    Statements must not need more than that (see `_prepare`); errors come as
    SQLAlchemy's (`IntegrityError`, `OperationalError` …), and results as `Rows`.
    """

    def __init__(self, engine: Engine, connection: sqlite3.Connection) -> None:
        self._dialect = engine.dialect
        self._prepared = _prepared(engine)
        self._connection = connection

    def execute(self, statement: Executable, parameters: Mapping[str, Any] | None = None) -> Rows:
        parameters = parameters or {}
        key = (id(statement), frozenset(parameters))
        entry = self._prepared.get(key)
        if entry is None:
            entry = self._prepared[key] = (
                statement,
                _prepare(self._dialect, statement, parameters),
            )
        prepared = entry[1]
        try:
            cursor = self._connection.execute(prepared.sql, prepared.values(parameters))
            return Rows(cursor.fetchall(), cursor.rowcount)
        except sqlite3.Error as error:
            raise _sqlalchemy_error(prepared.sql, parameters, error) from error


Executor = Session | Connection | DirectSQLite


def connection_of(on: Executor) -> Connection | DirectSQLite:
    """Where Core statements of `on` run: a session's connection (its transaction begun), or
    `on` itself."""
    return on.connection() if isinstance(on, Session) else on


def writes_directly(engine: Engine) -> bool:
    """Whether `direct_sqlite` may write to `engine`: a SQLite engine of `make_engine`."""
    return engine in _sqlite_write_locks


@contextmanager
def direct_sqlite(engine: Engine, *, wait: bool = True) -> Iterator[DirectSQLite]:
    """A writing transaction on a SQLite engine (`writes_directly`) run on a sqlite3
    connection itself (`DirectSQLite`): in turn with this process's other writers and
    begun with BEGIN IMMEDIATE, as `unit_of_work` does, committed when the block ends and
    rolled back on any exception. `wait=False` as with `unit_of_work`.

    With `wait=False` on a database file the transaction runs on the engine's own writer
    connection (`_own_writer`), else on a pooled one."""
    if not writes_directly(engine):
        raise ValueError("direct_sqlite needs a SQLite engine made by make_engine")
    with _writer_turn(engine, write=True, wait=wait) as no_wait:
        own = no_wait and sqlite_file(engine) is not None
        pooled = None if own else engine.raw_connection()
        try:
            if pooled is None:
                connection = _own_writer(engine)
                _begin_at_once(connection)
            else:
                connection = _sqlite3_of(pooled)
                _begin_immediate(connection, no_wait=no_wait)
            try:
                yield DirectSQLite(engine, connection)
                _run(connection, "COMMIT")
            except BaseException:
                # A ROLLBACK if the transaction is open; should it fail, the connection is
                # thrown away (a pooled one by the pool's own rollback at check-in).
                try:
                    connection.rollback()
                except sqlite3.Error:
                    if pooled is None:
                        _drop_own_writer(engine)
                raise
        finally:
            if pooled is not None:
                pooled.close()
    _committed(engine)


# Per engine: the process that opened its own writer connection, and the connection.
_own_writers: weakref.WeakKeyDictionary[Engine, tuple[int, sqlite3.Connection]] = (
    weakref.WeakKeyDictionary()
)


def _own_writer(engine: Engine) -> sqlite3.Connection:
    """The engine's own connection for writes that do not wait (`direct_sqlite(…,
    wait=False)`), opened by its pool on first use and then kept out of it; used only by
    the holder of the in-process write lock, so by one writer at a time.

    Its busy timeout is 0: a transaction on it begins with BEGIN IMMEDIATE, which fails at
    once if another process's writer holds the lock, and once it has begun nothing in it
    waits for another connection (in WAL mode a commit does not wait for readers). The
    pool's connections keep their busy timeout. Taking a pooled connection, setting the
    timeout to 0 for the BEGIN and back, and returning the connection took about 8 % of a
    submission's CPU (bench/README.md, JSON API, 38)."""
    held = _own_writers.get(engine)
    if held is not None and held[0] == os.getpid():
        return held[1]
    pooled = engine.raw_connection()
    connection = _sqlite3_of(pooled)
    pooled.detach()
    connection.execute("PRAGMA busy_timeout=0")
    _own_writers[engine] = (os.getpid(), connection)
    return connection


def _sqlite3_of(pooled: PoolProxiedConnection) -> sqlite3.Connection:
    """The sqlite3 connection under a pooled one."""
    connection = pooled.driver_connection
    assert isinstance(connection, sqlite3.Connection)
    return connection


def _drop_own_writer(engine: Engine) -> None:
    """Close the engine's own writer connection (when the engine is disposed, or after a
    failed rollback); the next write that does not wait opens another. One inherited from
    the parent of a forked process is left to the parent."""
    held = _own_writers.pop(engine, None)
    if held is not None and held[0] == os.getpid():
        with contextlib.suppress(sqlite3.Error):
            held[1].close()


def _begin_at_once(connection: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE on a connection without a busy timeout: `WriteLockBusy` if another
    process's writer holds the lock."""
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode != sqlite3.SQLITE_BUSY:
            raise _sqlalchemy_error("BEGIN IMMEDIATE", {}, error) from error
        raise WriteLockBusy(str(error)) from error


def _committed(engine: Engine) -> None:
    """Tell the engine's running checkpointers that a transaction was committed: through
    SQLAlchemy (its `commit` event) or on the sqlite3 connection (`direct_sqlite`)."""
    for checkpointer in tuple(_checkpointers.get(engine, ())):
        checkpointer.written()


def _run(connection: sqlite3.Connection, sql: str) -> None:
    try:
        connection.execute(sql)
    except sqlite3.Error as error:
        raise _sqlalchemy_error(sql, {}, error) from error


def _begin_immediate(connection: sqlite3.Connection, *, no_wait: bool) -> None:
    """BEGIN IMMEDIATE; with `no_wait`, without SQLite's busy handler for this BEGIN alone:
    another process's writer makes it fail at once (`WriteLockBusy`) instead of after up to
    the busy timeout."""
    if not no_wait:
        _run(connection, "BEGIN IMMEDIATE")
        return
    connection.execute("PRAGMA busy_timeout=0")
    try:
        _begin_at_once(connection)
    finally:
        connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def _sqlalchemy_error(sql: str, parameters: Mapping[str, Any], error: sqlite3.Error) -> Exception:
    """The SQLAlchemy exception SQLAlchemy raises for `error` (IntegrityError …)."""
    return exc.DBAPIError.instance(sql, dict(parameters), error, sqlite3.Error)


class WalCheckpointer:
    """Copies a SQLite database's WAL back into the file in a thread of its own.

    Without it, the writer whose commit takes the WAL past its limit does that copy, and
    the writers queued behind it wait: about 90 µs a submission on average, in pauses of
    several milliseconds. This thread runs a PASSIVE checkpoint (which waits for no reader
    or writer) shortly after commits, with its own connection; SQLite releases the
    interpreter's lock meanwhile, so it runs beside the web server's threads.
    `last` is what its latest checkpoint found: (pages in the WAL, pages of them in the
    database file). It hears of the commits on a SQLite file's engine of `make_engine`; for
    any other engine it does nothing.
    """

    def __init__(self, engine: Engine, *, interval: float = 0.05) -> None:
        self._path = sqlite_file(engine)
        self._engine = engine
        self._interval = interval
        self._written = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: tuple[int, int] | None = None

    def written(self) -> None:
        """A transaction was committed on the engine (`_committed` tells it so)."""
        self._written.set()

    def start(self) -> None:
        if self._path is None or self._thread is not None:
            return
        _checkpointers.setdefault(self._engine, set()).add(self)
        self._thread = threading.Thread(
            target=self._run, name="samverkan-wal-checkpoint", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after one last checkpoint."""
        if self._thread is None:
            return
        _checkpointers.get(self._engine, set()).discard(self)
        self._stop.set()
        self._written.set()
        self._thread.join(10)
        self._thread = None

    def _run(self) -> None:
        assert self._path is not None
        connection = sqlite3.connect(
            self._path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None
        )
        try:
            while not self._stop.is_set():
                self._written.wait()
                # Let a few more commits come: one checkpoint copies them all.
                self._stop.wait(self._interval)
                self._written.clear()
                self._checkpoint(connection)
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            _busy, pages, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as error:
            # The writers still checkpoint at their own limit: nothing is lost.
            log.warning("WAL checkpoint failed: %s", error)
            return
        self.last = (pages, copied)
