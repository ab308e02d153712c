"""The JSON API: submit cases, read them and triage them (documented at /docs)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Coroutine
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import (
    APIRouter,
    Body,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    Security,
)
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine

from casework import queue, repository, services
from casework.accounts import Identity
from casework.calendar import STOCKHOLM
from casework.db import unit_of_work
from casework.lifecycle import IllegalTransition, State
from casework.model import AttachmentPublic, AuditEventPublic, CaseCreate, CasePublic
from casework.personnummer import find_identity_numbers, mask
from casework.rate_limits import RateLimited
from casework.web.deps import (
    STAFF_ROLES,
    TRIAGE_ROLES,
    BearerDep,
    EngineDep,
    RulesDep,
    app_state,
    bearer_identity,
    require_api_role,
    run_submission,
    submission_quota,
    too_many_submissions,
)
from casework.web.public import submitter_actor
from rules import UnknownGroup
from rules.facts import TargetGroup

# Documents the bearer scheme in OpenAPI; the token itself is checked by `require_api_role`.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="staffToken",
    description="A staff account's API token. Only its SHA-256 is stored on the server.",
)

router = APIRouter(prefix="/api", dependencies=[Security(bearer_scheme)])
Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Response]])

# The width of audit_events.actor; a submitter's e-mail address may be longer.
# The largest id PostgreSQL's INTEGER column holds; larger ones cannot name a case.
MAX_ID = 2**31 - 1
CaseId = Annotated[int, Path(ge=1, le=MAX_ID, description="The case's numeric id.")]
# An Idempotency-Key: 1–200 printable ASCII characters.
IDEMPOTENCY_KEY_CHARACTER = r"[\x20-\x7e]"
IDEMPOTENCY_KEY_MAX_LENGTH = 200
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
        pattern=f"^{IDEMPOTENCY_KEY_CHARACTER}+$",
        description=(
            "Makes a retried submission safe: 1–200 printable ASCII characters, "
            "for example a UUID the client makes for each new case."
        ),
    ),
]
StaffIdentity = Annotated[Identity, Security(require_api_role(*STAFF_ROLES))]
TriageIdentity = Annotated[Identity, Security(require_api_role(*TRIAGE_ROLES))]


class ErrorMessage(BaseModel):
    """An error that is not about one input field."""

    detail: str = Field(examples=["no case with id 4711"])


class FieldError(BaseModel):
    loc: list[str | int] = Field(examples=[["body", "description"]])
    msg: str
    type: str


class FieldErrors(BaseModel):
    """What was wrong with which input field; the input itself is never echoed."""

    detail: list[FieldError]


class SubmissionReceipt(BaseModel):
    """Where a submitted case went, and the submitter's private link to follow it."""

    id: int = Field(examples=[42])
    reference: str = Field(examples=["SB-2026-0042"])
    status: State = Field(examples=[State.submitted])
    destination: str = Field(
        description="The body the rules routed the case to.", examples=["sg-aldre"]
    )
    requires_endorsement: bool = Field(
        description="True when each organisation's own decision body must back the proposal."
    )
    explanation: str = Field(description="Why the rules chose the destination, in Swedish.")
    status_url: str = Field(
        description=(
            "The submitter's private page for the case. It holds a secret token: "
            "give it to the submitter only."
        ),
        examples=["https://samverkan.example.se/s/3q2-7wE…"],
    )


class CaseDetail(CasePublic):
    """A case with its documents and its audit trail, oldest event first."""

    attachments: list[AttachmentPublic]
    audit_events: list[AuditEventPublic]


TriageAction = Literal["accept", "reroute", "return", "withdraw"]


class TriageRequest(BaseModel):
    """The preparation group's decision on a case in the triage queue."""

    model_config = ConfigDict(extra="forbid")

    action: TriageAction = Field(
        description=(
            "accept: route to the suggested destination; reroute: route to `destination` "
            "(needs `reason`); return: send back to the submitter for completion (`reason` "
            "is the message saying what to complete); withdraw."
        )
    )
    destination: str | None = Field(
        default=None,
        max_length=64,
        description="With reroute only: a destination of the rule set.",
        examples=["lsvo"],
    )
    lead_group: str | None = Field(
        default=None,
        max_length=64,
        description="With accept or reroute: the samverkansgrupp that leads the case.",
        examples=["sg-vuxna"],
    )
    reason: str = Field(default="", max_length=20_000)
    expected_updated_at: AwareDatetime | None = Field(
        default=None,
        description=(
            "The case's `updated_at` as the caller read it: if the case has changed since, "
            "nothing is done and the answer is 409."
        ),
    )


