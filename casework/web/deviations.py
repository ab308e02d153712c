"""Deviation pages: the public deviation form, the groups' handling of their deviations
(filters, clusters, hand-over to LSVO), statistics with a chart and CSV, and the
`POST /api/deviations` endpoint."""

from __future__ import annotations

import csv
import io
import logging
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy import Engine
from starlette.datastructures import FormData

from casework import deviations
from casework.accounts import Identity
from casework.db import unit_of_work
from casework.deviations import (
    DEVIATION_KINDS,
    HANDLING_GROUPS,
    ORGANISATION_NAMES,
    DeviationCreate,
    Filters,
)
from casework.model import StaffRole
from casework.personnummer import find_identity_numbers, mask
from casework.rate_limits import RateLimited
from casework.svg_chart import Series, stacked_bars
from casework.web import api
from casework.web.deps import (
    BearerDep,
    CsrfChecked,
    EngineDep,
    PageError,
    RulesDep,
    SettingsDep,
    render,
    require_page_role,
    submission_quota,
    too_many_submissions,
)
from casework.web.public import (
    GROUP_LABELS,
    IDENTITY_NUMBER,
    MISSING_EMAIL,
    NO,
    NOT_YES_NO,
    YES,
    Errors,
)
from casework.web.staff import local_today
from rules.facts import TARGET_GROUPS

log = logging.getLogger("samverkan.web.deviations")
router = APIRouter()
api_router = APIRouter(prefix="/api", dependencies=[Security(api.bearer_scheme)])

HANDLER_ROLES = (StaffRole.secretary, StaffRole.chair, StaffRole.beredning)
Handler = Annotated[Identity, Depends(require_page_role(*HANDLER_ROLES))]

# --- the public form ------------------------------------------------------------------

TEXT_FIELDS = (
    "description",
    "place",
    "occurred_on",
    "submitter_name",
    "submitter_email",
    "submitter_organisation",
)
CHECKED_TEXT = ("description", "place", "submitter_name", "submitter_organisation")
FIELD_ORDER = (
    "description",
    "place",
    "organisations",
    "occurred_on",
    "kind",
    "target_group",
    "recurring",
    "submitter_name",
    "submitter_email",
    "submitter_organisation",
)
LABELS = {
    "description": "Vad hände?",
    "place": "Var hände det?",
    "organisations": "Vilka organisationer berörs?",
    "occurred_on": "Vilket datum hände det?",
    "kind": "Vilket slag av avvikelse är det?",
    "target_group": "Vilken målgrupp gäller det?",
    "recurring": "Är avvikelsen generell eller återkommande?",
    "submitter_name": "Ditt namn",
    "submitter_email": "Din e-postadress",
    "submitter_organisation": "Din organisation",
}
MESSAGES = {
    "description": "Beskriv vad som hände, utan personuppgifter.",
    "place": "Skriv var det hände, till exempel enhet, avdelning eller verksamhet.",
    "organisations": "Välj minst en organisation.",
    "occurred_on": "Skriv datumet då det hände, som ÅÅÅÅ-MM-DD, till exempel 2026-03-02.",
    "kind": "Välj vilket slag av avvikelse det är.",
    "target_group": "Välj den målgrupp avvikelsen gäller.",
    "recurring": NOT_YES_NO,
    "submitter_name": "Skriv ditt namn.",
    "submitter_email": (
        "Skriv en giltig e-postadress, till exempel fornamn.efternamn@karlskrona.se."
    ),
    "submitter_organisation": "Organisationen får vara högst 200 tecken.",
}
FUTURE_DATE = "Datumet kan inte vara i framtiden. Skriv dagen då avvikelsen hände."


def _values(form: FormData | None) -> dict[str, Any]:
    """What the person typed and chose, as sent (everything kept on errors)."""

    def text(name: str) -> str:
        value = form.get(name) if form is not None else None
        return value.replace("\r\n", "\n") if isinstance(value, str) else ""

    return {
        **{name: text(name) for name in TEXT_FIELDS},
        "organisations": [v for v in form.getlist("organisations") if isinstance(v, str)]
        if form is not None
        else [],
        "kind": text("kind"),
        "target_group": text("target_group"),
        "recurring": text("recurring") or NO,
    }


