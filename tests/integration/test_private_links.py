"""Every message to a submitter carries a fresh private link that opens the case's status
page, and only that case's; an expired link says so in Swedish. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select
from sweep_world import add_case, add_meeting, build_world, place_on_agenda

import rules
from casework import access, agenda, repository, services
from casework.accounts import Identity
from casework.calendar import STOCKHOLM
from casework.db import unit_of_work
from casework.lifecycle import Action
from casework.model import (
    AccessLink,
    AccessPurpose,
    CaseCreate,
    Meeting,
    Member,
    Notification,
    StaffRole,
)
from casework.settings import Settings
from casework.sweep import EventKind, SweepConfig, sweep
from notifications.messages import html_part

RULES = rules.load_rules()
DESTINATIONS = list(RULES.destinations)
LINK = re.compile(r"https?://\S+?(/s/[A-Za-z0-9_-]{20,100})(?=\s|$)")
SECRETARY = Identity(0, "sekreterare@example.se", "", frozenset({(StaffRole.secretary, "lsvo")}))


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=STOCKHOLM)


def submit(engine: Engine, title: str, when: datetime | None = None) -> services.Submitted:
    data = CaseCreate.model_validate(
        {
            "title": title,
            "kind": ["beslut"],
            "county_wide": True,
            "submitter_name": "Anna Andersson",
            "submitter_email": "anna@example.se",
        }
    )
    return services.submit_case(engine, data, actor="anna", rules=RULES, now=when)


def messages(engine: Engine, case_id: int) -> list[Notification]:
    with unit_of_work(engine, write=False) as session:
        query = select(Notification).where(Notification.case_id == case_id)
        return list(session.exec(query.order_by(col(Notification.id))).all())


def link_path(message: Notification) -> str:
    """The status page's path in the plain text, checked to be in the HTML part too."""
    found = LINK.findall(message.body_text)
    assert len(found) == 1, message.body_text
    html = html_part(message.subject, message.body_text, message.body_html)
    assert f'href="{LINK.search(message.body_text).group(0)}"' in html  # type: ignore[union-attr]
    return str(found[0])


def every_submitter_message(engine: Engine) -> dict[str, tuple[int, Notification]]:
    """kind → (case id, the message), one of each kind a submitter is sent."""
    found: dict[str, tuple[int, Notification]] = {}
    for action, extra, kind in [
        ("accept", {}, "case_routed"),
        ("reroute", {"destination": "lsvo", "reason": "Länsgemensamt."}, "case_rerouted"),
        ("return", {"reason": "Bifoga underlaget."}, "case_returned"),
        ("withdraw", {}, "case_withdrawn"),
    ]:
        case_id = submit(engine, f"Ärende {kind}").case.id or 0
        services.triage(
            engine, case_id, action, actor="beredning", destinations=DESTINATIONS, **extra
        )
        received, told = messages(engine, case_id)
        found.setdefault("case_received", (case_id, received))
        assert told.kind == kind
        found[kind] = (case_id, told)
    with unit_of_work(engine) as session:
        group = repository.get_group(session, slug="lsvo")
        assert group is not None and group.id is not None
        rows = [Meeting(group_id=group.id, date=d) for d in (date(2023, 5, 12), date(2023, 6, 16))]
        session.add_all(rows)
        session.flush()
        may, june = (m.id or 0 for m in rows)
    for kind, submitted_on, meeting_id in [
        ("case_scheduled", date(2023, 4, 28), may),
        ("case_moved_late", date(2023, 4, 29), june),
    ]:
        case_id = submit(engine, f"Ärende {kind}", at(submitted_on)).case.id or 0
        services.transition(
            engine, case_id, Action.route, actor="b", destination="lsvo", now=at(submitted_on)
        )
        agenda.schedule_case(engine, case_id, meeting_id, actor=SECRETARY, now=at(date(2023, 5, 2)))
        found[kind] = (case_id, messages(engine, case_id)[-1])
        assert found[kind][1].kind == kind
    return found


SUBMITTER_KINDS = {
    "case_received",
    "case_routed",
    "case_rerouted",
    "case_returned",
    "case_withdrawn",
    "case_scheduled",
    "case_moved_late",
}


