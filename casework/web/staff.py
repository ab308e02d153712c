"""Routes: the staff pages – sign-in, the triage queue and the case page with its actions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import Engine

import rules
from casework import accounts, agenda, queue, rate_limits, repository, services
from casework.accounts import Identity
from casework.calendar import local_date
from casework.db import unit_of_work
from casework.lifecycle import (
    ACTION_LABELS,
    STATE_LABELS,
    TRANSITIONS,
    Action,
    IllegalTransition,
    State,
)
from casework.model import Attachment, AuditEvent, Case, StaffRole, utcnow
from casework.web.deps import (
    SESSION_COOKIE,
    STAFF_ROLES,
    CsrfChecked,
    EngineDep,
    IdentityDep,
    PageError,
    RulesDep,
    SettingsDep,
    attachment_response,
    client_address,
    local_time,
    render,
    require_page_role,
)
from rules.facts import TARGET_GROUPS, TargetGroup

router = APIRouter()

Triager = Annotated[Identity, Depends(require_page_role(StaffRole.beredning))]
Staff = Annotated[Identity, Depends(require_page_role(*STAFF_ROLES))]

DEFAULT_NEXT = "/beredning"
WRONG_CREDENTIALS = "Fel e-postadress eller lösenord."
TOO_MANY_FAILURES = (
    "För många misslyckade inloggningar med den här e-postadressen. Vänta en kvart och försök igen."
)
CASE_CHANGED = "Ärendet har ändrats av någon annan – ladda om sidan."

TARGET_GROUP_LABELS: Mapping[TargetGroup, str] = {
    "barn_unga": "Barn och unga",
    "vuxna": "Vuxna",
    "aldre": "Äldre",
}
LEAD_GROUPS = services.SAMVERKANSGRUPP_OF
KIND_LABELS = {
    "beslut": "Beslut (B)",
    "information": "Information (I)",
    "diskussion": "Diskussion (D)",
}
URGENCY_LABELS: Mapping[queue.Urgency, str] = {
    queue.Urgency.overdue: "Passerat",
    queue.Urgency.due_soon: "Snart",
    queue.Urgency.normal: "",
    queue.Urgency.no_deadline: "",
}
# Audit actions that are not lifecycle actions.
EVENT_LABELS = {
    "submit": "Anmälan registrerad",
    "attach": "Bilaga tillagd",
    "unschedule": "Borttaget från dagordningen",
    "agenda_reordered": "Dagordningens ordning ändrad",
    "agenda_item_removed": "Punkt borttagen från dagordningen",
    "written_view": "Skriftliga synpunkter lämnade",
}
AUDIT_FIELD_LABELS = {
    "status": "Status",
    "destination": "Mottagare",
    "lead_group": "Ansvarig grupp",
    "filename": "Filnamn",
    "size": "Storlek (byte)",
    "sha256": "SHA-256",
    "meeting_id": "Möte",
    "meeting_date": "Mötesdatum",
    "group": "Grupp",
    "override": "Undantag från sista dag för anmälan",
    "late": "Flyttat till ett senare möte",
    "information_meetings": "Som information på möten",
    "agenda_item_id": "Punkt på dagordningen",
    "member_id": "Ledamot",
    "text": "Text",
}
# Which lifecycle action each triage action needs, to offer only what the status allows.
TRIAGE_NEEDS: Mapping[str, tuple[Action, ...]] = {
    "accept": (Action.route,),
    "reroute": (Action.route, Action.reroute),
    "return": (Action.return_for_completion,),
    "withdraw": (Action.withdraw,),
}
DONE_MESSAGES = {
    "return": "Ärendet har återsänts till anmälaren för komplettering.",
    "withdraw": "Ärendet har återtagits.",
    "schedule": "Ärendet har satts upp på mötets dagordning.",
}


# --- sign-in and sign-out ----------------------------------------------------------------


class SignInThrottle:
    """Failed sign-ins per e-mail address and client address, counted in the database.

    `failures` failed attempts for the same (e-mail address, client address) within about
    `window_seconds` block further attempts for that pair, even with the right password;
    a successful sign-in clears the pair's count. Every web process on the database
    counts the same failures (`casework.rate_limits`: fixed windows with the previous one
    weighted in, a sliding approximation). The key is stored as a hash.
    """

    def __init__(self, engine: Engine, *, failures: int = 5, window_seconds: float = 900) -> None:
        self.engine = engine
        self.failures = failures
        self.window = window_seconds
        self.rate = rate_limits.RateLimit(
            SIGN_IN_SCOPE, failures, timedelta(seconds=window_seconds)
        )

    @property
    def retry_after(self) -> int:
        return self.rate.retry_after

    def _key(self, key: tuple[str, str]) -> str:
        return self.rate.key(*key)

    def blocked(self, key: tuple[str, str], *, now: datetime | None = None) -> bool:
        with unit_of_work(self.engine, write=False) as session:
            seen = rate_limits.count(session, self.rate, self._key(key), now or utcnow())
        return seen >= self.failures

    def failed(self, key: tuple[str, str], *, now: datetime | None = None) -> None:
        with unit_of_work(self.engine) as session:
            rate_limits.hit(session, self.rate, self._key(key), now or utcnow())

    def succeeded(self, key: tuple[str, str]) -> None:
        with unit_of_work(self.engine) as session:
            rate_limits.forget(session, self._key(key))


SIGN_IN_SCOPE = "sign-in"


def sign_in_throttle(request: Request) -> SignInThrottle:
    """The throttle on the application's database (it keeps nothing in the process)."""
    return SignInThrottle(request.app.state.engine)


