"""LSVO's meeting of 2023-05-12 built through the real use cases, after its minutes in
`shared/seeds/lsvo-protokoll-2023-05-12.txt`: the cases of §52–§59 placed on the agenda,
Övriga frågor a/–e/, attendance, a written view, and the decisions of the minutes
(recorded as Decision rows, as the meeting pages store them)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

import rules
from casework import agenda, repository, services
from casework.accounts import Identity
from casework.calendar import STOCKHOLM
from casework.db import unit_of_work
from casework.lifecycle import Action
from casework.model import (
    AgendaItem,
    Assignment,
    Attendance,
    CaseCreate,
    Decision,
    Meeting,
    Member,
    Outcome,
    ParagraphCounter,
    StaffRole,
    WrittenView,
)

RULES = rules.load_rules()
MAY_12 = date(2023, 5, 12)
JUNE_16 = date(2023, 6, 16)
SECRETARY = Identity(0, "sekreterare@example.se", "", frozenset({(StaffRole.secretary, "lsvo")}))

REPO_ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
SEED_NAME = Path("shared", "seeds", "lsvo-protokoll-2023-05-12.txt")


def seed_minutes() -> str:
    """The seed minutes' text; `shared/` sits beside the checkout."""
    for folder in (REPO_ROOT, *REPO_ROOT.parents):
        candidate = folder / SEED_NAME
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    pytest.fail(
        f"{SEED_NAME} not found beside the checkout {REPO_ROOT}: the seed minutes are needed"
    )


def words(text: str) -> str:
    """Whitespace made single spaces: the seed is text taken out of a PDF, broken anywhere."""
    return " ".join(text.split())


def seed_index() -> dict[int, str]:
    """The seed's Ärendeförteckning: § number → title."""
    head = seed_minutes().split("Tid och plats", 1)[0]
    return {
        int(m.group(1)): words(m.group(2))
        for m in re.finditer(r"^§(\d+) (.+)$", head, flags=re.MULTILINE)
    }


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=STOCKHOLM)


@dataclass(frozen=True)
class Item:
    """What the minutes say about one item: its decision and where it goes."""

    clauses: tuple[str, ...] = ()
    outcome: Outcome = Outcome.decided
    text: str = ""
    presenter: str = ""
    # (name, address); the address may be blank.
    recipients: tuple[tuple[str, str], ...] = ()
    kind: str = "beslut"


HELENE = ("Helene Håkansson", "helene.hakansson@example.se")
IKF = ("Interkommunalt forum", "ikf@example.se")

OPENING: dict[int, Item] = {
    50: Item(
        ("med tillägg för övriga frågor godkänna för sammanträdet upprättad föredragningslista",),
        text="Följande frågor anmäldes till punkten övriga frågor: a/ till e/.",
    ),
    51: Item(
        ("godkänna för 2023-04-14 upprättat sammanträdesprotokoll",),
        text="Protokoll för mötet 2023-04-14 presenterades.",
    ),
}

