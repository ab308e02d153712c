"""Deviations in collaboration (avvikelser): reporting, handling in groups, clusters,
hand-over to LSVO and statistics.

A deviation is a `Case` with `deviation=True` and the `deviation_*` columns set, routed
by the rules like any case (general or recurring → LSVO; otherwise the samverkansgrupp
of its target group). The group that handles it may gather similar deviations in a
`DeviationCluster` and hand the cluster to LSVO in one action: one new case for LSVO
with the deviations summarised, `deviation_cluster_id` set to the cluster and
`deviation_date` left empty (that is what tells a hand-over from a deviation).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from casework import repository, services
from casework.accounts import Identity
from casework.calendar import STOCKHOLM, SWEDISH_MONTHS
from casework.db import unit_of_work
from casework.lifecycle import CaseworkError
from casework.model import Case, CaseCreate, DeviationCluster, Email, Group, StaffRole, utcnow
from casework.personnummer import find_identity_numbers
from casework.rate_limits import Quota
from casework.seed import ORGANISATIONS
from rules.facts import TargetGroup

# The kinds of deviation a reporter chooses from: stored slug → Swedish label. The slugs
# are stored in cases.deviation_kind and must not change; labels may.
DEVIATION_KINDS: dict[str, str] = {
    "sip": "Samordnad individuell plan (SIP)",
    "utskrivning": "Utskrivning från slutenvård",
    "informationsoverforing": "Informationsöverföring",
    "lakemedel": "Läkemedel",
    "hjalpmedel": "Hjälpmedel",
    "annat": "Annat",
}
DeviationKind = Literal[
    "sip", "utskrivning", "informationsoverforing", "lakemedel", "hjalpmedel", "annat"
]
# The six organisations (huvudmän), slug → name, as the form offers them.
ORGANISATION_NAMES: dict[str, str] = {o.slug: o.name for o in ORGANISATIONS}
OrganisationSlug = Literal[
    "region-blekinge", "karlskrona", "ronneby", "karlshamn", "solvesborg", "olofstrom"
]
# The groups that handle deviations: the samverkansgrupper, and LSVO for general or
# recurring ones (reported as such, or handed over by a group).
LSVO = "lsvo"
HANDLING_GROUPS: tuple[str, ...] = ("sg-barn-unga", "sg-vuxna", "sg-aldre", LSVO)
HANDLING_ROLES = (StaffRole.secretary, StaffRole.chair)


class DeviationCreate(BaseModel):
    """A reported deviation. No personal data: free text holding a personal identity
    number is refused by the form and the API before this is stored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    description: Annotated[str, StringConstraints(min_length=1, max_length=20_000)] = Field(
        description="What happened, without personal data."
    )
    place: Annotated[str, StringConstraints(min_length=1, max_length=300)] = Field(
        description="Where it happened: the unit, ward or service.",
        examples=["Akutmottagningen, Blekingesjukhuset Karlskrona"],
    )
    organisations: Annotated[list[OrganisationSlug], Field(min_length=1)] = Field(
        description="The organisations the deviation concerns (one or more)."
    )
    occurred_on: date = Field(description="The day it happened; not in the future.")
    kind: DeviationKind = Field(
        description="The kind of deviation: "
        + ", ".join(f"{k} ({v})" for k, v in DEVIATION_KINDS.items())
    )
    target_group: TargetGroup = Field(description="The target group it concerns.")
    recurring: bool = Field(
        default=False,
        description="True when the deviation is general or recurring: it then goes to LSVO.",
    )
    submitter_name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    submitter_email: Email
    submitter_organisation: Annotated[str, StringConstraints(max_length=200)] = ""

    @field_validator("organisations")
    @classmethod
    def _unique(cls, value: list[OrganisationSlug]) -> list[OrganisationSlug]:
        return list(dict.fromkeys(value))

    @field_validator("occurred_on")
    @classmethod
    def _not_in_future(cls, value: date) -> date:
        if value > datetime.now(STOCKHOLM).date():
            raise ValueError("the day a deviation happened cannot be in the future")
        return value

    def title(self) -> str:
        return f"Avvikelse: {DEVIATION_KINDS[self.kind]} – {self.place}"[:300]

    def case_create(self) -> CaseCreate:
        """The deviation as a submission: the rules route it by rule 5."""
        return CaseCreate.model_validate(
            {
                "title": self.title(),
                "description": self.description,
                "kind": ["diskussion"],
                "target_groups": [self.target_group],
                "deviation": True,
                "recurring": self.recurring,
                "submitter_name": self.submitter_name,
                "submitter_email": self.submitter_email,
                "submitter_organisation": self.submitter_organisation,
            }
        )

    def case_fields(self) -> dict[str, Any]:
        return {
            "deviation_kind": self.kind,
            "deviation_place": self.place,
            "deviation_organisations": list(self.organisations),
            "deviation_date": self.occurred_on,
        }


