"""Tables and their model families (…Create for input, …Public for output).

Storage choices:
- Enumerations are VARCHAR columns (not PostgreSQL enum types), so adding a state or a
  level is a code change, not a migration.
- Lists (aliases, target groups, addresses) are JSON columns.
- A case's kind is stored as its agenda mark ("B", "I/D" …) and read as a tuple of
  `rules.facts.Kind` through `Case.kinds`.
- Timestamps are timezone-aware UTC on both databases (`UTCDateTime`).
- Attachments are files on disk, content-addressed by SHA-256 under
  `<data_dir>/attachments/`; the table holds the metadata and the relative path.
"""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints
from sqlmodel import JSON, Field, SQLModel

from casework.calendar import DeadlineRule
from casework.lifecycle import State
from rules.facts import KIND_LETTERS, KINDS, CaseFacts, Kind, TargetGroup

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def sparse_index(column: str) -> sa.Index:
    """An index on a column that most rows leave empty, of only the rows that fill it in;
    named by the naming convention, as `index=True` would name it (ix_<table>_<column>).

    A row without a value then writes no index entry (a page less to write a commit, on
    both databases), and a lookup of a value (`column = …`) still uses the index.
    """
    present = sa.text(f"{column} IS NOT NULL")
    return sa.Index(None, column, sqlite_where=present, postgresql_where=present)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


# Default factories for list and dict columns. Pydantic inspects a default factory's
# signature every time a model is built without that field; for the builtins `list` and
# `dict` that means parsing their text signature, about a tenth of a submission's time.
def empty_list() -> list[Any]:
    return []


def empty_dict() -> dict[str, Any]:
    return {}


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give a timezone-aware time")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _enum(enum_cls: type[StrEnum]) -> sa.Enum:
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


def kinds_from_marks(marks: str) -> tuple[Kind, ...]:
    """ "I/D" → ("information", "diskussion")."""
    by_letter = {letter: kind for kind, letter in KIND_LETTERS.items()}
    letters = {part.strip().upper() for part in marks.split("/") if part.strip()}
    unknown = letters - by_letter.keys()
    if unknown:
        raise ValueError(f"unknown kind marks {sorted(unknown)} in {marks!r}: use B, I or D")
    return tuple(k for k in KINDS if KIND_LETTERS[k] in letters)


def _kinds_from_storage(value: Any) -> Any:
    return kinds_from_marks(value) if isinstance(value, str) else value


class OrganisationKind(StrEnum):
    region = "region"
    municipality = "municipality"


class GroupLevel(StrEnum):
    strategic = "strategic"
    tactical = "tactical"
    support = "support"
    other = "other"
    above = "above"
    outside = "outside"


class QuorumRule(StrEnum):
    """Who counts as a huvudman for quorum (more than half of each must be present)."""

    sides = "sides"  # two sides: the region, and the municipalities together
    per_organisation = "per_organisation"  # each organisation on its own


class Role(StrEnum):
    chair = "chair"
    secretary = "secretary"
    member = "member"
    adjunct = "adjunct"


Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=64)]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]


class Organisation(SQLModel, table=True):
    """A huvudman: Region Blekinge or one of the municipalities."""

    __tablename__ = "organisations"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    kind: OrganisationKind = Field(sa_type=_enum(OrganisationKind))


class Group(SQLModel, table=True):
    """A collaboration body (LSVO, a samverkansgrupp …); the slug stays when the name changes."""

    __tablename__ = "groups"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    aliases: list[str] = Field(default_factory=empty_list, sa_type=JSON)
    level: GroupLevel = Field(sa_type=_enum(GroupLevel))
    description: str = ""
    quorum_rule: QuorumRule = Field(default=QuorumRule.sides, sa_type=_enum(QuorumRule))
    agenda_offset_days: int = 7
    submission_offset_days: int = 7

    @property
    def deadline_rule(self) -> DeadlineRule:
        """The group's deadline offsets, as `casework.calendar` takes them."""
        return DeadlineRule(self.agenda_offset_days, self.submission_offset_days)


