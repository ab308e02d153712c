"""Rate limits kept in the database, so that every web process counts the same hits.

A limit allows `limit` hits per `window` for each key (an anonymous client's
submissions, the failed sign-ins of one e-mail address from one client address). The
hits are counted in `RateWindow` rows, one per key and fixed window; windows are aligned
to whole multiples of the window's length since the Unix epoch (UTC), so every process
computes the same `window_start` for the same moment.

The count is a sliding approximation over the current and the previous window:

    count(now) = hits(current window)
               + hits(previous window) × (1 − (now − current window's start) / window)

so a client cannot double its allowance by sending a burst on each side of a window's
boundary, as with plain fixed windows, and no list of individual hits is kept. It treats
the previous window's hits as spread evenly over that window.

A hit is one atomic statement, `INSERT … ON CONFLICT (key, window_start) DO UPDATE SET
hits = hits + 1 RETURNING hits, (the previous window's hits)` (the same text on SQLite
and PostgreSQL). On PostgreSQL
it locks the key's current row until the transaction ends; on SQLite the transaction
holds the write lock from BEGIN IMMEDIATE. Either way concurrent hits on one key from any
number of processes are counted one after the other, never lost.

`take` counts a hit only when the count including it stays within the limit, in the
same one statement (`INSERT … SELECT … WHERE <within the limit> ON CONFLICT … DO UPDATE …
WHERE <within the limit> RETURNING hits`), and raises `RateLimited` when nothing came
back: a refused attempt is never written. In the caller's unit of work, a failed
submission does not count either; it may also run on its own, in autocommit (a
submission stored by one statement on PostgreSQL takes its hit that way, just before).

Keys are stored as a hash (`RateLimit.key`): the table holds no e-mail or IP addresses.
Rows of windows that ended more than `RETENTION` ago are never read again; `prune`
deletes them, and a hit that opens a key's new window prunes now and then (about one
such hit in `PRUNE_ONE_IN`), so the table stays small without a schedule of its own.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from casework.db import Executor
from casework.lifecycle import CaseworkError
from casework.model import UTCDateTime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Rows older than this are pruned; every limit's window must be at most half of it, so
# that its previous window is always kept.
RETENTION = timedelta(hours=1)
PRUNE_ONE_IN = 20

# One round trip: the key's hits in the current window after this one, and in the previous
# window (NULL when none). Both databases accept a scalar subquery in RETURNING.
_HIT = sa.text(
    "INSERT INTO rate_windows (key, window_start, hits) VALUES (:key, :start, 1) "
    "ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_windows.hits + 1 "
    "RETURNING hits, (SELECT earlier.hits FROM rate_windows AS earlier "
    "WHERE earlier.key = :key AND earlier.window_start = :previous)"
).bindparams(
    sa.bindparam("start", type_=UTCDateTime()), sa.bindparam("previous", type_=UTCDateTime())
)
# `_HIT` if the count including the hit stays within the limit, else nothing: the hits
# after it, or no row. The same sum as `hit` (the current window's hits, then the previous
# window's times the weight), in floating point on both databases.
_TAKE = sa.text(
    "INSERT INTO rate_windows (key, window_start, hits) "
    "SELECT :key, :start, 1 WHERE 1 + coalesce((SELECT earlier.hits FROM rate_windows AS "
    "earlier WHERE earlier.key = :key AND earlier.window_start = :previous), 0) * :weight "
    "<= :limit "
    "ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_windows.hits + 1 "
    "WHERE rate_windows.hits + 1 + coalesce((SELECT earlier.hits FROM rate_windows AS "
    "earlier WHERE earlier.key = :key AND earlier.window_start = :previous), 0) * :weight "
    "<= :limit "
    "RETURNING hits"
).bindparams(
    sa.bindparam("start", type_=UTCDateTime()),
    sa.bindparam("previous", type_=UTCDateTime()),
    # Typed, so that PostgreSQL sees one type for each (the key is compared with a column
    # and also selected).
    sa.bindparam("key", type_=sa.String()),
    sa.bindparam("weight", type_=sa.Float()),
    sa.bindparam("limit", type_=sa.Integer()),
)
_HITS = (
    sa.text(
        "SELECT window_start, hits FROM rate_windows "
        "WHERE key = :key AND window_start IN (:previous, :current)"
    )
    .bindparams(
        sa.bindparam("previous", type_=UTCDateTime()),
        sa.bindparam("current", type_=UTCDateTime()),
    )
    .columns(sa.column("window_start", UTCDateTime()), sa.column("hits", sa.Integer()))
)
_FORGET = sa.text("DELETE FROM rate_windows WHERE key = :key")
_PRUNE = sa.text("DELETE FROM rate_windows WHERE window_start < :cutoff").bindparams(
    sa.bindparam("cutoff", type_=UTCDateTime())
)


class RateLimited(CaseworkError):
    """Too many hits for one key; `retry_after` is a number of seconds to wait."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("För många försök på kort tid. Vänta en stund och försök igen.")
        self.retry_after = retry_after


