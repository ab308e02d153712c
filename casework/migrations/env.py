"""Alembic environment: migrations run on a connection handed in by `casework.db.migrate`.

Run from code (`casework.db.migrate`), not from an alembic.ini: the application migrates
on start. A URL in the config (`sqlalchemy.url`) is used when no connection is given.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from casework import model
from casework.db import make_engine

config = context.config
target_metadata = model.SQLModel.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    sqlite = connection.dialect.name == "sqlite"
    dbapi = connection.connection.driver_connection if sqlite else None
    if dbapi is not None:
        # A batch migration drops and recreates tables; with foreign keys on, that would
        # cascade or fail. The pragma only takes effect outside a transaction.
        dbapi.execute("PRAGMA foreign_keys=OFF")
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if dbapi is not None:
            dbapi.execute("PRAGMA foreign_keys=ON")


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
