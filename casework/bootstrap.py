"""Start-up: the application migrates its database and seeds the bodies before use."""

from __future__ import annotations

from sqlalchemy import Engine

from casework.db import lock_schema, make_engine, migrate, unit_of_work
from casework.seed import seed


def open_database(url: str | None = None) -> Engine:
    """An engine on a migrated, seeded database (default: the configured one)."""
    engine = make_engine(url)
    migrate(engine)
    with unit_of_work(engine) as session:
        # Processes starting together would otherwise each add the missing seed rows.
        lock_schema(session)
        seed(session)
    return engine
