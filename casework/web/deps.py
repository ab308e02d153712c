"""What the routes share: templates, the database, the signed-in identity, CSRF, rate limits."""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

import rules
from casework import accounts, rate_limits
from casework.accounts import Identity
from casework.calendar import STOCKHOLM, long_date
from casework.db import WriteLockBusy, writes_without_waiting
from casework.lifecycle import STATE_LABELS
from casework.model import Attachment, StaffRole
from casework.settings import Settings
from casework.web.turns import loop_turns, turns_for

SESSION_COOKIE = "samverkan_session"
CSRF_COOKIE = "samverkan_csrf"
CSRF_FIELD = "csrf_token"

log = logging.getLogger("samverkan.web")

templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
templates.env.globals["STATE_LABELS"] = STATE_LABELS


def local_time(moment: datetime | None) -> str:
    """A stored UTC time as people in Blekinge read it: 2026-03-02 10:00."""
    return moment.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M") if moment else ""


templates.env.filters["localtime"] = local_time
templates.env.filters["datum"] = long_date


class PageError(StarletteHTTPException):
    """An error page whose Swedish message is shown to the person as it is."""


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def app_state(request: Request) -> tuple[Engine, rules.RuleSet, Settings]:
    """The application's engine, rule set and settings, without a dependency each."""
    state = request.app.state
    return state.engine, state.rules, state.settings


async def get_rules(request: Request) -> rules.RuleSet:
    rule_set: rules.RuleSet = request.app.state.rules
    return rule_set


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


EngineDep = Annotated[Engine, Depends(get_engine)]

T = TypeVar("T")


async def run_submission(
    engine: Engine,
    work: Callable[[], T],
    *,
    without_waiting: Callable[[], T] | None = None,
) -> T:
    """Run a submission (`services.submit_case`): on the event loop itself when it can be
    done without waiting, else in the engine's submission thread, one at a time per engine
    in this process, first come first served, the others waiting on the event loop.

    `without_waiting`, when given, is the same submission told not to wait for the write
    lock (`services.submit_case(…, wait=False)`), and must do nothing else that waits (no
    files to write). It runs on the event loop when `db.writes_without_waiting(engine)`
    (a SQLite file with `synchronous=NORMAL`) and no submission is queued in the thread:
    in the loop's own queue, one submission per turn of the loop (`turns.LoopTurns`). If
    by its turn one has been queued in the thread, or another writer holds the lock
    (`WriteLockBusy`, nothing written), the submission is queued as `work` instead. On
    the event loop a submission costs about a millisecond of CPU and no thread hand-over:
    two threads taking turns for the interpreter's lock cost each other more than that
    (see bench/README.md, JSON API).

    Submissions take turns in the database anyway: on SQLite for the file's write lock,
    on PostgreSQL for the year's reference counter (`casework.one_statement`).
    """
    turns = turns_for(engine)
    if without_waiting is not None and not turns.busy and writes_without_waiting(engine):

        def unless_queued() -> T:
            # Queued in the thread meanwhile: after those, in the thread, as the rest.
            if turns.busy:
                raise WriteLockBusy("a submission is queued in the thread")
            return without_waiting()

        try:
            return await loop_turns().run(unless_queued)
        except WriteLockBusy:
            pass
    return await turns.run(work)


