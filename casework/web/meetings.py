"""Pages of the meeting and its agenda: the meeting list, the agenda builder, the agenda
as a page and as a PDF, and placing a case on a meeting from the case page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse

from casework import agenda, written_views
from casework.accounts import Identity
from casework.agenda_pdf import render_agenda_pdf
from casework.lifecycle import STATE_LABELS, IllegalTransition
from casework.model import AgendaSection, StaffRole
from casework.services import CaseNotFound
from casework.web.deps import (
    STAFF_ROLES,
    CsrfChecked,
    EngineDep,
    PageError,
    RulesDep,
    local_time,
    render,
    require_page_role,
)
from casework.web.staff import case_page, local_today

router = APIRouter()

AGENDA_ROLES = (StaffRole.secretary, StaffRole.chair, StaffRole.beredning)
Staff = Annotated[Identity, Depends(require_page_role(*STAFF_ROLES))]
AgendaStaff = Annotated[Identity, Depends(require_page_role(*AGENDA_ROLES))]

DIRECTIONS: dict[str, agenda.Direction] = {"upp": "up", "ned": "down"}
DONE = {
    "flyttad": "Punkten har flyttats.",
    "borttagen": "Punkten har tagits bort.",
    "tillagd": "Punkten har lagts till under Övriga frågor.",
    "godkand": "Dagordningen är godkänd.",
}


def _load(engine: Any, meeting_id: int) -> agenda.Agenda:
    try:
        return agenda.load_agenda(engine, meeting_id)
    except agenda.MeetingNotFound:
        raise PageError(404, "Det finns inget sådant möte.") from None


@router.get("/moten")
def meeting_list(request: Request, engine: EngineDep, identity: AgendaStaff) -> Response:
    summaries = agenda.manageable_meetings(engine, identity, today=local_today())
    return render(request, "meetings.html", {"summaries": summaries, "local_time": local_time})


def meeting_page(
    request: Request,
    engine: EngineDep,
    identity: Identity,
    meeting_id: int,
    *,
    status_code: int = 200,
    done: str = "",
    problem: str = "",
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    read = _load(engine, meeting_id)
    if not agenda.may_manage(identity, read.group.slug):
        raise PageError(403, f"Du får inte ändra dagordningen för {read.group.name}.")
    return render(
        request,
        "meeting.html",
        {
            "agenda": read,
            "meeting": read.meeting,
            "group": read.group,
            "time_and_place": agenda.time_and_place(read.meeting),
            "can_approve": agenda.may_approve(identity, read.group.slug),
            "can_add_other": read.meeting.date >= local_today(),
            "local_time": local_time,
            "done": DONE.get(done, "") if status_code == 200 else "",
            "problem": problem,
            "errors": errors or {},
            "values": values or {},
            "case_section": AgendaSection.case,
            "other_section": AgendaSection.other,
        },
        status_code=status_code,
    )


@router.get("/moten/{meeting_id}")
def show_meeting(
    request: Request, meeting_id: int, engine: EngineDep, identity: AgendaStaff, klart: str = ""
) -> Response:
    return meeting_page(request, engine, identity, meeting_id, done=klart)


@router.get("/moten/{meeting_id}/dagordning")
def agenda_page(request: Request, meeting_id: int, engine: EngineDep, identity: Staff) -> Response:
    read = _load(engine, meeting_id)
    views = written_views.load_views(engine, meeting_id)
    return render(
        request,
        "agenda.html",
        {
            "agenda": read,
            "time_and_place": agenda.time_and_place(read.meeting),
            "can_manage": agenda.may_manage(identity, read.group.slug),
            "views": views,
            "view_senders": written_views.senders(views),
        },
    )


@router.get("/moten/{meeting_id}/dagordning.pdf")
def agenda_pdf(meeting_id: int, engine: EngineDep, identity: Staff) -> Response:
    read = _load(engine, meeting_id)
    filename = f"dagordning-{read.group.slug}-{read.meeting.date.isoformat()}.pdf"
    return Response(
        render_agenda_pdf(read),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


def _after(
    request: Request,
    engine: EngineDep,
    identity: Identity,
    meeting_id: int,
    done: str,
    action: Any,
    *,
    values: dict[str, str] | None = None,
) -> Response:
    """Run a change of the agenda; back to the builder, with the Swedish reason if refused."""
    try:
        action()
    except agenda.MeetingNotFound:
        raise PageError(404, "Det finns inget sådant möte.") from None
    except agenda.NotAllowed as exc:
        raise PageError(403, exc.message_sv) from None
    except agenda.AgendaError as exc:
        errors = {exc.field: exc.message_sv} if exc.field else None
        return meeting_page(
            request,
            engine,
            identity,
            meeting_id,
            status_code=422 if exc.field else exc.status,
            problem="" if exc.field else exc.message_sv,
            errors=errors,
            values=values,
        )
    return RedirectResponse(f"/moten/{meeting_id}?klart={done}", status_code=303)


@router.post("/moten/{meeting_id}/punkter/{item_id}/flytta", dependencies=[CsrfChecked])
def move(
    request: Request,
    meeting_id: int,
    item_id: int,
    engine: EngineDep,
    identity: AgendaStaff,
    riktning: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    direction = DIRECTIONS.get(riktning)
    if direction is None:
        raise PageError(400, "Okänd riktning.")
    return _after(
        request,
        engine,
        identity,
        meeting_id,
        "flyttad",
        lambda: agenda.move_item(engine, meeting_id, item_id, direction, actor=identity),
    )


@router.post("/moten/{meeting_id}/punkter/{item_id}/ta-bort", dependencies=[CsrfChecked])
def remove(
    request: Request, meeting_id: int, item_id: int, engine: EngineDep, identity: AgendaStaff
) -> Response:
    return _after(
        request,
        engine,
        identity,
        meeting_id,
        "borttagen",
        lambda: agenda.remove_item(engine, meeting_id, item_id, actor=identity),
    )


@router.post("/moten/{meeting_id}/ovriga-fragor", dependencies=[CsrfChecked])
def add_other(
    request: Request,
    meeting_id: int,
    engine: EngineDep,
    identity: AgendaStaff,
    title: Annotated[str, Form(max_length=1000)] = "",
    kind: Annotated[str, Form(max_length=16)] = "",
    presenter: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    return _after(
        request,
        engine,
        identity,
        meeting_id,
        "tillagd",
        lambda: agenda.add_other_item(
            engine, meeting_id, title=title, kind=kind, presenter=presenter, actor=identity
        ),
        values={"title": title, "kind": kind, "presenter": presenter},
    )


@router.post("/moten/{meeting_id}/godkann", dependencies=[CsrfChecked])
def approve(
    request: Request, meeting_id: int, engine: EngineDep, identity: AgendaStaff
) -> Response:
    return _after(
        request,
        engine,
        identity,
        meeting_id,
        "godkand",
        lambda: agenda.approve_agenda(engine, meeting_id, actor=identity),
    )


@router.post("/arenden/{case_id}/mote", dependencies=[CsrfChecked])
def schedule(
    request: Request,
    case_id: int,
    engine: EngineDep,
    rule_set: RulesDep,
    identity: AgendaStaff,
    meeting_id: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    typed = {"meeting_id": meeting_id, "reason": reason}

    def again(status_code: int, **kw: Any) -> Response:
        return case_page(
            request,
            engine,
            rule_set,
            identity,
            case_id,
            status_code=status_code,
            form="schedule",
            values=typed,
            **kw,
        )

    if not meeting_id.isdigit():
        return again(422, errors={"meeting_id": "Välj ett möte."})
    try:
        agenda.schedule_case(engine, case_id, int(meeting_id), actor=identity, reason=reason)
    except CaseNotFound:
        raise PageError(404, "Det finns inget ärende med det numret.") from None
    except agenda.NotAllowed as exc:
        raise PageError(403, exc.message_sv) from None
    except agenda.MeetingNotFound:
        return again(422, errors={"meeting_id": "Välj ett av mötena i listan."})
    except agenda.AgendaError as exc:
        if exc.field:
            return again(422, errors={exc.field: exc.message_sv})
        return again(exc.status, problem=exc.message_sv)
    except IllegalTransition as exc:
        return again(
            409,
            problem="Ärendet kan inte sättas upp på en dagordning när det har status "
            f"”{STATE_LABELS[exc.state]}”.",
        )
    return RedirectResponse(f"/arenden/{case_id}?klart=schedule", status_code=303)
