"""Pages of the outbox: messages and their delivery attempts, and "send again" for the dead."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import func
from sqlmodel import col, select

from casework import outbox
from casework.accounts import Identity
from casework.db import unit_of_work
from casework.model import (
    Member,
    Notification,
    NotificationAttempt,
    NotificationStatus,
    StaffRole,
)
from casework.web.deps import (
    STAFF_ROLES,
    CsrfChecked,
    EngineDep,
    PageError,
    render,
    require_page_role,
)

router = APIRouter()

Staff = Annotated[Identity, Depends(require_page_role(*STAFF_ROLES))]
Secretary = Annotated[Identity, Depends(require_page_role(StaffRole.secretary, StaffRole.chair))]
PAGE_SIZE = 50
STATUS_LABELS = {
    NotificationStatus.pending: "Väntar",
    NotificationStatus.sent: "Skickat",
    NotificationStatus.dead: "Kunde inte skickas",
}


@router.get("/utskick")
def outbox_list(
    request: Request,
    engine: EngineDep,
    identity: Secretary,
    status: Annotated[NotificationStatus, Query()] = NotificationStatus.dead,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    with unit_of_work(engine, write=False) as session:
        counts = dict(
            session.exec(
                select(Notification.status, func.count()).group_by(col(Notification.status))
            ).all()
        )
        rows = session.exec(
            select(Notification)
            .where(Notification.status == status)
            .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        ).all()
    return render(
        request,
        "outbox.html",
        {
            "status": status,
            "statuses": STATUS_LABELS,
            "counts": {s: counts.get(s, 0) for s in NotificationStatus},
            "rows": rows[:PAGE_SIZE],
            "page": page,
            "more": len(rows) > PAGE_SIZE,
        },
    )


@router.get("/utskick/{notification_id}")
def outbox_message(
    request: Request, engine: EngineDep, identity: Secretary, notification_id: int
) -> Response:
    with unit_of_work(engine, write=False) as session:
        row = session.get(Notification, notification_id)
        if row is None:
            raise PageError(404, "Meddelandet finns inte.")
        attempts = session.exec(
            select(NotificationAttempt)
            .where(NotificationAttempt.notification_id == notification_id)
            .order_by(col(NotificationAttempt.at))
        ).all()
    return render(
        request,
        "outbox_message.html",
        {"row": row, "attempts": attempts, "statuses": STATUS_LABELS},
    )


@router.post("/utskick/{notification_id}/skicka-igen", dependencies=[CsrfChecked])
def outbox_send_again(engine: EngineDep, identity: Secretary, notification_id: int) -> Response:
    try:
        outbox.send_again(engine, notification_id, actor=identity.email)
    except outbox.NotificationNotFound:
        raise PageError(404, "Meddelandet finns inte.") from None
    return RedirectResponse(f"/utskick/{notification_id}?skickas=1", status_code=303)


def _preferences_page(
    request: Request,
    member: Member | None,
    *,
    kinds: set[str],
    digest: bool,
    addresses: str,
    error: outbox.PreferenceError | None = None,
    saved: bool = False,
) -> Response:
    return render(
        request,
        "preferences.html",
        {
            "member": member,
            "labels": outbox.MEMBER_MESSAGE_KINDS,
            "mandatory": outbox.MANDATORY_KINDS,
            "kinds": kinds,
            "digest": digest,
            "addresses": addresses,
            "error": error,
            "saved": saved,
        },
        status_code=422 if error else 200,
    )


@router.get("/mina-meddelanden")
def preferences_form(request: Request, engine: EngineDep, identity: Staff) -> Response:
    with unit_of_work(engine, write=False) as session:
        member = outbox.member_by_email(session, identity.email)
    if member is None:
        return _preferences_page(request, None, kinds=set(), digest=False, addresses="")
    chosen = member.notification_kinds
    return _preferences_page(
        request,
        member,
        kinds=set(outbox.MEMBER_MESSAGE_KINDS if chosen is None else chosen),
        digest=member.digest,
        addresses="\n".join(member.notification_addresses),
        saved=request.query_params.get("sparat") == "1",
    )


@router.post("/mina-meddelanden", dependencies=[CsrfChecked])
def preferences_save(
    request: Request,
    engine: EngineDep,
    identity: Staff,
    kinds: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies form defaults)
    delivery: Annotated[str, Form(max_length=20)] = "var-for-sig",
    addresses: Annotated[str, Form(max_length=6000)] = "",
) -> Response:
    with unit_of_work(engine, write=False) as session:
        member = outbox.member_by_email(session, identity.email)
    if member is None or member.id is None:
        raise PageError(404, "Ditt konto är inte kopplat till någon ledamot.")
    chosen = set(kinds) | outbox.MANDATORY_KINDS
    every = chosen >= outbox.MEMBER_MESSAGE_KINDS.keys()
    digest = delivery == "sammanfattning"
    try:
        outbox.set_preferences(
            engine,
            member.id,
            kinds=None if every else sorted(chosen),
            digest=digest,
            addresses=addresses.splitlines(),
            actor=identity.email,
        )
    except outbox.PreferenceError as error:
        return _preferences_page(
            request, member, kinds=chosen, digest=digest, addresses=addresses, error=error
        )
    return RedirectResponse("/mina-meddelanden?sparat=1", status_code=303)