RulesDep = Annotated[rules.RuleSet, Depends(get_rules)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


# The dependencies below are `async def` so that FastAPI calls them on the event loop
# instead of handing each to the thread pool; only a lookup that misses the identity
# cache goes to a thread.


async def current_identity(request: Request, engine: EngineDep) -> Identity | None:
    """The person signed in through the session cookie, or None."""
    cached: Identity | None = getattr(request.state, "identity", None)
    if cached is not None:
        return cached
    token = request.cookies.get(SESSION_COOKIE)
    identity = None
    if token:
        identity = accounts.cached_session_identity(engine, token)
        if identity is None:
            identity = await run_in_threadpool(accounts.session_identity, engine, token)
    request.state.identity = identity
    return identity


async def bearer_identity(request: Request) -> Identity | None:
    """The API caller's identity from `Authorization: Bearer …`, or None when absent."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        return None
    engine: Engine = request.app.state.engine
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(
            401, "use Authorization: Bearer <token>", {"WWW-Authenticate": "Bearer"}
        )
    identity = accounts.cached_token_identity(engine, token)
    if identity is None:
        identity = await run_in_threadpool(accounts.token_identity, engine, token)
    if identity is None:
        raise HTTPException(401, "unknown or revoked token", {"WWW-Authenticate": "Bearer"})
    return identity


IdentityDep = Annotated[Identity | None, Depends(current_identity)]
BearerDep = Annotated[Identity | None, Depends(bearer_identity)]


def require_page_role(*roles: StaffRole) -> Callable[..., Awaitable[Identity]]:
    """A page dependency: signed in (else to the sign-in page) with one of `roles` (else 403)."""

    async def check(identity: IdentityDep) -> Identity:
        if identity is None:
            raise HTTPException(401)
        if not identity.has(*roles):
            raise PageError(403, "Ditt konto saknar behörighet till den här sidan.")
        return identity

    return check


def require_api_role(*roles: StaffRole) -> Callable[..., Awaitable[Identity]]:
    """An API dependency: a valid bearer token (else 401) with one of `roles` (else 403)."""

    async def check(identity: BearerDep) -> Identity:
        if identity is None:
            raise HTTPException(
                401,
                "staff only: send Authorization: Bearer <token>",
                {"WWW-Authenticate": "Bearer"},
            )
        if not identity.has(*roles):
            raise HTTPException(403, f"needs one of the roles: {', '.join(roles)}")
        return identity

    return check


STAFF_ROLES = tuple(StaffRole)
TRIAGE_ROLES = (StaffRole.beredning,)


# --- CSRF: a double-submit token in an HttpOnly, SameSite=Strict cookie --------------------


def csrf_token(request: Request) -> str:
    """The token to put in a form's hidden field; `set_csrf_cookie` stores it if new."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = accounts.new_token()
        request.state.new_csrf = token
    return token


def set_csrf_cookie(request: Request, response: Response, settings: Settings) -> None:
    new = getattr(request.state, "new_csrf", None)
    if new:
        response.set_cookie(
            CSRF_COOKIE,
            new,
            httponly=True,
            secure=settings.secure_cookies,
            samesite="strict",
            path="/",
        )


async def verify_csrf(request: Request) -> None:
    """Refuse a form post whose token does not match the cookie."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    cookie = request.cookies.get(CSRF_COOKIE)
    if not isinstance(sent, str) or not cookie or not hmac.compare_digest(sent, cookie):
        raise PageError(
            403,
            "Formuläret hade gått ut eller kom inte från den här webbplatsen. "
            "Ladda om sidan och försök igen.",
        )


CsrfChecked = Depends(verify_csrf)


def render(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> Response:
    """A page with the CSRF token and the signed-in person available to the template."""
    settings: Settings = request.app.state.settings
    context = {
        "csrf_token": csrf_token(request),
        "identity": getattr(request.state, "identity", None),
        **context,
    }
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    set_csrf_cookie(request, response, settings)
    return response


# --- rate limiting of anonymous submissions ---------------------------------------------


class RateLimiter:
    """Anonymous submissions per client: `per_minute` in any minute, in the database.

    Every web process on the same database shares the count (`casework.rate_limits`: a
    one-minute window, the previous minute weighted in). A submission takes its hit in
    its own transaction (`services.submit_case(quota=…)`).
    """

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.rate = rate_limits.RateLimit(SUBMISSION_SCOPE, per_minute, timedelta(minutes=1))

    def quota(self, client: str) -> rate_limits.Quota:
        """The client's allowance, to take inside a unit of work."""
        return rate_limits.Quota(self.rate, self.rate.key(client))


SUBMISSION_SCOPE = "submission"


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def submission_quota(request: Request) -> rate_limits.Quota:
    """The anonymous caller's submission allowance, for `services.submit_case(quota=…)`."""
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter.quota(client_address(request))


def too_many_submissions() -> HTTPException:
    """The 429 answer to a client over its submission limit."""
    return HTTPException(
        429,
        "too many submissions from this client: wait a minute and try again",
        {"Retry-After": "60"},
    )


# --- documents -------------------------------------------------------------------------

_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def download_type(declared: str) -> str:
    """The stored media type, if it is a plain one; otherwise a neutral download type."""
    declared = declared.strip().lower()
    return declared if _MEDIA_TYPE.match(declared) else "application/octet-stream"


def attachment_response(attachment: Attachment, data_dir: Path, *, missing: str) -> Response:
    """A document as a download, from inside the data directory only.

    `missing` is the Swedish message of the 404 page when the file is not on disk.
    """
    root = Path(data_dir).resolve()
    path = (root / attachment.storage_path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        log.error("attachment %s of case %s is missing on disk", attachment.id, attachment.case_id)
        raise PageError(404, missing)
    return FileResponse(
        path,
        media_type=download_type(attachment.content_type),
        filename=attachment.filename,
        content_disposition_type="attachment",
    )
