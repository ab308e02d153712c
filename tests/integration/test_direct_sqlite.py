"""SQLite transactions on the sqlite3 connection itself (`casework.db.direct_sqlite`), and
the submissions written that way."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, MultipleResultsFound, NoResultFound, OperationalError
from test_one_statement import (
    AUDIT_ROWS,
    CASE_ROWS,
    NOW,
    RECEIPT_ROWS,
    TOKEN,
    rows,
    submit,
)

from casework import db, rate_limits, repository, services
from casework.db import (
    DirectSQLite,
    Rows,
    WalCheckpointer,
    direct_sqlite,
    make_engine,
    migrate,
    unit_of_work,
    writes_directly,
)
from casework.model import AuditEvent, Case, IdempotencyRecord
from casework.rate_limits import RateLimit, RateLimited
from casework.seed import seed
from casework.services import Upload

AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]


@pytest.fixture
def seeded_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated and seeded SQLite file (here in place of conftest's, which is also
    PostgreSQL); `statements` records what SQLAlchemy sends through it."""
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    migrate(engine)
    with unit_of_work(engine) as session:
        seed(session)
    yield engine
    engine.dispose()


def audit_row(**changes: Any) -> dict[str, Any]:
    return {
        "case_id": None,
        "actor": "anna.andersson",
        "action": "test",
        "at": NOW,
        "before": None,
        "after": {"title": "Ärende", "groups": ["aldre"]},
        "note": "",
        **changes,
    }


def test_a_submission_is_written_directly_and_stores_what_a_unit_of_work_stores(
    seeded_engine: Engine, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services.secrets, "token_urlsafe", lambda _n: TOKEN)
    # In a unit of work, then the same submission written directly after undoing it.
    monkeypatch.setattr(services, "writes_directly", lambda _engine: False)
    ordinary = submit(seeded_engine, "Trygg utskrivning").case
    expected = [rows(seeded_engine, q)[-1] for q in (CASE_ROWS, AUDIT_ROWS, RECEIPT_ROWS)]
    assert statements, "the unit of work sends its statements through SQLAlchemy"
    with seeded_engine.begin() as connection:
        undo = {"notifications": "case_id", "audit_events": "case_id", "cases": "id"}
        for table, column in undo.items():
            connection.execute(text(f"DELETE FROM {table} WHERE {column} = :i"), {"i": ordinary.id})
        connection.execute(text("UPDATE reference_counters SET last = last - 1"))
    monkeypatch.setattr(services, "writes_directly", db.writes_directly)

    statements.clear()
    case = submit(seeded_engine, "Trygg utskrivning").case
    assert statements == [], "written on the sqlite3 connection, not through SQLAlchemy"
    stored = [rows(seeded_engine, q)[-1] for q in (CASE_ROWS, AUDIT_ROWS, RECEIPT_ROWS)]
    # Column for column, in the database's own form, what the unit of work stored (SQLite
    # gives the deleted rows' ids again).
    assert case.id == ordinary.id and case.reference == ordinary.reference == "SB-2026-0001"
    expected[2]["created_at"] = stored[2]["created_at"]  # the clock's, not the submission's
    assert stored == expected
    # And the case it returns is the one stored.
    with unit_of_work(seeded_engine, write=False) as session:
        loaded = session.get(Case, case.id)
        assert loaded is not None and loaded.model_dump() == case.model_dump()


def test_a_submission_with_documents_is_written_in_a_unit_of_work(
    seeded_engine: Engine, statements: list[str], tmp_path: Path
) -> None:
    pdf = Upload("underlag.pdf", "application/pdf", b"%PDF-1.4 underlag")
    case = submit(seeded_engine, attachments=[pdf], data_dir=tmp_path).case
    assert any(s.startswith("INSERT INTO attachments") for s in statements)
    assert case.reference == "SB-2026-0001"


def test_a_failed_submission_leaves_nothing_and_its_number_free(seeded_engine: Engine) -> None:
    first = submit(seeded_engine, idempotency_key="k", request_hash="a").case
    # The same key stored meanwhile by another process: the INSERT of the key fails after
    # the case, its audit event and the counter were written; all of it is undone.
    with pytest.raises(IntegrityError), direct_sqlite(seeded_engine) as writer:
        repository.next_reference_number(writer, prefix="SB", year=2026)
        repository.add_audit_event(writer, **audit_row(case_id=first.id))
        repository.add_idempotency_record(
            writer,
            record=IdempotencyRecord(
                key="k", request_hash="b", case_id=first.id, access_token="x", created_at=NOW
            ),
        )
    assert rows(seeded_engine, "SELECT last FROM reference_counters") == [{"last": 1}]
    assert len(rows(seeded_engine, "SELECT id FROM audit_events")) == 1
    assert submit(seeded_engine).case.reference == "SB-2026-0002"


def test_an_error_in_the_block_rolls_everything_back(seeded_engine: Engine) -> None:
    with pytest.raises(RuntimeError), direct_sqlite(seeded_engine) as writer:
        repository.add_audit_event(writer, **audit_row())
        raise RuntimeError("the caller failed")
    assert rows(seeded_engine, "SELECT id FROM audit_events") == []
    # The connection went back to the pool usable, outside any transaction.
    with direct_sqlite(seeded_engine) as writer:
        repository.add_audit_event(writer, **audit_row())
    assert len(rows(seeded_engine, "SELECT id FROM audit_events")) == 1


