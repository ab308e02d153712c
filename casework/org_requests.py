"""Each organisation's own decision body: positions when LSVO cannot agree, and backing
of resource-requiring cases.

One `OrganisationRequest` per organisation (Region Blekinge and the five municipalities)
and purpose. Its members are told with a private link each (`/svar/<token>`); a member
answers for their organisation through that link, or signed in as a staff user whose
e-mail is a member's (`outbox.member_by_email`) of that organisation. Every answer is
audited on the case.

- `position`: when LSVO's minutes record that LSVO could not agree on a case
  (`open_position_requests`). When all six organisations have answered, the case goes
  back to LSVO: it is routed to LSVO again and placed on LSVO's next meeting whose
  agenda is not sent, with a summary of the answers as the item's proposed decision.
  A due date that passes does not return the case by itself: the members of the
  organisations that have not answered are reminded (see `casework.sweep`), and the
  result goes back once the last answer is in.
- `backing`: a case that `requires_endorsement` gets its requests when it is placed on
  an LSVO meeting (`ensure_backing`); LSVO's decision item cannot be recorded as
  decided until every organisation backs the proposal (`backing_refusal`, enforced in
  `meeting_run.record_decision`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from casework import access, agenda, outbox, repository
from casework import recipients as who
from casework.accounts import Identity
from casework.calendar import add_working_days, local_date
from casework.db import unit_of_work
from casework.lifecycle import Action, RefusedError, State
from casework.model import (
    AccessPurpose,
    Case,
    Meeting,
    Member,
    Organisation,
    OrganisationKind,
    OrganisationRequest,
    RequestPurpose,
    RequestResponse,
    utcnow,
)
from casework.services import apply_action
from casework.settings import get_settings

LSVO = "lsvo"
MAX_COMMENT = 5000
PURPOSE_LABELS: dict[RequestPurpose, str] = {
    RequestPurpose.position: "Ställningstagande",
    RequestPurpose.backing: "Förankring i egna beslutsorgan",
}
RESPONSE_LABELS: dict[RequestResponse, str] = {
    RequestResponse.pending: "Har inte svarat",
    RequestResponse.backs: "Står bakom",
    RequestResponse.does_not_back: "Står inte bakom",
    RequestResponse.comment: "Kommentar",
}
ANSWERS = (RequestResponse.backs, RequestResponse.does_not_back, RequestResponse.comment)
# The case states in which a request still waits for its answer.
WAITING: dict[RequestPurpose, tuple[State, ...]] = {
    RequestPurpose.position: (State.escalated,),
    RequestPurpose.backing: (State.routed, State.scheduled),
}


class RequestError(RefusedError):
    """An answer that cannot be recorded."""


class NotAllowed(RequestError):
    status = 403


class NotFound(RequestError):
    status = 404


# --- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestLine:
    """One organisation's request and answer, as the pages show it."""

    request: OrganisationRequest
    organisation: Organisation

    @property
    def answered(self) -> bool:
        return self.request.response != RequestResponse.pending

    @property
    def label(self) -> str:
        return RESPONSE_LABELS[self.request.response]

    @property
    def purpose_label(self) -> str:
        return PURPOSE_LABELS[self.request.purpose]

    def late(self, today: date) -> bool:
        """Not answered, and the due date has passed."""
        return not self.answered and self.request.due_date < today


def _organisations(session: Session) -> list[Organisation]:
    """The region first, then the municipalities, each in the order they were stored."""
    return sorted(
        repository.list_organisations(session),
        key=lambda o: (o.kind != OrganisationKind.region, o.id or 0),
    )


def lines_of(
    session: Session, case_id: int, purpose: RequestPurpose | None = None
) -> list[RequestLine]:
    """A case's requests (of one purpose, or all) with their organisations, in the order
    of the organisations (the region first)."""
    statement = select(OrganisationRequest).where(OrganisationRequest.case_id == case_id)
    if purpose is not None:
        statement = statement.where(OrganisationRequest.purpose == purpose)
    rows = list(session.exec(statement).all())
    order = {o.id: n for n, o in enumerate(_organisations(session))}
    organisations = {o.id: o for o in repository.list_organisations(session)}
    rows.sort(key=lambda r: (r.purpose != RequestPurpose.position, order.get(r.organisation_id)))
    return [RequestLine(r, organisations[r.organisation_id]) for r in rows]


