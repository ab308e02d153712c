"""Minutes: drafting, § numbers, finalising with case changes and distribution, new
versions; on SQLite and PostgreSQL. The meeting is LSVO's of 2023-05-12 as its seed
minutes tell it (`tests/minutes_world.py`)."""

from __future__ import annotations

import html
import io
import re
import threading
from datetime import date
from pathlib import Path

import pytest
from minutes_world import (
    ABSENT,
    CASES,
    GUEST,
    HELENE,
    IKF,
    JUNE_16,
    MAY_12,
    OPENING,
    OTHER,
    PRESENT,
    SECRETARY,
    WRITTEN_VIEW,
    Item,
    at,
    build,
    decide,
    item_ids,
    make_meetings,
    routed_case,
    seed_index,
    seed_minutes,
    words,
)
from pypdf import PdfReader
from sqlalchemy import Engine
from sqlalchemy import text as sql
from sqlmodel import col, select

from casework import agenda, repository
from casework.accounts import Identity
from casework.agenda_pdf import latin1
from casework.db import unit_of_work
from casework.lifecycle import State
from casework.minutes import (
    MinutesDocument,
    MinutesError,
    draft_minutes,
    finalise_minutes,
    minutes_view,
    new_version,
    next_paragraph_numbers,
)
from casework.minutes_pdf import render_minutes_pdf
from casework.model import (
    AuditEvent,
    Case,
    Decision,
    Meeting,
    Minutes,
    Notification,
    Outcome,
    ParagraphCounter,
    StaffRole,
)
from casework.web.deps import templates

FINALISED = at(MAY_12, 16)


def counter(engine: Engine, group_id: int, year: int) -> int | None:
    with unit_of_work(engine) as session:
        row = session.get(ParagraphCounter, (group_id, year))
        return row.last if row else None


def stored(engine: Engine, meeting_id: int) -> list[Minutes]:
    with unit_of_work(engine) as session:
        query = (
            select(Minutes).where(Minutes.meeting_id == meeting_id).order_by(col(Minutes.version))
        )
        return list(session.exec(query).all())


def messages(engine: Engine, kind: str) -> list[Notification]:
    with unit_of_work(engine) as session:
        query = select(Notification).where(Notification.kind == kind).order_by(col(Notification.id))
        return list(session.exec(query).all())


def case_states(engine: Engine, ids: dict[int, int]) -> dict[int, State]:
    with unit_of_work(engine) as session:
        found = {}
        for number, case_id in ids.items():
            case = repository.get_case(session, case_id=case_id)
            assert case is not None
            found[number] = case.status
        return found


def decide_all(engine: Engine, meeting_id: int, outcome: Outcome = Outcome.noted) -> None:
    agenda.build_agenda(engine, meeting_id, actor=SECRETARY)
    for item_id in item_ids(engine, meeting_id):
        decide(
            engine, meeting_id, item_id, Item(("lägga informationen till protokollet",), outcome)
        )


def text_of_html(markup: str) -> str:
    return words(html.unescape(re.sub(r"<[^>]+>", " ", markup)))


def between(text: str, start: str, end: str | None) -> str:
    """The part of `text` from `start` up to `end` (or to the end)."""
    head = text.index(start)
    tail = text.index(end, head + len(start)) if end else len(text)
    return text[head:tail]


# --- the seeded meeting ------------------------------------------------------------------


def test_the_test_data_is_the_seed_minutes(seeded_engine: Engine) -> None:
    """The clauses and recipients the meeting is built with are those of the seed file."""
    seed = words(seed_minutes())
    for item in [*OPENING.values(), *CASES.values(), *(i for _, i in OTHER)]:
        for clause in item.clauses:
            assert words(f"att {clause}") in seed
        if item.recipients:
            names = " ".join(name for name, _ in item.recipients)
            assert words(f"Protokollet ska skickas till {names}") in seed
    assert sorted(seed_index()) == list(range(50, 61))