def test_every_message_to_a_submitter_opens_its_own_case_and_no_other(
    client: TestClient, seeded_engine: Engine
) -> None:
    found = every_submitter_message(seeded_engine)
    assert set(found) == SUBMITTER_KINDS
    with unit_of_work(seeded_engine, write=False) as session:
        references = {
            case_id: (repository.get_case(session, case_id=case_id) or pytest.fail()).reference
            for case_id, _ in found.values()
        }
    other = services.attach_file(
        seeded_engine,
        found["case_routed"][0],
        filename="annat.pdf",
        content_type="application/pdf",
        content=b"%PDF-1.4 annat",
        actor="anna",
        data_dir=client.app.state.settings.data_dir,  # type: ignore[attr-defined]
    )
    paths = set()
    for kind, (case_id, message) in found.items():
        path = link_path(message)
        paths.add(path)
        page = client.get(path)
        assert page.status_code == 200, (kind, page.text)
        assert references[case_id] in page.text
        for other_id, reference in references.items():
            if other_id != case_id:
                assert reference not in page.text, kind
        if case_id != other.case_id:
            assert client.get(f"{path}/bilagor/{other.id}").status_code == 404
        assert "länken i kvittot" not in message.body_text
    assert len(paths) == len(SUBMITTER_KINDS)  # each message has a link of its own
    own = link_path(found["case_routed"][1])
    assert client.get(f"{own}/bilagor/{other.id}").status_code == 200
    with unit_of_work(seeded_engine, write=False) as session:
        links = session.exec(select(AccessLink)).all()
        later = session.exec(select(Notification).where(Notification.kind != "case_received"))
        later_count = len(later.all())
    # The receipt's link is the case's own; every later message stored a new one.
    assert len(links) == later_count >= len(SUBMITTER_KINDS) - 1
    assert {link.purpose for link in links} == {AccessPurpose.case}
    assert all(link.expires_at is None for link in links)


def test_the_receipt_keeps_the_cases_first_link(seeded_engine: Engine) -> None:
    submitted = submit(seeded_engine, "Kvitto")
    (receipt,) = messages(seeded_engine, submitted.case.id or 0)
    assert link_path(receipt) == f"/s/{submitted.access_token}"


def _link(engine: Engine, case_id: int, expires_at: datetime | None) -> str:
    with unit_of_work(engine) as session:
        url = access.create_link(
            session, AccessPurpose.case, case_id=case_id, expires_at=expires_at
        )
    return url[url.index("/s/") :]


def test_an_expired_link_gives_a_swedish_page(client: TestClient, seeded_engine: Engine) -> None:
    case_id = submit(seeded_engine, "Gammalt").case.id or 0
    now = datetime.now(UTC)
    expired = _link(seeded_engine, case_id, now - timedelta(minutes=1))
    valid = _link(seeded_engine, case_id, now + timedelta(days=1))
    page = client.get(expired)
    assert page.status_code == 410
    assert "Länken har slutat gälla" in page.text
    assert "Gammalt" not in page.text
    assert client.get(f"{expired}/bilagor/1").status_code == 410
    assert client.get(valid).status_code == 200


def test_a_written_views_link_does_not_open_a_case(
    client: TestClient, seeded_engine: Engine
) -> None:
    submit(seeded_engine, "Ärende")
    with unit_of_work(seeded_engine) as session:
        group = repository.get_group(session, slug="lsvo")
        member = session.exec(select(Member)).first()
        assert group is not None and member is not None
        meeting = Meeting(group_id=group.id or 0, date=date(2030, 1, 10))
        session.add(meeting)
        session.flush()
        url = access.create_link(
            session, AccessPurpose.written_views, meeting_id=meeting.id, member_id=member.id
        )
    token = url.rsplit("/", 1)[1]
    assert client.get(f"/s/{token}").status_code == 404
    assert client.get(f"/synpunkter/{token}").status_code == 200


@pytest.fixture
def world_client(migrated_engine: Engine, web_settings: Settings) -> Iterator[TestClient]:
    from casework.web.app import create_app

    build_world(migrated_engine)
    app = create_app(engine=migrated_engine, settings=web_settings)
    with TestClient(app, base_url="https://testserver") as client:
        yield client


def test_the_documents_reminder_gives_the_submitter_alone_a_case_link(
    migrated_engine: Engine, world_client: TestClient
) -> None:
    engine = migrated_engine
    with unit_of_work(engine, write=False) as session:
        group = repository.get_group(session, slug="lsvo")
        assert group is not None and group.id is not None
    may = add_meeting(engine, group.id, date(2023, 5, 12))
    case_id = add_case(engine, "Saknar underlag", presenter="Bo Berg")
    place_on_agenda(engine, may, case_id, 1)
    sweep(engine, at(date(2023, 4, 26)), SweepConfig(), kinds=[EventKind.submission_reminder])
    by_address = {m.recipient_address: m for m in messages(engine, case_id)}
    assert set(by_address) == {"anna@example.se", "bo@example.se"}
    page = world_client.get(link_path(by_address["anna@example.se"]))
    assert page.status_code == 200 and "Saknar underlag" in page.text
    # The presenter is a member, not the submitter: no key to the submitter's page.
    assert "/s/" not in by_address["bo@example.se"].body_text
    assert "Ärendesystemet:" in by_address["bo@example.se"].body_text