def load_lines(
    engine: Engine, case_id: int, purpose: RequestPurpose | None = None
) -> list[RequestLine]:
    with unit_of_work(engine, write=False) as session:
        return lines_of(session, case_id, purpose)


def summary(lines: Sequence[RequestLine]) -> str:
    """ "Organisationernas ställningstaganden:" and one line per organisation."""
    text = ["Organisationernas ställningstaganden:"]
    for line in lines:
        entry = f"- {line.organisation.name}: {line.label.lower()}"
        if line.request.comment:
            entry += f" – {line.request.comment}"
        text.append(entry)
    return "\n".join(text)


def backing_refusal(session: Session, case: Case) -> str | None:
    """Why LSVO may not decide a resource-requiring case yet (None: every organisation
    backs it): who has not answered and who does not back it, in Swedish."""
    if not case.requires_endorsement or case.id is None:
        return None
    lines = lines_of(session, case.id, RequestPurpose.backing)
    answered = {line.organisation.id: line for line in lines}
    missing = [
        o.name
        for o in _organisations(session)
        if o.id not in answered or not answered[o.id].answered
    ]
    against = [
        line.organisation.name
        for line in lines
        if line.answered and line.request.response != RequestResponse.backs
    ]
    if not missing and not against:
        return None
    text = (
        "Ärendet kräver att varje organisations egna beslutsorgan ställer sig bakom "
        "förslaget innan LSVO kan besluta."
    )
    if missing:
        text += " Har inte svarat: " + ", ".join(missing) + "."
    if against:
        text += " Står inte bakom (eller har bara kommenterat): " + ", ".join(against) + "."
    return text


# --- opening requests ------------------------------------------------------------------


def default_due(now: datetime) -> date:
    """The due date of a request opened at `now`: the setting's working days on."""
    return add_working_days(local_date(now), get_settings().organisation_request_working_days)


def tell_members(
    session: Session,
    request: OrganisationRequest,
    case: Case,
    organisation: Organisation,
    *,
    kind: str,
    now: datetime,
    not_before: datetime | None = None,
    event_key: str | None = None,
    public_url: str | None = None,
) -> int:
    """A message of `kind` to every member of the organisation, each with a private link
    of their own to answer; the number of messages written."""
    public_url = public_url or get_settings().public_url
    members = session.exec(
        select(Member).where(Member.organisation_id == organisation.id).order_by(col(Member.id))
    ).all()
    targets = [r for m in members for r in outbox.member_recipients(m)]
    links: dict[int, str] = {}

    def own(recipient: outbox.Recipient) -> dict[str, str]:
        member_id = recipient.member_id
        if member_id is None:
            return {"answer_url": ""}
        if member_id not in links:
            links[member_id] = access.create_link(
                session,
                AccessPurpose.organisation_request,
                case_id=case.id,
                member_id=member_id,
                public_url=public_url,
                now=now,
            )
        return {"answer_url": links[member_id]}

    rows = outbox.enqueue(
        session,
        kind=kind,
        recipients=targets,
        context={
            "case": case,
            "request": request,
            "organisation": organisation,
            "purpose_label": PURPOSE_LABELS[request.purpose],
            "staff_url": f"{public_url}/arenden/{case.id}/organisationer",
            "public_url": public_url,
        },
        case_id=case.id,
        event_key=event_key or f"{kind}:{request.id}",
        not_before=not_before or now,
        recipient_context=own,
    )
    return len(rows)