def test_the_draft_lists_the_meeting_without_numbers(seeded_engine: Engine) -> None:
    world = build(seeded_engine)
    with unit_of_work(seeded_engine, write=False) as session:
        doc = draft_minutes(session, world.meeting_id)
    assert not doc.is_final
    assert [p.number for p in doc.paragraphs] == [None] * 11
    assert doc.paragraph_range == ""
    assert doc.group_short_name == "LSVO"
    assert (
        doc.time_and_place == "Fredagen den 12 maj 2023 kl. 08.15–12.00, Folkhögskolan Bräkne-Hoby"
    )
    # In seating order, the chair first.
    assert sorted(p.name for p in doc.present) == sorted(PRESENT)
    assert [p.name for p in doc.present][:3] == [
        "Bodil Sundlöf",
        "Torill Skaar Magnusson",
        "Cecilia Grefve-Lang",
    ]
    assert doc.present[0].role == "Ordförande"
    assert doc.present[1].line == (
        "Torill Skaar Magnusson, förvaltningschef Omsorgsförvaltningen, Karlshamns kommun"
    )
    assert ABSENT[0] in [p.name for p in doc.absent]
    # Members with no attendance recorded are absent too; the secretary is listed as such.
    assert "Kjell Ivarsson" in [p.name for p in doc.absent]
    assert "Mats Wennstig" not in [p.name for p in doc.absent + doc.present]
    assert [p.name for p in doc.secretary] == ["Mats Wennstig"]
    assert [p.name for p in doc.chair] == ["Bodil Sundlöf"]
    assert [(p.name, p.organisation, p.function) for p in doc.adjuncts] == [GUEST]
    p53 = doc.paragraphs[3]
    assert [(v.member, v.text) for v in p53.written_views] == [WRITTEN_VIEW]
    assert p53.written_views[0].sender == "Patrik Håkansson, Olofströms kommun"
    assert p53.recipients == [HELENE[0], IKF[0]]
    assert "@" not in doc.model_dump_json()  # addresses never go into the document
    (other,) = [p for p in doc.paragraphs if p.sub_items]
    assert [s.letter for s in other.sub_items] == list("abcde")
    assert doc.paragraphs[5].assignments[0].owner == "Cecilia Grefve-Lang"
    assert doc.paragraphs[5].assignments[0].due == "mötet 2023-06-16"
    assert doc.unhandled() == []
    assert MinutesDocument.model_validate(doc.model_dump(mode="json")) == doc


