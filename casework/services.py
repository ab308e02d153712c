"""Use cases. Each one is a single transaction: it either happens completely or not at all."""

from __future__ import annotations

import difflib
import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from casework import one_statement, outbox, repository
from casework.access import link_url
from casework.calendar import DeadlineRule, Deadlines, deadlines_for, landing_meeting
from casework.db import Executor, direct_sqlite, unit_of_work, writes_directly
from casework.files import store_file
from casework.lifecycle import Action, CaseworkError, RefusedError, State, next_state
from casework.model import (
    AccessPurpose,
    Attachment,
    Case,
    CaseCreate,
    CasePublic,
    IdempotencyRecord,
    Meeting,
    utcnow,
)
from casework.rate_limits import Quota
from rules.facts import TARGET_GROUPS, CaseFacts, RouteResult, kind_marks

# References are numbered per calendar year as it is in Blekinge, not in UTC.
LOCAL_TIMEZONE = ZoneInfo("Europe/Stockholm")


class Router(Protocol):
    """Anything that routes a case: a loaded `rules.RuleSet`, or a fake in tests."""

    def route(self, facts: CaseFacts) -> RouteResult: ...


class CaseNotFound(CaseworkError):
    def __init__(self, case_id: int) -> None:
        self.case_id = case_id
        super().__init__(f"no case with id {case_id}")


class CaseChanged(CaseworkError):
    """Someone else moved the case between reading it and acting on it."""

    def __init__(self, case_id: int, expected: State, actual: State) -> None:
        self.case_id = case_id
        self.expected = expected
        self.actual = actual
        super().__init__(f"case {case_id} is now {actual.value}, not {expected.value}: reload it")


class DestinationNotAllowed(CaseworkError):
    """A destination was given with an action that does not route the case."""

    def __init__(self, action: Action) -> None:
        self.action = action
        super().__init__(
            f"a destination can only be set with {Action.route} or {Action.reroute}, "
            f"not with {action}"
        )


def snapshot(case: Case) -> dict[str, Any]:
    """The case as JSON, for audit events."""
    # From the instance's own values when it holds them all (a case just stored or
    # loaded): validating a dict takes half as long as reading the attributes.
    values = case.__dict__
    source = values if values.keys() >= _SNAPSHOT_FIELDS else case
    return CasePublic.model_validate(source).model_dump(mode="json")


_SNAPSHOT_FIELDS = frozenset(CasePublic.model_fields)


@dataclass(frozen=True)
class Upload:
    """A document submitted with a case, already read and checked by the caller."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class Submitted:
    """A stored case and the token of its private link (shown once, stored as a hash)."""

    case: Case
    access_token: str
    # True when this is the stored result of an earlier submission with the same key.
    replayed: bool = False


class IdempotencyKeyReused(CaseworkError):
    """An idempotency key sent again with a different submission."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            "this idempotency key was already used for a different submission: "
            "send a new key with a new submission"
        )