def submit_deviation(
    engine: Engine,
    data: DeviationCreate,
    *,
    actor: str,
    rules: services.Router,
    reference_prefix: str = "SB",
    now: datetime | None = None,
    quota: Quota | None = None,
) -> services.Submitted:
    """Store a deviation as a case, routed by the rules, audited, the reporter told; with
    a `quota`, the anonymous reporter's rate limit is taken in the same transaction."""
    return services.submit_case(
        engine,
        data.case_create(),
        actor=actor,
        rules=rules,
        reference_prefix=reference_prefix,
        now=now,
        case_fields=data.case_fields(),
        quota=quota,
    )


# --- who may handle a group's deviations ------------------------------------------------


def may_handle(identity: Identity, group_slug: str) -> bool:
    """The group's secretary or chair, beredningsgruppen and an admin."""
    return identity.has(*HANDLING_ROLES, group=group_slug) or identity.has(StaffRole.beredning)


def handled_groups(identity: Identity) -> list[str]:
    return [slug for slug in HANDLING_GROUPS if may_handle(identity, slug)]


class DeviationError(CaseworkError):
    """A deviation or cluster action that cannot be done; the message is Swedish."""


class NotAllowed(DeviationError):
    pass


def is_deviation(case: Case) -> bool:
    """A reported deviation (not a hand-over case, which has no date)."""
    return case.deviation and case.deviation_date is not None


# --- listing --------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    kind: str = ""
    organisation: str = ""
    start: date | None = None
    end: date | None = None
    # A cluster's id, "utan" for deviations in no cluster, or "" for all.
    cluster: str = ""


NO_CLUSTER = "utan"


def _deviations_query(group_slug: str | None) -> Any:
    query = select(Case).where(col(Case.deviation).is_(True), col(Case.deviation_date).is_not(None))
    if group_slug is not None:
        query = query.where(Case.destination == group_slug)
    return query


def list_deviations(session: Session, group_slug: str, filters: Filters = Filters()) -> list[Case]:
    """The group's deviations matching `filters`, the latest first."""
    query = _deviations_query(group_slug)
    if filters.kind:
        query = query.where(Case.deviation_kind == filters.kind)
    if filters.start:
        query = query.where(col(Case.deviation_date) >= filters.start)
    if filters.end:
        query = query.where(col(Case.deviation_date) <= filters.end)
    if filters.cluster == NO_CLUSTER:
        query = query.where(col(Case.deviation_cluster_id).is_(None))
    elif filters.cluster.isdigit():
        query = query.where(Case.deviation_cluster_id == int(filters.cluster))
    query = query.order_by(col(Case.deviation_date).desc(), col(Case.id).desc())
    cases: list[Case] = list(session.exec(query).all())
    if filters.organisation:
        cases = [c for c in cases if filters.organisation in c.deviation_organisations]
    return cases


def group_by_slug(session: Session, slug: str) -> Group:
    group = repository.get_group(session, slug=slug)
    if group is None:
        raise DeviationError("Det finns ingen sådan grupp.")
    return group


def list_clusters(session: Session, group_id: int) -> list[DeviationCluster]:
    query = select(DeviationCluster).where(DeviationCluster.group_id == group_id)
    return list(session.exec(query.order_by(col(DeviationCluster.id))).all())


def cluster_members(session: Session, cluster_id: int) -> list[Case]:
    query = select(Case).where(
        Case.deviation_cluster_id == cluster_id, col(Case.deviation_date).is_not(None)
    )
    return list(session.exec(query.order_by(col(Case.deviation_date), col(Case.id))).all())


def handover_case(session: Session, cluster_id: int) -> Case | None:
    """The case a cluster was handed to LSVO as, if it has been."""
    query = select(Case).where(
        Case.deviation_cluster_id == cluster_id, col(Case.deviation_date).is_(None)
    )
    return session.exec(query).first()