def test_seeded_minutes_render_like_the_seed_file(seeded_engine: Engine, tmp_path: Path) -> None:
    world = build(seeded_engine)
    finalise_minutes(seeded_engine, SECRETARY, world.meeting_id, data_dir=tmp_path, now=FINALISED)
    (row,) = stored(seeded_engine, world.meeting_id)
    assert (row.version, row.first_paragraph, row.last_paragraph) == (1, 50, 60)
    doc = MinutesDocument.model_validate(row.content)
    assert doc.is_final and doc.paragraph_range == "§50 - §60"

    seed_titles = seed_index()
    our_index = {p.number: p.title for p in doc.paragraphs}
    assert sorted(our_index) == sorted(seed_titles)
    for number in CASES:
        assert our_index[number] == seed_titles[number]
    assert our_index[50].startswith("Godkännande av dagordning")
    assert our_index[51] == seed_titles[51]
    assert seed_titles[60].startswith(our_index[60])

    page = text_of_html(templates.env.get_template("_minutes_document.html").render(doc=doc))
    reader = PdfReader(io.BytesIO(render_minutes_pdf(doc)))
    # Without the page footers, which break the text where a page ends.
    sheets = "\n".join(sheet.extract_text() for sheet in reader.pages)
    pdf = words(re.sub(r"LSVO 2023-05-12 - sida \d+", " ", sheets))
    for text, plain in ((page, words), (pdf, lambda s: words(latin1(s)))):
        head = text.split("§ 50", 1)[0]
        assert plain("Sammanträdesprotokoll") in head and "2023-05-12" in head
        index = between(head, "Ärendeförteckning", "Tid och plats")
        for number in range(50, 61):
            assert f"§{number} " in index
        for label in ("Tid och plats", "Närvarande ledamöter", "Frånvarande", "Sekreterare"):
            assert plain(label) in head
        assert "§50 - §60" in between(head, "Paragrafer", None)
        for name in (*PRESENT, *ABSENT, "Mats Wennstig", GUEST[0]):
            assert plain(name) in head
        numbers = [int(n) for n in re.findall(r"§ (\d+)", text)]
        assert numbers == list(range(50, 61))
        for number, item in {**OPENING, **CASES}.items():
            section = between(text, f"§ {number} ", f"§ {number + 1} ")
            assert plain(our_index[number]) in section
            assert plain("LSVO beslutar") in section
            for clause in item.clauses:
                assert plain(f"att {clause}") in section
            if item.recipients:
                names = " ".join(name for name, _ in item.recipients)
                assert plain(f"Protokollet ska skickas till {names}") in section
            else:
                assert "Protokollet ska skickas till" not in section
            if item.presenter:
                assert plain(f"Föredragande: {item.presenter}") in section
        other = between(text, "§ 60 ", None)
        for letter, (title, item) in zip("abcde", OTHER, strict=True):
            part = between(other, f"{letter}/ {plain(title)}", None)
            for clause in item.clauses:
                assert plain(f"att {clause}") in part
        assert plain("Protokollet ska skickas till Diariet Ledamöter Helene Håkansson") in other
        assert plain(WRITTEN_VIEW[1]) in between(text, "§ 53 ", "§ 54 ")


# --- § numbers ---------------------------------------------------------------------------


def test_numbers_continue_through_the_year_and_restart_in_a_new_one(
    seeded_engine: Engine, tmp_path: Path
) -> None:
    world = build(seeded_engine)
    finalise_minutes(seeded_engine, SECRETARY, world.meeting_id, data_dir=tmp_path, now=FINALISED)
    decide_all(seeded_engine, world.june_id)  # the June meeting has only its opening items
    finalise_minutes(
        seeded_engine, SECRETARY, world.june_id, data_dir=tmp_path, now=at(JUNE_16, 15)
    )
    (june,) = stored(seeded_engine, world.june_id)
    assert (june.first_paragraph, june.last_paragraph) == (61, 62)
    assert [p["number"] for p in june.content["paragraphs"]] == [61, 62]

    (january,) = make_meetings(seeded_engine, date(2024, 1, 19))
    decide_all(seeded_engine, january)
    finalise_minutes(
        seeded_engine, SECRETARY, january, data_dir=tmp_path, now=at(date(2024, 1, 19), 15)
    )
    (first,) = stored(seeded_engine, january)
    assert (first.first_paragraph, first.last_paragraph) == (1, 2)
    assert counter(seeded_engine, world.group_id, 2023) == 62
    assert counter(seeded_engine, world.group_id, 2024) == 2


