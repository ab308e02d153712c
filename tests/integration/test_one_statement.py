"""Submissions stored in one statement on PostgreSQL (`casework.one_statement`).

These tests run on PostgreSQL only: on SQLite a submission is never stored this way
(`one_statement.supported` is False there, checked at the end; `test_direct_sqlite.py`
tests how it is stored).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, literal, select, text
from sqlalchemy.exc import IntegrityError

from casework import db, one_statement, rate_limits, repository, services
from casework.db import make_engine
from casework.model import CaseCreate
from casework.rate_limits import RateLimit, RateLimited
from notifications.messages import html_part
from rules.facts import CaseFacts, RouteResult

on_postgresql = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TOKEN = "t" * 43


class ToGroup:
    """Routes every case to one seeded group."""

    def route(self, facts: CaseFacts) -> RouteResult:
        return RouteResult(
            destination="sg-aldre",
            rule="test",
            explanation="Ärenden om äldre går till samverkansgruppen.",
            derived={"groups": ("aldre",)},
        )


def submission(title: str = "Trygg och säker utskrivning") -> CaseCreate:
    return CaseCreate.model_validate(
        {
            "title": title,
            "description": "Rutinen för utskrivning behöver ses över.",
            "kind": "I/D",
            "target_groups": ["aldre"],
            "submitter_name": "Anna Andersson",
            "submitter_email": "anna.andersson@example.se",
            "submitter_organisation": "Ronneby kommun",
        }
    )


def submit(engine: Engine, title: str = "Ärende", **options: Any) -> services.Submitted:
    return services.submit_case(
        engine, submission(title), actor="anna.andersson", rules=ToGroup(), now=NOW, **options
    )


def rows(engine: Engine, query: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text(query))]


def last_number(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT last FROM reference_counters")).scalar_one())


CASE_ROWS = "SELECT * FROM cases ORDER BY id"
AUDIT_ROWS = "SELECT case_id, actor, action, at, CAST(before AS text) AS before, CAST(after AS text) AS after, note FROM audit_events ORDER BY id"  # noqa: E501
RECEIPT_ROWS = "SELECT * FROM notifications ORDER BY id"


@on_postgresql
def test_a_submission_is_one_statement_and_stores_what_the_ordinary_way_stores(
    seeded_engine: Engine,
    statements: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The year's first submission makes the counter the ordinary way.
    assert submit(seeded_engine, "Först").case.reference == "SB-2026-0001"

    # The ordinary way, then the same submission in one statement after undoing it.
    monkeypatch.setattr(services.secrets, "token_urlsafe", lambda _n: TOKEN)
    monkeypatch.setattr(one_statement, "supported", lambda _engine: False)
    # The longest title: the receipt's subject is cut at 300 characters.
    title = "Trygg utskrivning – " * 15
    ordinary = submit(seeded_engine, title).case
    expected = [rows(seeded_engine, q)[-1] for q in (CASE_ROWS, AUDIT_ROWS, RECEIPT_ROWS)]
    with seeded_engine.begin() as connection:
        undo = {"notifications": "case_id", "audit_events": "case_id", "cases": "id"}
        for table, column in undo.items():
            connection.execute(text(f"DELETE FROM {table} WHERE {column} = :i"), {"i": ordinary.id})
        connection.execute(text("UPDATE reference_counters SET last = last - 1"))
    monkeypatch.undo()
    monkeypatch.setattr(services.secrets, "token_urlsafe", lambda _n: TOKEN)

    statements.clear()
    case = submit(seeded_engine, title).case
    # No number remembered yet in this engine: the counter is read first.
    assert [s[:42] for s in statements] == [
        "SELECT last, (SELECT name FROM groups WHER",
        "WITH bump AS (UPDATE reference_counters SE",
    ]
    assert case.reference == ordinary.reference == "SB-2026-0002"
    assert case.id is not None and case.id != ordinary.id
    stored = [rows(seeded_engine, q)[-1] for q in (CASE_ROWS, AUDIT_ROWS, RECEIPT_ROWS)]
    # Column for column what the ordinary way stored, but for the new case's id.
    expected[0]["id"] = case.id
    expected[1]["case_id"] = case.id
    expected[1]["after"] = expected[1]["after"].replace(
        f'{{"id": {ordinary.id},', f'{{"id": {case.id},', 1
    )
    expected[2]["id"], expected[2]["case_id"] = stored[2]["id"], case.id
    expected[2]["created_at"] = stored[2]["created_at"]  # the clock's, not the submission's
    assert stored == expected
    assert stored[2]["subject"] == f"SB-2026-0002 är mottaget: {title}"[:300]
    (group,) = rows(seeded_engine, "SELECT name FROM groups WHERE slug = 'sg-aldre'")
    assert f"Enligt reglerna går ärendet till {group['name']}:" in stored[2]["body_text"]

    # The next one is the statement alone: one round trip.
    monkeypatch.undo()
    statements.clear()
    assert submit(seeded_engine).case.reference == "SB-2026-0003"
    assert len(statements) == 1 and statements[0].startswith("WITH bump AS")


@on_postgresql
def test_numbers_taken_by_another_writer_are_skipped_in_the_same_statement(
    seeded_engine: Engine, statements: list[str]
) -> None:
    assert submit(seeded_engine).case.reference == "SB-2026-0001"  # the counter
    assert submit(seeded_engine).case.reference == "SB-2026-0002"
    # Another writer (a flow, another process) takes number 3.
    other = make_engine(seeded_engine.url)
    try:
        assert submit(other).case.reference == "SB-2026-0003"
    finally:
        other.dispose()

    statements.clear()
    case = submit(seeded_engine).case
    assert case.reference == "SB-2026-0004"
    assert [s[:10] for s in statements] == ["WITH bump "]
    assert [r["reference"] for r in rows(seeded_engine, CASE_ROWS)] == [
        f"SB-2026-000{n}" for n in range(1, 5)
    ]
    receipts = rows(seeded_engine, RECEIPT_ROWS)
    assert [r["subject"][:12] for r in receipts] == [f"SB-2026-000{n}" for n in range(1, 5)]
    assert "fått nummer SB-2026-0004." in receipts[3]["body_text"]
    # The receipt's kind has no HTML template: the drain makes its HTML from the text.
    assert receipts[3]["body_html"] == ""
    sent_html = html_part(receipts[3]["subject"], receipts[3]["body_text"], "")
    assert "fått nummer SB-2026-0004." in sent_html
    (audit,) = [a for a in rows(seeded_engine, AUDIT_ROWS) if a["case_id"] == case.id]
    assert audit["after"].startswith(f'{{"id": {case.id}, "reference": "SB-2026-0004", ')


@on_postgresql
def test_a_renamed_group_is_read_again(
    seeded_engine: Engine, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(seeded_engine)
    submit(seeded_engine)  # the group's name is remembered
    rename = "UPDATE groups SET name = :name WHERE slug = 'sg-aldre'"
    with seeded_engine.begin() as connection:
        connection.execute(text(rename), {"name": "Äldregruppen"})
    statements.clear()
    submit(seeded_engine)
    # Rendered with the old name: nothing stored; then with the name the statement found.
    assert [s[:10] for s in statements] == ["WITH bump ", "WITH bump "]
    receipts = rows(seeded_engine, RECEIPT_ROWS)
    assert "Äldregruppen" not in receipts[1]["body_text"]
    assert "Enligt reglerna går ärendet till Äldregruppen:" in receipts[2]["body_text"]
    assert last_number(seeded_engine) == 3

    # Missed as often as it may try: stored the ordinary way, in a transaction.
    monkeypatch.setattr(one_statement, "ATTEMPTS", 1)
    with seeded_engine.begin() as connection:
        connection.execute(text(rename), {"name": "Äldre"})
    statements.clear()
    assert submit(seeded_engine).case.reference == "SB-2026-0004"
    assert [s[:10] for s in statements] == [
        "WITH bump ",
        "INSERT INT",  # the counter, locked until the commit
        "INSERT INT",  # the case
        "INSERT INT",  # its audit event
        "INSERT INT",  # the receipt
    ]
    assert "går ärendet till Äldre:" in rows(seeded_engine, RECEIPT_ROWS)[3]["body_text"]
    assert last_number(seeded_engine) == 4


@on_postgresql
def test_a_number_that_gains_a_digit_is_noticed(
    seeded_engine: Engine, statements: list[str]
) -> None:
    submit(seeded_engine)
    submit(seeded_engine)  # 2 remembered: a reference of 12 characters expected next
    with seeded_engine.begin() as connection:
        connection.execute(text("UPDATE reference_counters SET last = 9999"))
    statements.clear()
    case = submit(seeded_engine).case
    assert case.reference == "SB-2026-10000"
    assert [s[:10] for s in statements] == ["WITH bump ", "WITH bump "]
    (receipt,) = [r for r in rows(seeded_engine, RECEIPT_ROWS) if r["case_id"] == case.id]
    assert receipt["subject"].startswith("SB-2026-10000 är mottaget: ")


@on_postgresql
def test_the_statement_writes_references_as_python_does(seeded_engine: Engine) -> None:
    numbers = [1, 9, 10, 999, 1000, 9999, 10000, 123456]
    parameters = {"k_prefix": "SB", "k_year": 2026}
    with seeded_engine.connect() as connection:
        written = [
            connection.execute(select(one_statement._reference(literal(n))), parameters).scalar()
            for n in numbers
        ]
    expected = [repository.format_reference(prefix="SB", year=2026, number=n) for n in numbers]
    assert written == expected


@on_postgresql
def test_a_failing_statement_stores_nothing_and_takes_its_number_back(
    seeded_engine: Engine,
) -> None:
    submit(seeded_engine)
    submit(seeded_engine)
    before = [rows(seeded_engine, q) for q in (CASE_ROWS, AUDIT_ROWS, RECEIPT_ROWS)]
    with pytest.raises(IntegrityError):
        submit(seeded_engine, case_fields={"parent_case_id": 999_999})  # no such case
    assert [rows(seeded_engine, q) for q in (CASE_ROWS, AUDIT_ROWS, RECEIPT_ROWS)] == before
    assert last_number(seeded_engine) == 2
    assert submit(seeded_engine).case.reference == "SB-2026-0003"


@on_postgresql
def test_an_idempotency_key_stored_meanwhile_returns_the_first_case(
    seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(seeded_engine)
    first = submit(seeded_engine, idempotency_key="nyckel-1", request_hash="h")
    assert not first.replayed and first.case.reference == "SB-2026-0002"
    assert rows(seeded_engine, "SELECT key, case_id FROM idempotency_records") == [
        {"key": "nyckel-1", "case_id": first.case.id}
    ]
    # A retry whose check ran before the first one was stored: the statement fails on
    # the key, and the first case is returned.
    real = services._earlier_submission
    checks: list[str] = []

    def too_early(engine: Engine, key: str, request_hash: str) -> services.Submitted | None:
        checks.append(key)
        return None if len(checks) == 1 else real(engine, key, request_hash)

    monkeypatch.setattr(services, "_earlier_submission", too_early)
    again = submit(seeded_engine, idempotency_key="nyckel-1", request_hash="h")
    assert again.replayed and again.case.id == first.case.id and checks == ["nyckel-1"] * 2
    assert last_number(seeded_engine) == 2
    assert len(rows(seeded_engine, CASE_ROWS)) == 2


@on_postgresql
def test_processes_submitting_at_once_get_every_number_once(seeded_engine: Engine) -> None:
    submit(seeded_engine)  # the counter
    # Two engines stand for two web processes, each remembering numbers of its own.
    engines = [seeded_engine, make_engine(seeded_engine.url)]
    threads_per_engine, per_thread = 3, 8
    references: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(engines) * threads_per_engine)

    def work(engine: Engine) -> None:
        start.wait()
        try:
            for _ in range(per_thread):
                references.append(submit(engine).case.reference)
        except BaseException as error:
            errors.append(error)

    workers = [
        threading.Thread(target=work, args=(engine,))
        for engine in engines
        for _ in range(threads_per_engine)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    engines[1].dispose()

    assert errors == []
    total = 1 + len(workers) * per_thread
    assert sorted(references) == [f"SB-2026-{n:04d}" for n in range(2, total + 1)]
    stored = rows(seeded_engine, CASE_ROWS)
    assert len(stored) == total == last_number(seeded_engine)
    audits = rows(seeded_engine, AUDIT_ROWS)
    assert sorted(a["case_id"] for a in audits) == sorted(c["id"] for c in stored)
    for audit in audits:
        assert audit["after"].startswith(f'{{"id": {audit["case_id"]}, "reference": "SB-2026-')


def test_sqlite_is_not_stored_this_way(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    try:
        assert not one_statement.supported(engine)
    finally:
        engine.dispose()


class ToForum:
    """Routes every case to a destination that is not a group."""

    def route(self, facts: CaseFacts) -> RouteResult:
        return RouteResult(destination="ingen-grupp", rule="test", explanation="Utan grupp.")


@on_postgresql
def test_a_destination_without_a_group_is_named_by_its_slug(
    seeded_engine: Engine, statements: list[str]
) -> None:
    for _ in range(3):
        services.submit_case(
            seeded_engine, submission(), actor="anna.andersson", rules=ToForum(), now=NOW
        )
    assert [s[:10] for s in statements[-1:]] == ["WITH bump "]
    receipts = rows(seeded_engine, RECEIPT_ROWS)
    assert ["går ärendet till ingen-grupp:" in r["body_text"] for r in receipts] == [True] * 3
    assert last_number(seeded_engine) == 3


@on_postgresql
def test_an_anonymous_client_takes_its_hit_first_and_a_refusal_stores_nothing(
    seeded_engine: Engine, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A hit that opens a window prunes old ones one time in PRUNE_ONE_IN, by chance: not
    # here, so that the statements sent are always the same.
    monkeypatch.setattr(rate_limits.random, "randrange", lambda _n: 1)
    submit(seeded_engine)  # the counter
    quota = rate_limits.Quota(RateLimit("submission", 2, timedelta(minutes=1)), "client")
    statements.clear()
    assert submit(seeded_engine, quota=quota).case.reference == "SB-2026-0002"
    # The hit first, by a statement of its own (nothing written if it is refused).
    assert [s[:10] for s in statements] == [
        "INSERT INT",  # the hit
        "SELECT las",  # the counter, not remembered yet
        "WITH bump ",
    ]
    # A submission that fails after its hit keeps it.
    with pytest.raises(IntegrityError):
        submit(seeded_engine, quota=quota, case_fields={"parent_case_id": 999_999})
    with pytest.raises(RateLimited):
        submit(seeded_engine, quota=quota)
    assert [r["reference"] for r in rows(seeded_engine, CASE_ROWS)] == [
        "SB-2026-0001",
        "SB-2026-0002",
    ]
    assert rows(seeded_engine, "SELECT hits FROM rate_windows") == [{"hits": 2}]
    assert last_number(seeded_engine) == 2


@on_postgresql
def test_psycopg_parses_the_statement_once(seeded_engine: Engine) -> None:
    # casework.db raises psycopg's limits for keeping a parsed statement: without, this
    # statement would be parsed at every submission. A psycopg that no longer has them
    # fails here.
    from psycopg import _queries

    assert _queries.MAX_CACHED_STATEMENT_LENGTH >= db.PSYCOPG_CACHED_STATEMENT_LENGTH
    assert _queries.MAX_CACHED_STATEMENT_PARAMS >= db.PSYCOPG_CACHED_STATEMENT_PARAMS
    submit(seeded_engine)
    submit(seeded_engine)
    before = _queries._query2pg.cache_info()
    submit(seeded_engine)
    after = _queries._query2pg.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (1, 0)