CASES: dict[int, Item] = {
    52: Item(
        (
            "arbetet med att ta fram en stödprocess för personcentrerad och sammanhållen vård "
            "avslutas",
            "övriga processer bevakar att området personcentrerad och sammanhållen vård "
            "integreras och säkerställs i dessa",
        ),
        presenter="Maria Appelskog, Björn Petersson och Maria Arvidsson-Karlsson",
        text="Föredragande föreslår att arbetet med att ta fram en stödprocess för "
        "personcentrerad och sammanhållen vård avslutas.",
        recipients=(
            (
                "Processägare och processledare personcentrerad och sammanhållen vård",
                "process-psv@example.se",
            ),
            ("Processägare och processledare i övriga berörda processer", ""),
        ),
    ),
    53: Item(
        (
            "ställa sig bakom att i samverkan ta fram en länsgemensam plan för primärvården",
            "föreslå regionchefsgruppen att godkänna att en länsgemensam plan för primärvården "
            "ska tas fram i samverkan",
            "frågan om en kommungemensam resurs som länssamordnare för omställningen till nära "
            "vård på 50% skickas till Interkommunalt forum för ställningstagande",
        ),
        presenter="Inga-Lisa Apelman",
        text="Överenskommelsen om God och nära vård 2023 anger att en central del är att "
        "huvudmännen har en gemensam struktur för planering av primärvården.\n\n"
        "Arbetet med planen kan göras i fem steg.",
        recipients=(HELENE, IKF),
    ),
    54: Item(
        (
            "godkänna förslag till att inrätta en funktion på 100% som sammanhållande "
            "kommunikatör för Jämlik hälsa, nära vård, stöd och omsorg",
            "godkänna förslag till uppdragsbeskrivning för sammanhållande kommunikatör för "
            "Jämlik hälsa, nära vård, stöd och omsorg",
        ),
        presenter="Bodil Sundlöf",
        recipients=(("Madelene Flood", ""),),
    ),
    55: Item(
        ("utse Cecilia Grefve-Lang som sammankallande för den befintliga arbetsgruppen.",),
        presenter="LSVO:s ledamöter",
        recipients=(("Berörda ledamöter i LSVO", ""),),
    ),
    56: Item(
        (
            "tillsätta en länsgemensam resurs på 20% för det inledande arbetet med övergången "
            "från Prator till LINK under tiden 230601 - 231231",
            "använda resterande länsgemensamma LOS-medel som finansiering av 20% som "
            "länsgemensam resurs",
        ),
        presenter="Mats Wennstig",
        recipients=(IKF, ("Processägare och processledare Trygg och säker utskrivning", "")),
    ),
    57: Item(
        ("föreslå att nuvarande avtal förlängs med ett år (240101 – 241231)",),
        presenter="Bodil Sundlöf",
        recipients=(HELENE, ("Regionchefsgruppen", "")),
    ),
    58: Item(
        ("lägga informationen till protokollet",),
        Outcome.noted,
        presenter="Carina Andersson, Bodil Sundlöf och Mats Wennstig",
        kind="information",
    ),
    59: Item(
        ("lägga informationen till protokollet",),
        Outcome.noted,
        presenter="Bodil Sundlöf och Mats Wennstig",
        kind="information",
    ),
}

OTHER: list[tuple[str, Item]] = [
    (
        "Återkoppling från IKF och regionen om deltagare i fokusgrupp i studie kring individer "
        "med komplexa behov",
        Item(
            (
                "utse Annika Mellqvist från regionen och alla ledamöter som har möjlighet från "
                "kommunerna",
            ),
            presenter="Bodil Sundlöf",
            recipients=(("Ulrika Harris", "ulrika.harris@example.se"),),
        ),
    ),
    (
        "Frågor från Interkommunalt forum (IKF)",
        Item(
            (
                "som ett första steg hanteras dokumentet kring kompensatoriska insatser och dess "
                "innehåll i en gemensam workshop med samverkansgrupp att växa upp och mitt i livet",
            ),
            presenter="Bodil Sundlöf",
        ),
    ),
    (
        "Organisatorisk tillhörighet länssamordnare Uppdrag psykisk hälsa",
        Item(
            ("frågan lyfts i Interkommunalt forum och återkopplas vid LSVO i juni",),
            presenter="Bodil Sundlöf",
        ),
    ),
    (
        "Rapport från PSVO",
        Item(("lägga informationen till protokollet",), Outcome.noted, presenter="Bodil Sundlöf"),
    ),
    (
        "Utvärdering av mötet",
        Item(
            (),
            Outcome.noted,
            text="På grund av tidsbrist utgick denna punkt.",
            presenter="Bodil Sundlöf",
            recipients=(
                ("Diariet", ""),
                ("Ledamöter", ""),
                HELENE,
                ("Peter Lilja", ""),
                ("Lars Ericsson", ""),
            ),
        ),
    ),
]

PRESENT = (
    "Bodil Sundlöf",
    "Torill Skaar Magnusson",
    "Maria Arvidsson-Karlsson",
    "Annika Mellqvist",
    "Carina Andersson",
    "Cecilia Grefve-Lang",
    "Birgitta Ratcovich",
    "Robert Schelin",
)
ABSENT = ("Patrik Håkansson",)
GUEST = ("Inga-Lisa Apelman", "Region Blekinge", "länssamordnare nära vård")
WRITTEN_VIEW = ("Patrik Håkansson", "Olofströms kommun står bakom en gemensam plan.")


@dataclass
class World:
    meeting_id: int
    june_id: int
    group_id: int
    # § number → agenda item id (§60's items by letter in `other_items`).
    items: dict[int, int] = field(default_factory=dict)
    other_items: dict[str, int] = field(default_factory=dict)
    cases: dict[int, int] = field(default_factory=dict)


def make_meetings(engine: Engine, *days: date) -> list[int]:
    with unit_of_work(engine) as session:
        group = repository.get_group(session, slug="lsvo")
        assert group is not None and group.id is not None
        rows = [
            Meeting(
                group_id=group.id,
                date=d,
                starts_at="08:15",
                ends_at="12:00",
                place="Folkhögskolan Bräkne-Hoby",
            )
            for d in days
        ]
        session.add_all(rows)
        session.flush()
        return [m.id for m in rows if m.id is not None]