class Member(SQLModel, table=True):
    """A person who represents an organisation and a function."""

    __tablename__ = "members"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    organisation_id: int = Field(foreign_key="organisations.id", index=True)
    function: str = Field(default="", max_length=300)
    email: str | None = Field(default=None, max_length=254)
    notification_addresses: list[str] = Field(default_factory=empty_list, sa_type=JSON)
    # SHA-256 of the token in the member's private iCalendar feed address.
    calendar_token_hash: str | None = Field(default=None, max_length=64, unique=True)
    # Which kinds of message the member wants (None: all), and whether they come together
    # in one daily digest instead of one by one.
    notification_kinds: list[str] | None = Field(default=None, sa_type=JSON)
    digest: bool = False


class Membership(SQLModel, table=True):
    """A member's seat in a group; the chair and the secretary have no decision mandate."""

    __tablename__ = "memberships"
    __table_args__ = (sa.UniqueConstraint("member_id", "group_id"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="members.id", index=True)
    group_id: int = Field(foreign_key="groups.id", index=True)
    role: Role = Field(default=Role.member, sa_type=_enum(Role))
    decision_mandate: bool = True


class Case(SQLModel, table=True):
    """An ärende. `reference` is handed out per prefix and year: SB-2026-0001."""

    __tablename__ = "cases"
    # The stale-triage sweep asks for cases in a state submitted before a date; the
    # queue's filter by status uses the same index.
    __table_args__ = (
        sa.Index("ix_cases_status_created_at", "status", "created_at"),
        sparse_index("meeting_id"),
        sparse_index("parent_case_id"),
        sparse_index("deviation_cluster_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=32, unique=True)
    title: str = Field(max_length=300)
    description: str = ""
    kind: str = Field(default="", max_length=8)
    target_groups: list[str] = Field(default_factory=empty_list, sa_type=JSON)
    requests_resources: bool = False
    county_wide: bool = False
    deviation: bool = False
    recurring: bool = False
    municipalities_only: bool = False
    escalated_from: str | None = Field(default=None, max_length=64)
    submitter_name: str = Field(max_length=200)
    submitter_email: str = Field(max_length=254)
    submitter_organisation: str = Field(default="", max_length=200)
    presenter: str = Field(default="", max_length=300)
    proposed_decision: str = ""
    status: State = Field(default=State.submitted, sa_type=_enum(State))
    destination: str = Field(max_length=64, index=True)
    requires_endorsement: bool = False
    lead_group: str | None = Field(default=None, max_length=64)
    routed_groups: list[str] = Field(default_factory=empty_list, sa_type=JSON)
    routing_rule: str = Field(default="", max_length=200)
    routing_explanation: str = ""
    # SHA-256 of the private link's token: the submitter follows the case without an account.
    access_token_hash: str | None = Field(default=None, max_length=64, unique=True)
    # The meeting of its destination (or lead group) the case is placed on.
    meeting_id: int | None = Field(default=None, foreign_key="meetings.id")
    # The case this one was raised from: an escalation, or a group's deviations handed on.
    parent_case_id: int | None = Field(default=None, foreign_key="cases.id")
    # A deviation (avvikelse): what kind, where, which organisations, when it happened,
    # and the cluster of similar deviations its group put it in.
    deviation_kind: str = Field(default="", max_length=64)
    deviation_place: str = Field(default="", max_length=300)
    deviation_organisations: list[str] = Field(default_factory=empty_list, sa_type=JSON)
    deviation_date: dt.date | None = Field(default=None)
    deviation_cluster_id: int | None = Field(default=None, foreign_key="deviation_clusters.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())

    @property
    def kinds(self) -> tuple[Kind, ...]:
        """The stored mark as kinds: "I/D" → ("information", "diskussion")."""
        return kinds_from_marks(self.kind)

    def facts(self) -> CaseFacts:
        """The case as the routing rules see it."""
        return CaseFacts.model_validate(
            {name: getattr(self, name) for name in CaseFacts.model_fields}
        )


class CaseCreate(CaseFacts):
    """A submission (anmälan): the routing facts plus who submits and presents it."""

    submitter_name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    submitter_email: Email
    submitter_organisation: Annotated[str, StringConstraints(max_length=200)] = ""
    presenter: Annotated[str, StringConstraints(max_length=300)] = ""
    proposed_decision: Annotated[str, StringConstraints(max_length=20_000)] = ""

    def facts(self) -> CaseFacts:
        """Only the fields the routing rules read."""
        return CaseFacts.model_validate(self.model_dump(include=set(CaseFacts.model_fields)))


class CasePublic(BaseModel):
    """A case as the API and the pages show it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    reference: str
    title: str
    description: str
    kind: Annotated[tuple[Kind, ...], BeforeValidator(_kinds_from_storage)]
    target_groups: tuple[TargetGroup, ...]
    requests_resources: bool
    county_wide: bool
    deviation: bool
    recurring: bool
    municipalities_only: bool
    escalated_from: str | None
    submitter_name: str
    submitter_email: str
    submitter_organisation: str
    presenter: str
    proposed_decision: str
    status: State
    destination: str
    requires_endorsement: bool
    lead_group: str | None
    routed_groups: tuple[str, ...]
    routing_rule: str
    routing_explanation: str
    meeting_id: int | None = None
    created_at: datetime
    updated_at: datetime


class Attachment(SQLModel, table=True):
    """A document (underlag) of a case; the bytes live at `storage_path` under the data dir."""

    __tablename__ = "attachments"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=255)
    size: int
    sha256: str = Field(max_length=64, index=True)
    storage_path: str = Field(max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class AttachmentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime


class AuditEvent(SQLModel, table=True):
    """Who did what to which case, with the state before and after."""

    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    actor: str = Field(max_length=200)
    action: str = Field(max_length=64)
    # Read by case (the audit trail), in the order written; not by time.
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    before: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    note: str = ""


class AuditEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int | None
    actor: str
    action: str
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    note: str


class ReferenceCounter(SQLModel, table=True):
    """The last reference number handed out per prefix and year."""

    __tablename__ = "reference_counters"

    prefix: str = Field(primary_key=True, max_length=16)
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last: int = 0


class StaffRole(StrEnum):
    """What a signed-in person may do; `secretary` and `chair` are per group."""

    beredning = "beredning"
    secretary = "secretary"
    chair = "chair"
    member = "member"
    admin = "admin"


class User(SQLModel, table=True):
    """A staff account: signs in with e-mail and password, or calls the API with a token."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    name: str = Field(default="", max_length=200)
    password_hash: str = Field(max_length=300)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class UserRole(SQLModel, table=True):
    """One role of a user; `group_slug` says which group a secretary or chair serves."""

    __tablename__ = "user_roles"
    __table_args__ = (sa.UniqueConstraint("user_id", "role", "group_slug"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    role: StaffRole = Field(sa_type=_enum(StaffRole))
    group_slug: str | None = Field(default=None, max_length=64)


class ApiToken(SQLModel, table=True):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class WebSession(SQLModel, table=True):
    """A signed-in browser; the cookie holds a random token, the table its SHA-256."""

    __tablename__ = "web_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    expires_at: datetime = Field(sa_type=UTCDateTime(), index=True)


class IdempotencyRecord(SQLModel, table=True):
    """The first result of an API submission made with an Idempotency-Key header."""

    __tablename__ = "idempotency_records"

    key: str = Field(primary_key=True, max_length=200)
    request_hash: str = Field(max_length=64)
    case_id: int = Field(foreign_key="cases.id")
    access_token: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class Meeting(SQLModel, table=True):
    """A meeting of a group; its deadlines follow from the date and the group's offsets."""

    __tablename__ = "meetings"
    __table_args__ = (sa.UniqueConstraint("group_id", "date"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id", index=True)
    date: dt.date = Field(index=True)
    starts_at: str = Field(default="", max_length=5)
    place: str = Field(default="", max_length=300)
    ends_at: str = Field(default="", max_length=5)
    video_link: str = Field(default="", max_length=500)
    # The steps of a meeting's calendar, each set once by the person or the sweep that took it.
    submissions_closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    agenda_approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    agenda_approved_by: str = Field(default="", max_length=200)
    agenda_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime())


class AgendaSection(StrEnum):
    """Where an item stands on the agenda: the fixed opening, the cases, Övriga frågor."""

    opening = "opening"
    case = "case"
    other = "other"


class AgendaItem(SQLModel, table=True):
    """One item on a meeting's agenda; `position` orders the items within their section.

    A case that touches several groups is on its lead group's agenda as itself and on the
    others' with `for_information` set.
    """

    __tablename__ = "agenda_items"
    __table_args__ = (sa.UniqueConstraint("meeting_id", "case_id"),)

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meetings.id", index=True)
    section: AgendaSection = Field(default=AgendaSection.case, sa_type=_enum(AgendaSection))
    position: int = 0
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    title: str = Field(max_length=300)
    kind: str = Field(default="", max_length=8)
    presenter: str = Field(default="", max_length=300)
    proposed_decision: str = ""
    for_information: bool = False
    added_by: str = Field(default="", max_length=200)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class NotificationStatus(StrEnum):
    pending = "pending"
    sent = "sent"
    dead = "dead"


class Notification(SQLModel, table=True):
    """A message in the outbox, written in the same transaction as the change behind it.

    `not_before` holds a message back (reminders wait for working hours); the drain sends
    pending messages whose `not_before` has passed.
    """

    __tablename__ = "notifications"
    # The drain asks for pending messages due by now, oldest first; the outbox pages and
    # the metrics count and list messages by status. No query looks for a kind.
    __table_args__ = (
        sa.Index("ix_notifications_status_not_before", "status", "not_before"),
        sparse_index("event_key"),
        sparse_index("member_id"),
        sparse_index("meeting_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=64)
    event_key: str | None = Field(default=None, max_length=200)
    recipient_name: str = Field(default="", max_length=200)
    recipient_address: str = Field(max_length=500)
    member_id: int | None = Field(default=None, foreign_key="members.id")
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    meeting_id: int | None = Field(default=None, foreign_key="meetings.id")
    subject: str = Field(max_length=300)
    body_text: str
    # The HTML of the kind's own template; "" when it has none: the drain then sends the
    # default HTML made from subject and text (`notifications.messages.html_part`).
    body_html: str = ""
    status: NotificationStatus = Field(
        default=NotificationStatus.pending, sa_type=_enum(NotificationStatus)
    )
    not_before: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    attempts: int = 0
    last_error: str = ""
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    # Sent together with the recipient's other digest messages, once a day.
    digest: bool = False
    # A drain that claims the message holds it until then; a crashed drain's claim lapses.
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime())
    # Files sent with the message: [{"filename", "content_type", "path"}], the path under
    # the data directory (content-addressed, as attachments of cases are).
    attachments: list[dict[str, str]] = Field(default_factory=empty_list, sa_type=JSON)


class NotificationAttempt(SQLModel, table=True):
    """One try at delivering a message: when, through which channel, and how it went.

    `channel` is the Apprise URL with its secrets masked.
    """

    __tablename__ = "notification_attempts"

    id: int | None = Field(default=None, primary_key=True)
    notification_id: int = Field(foreign_key="notifications.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    channel: str = Field(default="", max_length=500)
    success: bool
    error: str = ""


class SweepEvent(SQLModel, table=True):
    """A calendar event a flow has acted on; the unique key makes it act exactly once."""

    __tablename__ = "sweep_events"

    key: str = Field(primary_key=True, max_length=200)
    kind: str = Field(max_length=64, index=True)
    meeting_id: int | None = Field(default=None, foreign_key="meetings.id", index=True)
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    acted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class AccessPurpose(StrEnum):
    """What a private link opens."""

    case = "case"  # the submitter's status page of one case
    written_views = "written_views"  # a member's written views on a meeting's items
    # a member's answer for their organisation to a case's requests (OrganisationRequest)
    organisation_request = "organisation_request"
    assignment = "assignment"  # an owner reports an assignment done (token: "<id>.<random>")


class AccessLink(SQLModel, table=True):
    """A private link sent in a message: only the SHA-256 of its token is stored.

    A case's first link is `Case.access_token_hash`; every later message to the submitter
    carries a fresh link of its own here, so no token ever has to be kept readable.
    """

    __tablename__ = "access_links"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    purpose: AccessPurpose = Field(sa_type=_enum(AccessPurpose))
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    meeting_id: int | None = Field(default=None, foreign_key="meetings.id", index=True)
    member_id: int | None = Field(default=None, foreign_key="members.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime())


class Attendance(SQLModel, table=True):
    """Whether a member (or an adjunct guest, who has no member row) was at a meeting.

    Guests are named in `guest_name` with their organisation and function as free text;
    they never count towards quorum.
    """

    __tablename__ = "attendances"
    __table_args__ = (sa.UniqueConstraint("meeting_id", "member_id"),)

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meetings.id", index=True)
    member_id: int | None = Field(default=None, foreign_key="members.id", index=True)
    guest_name: str = Field(default="", max_length=200)
    guest_organisation: str = Field(default="", max_length=200)
    guest_function: str = Field(default="", max_length=300)
    present: bool = True
    recorded_by: str = Field(default="", max_length=200)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class WrittenView(SQLModel, table=True):
    """A member's written views on an agenda item, sent before a meeting they will miss."""

    __tablename__ = "written_views"
    __table_args__ = (sa.UniqueConstraint("agenda_item_id", "member_id"),)

    id: int | None = Field(default=None, primary_key=True)
    agenda_item_id: int = Field(foreign_key="agenda_items.id", index=True)
    member_id: int = Field(foreign_key="members.id", index=True)
    text: str
    submitted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class Outcome(StrEnum):
    """How an agenda item ended."""

    decided = "decided"
    noted = "noted"  # information laid to the minutes
    referred_back = "referred_back"
    deferred = "deferred"  # to a named later meeting
    escalated = "escalated"  # the group could not agree; see the follow-up


class QuorumChoice(StrEnum):
    """What the secretary chose for a decision item while the meeting was not quorate."""

    quorate = "quorate"  # the meeting was quorate: no choice needed
    without_quorum = "without_quorum"  # decided, and the lack of quorum is recorded


class Decision(SQLModel, table=True):
    """The record of one agenda item at its meeting, which becomes a § of the minutes.

    `clauses` are the "att"-clauses without the leading "att"; `text` is the paragraph's
    body, which the secretary may edit until the minutes are final; `recipients` are the
    people and bodies the paragraph goes to ("Protokollet ska skickas till"), each
    {"name", "address"} with an optional e-mail or Apprise address.
    """

    __tablename__ = "decisions"

    id: int | None = Field(default=None, primary_key=True)
    agenda_item_id: int = Field(foreign_key="agenda_items.id", unique=True)
    meeting_id: int = Field(foreign_key="meetings.id", index=True)
    outcome: Outcome = Field(sa_type=_enum(Outcome))
    clauses: list[str] = Field(default_factory=empty_list, sa_type=JSON)
    text: str = ""
    recipients: list[dict[str, str]] = Field(default_factory=empty_list, sa_type=JSON)
    deferred_to_meeting_id: int | None = Field(default=None, foreign_key="meetings.id")
    quorum: QuorumChoice = Field(default=QuorumChoice.quorate, sa_type=_enum(QuorumChoice))
    recorded_by: str = Field(default="", max_length=200)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class AssignmentStatus(StrEnum):
    open = "open"
    done = "done"


class Assignment(SQLModel, table=True):
    """An uppdrag given by a decision: an owner and a date or a meeting to report back at."""

    __tablename__ = "assignments"

    id: int | None = Field(default=None, primary_key=True)
    decision_id: int = Field(foreign_key="decisions.id", index=True)
    group_id: int = Field(foreign_key="groups.id", index=True)
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    description: str
    owner_name: str = Field(max_length=200)
    owner_member_id: int | None = Field(default=None, foreign_key="members.id", index=True)
    owner_address: str = Field(default="", max_length=500)
    due_date: dt.date | None = Field(default=None, index=True)
    due_meeting_id: int | None = Field(default=None, foreign_key="meetings.id", index=True)
    status: AssignmentStatus = Field(
        default=AssignmentStatus.open, sa_type=_enum(AssignmentStatus), index=True
    )
    report: str = ""
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class Minutes(SQLModel, table=True):
    """One version of a meeting's minutes (protokoll).

    A draft is assembled from the meeting whenever it is shown; finalising freezes it as
    `content` (the whole document as JSON) with its § numbers. A later version keeps the
    numbers, says why in `reason`, and leaves the earlier version as it was.
    """

    __tablename__ = "minutes"
    __table_args__ = (sa.UniqueConstraint("meeting_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meetings.id", index=True)
    version: int = 1
    content: dict[str, Any] = Field(default_factory=empty_dict, sa_type=JSON)
    first_paragraph: int
    last_paragraph: int
    reason: str = ""
    finalised_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    finalised_by: str = Field(default="", max_length=200)
    # Approved (justerat), at the next meeting or by the chair's signature.
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    approved_by: str = Field(default="", max_length=200)
    approved_at_meeting_id: int | None = Field(default=None, foreign_key="meetings.id")


class ParagraphCounter(SQLModel, table=True):
    """The last § a group handed out in a year; § numbers are never reused."""

    __tablename__ = "paragraph_counters"

    group_id: int = Field(primary_key=True, foreign_key="groups.id")
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last: int = 0


class RequestPurpose(StrEnum):
    """What a case asks of each organisation's own decision body."""

    position = "position"  # LSVO could not agree: each organisation takes a position
    backing = "backing"  # a resource-requiring case needs each organisation's backing


class RequestResponse(StrEnum):
    pending = "pending"
    backs = "backs"
    does_not_back = "does_not_back"
    comment = "comment"  # answers with a comment only, neither backing nor refusing


class OrganisationRequest(SQLModel, table=True):
    """One organisation's answer to a case, recorded by a member of that organisation."""

    __tablename__ = "organisation_requests"
    __table_args__ = (sa.UniqueConstraint("case_id", "organisation_id", "purpose"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    organisation_id: int = Field(foreign_key="organisations.id", index=True)
    purpose: RequestPurpose = Field(sa_type=_enum(RequestPurpose))
    due_date: dt.date = Field(index=True)
    response: RequestResponse = Field(
        default=RequestResponse.pending, sa_type=_enum(RequestResponse), index=True
    )
    comment: str = ""
    responded_by: str = Field(default="", max_length=200)
    responded_member_id: int | None = Field(default=None, foreign_key="members.id")
    responded_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class DeviationCluster(SQLModel, table=True):
    """Similar deviations a group handles together.

    Handing a cluster to LSVO makes one new case whose `deviation_cluster_id` is the
    cluster; `handed_at` says when.
    """

    __tablename__ = "deviation_clusters"

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id", index=True)
    title: str = Field(max_length=300)
    created_by: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    handed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    handed_by: str = Field(default="", max_length=200)


class RateWindow(SQLModel, table=True):
    """Hits per key (a client's submissions, an address's sign-in failures) in a window.

    Kept in the database so that every web process counts the same hits.
    """

    __tablename__ = "rate_windows"

    key: str = Field(primary_key=True, max_length=200)
    window_start: datetime = Field(primary_key=True, sa_type=UTCDateTime())
    hits: int = 0