def test_finalising_twice_is_refused_and_a_refusal_uses_no_number(
    seeded_engine: Engine, tmp_path: Path
) -> None:
    world = build(seeded_engine)
    # The June meeting's second opening item has no decision yet.
    agenda.build_agenda(seeded_engine, world.june_id, actor=SECRETARY, now=at(date(2023, 6, 1)))
    first, second = item_ids(seeded_engine, world.june_id)
    decide(seeded_engine, world.june_id, first, Item(("godkänna dagordningen",)))
    with pytest.raises(MinutesError) as refused:
        finalise_minutes(
            seeded_engine, SECRETARY, world.june_id, data_dir=tmp_path, now=at(JUNE_16, 15)
        )
    assert "”Föregående sammanträdesprotokoll” saknar beslut" in refused.value.message_sv
    assert counter(seeded_engine, world.group_id, 2023) == 49
    assert stored(seeded_engine, world.june_id) == []

    finalise_minutes(seeded_engine, SECRETARY, world.meeting_id, data_dir=tmp_path, now=FINALISED)
    with pytest.raises(MinutesError) as again:
        finalise_minutes(
            seeded_engine, SECRETARY, world.meeting_id, data_dir=tmp_path, now=FINALISED
        )
    assert "redan fastställt" in again.value.message_sv
    assert counter(seeded_engine, world.group_id, 2023) == 60
    assert len(stored(seeded_engine, world.meeting_id)) == 1

    decide(seeded_engine, world.june_id, second, Item(("godkänna protokollet",)))
    finalise_minutes(
        seeded_engine, SECRETARY, world.june_id, data_dir=tmp_path, now=at(JUNE_16, 15)
    )
    assert stored(seeded_engine, world.june_id)[0].first_paragraph == 61


def test_only_the_groups_secretary_or_chair_finalises_and_not_before_the_meeting(
    seeded_engine: Engine, tmp_path: Path
) -> None:
    world = build(seeded_engine)
    other = Identity(0, "x@example.se", "", frozenset({(StaffRole.secretary, "sg-aldre")}))
    with pytest.raises(agenda.NotAllowed):
        finalise_minutes(seeded_engine, other, world.meeting_id, data_dir=tmp_path, now=FINALISED)
    with pytest.raises(MinutesError, match="has not been held"):
        finalise_minutes(
            seeded_engine, SECRETARY, world.meeting_id, data_dir=tmp_path, now=at(date(2023, 5, 11))
        )
    assert stored(seeded_engine, world.meeting_id) == []


def test_two_meetings_finalised_at_once_get_distinct_numbers(
    seeded_engine: Engine, tmp_path: Path
) -> None:
    days = [date(2025, 2, 7), date(2025, 3, 7), date(2025, 4, 4)]
    ids = make_meetings(seeded_engine, *days)
    for meeting_id in ids:
        agenda.build_agenda(seeded_engine, meeting_id, actor=SECRETARY, now=at(date(2025, 1, 2)))
        decide_all(seeded_engine, meeting_id)
    barrier = threading.Barrier(len(ids))
    failures: list[BaseException] = []

    def finalise(meeting_id: int) -> None:
        try:
            barrier.wait()
            finalise_minutes(
                seeded_engine, SECRETARY, meeting_id, data_dir=tmp_path, now=at(date(2025, 5, 2))
            )
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=finalise, args=(m,)) for m in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    numbers = sorted(
        n
        for meeting_id in ids
        for row in stored(seeded_engine, meeting_id)
        for n in range(row.first_paragraph, row.last_paragraph + 1)
    )
    assert numbers == list(range(1, 7))


# --- what finalising does ------------------------------------------------------------------


def test_finalising_moves_the_cases_and_tells_the_submitters(
    seeded_engine: Engine, tmp_path: Path
) -> None:
    world = build(seeded_engine)
    finalise_minutes(seeded_engine, SECRETARY, world.meeting_id, data_dir=tmp_path, now=FINALISED)
    states = case_states(seeded_engine, world.cases)
    assert states == {
        52: State.decided,
        53: State.decided,
        54: State.decided,
        55: State.following_up,  # it gave an open assignment
        56: State.decided,
        57: State.decided,
        58: State.noted,
        59: State.noted,
    }
    told = messages(seeded_engine, "case_outcome")
    assert sorted(m.case_id or 0 for m in told) == sorted(world.cases.values())
    by_case = {m.case_id: m for m in told}
    decided = by_case[world.cases[53]]
    assert decided.recipient_address == "anna@example.se"
    assert "§ 53" in decided.body_text and "LSVO beslutar" in decided.body_text
    assert "att ställa sig bakom att i samverkan" in decided.body_text
    assert "Följ ärendet här" in decided.body_text
    assert re.search(r"^https?://\S+/s/\S+$", decided.body_text, flags=re.MULTILINE)
    assert decided.meeting_id == world.meeting_id
    noted = by_case[world.cases[58]]
    assert "Informationen lades till protokollet" in noted.body_text
    with unit_of_work(seeded_engine) as session:
        actions = [
            e.action
            for e in session.exec(
                select(AuditEvent).where(AuditEvent.case_id == world.cases[55])
            ).all()
        ]
        assert actions[-2:] == ["decide", "follow_up"]
        (finalised,) = session.exec(
            select(AuditEvent).where(AuditEvent.action == "minutes_finalised")
        ).all()
        assert finalised.actor == SECRETARY.email
        assert finalised.after is not None and finalised.after["paragraphs"] == [50, 60]


