"""The meeting calendar's pages and feeds: who may read, who may change, CSRF, uploads."""

from __future__ import annotations

from datetime import date, timedelta

import icalendar
import pytest
from conftest import StaffUser, _staff, csrf, sign_in
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlmodel import col, select

from casework import meeting_calendar as mc
from casework.calendar import deadlines_for
from casework.db import unit_of_work
from casework.model import AgendaItem, AuditEvent, Group, Meeting, Member, StaffRole
from casework.web.staff import local_today

NEXT_YEAR = local_today().year + 1
DAY = f"{NEXT_YEAR}-02-12"


@pytest.fixture
def secretary(seeded_engine: Engine) -> StaffUser:
    return _staff(seeded_engine, "sekreterare@example.se", StaffRole.secretary, "lsvo")


@pytest.fixture
def admin(seeded_engine: Engine) -> StaffUser:
    return _staff(seeded_engine, "admin@example.se", StaffRole.admin)


def meetings_of(engine: Engine, slug: str) -> list[Meeting]:
    with unit_of_work(engine) as session:
        statement = (
            select(Meeting)
            .join(Group, col(Group.id) == col(Meeting.group_id))
            .where(Group.slug == slug)
            .order_by(col(Meeting.date))
        )
        return list(session.exec(statement).all())


def add(client: TestClient, slug: str = "lsvo", **form: str) -> Response:
    data = {"datum": DAY, "start": "09:00", "slut": "12:00", "plats": "Regionhuset"}
    return client.post(
        f"/kalender/{slug}/moten",
        data={"csrf_token": csrf(client), **data, **form},
        follow_redirects=False,
    )


def upload(client: TestClient, content: bytes, name: str = "moten.csv") -> Response:
    return client.post(
        "/kalender/lsvo/import",
        data={"csrf_token": csrf(client)},
        files={"fil": (name, content, "text/csv")},
        follow_redirects=False,
    )


def planned(engine: Engine, slug: str = "lsvo", day: str = DAY) -> mc.MeetingView:
    data = mc.check_meeting(day, "09:00", "12:00", "Regionhuset <b>sal 1</b>")
    return mc.add_meeting(engine, slug, data, actor="test")


# --- reading ---------------------------------------------------------------------------


def test_anyone_reads_the_calendar_with_deadlines_and_feed_links(
    client: TestClient, seeded_engine: Engine
) -> None:
    view = planned(seeded_engine)
    page = client.get("/kalender")
    assert page.status_code == 200
    text = page.text
    assert f'href="/moten/{view.id}"' in text
    assert "Regionhuset &lt;b&gt;sal 1&lt;/b&gt;" in text
    assert "<b>sal 1</b>" not in text
    assert "09:00–12:00" in text
    due = view.deadlines
    assert f"{due.submission_due.day} " in text and str(due.submission_due.year) in text
    assert 'href="/kalender/lsvo.ics"' in text
    assert 'href="/kalender/sg-aldre.ics"' in text
    assert "Lägg till ett möte" not in text
    assert "Importera" not in text


