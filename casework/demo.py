"""Demo data for `samverkan serve --demo`: a staff user, a year of meetings and a few cases.

Safe to run again and again: the demo user is created once (its random password exists
only in that run's output; the database holds its argon2 hash), a group's meetings are
planned only when it has none ahead, and the example cases are submitted only into a
database that holds no cases at all.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import select

from casework import accounts, agenda, repository, services
from casework.calendar import STOCKHOLM, is_working_day
from casework.db import unit_of_work
from casework.lifecycle import Action
from casework.model import CaseCreate, Meeting, StaffRole, User

DEMO_EMAIL = "beredning@demo.samverkan.se"
DEMO_NAME = "Beredningsgruppen (demo)"
DEMO_ROLE = StaffRole.beredning
EXAMPLES = Path(__file__).with_name("demo") / "routing.jsonl"

# Region Blekinge's head office; the municipalities' own rooms are used in turn in reality.
REGIONHUSET = "Regionhuset, Valhallavägen 1, Karlskrona"
RADHUSET = "Rådhuset, Ronnebygatan 2, Karlskrona"
TEAMS = "Teams"


@dataclass(frozen=True)
class MeetingPattern:
    """When a group meets: the `week`-th `weekday` (0 = Monday) of each month in `months`."""

    group: str
    weekday: int
    week: int
    months: tuple[int, ...]
    starts_at: str
    place: str


# 8–10 meetings a year each, none in July (nor in January, when the year's plans are
# still being written); LSVO meets on Fridays as in its minutes, the groups on other days.
MEETING_PATTERNS: tuple[MeetingPattern, ...] = (
    MeetingPattern("lsvo", 4, 2, (2, 3, 4, 5, 6, 8, 9, 10, 11, 12), "09:00", REGIONHUSET),
    MeetingPattern("sg-barn-unga", 1, 3, (2, 3, 5, 6, 9, 10, 11, 12), "13:00", TEAMS),
    MeetingPattern("sg-vuxna", 2, 3, (2, 3, 4, 5, 6, 9, 10, 11, 12), "09:00", RADHUSET),
    MeetingPattern("sg-aldre", 3, 1, (2, 3, 4, 5, 6, 8, 9, 10, 11), "13:15", TEAMS),
)


def nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th given weekday of a month (n = 1 is the first)."""
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def meeting_dates(pattern: MeetingPattern, *, after: date) -> list[date]:
    """The pattern's meetings in the year after `after`.

    A meeting that would fall on a holiday moves a week later (a week earlier when that
    leaves the month), as a real calendar would.
    """
    until = after + timedelta(days=365)
    dates = []
    for offset in range(13):
        year, month = divmod(after.month - 1 + offset, 12)
        year, month = after.year + year, month + 1
        if month not in pattern.months:
            continue
        day = nth_weekday(year, month, pattern.weekday, pattern.week)
        if not is_working_day(day):
            later = day + timedelta(days=7)
            day = later if later.month == month else day - timedelta(days=7)
        if after < day <= until:
            dates.append(day)
    return dates


@dataclass(frozen=True)
class DemoSubmission:
    """Who submits one of the bundled examples, and what they propose."""

    example: str
    name: str
    email: str
    organisation: str
    presenter: str
    proposed_decision: str = ""


# Invented people; the addresses use the reserved .example domain, so no message sent
# from a demo can reach anyone.
DEMO_SUBMISSIONS: tuple[DemoSubmission, ...] = (
    DemoSubmission(
        "ex01",
        "Karin Holmberg",
        "karin.holmberg@regionblekinge.example",
        "Region Blekinge, Nära vård",
        "Karin Holmberg, utvecklingsstrateg nära vård",
        "LSVO beslutar att tillskapa en kommungemensam resurs på 50 % som länssamordnare för "
        "omställningen till nära vård, och att kostnaden fördelas enligt ordinarie "
        "fördelningsnyckel.",
    ),
    DemoSubmission(
        "ex06",
        "Sara Nyström",
        "sara.nystrom@ronneby.example",
        "Ronneby kommun, Socialförvaltningen",
        "Sara Nyström, verksamhetschef",
        "att dokumentet bereds i en gemensam workshop med samverkansgrupperna att växa upp "
        "och mitt i livet.",
    ),
    DemoSubmission(
        "ex07",
        "Johan Ek",
        "johan.ek@karlshamn.example",
        "Karlshamns kommun, Arbete och välfärd",
        "Johan Ek, avdelningschef",
    ),
    DemoSubmission(
        "ex08",
        "Lena Berg",
        "lena.berg@regionblekinge.example",
        "Region Blekinge, Vuxenpsykiatrin",
        "Lena Berg, processledare samsjuklighet",
        "att samverkansgruppen prioriterar insatserna i projektplanen enligt underlaget.",
    ),
    DemoSubmission(
        "ex09",
        "Maria Lund",
        "maria.lund@karlskrona.example",
        "Karlskrona kommun, Elevhälsan",
        "Maria Lund, verksamhetschef elevhälsan",
    ),
    DemoSubmission(
        "ex13",
        "Peter Sjöberg",
        "peter.sjoberg@solvesborg.example",
        "Sölvesborgs kommun, Omsorgsförvaltningen",
        "Peter Sjöberg, MAS",
    ),
    DemoSubmission(
        "ex15",
        "Anna Karlsson",
        "anna.karlsson@olofstrom.example",
        "Olofströms kommun, Socialförvaltningen",
        "Anna Karlsson, kvalitetsutvecklare",
        "LSVO beslutar att ge Samverkansgrupp att åldras i uppdrag att föreslå åtgärder mot "
        "bristerna i informationsöverföringen vid utskrivning, och att uppdraget återkopplas "
        "till LSVO inom tre månader.",
    ),
)


