"""Pages for each organisation's answer to a case (ställningstagande, förankring).

`/arenden/{case_id}/organisationer`: every organisation's answer so far; a signed-in
staff user whose e-mail is a member's answers there for that member's organisation.
`/svar/{token}`: the same through a member's private link from the request message,
without signing in.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from casework import access, org_requests
from casework.accounts import Identity
from casework.model import RequestResponse, StaffRole
from casework.web.deps import (
    CsrfChecked,
    EngineDep,
    PageError,
    local_time,
    render,
    require_page_role,
)

router = APIRouter()

ANY_STAFF = tuple(StaffRole)
Signed = Annotated[Identity, Depends(require_page_role(*ANY_STAFF))]
NOT_FOUND = (
    "Vi hittar ingen sida med den länken. Kontrollera att du har fått med hela länken från "
    "meddelandet."
)
ANSWER_CHOICES = [
    (RequestResponse.backs.value, "Står bakom förslaget"),
    (RequestResponse.does_not_back.value, "Står inte bakom förslaget"),
    (RequestResponse.comment.value, "Lämnar en kommentar"),
]


def _page(
    request: Request,
    answers: org_requests.CaseAnswers,
    *,
    action: str,
    member_name: str = "",
    status_code: int = 200,
    saved: bool = False,
    problem: str = "",
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    failed_request: int | None = None,
) -> Response:
    return render(
        request,
        "organisation_answers.html",
        {
            "answers": answers,
            "case": answers.case,
            "action": action,
            "member_name": member_name,
            "choices": ANSWER_CHOICES,
            "purpose_labels": org_requests.PURPOSE_LABELS,
            "local_time": local_time,
            "saved": saved,
            "problem": problem,
            "errors": errors or {},
            "values": values or {},
            "failed_request": failed_request,
        },
        status_code=status_code,
    )


def _problem(exc: org_requests.RequestError) -> tuple[str, dict[str, str]]:
    return exc.message_sv, ({exc.field: exc.message_sv} if exc.field else {})


@router.get("/arenden/{case_id}/organisationer", name="organisation_answers")
def show_answers(
    request: Request, case_id: int, engine: EngineDep, identity: Signed, sparat: str = ""
) -> Response:
    try:
        answers = org_requests.load_case_answers(engine, case_id, email=identity.email)
    except org_requests.NotFound as exc:
        raise PageError(404, exc.message_sv) from None
    return _page(request, answers, action=f"/arenden/{case_id}/organisationer", saved=sparat == "1")


@router.post("/arenden/{case_id}/organisationer/{request_id}", dependencies=[CsrfChecked])
def answer_signed_in(
    request: Request,
    case_id: int,
    request_id: int,
    engine: EngineDep,
    identity: Signed,
    response: Annotated[str, Form(max_length=32)] = "",
    comment: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    try:
        answers = org_requests.load_case_answers(engine, case_id, email=identity.email)
    except org_requests.NotFound as exc:
        raise PageError(404, exc.message_sv) from None
    if request_id not in {line.request.id for line in answers.lines}:
        raise PageError(404, "Förfrågan finns inte. Ladda om sidan.")
    try:
        org_requests.respond_as_staff(
            engine, identity, request_id, response=response, comment=comment
        )
    except org_requests.RequestError as exc:
        problem, errors = _problem(exc)
        return _page(
            request, answers, action=f"/arenden/{case_id}/organisationer",
            status_code=exc.status, problem=problem, errors=errors,
            values={"response": response, "comment": comment}, failed_request=request_id,
        )  # fmt: skip
    return RedirectResponse(f"/arenden/{case_id}/organisationer?sparat=1", status_code=303)


def _by_token(engine: Any, token: str) -> tuple[org_requests.AnswerForm, org_requests.CaseAnswers]:
    try:
        form = org_requests.open_answer_form(engine, token)
    except access.LinkExpired:
        raise PageError(410, "Länken har slutat gälla.") from None
    except access.LinkNotFound:
        raise PageError(404, NOT_FOUND) from None
    assert form.case.id is not None
    answers = org_requests.load_case_answers(engine, form.case.id, member_id=form.member.id)
    return form, answers


@router.get("/svar/{token}", name="organisation_answer_link")
def show_by_token(request: Request, token: str, engine: EngineDep, sparat: str = "") -> Response:
    form, answers = _by_token(engine, token)
    return _page(
        request, answers, action=f"/svar/{token}", member_name=form.member.name,
        saved=sparat == "1",
    )  # fmt: skip


@router.post("/svar/{token}", dependencies=[CsrfChecked])
async def answer_by_token(
    request: Request,
    token: str,
    engine: EngineDep,
    request_id: Annotated[str, Form(max_length=20)] = "",
    response: Annotated[str, Form(max_length=32)] = "",
    comment: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    form, answers = await run_in_threadpool(_by_token, engine, token)
    wanted = int(request_id) if request_id.isdigit() else 0
    try:
        await run_in_threadpool(
            lambda: org_requests.respond_by_token(
                engine, token, wanted, response=response, comment=comment
            )
        )
    except (access.LinkNotFound, access.LinkExpired):
        raise PageError(404, NOT_FOUND) from None
    except org_requests.RequestError as exc:
        problem, errors = _problem(exc)
        return _page(
            request, answers, action=f"/svar/{token}", member_name=form.member.name,
            status_code=exc.status, problem=problem, errors=errors,
            values={"response": response, "comment": comment}, failed_request=wanted,
        )  # fmt: skip
    return RedirectResponse(f"/svar/{token}?sparat=1", status_code=303)
