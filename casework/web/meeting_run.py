"""Pages for holding a meeting: attendance and quorum, the decision on each agenda item,
feedback on the previous minutes' assignments, and approving (justering) minutes.

Everything works without JavaScript; a small script (`meeting_run.js`) updates the quorum
while boxes are ticked, from a GET that computes it without storing anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import RedirectResponse

from casework import agenda, meeting_run, org_requests
from casework.accounts import Identity
from casework.db import unit_of_work
from casework.meeting_run import (
    OUTCOME_LABELS,
    STANDARD_PHRASES,
    AssignmentInput,
    DecisionInput,
    RecipientInput,
)
from casework.model import Minutes, Outcome, QuorumChoice, StaffRole
from casework.web.deps import (
    CsrfChecked,
    EngineDep,
    PageError,
    local_time,
    render,
    require_page_role,
)

router = APIRouter()

RUN_ROLES = (StaffRole.secretary, StaffRole.chair, StaffRole.beredning)
RunStaff = Annotated[Identity, Depends(require_page_role(*RUN_ROLES))]
IdList = Annotated[list[str], Form()]

DONE = {
    "narvaro": "Närvaron är sparad.",
    "gast": "Gästen är tillagd.",
    "gast-borttagen": "Gästen är borttagen.",
    "beslut": "Beslutet är sparat.",
    "aterkoppling": "Återkopplingen är sparad.",
    "justerat": "Protokollet är justerat.",
}
MIN_CLAUSE_ROWS = 3
EXTRA_RECIPIENT_ROWS = 2
EXTRA_TASK_ROWS = 1


def _ids(values: list[str]) -> list[int]:
    """The whole numbers among `values` (a tampered form cannot make the page fail)."""
    return [int(v) for v in values if v.strip().isdigit()]


def _refused(exc: meeting_run.MeetingRunError) -> PageError:
    return PageError(exc.status, exc.message_sv)


def _may_run(engine: Any, identity: Identity, meeting_id: int) -> None:
    with unit_of_work(engine, write=False) as session:
        try:
            group = meeting_run.group_of(session, meeting_id)
        except meeting_run.NotFound as exc:
            raise _refused(exc) from None
        if not agenda.may_manage(identity, group.slug):
            raise PageError(403, f"Du får inte föra protokoll för {group.name}.")


# --- the meeting page ------------------------------------------------------------------------


def run_page(
    request: Request,
    engine: Any,
    identity: Identity,
    meeting_id: int,
    *,
    status_code: int = 200,
    done: str = "",
    problem: str = "",
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    ticked: set[int] | None = None,
) -> Response:
    _may_run(engine, identity, meeting_id)
    run = meeting_run.load_run(engine, meeting_id)
    quorum = run.quorum
    if ticked is not None:
        with unit_of_work(engine, write=False) as session:
            quorum = meeting_run.quorum_for(session, meeting_id, sorted(ticked))
    return render(
        request,
        "sammantrade.html",
        {
            "run": run,
            "meeting": run.meeting,
            "group": run.group,
            "quorum": quorum,
            "ticked": run.present if ticked is None else ticked,
            "time_and_place": agenda.time_and_place(run.meeting),
            "backing": org_requests.backing_by_case(
                engine, [r.line.case_id for r in run.items if r.line.case_id is not None]
            )
            if run.group.slug == org_requests.LSVO
            else {},
            "labels": OUTCOME_LABELS,
            "can_sign": identity.has(StaffRole.secretary, StaffRole.chair, group=run.group.slug),
            "local_time": local_time,
            "done": DONE.get(done, "") if status_code == 200 else "",
            "problem": problem,
            "errors": errors or {},
            "values": values or {},
        },
        status_code=status_code,
    )


@router.get("/moten/{meeting_id}/sammantrade")
def show_run(
    request: Request, meeting_id: int, engine: EngineDep, identity: RunStaff, klart: str = ""
) -> Response:
    return run_page(request, engine, identity, meeting_id, done=klart)


@router.get("/moten/{meeting_id}/narvaro")
def attendance_anchor(meeting_id: int, identity: RunStaff) -> Response:
    """The attendance list is on the sitting page."""
    return RedirectResponse(f"/moten/{meeting_id}/sammantrade#narvaro-rubrik", status_code=303)


@router.get("/moten/{meeting_id}/narvaro/beslutsmassighet")
def quorum_fragment(
    request: Request,
    meeting_id: int,
    engine: EngineDep,
    identity: RunStaff,
    narvarande: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
) -> Response:
    """The quorum if the ticked members were there; nothing is stored."""
    _may_run(engine, identity, meeting_id)
    with unit_of_work(engine, write=False) as session:
        status = meeting_run.quorum_for(session, meeting_id, _ids(narvarande))
    return render(request, "_quorum.html", {"quorum": status})


def _after(
    request: Request,
    engine: Any,
    identity: Identity,
    meeting_id: int,
    done: str,
    action: Callable[[], object],
    *,
    values: dict[str, str] | None = None,
    ticked: set[int] | None = None,
) -> Response:
    try:
        action()
    except meeting_run.InvalidInput as exc:
        return run_page(
            request,
            engine,
            identity,
            meeting_id,
            status_code=422,
            errors=exc.errors,
            values=values,
            ticked=ticked,
        )
    except (meeting_run.NotAllowed, meeting_run.NotFound) as exc:
        raise _refused(exc) from None
    except meeting_run.MeetingRunError as exc:
        return run_page(
            request,
            engine,
            identity,
            meeting_id,
            status_code=exc.status,
            problem=exc.message_sv,
            values=values,
            ticked=ticked,
        )
    return RedirectResponse(f"/moten/{meeting_id}/sammantrade?klart={done}", status_code=303)


@router.post("/moten/{meeting_id}/narvaro", dependencies=[CsrfChecked])
def save_attendance(
    request: Request,
    meeting_id: int,
    engine: EngineDep,
    identity: RunStaff,
    ledamot: IdList = [],  # noqa: B006
    narvarande: IdList = [],  # noqa: B006
) -> Response:
    """Every member listed on the page is stored: ticked as present, the others as absent."""
    listed, present = set(_ids(ledamot)), set(_ids(narvarande))
    return _after(
        request,
        engine,
        identity,
        meeting_id,
        "narvaro",
        lambda: meeting_run.record_attendance(
            engine, identity, meeting_id, sorted(present), sorted(listed - present)
        ),
        ticked=present,
    )


@router.post("/moten/{meeting_id}/gaster", dependencies=[CsrfChecked])
def add_guest(
    request: Request,
    meeting_id: int,
    engine: EngineDep,
    identity: RunStaff,
    guest_name: Annotated[str, Form(max_length=1000)] = "",
    guest_organisation: Annotated[str, Form(max_length=1000)] = "",
    guest_function: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    return _after(
        request,
        engine,
        identity,
        meeting_id,
        "gast",
        lambda: meeting_run.add_guest(
            engine,
            identity,
            meeting_id,
            name=guest_name,
            organisation=guest_organisation,
            function=guest_function,
        ),
        values={
            "guest_name": guest_name,
            "guest_organisation": guest_organisation,
            "guest_function": guest_function,
        },
    )


@router.post("/moten/{meeting_id}/gaster/{attendance_id}/ta-bort", dependencies=[CsrfChecked])
def remove_guest(
    request: Request, meeting_id: int, attendance_id: int, engine: EngineDep, identity: RunStaff
) -> Response:
    return _after(
        request,
        engine,
        identity,
        meeting_id,
        "gast-borttagen",
        lambda: meeting_run.remove_guest(engine, identity, meeting_id, attendance_id),
    )


@router.post("/moten/{meeting_id}/justering", dependencies=[CsrfChecked])
def sign_minutes(
    request: Request,
    meeting_id: int,
    engine: EngineDep,
    identity: RunStaff,
    minutes_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """The meeting's own minutes approved by the secretary's or the chair's signature."""
    if not minutes_id.isdigit():
        raise PageError(400, "Protokollet saknas i formuläret. Ladda om sidan.")
    _check_minutes_of(engine, int(minutes_id), meeting_id)
    return _after(
        request,
        engine,
        identity,
        meeting_id,
        "justerat",
        lambda: meeting_run.approve_minutes(engine, identity, int(minutes_id), at_meeting_id=None),
    )


