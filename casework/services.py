"""Use cases. Each one is a single transaction: it either happens completely or not at all."""

from __future__ import annotations

import difflib
import hashlib
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from casework import repository
from casework.calendar import DeadlineRule
from casework.db import unit_of_work
from casework.lifecycle import Action, CaseworkError, next_state
from casework.model import Attachment, Case, CaseCreate, CasePublic, utcnow
from rules.facts import CaseFacts, RouteResult, kind_marks

# References are numbered per calendar year as it is in Blekinge, not in UTC.
LOCAL_TIMEZONE = ZoneInfo("Europe/Stockholm")


class Router(Protocol):
    """Anything that routes a case: a loaded `rules.RuleSet`, or a fake in tests."""

    def route(self, facts: CaseFacts) -> RouteResult: ...


class CaseNotFound(CaseworkError):
    def __init__(self, case_id: int) -> None:
        self.case_id = case_id
        super().__init__(f"no case with id {case_id}")


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
    return CasePublic.model_validate(case).model_dump(mode="json")


def submit_case(
    engine: Engine,
    data: CaseCreate,
    *,
    actor: str,
    rules: Router,
    reference_prefix: str = "SB",
    now: datetime | None = None,
) -> Case:
    """Route a submission, give it the next reference of the year, store it and audit it."""
    now = now or utcnow()
    # Routing is pure: do it before the transaction so the write lock is held briefly.
    route = rules.route(data.facts())
    year = now.astimezone(LOCAL_TIMEZONE).year
    with unit_of_work(engine) as session:
        number = repository.next_reference_number(session, prefix=reference_prefix, year=year)
        case = Case(
            reference=repository.format_reference(
                prefix=reference_prefix, year=year, number=number
            ),
            title=data.title,
            description=data.description,
            kind=kind_marks(data.kind),
            target_groups=list(data.target_groups),
            requests_resources=data.requests_resources,
            county_wide=data.county_wide,
            deviation=data.deviation,
            recurring=data.recurring,
            municipalities_only=data.municipalities_only,
            escalated_from=data.escalated_from,
            submitter_name=data.submitter_name,
            submitter_email=data.submitter_email,
            submitter_organisation=data.submitter_organisation,
            presenter=data.presenter,
            proposed_decision=data.proposed_decision,
            destination=route.destination,
            requires_endorsement=route.requires_endorsement,
            lead_group=route.lead_group,
            routed_groups=list(route.groups),
            routing_rule=route.rule,
            routing_explanation=route.explanation,
            created_at=now,
            updated_at=now,
        )
        repository.add_case(session, case=case)
        repository.add_audit_event(
            session,
            case_id=case.id,
            actor=actor,
            action="submit",
            after=snapshot(case),
            note=route.explanation,
        )
    return case


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
) -> Case:
    """Take `action` on a case if its state allows it, and audit the change.

    `destination` and `lead_group` may be given with `route` and `reroute` only.
    Raises `lifecycle.IllegalTransition`, `CaseNotFound` or `DestinationNotAllowed`.
    """
    now = now or utcnow()
    with unit_of_work(engine) as session:
        case = repository.get_case(session, case_id=case_id, for_update=True)
        if case is None:
            raise CaseNotFound(case_id)
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
            after={"status": case.status.value, "destination": case.destination},
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
    """Store a document of a case under `<data_dir>/attachments/`, named by its SHA-256.

    The file is written before the transaction; if the transaction fails, an unreferenced
    file may remain, which is harmless (same content, same name) and never half-written
    (it is written under a temporary name and renamed).
    """
    digest = hashlib.sha256(content).hexdigest()
    relative = Path("attachments") / digest[:2] / digest
    path = data_dir / relative
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
        with os.fdopen(fd, "wb") as file:
            file.write(content)
        os.replace(partial, path)
    with unit_of_work(engine) as session:
        if repository.get_case(session, case_id=case_id) is None:
            raise CaseNotFound(case_id)
        attachment = repository.add_attachment(
            session,
            attachment=Attachment(
                case_id=case_id,
                filename=filename,
                content_type=content_type,
                size=len(content),
                sha256=digest,
                storage_path=relative.as_posix(),
            ),
        )
        repository.add_audit_event(
            session,
            case_id=case_id,
            actor=actor,
            action="attach",
            after={"filename": filename, "sha256": digest, "size": len(content)},
        )
    return attachment


class GroupNotFound(CaseworkError, LookupError):
    def __init__(self, slug: str, known: list[str]) -> None:
        self.slug = slug
        self.known = known
        close = difflib.get_close_matches(slug, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        super().__init__(f"no group {slug!r}{hint}; known groups: {', '.join(known)}")


def deadline_rule(engine: Engine, slug: str) -> DeadlineRule:
    """The group's deadline offsets, as configured on the group."""
    with unit_of_work(engine) as session:
        group = repository.get_group(session, slug=slug)
        if group is None:
            raise GroupNotFound(slug, [g.slug for g in repository.list_groups(session)])
        return DeadlineRule(
            agenda_offset_days=group.agenda_offset_days,
            submission_offset_days=group.submission_offset_days,
        )