@dataclass(frozen=True)
class RateLimit:
    """At most `limit` hits per `window` for each key of `scope` (sliding approximation)."""

    scope: str
    limit: int
    window: timedelta

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"a rate limit allows at least one hit, not {self.limit}")
        if not timedelta(seconds=1) <= self.window <= RETENTION / 2:
            raise ValueError(f"a rate window is from 1 s to {RETENTION / 2}, not {self.window}")

    @property
    def retry_after(self) -> int:
        """The seconds a refused caller is told to wait: one window."""
        return math.ceil(self.window.total_seconds())

    def key(self, *parts: str) -> str:
        """The stored key for `parts` (e.g. a client address): the scope and a hash."""
        digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
        return f"{self.scope}:{digest}"

    def window_start(self, now: datetime) -> datetime:
        """The start of the fixed window `now` falls in."""
        size = self.window // timedelta(microseconds=1)
        elapsed = (now - EPOCH) // timedelta(microseconds=1)
        return EPOCH + timedelta(microseconds=elapsed - elapsed % size)

    def _weight(self, now: datetime, start: datetime) -> float:
        """The share of the previous window still inside the sliding window at `now`."""
        return 1 - (now - start) / self.window


@dataclass(frozen=True)
class Quota:
    """One key's allowance under a limit, to take inside the caller's unit of work."""

    rate: RateLimit
    key: str

    def take(self, session: Executor, now: datetime) -> None:
        take(session, self.rate, self.key, now)


def hit(session: Session, rate: RateLimit, key: str, now: datetime) -> float:
    """Count one hit for `key` at `now`; the count including it (see the module)."""
    start = rate.window_start(now)
    current, previous = session.execute(
        _HIT, {"key": key, "start": start, "previous": start - rate.window}
    ).one()
    if current == 1 and random.randrange(PRUNE_ONE_IN) == 0:
        prune(session, now)
    return int(current) + int(previous or 0) * rate._weight(now, start)


def take(session: Executor, rate: RateLimit, key: str, now: datetime) -> None:
    """Count one hit for `key`, or raise `RateLimited` if it would exceed the limit.

    One statement (`_TAKE`) that writes the hit only if it is allowed: a refused hit is
    never written, so it needs no rollback, and it may run in a transaction of its own
    (autocommit) as well as in the caller's.
    """
    start = rate.window_start(now)
    taken = session.execute(
        _TAKE,
        {
            "key": key,
            "start": start,
            "previous": start - rate.window,
            "weight": rate._weight(now, start),
            "limit": rate.limit,
        },
    ).scalar()
    if taken is None:
        raise RateLimited(rate.retry_after)
    if taken == 1 and random.randrange(PRUNE_ONE_IN) == 0:
        prune(session, now)


def count(session: Session, rate: RateLimit, key: str, now: datetime) -> float:
    """The hits counted for `key` at `now`, without adding one (a read)."""
    start = rate.window_start(now)
    rows = session.execute(
        _HITS, {"key": key, "previous": start - rate.window, "current": start}
    ).all()
    total = 0.0
    for window_start, hits in rows:
        total += hits if window_start == start else hits * rate._weight(now, start)
    return total


def forget(session: Session, key: str) -> None:
    """Delete every window of `key` (a sign-in that succeeded clears its failures)."""
    session.execute(_FORGET, {"key": key})


def prune(session: Executor, now: datetime) -> int:
    """Delete the windows that started more than `RETENTION` ago; how many were deleted."""
    result = session.execute(_PRUNE, {"cutoff": now - RETENTION})
    return int(getattr(result, "rowcount", 0) or 0)
