"""Every query the application makes, as keyword-only typed functions over a Session.

Nothing here commits: the caller's unit of work decides (`casework.db.unit_of_work`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, text
from sqlalchemy.orm import configure_mappers, instrumentation
from sqlmodel import Session, col, select

from casework.db import Executor, connection_of
from casework.lifecycle import State
from casework.model import (
    Attachment,
    AuditEvent,
    Case,
    Group,
    IdempotencyRecord,
    Meeting,
    Member,
    Membership,
    Organisation,
    utcnow,
)

# Portable upsert: SQLite (>= 3.35) and PostgreSQL both accept this exact statement. The
# row lock it takes (PostgreSQL) or the write lock BEGIN IMMEDIATE holds (SQLite) makes
# concurrent callers wait, and a rolled-back transaction gives its number back.
_NEXT_NUMBER = text(
    "INSERT INTO reference_counters (prefix, year, last) VALUES (:prefix, :year, 1) "
    "ON CONFLICT (prefix, year) DO UPDATE SET last = reference_counters.last + 1 "
    "RETURNING last"
)


_NEXT_NUMBER_AND_GROUP_NAME = text(
    _NEXT_NUMBER.text + ", (SELECT name FROM groups WHERE slug = :slug)"
)


def next_reference_number(session: Executor, *, prefix: str, year: int) -> int:
    """Reserve the next number for `prefix` and `year` (1, 2, … restarting each year)."""
    result = connection_of(session).execute(_NEXT_NUMBER, {"prefix": prefix, "year": year})
    return int(result.scalar_one())


def next_reference_number_and_group_name(
    session: Executor, *, prefix: str, year: int, slug: str
) -> tuple[int, str | None]:
    """`next_reference_number`, and the name of the group `slug` (None without one), read
    by the same statement: a submission needs both, and saves a round trip."""
    number, name = (
        connection_of(session)
        .execute(_NEXT_NUMBER_AND_GROUP_NAME, {"prefix": prefix, "year": year, "slug": slug})
        .one()
    )
    return int(number), name


def format_reference(*, prefix: str, year: int, number: int) -> str:
    """SB-2026-0001."""
    return f"{prefix}-{year}-{number:04d}"


# Cases


_CASES = Case.__table__  # type: ignore[attr-defined]
_INSERT_CASE = sa.insert(_CASES).returning(_CASES.c.id)
# Each column but id: its plain default, or the function that makes one, or _REQUIRED.
_REQUIRED = object()
_CASE_DEFAULTS: tuple[tuple[str, Any, Callable[[], Any] | None], ...] = tuple(
    (
        name,
        _REQUIRED if field.is_required() else field.default,
        field.default_factory,  # type: ignore[misc]
    )
    for name, field in Case.model_fields.items()
    if name != "id"
)
_CASE_CLASS = instrumentation.manager_of_class(Case)
_NEW_CASE_COLUMNS = frozenset(name for name, _default, _factory in _CASE_DEFAULTS)


def insert_case(session: Executor, values: Mapping[str, Any]) -> Case:
    """Store a new case with one INSERT … RETURNING id (no ORM flush); the stored case.

    `values` are its columns; the ones left out take the model's defaults (`case_row`).
    It is not added to the session: it is the caller's record of what was stored.
    """
    row = case_row(values)
    case_id = connection_of(session).execute(_INSERT_CASE, row).scalar_one()
    return loaded_case(row, case_id)


def case_row(values: Mapping[str, Any]) -> dict[str, Any]:
    """Every column of a new case but its id: `values`, and the model's defaults for the
    ones left out; TypeError for a name that is not a column or a required one missing."""
    unknown = values.keys() - _NEW_CASE_COLUMNS
    if unknown:
        raise TypeError(f"not columns of a new case: {sorted(unknown)}")
    row: dict[str, Any] = {}
    for name, default, factory in _CASE_DEFAULTS:
        if name in values:
            row[name] = values[name]
        elif factory is not None:
            row[name] = factory()
        elif default is _REQUIRED:
            raise TypeError(f"a new case needs {name}")
        else:
            row[name] = default
    return row


def loaded_case(row: Mapping[str, Any], case_id: int | None) -> Case:
    """The Case of a stored `row` (`case_row`), made the way SQLAlchemy makes one from a
    row it loads, the values put straight into the instance: `Case(...)` would spend about
    as long on its per-field defaults and attribute events as an INSERT takes."""
    # As Case(...) would: the mappers are set up on first use, and a process may store a
    # case before it has used any other model.
    if not _CASE_CLASS.mapper.configured:
        configure_mappers()
    case: Case = _CASE_CLASS.new_instance()
    case.__dict__.update(row, id=case_id)
    return case


def get_case(session: Session, *, case_id: int, for_update: bool = False) -> Case | None:
    """A case by id; `for_update` locks the row on PostgreSQL (SQLite locks the database)."""
    statement = select(Case).where(Case.id == case_id)
    if for_update:
        statement = statement.with_for_update()
    return session.exec(statement).first()


def get_case_by_reference(session: Session, *, reference: str) -> Case | None:
    return session.exec(select(Case).where(Case.reference == reference)).first()


def list_cases(
    session: Session,
    *,
    status: State | Sequence[State] | None = None,
    destination: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Case]:
    """Cases, newest first, optionally filtered by status (one or several) and destination."""
    statement = select(Case)
    if isinstance(status, State):
        statement = statement.where(Case.status == status)
    elif status is not None:
        statement = statement.where(col(Case.status).in_(list(status)))
    if destination is not None:
        statement = statement.where(Case.destination == destination)
    statement = statement.order_by(col(Case.id).desc()).limit(limit).offset(offset)
    return list(session.exec(statement).all())


def count_cases(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Case)).one()


# Attachments


def add_attachment(session: Session, *, attachment: Attachment) -> Attachment:
    session.add(attachment)
    session.flush()
    return attachment


def list_attachments(session: Session, *, case_id: int) -> list[Attachment]:
    statement = select(Attachment).where(Attachment.case_id == case_id).order_by(col(Attachment.id))
    return list(session.exec(statement).all())


# Audit trail


_INSERT_AUDIT_EVENT = sa.insert(AuditEvent.__table__)  # type: ignore[attr-defined]


def add_audit_event(
    session: Executor,
    *,
    case_id: int | None,
    actor: str,
    action: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str = "",
    at: datetime | None = None,
) -> None:
    """Store an audit event with one INSERT (no ORM flush); `at` defaults to now."""
    connection_of(session).execute(
        _INSERT_AUDIT_EVENT,
        {
            "case_id": case_id,
            "actor": actor,
            "action": action,
            "at": at if at is not None else utcnow(),
            "before": before,
            "after": after,
            "note": note,
        },
    )


def list_audit_events(session: Session, *, case_id: int) -> list[AuditEvent]:
    """A case's audit trail, oldest first."""
    statement = select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(col(AuditEvent.id))
    return list(session.exec(statement).all())