def _check_minutes_of(engine: Any, minutes_id: int, meeting_id: int) -> None:
    with unit_of_work(engine, write=False) as session:
        row = session.get(Minutes, minutes_id)
        if row is None or row.meeting_id != meeting_id:
            raise PageError(404, "Protokollet finns inte.")


# --- the decision form -----------------------------------------------------------------------


@dataclass
class DecisionValues:
    """What the decision form holds: as stored, or as typed."""

    outcome: str = ""
    clauses: list[str] = field(default_factory=list)
    text: str = ""
    recipients: list[dict[str, str]] = field(default_factory=list)
    deferred_to: str = ""
    tasks: list[dict[str, str]] = field(default_factory=list)
    without_quorum: bool = False

    def padded(self, extra: int = 0) -> DecisionValues:
        """With empty rows to write in."""
        clauses = self.clauses + [""] * max(MIN_CLAUSE_ROWS - len(self.clauses), 1 + extra)
        recipients = self.recipients + [
            {"name": "", "address": ""} for _ in range(EXTRA_RECIPIENT_ROWS + extra)
        ]
        blank = {"description": "", "owner": "", "member": "", "due_date": "", "due_meeting": ""}
        tasks = self.tasks + [dict(blank) for _ in range(EXTRA_TASK_ROWS + extra)]
        return DecisionValues(
            self.outcome,
            clauses,
            self.text,
            recipients,
            self.deferred_to,
            tasks,
            self.without_quorum,
        )


