"""The member's page for written views: `/synpunkter/{token}`, no login.

The token in the address is the credential (from the agenda message). The page shows the
meeting and its items with a text box each; saving stores the views, until the end of
the meeting day.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from casework import access, agenda, written_views
from casework.web.deps import CsrfChecked, EngineDep, PageError, render

router = APIRouter()

FIELD_PREFIX = "punkt-"
NOT_FOUND = (
    "Vi hittar ingen sida med den länken. Kontrollera att du har fått med hela länken från "
    "kallelsen."
)


def _refused(exc: Exception) -> PageError:
    if isinstance(exc, written_views.WrittenViewsClosed):
        return PageError(410, exc.message_sv)
    if isinstance(exc, access.LinkExpired):
        return PageError(410, written_views.AFTER_THE_MEETING)
    return PageError(404, NOT_FOUND)


def _page(
    request: Request,
    form: written_views.ViewsForm,
    *,
    texts: dict[int, str] | None = None,
    errors: dict[int, str] | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "written_views.html",
        {
            "form": form,
            "agenda": form.agenda,
            "time_and_place": agenda.time_and_place(form.agenda.meeting),
            "texts": form.texts if texts is None else texts,
            "errors": errors or {},
            "saved": saved,
            "prefix": FIELD_PREFIX,
        },
        status_code=status_code,
    )


def _open(engine: EngineDep, token: str) -> written_views.ViewsForm:
    try:
        return written_views.open_form(engine, token)
    except (access.LinkNotFound, access.LinkExpired) as exc:
        raise _refused(exc) from None


@router.get("/synpunkter/{token}", name="written_views")
def show(request: Request, token: str, engine: EngineDep, sparat: str = "") -> Response:
    """The meeting's items, each with the member's view so far."""
    form = _open(engine, token)
    if form.closed:
        raise PageError(410, form.closed)
    return _page(request, form, saved=sparat == "1")


@router.post("/synpunkter/{token}", dependencies=[CsrfChecked])
async def save(request: Request, token: str, engine: EngineDep) -> Response:
    """Store the views typed; the texts come back with the errors next to them if refused."""
    form_data = await request.form()
    texts: dict[int, str] = {}
    for name, value in form_data.multi_items():
        number = name.removeprefix(FIELD_PREFIX)
        if name.startswith(FIELD_PREFIX) and number.isdigit() and isinstance(value, str):
            texts[int(number)] = value
    try:
        await run_in_threadpool(written_views.save_views, engine, token, texts)
    except (access.LinkNotFound, access.LinkExpired, written_views.WrittenViewsClosed) as exc:
        raise _refused(exc) from None
    except written_views.WrittenViewsInvalid as exc:
        form = await run_in_threadpool(_open, engine, token)
        return _page(request, form, texts=texts, errors=exc.errors, status_code=422)
    return RedirectResponse(f"/synpunkter/{token}?sparat=1", status_code=303)
