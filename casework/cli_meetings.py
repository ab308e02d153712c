"""`samverkan meetings`: a group's meetings listed, imported and exported, and feed links."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from casework.calendar import STOCKHOLM
from casework.cli import app, fail
from casework.settings import get_settings

meetings_app = typer.Typer(
    help="The meeting calendar: list, import and export meetings.", no_args_is_help=True
)
app.add_typer(meetings_app, name="meetings")

SlugArgument = Annotated[str, typer.Argument(help="Group slug, e.g. lsvo or sg-aldre.")]


@meetings_app.command("list")
def meetings_list(
    group: SlugArgument,
    all_meetings: Annotated[
        bool, typer.Option("--all", help="Also list past meetings, not only upcoming ones.")
    ] = False,
) -> None:
    """Print the group's meetings with their deadlines, one JSON object a line."""
    from datetime import date

    from casework import meeting_calendar as mc
    from casework.bootstrap import open_database
    from casework.services import GroupNotFound

    engine = open_database()
    since = date.min if all_meetings else datetime.now(STOCKHOLM).date()
    try:
        found = mc.group_calendar(engine, group, on_or_after=since)
    except GroupNotFound as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    for view in found.meetings:
        meeting = view.meeting
        record = {
            "id": meeting.id,
            "date": meeting.date.isoformat(),
            "starts_at": meeting.starts_at,
            "ends_at": meeting.ends_at,
            "place": meeting.place,
            "video_link": meeting.video_link,
            "submission_due": view.deadlines.submission_due.isoformat(),
            "agenda_due": view.deadlines.agenda_due.isoformat(),
        }
        typer.echo(json.dumps(record, ensure_ascii=False))


@meetings_app.command("import")
def meetings_import(
    group: SlugArgument,
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV (datum;start;slut;plats[;videolänk]) or iCalendar (.ics) file.",
            dir_okay=False,
        ),
    ],
    actor: Annotated[str, typer.Option(help="Who imports, for the audit trail.")] = "cli",
) -> None:
    """Import a year's meetings, all or nothing: bad rows are listed and nothing is stored."""
    from casework import meeting_calendar as mc
    from casework.bootstrap import open_database
    from casework.services import GroupNotFound

    try:
        with file.open("rb") as source:
            content = source.read(mc.MAX_IMPORT_BYTES + 1)
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")
    engine = open_database()
    try:
        rows, problems = mc.parse_calendar_file(file.name, content)
        summary = mc.import_year(engine, group, rows, actor, problems=problems)
    except mc.CalendarFileError as exc:
        fail(f"{file}: {exc.problem}", code=1)
    except mc.ImportRejected as exc:
        for problem in exc.problems:
            typer.echo(f"{file}: {problem}", err=True)
        fail(f"{file}: {exc}", code=1)
    except (mc.MeetingConflict, GroupNotFound) as exc:
        fail(str(exc), code=1)
    finally:
        engine.dispose()
    for warning in summary.warnings:
        typer.echo(f"samverkan: warning: {file}: {warning}", err=True)
    typer.echo(f"{group}: {summary}")


@meetings_app.command("export")
def meetings_export(
    group: SlugArgument,
    file: Annotated[
        Path | None,
        typer.Argument(help="Where to write the .ics file; standard output when omitted or '-'."),
    ] = None,
) -> None:
    """Write the group's meetings (from a year back) as an iCalendar file."""
    from casework import meeting_calendar as mc
    from casework.bootstrap import open_database
    from casework.services import GroupNotFound

    engine = open_database()
    try:
        content = mc.group_feed(engine, group)
    except GroupNotFound as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    if file is None or str(file) == "-":
        typer.echo(content.decode(), nl=False)
        return
    try:
        file.write_bytes(content)
    except OSError as exc:
        fail(f"cannot write {file}: {exc.strerror}")
    typer.echo(f"{group}: wrote {file}")


@meetings_app.command("feed-url")
def meetings_feed_url(
    email: Annotated[str, typer.Argument(help="The member's e-mail address.")],
) -> None:
    """Print a new private calendar address for the member (the previous one stops working)."""
    from casework import meeting_calendar as mc
    from casework.bootstrap import open_database

    engine = open_database()
    try:
        token = mc.issue_feed_token(engine, email, actor="cli")
    except mc.MemberNotFound as exc:
        fail(str(exc), code=1)
    finally:
        engine.dispose()
    typer.echo(f"{get_settings().public_url}/kalender/ledamot/{token}.ics")