QueueStatus = Literal["submitted", "in_triage", "routed", "returned", "withdrawn"]


class QueueItem(BaseModel):
    """A case in the triage queue with what the preparation group needs to judge it."""

    case: CasePublic
    destination_name: str = Field(
        description="The Swedish name of the suggested destination.",
        examples=["Samverkansgrupp Äldre"],
    )
    working_days_waiting: int = Field(
        description="Swedish working days since the submission, in Europe/Stockholm."
    )
    target_meeting: date | None = Field(
        description="The destination's first meeting whose submission deadline the case met."
    )
    next_deadline: date | None = Field(description="That meeting's submission deadline.")
    urgency: queue.Urgency = Field(
        description=(
            "overdue: the deadline has passed; due_soon: at most "
            f"{queue.DUE_SOON_WORKING_DAYS} working days left; normal; no_deadline: the "
            "destination has no meeting planned."
        )
    )


class QueuePagePublic(BaseModel):
    """One page of the triage queue, earliest deadline first, then the oldest submission."""

    items: list[QueueItem]
    total: int = Field(description="Cases matching the filters, on all pages.")
    page: int = Field(description="This page; a page past the end gives the last page.")
    pages: int
    per_page: int


SUBMISSION_EXAMPLES: dict[str, Any] = {
    "one target group": {
        "summary": "A case for one samverkansgrupp",
        "value": {
            "title": "Trygg och säker utskrivning från sjukhus",
            "description": "Rutinen för utskrivning till hemsjukvården behöver ses över.",
            "kind": "beslut",
            "target_groups": ["aldre"],
            "submitter_name": "Anna Andersson",
            "submitter_email": "anna.andersson@example.se",
            "submitter_organisation": "Karlskrona kommun",
            "presenter": "Anna Andersson",
            "proposed_decision": "att fastställa den reviderade rutinen",
        },
    },
    "resources": {
        "summary": "A request for extended resources",
        "value": {
            "title": "Länssamordnare för nära vård",
            "description": "Behov av en kommungemensam resurs på 50 %.",
            "kind": "B",
            "requests_resources": True,
            "submitter_name": "Bo Berg",
            "submitter_email": "bo.berg@example.se",
        },
    },
}

UNAUTHORISED: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorMessage,
        "description": "No bearer token, or an unknown or revoked one (WWW-Authenticate: Bearer).",
    },
}
BAD_BODY: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorMessage, "description": "The body could not be parsed as JSON."},
}
STAFF_ERRORS: dict[int | str, dict[str, Any]] = {
    **UNAUTHORISED,
    403: {"model": ErrorMessage, "description": "The token's account lacks the role needed."},
    404: {"model": ErrorMessage, "description": "No case with that id."},
}


# An Idempotency-Key as `IdempotencyKey` accepts it.
_PLAIN_IDEMPOTENCY_KEY = re.compile(
    f"{IDEMPOTENCY_KEY_CHARACTER}{{1,{IDEMPOTENCY_KEY_MAX_LENGTH}}}"
)