@dataclass(frozen=True)
class DemoResult:
    """What a demo run did: `password` is None when the user already existed."""

    email: str
    password: str | None
    meetings: dict[str, list[date]]
    references: list[str]


def prepare(
    engine: Engine,
    *,
    rules: services.Router,
    reference_prefix: str = "SB",
    today: date | None = None,
) -> DemoResult:
    """Add what the demo needs to a migrated, seeded database; nothing that is there already."""
    today = today or datetime.now(STOCKHOLM).date()
    password = ensure_demo_user(engine)
    meetings = plan_meetings(engine, after=today)
    references = submit_examples(engine, rules=rules, reference_prefix=reference_prefix)
    place_examples(engine, references, today=today)
    return DemoResult(DEMO_EMAIL, password, meetings, references)


def place_examples(
    engine: Engine, references: Sequence[str], *, today: date, limit: int = 2
) -> list[str]:
    """Route up to `limit` of the new demo cases bound for LSVO and place them on LSVO's
    proposed meeting, as the demo user, so that the demo shows an agenda."""
    actor = accounts.Identity(0, DEMO_EMAIL, DEMO_NAME, frozenset({(DEMO_ROLE, None)}))
    placed: list[str] = []
    for reference in references:
        with unit_of_work(engine) as session:
            case = repository.get_case_by_reference(session, reference=reference)
        if case is None or case.id is None or case.destination != agenda.LSVO:
            continue
        meeting = agenda.proposed_meeting(engine, case.id, today=today)
        if meeting is None or meeting.id is None:
            continue
        services.transition(engine, case.id, Action.route, actor=DEMO_EMAIL)
        try:
            agenda.schedule_case(engine, case.id, meeting.id, actor=actor)
        except agenda.AgendaError:  # `today` is not the real date: the meeting has passed
            continue
        placed.append(reference)
        if len(placed) >= limit:
            break
    return placed


def ensure_demo_user(engine: Engine) -> str | None:
    """Create the demo user with a random password and return it; None if it exists."""
    with unit_of_work(engine) as session:
        if session.exec(select(User).where(User.email == DEMO_EMAIL)).first() is not None:
            return None
    password = secrets.token_urlsafe(12)
    accounts.create_user(
        engine, email=DEMO_EMAIL, password=password, role=DEMO_ROLE, name=DEMO_NAME
    )
    return password


def plan_meetings(
    engine: Engine,
    *,
    after: date,
    patterns: Sequence[MeetingPattern] = MEETING_PATTERNS,
) -> dict[str, list[date]]:
    """A year of meetings for each group that has none planned after `after`: one transaction."""
    added: dict[str, list[date]] = {}
    with unit_of_work(engine) as session:
        for pattern in patterns:
            group = repository.get_group(session, slug=pattern.group)
            if group is None or group.id is None:
                raise services.GroupNotFound(
                    pattern.group, [g.slug for g in repository.list_groups(session)]
                )
            if repository.list_meetings(session, group_slug=pattern.group, on_or_after=after):
                continue
            dates = meeting_dates(pattern, after=after)
            for day in dates:
                session.add(
                    Meeting(
                        group_id=group.id,
                        date=day,
                        starts_at=pattern.starts_at,
                        place=pattern.place,
                    )
                )
            added[pattern.group] = dates
    return added


def load_examples(path: Path = EXAMPLES) -> dict[str, dict[str, object]]:
    """The bundled labelled examples' cases, by example id."""
    cases: dict[str, dict[str, object]] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                record = json.loads(line)
                cases[record["id"]] = record["case"]
    return cases


def submit_examples(
    engine: Engine,
    *,
    rules: services.Router,
    reference_prefix: str = "SB",
    submissions: Sequence[DemoSubmission] = DEMO_SUBMISSIONS,
) -> list[str]:
    """Submit the demo cases, each as its submitter would, unless any case exists already."""
    with unit_of_work(engine) as session:
        if repository.count_cases(session):
            return []
    examples = load_examples()
    missing = [s.example for s in submissions if s.example not in examples]
    if missing:
        raise ValueError(f"{EXAMPLES} has no example(s) {', '.join(missing)}")
    references = []
    for submission in submissions:
        data = CaseCreate.model_validate(
            {
                **examples[submission.example],
                "submitter_name": submission.name,
                "submitter_email": submission.email,
                "submitter_organisation": submission.organisation,
                "presenter": submission.presenter,
                "proposed_decision": submission.proposed_decision,
            }
        )
        submitted = services.submit_case(
            engine,
            data,
            actor=f"anmälare:{submission.email}",
            rules=rules,
            reference_prefix=reference_prefix,
        )
        references.append(submitted.case.reference)
    return references
