"""A secretary runs a meeting in a real browser: from attendance to published minutes.

The meeting is LSVO's, held today, with one case on its agenda and the agenda sent. An
absent member leaves written views from the private link of the agenda message. The
secretary marks the attendance of LSVO's meeting of 2021-06-04 (not quorate: 7 of the
14 municipal members), sees the quorum change live when one more municipal member is
ticked, saves, records a decision on every item, finalises the minutes, and signs them.
Anyone can then read the minutes on the body's public page; the outbox holds the
paragraph for its recipient and the outcome for the submitter.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from lsvo_2021_06_04 import attendance
from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

import rules
from casework import accounts, agenda, repository, services
from casework.access import create_link
from casework.calendar import STOCKHOLM
from casework.db import unit_of_work
from casework.lifecycle import Action, State
from casework.model import (
    AccessPurpose,
    CaseCreate,
    Meeting,
    Member,
    Notification,
    StaffRole,
)
from e2e.conftest import LiveApp, new_page

pytestmark = pytest.mark.e2e

SECRETARY_EMAIL = "sekreterare@e2e.example"
SECRETARY_PASSWORD = "sekreterarens långa lösenord i webbläsaren"
CASE_TITLE = "Länsgemensam riktlinje för samordnad individuell plan"
CLAUSE = "anta den länsgemensamma riktlinjen för SIP"
VIEW = "Karlshamn ställer sig bakom riktlinjen men vill se en plan för utbildning."
RECIPIENT = "Processledare SIP"
RECIPIENT_ADDRESS = "processledare@region.example"
ASSIGNMENT = "Ta fram en plan för utbildning i SIP"
EXTRA_MUNICIPAL = "Gunilla Råberg"
WITHOUT_QUORUM = re.compile("^Besluta trots att mötet inte är beslutsmässigt")


def _arrange(live_app: LiveApp) -> tuple[int, int, str]:
    """Today's LSVO meeting with a case on its sent agenda; its id, the case's id, and a
    written-views link for an absent member."""
    engine = live_app.engine
    now = datetime.now(STOCKHOLM)
    today = now.date()
    accounts.create_user(
        engine,
        email=SECRETARY_EMAIL,
        password=SECRETARY_PASSWORD,
        role=StaffRole.secretary,
        group="lsvo",
        name="Mats Wennstig",
    )
    with unit_of_work(engine) as session:
        group = repository.get_group(session, slug="lsvo")
        assert group is not None and group.id is not None
        meeting = session.exec(
            select(Meeting).where(Meeting.group_id == group.id, Meeting.date == today)
        ).first() or Meeting(group_id=group.id, date=today)
        meeting.starts_at, meeting.ends_at, meeting.place = "00:00", "23:59", "via Teams"
        session.add(meeting)
        session.flush()
        assert meeting.id is not None
        meeting_id = meeting.id

    earlier = now - timedelta(days=30)
    data = CaseCreate.model_validate(
        {
            "title": CASE_TITLE,
            "description": "En gemensam riktlinje för samordnad individuell plan i länet.",
            "kind": ["beslut"],
            "county_wide": True,
            "submitter_name": "Anna Andersson",
            "submitter_email": "anna@karlskrona.example",
            "presenter": "Anna Andersson",
            "proposed_decision": "LSVO beslutar att anta riktlinjen.",
        }
    )
    case = services.submit_case(
        engine, data, actor="anna@karlskrona.example", rules=rules.load_rules(), now=earlier
    ).case
    assert case.id is not None
    services.transition(
        engine,
        case.id,
        Action.route,
        actor="beredning@e2e.example",
        destination="lsvo",
        now=earlier,
    )
    secretary = accounts.Identity(
        0, SECRETARY_EMAIL, "Mats Wennstig", frozenset({(StaffRole.secretary, "lsvo")})
    )
    agenda.schedule_case(
        engine,
        case.id,
        meeting_id,
        actor=secretary,
        reason="Riktlinjen behöver beslutas innan sommaren.",
        now=now - timedelta(days=20),
    )
    with unit_of_work(engine) as session:
        row = session.get(Meeting, meeting_id)
        assert row is not None
        row.agenda_approved_at = row.agenda_sent_at = now - timedelta(days=8)
        row.agenda_approved_by = "beredning@e2e.example"
        absent = session.exec(select(Member).where(Member.name == "Thomas Svensson")).one()
        link = create_link(
            session,
            AccessPurpose.written_views,
            meeting_id=meeting_id,
            member_id=absent.id,
            expires_at=now + timedelta(days=1),
            public_url=live_app.url,
        )
    return meeting_id, case.id, link


def _sign_in(page: Page, live_app: LiveApp, next_path: str) -> None:
    page.goto(live_app.url + next_path)
    page.get_by_role("textbox", name="E-postadress").fill(SECRETARY_EMAIL)
    page.get_by_label("Lösenord").fill(SECRETARY_PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    expect(page).to_have_url(live_app.url + next_path)


def _decide(page: Page, heading: str, clauses: list[str]) -> None:
    """Open an item from the sitting page, record it as decided without quorum with its
    clauses; saving leads back to the sitting."""
    page.get_by_role(
        "link", name=re.compile(f"^Anteckna beslut för .*{re.escape(heading)}")
    ).click()
    page.get_by_label("Beslut", exact=True).check()
    for i, clause in enumerate(clauses):
        page.locator(f"#clause-{i}").fill(clause)
    page.get_by_label(WITHOUT_QUORUM).check()
    page.get_by_role("button", name="Spara beslutet").click()
    # Saving leads back to the sitting page.
    expect(page.get_by_role("status")).to_contain_text("Beslutet är sparat.")


def test_a_secretary_runs_a_meeting_to_published_minutes(
    live_app: LiveApp, browser: Browser
) -> None:
    meeting_id, case_id, views_link = _arrange(live_app)

    # An absent member leaves written views from the link in the agenda message.
    member_context, member = new_page(browser)
    member.goto(views_link)
    member.get_by_label(re.compile(re.escape(CASE_TITLE))).fill(VIEW)
    member.get_by_role("button", name="Spara synpunkterna").click()
    expect(member.get_by_role("status")).to_contain_text("Dina synpunkter är sparade.")
    member_context.close()

    context, page = new_page(browser)
    sitting = f"/moten/{meeting_id}/sammantrade"
    _sign_in(page, live_app, sitting)

    # Attendance as on 2021-06-04: the boxes are ticked and the quorum follows live.
    present, absent = attendance()
    for name in present:
        page.get_by_label(name, exact=True).check()
    quorum = page.locator("#beslutsmassighet")
    expect(quorum).to_contain_text("Mötet är inte beslutsmässigt")
    expect(quorum).to_contain_text("Kommunerna: 7 av 14 närvarande, minst 8 behövs")
    page.get_by_label(EXTRA_MUNICIPAL, exact=True).check()
    expect(quorum).to_contain_text("Mötet är beslutsmässigt.")
    page.get_by_label(EXTRA_MUNICIPAL, exact=True).uncheck()
    expect(quorum).to_contain_text("Mötet är inte beslutsmässigt")
    page.get_by_role("button", name="Spara närvaro").click()
    expect(page.get_by_role("status")).to_contain_text("Närvaron är sparad.")
    expect(quorum).to_contain_text("Kommunerna: 7 av 14 närvarande")
    for name in absent:
        expect(page.get_by_role("row", name=re.compile(re.escape(name)))).to_contain_text(
            "frånvarande"
        )

    page.get_by_label("Namn", exact=True).fill("Inga-Lisa Apelman")
    page.get_by_label("Organisation").fill("Region Blekinge")
    page.get_by_label("Funktion").fill("länssamordnare")
    page.get_by_role("button", name="Lägg till gäst").click()
    expect(page.get_by_role("status")).to_contain_text("Gästen är tillagd.")

    # Not quorate: a decision on the case is refused until the lack of quorum is chosen.
    page.get_by_role(
        "link", name=re.compile(f"^Anteckna beslut för .*{re.escape(CASE_TITLE)}")
    ).click()
    expect(page.locator("#beslut")).to_contain_text("Mötet är inte beslutsmässigt")
    page.get_by_label("Beslut", exact=True).check()
    page.locator("#clause-0").fill(CLAUSE)
    page.locator("#recipient-name-0").fill(RECIPIENT)
    page.locator("#recipient-address-0").fill(RECIPIENT_ADDRESS)
    page.locator("#task-description-0").fill(ASSIGNMENT)
    page.locator("#task-owner-0").fill("Anna Andersson")
    page.get_by_label("eller återrapport vid mötet").select_option(index=1)
    page.get_by_role("button", name="Spara beslutet").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.locator("#clause-0")).to_have_value(CLAUSE)  # nothing typed is lost
    page.get_by_label(WITHOUT_QUORUM).check()
    page.get_by_role("button", name="Spara beslutet").click()
    # Saving leads back to the sitting page.
    expect(page.get_by_role("status")).to_contain_text("Beslutet är sparat.")

    # The opening items.
    _decide(
        page,
        "Godkännande av dagordningen",
        ["godkänna för sammanträdet upprättad föredragningslista"],
    )
    _decide(
        page,
        "Föregående sammanträdesprotokoll",
        ["lägga informationen till protokollet"],
    )
    expect(page.get_by_text("Inget beslut antecknat")).to_have_count(0)

    # Finalise: the paragraphs get their numbers; then sign the minutes.
    page.get_by_role("link", name=re.compile("^Protokollet")).click()
    expect(page.locator(".minutes-document")).to_contain_text("Utkast")
    page.get_by_role("button", name="Fastställ protokollet").click()
    document = page.locator(".minutes-document")
    expect(document).not_to_contain_text("Utkast")
    expect(document).to_contain_text("§ 1")
    expect(document).to_contain_text(f"att {CLAUSE}")
    expect(document).to_contain_text("Mötet var inte beslutsmässigt när beslutet fattades.")
    expect(document).to_contain_text(VIEW)
    expect(document).to_contain_text(RECIPIENT)
    expect(document).to_contain_text("Inga-Lisa Apelman")

    page.goto(live_app.url + sitting)
    page.get_by_role("button", name="Justera protokollet genom underskrift").click()
    expect(page.get_by_role("status")).to_contain_text("Protokollet är justerat.")
    context.close()

    # Anyone reads the approved minutes on LSVO's public page.
    public_context, public = new_page(browser)
    public.goto(live_app.url + "/organ/lsvo")
    public.get_by_role("link", name=re.compile("^Protokoll LSVO")).first.click()
    expect(public.locator(".minutes-document")).to_contain_text(f"att {CLAUSE}")
    expect(public.locator(".minutes-document")).to_contain_text(CASE_TITLE)
    public_context.close()

    with unit_of_work(live_app.engine, write=False) as session:
        case = repository.get_case(session, case_id=case_id)
        assert case is not None
        assert case.status is State.following_up
        sent = session.exec(select(Notification).where(Notification.case_id == case_id)).all()
        kinds = {(n.kind, n.recipient_address) for n in sent}
        assert ("case_outcome", "anna@karlskrona.example") in kinds
        paragraphs = session.exec(
            select(Notification).where(Notification.kind == "minutes_paragraphs")
        ).all()
        assert [n.recipient_address for n in paragraphs] == [RECIPIENT_ADDRESS]
        assert CLAUSE in paragraphs[0].body_text
        assert paragraphs[0].attachments and paragraphs[0].attachments[0]["filename"].endswith(
            ".pdf"
        )