class SubmissionRoute(APIRoute):
    """`POST /api/cases` with its usual requests taken without FastAPI solving the route's
    parameters: that cost about 150 µs of CPU a submission, a seventh of the request
    (bench/README.md, JSON API, 31).

    A body of `application/json` that `CaseCreate` accepts as it is, and an Idempotency-Key
    that is absent or valid, go straight to the endpoint, with the caller's identity from
    `bearer_identity` as the route's dependency would give it. Anything else (another
    content type, an empty or invalid body, a key to refuse, dependency overrides) goes to
    FastAPI's own handler, which answers it as for any route. The OpenAPI description is the
    route's as FastAPI makes it from the endpoint's signature.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        solved = super().get_route_handler()
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            plain = await _plain_submission(request)
            if plain is None:
                return await solved(request)
            data, key = plain
            identity = await bearer_identity(request)
            response: Response = await endpoint(
                request=request, identity=identity, data=data, idempotency_key=key
            )
            return response

        return handler


async def _plain_submission(request: Request) -> tuple[CaseCreate, str | None] | None:
    """The submission and its Idempotency-Key when the request is the usual kind (see
    `SubmissionRoute`), else None."""
    if request.app.dependency_overrides:
        return None
    media_type = request.headers.get("content-type", "").partition(";")[0]
    if media_type.strip().lower() != "application/json":
        return None
    key = request.headers.get("idempotency-key")
    if key is not None and not _PLAIN_IDEMPOTENCY_KEY.fullmatch(key):
        return None
    body = await request.body()
    if not body:
        return None
    try:
        return CaseCreate.model_validate_json(body), key
    except ValidationError:
        return None


def _submission_route(**options: Any) -> Callable[[Endpoint], Endpoint]:
    """`router.post("/cases", **options)` on a `SubmissionRoute`."""

    def add(endpoint: Endpoint) -> Endpoint:
        router.add_api_route(
            "/cases", endpoint, methods=["POST"], route_class_override=SubmissionRoute, **options
        )
        return endpoint

    return add


@_submission_route(
    status_code=201,
    response_model=SubmissionReceipt,
    tags=["cases"],
    summary="Submit a case",
    description=(
        "Submit a case (anmälan). It is routed by the rule set at once and stored with the "
        "next reference of the year.\n\n"
        "Anyone may submit. Anonymous callers are rate-limited per client address (429 with "
        "Retry-After); callers with a valid staff bearer token are not. The limit counts "
        "stored submissions (not refused or invalid ones), and every web process on the "
        "same database counts the same ones. A bearer token that "
        "is sent but unknown is refused with 401.\n\n"
        "Free text must not contain Swedish personal identity numbers (personnummer or "
        "samordningsnummer): cases are about collaboration, not individuals. Such a "
        "submission is refused with 422 on the field, and the number is not echoed.\n\n"
        "**Idempotency.** Send an `Idempotency-Key` header to make retries safe. A retry "
        "with the same key and the same submission (compared after validation, so "
        "formatting does not matter) stores nothing new and answers **201** again with the "
        "same id, reference and status_url, the case's current status and destination, and "
        "the header `Idempotent-Replayed: true`. The same key with a different submission "
        "is refused with 422 on the header. Concurrent requests with one key store one "
        "case."
    ),
    responses={
        201: {
            "description": "Stored (or, with `Idempotent-Replayed: true`, stored earlier).",
            "headers": {
                "Location": {
                    "description": "The status_url.",
                    "schema": {"type": "string"},
                },
                "Idempotent-Replayed": {
                    "description": "Present (`true`) when an earlier result is returned.",
                    "schema": {"type": "string"},
                },
            },
        },
        **BAD_BODY,
        401: UNAUTHORISED[401],
        422: {
            "model": FieldErrors,
            "description": (
                "Invalid input, an identity number in free text, an unknown escalated_from "
                "group, or an Idempotency-Key reused with a different submission."
            ),
        },
        429: {
            "model": ErrorMessage,
            "description": "Too many anonymous submissions from this client: see Retry-After.",
            "headers": {
                "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
            },
        },
    },
    openapi_extra={"security": [{}]},
)
async def submit(
    request: Request,
    identity: BearerDep,
    data: Annotated[CaseCreate, Body(openapi_examples=SUBMISSION_EXAMPLES)],
    idempotency_key: IdempotencyKey = None,
) -> Response:
    # The application's engine, rules and settings straight from its state: the busiest
    # route saves FastAPI three dependencies to solve on every call.
    engine, rule_set, settings = app_state(request)
    values = data.model_dump()
    refuse_unstorable_text(values, ("body",))
    refuse_identity_numbers(values)
    try:
        rule_set.check(data)
    except UnknownGroup as error:
        raise field_error(("body", error.field), str(error), "unknown_group") from None
    actor = identity.email if identity else submitter_actor(data)
    request_hash = submission_hash(data) if idempotency_key is not None else ""
    quota = submission_quota(request) if identity is None else None

    def submit_case(wait: bool = True) -> services.Submitted:
        return services.submit_case(
            engine,
            data,
            actor=actor,
            rules=rule_set,
            reference_prefix=settings.reference_prefix,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            quota=quota,
            wait=wait,
        )

    try:
        submitted = await run_submission(
            engine, submit_case, without_waiting=lambda: submit_case(wait=False)
        )
    except RateLimited:
        raise too_many_submissions() from None
    except services.IdempotencyKeyReused as error:
        raise field_error(
            ("header", "Idempotency-Key"), str(error), "idempotency_key_reused"
        ) from None
    case = submitted.case
    assert case.id is not None
    status_url = private_link(request, submitted.access_token)
    headers = {"Location": status_url}
    if submitted.replayed:
        headers["Idempotent-Replayed"] = "true"
    else:
        request.app.state.after_submission()
    receipt = SubmissionReceipt(
        id=case.id,
        reference=case.reference,
        status=case.status,
        destination=case.destination,
        requires_endorsement=case.requires_endorsement,
        explanation=case.routing_explanation,
        status_url=status_url,
    )
    # Serialised here: the receipt is already validated, so FastAPI need not do it again.
    return Response(
        receipt.model_dump_json(),
        status_code=201,
        media_type="application/json",
        headers=headers,
    )


@router.get(
    "/cases/{case_id}",
    response_model=CaseDetail,
    tags=["cases"],
    summary="Read a case",
    description="A case with its documents and audit trail. Any staff role may read.",
    responses=STAFF_ERRORS,
)
def read_case(case_id: CaseId, engine: EngineDep, _identity: StaffIdentity) -> CaseDetail:
    return case_detail(engine, case_id)


@router.post(
    "/cases/{case_id}/triage",
    response_model=CaseDetail,
    tags=["triage"],
    summary="Triage a case",
    description=(
        "The preparation group's decision on a case, taken as one lifecycle transition and "
        "recorded in the audit trail with the caller as actor. Needs the role beredning "
        "(or admin). Answers with the updated case."
    ),
    responses={
        **BAD_BODY,
        **STAFF_ERRORS,
        409: {
            "model": ErrorMessage,
            "description": (
                "The case's state does not allow the action, or the case changed while "
                "the request was handled: reload it and decide again."
            ),
        },
        422: {
            "model": FieldErrors,
            "description": "Invalid input, or input the action does not allow.",
        },
    },
)
def triage_case(
    case_id: CaseId,
    body: TriageRequest,
    engine: EngineDep,
    rule_set: RulesDep,
    identity: TriageIdentity,
) -> CaseDetail:
    refuse_unstorable_text(body.model_dump(), ("body",))
    try:
        services.triage(
            engine,
            case_id,
            body.action,
            actor=identity.email,
            destinations=list(rule_set.destinations),
            destination=body.destination,
            lead_group=body.lead_group,
            reason=body.reason,
            expected_updated_at=body.expected_updated_at,
        )
    except services.TriageError as error:
        raise field_error(("body", error.field or "action"), str(error), "triage") from None
    except services.CaseNotFound as error:
        raise HTTPException(404, str(error)) from None
    except (IllegalTransition, services.CaseChanged) as error:
        raise HTTPException(409, str(error)) from None
    return case_detail(engine, case_id)


@router.get(
    "/queue",
    response_model=QueuePagePublic,
    tags=["triage"],
    summary="List the triage queue",
    description=(
        "The cases waiting for the preparation group (submitted or in triage), or those in "
        "one `status`, filtered and paged, most urgent first: the earliest submission "
        "deadline of the meeting each case is aimed at, then the oldest submission. "
        "Needs the role beredning (or admin)."
    ),
    responses={
        **UNAUTHORISED,
        403: STAFF_ERRORS[403],
        422: {
            "model": FieldErrors,
            "description": "An invalid filter, or a destination the rule set does not have.",
        },
    },
)
def list_queue(
    engine: EngineDep,
    rule_set: RulesDep,
    _identity: TriageIdentity,
    status: Annotated[
        QueueStatus | None,
        Query(description="Only cases in this state (default: submitted or in triage)."),
    ] = None,
    destination: Annotated[
        str | None,
        Query(max_length=64, description="Only cases suggested for this destination."),
    ] = None,
    target_group: Annotated[
        TargetGroup | None,
        Query(description="Only cases that name or touch this target group."),
    ] = None,
    q: Annotated[
        str,
        Query(max_length=200, description="Words in the reference, title or description."),
    ] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=queue.MAX_PER_PAGE)] = queue.DEFAULT_PER_PAGE,
) -> QueuePagePublic:
    refuse_unstorable_text({"q": q}, ("query",))
    destinations = rule_set.definition.destinations
    if destination is not None and destination not in destinations:
        raise field_error(
            ("query", "destination"),
            f"unknown destination {destination!r}; use one of {', '.join(destinations)}",
            "unknown_destination",
        )
    filters = queue.QueueFilters(
        status=State(status) if status else None,
        destination=destination,
        target_group=target_group,
        q=q.strip(),
        page=page,
        per_page=per_page,
    )
    found = queue.list_queue(
        engine, filters, rule_destinations=destinations, today=datetime.now(STOCKHOLM).date()
    )
    return QueuePagePublic(
        items=[
            QueueItem(
                case=CasePublic.model_validate(row.case),
                destination_name=row.destination_name,
                working_days_waiting=row.working_days_waiting,
                target_meeting=row.target_meeting,
                next_deadline=row.next_deadline,
                urgency=row.urgency,
            )
            for row in found.rows
        ],
        total=found.total,
        page=found.page,
        pages=found.pages,
        per_page=found.per_page,
    )


# --- helpers --------------------------------------------------------------------------------


def case_detail(engine: Engine, case_id: int) -> CaseDetail:
    with unit_of_work(engine, write=False) as session:
        case = repository.get_case(session, case_id=case_id)
        if case is None:
            raise HTTPException(404, f"no case with id {case_id}")
        return CaseDetail(
            **CasePublic.model_validate(case).model_dump(),
            attachments=[
                AttachmentPublic.model_validate(a)
                for a in repository.list_attachments(session, case_id=case_id)
            ],
            audit_events=[
                AuditEventPublic.model_validate(e)
                for e in repository.list_audit_events(session, case_id=case_id)
            ],
        )


def field_error(loc: tuple[str | int, ...], message: str, kind: str) -> RequestValidationError:
    """A 422 in FastAPI's own shape, pointing at one input field."""
    return RequestValidationError([{"loc": loc, "msg": message, "type": kind}])