def test_deferred_referred_back_and_escalated_items(seeded_engine: Engine, tmp_path: Path) -> None:
    world = build(seeded_engine)
    (september,) = make_meetings(seeded_engine, date(2023, 9, 8))
    submitted = at(date(2023, 5, 20))
    later = {
        outcome: routed_case(seeded_engine, f"Ärende som {outcome.value}", Item(), submitted)
        for outcome in (Outcome.deferred, Outcome.referred_back, Outcome.escalated)
    }
    for case_id in later.values():
        agenda.schedule_case(
            seeded_engine, case_id, world.june_id, actor=SECRETARY, now=at(date(2023, 5, 25))
        )
    with unit_of_work(seeded_engine) as session:
        by_case = {
            i.case_id: i.id
            for i in session.exec(
                select(agenda.AgendaItem).where(agenda.AgendaItem.meeting_id == world.june_id)
            ).all()
        }
    for item_id in item_ids(seeded_engine, world.june_id):
        case_id = next((c for c, i in by_case.items() if i == item_id), None)
        outcome = next((o for o, c in later.items() if c == case_id), Outcome.decided)
        decide(
            seeded_engine,
            world.june_id,
            item_id,
            Item(("skjuta upp frågan",) if outcome == Outcome.deferred else (), outcome),
            deferred_to=september if outcome == Outcome.deferred else None,
        )
    finalise_minutes(
        seeded_engine, SECRETARY, world.june_id, data_dir=tmp_path, now=at(JUNE_16, 15)
    )
    with unit_of_work(seeded_engine) as session:
        cases = {o: session.get(Case, c) for o, c in later.items()}
        deferred = cases[Outcome.deferred]
        assert deferred is not None
        assert (deferred.status, deferred.meeting_id) == (State.scheduled, september)
        on_september = session.exec(
            select(agenda.AgendaItem).where(
                agenda.AgendaItem.meeting_id == september,
                agenda.AgendaItem.case_id == deferred.id,
            )
        ).one()
        assert not on_september.for_information
        # The item stays on the June agenda: it is in those minutes.
        assert session.get(agenda.AgendaItem, by_case[deferred.id]) is not None
        referred = cases[Outcome.referred_back]
        assert referred is not None
        assert (referred.status, referred.meeting_id, referred.destination) == (
            State.routed,
            None,
            "lsvo",
        )
        escalated = cases[Outcome.escalated]
        assert escalated is not None and escalated.status == State.escalated
    told = {m.case_id: m for m in messages(seeded_engine, "case_outcome")}
    assert (
        "tas upp igen på mötet fredag 8 september 2023" in told[later[Outcome.deferred]].body_text
    )
    assert "återremitterades" in told[later[Outcome.referred_back]].body_text
    doc = minutes_view(seeded_engine, world.june_id).document
    deferred_paragraph = next(p for p in doc.paragraphs if p.case_id == later[Outcome.deferred])
    assert deferred_paragraph.deferred_to == "mötet 2023-09-08"