# --- clusters -------------------------------------------------------------------------


def cluster_for(
    session: Session, identity: Identity, cluster_id: int, *, lock: bool = False
) -> tuple[DeviationCluster, Group]:
    cluster = session.get(DeviationCluster, cluster_id, with_for_update=lock)
    if cluster is None:
        raise DeviationError("Det finns ingen sådan grupp av avvikelser.")
    group = session.get(Group, cluster.group_id)
    assert group is not None
    if not may_handle(identity, group.slug):
        raise NotAllowed(f"Du får inte hantera avvikelser i {group.name}.")
    return cluster, group


def _open(cluster: DeviationCluster) -> None:
    if cluster.handed_at is not None:
        raise DeviationError("Avvikelserna är redan lämnade till LSVO och kan inte ändras.")


def _add(session: Session, cluster: DeviationCluster, group: Group, case_id: int, *,
         actor: str, now: datetime) -> None:  # fmt: skip
    case = repository.get_case(session, case_id=case_id, for_update=True)
    if case is None or not is_deviation(case) or case.destination != group.slug:
        raise DeviationError(f"Avvikelsen finns inte bland {group.name}s avvikelser.")
    if case.deviation_cluster_id == cluster.id:
        return
    if case.deviation_cluster_id is not None:
        raise DeviationError(
            f"{case.reference} ingår redan i en annan grupp av avvikelser. Ta bort den där först."
        )
    case.deviation_cluster_id = cluster.id
    case.updated_at = now
    repository.add_audit_event(
        session, case_id=case_id, actor=actor, action="deviation_clustered",
        before={"deviation_cluster_id": None},
        after={"deviation_cluster_id": cluster.id, "cluster": cluster.title},
        at=now,
    )  # fmt: skip


def create_cluster(
    engine: Engine,
    identity: Identity,
    *,
    group_slug: str,
    title: str,
    case_ids: Sequence[int] = (),
    now: datetime | None = None,
) -> int:
    """A new cluster in the group, with the deviations `case_ids` in it; its id."""
    now = now or utcnow()
    title = title.strip()
    if not title:
        raise DeviationError("Ge gruppen av avvikelser en rubrik.")
    if len(title) > 300:
        raise DeviationError("Rubriken får vara högst 300 tecken.")
    if find_identity_numbers(title):
        raise DeviationError("Rubriken verkar innehålla ett personnummer. Ta bort det.")
    with unit_of_work(engine) as session:
        group = group_by_slug(session, group_slug)
        if not may_handle(identity, group.slug):
            raise NotAllowed(f"Du får inte hantera avvikelser i {group.name}.")
        assert group.id is not None
        cluster = DeviationCluster(
            group_id=group.id, title=title, created_by=identity.email, created_at=now
        )
        session.add(cluster)
        session.flush()
        repository.add_audit_event(
            session, case_id=None, actor=identity.email, action="deviation_cluster_created",
            after={"cluster_id": cluster.id, "group": group.slug, "title": title}, at=now,
        )  # fmt: skip
        for case_id in dict.fromkeys(case_ids):
            _add(session, cluster, group, case_id, actor=identity.email, now=now)
        assert cluster.id is not None
        return cluster.id


def add_to_cluster(
    engine: Engine, identity: Identity, cluster_id: int, case_ids: Sequence[int], *,
    now: datetime | None = None,
) -> None:  # fmt: skip
    now = now or utcnow()
    with unit_of_work(engine) as session:
        cluster, group = cluster_for(session, identity, cluster_id, lock=True)
        _open(cluster)
        for case_id in dict.fromkeys(case_ids):
            _add(session, cluster, group, case_id, actor=identity.email, now=now)


def remove_from_cluster(
    engine: Engine, identity: Identity, cluster_id: int, case_id: int, *,
    now: datetime | None = None,
) -> None:  # fmt: skip
    now = now or utcnow()
    with unit_of_work(engine) as session:
        cluster, _ = cluster_for(session, identity, cluster_id, lock=True)
        _open(cluster)
        case = repository.get_case(session, case_id=case_id, for_update=True)
        if case is None or case.deviation_cluster_id != cluster_id or not is_deviation(case):
            raise DeviationError("Avvikelsen ingår inte i den här gruppen.")
        case.deviation_cluster_id = None
        case.updated_at = now
        repository.add_audit_event(
            session, case_id=case_id, actor=identity.email, action="deviation_unclustered",
            before={"deviation_cluster_id": cluster_id}, after={"deviation_cluster_id": None},
            at=now,
        )  # fmt: skip