def safe_next(target: str) -> str | None:
    """`target` if it is a path on this site, else None (no open redirects)."""
    if not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers read a backslash as a slash ("/\\evil.example"); control characters never belong.
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    return target


@router.get("/logga-in")
def sign_in_page(
    request: Request,
    identity: IdentityDep,
    next_path: Annotated[str, Query(alias="next")] = "",
) -> Response:
    return render(request, "login.html", {"next": safe_next(next_path) or "", "email": ""})


@router.post("/logga-in", dependencies=[CsrfChecked])
def sign_in(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    identity: IdentityDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2000)] = "",
) -> Response:
    throttle = sign_in_throttle(request)
    key = (accounts.normalise_email(email), client_address(request))
    context = {"next": safe_next(next_path) or "", "email": email}
    if throttle.blocked(key):
        response = render(
            request, "login.html", {**context, "error": TOO_MANY_FAILURES}, status_code=429
        )
        response.headers["Retry-After"] = str(throttle.retry_after)
        return response
    found = accounts.authenticate(engine, email=email, password=password) if email else None
    if found is None:
        throttle.failed(key)
        return render(
            request, "login.html", {**context, "error": WRONG_CREDENTIALS}, status_code=400
        )
    throttle.succeeded(key)
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        accounts.end_session(engine, old)
    token = accounts.start_session(engine, user_id=found.user_id)
    response = RedirectResponse(safe_next(next_path) or DEFAULT_NEXT, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(accounts.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
        path="/",
    )
    return response


@router.post("/logga-ut", dependencies=[CsrfChecked])
def sign_out(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        accounts.end_session(engine, token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=settings.secure_cookies, httponly=True, samesite="lax"
    )
    return response


# --- the triage queue --------------------------------------------------------------------


def local_today() -> date:
    return local_date(datetime.now(UTC))


@router.get("/beredning")
def queue_page(
    request: Request,
    engine: EngineDep,
    rule_set: RulesDep,
    identity: Triager,
    status: str = "",
    mottagare: str = "",
    malgrupp: str = "",
    q: Annotated[str, Query(max_length=200)] = "",
    sida: str = "1",
) -> Response:
    destinations = rule_set.definition.destinations
    filters = queue.QueueFilters(
        status=State(status) if status in queue.FILTER_STATUSES else None,
        destination=mottagare if mottagare in destinations else None,
        target_group=_target_group(malgrupp),
        q=q.strip(),
        page=int(sida) if sida.isdigit() and 0 < int(sida) < 1_000_000 else 1,
    )
    page = queue.list_queue(engine, filters, rule_destinations=destinations, today=local_today())
    chosen = {
        "status": filters.status.value if filters.status else "",
        "mottagare": filters.destination or "",
        "malgrupp": filters.target_group or "",
        "q": filters.q,
    }
    kept = {name: value for name, value in chosen.items() if value}
    return render(
        request,
        "queue.html",
        {
            "page": page,
            "chosen": chosen,
            "filtered": bool(kept),
            "page_url": lambda n: "/beredning?" + urlencode({**kept, "sida": n}),
            "page_numbers": page_numbers(page.page, page.pages),
            "statuses": queue.FILTER_STATUSES,
            "destinations": destinations,
            "target_groups": TARGET_GROUP_LABELS,
            "urgency_labels": URGENCY_LABELS,
        },
    )


def page_numbers(current: int, pages: int, *, around: int = 2) -> list[int | None]:
    """The page links to show: the first, the last and those near `current`; None is a gap."""
    shown: list[int | None] = []
    for n in range(1, pages + 1):
        if n in (1, pages) or abs(n - current) <= around:
            shown.append(n)
        elif shown[-1] is not None:
            shown.append(None)
    return shown


def _target_group(value: str) -> TargetGroup | None:
    for group in TARGET_GROUPS:
        if value == group:
            return group
    return None


# --- the case page -----------------------------------------------------------------------


@dataclass(frozen=True)
class CaseView:
    """What the case page shows, read in one transaction."""

    case: Case
    attachments: list[Attachment]
    events: list[AuditEvent]


def load_case(engine: Engine, case_id: int) -> CaseView:
    with unit_of_work(engine, write=False) as session:
        case = repository.get_case(session, case_id=case_id)
        if case is None:
            raise PageError(404, "Det finns inget ärende med det numret.")
        return CaseView(
            case,
            repository.list_attachments(session, case_id=case_id),
            repository.list_audit_events(session, case_id=case_id),
        )


def lead_group_options(case: Case) -> list[str]:
    """The samverkansgrupper a case touches, when it touches more than one."""
    groups = [LEAD_GROUPS[g] for g in case.routed_groups if g in LEAD_GROUPS]
    return groups if len(groups) >= 2 else []


def triage_actions(case: Case) -> list[str]:
    """The triage actions the case's status allows."""
    return [
        action
        for action, needs in TRIAGE_NEEDS.items()
        if any(case.status in TRANSITIONS[need].sources for need in needs)
    ]


def file_size(size: int) -> str:
    """10 byte, 12,5 kB, 3,1 MB: Swedish decimal commas."""
    if size < 1024:
        return f"{size} byte"
    value, unit = (size / 1024, "kB") if size < 1024 * 1024 else (size / 1024 / 1024, "MB")
    return f"{value:.1f} {unit}".replace(".", ",")


def event_label(action: str) -> str:
    if action in EVENT_LABELS:
        return EVENT_LABELS[action]
    try:
        return ACTION_LABELS[Action(action)]
    except ValueError:
        return action


def describe_value(key: str, value: Any, destinations: Mapping[str, str]) -> str:
    """An audit value as a person reads it: Swedish state labels, body names."""
    if value is None or value == "":
        return "–"
    if key == "status" and value in State.__members__:
        return STATE_LABELS[State(value)]
    if key in ("destination", "lead_group") and isinstance(value, str):
        return destinations.get(value, value)
    if isinstance(value, bool):
        return "ja" if value else "nej"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "–"
    return str(value)


@dataclass(frozen=True)
class Change:
    label: str
    before: str
    after: str


def changes(event: AuditEvent, destinations: Mapping[str, str]) -> list[Change]:
    """What an event changed; for events without a before-state, the new values."""
    before = event.before or {}
    after = event.after or {}
    if not before:
        shown: list[str] = [k for k in ("status", "destination") if k in after] or list(after)
        return [
            Change(AUDIT_FIELD_LABELS.get(k, k), "", describe_value(k, after[k], destinations))
            for k in shown
        ]
    keys = list(dict.fromkeys([*before, *after]))
    return [
        Change(
            AUDIT_FIELD_LABELS.get(k, k),
            describe_value(k, before.get(k), destinations),
            describe_value(k, after.get(k), destinations),
        )
        for k in keys
        if before.get(k) != after.get(k)
    ]


@dataclass(frozen=True)
class StatusStep:
    at: str
    before: str
    after: str
    actor: str
    action: str


def status_history(events: list[AuditEvent]) -> list[StatusStep]:
    steps = []
    for event in events:
        before = (event.before or {}).get("status")
        after = (event.after or {}).get("status")
        if after is None or before == after:
            continue
        steps.append(
            StatusStep(
                local_time(event.at),
                STATE_LABELS[State(before)] if before else "–",
                STATE_LABELS[State(after)],
                event.actor,
                event_label(event.action),
            )
        )
    return steps


def done_message(done: str, case: Case, destinations: Mapping[str, str]) -> str | None:
    if done in ("accept", "reroute"):
        message = (
            f"Ärendet har fördelats till {destinations.get(case.destination, case.destination)}."
        )
        if case.lead_group:
            message += f" Ansvarig grupp: {destinations.get(case.lead_group, case.lead_group)}."
        return message
    return DONE_MESSAGES.get(done)


def case_page(
    request: Request,
    engine: Engine,
    rule_set: rules.RuleSet,
    identity: Identity,
    case_id: int,
    *,
    status_code: int = 200,
    done: str = "",
    form: str = "",
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    problem: str = "",
) -> Response:
    view = load_case(engine, case_id)
    case = view.case
    destinations = rule_set.definition.destinations
    target = services.target_meeting(
        engine, group_slug=case.destination, submitted_at=case.created_at
    )
    placement = None
    if case.status in (State.routed, State.scheduled) and agenda.may_manage(
        identity, agenda.agenda_group(case)
    ):
        placement = agenda.placement_options(engine, case_id, today=local_today())
    return render(
        request,
        "case.html",
        {
            "case": case,
            "attachments": view.attachments,
            "events": [
                (e, local_time(e.at), event_label(e.action), changes(e, destinations))
                for e in view.events
            ],
            "history": status_history(view.events),
            "destinations": destinations,
            "target": target,
            "kind_labels": [KIND_LABELS[k] for k in case.kinds],
            "target_group_labels": TARGET_GROUP_LABELS,
            "local_time": local_time,
            "file_size": file_size,
            "can_triage": identity.has(StaffRole.beredning),
            "triage_actions": triage_actions(case),
            "triage_labels": services.TRIAGE_LABELS,
            "lead_groups": lead_group_options(case),
            "done": done_message(done, case, destinations) if status_code == 200 else None,
            "form": form,
            "values": values or {},
            "errors": errors or {},
            "problem": problem,
            "version": case.updated_at.isoformat(),
            "placement": placement,
        },
        status_code=status_code,
    )


@router.get("/arenden/{case_id}")
def show_case(
    request: Request,
    case_id: int,
    engine: EngineDep,
    rule_set: RulesDep,
    identity: Staff,
    klart: str = "",
) -> Response:
    return case_page(request, engine, rule_set, identity, case_id, done=klart)


@router.get("/arenden/{case_id}/bilagor/{attachment_id}")
def download_attachment(
    case_id: int, attachment_id: int, engine: EngineDep, settings: SettingsDep, identity: Staff
) -> Response:
    with unit_of_work(engine, write=False) as session:
        attachments = repository.list_attachments(session, case_id=case_id)
    attachment = next((a for a in attachments if a.id == attachment_id), None)
    if attachment is None:
        raise PageError(404, "Bilagan finns inte.")
    return attachment_response(
        attachment,
        settings.data_dir,
        missing="Bilagans fil saknas. Kontakta den som sköter systemet.",
    )


@router.post("/arenden/{case_id}/triage", dependencies=[CsrfChecked])
def triage_case(
    request: Request,
    case_id: int,
    engine: EngineDep,
    rule_set: RulesDep,
    identity: Triager,
    action: Annotated[str, Form(max_length=32)] = "",
    destination: Annotated[str, Form(max_length=64)] = "",
    lead_group: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=5000)] = "",
    version: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    typed = {"destination": destination, "lead_group": lead_group, "reason": reason}

    def again(status_code: int, **kw: Any) -> Response:
        return case_page(
            request,
            engine,
            rule_set,
            identity,
            case_id,
            status_code=status_code,
            form=action,
            values=typed,
            **kw,
        )

    # A page older than the case: acting on it could undo what someone else just did.
    try:
        shown_version = datetime.fromisoformat(version) if version else None
    except ValueError:
        shown_version = None
    if version and shown_version is None:
        return again(409, problem=CASE_CHANGED)
    try:
        services.triage(
            engine,
            case_id,
            action,
            actor=identity.email,
            destinations=list(rule_set.destinations),
            destination=destination or None,
            lead_group=lead_group or None,
            reason=reason,
            expected_updated_at=shown_version,
        )
    except services.TriageError as exc:
        return again(422, errors={exc.field or "action": exc.message_sv})
    except services.CaseChanged:
        return again(409, problem=CASE_CHANGED)
    except IllegalTransition as exc:
        label = services.TRIAGE_LABELS.get(action, action)
        return again(
            409,
            problem=f"Åtgärden ”{label}” går inte att använda när ärendet har status "
            f"”{STATE_LABELS[exc.state]}”.",
        )
    except services.CaseNotFound:
        raise PageError(404, "Det finns inget ärende med det numret.") from None
    return RedirectResponse(f"/arenden/{case_id}?klart={action}", status_code=303)