def test_values_go_through_their_types_as_sqlalchemy_sends_them(seeded_engine: Engine) -> None:
    row = audit_row(at=NOW, after={"å": [1, 2.5, None, True]}, note="Snö ❄")
    with unit_of_work(seeded_engine) as session:
        repository.add_audit_event(session, **row)
    with direct_sqlite(seeded_engine) as writer:
        repository.add_audit_event(writer, **row)
    ordinary, direct = rows(seeded_engine, "SELECT * FROM audit_events ORDER BY id")
    assert direct == {**ordinary, "id": direct["id"]}
    assert direct["at"] == "2026-03-02 09:00:00.000000"  # UTC, as the column stores it


def test_a_rate_limit_is_taken_and_refused_in_a_direct_transaction(seeded_engine: Engine) -> None:
    rate = RateLimit("test", limit=1, window=rate_limits.RETENTION / 2)
    with direct_sqlite(seeded_engine) as writer:
        assert isinstance(writer, DirectSQLite) and db.connection_of(writer) is writer
        rate_limits.take(writer, rate, "k", NOW)
    with pytest.raises(RateLimited), direct_sqlite(seeded_engine) as writer:
        rate_limits.take(writer, rate, "k", NOW)
    assert rows(seeded_engine, "SELECT hits FROM rate_windows") == [{"hits": 1}]
    with direct_sqlite(seeded_engine) as writer:
        assert rate_limits.prune(writer, NOW + rate_limits.RETENTION * 2) == 1


def test_statements_that_need_more_than_their_values_are_refused(seeded_engine: Engine) -> None:
    with direct_sqlite(seeded_engine) as writer:
        # Defaults computed in Python (a case's columns left out).
        with pytest.raises(TypeError, match="defaults"):
            writer.execute(sa.insert(Case.__table__), {"title": "x"})  # type: ignore[attr-defined]
        with pytest.raises(TypeError, match="expanding"):
            writer.execute(sa.select(AUDIT.c.id).where(AUDIT.c.id.in_([1, 2])))
        with pytest.raises(TypeError, match="value of its own"):
            writer.execute(sa.select(AUDIT.c.id).where(AUDIT.c.actor == "x"))
        with pytest.raises(sa.exc.ArgumentError, match="actor"):
            writer.execute(text("SELECT :actor"), {})
        # Errors of the database come as SQLAlchemy's.
        with pytest.raises(OperationalError, match="no such table"):
            writer.execute(text("SELECT * FROM nowhere"))
        assert writer.execute(text("SELECT :a, :b"), {"a": 1, "b": "två"}).one() == (1, "två")


def test_rows_read_like_sqlalchemy_results() -> None:
    none, one, two = Rows([]), Rows([(1, "a")]), Rows([(1, "a"), (2, "b")])
    assert (none.first(), none.one_or_none(), none.scalar(), none.all()) == (None, None, None, [])
    assert (one.one(), one.scalar_one(), one.scalar()) == ((1, "a"), 1, 1)
    assert two.scalars() == [1, 2] and two.first() == (1, "a")
    with pytest.raises(NoResultFound):
        none.one()
    with pytest.raises(MultipleResultsFound):
        two.one_or_none()


def test_only_seeded_engines_of_make_engine_are_written_directly(tmp_path: Path) -> None:
    plain = sa.create_engine(f"sqlite:///{tmp_path / 'plain.db'}")
    postgres = make_engine("postgresql://nobody@127.0.0.1:1/none")  # never connected
    ours = make_engine(f"sqlite:///{tmp_path / 'ours.db'}")
    try:
        assert writes_directly(ours)
        assert not writes_directly(plain) and not writes_directly(postgres)
        with pytest.raises(ValueError, match="SQLite engine"), direct_sqlite(postgres):
            pass
    finally:
        for engine in (plain, postgres, ours):
            engine.dispose()


def test_the_checkpointers_hear_of_every_commit(seeded_engine: Engine) -> None:
    # Two applications on one engine (as in tests), each with its own checkpointer.
    checkpointers = [WalCheckpointer(seeded_engine, interval=0.01) for _ in range(2)]

    def each_checkpoints() -> None:
        # `last` is what a checkpoint found; one of two running at the same time may find
        # the other busy, -1.
        for _ in range(500):
            if all(c.last is not None for c in checkpointers):
                break
            time.sleep(0.01)
        assert all(c.last is not None for c in checkpointers)

    for checkpointer in checkpointers:
        checkpointer.start()
    try:
        assert all(c.last is None for c in checkpointers)  # nothing written yet
        # SQLAlchemy's commit event does not see this commit: `direct_sqlite` tells them.
        with direct_sqlite(seeded_engine) as writer:
            repository.add_audit_event(writer, **audit_row())
        each_checkpoints()
        # A unit of work's commit: the engine's commit event tells them.
        for checkpointer in checkpointers:
            checkpointer.last = None
        with unit_of_work(seeded_engine) as session:
            repository.add_audit_event(session, **audit_row())
        each_checkpoints()
    finally:
        for checkpointer in checkpointers:
            checkpointer.stop()
    # Stopped, they hear of nothing more.
    assert not db._checkpointers.get(seeded_engine)