def test_the_group_feed_is_public_icalendar(client: TestClient, seeded_engine: Engine) -> None:
    view = planned(seeded_engine)
    response = client.get("/kalender/lsvo.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    calendar = icalendar.Calendar.from_ical(response.content)
    events = {str(e["uid"]): e for e in calendar.walk("VEVENT")}
    assert f"meeting-{view.id}@samverkan" in events
    assert str(events[f"meeting-{view.id}@samverkan"]["location"]) == "Regionhuset <b>sal 1</b>"
    again = client.get("/kalender/lsvo.ics")
    assert {str(e["uid"]) for e in icalendar.Calendar.from_ical(again.content).walk("VEVENT")} == (
        set(events)
    )
    assert client.get("/kalender/lsv.ics").status_code == 404


def test_the_member_feed_needs_a_known_token(client: TestClient, seeded_engine: Engine) -> None:
    view = planned(seeded_engine)
    with unit_of_work(seeded_engine) as session:
        member = session.exec(select(Member).order_by(col(Member.id))).first()
        assert member is not None
        member.email = "ordforande@example.se"
        session.add(member)
    token = mc.issue_feed_token(seeded_engine, "ordforande@example.se", actor="test")
    response = client.get(f"/kalender/ledamot/{token}.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert "no-store" in response.headers["cache-control"]
    uids = {str(e["uid"]) for e in icalendar.Calendar.from_ical(response.content).walk("VEVENT")}
    assert f"meeting-{view.id}@samverkan" in uids
    missing = client.get(f"/kalender/ledamot/{token[:-1]}x.ics")
    assert missing.status_code == 404
    assert "Kalenderlänken" in missing.text
    assert client.get(f"/kalender/ledamot/{'a' * 200}.ics").status_code == 404


# --- who may change ----------------------------------------------------------------------


def test_the_secretary_adds_a_meeting_to_their_own_group_only(
    client: TestClient, seeded_engine: Engine, secretary: StaffUser
) -> None:
    sign_in(client, secretary)
    page = client.get("/kalender").text
    assert 'action="/kalender/lsvo/moten"' in page
    assert 'action="/kalender/lsvo/import"' in page
    assert 'action="/kalender/sg-aldre/moten"' not in page
    response = add(client)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/kalender?klart=tillagt")
    [stored] = meetings_of(seeded_engine, "lsvo")
    assert (stored.date.isoformat(), stored.place) == (DAY, "Regionhuset")
    assert "Mötet har lagts till." in client.get("/kalender?klart=tillagt").text
    with unit_of_work(seeded_engine) as session:
        event = session.exec(select(AuditEvent)).one()
    assert (event.action, event.actor, event.case_id) == ("add_meeting", secretary.email, None)
    forbidden = add(client, "sg-aldre")
    assert forbidden.status_code == 403
    assert meetings_of(seeded_engine, "sg-aldre") == []


def test_an_admin_manages_every_group(
    client: TestClient, seeded_engine: Engine, admin: StaffUser
) -> None:
    sign_in(client, admin)
    assert add(client, "sg-aldre").status_code == 303
    assert len(meetings_of(seeded_engine, "sg-aldre")) == 1


@pytest.mark.parametrize("role", [StaffRole.member, StaffRole.beredning])
def test_other_staff_may_not_change_meetings(
    client: TestClient, seeded_engine: Engine, role: StaffRole
) -> None:
    sign_in(client, _staff(seeded_engine, "annan@example.se", role))
    assert "Lägg till ett möte" not in client.get("/kalender").text
    assert add(client).status_code == 403
    assert upload(client, b"datum;start;slut;plats\n").status_code == 403
    assert meetings_of(seeded_engine, "lsvo") == []


def test_anonymous_changes_go_to_sign_in(client: TestClient, seeded_engine: Engine) -> None:
    response = add(client)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/logga-in")
    view = planned(seeded_engine)
    assert client.get(f"/kalender/moten/{view.id}", follow_redirects=False).status_code == 303
    assert len(meetings_of(seeded_engine, "lsvo")) == 1


def test_a_form_without_the_csrf_token_is_refused(
    client: TestClient, seeded_engine: Engine, secretary: StaffUser
) -> None:
    sign_in(client, secretary)
    view = planned(seeded_engine, day=f"{NEXT_YEAR}-03-12")
    form = {"datum": DAY, "start": "09:00", "slut": "12:00", "plats": "Regionhuset"}
    assert client.post("/kalender/lsvo/moten", data=form).status_code == 403
    assert client.post(f"/kalender/moten/{view.id}/stall-in", data={}).status_code == 403
    wrong = client.post(
        "/kalender/lsvo/import",
        data={"csrf_token": "fel"},
        files={"fil": ("m.csv", b"datum;start;slut;plats\n", "text/csv")},
    )
    assert wrong.status_code == 403
    assert [m.id for m in meetings_of(seeded_engine, "lsvo")] == [view.id]


# --- form errors -------------------------------------------------------------------------


def test_a_bad_meeting_is_shown_again_with_swedish_errors(
    client: TestClient, seeded_engine: Engine, secretary: StaffUser
) -> None:
    sign_in(client, secretary)
    response = add(client, start="12:00", slut="09:00", plats="", datum="12/2")
    assert response.status_code == 422
    text = response.text
    assert "Mötet kunde inte sparas." in text
    assert "skriv ÅÅÅÅ-MM-DD" in text
    assert "Mötet måste sluta (09:00) efter att det börjar (12:00)." in text
    assert "Ange en plats eller en videolänk." in text
    assert 'value="12/2"' in text
    assert 'aria-invalid="true"' in text
    assert meetings_of(seeded_engine, "lsvo") == []
    assert add(client).status_code == 303
    twice = add(client)
    assert twice.status_code == 409
    assert f"har redan ett möte {DAY}" in twice.text


def test_edit_and_cancel_a_meeting(
    client: TestClient, seeded_engine: Engine, secretary: StaffUser
) -> None:
    view = planned(seeded_engine)
    sign_in(client, secretary)
    page = client.get(f"/kalender/moten/{view.id}")
    assert page.status_code == 200
    assert f'value="{DAY}"' in page.text
    moved = f"{NEXT_YEAR}-02-19"
    form = {
        "csrf_token": csrf(client),
        "datum": moved,
        "start": "10:00",
        "slut": "11:30",
        "plats": "",
        "videolank": "https://teams.example.se/l/meetup/abc",
    }
    saved = client.post(f"/kalender/moten/{view.id}", data=form, follow_redirects=False)
    assert saved.status_code == 303
    [stored] = meetings_of(seeded_engine, "lsvo")
    assert (stored.date.isoformat(), stored.ends_at, stored.place) == (moved, "11:30", "")
    bad = client.post(f"/kalender/moten/{view.id}", data={**form, "videolank": "javascript:x"})
    assert bad.status_code == 422
    assert "Videolänken måste vara en webbadress" in bad.text
    with unit_of_work(seeded_engine) as session:
        session.add(AgendaItem(meeting_id=view.id, title="Ärende", section="case"))
    refused = client.post(f"/kalender/moten/{view.id}/stall-in", data={"csrf_token": csrf(client)})
    assert refused.status_code == 409
    assert "kan inte ställas in" in refused.text
    with unit_of_work(seeded_engine) as session:
        for item in session.exec(select(AgendaItem)).all():
            session.delete(item)
    cancelled = client.post(
        f"/kalender/moten/{view.id}/stall-in",
        data={"csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert cancelled.status_code == 303
    assert meetings_of(seeded_engine, "lsvo") == []
    assert client.get(f"/kalender/moten/{view.id}").status_code == 404


def test_the_secretary_of_another_group_cannot_edit(
    client: TestClient, seeded_engine: Engine
) -> None:
    view = planned(seeded_engine)
    sign_in(client, _staff(seeded_engine, "aldre@example.se", StaffRole.chair, "sg-aldre"))
    assert client.get(f"/kalender/moten/{view.id}").status_code == 403
    gone = client.post(f"/kalender/moten/{view.id}/stall-in", data={"csrf_token": csrf(client)})
    assert gone.status_code == 403
    assert len(meetings_of(seeded_engine, "lsvo")) == 1


# --- import ------------------------------------------------------------------------------


def year_csv(*extra: str) -> bytes:
    lines = [
        "datum;start;slut;plats;videolänk",
        f"{NEXT_YEAR}-02-12;09:00;12:00;Regionhuset;",
        f"{NEXT_YEAR}-03-12;09:00;12:00;;https://teams.example.se/l/meetup/abc",
        *extra,
    ]
    return ("\n".join(lines) + "\n").encode()


def test_import_a_year_and_again(
    client: TestClient, seeded_engine: Engine, secretary: StaffUser
) -> None:
    sign_in(client, secretary)
    first = upload(client, year_csv())
    assert first.status_code == 200
    assert "Importen är klar: 2 nya möten, 0 ändrade, 0 oförändrade." in first.text
    again = upload(client, year_csv())
    assert "0 nya möten, 0 ändrade, 2 oförändrade." in again.text
    assert len(meetings_of(seeded_engine, "lsvo")) == 2


def test_a_bad_import_lists_every_line_and_stores_nothing(
    client: TestClient, seeded_engine: Engine, secretary: StaffUser
) -> None:
    sign_in(client, secretary)
    response = upload(
        client,
        year_csv(f"{NEXT_YEAR}-04-31;09:00;12:00;Regionhuset;", f"{NEXT_YEAR}-02-12;9;;X;"),
    )
    assert response.status_code == 422
    text = response.text
    assert "Inget har importerats." in text
    assert f"Rad 4: ”{NEXT_YEAR}-04-31” finns inte i kalendern." in text
    assert "Rad 5: Starttiden ”9” är ingen tid" in text
    assert "Rad 5: Sluttiden ”” är ingen tid" in text
    assert meetings_of(seeded_engine, "lsvo") == []


def test_import_an_ics_file_and_warn_about_holidays(
    client: TestClient, seeded_engine: Engine, secretary: StaffUser
) -> None:
    sign_in(client, secretary)
    christmas = date(NEXT_YEAR, 12, 24)
    source = mc.calendar_ics(
        "x",
        [
            mc.MeetingView(
                Meeting(
                    id=1,
                    group_id=1,
                    date=christmas,
                    starts_at="09:00",
                    ends_at="10:00",
                    place="Regionhuset",
                ),
                Group(id=1, slug="x", name="X", level="other"),
                deadlines_for("x", christmas),
            )
        ],
    )
    response = upload(client, source, "kalender.ics")
    assert response.status_code == 200, response.text
    assert "1 nya möten" in response.text
    assert "helgdag" in response.text
    assert [m.date for m in meetings_of(seeded_engine, "lsvo")] == [christmas]


def test_an_oversized_or_missing_file_is_refused(
    client: TestClient, seeded_engine: Engine, secretary: StaffUser
) -> None:
    sign_in(client, secretary)
    big = year_csv() + b"#" * (mc.MAX_IMPORT_BYTES + 10)
    response = upload(client, big)
    assert response.status_code == 413
    assert "kB" in response.text
    empty = client.post("/kalender/lsvo/import", data={"csrf_token": csrf(client)})
    assert empty.status_code == 422
    assert "Välj en fil" in empty.text
    assert meetings_of(seeded_engine, "lsvo") == []


def test_past_meetings_are_not_listed(client: TestClient, seeded_engine: Engine) -> None:
    past = (local_today() - timedelta(days=3)).isoformat()
    view = planned(seeded_engine, day=past)
    assert f'href="/moten/{view.id}"' not in client.get("/kalender").text
