"""`samverkan export` and `samverkan import`: SQLite to PostgreSQL and SQLite to SQLite."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

import rules
from casework import demo, services
from casework.bootstrap import open_database
from casework.db import make_engine, migrate, unit_of_work
from casework.model import (
    AgendaItem,
    Attendance,
    Case,
    CaseCreate,
    Decision,
    Member,
    Minutes,
    Notification,
    Outcome,
)
from casework.outbox import stored_attachment
from casework.settings import Settings
from casework.transfer import FORMAT

PDF = b"%PDF-1.4\n% en bilaga\n" + bytes(range(256))


def samverkan(*args: str, database_url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("samverkan", path=str(Path(sys.executable).parent))
    assert exe, "the samverkan console script is not installed in this environment"
    env = {
        **os.environ,
        "SAMVERKAN_DATABASE_URL": database_url,
        "SAMVERKAN_DATA_DIR": str(data_dir),
    }
    return subprocess.run(
        [exe, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _submit(engine: Engine, data_dir: Path, title: str, *, files: int = 0) -> services.Submitted:
    data = CaseCreate(
        title=title,
        description="Underlag till flytten.",
        kind=("beslut",),
        target_groups=["aldre"],
        submitter_name="Eva Ek",
        submitter_email="eva.ek@example.se",
    )
    uploads = [
        services.Upload(f"bilaga-{n}.pdf", "application/pdf", PDF + bytes([n]))
        for n in range(files)
    ]
    return services.submit_case(
        engine,
        data,
        actor="anmälare:eva.ek@example.se",
        rules=rules.load_rules(Settings().rules_path),
        attachments=uploads,
        data_dir=data_dir,
    )


@pytest.fixture
def populated(tmp_path: Path) -> tuple[str, Path]:
    """A SQLite installation in use: demo data, attachments, meetings, outbox messages."""
    data_dir = tmp_path / "source"
    url = f"sqlite:///{data_dir / 'samverkan.db'}"
    engine = open_database(url)
    try:
        demo.prepare(engine, rules=rules.load_rules(Settings().rules_path))
        _submit(engine, data_dir, "Ärende med bilagor", files=2)
        with unit_of_work(engine) as session:
            member = session.execute(select(Member)).scalars().first()
            assert member is not None and member.id is not None
            meeting_id = session.execute(select(func.min(Case.meeting_id))).scalar()
            assert meeting_id is not None, "the demo places cases on a meeting"
            session.add(Attendance(meeting_id=meeting_id, member_id=member.id, present=False))
            item = (
                session.execute(select(AgendaItem).where(AgendaItem.meeting_id == meeting_id))
                .scalars()
                .first()
            )
            assert item is not None and item.id is not None
            session.add(
                Decision(
                    agenda_item_id=item.id,
                    meeting_id=meeting_id,
                    outcome=Outcome.decided,
                    clauses=["godkänna underlaget", "återrapportera till LSVO"],
                    recipients=[{"name": "Åsa Öberg", "address": "asa@example.se"}],
                )
            )
            session.add(
                Minutes(
                    meeting_id=meeting_id,
                    content={"paragraphs": [{"number": 1, "title": "Mötets öppnande"}]},
                    first_paragraph=1,
                    last_paragraph=1,
                )
            )
            session.add(
                Notification(
                    kind="agenda",
                    recipient_address="ledamot@example.se",
                    subject="Dagordning",
                    body_text="Se bilagan.",
                    attachments=[
                        stored_attachment(
                            data_dir,
                            filename="dagordning.pdf",
                            content_type="application/pdf",
                            content=PDF + b"dagordning",
                        )
                    ],
                    not_before=datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
                )
            )
    finally:
        engine.dispose()
    return url, data_dir


def _export(url: str, data_dir: Path, file: Path) -> dict[str, Any]:
    done = samverkan("export", str(file), database_url=url, data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    assert "samverkan: cases: " in done.stderr
    document: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    return document


def test_export_import_export_gives_the_same_document_and_new_cases_go_on(
    populated: tuple[str, Path], database_url: str, tmp_path: Path
) -> None:
    source_url, source_dir = populated
    first = _export(source_url, source_dir, tmp_path / "first.json")
    assert first["format"] == FORMAT
    assert first["version"] == 1
    assert len(first["tables"]["cases"]) == len(demo.DEMO_SUBMISSIONS) + 1
    assert len(first["tables"]["attachments"]) == 2
    assert len(first["files"]) == 3  # two attachments and the message's PDF
    assert first["tables"]["notifications"][-1]["not_before"] == "2026-03-02T08:00:00+00:00"
    assert len(first["tables"]["attendances"]) == 1
    assert first["tables"]["decisions"][0]["clauses"][0] == "godkänna underlaget"
    assert first["tables"]["minutes"][0]["content"]["paragraphs"][0]["number"] == 1
    assert first["tables"]["meetings"] and first["tables"]["agenda_items"]

    target_dir = tmp_path / "target"
    done = samverkan("import", str(tmp_path / "first.json"), database_url=database_url,
                     data_dir=target_dir)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "samverkan: cases: " in done.stderr and "samverkan: files: 3" in done.stderr
    second = _export(database_url, target_dir, tmp_path / "second.json")
    assert second == first
    for path in first["files"]:
        assert (target_dir / path).read_bytes() == (source_dir / path).read_bytes()

    # The installation goes on: a new case gets a fresh id and the next reference.
    engine = open_database(database_url)
    try:
        submitted = _submit(engine, target_dir, "Det första ärendet efter flytten", files=1)
        with Session(engine) as session:
            count = session.execute(select(func.count()).select_from(Case)).scalar_one()
    finally:
        engine.dispose()
    old_cases = first["tables"]["cases"]
    assert submitted.case.id == max(case["id"] for case in old_cases) + 1
    # The year of a reference is Stockholm's.
    year = datetime.now(services.LOCAL_TIMEZONE).year
    numbers = [
        int(case["reference"].rsplit("-", 1)[1])
        for case in old_cases
        if case["reference"].startswith(f"SB-{year}-")
    ]
    assert submitted.case.reference == f"SB-{year}-{max(numbers) + 1:04d}"
    assert count == len(old_cases) + 1


def test_import_refuses_a_database_that_is_not_empty(
    populated: tuple[str, Path], database_url: str, tmp_path: Path
) -> None:
    source_url, source_dir = populated
    _export(source_url, source_dir, tmp_path / "export.json")
    open_database(database_url).dispose()  # migrated and seeded
    done = samverkan("import", str(tmp_path / "export.json"), database_url=database_url,
                     data_dir=tmp_path / "target")  # fmt: skip
    assert done.returncode == 1
    assert "the database is not empty (table " in done.stderr
    assert "Traceback" not in done.stderr
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            assert session.execute(select(func.count()).select_from(Case)).scalar_one() == 0
    finally:
        engine.dispose()


def test_a_failed_import_leaves_the_database_empty(
    populated: tuple[str, Path], database_url: str, tmp_path: Path
) -> None:
    source_url, source_dir = populated
    document = _export(source_url, source_dir, tmp_path / "export.json")
    # A row the database refuses, late in the order: nothing before it may stay.
    document["tables"]["assignments"] = [{"id": 1, "decision_id": 999_999, "group_id": 1,
                                          "description": "x", "owner_name": "x"}]  # fmt: skip
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document), encoding="utf-8")
    done = samverkan("import", str(broken), database_url=database_url,
                     data_dir=tmp_path / "target")  # fmt: skip
    assert done.returncode == 1
    assert "the import was rolled back" in done.stderr
    assert "Traceback" not in done.stderr
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with Session(engine) as session:
            assert session.execute(select(func.count()).select_from(Case)).scalar_one() == 0
    finally:
        engine.dispose()


def test_import_refuses_what_is_not_an_export(database_url: str, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"cases": []}), encoding="utf-8")
    done = samverkan("import", str(wrong), database_url=database_url, data_dir=tmp_path)
    assert done.returncode == 1
    assert "not a samverkan export" in done.stderr


def test_the_export_of_a_day_keeps_dates_as_dates(
    populated: tuple[str, Path], tmp_path: Path
) -> None:
    source_url, source_dir = populated
    document = _export(source_url, source_dir, tmp_path / "export.json")
    first_meeting = document["tables"]["meetings"][0]
    assert date.fromisoformat(first_meeting["date"])
    created = document["tables"]["cases"][0]["created_at"]
    assert datetime.fromisoformat(created).utcoffset() is not None