# --- suggestions: which of the group's other deviations look like the cluster's ---------

# Words that say nothing about what went wrong.
_STOPWORDS_TEXT = """
avvikelse avvikelser inte eller under efter innan mellan också några något någon vilket
vilken detta dessa deras hennes hans sedan skulle kunde måste finns fanns blev varit hade
samma andra annan annat därför eftersom genom utan inför kommun kommunen region regionen
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
_WORD = re.compile(r"[a-zåäöéü]+")
MIN_WORD = 5
MIN_SHARED_WORDS = 2


def words(text: str) -> set[str]:
    """The significant words of a text: lower case, at least five letters, no stopwords."""
    return {w for w in _WORD.findall(text.lower()) if len(w) >= MIN_WORD and w not in STOPWORDS}


@dataclass(frozen=True)
class Suggestion:
    case: Case
    reason: str


def suggest(members: Sequence[Case], candidates: Iterable[Case]) -> list[Suggestion]:
    """Candidates similar to the cluster's deviations, each with why.

    Similar means: the same kind as a deviation in the cluster, and either an
    organisation in common with it or at least two significant words in common (in what
    happened and where).
    """
    found: list[Suggestion] = []
    for candidate in candidates:
        if candidate.deviation_cluster_id is not None:
            continue
        mine = words(f"{candidate.description} {candidate.deviation_place}")
        for member in members:
            if member.deviation_kind != candidate.deviation_kind:
                continue
            kind = DEVIATION_KINDS.get(member.deviation_kind, member.deviation_kind)
            shared_orgs = [
                o for o in candidate.deviation_organisations if o in member.deviation_organisations
            ]
            shared_words = sorted(mine & words(f"{member.description} {member.deviation_place}"))
            if shared_orgs:
                names = ", ".join(ORGANISATION_NAMES.get(o, o) for o in shared_orgs)
                reason = (
                    f"Samma slag som {member.reference}, {kind}, och samma organisation: {names}."
                )
            elif len(shared_words) >= MIN_SHARED_WORDS:
                reason = (
                    f"Samma slag som {member.reference}, {kind}, och gemensamma ord: "
                    f"{', '.join(shared_words[:6])}."
                )
            else:
                continue
            found.append(Suggestion(candidate, reason))
            break
    return found


# --- hand-over to LSVO ----------------------------------------------------------------


@dataclass(frozen=True)
class HandedOver:
    case: Case
    deviation_ids: list[int]


def summary(group: Group, cluster: DeviationCluster, members: Sequence[Case]) -> str:
    """The hand-over case's description: the deviations as a reference list, with their
    kinds, organisations and dates."""
    kinds = Counter(DEVIATION_KINDS.get(c.deviation_kind, c.deviation_kind) for c in members)
    orgs = Counter(o for c in members for o in c.deviation_organisations)
    dates = sorted(c.deviation_date for c in members if c.deviation_date)
    lines = [
        f"{group.name} lämnar {len(members)} generella eller återkommande avvikelser till "
        f"LSVO för beslut om åtgärder: {cluster.title}.",
        "",
        "Slag: " + ", ".join(f"{k} ({n})" for k, n in kinds.most_common()),
        "Organisationer: "
        + ", ".join(f"{ORGANISATION_NAMES.get(o, o)} ({n})" for o, n in orgs.most_common()),
    ]
    if dates:
        lines.append(f"Inträffade: {dates[0].isoformat()} – {dates[-1].isoformat()}")
    lines += ["", "Avvikelser:"]
    for c in members:
        day = c.deviation_date.isoformat() if c.deviation_date else ""
        orgs_text = ", ".join(ORGANISATION_NAMES.get(o, o) for o in c.deviation_organisations)
        kind = DEVIATION_KINDS.get(c.deviation_kind, c.deviation_kind)
        lines.append(f"- {c.reference} {day}, {kind}, {c.deviation_place} ({orgs_text})")
    return "\n".join(lines)[:20_000]


def hand_over(
    engine: Engine,
    identity: Identity,
    cluster_id: int,
    *,
    rules: services.Router,
    reference_prefix: str = "SB",
    now: datetime | None = None,
) -> HandedOver:
    """Hand a cluster to LSVO in one action: one new case, routed by the rules (rule 5,
    general or recurring → LSVO), with the deviations summarised; the cluster is marked
    handed and each deviation audited, all in one transaction. A second hand-over of the
    same cluster is refused."""
    now = now or utcnow()
    with unit_of_work(engine, write=False) as session:
        cluster, group = cluster_for(session, identity, cluster_id)
        _open(cluster)
        if group.slug == LSVO:
            raise DeviationError("LSVO:s egna avvikelser lämnas inte vidare.")
        members = cluster_members(session, cluster_id)
        if not members:
            raise DeviationError("Lägg till minst en avvikelse innan gruppen lämnas till LSVO.")
        description = summary(group, cluster, members)
        expected = [c.id for c in members]
        target_groups = sorted({g for c in members for g in c.target_groups})
        organisations = list(dict.fromkeys(o for c in members for o in c.deviation_organisations))
        kinds = {c.deviation_kind for c in members}
        title = f"Avvikelser från {group.name}: {cluster.title}"[:300]
    data = CaseCreate.model_validate(
        {
            "title": title,
            "description": description,
            "kind": ["beslut"],
            "target_groups": target_groups,
            "deviation": True,
            "recurring": True,
            "submitter_name": identity.label[:200],
            "submitter_email": identity.email,
            "submitter_organisation": group.name[:200],
            "proposed_decision": "LSVO beslutar om åtgärder med anledning av avvikelserna.",
        }
    )

    def within(session: Session, case: Case) -> None:
        locked, _ = cluster_for(session, identity, cluster_id, lock=True)
        _open(locked)
        current = cluster_members(session, cluster_id)
        if [c.id for c in current] != expected:
            raise DeviationError("Gruppen av avvikelser ändrades nyss. Ladda om sidan.")
        locked.handed_at = now
        locked.handed_by = identity.email
        for deviation in current:
            assert deviation.id is not None
            repository.add_audit_event(
                session, case_id=deviation.id, actor=identity.email,
                action="deviation_handed_over",
                after={"case_id": case.id, "reference": case.reference, "cluster_id": cluster_id},
                note=f"Lämnad till LSVO i {case.reference}.",
                at=now,
            )  # fmt: skip

    submitted = services.submit_case(
        engine,
        data,
        actor=identity.email,
        rules=rules,
        reference_prefix=reference_prefix,
        now=now,
        case_fields={
            "deviation_cluster_id": cluster_id,
            "parent_case_id": expected[0],
            "deviation_kind": kinds.pop() if len(kinds) == 1 else "",
            "deviation_organisations": organisations,
        },
        within=within,
    )
    return HandedOver(submitted.case, [i for i in expected if i is not None])


# --- statistics -----------------------------------------------------------------------

Month = tuple[int, int]


def months_between(start: date, end: date) -> list[Month]:
    months: list[Month] = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def month_label(month: Month) -> str:
    return f"{SWEDISH_MONTHS[month[1] - 1][:3]} {month[0]}"


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class Statistics:
    months: list[Month]
    by_kind: list[Row]
    by_organisation: list[Row]
    total: int


def statistics(session: Session, *, start: date, end: date, group_slug: str | None) -> Statistics:
    """Deviations per kind and per organisation and month (by the day they happened),
    from `start` to `end` inclusive, for one handling group or all. A deviation that
    concerns several organisations counts once for each."""
    months = months_between(start, end)
    index = {m: i for i, m in enumerate(months)}
    query = _deviations_query(group_slug).where(
        col(Case.deviation_date) >= start, col(Case.deviation_date) <= end
    )
    kinds = {k: [0] * len(months) for k in DEVIATION_KINDS}
    orgs = {o: [0] * len(months) for o in ORGANISATION_NAMES}
    total = 0
    for case in session.exec(query).all():
        assert case.deviation_date is not None
        i = index[(case.deviation_date.year, case.deviation_date.month)]
        total += 1
        kinds.setdefault(case.deviation_kind, [0] * len(months))[i] += 1
        for org in case.deviation_organisations:
            orgs.setdefault(org, [0] * len(months))[i] += 1
    return Statistics(
        months=months,
        by_kind=[Row(k, DEVIATION_KINDS.get(k, k), v) for k, v in kinds.items()],
        by_organisation=[Row(o, ORGANISATION_NAMES.get(o, o), v) for o, v in orgs.items()],
        total=total,
    )