def routed_case(engine: Engine, title: str, item: Item, submitted: datetime) -> int:
    data = CaseCreate.model_validate(
        {
            "title": title,
            "kind": [item.kind],
            "county_wide": True,
            "submitter_name": "Anna Andersson",
            "submitter_email": "anna@example.se",
            "presenter": item.presenter,
        }
    )
    case = services.submit_case(
        engine, data, actor="anna@example.se", rules=RULES, now=submitted
    ).case
    assert case.id is not None
    services.transition(
        engine,
        case.id,
        Action.route,
        actor="beredning@example.se",
        destination="lsvo",
        now=submitted,
    )
    return case.id


def decide(
    engine: Engine,
    meeting_id: int,
    item_id: int,
    item: Item,
    *,
    deferred_to: int | None = None,
) -> int:
    """Record an item's decision as the meeting pages store it; the decision's id."""
    with unit_of_work(engine) as session:
        decision = Decision(
            agenda_item_id=item_id,
            meeting_id=meeting_id,
            outcome=item.outcome,
            clauses=list(item.clauses),
            text=item.text,
            recipients=[{"name": n, "address": a} for n, a in item.recipients],
            deferred_to_meeting_id=deferred_to,
            recorded_by=SECRETARY.email,
        )
        session.add(decision)
        session.flush()
        assert decision.id is not None
        return decision.id


def item_ids(engine: Engine, meeting_id: int) -> list[int]:
    """The meeting's agenda items in agenda order."""
    with unit_of_work(engine) as session:
        rows = session.exec(select(AgendaItem).where(AgendaItem.meeting_id == meeting_id)).all()
        return [i.id for i in agenda.ordered(list(rows)) if i.id is not None]


def build(engine: Engine, *, last_paragraph_before: int = 49) -> World:
    """The meeting of 2023-05-12 with every item decided, and the next one of 2023-06-16;
    the minutes of 2023 so far ended at § `last_paragraph_before`."""
    may, june = make_meetings(engine, MAY_12, JUNE_16)
    index = seed_index()
    cases = {
        number: routed_case(engine, index[number], item, at(date(2023, 4, 20)))
        for number, item in CASES.items()
    }
    for number in CASES:
        agenda.schedule_case(engine, cases[number], may, actor=SECRETARY, now=at(date(2023, 5, 2)))
    for title, item in OTHER:
        agenda.add_other_item(
            engine,
            may,
            title=title,
            presenter=item.presenter,
            actor=SECRETARY,
            now=at(date(2023, 5, 2)),
        )
    ids = item_ids(engine, may)
    numbers = [*OPENING, *CASES]
    world = World(may, june, 0, dict(zip(numbers, ids, strict=False)), cases=cases)
    world.other_items = dict(zip("abcde", ids[len(numbers) :], strict=True))
    with unit_of_work(engine) as session:
        group = repository.get_group(session, slug="lsvo")
        assert group is not None and group.id is not None
        world.group_id = group.id
        session.add(ParagraphCounter(group_id=group.id, year=2023, last=last_paragraph_before))
        for name in PRESENT:
            session.add(Attendance(meeting_id=may, member_id=_member(session, name), present=True))
        for name in ABSENT:
            session.add(Attendance(meeting_id=may, member_id=_member(session, name), present=False))
        session.add(
            Attendance(
                meeting_id=may,
                guest_name=GUEST[0],
                guest_organisation=GUEST[1],
                guest_function=GUEST[2],
            )
        )
        session.add(
            WrittenView(
                agenda_item_id=world.items[53],
                member_id=_member(session, WRITTEN_VIEW[0]),
                text=WRITTEN_VIEW[1],
            )
        )
    for number, item in {**OPENING, **CASES}.items():
        decision_id = decide(engine, may, world.items[number], item)
        if number == 55:
            with unit_of_work(engine) as session:
                session.add(
                    Assignment(
                        decision_id=decision_id,
                        group_id=world.group_id,
                        case_id=cases[55],
                        description="Sammankalla arbetsgruppen för Barnahus",
                        owner_name="Cecilia Grefve-Lang",
                        due_meeting_id=june,
                    )
                )
    for letter, (_title, item) in zip("abcde", OTHER, strict=True):
        decide(engine, may, world.other_items[letter], item)
    return world


def _member(session: Session, name: str) -> int:
    member = session.exec(select(Member).where(Member.name == name)).one()
    assert member.id is not None
    return member.id