def validate_form(values: dict[str, Any]) -> tuple[DeviationCreate | None, Errors]:
    """The deviation, or every mistake at once, each next to its field."""
    errors: Errors = {}
    for name in CHECKED_TEXT:
        found = find_identity_numbers(values[name])
        if found:
            errors[name] = [IDENTITY_NUMBER.format(number=mask(found[0]))]
    if values["recurring"] not in (YES, NO):
        errors["recurring"] = [NOT_YES_NO]
    raw_date = values["occurred_on"].strip()
    occurred: date | None = None
    try:
        occurred = date.fromisoformat(raw_date)
    except ValueError:
        errors["occurred_on"] = [MESSAGES["occurred_on"]]
    if occurred is not None and occurred > local_today():
        errors["occurred_on"] = [FUTURE_DATE]
    data = {name: values[name] for name in TEXT_FIELDS if name != "occurred_on"} | {
        "organisations": values["organisations"],
        "occurred_on": occurred or date(1, 1, 1),
        "kind": values["kind"] or None,
        "target_group": values["target_group"] or None,
        "recurring": values["recurring"] == YES,
    }
    try:
        deviation = DeviationCreate.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = error.get("loc", ())
            name = str(loc[0]) if loc else ""
            if name in LABELS and name not in errors:
                empty_email = name == "submitter_email" and not values[name].strip()
                errors[name] = [MISSING_EMAIL if empty_email else MESSAGES[name]]
        deviation = None
    ordered = {name: errors[name] for name in FIELD_ORDER if name in errors}
    return (None if ordered else deviation), ordered


def _anchor(name: str) -> str:
    if name == "organisations":
        return f"organisations-{next(iter(ORGANISATION_NAMES))}"
    if name == "kind":
        return f"kind-{next(iter(DEVIATION_KINDS))}"
    if name == "target_group":
        return f"target_group-{TARGET_GROUPS[0]}"
    if name == "recurring":
        return f"recurring-{YES}"
    return name


def _form_page(
    request: Request, values: dict[str, Any], errors: Errors, *, status_code: int = 200
) -> Response:
    return render(
        request,
        "deviation_form.html",
        {
            "values": values,
            "errors": errors,
            "summary": [(_anchor(n), m) for n, messages in errors.items() for m in messages],
            "labels": LABELS,
            "organisations": [(slug, name, None) for slug, name in ORGANISATION_NAMES.items()],
            "kinds": list(DEVIATION_KINDS.items()),
            "groups": [(g, GROUP_LABELS[g]) for g in TARGET_GROUPS],
            "today": local_today().isoformat(),
        },
        status_code=status_code,
    )


@router.get("/avvikelse", name="deviation_form")
def deviation_form(request: Request) -> Response:
    return _form_page(request, _values(None), {})


@router.post("/avvikelse", dependencies=[CsrfChecked])
async def post_deviation(
    request: Request, engine: EngineDep, rule_set: RulesDep, settings: SettingsDep
) -> Response:
    form = await request.form()
    try:
        values = _values(form)
    finally:
        await form.close()
    data, errors = validate_form(values)
    if data is None or errors:
        return _form_page(request, values, errors, status_code=422)
    quota = submission_quota(request)
    try:
        submitted = await run_in_threadpool(
            lambda: deviations.submit_deviation(
                engine,
                data,
                actor=_actor(data),
                rules=rule_set,
                reference_prefix=settings.reference_prefix,
                quota=quota,
            )
        )
    except RateLimited:
        raise too_many_submissions() from None
    log.info("deviation %s reported through the form", submitted.case.reference)
    request.app.state.after_submission()
    return RedirectResponse(f"/s/{submitted.access_token}?ny=1", status_code=303)


def _actor(data: DeviationCreate) -> str:
    from casework.web.public import submitter_actor

    return submitter_actor(data.case_create())


# --- the API --------------------------------------------------------------------------

DEVIATION_EXAMPLE = {
    "description": "Informationen om läkemedel följde inte med vid utskrivningen.",
    "place": "Medicinkliniken, Blekingesjukhuset Karlskrona",
    "organisations": ["region-blekinge", "karlskrona"],
    "occurred_on": "2026-03-02",
    "kind": "lakemedel",
    "target_group": "aldre",
    "recurring": False,
    "submitter_name": "Anna Andersson",
    "submitter_email": "anna.andersson@example.se",
    "submitter_organisation": "Karlskrona kommun",
}