def test_each_recipient_gets_their_paragraphs_and_the_pdf(
    seeded_engine: Engine, tmp_path: Path
) -> None:
    world = build(seeded_engine)
    finalise_minutes(seeded_engine, SECRETARY, world.meeting_id, data_dir=tmp_path, now=FINALISED)
    sent = messages(seeded_engine, "minutes_paragraphs")
    by_address = {m.recipient_address: m for m in sent}
    # One message per address, whatever the number of paragraphs; names without an
    # address (Diariet, Regionchefsgruppen …) get none.
    assert sorted(by_address) == sorted(
        [
            "process-psv@example.se",
            HELENE[1],
            IKF[1],
            "ulrika.harris@example.se",
        ]
    )
    assert len(sent) == 4
    helene = by_address[HELENE[1]]
    assert re.findall(r"^(§ \d+(?: [a-e]/)?) ", helene.body_text, flags=re.MULTILINE) == [
        "§ 53",
        "§ 57",
        "§ 60 e/",
    ]
    assert "att föreslå att nuvarande avtal förlängs med ett år" in helene.body_text
    assert helene.subject == "Protokoll LSVO 2023-05-12: § 53, § 57, § 60 e/"
    ikf = by_address[IKF[1]]
    assert re.findall(r"^(§ \d+) ", ikf.body_text, flags=re.MULTILINE) == ["§ 53", "§ 56"]
    assert "§ 52" not in ikf.body_text and "<strong>att</strong>" in ikf.body_html
    for message in sent:
        (attachment,) = message.attachments
        assert attachment["filename"] == "protokoll-lsvo-2023-05-12.pdf"
        assert attachment["content_type"] == "application/pdf"
        assert message.meeting_id == world.meeting_id
    pdf = PdfReader(tmp_path / sent[0].attachments[0]["path"])
    text = words("\n".join(page.extract_text() for page in pdf.pages))
    assert "§50 - §60" in text and "LSVO beslutar" in text


# --- after finalising ----------------------------------------------------------------------


def test_final_minutes_are_frozen_and_a_new_version_keeps_the_old(
    seeded_engine: Engine, tmp_path: Path
) -> None:
    world = build(seeded_engine)
    finalise_minutes(seeded_engine, SECRETARY, world.meeting_id, data_dir=tmp_path, now=FINALISED)
    (first,) = stored(seeded_engine, world.meeting_id)
    # A decision row changed afterwards does not change the finalised minutes.
    with unit_of_work(seeded_engine) as session:
        decision = session.exec(
            select(Decision).where(Decision.agenda_item_id == world.items[54])
        ).one()
        decision.text = "Ändrad i efterhand"
        session.add(decision)
    view = minutes_view(seeded_engine, world.meeting_id)
    assert view.is_final and view.document.paragraphs[4].text == ""

    with pytest.raises(MinutesError) as no_reason:
        new_version(seeded_engine, SECRETARY, world.meeting_id, " ", {world.items[54]: "Ny"})
    assert no_reason.value.field == "reason"
    with pytest.raises(MinutesError, match="changes no text"):
        new_version(seeded_engine, SECRETARY, world.meeting_id, "Rättelse", {})
    new_text = "Ett förslag till uppdragsbeskrivning har tagits fram."
    new_version(
        seeded_engine,
        SECRETARY,
        world.meeting_id,
        "Texten i § 54 saknades",
        {world.items[54]: new_text, world.other_items["e"]: OTHER[4][1].text},
        now=at(date(2023, 5, 15)),
    )
    old, new = stored(seeded_engine, world.meeting_id)
    assert old.content == first.content and old.version == 1
    assert (new.version, new.first_paragraph, new.last_paragraph) == (2, 50, 60)
    assert new.reason == "Texten i § 54 saknades"
    doc = MinutesDocument.model_validate(new.content)
    assert doc.paragraphs[4].number == 54 and doc.paragraphs[4].text == new_text
    assert [p.number for p in doc.paragraphs] == list(range(50, 61))
    assert minutes_view(seeded_engine, world.meeting_id).document.version == 2
    assert (
        minutes_view(seeded_engine, world.meeting_id, version=1).document.paragraphs[4].text == ""
    )
    assert counter(seeded_engine, world.group_id, 2023) == 60  # no numbers used
    with unit_of_work(seeded_engine) as session:
        (event,) = session.exec(
            select(AuditEvent).where(AuditEvent.action == "minutes_new_version")
        ).all()
        assert event.note == "Texten i § 54 saknades"
        assert event.after is not None and event.after["changed"] == [str(world.items[54])]