def submit_case(
    engine: Engine,
    data: CaseCreate,
    *,
    actor: str,
    rules: Router,
    reference_prefix: str = "SB",
    attachments: Sequence[Upload] = (),
    data_dir: Path | None = None,
    now: datetime | None = None,
    idempotency_key: str | None = None,
    request_hash: str = "",
    case_fields: Mapping[str, Any] | None = None,
    within: Callable[[Session, Case], None] | None = None,
    quota: Quota | None = None,
    wait: bool = True,
) -> Submitted:
    """Route a submission, give it the next reference of the year, store it with its
    documents and audit it: one transaction. On PostgreSQL a submission without documents
    or `within` is stored by one statement (`casework.one_statement`), on SQLite in a
    transaction on the sqlite3 connection itself (`db.direct_sqlite`).

    With an `idempotency_key`, a submission already stored under that key is returned
    instead (`replayed`), or `IdempotencyKeyReused` raised if its `request_hash` differs;
    the key is recorded in the same transaction as the case, so of two concurrent
    submissions with one key only one is stored.

    `case_fields` sets further columns of the new case (a deviation's kind and place, the
    case it was raised from); `within(session, case)` runs in the same transaction after
    the case is stored, so what it does (and any error it raises) goes with the case.

    With a `quota` (an anonymous client's rate limit) the submission takes its hit in the
    same transaction, before anything else is written; over the limit `RateLimited` is
    raised and nothing is stored or counted. With attachments the hit is taken in a short
    transaction of its own first, so that a refused client writes no file to disk; a
    submission stored by one statement takes it just before, in a statement of its own.
    A submission that fails after such a hit keeps it. A replayed idempotent submission
    takes no hit.

    With `wait=False` it does not wait for the database's write lock: `WriteLockBusy` is
    raised, with nothing stored, if another writer holds it (see `unit_of_work`).
    """
    now = now or utcnow()
    if idempotency_key is not None:
        earlier = _earlier_submission(engine, idempotency_key, request_hash)
        if earlier is not None:
            return earlier
    # Routing is pure: do it before the transaction so the write lock is held briefly.
    route = rules.route(data.facts())
    if attachments and data_dir is None:
        raise ValueError("data_dir is needed to store attachments")
    if quota is not None and attachments:
        with unit_of_work(engine, wait=wait) as session:
            quota.take(session, now)
        quota = None
    stored = [(upload, store_file(data_dir, upload.content)) for upload in attachments if data_dir]
    year = now.astimezone(LOCAL_TIMEZONE).year
    access_token = secrets.token_urlsafe(32)
    try:
        case = _store_submission(
            engine,
            data,
            route,
            actor=actor,
            reference_prefix=reference_prefix,
            year=year,
            access_token=access_token,
            stored=stored,
            now=now,
            idempotency=(idempotency_key, request_hash) if idempotency_key is not None else None,
            case_fields=case_fields or {},
            within=within,
            quota=quota,
            wait=wait,
        )
    except IntegrityError:
        if idempotency_key is None:
            raise
        # A concurrent submission with the same key was stored first: return that one.
        earlier = _earlier_submission(engine, idempotency_key, request_hash)
        if earlier is None:
            raise
        return earlier
    return Submitted(case, access_token)


def _earlier_submission(engine: Engine, key: str, request_hash: str) -> Submitted | None:
    with unit_of_work(engine, write=False) as session:
        record = repository.get_idempotency_record(session, key=key)
        if record is None:
            return None
        if record.request_hash != request_hash:
            raise IdempotencyKeyReused(key)
        case = repository.get_case(session, case_id=record.case_id)
    assert case is not None
    return Submitted(case, record.access_token, replayed=True)


def _store_submission(
    engine: Engine,
    data: CaseCreate,
    route: RouteResult,
    *,
    actor: str,
    reference_prefix: str,
    year: int,
    access_token: str,
    stored: Sequence[tuple[Upload, tuple[str, str]]],
    now: datetime,
    idempotency: tuple[str, str] | None,
    case_fields: Mapping[str, Any],
    within: Callable[[Session, Case], None] | None = None,
    quota: Quota | None = None,
    wait: bool = True,
) -> Case:
    case_url = link_url(AccessPurpose.case, access_token)

    def receipt(case: Case, destination_name: str) -> list[dict[str, Any]]:
        # The submitter's receipt of the new case, as outbox rows for the caller to write.
        return outbox.submitter_message_rows(
            None,
            case,
            "case_received",
            at=now,
            destination_name=destination_name,
            access_token=access_token,
            case_url=case_url,
        )

    # A submission with nothing but rows of its own (no documents, no `within`) is stored
    # on PostgreSQL by one statement, on SQLite on the sqlite3 connection itself.
    own_rows_only = not stored and within is None
    if own_rows_only and one_statement.supported(engine):
        stored_case = one_statement.store(
            engine,
            new_case_values(
                data,
                route,
                access_token=access_token,
                now=now,
                fields=case_fields,
            ),
            actor=actor,
            note=route.explanation,
            prefix=reference_prefix,
            year=year,
            access_token=access_token,
            now=now,
            snapshot=submission_snapshot,
            receipt=receipt,
            idempotency=idempotency,
            quota=quota,
        )
        if stored_case is not None:
            return stored_case
        quota = None  # taken

    def write(on: Executor, more: Callable[[Case], None] | None = None) -> Case:
        # The submission's rows in the caller's transaction; `more(case)` before the receipt.
        if quota is not None:
            quota.take(on, now)
        case, destination_name = store_case(
            on,
            data,
            route,
            actor=actor,
            reference_prefix=reference_prefix,
            year=year,
            access_token=access_token,
            now=now,
            case_fields=case_fields,
        )
        assert case.id is not None
        if idempotency is not None:
            key, request_hash = idempotency
            repository.add_idempotency_record(
                on,
                record=IdempotencyRecord(
                    key=key,
                    request_hash=request_hash,
                    case_id=case.id,
                    access_token=access_token,
                    created_at=now,
                ),
            )
        if more is not None:
            more(case)
        outbox.write_messages(on, receipt(case, destination_name))
        return case

    if own_rows_only and writes_directly(engine):
        with direct_sqlite(engine, wait=wait) as writer:
            return write(writer)
    with unit_of_work(engine, wait=wait) as session:

        def documents_and_within(case: Case) -> None:
            assert case.id is not None
            for upload, (digest, relative) in stored:
                _add_attachment(session, case.id, upload, digest, relative, actor=actor, at=now)
            if within is not None:
                within(session, case)

        return write(session, documents_and_within)


