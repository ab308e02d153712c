"""Schema, seed data, submissions, references, transitions and rollbacks on both databases."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from conftest import POSTGRES_URL, _require_postgres
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Column, Connection, Engine, MetaData, String, event, func, inspect, text
from sqlmodel import SQLModel, select

from casework import db, repository, services
from casework.db import (
    WalCheckpointer,
    alembic_config,
    make_engine,
    migrate,
    normalise_url,
    unit_of_work,
)
from casework.lifecycle import Action, IllegalTransition, State
from casework.model import (
    AuditEvent,
    Case,
    CaseCreate,
    CasePublic,
    Group,
    Member,
    Membership,
    Organisation,
    OrganisationKind,
    ReferenceCounter,
    Role,
)
from casework.seed import seed
from casework.settings import Settings
from rules import load_rules
from rules.facts import CaseFacts, RouteResult

SPRING_2026 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class FakeRules:
    """Routes every case to one destination and remembers what it was asked."""

    def __init__(self, destination: str = "sg-aldre") -> None:
        self.destination = destination
        self.seen: list[CaseFacts] = []

    def route(self, facts: CaseFacts) -> RouteResult:
        self.seen.append(facts)
        return RouteResult(
            destination=self.destination,
            rule="fake",
            explanation=f"everything goes to {self.destination}",
            derived={"groups": ("aldre",)},
        )


def submission(title: str = "Trygg och säker utskrivning", **changes: object) -> CaseCreate:
    fields: dict[str, object] = {
        "title": title,
        "description": "Rutinen för utskrivning från slutenvården behöver ses över.",
        "kind": "I/D",
        "target_groups": ["aldre"],
        "submitter_name": "Anna Andersson",
        "submitter_email": "anna.andersson@example.se",
        "submitter_organisation": "Ronneby kommun",
        "presenter": "Anna Andersson",
        "proposed_decision": "att lägga informationen till protokollet",
    }
    fields.update(changes)
    return CaseCreate.model_validate(fields)


def submit(engine: Engine, *, now: datetime = SPRING_2026, title: str = "Ärende") -> Case:
    return services.submit_case(
        engine, submission(title), actor="anna.andersson", rules=FakeRules(), now=now
    ).case


def count(engine: Engine, table: type[SQLModel]) -> int:
    with unit_of_work(engine) as session:
        return session.exec(select(func.count()).select_from(table)).one()


# Schema


def test_the_migrated_schema_matches_the_model(migrated_engine: Engine) -> None:
    with migrated_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_the_schema_comparison_would_notice_a_difference(migrated_engine: Engine) -> None:
    changed = MetaData(naming_convention=SQLModel.metadata.naming_convention)
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["cases"].append_column(Column("extra", String(10)))
    changed.tables["groups"].c.name.type = String(100)
    with migrated_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        kinds = {
            diff[0] if isinstance(diff, tuple) else diff[0][0]
            for diff in compare_metadata(context, changed)
        }
    assert kinds == {"add_column", "modify_type"}


SPARSE_INDEXES = {
    "ix_cases_meeting_id": ("cases", "meeting_id"),
    "ix_cases_parent_case_id": ("cases", "parent_case_id"),
    "ix_cases_deviation_cluster_id": ("cases", "deviation_cluster_id"),
    "ix_notifications_event_key": ("notifications", "event_key"),
    "ix_notifications_member_id": ("notifications", "member_id"),
    "ix_notifications_meeting_id": ("notifications", "meeting_id"),
}


def _index_definitions(connection: Connection) -> dict[str, str]:
    """The database's indexes (and on SQLite its tables) by name, with their SQL; on
    PostgreSQL sequential scans are turned off, so that plans on small tables show the
    index a query would use."""
    if connection.dialect.name == "sqlite":
        return dict(connection.exec_driver_sql("SELECT name, sql FROM sqlite_master").all())
    connection.exec_driver_sql("SET enable_seqscan = off")
    return dict(connection.exec_driver_sql("SELECT indexname, indexdef FROM pg_indexes").all())


def _plan(connection: Connection, query: str, parameters: dict[str, Any]) -> str:
    explain = "EXPLAIN QUERY PLAN " if connection.dialect.name == "sqlite" else "EXPLAIN "
    return " ".join(str(step[-1]) for step in connection.execute(text(explain + query), parameters))


def test_sparse_columns_index_only_their_filled_rows_and_lookups_use_it(
    migrated_engine: Engine,
) -> None:
    with migrated_engine.connect() as connection:
        definitions = _index_definitions(connection)
        for index, (table, column) in SPARSE_INDEXES.items():
            definition = definitions[index].replace("(", "").replace(")", "")  # PostgreSQL's
            assert definition.endswith(f"WHERE {column} IS NOT NULL"), definition
            lookup = f"SELECT id FROM {table} WHERE {column} = :value"
            value = "linked:1:2" if column == "event_key" else 7
            plan = _plan(connection, lookup, {"value": value})
            assert index in plan, plan
        # The queue's filter by status needs no index of its own.
        assert "ix_cases_status" not in definitions
        assert "ix_cases_status_created_at" in definitions


def test_the_drain_finds_due_messages_by_one_index_and_unread_columns_have_none(
    migrated_engine: Engine,
) -> None:
    with migrated_engine.connect() as connection:
        definitions = _index_definitions(connection)
        assert not definitions.keys() & {
            "ix_notifications_kind",
            "ix_notifications_status",
            "ix_notifications_not_before",
            "ix_audit_events_at",
        }
        due = (
            "SELECT id FROM notifications WHERE status = 'pending' AND not_before <= :now "
            "ORDER BY not_before, id LIMIT 100"
        )
        plan = _plan(connection, due, {"now": SPRING_2026})
        assert "ix_notifications_status_not_before" in plan, plan


def test_every_migration_goes_down_to_an_empty_database_and_up_again(
    migrated_engine: Engine,
) -> None:
    config = alembic_config()
    with migrated_engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        connection.commit()
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
    migrate(migrated_engine)
    with migrated_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_migrating_twice_changes_nothing_and_records_the_head(migrated_engine: Engine) -> None:
    migrate(migrated_engine)
    with migrated_engine.connect() as connection:
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert connection.execute(text("SELECT version_num FROM alembic_version")).all() == [
            (head,)
        ]
        tables = set(inspect(connection).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables


def test_migrate_accepts_a_url(database_url: str) -> None:
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        assert "cases" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_sqlite_connections_use_wal_a_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'dir' / 'x.db'}")
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA busy_timeout").scalar() == 5000
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert pragma("PRAGMA wal_autocheckpoint").scalar() == 4000
    finally:
        engine.dispose()
    assert (tmp_path / "new" / "dir" / "x.db").exists()


def test_sqlite_writers_one_after_another_reuse_one_connection(tmp_path: Path) -> None:
    # SQLite drops a connection's page cache when another connection has written since
    # its last transaction: writers taking turns on one connection keep theirs.
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        migrate(engine)
        held = [engine.raw_connection() for _ in range(4)]  # a pool of several, as a server's
        returned_last = held[-1].driver_connection
        for pooled in held:
            pooled.close()
        used: list[Any] = []
        event.listen(engine, "checkout", lambda dbapi, _record, _proxy: used.append(dbapi))
        for year in (2026, 2027, 2028):
            with unit_of_work(engine) as session:
                session.add(ReferenceCounter(prefix="SB", year=year))
            with db.direct_sqlite(engine) as writer:
                writer.execute(text("UPDATE reference_counters SET last = last + 1"))
        assert len(used) == 6
        assert all(connection is returned_last for connection in used)
    finally:
        engine.dispose()


def test_sqlite_synchronous_full_can_be_asked_for(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}", sqlite_synchronous="full")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    finally:
        engine.dispose()


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "samverkan-wal-checkpoint"]


def test_the_wal_checkpointer_copies_committed_pages_into_the_database_file(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    checkpointer = WalCheckpointer(engine, interval=0.01)
    try:
        migrate(engine)
        checkpointer.start()
        assert len(_checkpoint_threads()) == 1
        for number in range(20):
            services.submit_case(
                engine, submission(f"Ärende {number}"), actor="a", rules=FakeRules()
            )
        deadline = time.monotonic() + 10
        while checkpointer.last is None or checkpointer.last[1] < checkpointer.last[0]:
            assert time.monotonic() < deadline, f"not checkpointed: {checkpointer.last}"
            time.sleep(0.01)
        assert checkpointer.last[0] > 0
    finally:
        checkpointer.stop()
        engine.dispose()
    assert _checkpoint_threads() == []


def test_the_wal_checkpointer_does_nothing_on_other_databases(migrated_engine: Engine) -> None:
    memory = make_engine("sqlite://")
    try:
        for engine in (migrated_engine, memory):
            checkpointer = WalCheckpointer(engine)
            checkpointer.start()
            if engine.dialect.name == "postgresql" or engine is memory:
                assert _checkpoint_threads() == []
            checkpointer.stop()
    finally:
        memory.dispose()


def test_the_web_application_checkpoints_while_it_runs(web_app: FastAPI) -> None:
    with TestClient(web_app):
        running = len(_checkpoint_threads())
    engine = web_app.state.engine
    assert running == (1 if engine.dialect.name == "sqlite" else 0)
    assert _checkpoint_threads() == []


def test_the_web_application_keeps_its_start_up_objects_out_of_full_collections(
    web_app: FastAPI,
) -> None:
    assert gc.get_freeze_count() == 0
    with TestClient(web_app):
        frozen = gc.get_freeze_count()
    assert frozen > 10_000  # the modules, models, routes and templates, at least
    assert gc.get_freeze_count() == 0


def test_a_read_only_unit_of_work_does_not_take_the_sqlite_write_lock(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        migrate(engine)
        with unit_of_work(engine) as writer:
            writer.exec(select(Case)).all()  # BEGIN IMMEDIATE: holds the write lock
            with unit_of_work(engine, write=False) as reader:
                assert reader.exec(select(Case)).all() == []
    finally:
        engine.dispose()


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


@pytest.mark.postgres
def test_postgresql_checks_a_connection_only_after_it_was_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _require_postgres()
    engine = make_engine(POSTGRES_URL)
    pings: list[object] = []
    real_ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or real_ping(c))
    try:
        first = _backend_pid(engine)
        # Used a moment ago: handed out again without a check.
        assert _backend_pid(engine) == first
        assert pings == []
        # Idle for longer than the limit: checked, and still the same connection.
        monkeypatch.setattr(db, "POSTGRES_PING_AFTER_IDLE_SECONDS", 0.0)
        assert _backend_pid(engine) == first
        assert len(pings) == 1
        # Closed by the server while idle: the check notices, and another one is used.
        killer = make_engine(POSTGRES_URL)
        try:
            with killer.connect() as connection:
                connection.exec_driver_sql(f"SELECT pg_terminate_backend({first})")
        finally:
            killer.dispose()
        time.sleep(0.2)
        # The next request gets a working connection.
        assert _backend_pid(engine) != first
        assert len(pings) >= 2
    finally:
        engine.dispose()


def test_postgresql_urls_are_rewritten_to_psycopg() -> None:
    for url in ("postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db"):
        assert normalise_url(url).drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///x.db").drivername == "sqlite"


def test_foreign_keys_are_enforced(migrated_engine: Engine) -> None:
    with pytest.raises(Exception, match=r"(?i)foreign key"), unit_of_work(migrated_engine) as s:
        repository.add_audit_event(s, case_id=999, actor="x", action="submit")


# Settings


def test_settings_default_to_a_sqlite_file_in_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SAMVERKAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SAMVERKAN_DATABASE_URL", raising=False)
    monkeypatch.delenv("SAMVERKAN_RULES", raising=False)
    settings = Settings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'samverkan.db'}"
    assert settings.reference_prefix == "SB"
    assert settings.rules is None
    assert settings.rules_path.name == "samverkan_blekinge.yaml"
    assert settings.rules_path.is_file()

    monkeypatch.setenv("SAMVERKAN_DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
    monkeypatch.setenv("SAMVERKAN_REFERENCE_PREFIX", "XY")
    monkeypatch.setenv("SAMVERKAN_RULES", str(tmp_path / "mine.yaml"))
    settings = Settings()
    assert settings.database_url == "postgresql://postgres@127.0.0.1/test"
    assert settings.reference_prefix == "XY"
    assert settings.rules_path == tmp_path / "mine.yaml"


# Seed data


def test_seed_is_idempotent_and_holds_the_bodies_and_lsvo(migrated_engine: Engine) -> None:
    for _ in range(2):
        with unit_of_work(migrated_engine) as session:
            seed(session)

    assert count(migrated_engine, Organisation) == 6
    assert count(migrated_engine, Group) == 8
    assert count(migrated_engine, Member) == 22
    assert count(migrated_engine, Membership) == 22

    with unit_of_work(migrated_engine) as session:
        aldre = repository.get_group(session, slug="sg-aldre")
        assert aldre is not None
        assert "att åldras" in aldre.name and "Samverkansgrupp Äldre" in aldre.aliases
        barn = repository.get_group(session, slug="sg-barn-unga")
        assert barn is not None and barn.name == "Samverkansgrupp att växa upp"
        lsvo = repository.list_group_members(session, group_slug="lsvo")
        roles = {member.name: membership for member, membership, _ in lsvo}
        chair = roles["Bodil Sundlöf"]
        assert chair.role is Role.chair and chair.decision_mandate is False
        secretary = roles["Mats Wennstig"]
        assert secretary.role is Role.secretary and secretary.decision_mandate is False
        assert all(m.decision_mandate for n, m in roles.items() if m.role is Role.member)
        per_organisation: dict[str, int] = {}
        for _, membership, organisation in lsvo:
            if membership.decision_mandate:
                per_organisation[organisation.slug] = per_organisation.get(organisation.slug, 0) + 1
        assert per_organisation == {
            "karlshamn": 3,
            "karlskrona": 4,
            "ronneby": 3,
            "solvesborg": 2,
            "olofstrom": 2,
            "region-blekinge": 6,
        }


# Submitting


def test_submit_case_routes_numbers_stores_and_audits(migrated_engine: Engine) -> None:
    rules = FakeRules("sg-aldre")
    case = services.submit_case(
        migrated_engine, submission(), actor="anna.andersson", rules=rules, now=SPRING_2026
    ).case

    assert rules.seen == [submission().facts()]
    assert case.reference == "SB-2026-0001"
    assert case.status is State.submitted
    assert case.destination == "sg-aldre"
    assert case.routing_rule == "fake"
    assert case.routed_groups == ["aldre"]

    with unit_of_work(migrated_engine) as session:
        stored = repository.get_case_by_reference(session, reference="SB-2026-0001")
        assert stored is not None
        public = CasePublic.model_validate(stored)
        assert public.kind == ("information", "diskussion")
        assert stored.kinds == ("information", "diskussion")
        assert stored.kind == "I/D"
        assert public.target_groups == ("aldre",)
        assert public.created_at == SPRING_2026
        assert public.created_at.tzinfo is not None
        assert stored.facts() == submission().facts()
        events = repository.list_audit_events(session, case_id=stored.id or 0)
    assert [(e.action, e.actor, e.before) for e in events] == [("submit", "anna.andersson", None)]
    assert events[0].after is not None
    assert events[0].after["reference"] == "SB-2026-0001"
    assert events[0].at.tzinfo is not None


def test_the_reference_number_comes_with_the_destination_group_name(
    seeded_engine: Engine,
) -> None:
    with unit_of_work(seeded_engine) as session:
        first = repository.next_reference_number_and_group_name(
            session, prefix="SB", year=2026, slug="lsvo"
        )
        second = repository.next_reference_number_and_group_name(
            session, prefix="SB", year=2026, slug="ingen-sadan-grupp"
        )
        third = repository.next_reference_number(session, prefix="SB", year=2026)
    assert first == (1, "LSVO – Ledningssamverkan vård och omsorg")
    assert second == (2, None)  # no group by that name
    assert third == 3


def test_the_returned_case_is_the_stored_row_column_for_column(migrated_engine: Engine) -> None:
    case = services.submit_case(
        migrated_engine,
        submission(target_groups=["aldre"]),
        actor="anna.andersson",
        rules=FakeRules("sg-aldre"),
        now=SPRING_2026,
    ).case
    with unit_of_work(migrated_engine, write=False) as session:
        stored = repository.get_case(session, case_id=case.id or 0)
        assert stored is not None
        columns = [column.name for column in Case.__table__.columns]  # type: ignore[attr-defined]
        assert {n: getattr(case, n) for n in columns} == {n: getattr(stored, n) for n in columns}
    # Left-out columns took the model's defaults, each list a new one.
    assert case.status is State.submitted and case.meeting_id is None
    assert case.deviation_organisations == [] and case.deviation_kind == ""
    other = services.submit_case(
        migrated_engine, submission(), actor="anna.andersson", rules=FakeRules(), now=SPRING_2026
    ).case
    assert other.deviation_organisations is not case.deviation_organisations
    assert CasePublic.model_validate(case).reference == "SB-2026-0001"


FIRST_USE = """
import sys
from casework import services
from casework.db import make_engine
from rules import load_rules
from casework.model import CaseCreate

