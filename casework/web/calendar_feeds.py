"""Pages of the meeting calendar and its iCalendar feeds.

Anyone may read the calendar and a group's feed (meeting dates are public); a group's
secretary or chair, or an admin, adds, edits, cancels and imports its meetings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, Response, UploadFile
from fastapi.responses import RedirectResponse
from sqlalchemy import Engine

from casework import meeting_calendar as mc
from casework.accounts import Identity
from casework.model import StaffRole
from casework.services import GroupNotFound
from casework.web.deps import (
    CsrfChecked,
    EngineDep,
    IdentityDep,
    PageError,
    render,
)
from casework.web.staff import local_today

router = APIRouter()

ICS_TYPE = "text/calendar; charset=utf-8"
MANAGER_ROLES = (StaffRole.secretary, StaffRole.chair)
NO_GROUP = "Det finns ingen grupp med det namnet."
NO_MEETING = "Mötet finns inte."
DONE = {
    "tillagt": "Mötet har lagts till.",
    "andrat": "Mötet har ändrats.",
    "installt": "Mötet har ställts in och tagits bort ur kalendern.",
}


def can_manage(identity: Identity | None, slug: str) -> bool:
    return identity is not None and identity.has(*MANAGER_ROLES, group=slug)


def require_manager(identity: Identity | None, slug: str) -> Identity:
    """The signed-in secretary or chair of the group, or an admin (else 401 or 403)."""
    if identity is None:
        raise HTTPException(401)
    if not can_manage(identity, slug):
        raise PageError(403, "Bara gruppens sekreterare eller ordförande kan ändra dess möten.")
    return identity


def calendar_page(
    request: Request,
    engine: Engine,
    identity: Identity | None,
    *,
    status_code: int = 200,
    done: str = "",
    form_group: str = "",
    form: str = "",
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
    problems: Sequence[str] = (),
    warnings: Sequence[str] = (),
    summary: str = "",
) -> Response:
    groups = mc.upcoming(engine, today=local_today())
    return render(
        request,
        "calendar.html",
        {
            "groups": groups,
            "managed": {g.group.slug for g in groups if can_manage(identity, g.group.slug)},
            "done": DONE.get(done, ""),
            "form_group": form_group,
            "form": form,
            "errors": errors or {},
            "values": values or {},
            "problems": problems,
            "warnings": warnings,
            "summary": summary,
            "max_kb": mc.MAX_IMPORT_BYTES // 1024,
        },
        status_code=status_code,
    )


@router.get("/kalender")
def calendar(
    request: Request, engine: EngineDep, identity: IdentityDep, klart: str = ""
) -> Response:
    return calendar_page(request, engine, identity, done=klart)


def _ics(content: bytes, filename: str, *, private: bool) -> Response:
    return Response(
        content,
        media_type=ICS_TYPE,
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "private, no-store" if private else "public, max-age=300",
        },
    )


@router.get("/kalender/ledamot/{token}.ics")
def member_feed(token: str, engine: EngineDep) -> Response:
    content = mc.member_feed(engine, token) if len(token) <= 100 else None
    if content is None:
        raise PageError(404, "Kalenderlänken är okänd eller har ersatts av en ny.")
    return _ics(content, "mina-moten.ics", private=True)


@router.get("/kalender/{slug}.ics")
def group_feed(slug: str, engine: EngineDep) -> Response:
    try:
        content = mc.group_feed(engine, slug)
    except GroupNotFound:
        raise PageError(404, NO_GROUP) from None
    return _ics(content, f"{slug}.ics", private=False)


def _typed(date: str, start: str, end: str, place: str, video_link: str) -> dict[str, str]:
    return {
        "date": date,
        "starts_at": start,
        "ends_at": end,
        "place": place,
        "video_link": video_link,
    }


def _field_errors(exc: mc.MeetingInvalid) -> dict[str, str]:
    errors: dict[str, str] = {}
    for problem in exc.problems:
        errors[problem.field] = " ".join(
            filter(None, (errors.get(problem.field), problem.message_sv))
        )
    return errors


DateForm = Annotated[str, Form(alias="datum", max_length=20)]
StartForm = Annotated[str, Form(alias="start", max_length=10)]
EndForm = Annotated[str, Form(alias="slut", max_length=10)]
PlaceForm = Annotated[str, Form(alias="plats", max_length=300)]
LinkForm = Annotated[str, Form(alias="videolank", max_length=500)]


@router.post("/kalender/{slug}/moten", dependencies=[CsrfChecked])
def add_meeting(
    request: Request,
    slug: str,
    engine: EngineDep,
    identity: IdentityDep,
    date: DateForm = "",
    start: StartForm = "",
    end: EndForm = "",
    place: PlaceForm = "",
    video_link: LinkForm = "",
) -> Response:
    actor = require_manager(identity, slug)
    typed = _typed(date, start, end, place, video_link)

    def again(errors: dict[str, str]) -> Response:
        return calendar_page(
            request,
            engine,
            identity,
            status_code=422 if "conflict" not in errors else 409,
            form_group=slug,
            form="add",
            errors=errors,
            values=typed,
        )

    try:
        data = mc.check_meeting(date, start, end, place, video_link)
        view = mc.add_meeting(engine, slug, data, actor=actor.email)
    except mc.MeetingInvalid as exc:
        return again(_field_errors(exc))
    except mc.MeetingConflict as exc:
        return again({"conflict": exc.message_sv})
    except GroupNotFound:
        raise PageError(404, NO_GROUP) from None
    return RedirectResponse(f"/kalender?klart=tillagt#mote-{view.id}", status_code=303)


@router.post("/kalender/{slug}/import", dependencies=[CsrfChecked])
def import_meetings(
    request: Request,
    slug: str,
    engine: EngineDep,
    identity: IdentityDep,
    fil: Annotated[UploadFile | None, File()] = None,
) -> Response:
    actor = require_manager(identity, slug)

    def again(status_code: int, problems: Sequence[str]) -> Response:
        return calendar_page(
            request,
            engine,
            identity,
            status_code=status_code,
            form_group=slug,
            form="import",
            problems=problems,
        )

    if fil is None or not fil.filename:
        return again(422, ["Välj en fil att importera (CSV eller .ics)."])
    # Read one byte past the limit, so that a larger file is told apart without reading it all.
    content = fil.file.read(mc.MAX_IMPORT_BYTES + 1)
    try:
        rows, problems = mc.parse_calendar_file(fil.filename, content)
        summary = mc.import_year(engine, slug, rows, actor.email, problems=problems)
    except mc.CalendarFileError as exc:
        status = 413 if len(content) > mc.MAX_IMPORT_BYTES else 422
        return again(status, [exc.problem.text_sv])
    except mc.ImportRejected as exc:
        return again(422, [exc.message_sv, *(p.text_sv for p in exc.problems)])
    except mc.MeetingConflict as exc:
        return again(409, [exc.message_sv])
    except GroupNotFound:
        raise PageError(404, NO_GROUP) from None
    return calendar_page(
        request,
        engine,
        identity,
        form_group=slug,
        form="import",
        summary=f"Importen är klar: {summary.text_sv}",
        warnings=[w.text_sv for w in summary.warnings],
    )


def _meeting_or_404(engine: Engine, meeting_id: int) -> mc.MeetingView:
    try:
        return mc.get_meeting(engine, meeting_id)
    except mc.MeetingNotFound:
        raise PageError(404, NO_MEETING) from None


def meeting_page(
    request: Request,
    view: mc.MeetingView,
    *,
    status_code: int = 200,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
    problem: str = "",
) -> Response:
    meeting = view.meeting
    shown = values or _typed(
        meeting.date.isoformat(),
        meeting.starts_at,
        meeting.ends_at,
        meeting.place,
        meeting.video_link,
    )
    return render(
        request,
        "calendar_meeting.html",
        {"view": view, "errors": errors or {}, "values": shown, "problem": problem},
        status_code=status_code,
    )


@router.get("/kalender/moten/{meeting_id}")
def edit_page(
    request: Request, meeting_id: int, engine: EngineDep, identity: IdentityDep
) -> Response:
    view = _meeting_or_404(engine, meeting_id)
    require_manager(identity, view.group.slug)
    return meeting_page(request, view)


@router.post("/kalender/moten/{meeting_id}", dependencies=[CsrfChecked])
def edit_meeting(
    request: Request,
    meeting_id: int,
    engine: EngineDep,
    identity: IdentityDep,
    date: DateForm = "",
    start: StartForm = "",
    end: EndForm = "",
    place: PlaceForm = "",
    video_link: LinkForm = "",
) -> Response:
    view = _meeting_or_404(engine, meeting_id)
    actor = require_manager(identity, view.group.slug)
    typed = _typed(date, start, end, place, video_link)
    try:
        data = mc.check_meeting(date, start, end, place, video_link)
        mc.edit_meeting(engine, meeting_id, data, actor=actor.email)
    except mc.MeetingInvalid as exc:
        return meeting_page(request, view, status_code=422, errors=_field_errors(exc), values=typed)
    except mc.MeetingConflict as exc:
        return meeting_page(request, view, status_code=409, values=typed, problem=exc.message_sv)
    except mc.MeetingNotFound:
        raise PageError(404, NO_MEETING) from None
    return RedirectResponse(f"/kalender?klart=andrat#mote-{meeting_id}", status_code=303)


@router.post("/kalender/moten/{meeting_id}/stall-in", dependencies=[CsrfChecked])
def cancel_meeting(
    request: Request, meeting_id: int, engine: EngineDep, identity: IdentityDep
) -> Response:
    view = _meeting_or_404(engine, meeting_id)
    actor = require_manager(identity, view.group.slug)
    try:
        mc.cancel_meeting(engine, meeting_id, actor=actor.email)
    except mc.MeetingConflict as exc:
        return meeting_page(request, view, status_code=409, problem=exc.message_sv)
    except mc.MeetingNotFound:
        raise PageError(404, NO_MEETING) from None
    return RedirectResponse(f"/kalender?klart=installt#grupp-{view.group.slug}", status_code=303)