def refuse_unstorable_text(values: dict[str, Any], loc: tuple[str | int, ...]) -> None:
    """Refuse NUL characters and unpaired surrogates, which the databases cannot store."""
    for name, value in values.items():
        if not isinstance(value, str):
            continue
        if "\x00" in value or not _encodes(value):
            raise field_error(
                (*loc, name), "contains characters that cannot be stored", "invalid_characters"
            )


def _encodes(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def refuse_identity_numbers(values: dict[str, Any], *, what: str = "a case") -> None:
    """Refuse a submission (its `model_dump()`) whose free text holds a personal identity
    number (masked); `what` it is, for the message."""
    for name, value in values.items():
        if not isinstance(value, str):
            continue
        found = find_identity_numbers(value)
        if found:
            raise field_error(
                ("body", name),
                f"contains what looks like a Swedish personal identity number ({mask(found[0])}):"
                f" remove it; {what} must not identify individuals",
                "personal_identity_number",
            )


def submission_hash(data: CaseCreate) -> str:
    """SHA-256 of the validated submission, so retries compare by content, not formatting."""
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


_TOKEN_MARK = "__token__"
_BASE_URLS_KEPT = 64


def private_link(request: Request, token: str) -> str:
    """The absolute URL of the submitter's private page for the case.

    As `request.url_for("case_status", token=token)`, but the route's path is looked up
    once per application (Starlette walks every route on each lookup), and the absolute
    form of it once per scheme, host and root path (a few, kept in a small dictionary).
    """
    state = request.app.state
    links: dict[tuple[Any, ...], tuple[str, str]] | None = getattr(state, "private_links", None)
    if links is None or len(links) > _BASE_URLS_KEPT:
        links = state.private_links = {}
    scope = request.scope
    key = (
        scope.get("scheme"),
        tuple(scope.get("server") or ()),
        scope.get("app_root_path", scope.get("root_path")),
        request.headers.get("host"),
    )
    around = links.get(key)
    if around is None:
        path = request.app.url_path_for("case_status", token=_TOKEN_MARK)
        # The token is the path's last part; the host may hold anything.
        before, _, after = str(path.make_absolute_url(request.base_url)).rpartition(_TOKEN_MARK)
        around = links[key] = (before, after)
    return around[0] + token + around[1]
