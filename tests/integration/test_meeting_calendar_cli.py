"""`samverkan meetings`: list, import, export and feed links, run as a real process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import icalendar
import pytest
from sqlmodel import col, select

from casework import meeting_calendar as mc
from casework.db import make_engine, unit_of_work
from casework.model import AuditEvent, Meeting, Member

YEAR = (
    "datum;start;slut;plats;videolänk\n"
    "2040-02-10;09:00;12:00;Regionhuset;\n"
    "2040-03-09;09:00;12:00;;https://teams.example.se/l/meetup/abc\n"
    "2040-12-24;09:00;10:00;Regionhuset;\n"
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def samverkan(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("samverkan", path=str(Path(sys.executable).parent))
    assert exe, "the samverkan console script is not installed in this environment"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMVERKAN_")}
    env["SAMVERKAN_DATA_DIR"] = str(data_dir)
    env["SAMVERKAN_PUBLIC_URL"] = "https://samverkan.example.se/"
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def stored(data_dir: Path) -> list[Meeting]:
    engine = make_engine(f"sqlite:///{data_dir / 'samverkan.db'}")
    try:
        with unit_of_work(engine) as session:
            return list(session.exec(select(Meeting).order_by(col(Meeting.date))).all())
    finally:
        engine.dispose()


def test_import_list_and_export(data_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "lsvo.csv"
    source.write_text(YEAR, encoding="utf-8")
    done = samverkan(data_dir, "meetings", "import", "lsvo", str(source))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "lsvo: 3 added, 0 updated, 0 unchanged"
    # Julafton is allowed, with a warning on standard error.
    assert "warning" in done.stderr and "line 4" in done.stderr
    again = samverkan(data_dir, "meetings", "import", "lsvo", str(source))
    assert again.stdout.strip() == "lsvo: 0 added, 0 updated, 3 unchanged"

    listed = samverkan(data_dir, "meetings", "list", "lsvo")
    assert listed.returncode == 0, listed.stderr
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["date"] for r in records] == ["2040-02-10", "2040-03-09", "2040-12-24"]
    assert records[0]["agenda_due"] == "2040-02-03"
    assert records[0]["submission_due"] == "2040-01-27"
    assert records[1]["video_link"] == "https://teams.example.se/l/meetup/abc"

    target = tmp_path / "lsvo.ics"
    exported = samverkan(data_dir, "meetings", "export", "lsvo", str(target))
    assert exported.returncode == 0, exported.stderr
    events = icalendar.Calendar.from_ical(target.read_bytes()).walk("VEVENT")
    ids = {m.id for m in stored(data_dir)}
    assert {f"meeting-{i}@samverkan" for i in ids} <= {str(e["uid"]) for e in events}
    to_stdout = samverkan(data_dir, "meetings", "export", "lsvo")
    assert to_stdout.stdout.startswith("BEGIN:VCALENDAR")


def test_a_bad_file_is_reported_by_line_and_nothing_is_written(
    data_dir: Path, tmp_path: Path
) -> None:
    source = tmp_path / "lsvo.csv"
    source.write_text(
        YEAR + "2040-04-13;13:00;12:00;Regionhuset;\n2040-02-10;09:00;12:00;Rådhuset;\n",
        encoding="utf-8",
    )
    done = samverkan(data_dir, "meetings", "import", "lsvo", str(source))
    assert done.returncode == 1
    assert done.stdout == ""
    assert "line 5: the meeting ends (12:00) before it starts (13:00)" in done.stderr
    assert "line 6: 2040-02-10 is already on line 2" in done.stderr
    assert "Traceback" not in done.stderr
    assert stored(data_dir) == []
    engine = make_engine(f"sqlite:///{data_dir / 'samverkan.db'}")
    try:
        with unit_of_work(engine) as session:
            assert session.exec(select(AuditEvent)).all() == []
    finally:
        engine.dispose()


def test_unknown_group_and_missing_file(data_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "lsvo.csv"
    source.write_text(YEAR, encoding="utf-8")
    unknown = samverkan(data_dir, "meetings", "import", "lsv", str(source))
    assert unknown.returncode == 1
    assert "no group 'lsv'" in unknown.stderr and "lsvo" in unknown.stderr
    missing = samverkan(data_dir, "meetings", "import", "lsvo", str(tmp_path / "nej.csv"))
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr
    assert samverkan(data_dir, "meetings", "list", "lsv").returncode == 2


def test_feed_url_for_a_member(data_dir: Path) -> None:
    assert samverkan(data_dir, "db", "upgrade").returncode == 0
    engine = make_engine(f"sqlite:///{data_dir / 'samverkan.db'}")
    try:
        with unit_of_work(engine) as session:
            member = session.exec(select(Member).order_by(col(Member.id))).first()
            assert member is not None
            member.email = "ordforande@example.se"
            session.add(member)
        done = samverkan(data_dir, "meetings", "feed-url", "Ordforande@Example.se")
        assert done.returncode == 0, done.stderr
        url = done.stdout.strip()
        prefix = "https://samverkan.example.se/kalender/ledamot/"
        assert url.startswith(prefix) and url.endswith(".ics")
        token = url.removeprefix(prefix).removesuffix(".ics")
        assert len(token) >= 43
        assert mc.member_feed(engine, token) is not None
        rotated = samverkan(data_dir, "meetings", "feed-url", "ordforande@example.se")
        assert rotated.stdout.strip() != url
        assert mc.member_feed(engine, token) is None
    finally:
        engine.dispose()
    nobody = samverkan(data_dir, "meetings", "feed-url", "ingen@example.se")
    assert nobody.returncode == 1
    assert "no member has the e-mail address" in nobody.stderr
