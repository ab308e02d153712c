"""The follow-up register (uppföljning) for staff, its CSV export, and the owner's page
for reporting an assignment done through a private link (`/uppdrag/{token}`, no login)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from sqlmodel import select

from casework import access, followup
from casework.accounts import Identity
from casework.calendar import local_date
from casework.db import unit_of_work
from casework.model import Group, StaffRole, utcnow
from casework.web.deps import CsrfChecked, EngineDep, PageError, render, require_page_role

router = APIRouter()

Staff = Annotated[
    Identity,
    Depends(require_page_role(StaffRole.beredning, StaffRole.secretary, StaffRole.chair)),
]
STATES = {state.value: label for state, label in followup.STATE_LABELS.items()}
NOT_FOUND = (
    "Vi hittar inget uppdrag med den länken. Kontrollera att du har fått med hela länken från "
    "påminnelsen, eller kontakta gruppens sekreterare."
)
EXPIRED = (
    "Länken har gått ut. Du får en ny länk med nästa påminnelse, eller kontakta gruppens "
    "sekreterare."
)


def _lead(request: Request) -> int:
    return int(request.app.state.settings.assignment_reminder_working_days)


def _csv(text: str, filename: str) -> Response:
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _visible(engine: EngineDep, identity: Identity) -> list[Group]:
    with unit_of_work(engine, write=False) as session:
        return followup.visible_groups(session, identity)


def _group(engine: EngineDep, identity: Identity, slug: str) -> Group:
    with unit_of_work(engine, write=False) as session:
        group = session.exec(select(Group).where(Group.slug == slug)).first()
    if group is None:
        raise PageError(404, "Gruppen finns inte.")
    if not followup.may_see(identity, slug):
        raise PageError(403, f"Du har inte tillgång till uppföljningen för {group.name}.")
    return group


@router.get("/uppfoljning")
def overview(request: Request, engine: EngineDep, identity: Staff) -> Response:
    """The figures of every group the person serves (all groups for beredningsgruppen)."""
    today = local_date(utcnow())
    groups = _visible(engine, identity)
    ids = [g.id for g in groups if g.id is not None]
    found = followup.register(engine, today, group_ids=ids, lead=_lead(request))
    return render(
        request,
        "followup.html",
        {"figures": followup.figures(found, groups), "today": today},
    )


@router.get("/uppfoljning.csv")
def overview_csv(request: Request, engine: EngineDep, identity: Staff) -> Response:
    today = local_date(utcnow())
    ids = [g.id for g in _visible(engine, identity) if g.id is not None]
    found = followup.register(engine, today, group_ids=ids, lead=_lead(request))
    return _csv(followup.csv_text(found, today), f"uppfoljning-{today.isoformat()}.csv")


@router.get("/uppfoljning/{slug}.csv")
def group_csv(request: Request, engine: EngineDep, identity: Staff, slug: str) -> Response:
    today = local_date(utcnow())
    group = _group(engine, identity, slug)
    assert group.id is not None
    found = followup.register(engine, today, group_ids=[group.id], lead=_lead(request))
    return _csv(followup.csv_text(found, today), f"uppfoljning-{slug}-{today.isoformat()}.csv")


def _register_page(
    request: Request,
    engine: EngineDep,
    identity: Identity,
    slug: str,
    *,
    status: str = "",
    error_id: int | None = None,
    error: str = "",
    report: str = "",
    saved: str = "",
    status_code: int = 200,
) -> Response:
    today = local_date(utcnow())
    group = _group(engine, identity, slug)
    assert group.id is not None
    everything = followup.register(engine, today, group_ids=[group.id], lead=_lead(request))
    shown = [e for e in everything if not status or e.state.value == status]
    (figure,) = followup.figures(everything, [group])
    return render(
        request,
        "followup_group.html",
        {
            "group": group,
            "entries": shown,
            "figure": figure,
            "today": today,
            "status": status,
            "states": STATES,
            "may_change": followup.may_follow_up(identity, slug),
            "error_id": error_id,
            "error": error,
            "report": report,
            "saved": saved,
        },
        status_code=status_code,
    )


@router.get("/uppfoljning/{slug}")
def group_register(
    request: Request,
    engine: EngineDep,
    identity: Staff,
    slug: str,
    status: Annotated[str, Query(max_length=20)] = "",
    sparat: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """The group's register, oldest unexecuted first; `status` filters."""
    if status and status not in STATES:
        status = ""
    return _register_page(request, engine, identity, slug, status=status, saved=sparat)


