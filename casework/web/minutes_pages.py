"""Pages of a meeting's minutes: the draft with what is missing and the button that
finalises it, the finalised minutes with their versions and a form for a new version,
a stored version, and the minutes as a PDF."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from casework import agenda, minutes
from casework.accounts import Identity
from casework.minutes_pdf import render_minutes_pdf
from casework.model import StaffRole
from casework.web.deps import (
    STAFF_ROLES,
    CsrfChecked,
    EngineDep,
    PageError,
    RulesDep,
    SettingsDep,
    local_time,
    render,
    require_page_role,
)

router = APIRouter()

MINUTES_ROLES = (StaffRole.secretary, StaffRole.chair, StaffRole.beredning)
Staff = Annotated[Identity, Depends(require_page_role(*STAFF_ROLES))]
MinutesStaff = Annotated[Identity, Depends(require_page_role(*MINUTES_ROLES))]

DONE = {
    "faststallt": "Protokollet är fastställt och skickat till mottagarna.",
    "ny-version": "En ny version av protokollet är sparad.",
}
TEXT_FIELD = "text-"


def _view(engine: Any, meeting_id: int, version: int | None = None) -> minutes.MinutesView:
    try:
        return minutes.minutes_view(engine, meeting_id, version=version)
    except agenda.MeetingNotFound:
        raise PageError(404, "Det finns inget sådant möte.") from None
    except minutes.MinutesError as exc:
        raise PageError(404, exc.message_sv) from None


def minutes_page(
    request: Request,
    engine: EngineDep,
    identity: Identity,
    meeting_id: int,
    *,
    version: int | None = None,
    status_code: int = 200,
    done: str = "",
    problem: str = "",
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    view = _view(engine, meeting_id, version)
    can_manage = agenda.may_manage(identity, view.group.slug)
    shown = (
        next((m for m in view.versions if m.version == version), None)
        if version is not None
        else view.latest
    )
    return render(
        request,
        "minutes.html",
        {
            "view": view,
            "doc": view.document,
            "shown": shown,
            "meeting": view.meeting,
            "group": view.group,
            "heading_level": 2,
            "edit_base": "" if view.is_final or not can_manage else f"/moten/{meeting_id}/punkt/",
            "can_manage": can_manage,
            "missing": [] if view.is_final else view.document.unhandled(),
            "is_latest": shown is None or shown is view.latest,
            "local_time": local_time,
            "done": DONE.get(done, "") if status_code == 200 else "",
            "problem": problem,
            "errors": errors or {},
            "values": values or {},
            "text_field": TEXT_FIELD,
        },
        status_code=status_code,
    )


@router.get("/moten/{meeting_id}/protokoll")
def show_minutes(
    request: Request, meeting_id: int, engine: EngineDep, identity: Staff, klart: str = ""
) -> Response:
    return minutes_page(request, engine, identity, meeting_id, done=klart)


@router.get("/moten/{meeting_id}/protokoll/v{version}")
def show_version(
    request: Request, meeting_id: int, version: int, engine: EngineDep, identity: Staff
) -> Response:
    return minutes_page(request, engine, identity, meeting_id, version=version)


@router.get("/moten/{meeting_id}/protokoll.pdf")
def minutes_pdf(meeting_id: int, engine: EngineDep, identity: Staff, version: int = 0) -> Response:
    view = _view(engine, meeting_id, version or None)
    doc = view.document
    suffix = f"-v{doc.version}" if doc.is_final and doc.version > 1 else ""
    draft = "" if doc.is_final else "utkast-"
    filename = f"protokoll-{draft}{view.group.slug}-{view.meeting.date.isoformat()}{suffix}.pdf"
    return Response(
        render_minutes_pdf(doc),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


def _refused(
    request: Request,
    engine: EngineDep,
    identity: Identity,
    meeting_id: int,
    exc: minutes.MinutesError,
    values: dict[str, str] | None = None,
) -> Response:
    errors = {exc.field: exc.message_sv} if exc.field else None
    return minutes_page(
        request,
        engine,
        identity,
        meeting_id,
        status_code=422 if exc.field else exc.status,
        problem="" if exc.field else exc.message_sv,
        errors=errors,
        values=values,
    )


@router.post("/moten/{meeting_id}/protokoll/faststall", dependencies=[CsrfChecked])
def finalise(
    request: Request,
    meeting_id: int,
    engine: EngineDep,
    settings: SettingsDep,
    identity: MinutesStaff,
    rule_set: RulesDep,
) -> Response:
    try:
        minutes.finalise_minutes(
            engine, identity, meeting_id, data_dir=settings.data_dir, rules=rule_set
        )
    except agenda.MeetingNotFound:
        raise PageError(404, "Det finns inget sådant möte.") from None
    except agenda.NotAllowed as exc:
        raise PageError(403, exc.message_sv) from None
    except minutes.MinutesError as exc:
        return _refused(request, engine, identity, meeting_id, exc)
    except agenda.AgendaError as exc:  # a deferral the named meeting cannot take
        return minutes_page(
            request, engine, identity, meeting_id, status_code=exc.status, problem=exc.message_sv
        )
    return RedirectResponse(f"/moten/{meeting_id}/protokoll?klart=faststallt", status_code=303)


@router.post("/moten/{meeting_id}/protokoll/ny-version", dependencies=[CsrfChecked])
async def add_version(
    request: Request, meeting_id: int, engine: EngineDep, identity: MinutesStaff
) -> Response:
    form = await request.form()
    reason = form.get("reason")
    reason = reason if isinstance(reason, str) else ""
    edits: dict[int, str] = {}
    values = {"reason": reason}
    for name, value in form.multi_items():
        if name.startswith(TEXT_FIELD) and isinstance(value, str):
            item_id = name.removeprefix(TEXT_FIELD)
            if not item_id.isdigit():
                raise PageError(400, "Formuläret innehöll en okänd punkt. Ladda om sidan.")
            edits[int(item_id)] = value
            values[name] = value
    try:
        await run_in_threadpool(minutes.new_version, engine, identity, meeting_id, reason, edits)
    except agenda.MeetingNotFound:
        raise PageError(404, "Det finns inget sådant möte.") from None
    except agenda.NotAllowed as exc:
        raise PageError(403, exc.message_sv) from None
    except minutes.MinutesError as exc:
        return await run_in_threadpool(_refused, request, engine, identity, meeting_id, exc, values)
    return RedirectResponse(f"/moten/{meeting_id}/protokoll?klart=ny-version", status_code=303)