def open_requests(
    session: Session,
    case: Case,
    purpose: RequestPurpose,
    *,
    actor: str,
    now: datetime,
    due: date | None = None,
) -> list[OrganisationRequest]:
    """One request per organisation that has none of this purpose on the case, each
    organisation's members told; audited on the case. The requests opened now."""
    assert case.id is not None
    due = due or default_due(now)
    existing = {line.organisation.id for line in lines_of(session, case.id, purpose)}
    opened: list[tuple[OrganisationRequest, Organisation]] = []
    for organisation in _organisations(session):
        if organisation.id in existing:
            continue
        assert organisation.id is not None
        request = OrganisationRequest(
            case_id=case.id,
            organisation_id=organisation.id,
            purpose=purpose,
            due_date=due,
            created_at=now,
        )
        session.add(request)
        opened.append((request, organisation))
    if not opened:
        return []
    session.flush()
    messages = sum(
        tell_members(session, request, case, organisation, kind="organisation_request", now=now)
        for request, organisation in opened
    )
    repository.add_audit_event(
        session,
        case_id=case.id,
        actor=actor,
        action="organisation_requests_opened",
        after={
            "purpose": purpose.value,
            "due_date": due.isoformat(),
            "organisations": [o.slug for _, o in opened],
            "messages": messages,
        },
        note=f"{PURPOSE_LABELS[purpose]} begärs av {len(opened)} organisationer "
        f"senast {due.isoformat()}",
        at=now,
    )
    return [request for request, _ in opened]


def open_position_requests(
    session: Session, case: Case, *, actor: str, now: datetime
) -> list[OrganisationRequest]:
    """LSVO could not agree: the case goes to each organisation's own decision body."""
    return open_requests(session, case, RequestPurpose.position, actor=actor, now=now)


def ensure_backing(
    session: Session, case: Case, meeting: Meeting, *, actor: str, now: datetime
) -> list[OrganisationRequest]:
    """A resource-requiring case placed on an LSVO meeting: ask each organisation for its
    backing, due by the meeting (or the usual due date, if that comes first)."""
    if not case.requires_endorsement:
        return []
    due = min(default_due(now), max(meeting.date, local_date(now)))
    return open_requests(session, case, RequestPurpose.backing, actor=actor, now=now, due=due)


# --- answering ------------------------------------------------------------------------


def _parse_response(value: str) -> RequestResponse:
    try:
        response = RequestResponse(value)
    except ValueError:
        response = RequestResponse.pending
    if response not in ANSWERS:
        raise RequestError(
            f"unknown response {value!r}",
            "Välj om organisationen står bakom, inte står bakom eller bara lämnar en kommentar.",
            field="response",
        )
    return response


def _record(
    session: Session,
    request: OrganisationRequest,
    member: Member,
    response_value: str,
    comment: str,
    *,
    actor: str,
    now: datetime,
) -> OrganisationRequest:
    response = _parse_response(response_value)
    comment = comment.replace("\r\n", "\n").strip()
    if response == RequestResponse.comment and not comment:
        raise RequestError(
            "a comment answer needs a comment", "Skriv kommentaren.", field="comment"
        )
    if len(comment) > MAX_COMMENT:
        raise RequestError(
            f"the comment is longer than {MAX_COMMENT} characters",
            f"Kommentaren får vara högst {MAX_COMMENT} tecken.",
            field="comment",
        )
    if member.organisation_id != request.organisation_id:
        organisation = session.get(Organisation, request.organisation_id)
        raise NotAllowed(
            f"member {member.id} does not belong to organisation {request.organisation_id}",
            f"Bara en företrädare för {organisation.name if organisation else 'organisationen'} "
            "kan svara för den.",
        )
    case = repository.get_case(session, case_id=request.case_id, for_update=True)
    assert case is not None and case.id is not None
    if case.status not in WAITING[request.purpose]:
        raise RequestError(
            f"case {case.reference} no longer waits for answers ({case.status.value})",
            "Ärendet väntar inte längre på organisationernas svar; svaret kan inte ändras.",
        )
    organisation = session.get(Organisation, request.organisation_id)
    assert organisation is not None
    before = {
        "request": request.id,
        "response": request.response.value,
        "comment": request.comment,
        "responded_by": request.responded_by,
    }
    request.response = response
    request.comment = comment
    request.responded_by = f"{member.name} ({actor})"[:200]
    request.responded_member_id = member.id
    request.responded_at = now
    session.add(request)
    session.flush()
    late = request.due_date < local_date(now)
    repository.add_audit_event(
        session,
        case_id=case.id,
        actor=actor,
        action="organisation_response",
        before=before,
        after={
            "request": request.id,
            "purpose": request.purpose.value,
            "organisation": organisation.slug,
            "response": response.value,
            "comment": comment,
            "member_id": member.id,
            "late": late,
        },
        note=f"{organisation.name}: {RESPONSE_LABELS[response].lower()}",
        at=now,
    )
    if request.purpose == RequestPurpose.position:
        lines = lines_of(session, case.id, RequestPurpose.position)
        if lines and all(line.answered for line in lines):
            return_to_lsvo(session, case, lines, actor=actor, now=now)
    return request