def test_a_finalising_that_fails_late_changes_nothing(
    seeded_engine: Engine, tmp_path: Path
) -> None:
    """A deferral onto a meeting whose agenda is sent is refused after the numbers are
    reserved and cases moved: the whole finalising rolls back."""
    world = build(seeded_engine)
    with unit_of_work(seeded_engine) as session:
        june = session.get(Meeting, world.june_id)
        assert june is not None
        june.agenda_sent_at = at(date(2023, 6, 9))
        session.add(june)
        decision = session.exec(
            select(Decision).where(Decision.agenda_item_id == world.items[57])
        ).one()
        decision.outcome = Outcome.deferred
        decision.deferred_to_meeting_id = world.june_id
        session.add(decision)
    with pytest.raises(agenda.AgendaError) as refused:
        finalise_minutes(
            seeded_engine, SECRETARY, world.meeting_id, data_dir=tmp_path, now=FINALISED
        )
    assert "redan skickad" in refused.value.message_sv
    assert counter(seeded_engine, world.group_id, 2023) == 49
    assert stored(seeded_engine, world.meeting_id) == []
    assert set(case_states(seeded_engine, world.cases).values()) == {State.scheduled}
    assert messages(seeded_engine, "case_outcome") == []
    assert messages(seeded_engine, "minutes_paragraphs") == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_a_finalising_waits_for_numbers_reserved_by_another(
    seeded_engine: Engine, tmp_path: Path
) -> None:
    """While one transaction holds reserved § numbers, a finalising of another meeting of
    the group waits for it (PostgreSQL reports it as blocked by that transaction), and
    then continues after those numbers."""
    (meeting,) = make_meetings(seeded_engine, date(2026, 2, 6))
    decide_all(seeded_engine, meeting)
    with unit_of_work(seeded_engine) as session:
        group = repository.get_group(session, slug="lsvo")
        assert group is not None and group.id is not None
        group_id = group.id
    failures: list[BaseException] = []

    def finalise() -> None:
        try:
            finalise_minutes(
                seeded_engine, SECRETARY, meeting, data_dir=tmp_path, now=at(date(2026, 2, 6), 15)
            )
        except BaseException as error:  # reported below
            failures.append(error)

    thread = threading.Thread(target=finalise)
    with unit_of_work(seeded_engine) as holder:
        held = next_paragraph_numbers(holder, group_id=group_id, year=2026, count=5)
        pid = holder.execute(sql("SELECT pg_backend_pid()")).scalar_one()
        thread.start()
        blocked = sql(
            "SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"
        )
        with seeded_engine.connect() as watcher:
            for _ in range(6000):  # a bound, so that a finalising stuck elsewhere fails
                waiting = watcher.execute(blocked, {"pid": pid}).scalar_one()
                watcher.rollback()  # pg_stat_activity is a snapshot per transaction
                if waiting:
                    break
                assert thread.is_alive(), "the finalising did not wait for the held numbers"
                thread.join(0.01)
            else:
                pytest.fail("the finalising was never blocked by the held numbers")
    thread.join()
    assert failures == []
    assert list(held) == [1, 2, 3, 4, 5]
    (row,) = stored(seeded_engine, meeting)
    assert (row.first_paragraph, row.last_paragraph) == (6, 7)