@api_router.post(
    "/deviations",
    status_code=201,
    response_model=api.SubmissionReceipt,
    tags=["deviations"],
    summary="Report a deviation",
    description=(
        "Report a deviation in collaboration (avvikelse). It is stored as a case with "
        "`deviation` true and routed by the rule set: general or recurring (`recurring` "
        "true) → LSVO; otherwise the samverkansgrupp of `target_group`.\n\n"
        "`kind` is one of: "
        + ", ".join(f"`{k}` ({v})" for k, v in DEVIATION_KINDS.items())
        + ". `organisations` are slugs of the six organisations. `occurred_on` must not be "
        "in the future.\n\n"
        "Anyone may report. Anonymous callers are rate-limited per client address (429). "
        "Free text must not hold Swedish personal identity numbers: such a report is "
        "refused with 422 on the field, and the number is not echoed."
    ),
    responses={
        **api.BAD_BODY,
        401: api.UNAUTHORISED[401],
        422: {"model": api.FieldErrors, "description": "Invalid input or an identity number."},
        429: {"model": api.ErrorMessage, "description": "Too many anonymous submissions."},
    },
    openapi_extra={"security": [{}]},
)
def report_deviation(
    request: Request,
    engine: EngineDep,
    rule_set: RulesDep,
    settings: SettingsDep,
    identity: BearerDep,
    data: Annotated[
        DeviationCreate,
        Body(openapi_examples={"one": {"summary": "A deviation", "value": DEVIATION_EXAMPLE}}),
    ],
) -> Response:
    values = data.model_dump()
    api.refuse_unstorable_text(values, ("body",))
    api.refuse_identity_numbers(values, what="a deviation")
    try:
        submitted = deviations.submit_deviation(
            engine,
            data,
            actor=identity.email if identity else _actor(data),
            rules=rule_set,
            reference_prefix=settings.reference_prefix,
            quota=submission_quota(request) if identity is None else None,
        )
    except RateLimited:
        raise too_many_submissions() from None
    request.app.state.after_submission()
    case = submitted.case
    assert case.id is not None
    status_url = api.private_link(request, submitted.access_token)
    receipt = api.SubmissionReceipt(
        id=case.id,
        reference=case.reference,
        status=case.status,
        destination=case.destination,
        requires_endorsement=case.requires_endorsement,
        explanation=case.routing_explanation,
        status_url=status_url,
    )
    return Response(
        receipt.model_dump_json(),
        status_code=201,
        media_type="application/json",
        headers={"Location": status_url},
    )


# --- handling in the group ------------------------------------------------------------


def _group(identity: Identity, slug: str) -> str:
    allowed = deviations.handled_groups(identity)
    if not allowed:
        raise PageError(403, "Ditt konto saknar behörighet att hantera avvikelser.")
    if not slug:
        return allowed[0]
    if slug not in HANDLING_GROUPS:
        raise PageError(404, "Det finns ingen sådan grupp som hanterar avvikelser.")
    if slug not in allowed:
        raise PageError(403, "Du får inte hantera avvikelser i den gruppen.")
    return slug