def _stored_values(form: meeting_run.DecisionForm) -> DecisionValues:
    decision = form.decision
    # The feedback on the previous minutes' assignments starts the item's text until the
    # secretary has written one.
    feedback = form.previous.feedback_text() if form.previous else ""
    if decision is None:
        return DecisionValues(text=feedback)
    return DecisionValues(
        outcome=decision.outcome.value,
        clauses=list(decision.clauses),
        text=decision.text or feedback,
        recipients=[
            {"name": r.get("name", ""), "address": r.get("address", "")}
            for r in decision.recipients
        ],
        deferred_to=str(decision.deferred_to_meeting_id or ""),
        tasks=[
            {
                "description": a.description,
                "owner": a.owner_name,
                "member": str(a.owner_member_id or ""),
                "due_date": a.due_date.isoformat() if a.due_date else "",
                "due_meeting": str(a.due_meeting_id or ""),
            }
            for a in form.assignments
        ],
        without_quorum=decision.quorum == QuorumChoice.without_quorum,
    )


def decision_page(
    request: Request,
    engine: Any,
    identity: Identity,
    meeting_id: int,
    item_id: int,
    *,
    values: DecisionValues | None = None,
    extra_rows: int = 0,
    status_code: int = 200,
    done: str = "",
    problem: str = "",
    errors: dict[str, str] | None = None,
) -> Response:
    _may_run(engine, identity, meeting_id)
    try:
        form = meeting_run.load_decision_form(engine, meeting_id, item_id)
    except meeting_run.NotFound as exc:
        raise _refused(exc) from None
    shown = (values or _stored_values(form)).padded(extra_rows)
    return render(
        request,
        "decision.html",
        {
            "form": form,
            "meeting": form.meeting,
            "group": form.group,
            "item": form.item,
            "quorum": form.quorum,
            "v": shown,
            "outcomes": list(OUTCOME_LABELS.items()),
            "phrases": STANDARD_PHRASES,
            "previous": form.previous,
            "backing": org_requests.backing_by_case(
                engine, [form.item.case_id] if form.item.case_id is not None else []
            )
            if form.group.slug == org_requests.LSVO
            else {},
            "local_time": local_time,
            "done": DONE.get(done, "") if status_code == 200 else "",
            "problem": problem,
            "errors": errors or {},
        },
        status_code=status_code,
    )