@router.post("/uppfoljning/{slug}/{assignment_id}/klar", dependencies=[CsrfChecked])
def register_done(
    request: Request,
    engine: EngineDep,
    identity: Staff,
    slug: str,
    assignment_id: int,
    report: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    _group(engine, identity, slug)
    try:
        followup.mark_done(engine, identity, assignment_id, report=report, group_slug=slug)
    except followup.FollowupError as exc:
        if exc.status in (403, 404):
            raise PageError(exc.status, exc.message_sv) from None
        return _register_page(
            request,
            engine,
            identity,
            slug,
            error_id=assignment_id,
            error=exc.message_sv,
            report=report,
            status_code=422 if exc.status == 422 else 409,
        )
    return RedirectResponse(f"/uppfoljning/{slug}?sparat=klar#uppdrag-{assignment_id}", 303)


@router.post("/uppfoljning/{slug}/{assignment_id}/oppna", dependencies=[CsrfChecked])
def register_reopen(
    request: Request,
    engine: EngineDep,
    identity: Staff,
    slug: str,
    assignment_id: int,
) -> Response:
    _group(engine, identity, slug)
    try:
        followup.reopen(engine, identity, assignment_id, group_slug=slug)
    except followup.FollowupError as exc:
        if exc.status in (403, 404):
            raise PageError(exc.status, exc.message_sv) from None
        return _register_page(
            request,
            engine,
            identity,
            slug,
            error_id=assignment_id,
            error=exc.message_sv,
            status_code=409,
        )
    return RedirectResponse(f"/uppfoljning/{slug}?sparat=oppnad#uppdrag-{assignment_id}", 303)


# --- the owner's page ------------------------------------------------------------------------


def _owner_form(engine: EngineDep, token: str) -> followup.OwnerForm:
    try:
        return followup.owner_form(engine, token)
    except access.LinkExpired:
        raise PageError(410, EXPIRED) from None
    except access.LinkNotFound:
        raise PageError(404, NOT_FOUND) from None


def _owner_page(
    request: Request,
    form: followup.OwnerForm,
    *,
    error: str = "",
    report: str = "",
    saved: bool = False,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "followup_owner.html",
        {"form": form, "entry": form.entry, "error": error, "report": report, "saved": saved},
        status_code=status_code,
    )


@router.get("/uppdrag/{token}")
def owner_page(request: Request, engine: EngineDep, token: str, sparat: str = "") -> Response:
    """The assignment, and a form to report it done."""
    form = _owner_form(engine, token)
    return _owner_page(request, form, saved=sparat == "1")


@router.post("/uppdrag/{token}", dependencies=[CsrfChecked])
async def owner_done(
    request: Request,
    engine: EngineDep,
    token: str,
    report: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    try:
        await run_in_threadpool(followup.mark_done_by_link, engine, token, report=report)
    except access.LinkExpired:
        raise PageError(410, EXPIRED) from None
    except access.LinkNotFound:
        raise PageError(404, NOT_FOUND) from None
    except followup.FollowupError as exc:
        form = await run_in_threadpool(_owner_form, engine, token)
        return _owner_page(
            request,
            form,
            error=exc.message_sv,
            report=report,
            status_code=422 if exc.status == 422 else 409,
        )
    return RedirectResponse(f"/uppdrag/{token}?sparat=1", status_code=303)
