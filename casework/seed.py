"""Seed data: the organisations, the bodies of Samverkan Blekinge and LSVO's members.

Sources: "Ledningssystem för samverkan" (2021-03-05), section 6, and the attendance list
of the LSVO minutes of 2021-06-04 (present and absent members; the names are public).
`seed(session)` is idempotent: it adds what is missing and updates what changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from casework import repository
from casework.model import (
    Group,
    GroupLevel,
    Member,
    Membership,
    Organisation,
    OrganisationKind,
    Role,
)


@dataclass(frozen=True)
class OrganisationSeed:
    slug: str
    name: str
    kind: OrganisationKind


@dataclass(frozen=True)
class GroupSeed:
    slug: str
    name: str
    level: GroupLevel
    description: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class MemberSeed:
    name: str
    organisation: str
    function: str
    role: Role = Role.member


REGION = OrganisationKind.region
MUNICIPALITY = OrganisationKind.municipality

ORGANISATIONS: tuple[OrganisationSeed, ...] = (
    OrganisationSeed("region-blekinge", "Region Blekinge", REGION),
    OrganisationSeed("karlskrona", "Karlskrona kommun", MUNICIPALITY),
    OrganisationSeed("ronneby", "Ronneby kommun", MUNICIPALITY),
    OrganisationSeed("karlshamn", "Karlshamns kommun", MUNICIPALITY),
    OrganisationSeed("solvesborg", "Sölvesborgs kommun", MUNICIPALITY),
    OrganisationSeed("olofstrom", "Olofströms kommun", MUNICIPALITY),
)

# Current names first; earlier names stay as aliases so old minutes still match.
# Samverkansgrupperna replaced the verksamhetsgrupper on 2021-04-01.
GROUPS: tuple[GroupSeed, ...] = (
    GroupSeed(
        "lsvo",
        "LSVO – Ledningssamverkan vård och omsorg",
        GroupLevel.strategic,
        "Ledningsgrupp för Samverkan Blekinge. Beslutar om länsgemensamma avtal, riktlinjer "
        "och rutiner, om inriktning och användning av gemensamma statsbidrag och om "
        "inriktning för FoU-arbete inom FoU-avtalet. Styrgrupp för större länsgemensamma "
        "projekt och processråd för länsgemensamma processer; bereder ärenden till "
        "Regionchefsgruppen.",
        ("LSVO", "Ledningssamverkan vård och omsorg", "LSVO:s ledningsgrupp"),
    ),
    GroupSeed(
        "sg-barn-unga",
        "Samverkansgrupp att växa upp",
        GroupLevel.tactical,
        "Samverkan kring alla barn och unga 0–18 år: skola och elevhälsa, BUP, habilitering, "
        "barnhälsovård, mödrahälsovård, ungdomsmottagning, barnets rättigheter, "
        "föräldraskapsstöd och placerade barn.",
        (
            "Samverkansgrupp Barn och unga",
            "Samverkansgrupp barn/unga",
            "att växa upp",
            "Verksamhetsgrupp Barn och unga",
        ),
    ),
    GroupSeed(
        "sg-vuxna",
        "Samverkansgrupp mitt i livet",
        GroupLevel.tactical,
        "Samverkan kring personer över 18 år: psykisk ohälsa, funktionsnedsättning, missbruk, "
        "beroende, samsjuklighet, socialpsykiatri och vuxenpsykiatri.",
        (
            "Samverkansgrupp Vuxna",
            "mitt i livet",
            "Verksamhetsgrupp Vuxna",
        ),
    ),
    GroupSeed(
        "sg-aldre",
        "Samverkansgrupp att åldras",
        GroupLevel.tactical,
        "Samverkan kring i huvudsak äldre personer: samordnad vård och omsorg, geriatrik, "
        "demens, palliativ vård, stroke, trygg och säker utskrivning, hemsjukvård och "
        "hjälpmedel.",
        (
            "Samverkansgrupp Äldre",
            "att åldras",
            "Verksamhetsgrupp Äldre",
        ),
    ),
    GroupSeed(
        "beredningsgruppen",
        "Beredningsgruppen",
        GroupLevel.support,
        "Ordförandena i LSVO och samverkansgrupperna, en kommun- och en regionrepresentant "
        "från LSVO samt LSVO:s sekreterare. Tar emot och fördelar inkomna ärenden, samordnar "
        "ärenden som berör fler än en samverkansgrupp och beslutar om LSVO:s dagordning.",
        ("Beredningsgrupp", "Beredningsgruppen för LSVO"),
    ),
    GroupSeed(
        "ikf",
        "Interkommunalt forum",
        GroupLevel.other,
        "Kommunernas eget forum för frågor som rör kommunerna i Blekinge.",
        ("IKF", "Interkommunala forumet"),
    ),
    GroupSeed(
        "regionchefsgruppen",
        "Regionchefsgruppen",
        GroupLevel.above,
        "LSVO bereder ärenden till Regionchefsgruppen och lämnar en årsrapport dit.",
        ("Regionchefsgrupp",),
    ),
    GroupSeed(
        "egna-beslutsorgan",
        "Respektive organisations egna beslutsorgan",
        GroupLevel.outside,
        "Dit går en fråga när LSVO:s ledamöter inte kan enas, och deras ställningstagande "
        "krävs innan LSVO beslutar i ett resurskrävande ärende.",
        ("egna beslutsorgan", "huvudmännens beslutsorgan"),
    ),
)

# LSVO's seats per the governance document (section 6.2): förvaltningschefer from
# Karlshamn 3, Karlskrona 4, Ronneby 3, Sölvesborg 3, Olofström 2; from Region Blekinge
# the director of health care, three heads of health care, the primary-care (Hälsovalet)
# strategist and the three samverkansgrupp chairs. The names are those of the minutes of
# 2021-06-04 (present and absent); seats those minutes do not name are left unfilled
# (one of Sölvesborg's three). The chair and the secretary come from the region's unit
# for quality and development and have no decision mandate.
LSVO_MEMBERS: tuple[MemberSeed, ...] = (
    MemberSeed(
        "Bodil Sundlöf", "region-blekinge", "Enheten för kvalitet och utveckling", Role.chair
    ),
    MemberSeed(
        "Mats Wennstig", "region-blekinge", "Enheten för kvalitet och utveckling", Role.secretary
    ),
    MemberSeed("Torill Skaar Magnusson", "karlshamn", "förvaltningschef Omsorgsförvaltningen"),
    MemberSeed("Thomas Svensson", "karlshamn", "förvaltningschef Arbete och välfärd"),
    MemberSeed("Tomas Ringberg", "karlshamn", "förvaltningschef utbildningsförvaltningen"),
    MemberSeed("Elina Tyrberg", "karlskrona", "förvaltningschef Funktionsstödsförvaltningen"),
    MemberSeed("Cecilia Grefve-Lang", "karlskrona", "förvaltningschef Socialförvaltningen"),
    MemberSeed("Gunilla Råberg", "karlskrona", "förvaltningschef Äldreförvaltningen"),
    MemberSeed("Yvonne Strandh", "karlskrona", "förvaltningschef kunskapsförvaltningen"),
    MemberSeed("Maria Appelskog", "ronneby", "förvaltningschef Vård- och omsorgsförvaltningen"),
    MemberSeed("Birgitta Ratcovich", "ronneby", "förvaltningschef Socialförvaltningen"),
    MemberSeed("Tobias Ekblad", "ronneby", "förvaltningschef utbildningsförvaltningen"),
    MemberSeed("Annelie Kjellström", "solvesborg", "förvaltningschef Omsorgsförvaltningen"),
    MemberSeed("Martin Åsman", "solvesborg", "förvaltningschef Barn- och utbildningsförvaltningen"),
    MemberSeed("Patrik Håkansson", "olofstrom", "förvaltningschef utbildningsförvaltningen"),
    MemberSeed("Robert Schelin", "olofstrom", "förvaltningschef Socialförvaltningen"),
    MemberSeed("Kjell Ivarsson", "region-blekinge", "hälso- och sjukvårdsdirektör"),
    MemberSeed("Annika Mellqvist", "region-blekinge", "tf hälso- och sjukvårdschef Nära vård"),
    MemberSeed(
        "Birgitta Friberg", "region-blekinge", "hälso- och sjukvårdschef Specialiserad vård"
    ),
    MemberSeed(
        "Maria Arvidsson-Karlsson",
        "region-blekinge",
        "hälso- och sjukvårdschef Medicinska serviceverksamheter",
    ),
    MemberSeed("Håkan Friberg", "region-blekinge", "medicinsk rådgivare, Hälsovalsavdelningen"),
    MemberSeed("Carina Andersson", "region-blekinge", "Enheten för kvalitet och utveckling"),
)

# Members who take part without a decision mandate.
NO_DECISION_MANDATE: frozenset[Role] = frozenset({Role.chair, Role.secretary, Role.adjunct})


def seed(session: Session) -> None:
    """Add or update the seed data; running it again changes nothing. Does not commit."""
    organisations = {o.slug: _organisation(session, o) for o in ORGANISATIONS}
    groups = {g.slug: _group(session, g) for g in GROUPS}
    lsvo = groups["lsvo"]
    for seat in LSVO_MEMBERS:
        member = _member(session, seat, organisations[seat.organisation])
        _membership(session, member, lsvo, seat.role)
    session.flush()


def _organisation(session: Session, data: OrganisationSeed) -> Organisation:
    row = repository.get_organisation(session, slug=data.slug)
    if row is None:
        row = Organisation(slug=data.slug, name=data.name, kind=data.kind)
    else:
        row.name, row.kind = data.name, data.kind
    session.add(row)
    session.flush()
    return row


def _group(session: Session, data: GroupSeed) -> Group:
    row = repository.get_group(session, slug=data.slug)
    if row is None:
        row = Group(slug=data.slug, name=data.name, level=data.level)
    else:
        row.name, row.level = data.name, data.level
    row.description = data.description
    row.aliases = list(data.aliases)
    session.add(row)
    session.flush()
    return row


def _member(session: Session, data: MemberSeed, organisation: Organisation) -> Member:
    assert organisation.id is not None
    row = repository.find_member(
        session, name=data.name, organisation_id=organisation.id
    ) or Member(name=data.name, organisation_id=organisation.id)
    row.function = data.function
    session.add(row)
    session.flush()
    return row


def _membership(session: Session, member: Member, group: Group, role: Role) -> Membership:
    assert member.id is not None and group.id is not None
    row = repository.get_membership(session, member_id=member.id, group_id=group.id) or Membership(
        member_id=member.id, group_id=group.id
    )
    row.role = role
    row.decision_mandate = role not in NO_DECISION_MANDATE
    session.add(row)
    return row