def respond_as_staff(
    engine: Engine,
    identity: Identity,
    request_id: int,
    *,
    response: str,
    comment: str = "",
    now: datetime | None = None,
) -> OrganisationRequest:
    """A signed-in staff user answers for the organisation of the member with their e-mail."""
    now = now or utcnow()
    with unit_of_work(engine) as session:
        request = session.exec(
            select(OrganisationRequest)
            .where(OrganisationRequest.id == request_id)
            .with_for_update()
        ).first()
        if request is None:
            raise NotFound(f"no request {request_id}", "Förfrågan finns inte. Ladda om sidan.")
        member = outbox.member_by_email(session, identity.email)
        if member is None:
            raise NotAllowed(
                f"{identity.email} is no member",
                "Ditt konto är inte kopplat till någon ledamot: bara en företrädare för "
                "organisationen kan svara för den.",
            )
        return _record(session, request, member, response, comment, actor=identity.email, now=now)


@dataclass(frozen=True)
class AnswerForm:
    """What a member's private link opens: the case and their organisation's requests."""

    case: Case
    member: Member
    organisation: Organisation
    lines: list[RequestLine]
    all_lines: list[RequestLine]


def _link_member(session: Session, token: str, now: datetime) -> tuple[Case, Member]:
    link = access.link_for_token(session, token, AccessPurpose.organisation_request, now=now)
    member = session.get(Member, link.member_id) if link.member_id else None
    case = repository.get_case(session, case_id=link.case_id) if link.case_id else None
    if member is None or case is None:
        raise access.LinkNotFound("no such link")
    return case, member


def open_answer_form(engine: Engine, token: str, *, now: datetime | None = None) -> AnswerForm:
    """The page behind a member's private link. Raises `access.LinkNotFound`/`LinkExpired`."""
    now = now or utcnow()
    with unit_of_work(engine, write=False) as session:
        case, member = _link_member(session, token, now)
        assert case.id is not None
        organisation = session.get(Organisation, member.organisation_id)
        assert organisation is not None
        every = lines_of(session, case.id)
        own = [line for line in every if line.organisation.id == organisation.id]
        return AnswerForm(case, member, organisation, own, every)


def respond_by_token(
    engine: Engine,
    token: str,
    request_id: int,
    *,
    response: str,
    comment: str = "",
    now: datetime | None = None,
) -> OrganisationRequest:
    """A member answers through their private link, for their own organisation."""
    now = now or utcnow()
    with unit_of_work(engine) as session:
        case, member = _link_member(session, token, now)
        request = session.exec(
            select(OrganisationRequest)
            .where(OrganisationRequest.id == request_id)
            .with_for_update()
        ).first()
        if request is None or request.case_id != case.id:
            raise NotFound(f"no request {request_id} on this link", "Förfrågan finns inte.")
        actor = f"ledamot:{member.id}"
        return _record(session, request, member, response, comment, actor=actor, now=now)


# --- back to LSVO -------------------------------------------------------------------


def next_open_meeting(session: Session, group_slug: str, *, today: date) -> Meeting | None:
    """The group's first meeting from `today` on whose agenda is not yet sent."""
    return next(
        (
            m
            for m in repository.list_meetings(session, group_slug=group_slug, on_or_after=today)
            if m.agenda_sent_at is None
        ),
        None,
    )