def store_case(
    session: Executor,
    data: CaseCreate,
    route: RouteResult,
    *,
    actor: str,
    reference_prefix: str,
    year: int,
    access_token: str,
    now: datetime,
    parent_case_id: int | None = None,
    case_fields: Mapping[str, Any] | None = None,
) -> tuple[Case, str]:
    """Store a routed submission with the next reference of the year and audit it, in the
    caller's transaction; tells no one. `submit_case` and linked cases both come here.
    `case_fields` sets further columns; `parent_case_id` the case it was raised from.
    Returns the case and its destination's name for messages (the slug when the
    destination is not a group), read with the reference number."""
    fields = dict(case_fields or {})
    if parent_case_id is not None:
        fields["parent_case_id"] = parent_case_id
    number, group_name = repository.next_reference_number_and_group_name(
        session, prefix=reference_prefix, year=year, slug=route.destination
    )
    reference = repository.format_reference(prefix=reference_prefix, year=year, number=number)
    case = repository.insert_case(
        session,
        {
            "reference": reference,
            **new_case_values(data, route, access_token=access_token, now=now, fields=fields),
        },
    )
    assert case.id is not None
    repository.add_audit_event(
        session,
        case_id=case.id,
        actor=actor,
        action="submit",
        after=submission_snapshot(case),
        note=route.explanation,
        at=now,
    )
    return case, group_name or route.destination


def submission_snapshot(case: Case) -> dict[str, Any]:
    """What a new case's audit event records it as: `snapshot`, and the case it was
    raised from."""
    after = snapshot(case)
    if case.parent_case_id is not None:
        after["parent_case_id"] = case.parent_case_id
    return after