@router.get("/moten/{meeting_id}/punkt/{item_id}")
def show_decision(
    request: Request,
    meeting_id: int,
    item_id: int,
    engine: EngineDep,
    identity: RunStaff,
    klart: str = "",
) -> Response:
    return decision_page(request, engine, identity, meeting_id, item_id, done=klart)


def _parse(
    values: DecisionValues,
) -> tuple[DecisionInput | None, dict[str, str], dict[int, int]]:
    """The input for the service (None without an outcome), the errors found while reading
    the form, and which form row each assignment passed on came from. With errors the input
    is only for checking, never for storing."""
    errors: dict[str, str] = {}
    try:
        outcome = Outcome(values.outcome)
    except ValueError:
        outcome = None
        errors["outcome"] = "Välj hur punkten avslutades."
    deferred = int(values.deferred_to) if values.deferred_to.isdigit() else None
    tasks: list[AssignmentInput] = []
    rows: dict[int, int] = {}
    for n, row in enumerate(values.tasks):
        if not any(v.strip() for v in row.values()):
            continue
        due_date: date | None = None
        if row["due_date"].strip():
            try:
                due_date = date.fromisoformat(row["due_date"].strip())
            except ValueError:
                errors[f"assignments.{n}.due"] = "Skriv datumet som ÅÅÅÅ-MM-DD."
        rows[len(tasks)] = n
        tasks.append(
            AssignmentInput(
                description=row["description"],
                owner_name=row["owner"],
                owner_member_id=int(row["member"]) if row["member"].isdigit() else None,
                due_date=due_date,
                due_meeting_id=int(row["due_meeting"]) if row["due_meeting"].isdigit() else None,
            )
        )
    if outcome is None:
        return None, errors, rows
    return (
        DecisionInput(
            outcome=outcome,
            clauses=values.clauses,
            text=values.text,
            recipients=[RecipientInput(r["name"], r["address"]) for r in values.recipients],
            deferred_to_meeting_id=deferred,
            assignments=tasks,
            quorum=QuorumChoice.without_quorum if values.without_quorum else QuorumChoice.quorate,
        ),
        errors,
        rows,
    )


def _form_rows(*columns: list[str]) -> list[list[str]]:
    """Rows of parallel form fields, the short columns padded with empty strings."""
    length = max((len(c) for c in columns), default=0)
    return [[c[i] if i < len(c) else "" for c in columns] for i in range(length)]


@router.post("/moten/{meeting_id}/punkt/{item_id}", dependencies=[CsrfChecked])
def save_decision(
    request: Request,
    meeting_id: int,
    item_id: int,
    engine: EngineDep,
    identity: RunStaff,
    outcome: Annotated[str, Form(max_length=32)] = "",
    clause: IdList = [],  # noqa: B006
    text: Annotated[str, Form(max_length=60_000)] = "",
    recipient_name: IdList = [],  # noqa: B006
    recipient_address: IdList = [],  # noqa: B006
    deferred_to: Annotated[str, Form(max_length=20)] = "",
    task_description: IdList = [],  # noqa: B006
    task_owner: IdList = [],  # noqa: B006
    task_member: IdList = [],  # noqa: B006
    task_due_date: IdList = [],  # noqa: B006
    task_due_meeting: IdList = [],  # noqa: B006
    without_quorum: Annotated[str, Form(max_length=8)] = "",
    action: Annotated[str, Form(max_length=16)] = "spara",
) -> Response:
    typed = DecisionValues(
        outcome=outcome,
        clauses=[c for c in clause if c.strip()],
        text=text,
        recipients=[
            {"name": name, "address": address}
            for name, address in _form_rows(recipient_name, recipient_address)
            if name.strip() or address.strip()
        ],
        deferred_to=deferred_to,
        tasks=[
            {"description": d, "owner": o, "member": m, "due_date": dd, "due_meeting": dm}
            for d, o, m, dd, dm in _form_rows(
                task_description, task_owner, task_member, task_due_date, task_due_meeting
            )
            if any(v.strip() for v in (d, o, m, dd, dm))
        ],
        without_quorum=bool(without_quorum),
    )
    if action == "fler":
        return decision_page(
            request, engine, identity, meeting_id, item_id, values=typed, extra_rows=1
        )
    data, errors, rows = _parse(typed)
    if data is None or errors:
        # Show the service's findings too, so every problem is marked at once.
        found = meeting_run.decision_errors(engine, meeting_id, data) if data else {}
        return decision_page(
            request, engine, identity, meeting_id, item_id, values=typed, status_code=422,
            errors={**_renumbered(found, rows), **errors},
        )  # fmt: skip
    try:
        meeting_run.record_decision(engine, identity, meeting_id, item_id, data)
    except (meeting_run.NotAllowed, meeting_run.NotFound) as exc:
        raise _refused(exc) from None
    except meeting_run.MeetingRunError as exc:
        return decision_page(
            request,
            engine,
            identity,
            meeting_id,
            item_id,
            values=typed,
            status_code=exc.status,
            problem=exc.message_sv,
            errors=_renumbered(exc.errors, rows),
        )
    return RedirectResponse(f"/moten/{meeting_id}/sammantrade?klart=beslut", status_code=303)