# Organisations, groups and members


def get_organisation(session: Session, *, slug: str) -> Organisation | None:
    return session.exec(select(Organisation).where(Organisation.slug == slug)).first()


def list_organisations(session: Session) -> list[Organisation]:
    return list(session.exec(select(Organisation).order_by(col(Organisation.id))).all())


def get_group(session: Session, *, slug: str) -> Group | None:
    return session.exec(select(Group).where(Group.slug == slug)).first()


_GROUPS = Group.__table__  # type: ignore[attr-defined]
_GROUP_NAME = sa.select(_GROUPS.c.name).where(_GROUPS.c.slug == sa.bindparam("slug"))


def group_name(session: Session, *, slug: str) -> str | None:
    """A group's name alone, without loading the group or flushing pending objects."""
    name: str | None = session.connection().execute(_GROUP_NAME, {"slug": slug}).scalar()
    return name


def list_groups(session: Session) -> list[Group]:
    return list(session.exec(select(Group).order_by(col(Group.id))).all())


def find_member(session: Session, *, name: str, organisation_id: int) -> Member | None:
    statement = select(Member).where(Member.name == name, Member.organisation_id == organisation_id)
    return session.exec(statement).first()


def get_membership(session: Session, *, member_id: int, group_id: int) -> Membership | None:
    statement = select(Membership).where(
        Membership.member_id == member_id, Membership.group_id == group_id
    )
    return session.exec(statement).first()


def list_group_members(
    session: Session, *, group_slug: str
) -> list[tuple[Member, Membership, Organisation]]:
    """A group's members with their seat and organisation, in seating order."""
    statement = (
        select(Member, Membership, Organisation)
        .join(Membership, col(Membership.member_id) == col(Member.id))
        .join(Group, col(Group.id) == col(Membership.group_id))
        .join(Organisation, col(Organisation.id) == col(Member.organisation_id))
        .where(Group.slug == group_slug)
        .order_by(col(Membership.id))
    )
    return [(m, s, o) for m, s, o in session.exec(statement).all()]


def list_meetings(session: Session, *, group_slug: str, on_or_after: date) -> list[Meeting]:
    """A group's meetings from a date on, earliest first."""
    statement = (
        select(Meeting)
        .join(Group, col(Group.id) == col(Meeting.group_id))
        .where(Group.slug == group_slug, col(Meeting.date) >= on_or_after)
        .order_by(col(Meeting.date))
    )
    return list(session.exec(statement).all())


# Idempotency records


def get_idempotency_record(session: Session, *, key: str) -> IdempotencyRecord | None:
    return session.get(IdempotencyRecord, key)


_INSERT_IDEMPOTENCY_RECORD = sa.insert(IdempotencyRecord.__table__)  # type: ignore[attr-defined]


def add_idempotency_record(session: Executor, *, record: IdempotencyRecord) -> IdempotencyRecord:
    """Inserted at once: a key already stored (or being stored) fails here with IntegrityError."""
    connection_of(session).execute(
        _INSERT_IDEMPOTENCY_RECORD,
        {
            "key": record.key,
            "request_hash": record.request_hash,
            "case_id": record.case_id,
            "access_token": record.access_token,
            "created_at": record.created_at,
        },
    )
    return record


# The submitter's private link


def get_case_by_access_token_hash(session: Session, *, token_hash: str) -> Case | None:
    """The case whose private link's token has this SHA-256 (the token itself is not stored)."""
    return session.exec(select(Case).where(Case.access_token_hash == token_hash)).first()