def return_to_lsvo(
    session: Session,
    case: Case,
    lines: Sequence[RequestLine],
    *,
    actor: str,
    now: datetime,
) -> Meeting | None:
    """Every organisation has taken a position: the case is routed to LSVO again and put
    on LSVO's next meeting whose agenda is not sent, with the answers as the item's
    proposed decision; LSVO's chair and secretary and the submitter are told. Without such
    a meeting the case stays routed for LSVO's secretary to place. The meeting, if any."""
    assert case.id is not None
    text = summary(lines)
    apply_action(
        session,
        case,
        Action.reroute,
        actor=actor,
        destination=LSVO,
        note="Alla organisationer har tagit ställning; ärendet går tillbaka till LSVO.",
        now=now,
        after={"organisations": {line.organisation.slug: line.request.response for line in lines}},
    )
    group = repository.get_group(session, slug=LSVO)
    meeting = next_open_meeting(session, LSVO, today=local_date(now)) if group is not None else None
    if meeting is not None and group is not None:
        agenda.place_case_item(
            session,
            case,
            meeting,
            group,
            actor=actor,
            now=now,
            why=f"{case.reference} kom tillbaka från organisationerna",
            note=text,
            after={"returned_from_organisations": True},
            kind="B",
            proposed_decision=text,
        )
        ensure_backing(session, case, meeting, actor=actor, now=now)
        session.flush()
    public_url = get_settings().public_url
    context = {
        "case": case,
        "lines": list(lines),
        "summary": text,
        "meeting": meeting,
        "staff_url": f"{public_url}/arenden/{case.id}",
    }
    if group is not None and group.id is not None:
        outbox.enqueue(
            session,
            kind="organisation_answers_complete",
            recipients=who.chairs_and_secretaries(session, [group.id]).get(group.id, []),
            context={**context, "case_url": ""},
            case_id=case.id,
            meeting_id=meeting.id if meeting else None,
            event_key=f"organisations_answered:{case.id}",
            not_before=now,
        )
    outbox.tell_submitter(
        session,
        case,
        "organisation_answers_complete",
        at=now,
        meeting_id=meeting.id if meeting else None,
        event_key=f"organisations_answered:{case.id}",
        **{k: v for k, v in context.items() if k != "case"},
    )
    return meeting


def backing_by_case(engine: Engine, case_ids: Sequence[int]) -> dict[int, list[RequestLine]]:
    """The backing requests of the resource-requiring cases among `case_ids`, by case; a
    resource-requiring case without requests yet has an empty list."""
    found: dict[int, list[RequestLine]] = {}
    with unit_of_work(engine, write=False) as session:
        for case_id in sorted(set(case_ids)):
            case = repository.get_case(session, case_id=case_id)
            if case is not None and case.requires_endorsement:
                found[case_id] = lines_of(session, case_id, RequestPurpose.backing)
    return found


@dataclass(frozen=True)
class CaseAnswers:
    """A case's requests as the staff page shows them, and which the viewer may answer."""

    case: Case
    lines: list[RequestLine]
    organisation: Organisation | None  # the viewer's, through their member row
    answerable: frozenset[int]  # request ids


def load_case_answers(
    engine: Engine, case_id: int, *, email: str | None = None, member_id: int | None = None
) -> CaseAnswers:
    """A case's requests; those of the viewer's organisation (the member with `email`, or
    `member_id`) that still wait for an answer are answerable. Raises `NotFound`."""
    with unit_of_work(engine, write=False) as session:
        case = repository.get_case(session, case_id=case_id)
        if case is None or case.id is None:
            raise NotFound(f"no case {case_id}", "Ärendet finns inte.")
        member = None
        if member_id is not None:
            member = session.get(Member, member_id)
        elif email:
            member = outbox.member_by_email(session, email)
        organisation = session.get(Organisation, member.organisation_id) if member else None
        lines = lines_of(session, case.id)
        answerable = frozenset(
            line.request.id or 0
            for line in lines
            if organisation is not None
            and line.organisation.id == organisation.id
            and case.status in WAITING[line.request.purpose]
        )
        return CaseAnswers(case, lines, organisation, answerable)