engine = make_engine(sys.argv[1])
case = services.submit_case(
    engine,
    CaseCreate(title="Först", submitter_name="Anna", submitter_email="anna@example.se"),
    actor="anna@example.se",
    rules=load_rules(),
).case
print(case.id, case.reference)
"""


def test_a_process_can_store_a_case_before_it_has_used_any_other_model(
    migrated_engine: Engine, database_url: str, tmp_path: Path
) -> None:
    # The mappers are set up on first use: a web process whose first request is an
    # anonymous submission has queried nothing through them before.
    script = tmp_path / "first_use.py"
    script.write_text(FIRST_USE)
    done = subprocess.run(
        [sys.executable, str(script), database_url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    case_id, reference = done.stdout.split()
    with unit_of_work(migrated_engine, write=False) as session:
        stored = repository.get_case(session, case_id=int(case_id))
        assert stored is not None and stored.reference == reference


def test_insert_case_refuses_unknown_and_missing_columns(migrated_engine: Engine) -> None:
    with unit_of_work(migrated_engine) as session:
        with pytest.raises(TypeError, match="not columns of a new case: \\['colour'\\]"):
            repository.insert_case(session, {"colour": "blue"})
        with pytest.raises(TypeError, match="not columns of a new case: \\['id'\\]"):
            repository.insert_case(session, {"id": 7})
        with pytest.raises(TypeError, match="a new case needs reference"):
            repository.insert_case(session, {"title": "Utan nummer"})
        assert repository.count_cases(session) == 0


def test_references_count_per_year_and_restart_in_a_new_year(migrated_engine: Engine) -> None:
    first = submit(migrated_engine, now=datetime(2026, 1, 5, tzinfo=UTC))
    second = submit(migrated_engine, now=datetime(2026, 12, 1, tzinfo=UTC))
    # 23:30 UTC on New Year's Eve is already 2027 in Blekinge.
    third = submit(migrated_engine, now=datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
    fourth = submit(migrated_engine, now=datetime(2027, 2, 1, tzinfo=UTC))
    assert [first.reference, second.reference, third.reference, fourth.reference] == [
        "SB-2026-0001",
        "SB-2026-0002",
        "SB-2027-0001",
        "SB-2027-0002",
    ]


def test_the_reference_prefix_is_a_parameter(migrated_engine: Engine) -> None:
    case = services.submit_case(
        migrated_engine,
        submission(),
        actor="a",
        rules=FakeRules(),
        reference_prefix="TEST",
        now=SPRING_2026,
    ).case
    assert case.reference == "TEST-2026-0001"
    assert submit(migrated_engine).reference == "SB-2026-0001"


def test_concurrent_submissions_get_distinct_references(migrated_engine: Engine) -> None:
    threads, per_thread = 8, 5
    references: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(n: int) -> None:
        start.wait()
        try:
            for i in range(per_thread):
                references.append(submit(migrated_engine, title=f"Ärende {n}.{i}").reference)
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == []
    expected = {f"SB-2026-{n:04d}" for n in range(1, threads * per_thread + 1)}
    assert sorted(references) == sorted(expected)
    assert count(migrated_engine, Case) == threads * per_thread


# Transitions


def test_transition_moves_the_case_and_audits_before_and_after(migrated_engine: Engine) -> None:
    case = submit(migrated_engine)
    assert case.id is not None
    later = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    services.transition(migrated_engine, case.id, Action.triage, actor="mats", now=later)
    moved = services.transition(
        migrated_engine,
        case.id,
        Action.route,
        actor="mats",
        note="Berör även vuxna; Beredningsgruppen samordnar.",
        destination="beredningsgruppen",
        lead_group="sg-aldre",
        now=later,
    )
    assert moved.status is State.routed
    assert moved.destination == "beredningsgruppen"
    assert moved.lead_group == "sg-aldre"

    with unit_of_work(migrated_engine) as session:
        stored = repository.get_case(session, case_id=case.id)
        assert stored is not None and stored.status is State.routed
        assert stored.updated_at == later
        events = repository.list_audit_events(session, case_id=case.id)
    assert [(e.action, e.before, e.after) for e in events[1:]] == [
        (
            "triage",
            {"status": "submitted", "destination": "sg-aldre"},
            {"status": "in_triage", "destination": "sg-aldre"},
        ),
        (
            "route",
            {"status": "in_triage", "destination": "sg-aldre"},
            {"status": "routed", "destination": "beredningsgruppen"},
        ),
    ]
    assert events[2].note == "Berör även vuxna; Beredningsgruppen samordnar."


def test_an_illegal_transition_changes_nothing(migrated_engine: Engine) -> None:
    case = submit(migrated_engine)
    assert case.id is not None
    with pytest.raises(IllegalTransition) as caught:
        services.transition(migrated_engine, case.id, Action.decide, actor="mats")
    assert caught.value.state is State.submitted
    with pytest.raises(services.DestinationNotAllowed):
        services.transition(
            migrated_engine, case.id, Action.triage, actor="mats", destination="lsvo"
        )
    with pytest.raises(services.CaseNotFound):
        services.transition(migrated_engine, 12345, Action.triage, actor="mats")
    with unit_of_work(migrated_engine) as session:
        stored = repository.get_case(session, case_id=case.id)
        assert stored is not None and stored.status is State.submitted
        assert stored.destination == "sg-aldre"
    assert count(migrated_engine, AuditEvent) == 1


def test_concurrent_transitions_do_not_fail_with_database_is_locked(
    migrated_engine: Engine,
) -> None:
    # Each transition reads the case, then writes it: the pattern that fails on SQLite
    # unless the transaction takes the write lock when it begins.
    cases = [submit(migrated_engine, title=f"Ärende {n}") for n in range(8)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(cases))

    def work(case_id: int) -> None:
        start.wait()
        try:
            for action in (Action.triage, Action.route, Action.schedule, Action.decide):
                services.transition(migrated_engine, case_id, action, actor="mats")
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=work, args=(c.id,)) for c in cases]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == []
    with unit_of_work(migrated_engine) as session:
        assert len(repository.list_cases(session, status=State.decided)) == len(cases)
    assert count(migrated_engine, AuditEvent) == len(cases) * 5


# Rollback


def test_a_failure_after_the_insert_leaves_nothing_behind(
    migrated_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_audit(*args: object, **kwargs: object) -> None:
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(repository, "add_audit_event", broken_audit)
    with pytest.raises(RuntimeError, match="audit store unavailable"):
        submit(migrated_engine)
    monkeypatch.undo()

    assert count(migrated_engine, Case) == 0
    assert count(migrated_engine, AuditEvent) == 0
    assert count(migrated_engine, ReferenceCounter) == 0
    assert submit(migrated_engine).reference == "SB-2026-0001"


def test_a_failed_transition_leaves_the_state_as_it_was(
    migrated_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = submit(migrated_engine)
    assert case.id is not None

    def broken_audit(*args: object, **kwargs: object) -> None:
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(repository, "add_audit_event", broken_audit)
    with pytest.raises(RuntimeError):
        services.transition(migrated_engine, case.id, Action.triage, actor="mats")
    monkeypatch.undo()

    with unit_of_work(migrated_engine) as session:
        stored = repository.get_case(session, case_id=case.id)
        assert stored is not None and stored.status is State.submitted
    assert count(migrated_engine, AuditEvent) == 1


def test_unit_of_work_commits_at_the_end_and_rolls_back_on_error(
    migrated_engine: Engine,
) -> None:
    with pytest.raises(ValueError), unit_of_work(migrated_engine) as session:
        session.add(Organisation(slug="x", name="X", kind=OrganisationKind.region))
        session.flush()
        raise ValueError("boom")
    assert count(migrated_engine, Organisation) == 0
    with unit_of_work(migrated_engine) as session:
        session.add(Organisation(slug="x", name="X", kind=OrganisationKind.region))
    assert count(migrated_engine, Organisation) == 1


# Attachments


def test_attachments_are_stored_by_content_hash(migrated_engine: Engine, tmp_path: Path) -> None:
    case = submit(migrated_engine)
    assert case.id is not None
    content = "Underlag: rutin för utskrivning".encode()
    attachment = services.attach_file(
        migrated_engine,
        case.id,
        filename="rutin.pdf",
        content_type="application/pdf",
        content=content,
        actor="anna.andersson",
        data_dir=tmp_path,
    )
    assert (tmp_path / attachment.storage_path).read_bytes() == content
    assert attachment.size == len(content)
    with unit_of_work(migrated_engine) as session:
        listed = repository.list_attachments(session, case_id=case.id)
        actions = [e.action for e in repository.list_audit_events(session, case_id=case.id)]
    assert [a.filename for a in listed] == ["rutin.pdf"]
    assert actions == ["submit", "attach"]


# The real rule set


def test_submit_case_with_the_bundled_rules(migrated_engine: Engine) -> None:
    rules = load_rules()
    resources = services.submit_case(
        migrated_engine,
        submission(
            "Gemensam finansiering av länssamordnare",
            description="Förslag om gemensam finansiering av en länssamordnare.",
            target_groups=[],
            requests_resources=True,
        ),
        actor="anna.andersson",
        rules=rules,
        now=SPRING_2026,
    ).case
    assert resources.destination == "lsvo"
    assert resources.requires_endorsement is True
    assert resources.routing_rule
    assert resources.routing_explanation

    dementia = services.submit_case(
        migrated_engine,
        submission("Demensvården i Blekinge", description="", target_groups=[]),
        actor="anna.andersson",
        rules=rules,
        now=SPRING_2026,
    ).case
    assert dementia.destination == "sg-aldre"
    assert dementia.reference == "SB-2026-0002"