def _renumbered(errors: dict[str, str], rows: dict[int, int]) -> dict[str, str]:
    """Errors on assignments, keyed by the form row they were typed in."""
    out: dict[str, str] = {}
    for key, message in errors.items():
        parts = key.split(".")
        if parts[0] == "assignments" and len(parts) == 3 and parts[1].isdigit():
            key = f"assignments.{rows.get(int(parts[1]), int(parts[1]))}.{parts[2]}"
        out[key] = message
    return out


# --- the previous minutes: feedback and approval at this meeting --------------------------------


@router.post("/moten/{meeting_id}/uppdrag/{assignment_id}", dependencies=[CsrfChecked])
def save_feedback(
    request: Request,
    meeting_id: int,
    assignment_id: int,
    engine: EngineDep,
    identity: RunStaff,
    item_id: Annotated[str, Form(max_length=20)] = "",
    report: Annotated[str, Form(max_length=60_000)] = "",
    done: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    back = int(item_id) if item_id.isdigit() else None
    try:
        meeting_run.record_feedback(
            engine, identity, meeting_id, assignment_id, report=report, done=bool(done)
        )
    except (meeting_run.NotAllowed, meeting_run.NotFound) as exc:
        raise _refused(exc) from None
    except meeting_run.MeetingRunError as exc:
        if back is None:
            raise _refused(exc) from None
        errors = {f"report.{assignment_id}": m for m in exc.errors.values()}
        return decision_page(
            request,
            engine,
            identity,
            meeting_id,
            back,
            status_code=exc.status,
            problem=exc.message_sv,
            errors=errors,
        )
    target = f"/moten/{meeting_id}/punkt/{back}" if back else f"/moten/{meeting_id}/sammantrade"
    return RedirectResponse(f"{target}?klart=aterkoppling", status_code=303)


@router.post("/moten/{meeting_id}/justera", dependencies=[CsrfChecked])
def approve_here(
    request: Request,
    meeting_id: int,
    engine: EngineDep,
    identity: RunStaff,
    minutes_id: Annotated[str, Form(max_length=20)] = "",
    item_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Approve the previous minutes at this meeting (its "Föregående sammanträdesprotokoll")."""
    if not minutes_id.isdigit() or not item_id.isdigit():
        raise PageError(400, "Protokollet saknas i formuläret. Ladda om sidan.")
    try:
        meeting_run.approve_minutes(engine, identity, int(minutes_id), at_meeting_id=meeting_id)
    except (meeting_run.NotAllowed, meeting_run.NotFound) as exc:
        raise _refused(exc) from None
    except meeting_run.MeetingRunError as exc:
        return decision_page(
            request,
            engine,
            identity,
            meeting_id,
            int(item_id),
            status_code=exc.status,
            problem=exc.message_sv,
        )
    return RedirectResponse(f"/moten/{meeting_id}/punkt/{item_id}?klart=justerat", status_code=303)
