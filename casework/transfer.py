"""All of an installation's data as one JSON document: `samverkan export` and `import`.

The document:

    {"format": "samverkan-export", "version": 1, "alembic_revision": "0006_…",
     "tables": {"organisations": [{"id": 1, …}, …], …},
     "files": {"attachments/ab/ab12…": "<base64>", …}}

- `tables` holds every table of the model, in an order where each table comes after the
  tables its foreign keys point to, each table's rows in primary-key order. Times are ISO
  8601 with their zone (UTC), dates ISO 8601, enumerations their stored value, JSON
  columns as they are.
- `files` holds, base64-encoded, the files the rows point to (the attachments of cases
  and of outbox messages), by their path under the data directory. Their names are
  their SHA-256, which the import checks.

An import goes into an empty, migrated database only (no rows in any table: run it before
`samverkan db upgrade` or `serve`, which add the seed data), at the same schema revision
as the export, in one transaction. On PostgreSQL the id sequences are then set past the
imported ids, so new rows get fresh ones. The same document comes out of an export of an
installation made by importing it, so it also moves an installation from SQLite to
PostgreSQL.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, func, select, text
from sqlmodel import SQLModel

from casework import model
from casework.db import READ_ONLY
from casework.files import store_file

FORMAT = "samverkan-export"
VERSION = 1
BATCH_ROWS = 500

Progress = Callable[[str], None]


class TransferError(Exception):
    """The export or import cannot be done; the message says why, for the person running it."""


def tables() -> list[sa.Table]:
    """The model's tables, each after the tables it refers to."""
    return list(SQLModel.metadata.sorted_tables)


def export_data(
    engine: Engine, data_dir: Path, progress: Progress = lambda _line: None
) -> dict[str, Any]:
    """Everything in the database and the files its rows point to, read in one snapshot."""
    document: dict[str, Any] = {"format": FORMAT, "version": VERSION}
    with _snapshot(engine) as connection:
        revision = _revision(connection)
        if revision != _head():
            raise TransferError(
                f"the database is at schema revision {revision or 'none'}, this samverkan "
                f"at {_head()}: run `samverkan db upgrade` first"
            )
        document["alembic_revision"] = revision
        exported: dict[str, list[dict[str, Any]]] = {}
        for table in tables():
            order = [column for column in table.primary_key.columns]
            rows = connection.execute(select(table).order_by(*order)).mappings()
            exported[table.name] = [
                {column.name: _to_json(column, row[column.name]) for column in table.columns}
                for row in rows
            ]
            progress(f"{table.name}: {len(exported[table.name])} rows")
    document["tables"] = exported
    files: dict[str, str] = {}
    for path in sorted(_referenced_files(exported)):
        try:
            files[path] = base64.b64encode((data_dir / path).read_bytes()).decode("ascii")
        except FileNotFoundError:
            progress(f"warning: {path} is referenced but missing from {data_dir}; left out")
    document["files"] = files
    progress(f"files: {len(files)}")
    return document


def import_data(
    engine: Engine,
    document: Any,
    data_dir: Path,
    progress: Progress = lambda _line: None,
) -> dict[str, int]:
    """Load an export into the empty, migrated database at `engine`; rows per table."""
    known = {table.name: table for table in tables()}
    exported = _check_document(document, known)
    files = document.get("files", {})
    if not isinstance(files, dict):
        raise TransferError("the export's 'files' is not an object")
    # The files first: if the transaction fails, an unreferenced file may remain, which
    # is harmless (content-addressed, as when a submission fails).
    for path, encoded in files.items():
        try:
            content = base64.b64decode(encoded, validate=True)
        except (ValueError, TypeError):
            raise TransferError(f"the file {path} in the export is not valid base64") from None
        _digest, stored = store_file(data_dir, content)
        if stored != path:
            raise TransferError(f"the file {path} in the export does not match its SHA-256 name")
    progress(f"files: {len(files)}")
    counts: dict[str, int] = {}
    with engine.begin() as connection:
        revision = _revision(connection)
        if revision != document["alembic_revision"]:
            raise TransferError(
                f"the export is at schema revision {document['alembic_revision']}, the "
                f"database at {revision or 'none'}: import with the same samverkan version"
            )
        for table in tables():
            if connection.execute(select(func.count()).select_from(table)).scalar_one():
                raise TransferError(
                    f"the database is not empty (table {table.name} has rows): import into "
                    "a new database, before `samverkan db upgrade` or `serve` add the seed data"
                )
        for table in tables():
            rows = [_row_from_json(table, row) for row in exported.get(table.name, [])]
            for start in range(0, len(rows), BATCH_ROWS):
                connection.execute(table.insert(), rows[start : start + BATCH_ROWS])
            counts[table.name] = len(rows)
            progress(f"{table.name}: {len(rows)} rows")
        if connection.dialect.name == "postgresql":
            _reset_sequences(connection)
    return counts


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction that sees one state of the whole database."""
    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "REPEATABLE READ"
    with engine.connect() as connection:
        connection.execution_options(**options)
        with connection.begin():
            yield connection


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _head() -> str | None:
    from alembic.script import ScriptDirectory

    from casework.db import alembic_config

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _check_document(document: Any, known: dict[str, sa.Table]) -> dict[str, list[Any]]:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise TransferError(f'not a samverkan export (no "format": "{FORMAT}")')
    if document.get("version") != VERSION:
        raise TransferError(
            f"export format version {document.get('version')!r}; this samverkan reads {VERSION}"
        )
    exported = document.get("tables")
    if not isinstance(exported, dict) or not all(isinstance(v, list) for v in exported.values()):
        raise TransferError("the export's 'tables' is not an object of row lists")
    unknown = sorted(set(exported) - set(known))
    if unknown:
        raise TransferError(f"the export has tables this schema does not: {', '.join(unknown)}")
    return exported


def _to_json(column: sa.Column[Any], value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise TransferError(f"{column.table.name}.{column.name} holds a time without zone")
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _row_from_json(table: sa.Table, row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise TransferError(f"a row of {table.name} is not an object")
    unknown = set(row) - set(table.columns.keys())
    if unknown:
        raise TransferError(f"{table.name} has no column(s) {', '.join(sorted(unknown))}")
    values = {}
    for name, value in row.items():
        column = table.columns[name]
        try:
            values[name] = _from_json(column, value)
        except ValueError as error:
            raise TransferError(f"{table.name}.{name}: {error}") from None
    return values


def _from_json(column: sa.Column[Any], value: Any) -> Any:
    if value is None:
        return None
    kind = column.type
    if isinstance(kind, model.UTCDateTime):
        moment = dt.datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError(f"time {value!r} has no zone")
        return moment
    if isinstance(kind, sa.Date):
        return dt.date.fromisoformat(value)
    if isinstance(kind, sa.Enum) and kind.enum_class is not None:
        return kind.enum_class(value)
    return value


def _referenced_files(exported: dict[str, list[dict[str, Any]]]) -> set[str]:
    paths = {row["storage_path"] for row in exported.get("attachments", [])}
    for row in exported.get("notifications", []):
        for item in row.get("attachments") or []:
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                paths.add(item["path"])
    return paths


def _reset_sequences(connection: Connection) -> None:
    """Set each serial id's sequence so that the next row gets max(id) + 1."""
    for table in tables():
        column = table.autoincrement_column
        if column is None:
            continue
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence(:table, :column), "
                f'coalesce((SELECT max("{column.name}") FROM "{table.name}"), 0) + 1, false)'
            ),
            {"table": f'"{table.name}"', "column": column.name},
        )