def _date(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _group_names(engine: Engine, slugs: list[str]) -> list[tuple[str, str]]:
    with unit_of_work(engine, write=False) as session:
        return [(s, deviations.group_by_slug(session, s).name) for s in slugs]


@router.get("/avvikelser", name="deviation_list")
def deviation_list(
    request: Request,
    engine: EngineDep,
    identity: Handler,
    grupp: str = "",
    slag: str = "",
    organisation: str = "",
    fran: str = "",
    till: str = "",
    kluster: str = "",
    klart: str = "",
    problem: str = "",
) -> Response:
    slug = _group(identity, grupp)
    filters = Filters(slag, organisation, _date(fran), _date(till), kluster)
    with unit_of_work(engine, write=False) as session:
        group = deviations.group_by_slug(session, slug)
        assert group.id is not None
        cases = deviations.list_deviations(session, slug, filters)
        clusters = deviations.list_clusters(session, group.id)
    return render(
        request,
        "deviations.html",
        {
            "group": group,
            "groups": _group_names(engine, deviations.handled_groups(identity)),
            "cases": cases,
            "clusters": clusters,
            "cluster_titles": {c.id: c.title for c in clusters},
            "filters": {
                "slag": slag,
                "organisation": organisation,
                "fran": fran,
                "till": till,
                "kluster": kluster,
            },
            "kinds": DEVIATION_KINDS,
            "organisations": ORGANISATION_NAMES,
            "no_cluster": deviations.NO_CLUSTER,
            "done": klart,
            "problem": problem,
        },
    )


def _ids(form: FormData, name: str) -> list[int]:
    return [int(v) for v in form.getlist(name) if isinstance(v, str) and v.isdigit()]


def _redirect(path: str) -> Response:
    return RedirectResponse(path, status_code=303)


@router.post("/avvikelser/kluster", dependencies=[CsrfChecked])
async def create_cluster(request: Request, engine: EngineDep, identity: Handler) -> Response:
    form = await request.form()
    slug = _group(identity, str(form.get("grupp") or ""))
    title = str(form.get("title") or "")
    try:
        cluster_id = await run_in_threadpool(
            deviations.create_cluster,
            engine,
            identity,
            group_slug=slug,
            title=title,
            case_ids=_ids(form, "case_id"),
        )
    except deviations.DeviationError as error:
        return _list_problem(request, engine, identity, slug, str(error))
    return _redirect(f"/avvikelser/kluster/{cluster_id}?klart=skapad")


def _list_problem(
    request: Request, engine: Engine, identity: Identity, slug: str, message: str
) -> Response:
    response = deviation_list(request, engine, identity, grupp=slug, problem=message)
    response.status_code = 422
    return response


CLUSTER_DONE = {
    "skapad": "Gruppen av avvikelser är skapad.",
    "tillagd": "Avvikelsen är tillagd.",
    "borttagen": "Avvikelsen är borttagen ur gruppen.",
    "lamnad": "Avvikelserna är lämnade till LSVO som ett nytt ärende.",
}


@router.get("/avvikelser/kluster/{cluster_id}", name="deviation_cluster")
def cluster_page(
    request: Request,
    cluster_id: int,
    engine: EngineDep,
    identity: Handler,
    klart: str = "",
    problem: str = "",
    status_code: int = 200,
) -> Response:
    with unit_of_work(engine, write=False) as session:
        try:
            cluster, group = deviations.cluster_for(session, identity, cluster_id)
        except deviations.NotAllowed as error:
            raise PageError(403, str(error)) from None
        except deviations.DeviationError as error:
            raise PageError(404, str(error)) from None
        members = deviations.cluster_members(session, cluster_id)
        others = [
            c
            for c in deviations.list_deviations(session, group.slug)
            if c.deviation_cluster_id is None
        ]
        suggestions = deviations.suggest(members, others)
        handover = deviations.handover_case(session, cluster_id)
    suggested = {s.case.id for s in suggestions}
    return render(
        request,
        "deviation_cluster.html",
        {
            "cluster": cluster,
            "group": group,
            "members": members,
            "suggestions": suggestions,
            "others": [c for c in others if c.id not in suggested],
            "handover": handover,
            "kinds": DEVIATION_KINDS,
            "organisations": ORGANISATION_NAMES,
            "may_hand_over": group.slug != deviations.LSVO,
            "done": CLUSTER_DONE.get(klart, ""),
            "problem": problem,
        },
        status_code=status_code,
    )


async def _cluster_action(
    request: Request, engine: Engine, identity: Identity, cluster_id: int, action: Any, done: str
) -> Response:
    try:
        await run_in_threadpool(action)
    except deviations.NotAllowed as error:
        raise PageError(403, str(error)) from None
    except deviations.DeviationError as error:
        return cluster_page(
            request, cluster_id, engine, identity, problem=str(error), status_code=422
        )
    return _redirect(f"/avvikelser/kluster/{cluster_id}?klart={done}")


@router.post("/avvikelser/kluster/{cluster_id}/lagg-till", dependencies=[CsrfChecked])
async def add_to_cluster(
    request: Request, cluster_id: int, engine: EngineDep, identity: Handler
) -> Response:
    ids = _ids(await request.form(), "case_id")
    return await _cluster_action(
        request, engine, identity, cluster_id,
        lambda: deviations.add_to_cluster(engine, identity, cluster_id, ids), "tillagd",
    )  # fmt: skip


@router.post("/avvikelser/kluster/{cluster_id}/ta-bort", dependencies=[CsrfChecked])
async def remove_from_cluster(
    request: Request, cluster_id: int, engine: EngineDep, identity: Handler
) -> Response:
    ids = _ids(await request.form(), "case_id") or [0]
    return await _cluster_action(
        request, engine, identity, cluster_id,
        lambda: deviations.remove_from_cluster(engine, identity, cluster_id, ids[0]), "borttagen",
    )  # fmt: skip


@router.post("/avvikelser/kluster/{cluster_id}/lamna-till-lsvo", dependencies=[CsrfChecked])
async def hand_over(
    request: Request,
    cluster_id: int,
    engine: EngineDep,
    rule_set: RulesDep,
    settings: SettingsDep,
    identity: Handler,
) -> Response:
    return await _cluster_action(
        request, engine, identity, cluster_id,
        lambda: deviations.hand_over(
            engine, identity, cluster_id, rules=rule_set,
            reference_prefix=settings.reference_prefix,
        ),
        "lamnad",
    )  # fmt: skip


# --- statistics -----------------------------------------------------------------------


def _month(raw: str, default: date) -> date:
    try:
        year, month = raw.split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        return default


def _period(fran: str, till: str) -> tuple[date, date]:
    today = local_today()
    default_start = date(today.year - 1, today.month, 1)
    start = _month(fran, default_start)
    end_month = _month(till, date(today.year, today.month, 1))
    end = date(end_month.year + end_month.month // 12, end_month.month % 12 + 1, 1)
    end = date.fromordinal(end.toordinal() - 1)
    if start > end or (end.year - start.year) * 12 + end.month - start.month > 120:
        start, end = default_start, date(today.year, today.month, 1)
        end = date(end.year + end.month // 12, end.month % 12 + 1, 1)
        end = date.fromordinal(end.toordinal() - 1)
    return start, end


def _statistics(
    engine: Engine, identity: Identity, grupp: str, fran: str, till: str
) -> tuple[deviations.Statistics, str, date, date]:
    allowed = deviations.handled_groups(identity)
    if grupp and grupp not in allowed:
        raise PageError(403, "Du får inte se statistik för den gruppen.")
    start, end = _period(fran, till)
    with unit_of_work(engine, write=False) as session:
        stats = deviations.statistics(session, start=start, end=end, group_slug=grupp or None)
    return stats, grupp, start, end


@router.get("/avvikelser/statistik", name="deviation_statistics")
def statistics_page(
    request: Request,
    engine: EngineDep,
    identity: Handler,
    grupp: str = "",
    fran: str = "",
    till: str = "",
) -> Response:
    stats, grupp, start, end = _statistics(engine, identity, grupp, fran, till)
    columns = [deviations.month_label(m) for m in stats.months]
    charts = {
        name: Markup(  # built by svg_chart, every text escaped there
            stacked_bars(
                chart_id=f"diagram-{name}",
                title=title,
                description=(
                    f"Staplat stapeldiagram: antal avvikelser per månad, {start.isoformat()} – "
                    f"{end.isoformat()}, uppdelat {split}. Tabellen under diagrammet visar "
                    "samma siffror."
                ),
                columns=columns,
                series=[Series(r.label, r.counts) for r in rows],
            )
        )
        for name, title, split, rows in (
            ("slag", "Avvikelser per slag och månad", "per slag", stats.by_kind),
            ("organisation", "Avvikelser per organisation och månad", "per organisation",
             stats.by_organisation),
        )
    }  # fmt: skip
    return render(
        request,
        "deviation_statistics.html",
        {
            "stats": stats,
            "columns": columns,
            "charts": charts,
            "grupp": grupp,
            "groups": _group_names(engine, deviations.handled_groups(identity)),
            "fran": f"{start:%Y-%m}",
            "till": f"{end:%Y-%m}",
            "query": request.url.query,
        },
    )


@router.get("/avvikelser/statistik.csv")
def statistics_csv(
    engine: EngineDep, identity: Handler, grupp: str = "", fran: str = "", till: str = ""
) -> Response:
    stats, grupp, start, end = _statistics(engine, identity, grupp, fran, till)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(["Indelning", "Kategori", *(f"{y}-{m:02d}" for y, m in stats.months), "Totalt"])
    for split, rows in (("Slag", stats.by_kind), ("Organisation", stats.by_organisation)):
        for row in rows:
            writer.writerow([split, row.label, *row.counts, row.total])
    name = f"avvikelser-{grupp or 'alla'}-{start:%Y-%m}-{end:%Y-%m}.csv"
    return Response(
        "\ufeff" + buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