def new_case_values(
    data: CaseCreate,
    route: RouteResult,
    *,
    access_token: str,
    now: datetime,
    fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The columns of a new case from a routed submission but its reference
    (`repository.case_row` adds the defaults); `fields` sets further ones."""
    return {
        "title": data.title,
        "description": data.description,
        "kind": kind_marks(data.kind),
        "target_groups": list(data.target_groups),
        "requests_resources": data.requests_resources,
        "county_wide": data.county_wide,
        "deviation": data.deviation,
        "recurring": data.recurring,
        "municipalities_only": data.municipalities_only,
        "escalated_from": data.escalated_from,
        "submitter_name": data.submitter_name,
        "submitter_email": data.submitter_email,
        "submitter_organisation": data.submitter_organisation,
        "presenter": data.presenter,
        "proposed_decision": data.proposed_decision,
        "destination": route.destination,
        "requires_endorsement": route.requires_endorsement,
        "lead_group": route.lead_group,
        "routed_groups": list(route.groups),
        "routing_rule": route.rule,
        "routing_explanation": route.explanation,
        "access_token_hash": hashlib.sha256(access_token.encode()).hexdigest(),
        "created_at": now,
        "updated_at": now,
        **(fields or {}),
    }


def _group_name(session: Session, slug: str | None) -> str:
    if slug is None:
        return ""
    return repository.group_name(session, slug=slug) or slug


# What the submitter is told when a case moves (scheduling tells them itself).
SUBMITTER_MESSAGES: dict[Action, str] = {
    Action.route: "case_routed",
    Action.reroute: "case_rerouted",
    Action.return_for_completion: "case_returned",
    Action.withdraw: "case_withdrawn",
}


def _add_attachment(
    session: Session,
    case_id: int,
    upload: Upload,
    digest: str,
    relative: str,
    *,
    actor: str,
    at: datetime | None = None,
) -> Attachment:
    attachment = repository.add_attachment(
        session,
        attachment=Attachment(
            case_id=case_id,
            filename=upload.filename,
            content_type=upload.content_type,
            size=len(upload.content),
            sha256=digest,
            storage_path=relative,
        ),
    )
    repository.add_audit_event(
        session,
        case_id=case_id,
        actor=actor,
        action="attach",
        after={"filename": upload.filename, "sha256": digest, "size": len(upload.content)},
        at=at,
    )
    return attachment


def apply_action(
    session: Session,
    case: Case,
    action: Action | str,
    *,
    actor: str,
    note: str = "",
    destination: str | None = None,
    lead_group: str | None = None,
    now: datetime,
    after: dict[str, Any] | None = None,
) -> None:
    """Take `action` on a case locked in the caller's transaction and audit it; tells no
    one (the caller decides what the submitter hears). `after` adds to the audit event.

    Raises `lifecycle.IllegalTransition` or `DestinationNotAllowed`.
    """
    target = next_state(case.status, action)
    action = Action(action)
    routing = destination is not None or lead_group is not None
    if routing and action not in (Action.route, Action.reroute):
        raise DestinationNotAllowed(action)
    before = {"status": case.status.value, "destination": case.destination}
    case.status = target
    if destination is not None:
        case.destination = destination
    if lead_group is not None:
        case.lead_group = lead_group
    case.updated_at = now
    session.add(case)
    repository.add_audit_event(
        session,
        case_id=case.id,
        actor=actor,
        action=action.value,
        before=before,
        after={"status": case.status.value, "destination": case.destination, **(after or {})},
        note=note,
        at=now,
    )


def transition(
    engine: Engine,
    case_id: int,
    action: Action | str,
    *,
    actor: str,
    note: str = "",
    destination: str | None = None,
    lead_group: str | None = None,
    now: datetime | None = None,
    expected_status: State | None = None,
    expected_updated_at: datetime | None = None,
    message: str | None = None,
) -> Case:
    """Take `action` on a case if its state allows it, audit the change, and tell the
    submitter (the `message` kind, by default the one for the action, if any).

    `destination` and `lead_group` may be given with `route` and `reroute` only.
    Raises `lifecycle.IllegalTransition`, `CaseNotFound` or `DestinationNotAllowed`.
    """
    now = now or utcnow()
    with unit_of_work(engine) as session:
        case = repository.get_case(session, case_id=case_id, for_update=True)
        if case is None:
            raise CaseNotFound(case_id)
        if (expected_status is not None and case.status != expected_status) or (
            expected_updated_at is not None and case.updated_at != expected_updated_at
        ):
            raise CaseChanged(case_id, expected_status or case.status, case.status)
        apply_action(
            session,
            case,
            action,
            actor=actor,
            note=note,
            destination=destination,
            lead_group=lead_group,
            now=now,
        )
        action = Action(action)
        message = message or SUBMITTER_MESSAGES.get(action)
        if message is not None:
            outbox.tell_submitter(
                session,
                case,
                message,
                at=now,
                destination_name=_group_name(session, case.destination),
                lead_group_name=_group_name(session, case.lead_group),
                note=note,
            )
    return case


def attach_file(
    engine: Engine,
    case_id: int,
    *,
    filename: str,
    content_type: str,
    content: bytes,
    actor: str,
    data_dir: Path,
) -> Attachment:
    """Add a document to a stored case."""
    upload = Upload(filename, content_type, content)
    digest, relative = store_file(data_dir, content)
    with unit_of_work(engine) as session:
        if repository.get_case(session, case_id=case_id) is None:
            raise CaseNotFound(case_id)
        return _add_attachment(session, case_id, upload, digest, relative, actor=actor)


class GroupNotFound(CaseworkError, LookupError):
    def __init__(self, slug: str, known: list[str]) -> None:
        self.slug = slug
        self.known = known
        close = difflib.get_close_matches(slug, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        super().__init__(f"no group {slug!r}{hint}; known groups: {', '.join(known)}")


def deadline_rule(engine: Engine, slug: str) -> DeadlineRule:
    """The group's deadline offsets, as configured on the group."""
    with unit_of_work(engine, write=False) as session:
        group = repository.get_group(session, slug=slug)
        if group is None:
            raise GroupNotFound(slug, [g.slug for g in repository.list_groups(session)])
        return group.deadline_rule


class TriageError(RefusedError):
    """A triage request that cannot be carried out; `field` names the input at fault."""


TRIAGE_ACTIONS = ("accept", "reroute", "return", "withdraw")
TRIAGE_LABELS = {
    "accept": "Godta förslaget",
    "reroute": "Fördela om",
    "return": "Återsänd för komplettering",
    "withdraw": "Återta",
}
SAMVERKANSGRUPPER = ("sg-barn-unga", "sg-vuxna", "sg-aldre")
# The samverkansgrupp of each target group.
SAMVERKANSGRUPP_OF: dict[str, str] = dict(zip(TARGET_GROUPS, SAMVERKANSGRUPPER, strict=True))


def triage(
    engine: Engine,
    case_id: int,
    action: str,
    *,
    actor: str,
    destinations: Sequence[str],
    destination: str | None = None,
    lead_group: str | None = None,
    reason: str = "",
    now: datetime | None = None,
    expected_updated_at: datetime | None = None,
) -> Case:
    """The preparation group's decision on a case in the queue, as one lifecycle transition.

    accept: route to the suggested destination; reroute: route elsewhere (a reason is
    required); return: send back for completion (a message to the submitter is required);
    withdraw. A lead group, one of the groups the case touches, may be named with accept or
    reroute. With `expected_updated_at` (the version a page showed), a case changed since
    is refused with `CaseChanged`.
    """
    reason = reason.strip()
    if action not in TRIAGE_ACTIONS:
        raise TriageError(
            f"unknown action {action!r}: use one of {', '.join(TRIAGE_ACTIONS)}",
            "Okänd åtgärd.",
            field="action",
        )
    if lead_group is not None and lead_group not in SAMVERKANSGRUPPER:
        raise TriageError(
            f"lead_group must be one of {', '.join(SAMVERKANSGRUPPER)}",
            "Ansvarig grupp måste vara en av samverkansgrupperna.",
            field="lead_group",
        )
    if lead_group is not None and action not in ("accept", "reroute"):
        raise TriageError(
            "lead_group can only be named when accepting or rerouting",
            "Ansvarig grupp kan bara anges när ärendet fördelas.",
            field="lead_group",
        )
    if action == "reroute":
        if not destination or destination not in destinations:
            raise TriageError(
                f"reroute needs a destination, one of {', '.join(destinations)}",
                "Välj vart ärendet ska fördelas.",
                field="destination",
            )
        if not reason:
            raise TriageError(
                "reroute needs a reason",
                "Ange varför ärendet fördelas om.",
                field="reason",
            )
    elif destination is not None:
        raise TriageError(
            "a destination can only be given with reroute",
            "Mottagare kan bara anges vid omfördelning.",
            field="destination",
        )
    if action == "return" and not reason:
        raise TriageError(
            "return needs a message to the submitter saying what to complete",
            "Skriv vad anmälaren behöver komplettera.",
            field="reason",
        )
    with unit_of_work(engine, write=False) as session:
        case = repository.get_case(session, case_id=case_id)
        if case is None:
            raise CaseNotFound(case_id)
        status = case.status
        touched = {SAMVERKANSGRUPP_OF.get(g) for g in case.routed_groups}
    if lead_group is not None and lead_group not in touched:
        raise TriageError(
            "lead_group must be a group the case touches",
            "Välj en av grupperna som ärendet berör.",
            field="lead_group",
        )
    if action == "accept":
        lifecycle_action = Action.route
    elif action == "reroute":
        lifecycle_action = (
            Action.route if status in (State.submitted, State.in_triage) else (Action.reroute)
        )
    elif action == "return":
        lifecycle_action = Action.return_for_completion
    else:
        lifecycle_action = Action.withdraw
    return transition(
        engine,
        case_id,
        lifecycle_action,
        actor=actor,
        note=reason,
        destination=destination if action == "reroute" else None,
        lead_group=lead_group,
        now=now,
        expected_status=status,
        expected_updated_at=expected_updated_at,
        # A reroute straight from the queue is a `route` in the lifecycle, but to the
        # submitter it is a change of the suggested destination, with its reason.
        message="case_rerouted" if action == "reroute" else None,
    )


@dataclass(frozen=True)
class MeetingTarget:
    """The meeting a case is aimed at, with that meeting's deadlines."""

    meeting: Meeting
    deadlines: Deadlines


def target_meeting(
    engine: Engine, *, group_slug: str, submitted_at: datetime
) -> MeetingTarget | None:
    """The group's first meeting whose submission deadline `submitted_at` meets, if any."""
    with unit_of_work(engine, write=False) as session:
        group = repository.get_group(session, slug=group_slug)
        if group is None:
            return None
        meetings = repository.list_meetings(
            session, group_slug=group_slug, on_or_after=submitted_at.date()
        )
    rule = group.deadline_rule
    chosen = landing_meeting(submitted_at, [m.date for m in meetings], rule)
    if chosen is None:
        return None
    meeting = next(m for m in meetings if m.date == chosen)
    return MeetingTarget(meeting, deadlines_for(group_slug, chosen, rule))
