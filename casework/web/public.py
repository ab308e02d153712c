"""Public pages: the submission form, the routing preview and the submitter's status page.

No login: the submitter follows a case through a private link whose token only the
submitter has (the database holds its SHA-256). Every page works without JavaScript;
`static/preview.js` only adds a live routing preview.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy import Engine
from starlette.datastructures import FormData, UploadFile

import rules
from casework import access, repository, services
from casework.calendar import SWEDISH_MONTHS, long_date
from casework.chain import ChainView, load_chain
from casework.db import unit_of_work
from casework.lifecycle import STATE_LABELS, Action, State
from casework.model import Attachment, AuditEvent, Case, CaseCreate, utcnow
from casework.personnummer import find_identity_numbers, mask
from casework.rate_limits import RateLimited
from casework.settings import Settings
from casework.web.deps import (
    CsrfChecked,
    EngineDep,
    PageError,
    RulesDep,
    SettingsDep,
    attachment_response,
    render,
    run_submission,
    submission_quota,
    too_many_submissions,
)
from rules.facts import KIND_LETTERS, KINDS, TARGET_GROUPS, CaseFacts, RouteResult

log = logging.getLogger("samverkan.web.public")
router = APIRouter()

Errors = dict[str, list[str]]

# --- the form's fields, in page order (the error summary follows this order) ---------------

TEXT_FIELDS = (
    "title",
    "description",
    "proposed_decision",
    "presenter",
    "submitter_name",
    "submitter_email",
    "submitter_organisation",
)
FACT_TEXT_FIELDS = ("title", "description")
FLAGS = (
    "requests_resources",
    "county_wide",
    "deviation",
    "recurring",
    "municipalities_only",
)
FIELD_ORDER = (
    "title",
    "description",
    "kind",
    "target_groups",
    *FLAGS,
    "proposed_decision",
    "presenter",
    "attachments",
    "submitter_name",
    "submitter_email",
    "submitter_organisation",
)
LABELS = {
    "title": "Rubrik",
    "description": "Beskrivning",
    "kind": "Vad vill du med ärendet?",
    "target_groups": "Målgrupper",
    "requests_resources": "Frågan om utökade resurser",
    "county_wide": "Frågan om länsgemensamma frågor",
    "deviation": "Frågan om avvikelse",
    "recurring": "Frågan om återkommande avvikelse",
    "municipalities_only": "Frågan om enbart kommunerna",
    "proposed_decision": "Förslag till beslut",
    "presenter": "Föredragande",
    "attachments": "Underlag",
    "submitter_name": "Ditt namn",
    "submitter_email": "Din e-postadress",
    "submitter_organisation": "Din organisation",
}
QUESTIONS = {
    "requests_resources": "Kräver ärendet utökade resurser eller gemensam finansiering?",
    "county_wide": (
        "Gäller ärendet länsgemensamma avtal, riktlinjer, rutiner, statsbidrag, "
        "FoU-avtalet eller större länsgemensamma projekt?"
    ),
    "deviation": "Är ärendet en avvikelse i samverkan?",
    "recurring": "Är avvikelsen generell eller återkommande?",
    "municipalities_only": "Gäller frågan enbart kommunerna?",
}
QUESTION_HINTS = {
    "recurring": "Svara bara om ärendet är en avvikelse. Annars: Nej.",
}
KIND_LABELS = {"beslut": "Beslut", "information": "Information", "diskussion": "Diskussion"}
KIND_HINTS = {
    "beslut": "Gruppen ska fatta ett beslut (B).",
    "information": "Gruppen ska få information om något (I).",
    "diskussion": "Gruppen ska diskutera frågan (D).",
}
GROUP_LABELS = {"barn_unga": "Barn och unga", "vuxna": "Vuxna", "aldre": "Äldre"}
UNKNOWN_GROUP = "vet_ej"
YES, NO = "ja", "nej"

# --- Swedish messages for validation errors (pydantic's English never reaches the page) ----

MESSAGES: dict[tuple[str, str], str] = {
    ("title", "string_too_short"): "Skriv en rubrik som kort säger vad ärendet gäller.",
    ("title", "missing"): "Skriv en rubrik som kort säger vad ärendet gäller.",
    ("submitter_name", "string_too_short"): "Skriv ditt namn.",
    ("submitter_name", "missing"): "Skriv ditt namn.",
    ("submitter_email", "string_pattern_mismatch"): (
        "Skriv en giltig e-postadress, till exempel fornamn.efternamn@karlskrona.se."
    ),
    ("kind", "value_error"): "Välj bland beslut, information och diskussion.",
    ("kind", "literal_error"): "Välj bland beslut, information och diskussion.",
    ("target_groups", "literal_error"): "Välj bland målgrupperna i listan.",
}
MISSING_EMAIL = "Skriv din e-postadress, så att beredningsgruppen kan nå dig om ärendet."
MISSING_KIND = "Välj minst ett alternativ: beslut, information eller diskussion."
GROUP_CONFLICT = (
    "Du har kryssat i både ”Vet ej” och en målgrupp. "
    "Ta bort krysset i ”Vet ej” eller i målgrupperna."
)
NOT_YES_NO = "Svara Ja eller Nej."
RECURRING_WITHOUT_DEVIATION = (
    "Frågan gäller bara avvikelser. Svara Nej här, eller Ja på frågan om avvikelse."
)
IDENTITY_NUMBER = (
    "Texten verkar innehålla ett personnummer ({number}). Ärenden handlar om samverkan "
    "mellan organisationerna, inte om enskilda personer – ta bort personuppgifterna."
)

# --- attachments: the extension and the file's first bytes must agree --------------------

_ZIP = (b"PK\x03\x04",)  # Office Open XML and OpenDocument files are zip archives
_OLE = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)  # the older Word, Excel and PowerPoint files


@dataclass(frozen=True)
class FileType:
    content_type: str
    name: str
    signatures: tuple[bytes, ...]


FILE_TYPES: dict[str, FileType] = {
    "pdf": FileType("application/pdf", "PDF", (b"%PDF-",)),
    "doc": FileType("application/msword", "Word", _OLE),
    "xls": FileType("application/vnd.ms-excel", "Excel", _OLE),
    "ppt": FileType("application/vnd.ms-powerpoint", "PowerPoint", _OLE),
    "docx": FileType(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "Word", _ZIP
    ),
    "xlsx": FileType(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "Excel", _ZIP
    ),
    "pptx": FileType(
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "PowerPoint",
        _ZIP,
    ),
    "odt": FileType("application/vnd.oasis.opendocument.text", "OpenDocument-text", _ZIP),
    "ods": FileType(
        "application/vnd.oasis.opendocument.spreadsheet", "OpenDocument-kalkylblad", _ZIP
    ),
    "odp": FileType(
        "application/vnd.oasis.opendocument.presentation", "OpenDocument-presentation", _ZIP
    ),
    "png": FileType("image/png", "PNG-bild", (b"\x89PNG\r\n\x1a\n",)),
    "jpg": FileType("image/jpeg", "JPEG-bild", (b"\xff\xd8\xff",)),
    "jpeg": FileType("image/jpeg", "JPEG-bild", (b"\xff\xd8\xff",)),
    "gif": FileType("image/gif", "GIF-bild", (b"GIF87a", b"GIF89a")),
    "webp": FileType("image/webp", "WebP-bild", (b"RIFF",)),
}
ACCEPT = ",".join(f".{ext}" for ext in FILE_TYPES)
ALLOWED_TYPES_TEXT = (
    "PDF, Word, Excel, PowerPoint, OpenDocument (odt, ods, odp) och bilder (PNG, JPEG, GIF, WebP)"
)


def _signature_ok(extension: str, head: bytes) -> bool:
    if not any(head.startswith(sig) for sig in FILE_TYPES[extension].signatures):
        return False
    return extension != "webp" or head[8:12] == b"WEBP"


# --- reading the posted form ----------------------------------------------------------------


@dataclass
class FormInput:
    """What the person typed and chose, as sent; shown again unchanged on errors."""

    text: dict[str, str]
    kind: list[str]
    target_groups: list[str]
    flags: dict[str, str]
    files: list[UploadFile] = field(default_factory=list)

    @classmethod
    def from_form(cls, form: FormData) -> FormInput:
        def text(name: str) -> str:
            value = form.get(name)
            return value.replace("\r\n", "\n") if isinstance(value, str) else ""

        def strings(name: str) -> list[str]:
            return [v for v in form.getlist(name) if isinstance(v, str)]

        files = [
            v
            for v in form.getlist("attachments")
            if isinstance(v, UploadFile) and (v.filename or v.size)
        ]
        return cls(
            text={name: text(name) for name in TEXT_FIELDS},
            kind=strings("kind"),
            target_groups=strings("target_groups"),
            flags={name: text(name) or NO for name in FLAGS},
            files=files,
        )

    @classmethod
    def empty(cls) -> FormInput:
        return cls({name: "" for name in TEXT_FIELDS}, [], [], {name: NO for name in FLAGS})

    def values(self) -> dict[str, Any]:
        """The values for the template."""
        return {
            **self.text,
            **self.flags,
            "kind": self.kind,
            "target_groups": self.target_groups,
        }

    @property
    def file_names(self) -> list[str]:
        return [_clean_filename(f.filename or "") for f in self.files]


def _add(errors: Errors, name: str, message: str) -> None:
    errors.setdefault(name, []).append(message)


def _ordered(errors: Errors) -> Errors:
    return {name: errors[name] for name in FIELD_ORDER if name in errors}


def _facts_data(form: FormInput, errors: Errors) -> dict[str, Any]:
    """The routing facts from the form, with the mistakes pydantic cannot see added to errors."""
    for name in FACT_TEXT_FIELDS:
        _check_identity_numbers(form, name, errors)
    groups = form.target_groups
    if UNKNOWN_GROUP in groups and len(set(groups) - {UNKNOWN_GROUP}) > 0:
        _add(errors, "target_groups", GROUP_CONFLICT)
    flags: dict[str, bool] = {}
    for name in FLAGS:
        answer = form.flags[name]
        if answer not in (YES, NO):
            _add(errors, name, NOT_YES_NO)
        flags[name] = answer == YES
    if flags["recurring"] and not flags["deviation"]:
        _add(errors, "recurring", RECURRING_WITHOUT_DEVIATION)
    return {
        "title": form.text["title"],
        "description": form.text["description"],
        "kind": form.kind,
        "target_groups": [g for g in groups if g != UNKNOWN_GROUP],
        **flags,
    }


def _check_identity_numbers(form: FormInput, name: str, errors: Errors) -> None:
    found = find_identity_numbers(form.text[name])
    if found:
        _add(errors, name, IDENTITY_NUMBER.format(number=mask(found[0])))


def _pydantic_errors(exc: ValidationError, form: FormInput, errors: Errors) -> None:
    for error in exc.errors():
        loc = error.get("loc", ())
        name = str(loc[0]) if loc else ""
        if name not in LABELS or name in errors:
            continue  # one message per field: ours (e.g. a personnummer) comes first
        _add(errors, name, _message(name, error, form.text.get(name, "")))


def _message(name: str, error: ErrorDetails, raw: str) -> str:
    kind = error["type"]
    if name == "submitter_email" and not raw.strip():
        return MISSING_EMAIL
    specific = MESSAGES.get((name, kind))
    if specific:
        return specific
    ctx = error.get("ctx") or {}
    label = LABELS[name]
    if kind == "string_too_long":
        limit = _number(int(ctx.get("max_length", 0)))
        return f"{label} får vara högst {limit} tecken. Nu är det {_number(len(raw.strip()))}."
    if kind in ("string_too_short", "missing"):
        return f"Fyll i {label.lower()}."
    return f"Kontrollera {label.lower()}."


def validate_facts(form: FormInput) -> tuple[CaseFacts | None, Errors]:
    """The routing facts for a preview: only the fields that decide where a case goes."""
    errors: Errors = {}
    data = _facts_data(form, errors)
    try:
        facts = CaseFacts.model_validate(data)
    except ValidationError as exc:
        _pydantic_errors(exc, form, errors)
        return None, _ordered(errors)
    return (None if errors else facts), _ordered(errors)


def validate_submission(form: FormInput) -> tuple[CaseCreate | None, Errors]:
    """The whole submission, with every mistake found at once."""
    errors: Errors = {}
    data = _facts_data(form, errors)
    for name in TEXT_FIELDS:
        if name not in FACT_TEXT_FIELDS:
            _check_identity_numbers(form, name, errors)
    if not form.kind:
        _add(errors, "kind", MISSING_KIND)
    data.update({name: form.text[name] for name in TEXT_FIELDS if name not in FACT_TEXT_FIELDS})
    try:
        case = CaseCreate.model_validate(data)
    except ValidationError as exc:
        _pydantic_errors(exc, form, errors)
        return None, _ordered(errors)
    return (None if errors else case), _ordered(errors)


async def read_uploads(
    files: Sequence[UploadFile], settings: Settings
) -> tuple[list[services.Upload], list[str]]:
    """The attachments, read and checked: allowed type, matching content, within the limits."""
    if len(files) > settings.max_attachments:
        return [], [
            f"Du kan bifoga högst {settings.max_attachments} filer i en anmälan, "
            f"du valde {len(files)}. Välj färre filer, eller samla underlaget i färre filer."
        ]
    uploads: list[services.Upload] = []
    problems: list[str] = []
    limit = settings.max_upload_bytes
    for file in files:
        name = _clean_filename(file.filename or "")
        extension = PurePosixPath(name).suffix.lower().lstrip(".")
        if extension not in FILE_TYPES:
            problems.append(
                f"Filen ”{name}” har en filtyp som inte tas emot. Bifoga {ALLOWED_TYPES_TEXT}."
            )
            continue
        content = await file.read(limit + 1)
        if len(content) > limit:
            size = _size(file.size) if file.size else f"mer än {_size(limit)}"
            problems.append(
                f"Filen ”{name}” är för stor ({size}). Varje fil får vara högst {_size(limit)}."
            )
            continue
        if not content:
            problems.append(f"Filen ”{name}” är tom. Välj filen igen eller ta bort den.")
            continue
        kind = FILE_TYPES[extension]
        if not _signature_ok(extension, content[:16]):
            problems.append(
                f"Filen ”{name}” är inte en {kind.name}-fil: innehållet stämmer inte med "
                f"filändelsen .{extension}. Spara filen i rätt format och välj den igen."
            )
            continue
        uploads.append(services.Upload(name, kind.content_type, content))
    return uploads, problems


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _clean_filename(raw: str) -> str:
    """The file's own name, without any folder a browser sent, control characters or excess."""
    name = _CONTROL.sub("", PurePosixPath(raw.replace("\\", "/")).name).strip() or "namnlös"
    if len(name) > 200:
        suffix = PurePosixPath(name).suffix[:20]
        name = name[: 200 - len(suffix)] + suffix
    return name


# --- the preview --------------------------------------------------------------------------


@dataclass(frozen=True)
class Explanation:
    """A rule's explanation split into its sentence and the evidence behind it."""

    summary: str
    detail: str

    @classmethod
    def parse(cls, text: str) -> Explanation:
        # rules.explain writes "<description> [regel <id>: <evidence>]".
        head, sep, tail = text.partition(" [regel ")
        if sep and tail.endswith("]"):
            return cls(head.strip(), "regel " + tail[:-1])
        return cls(text.strip(), "")


@dataclass(frozen=True)
class MeetingView:
    date: str
    time_and_place: str
    submission_due: str
    agenda_due: str


@dataclass(frozen=True)
class PreviewView:
    destination: str
    destination_name: str
    explanation: Explanation
    requires_endorsement: bool
    lead_group_name: str | None
    meeting: MeetingView | None


def _destination_name(rule_set: rules.RuleSet, slug: str | None) -> str:
    if not slug:
        return ""
    return rule_set.definition.destinations.get(slug, slug)


def _meeting_view(engine: Engine, slug: str, submitted_at: datetime) -> MeetingView | None:
    target = services.target_meeting(engine, group_slug=slug, submitted_at=submitted_at)
    if target is None:
        return None
    meeting = target.meeting
    parts = [
        f"kl. {meeting.starts_at.replace(':', '.')}" if meeting.starts_at else "",
        meeting.place,
    ]
    return MeetingView(
        date=long_date(meeting.date),
        time_and_place=", ".join(p for p in parts if p),
        submission_due=long_date(target.deadlines.submission_due),
        agenda_due=long_date(target.deadlines.agenda_due),
    )


def _preview(engine: Engine, rule_set: rules.RuleSet, route: RouteResult) -> PreviewView:
    return PreviewView(
        destination=route.destination,
        destination_name=_destination_name(rule_set, route.destination),
        explanation=Explanation.parse(route.explanation),
        requires_endorsement=route.requires_endorsement,
        lead_group_name=_destination_name(rule_set, route.lead_group) or None,
        meeting=_meeting_view(engine, route.destination, utcnow()),
    )


async def _routing_preview(
    engine: Engine, rule_set: rules.RuleSet, form: FormInput
) -> tuple[PreviewView | None, Errors]:
    """Where the rules would send the case as typed so far, or what stops them from telling."""
    facts, errors = validate_facts(form)
    if facts is None:
        return None, errors
    try:
        route = rule_set.route(facts)
    except rules.RulesError:
        log.exception("the rules could not route a preview")
        return None, {}
    return await run_in_threadpool(_preview, engine, rule_set, route), {}


# --- the form -----------------------------------------------------------------------------


def _form_page(
    request: Request,
    form: FormInput,
    *,
    errors: Errors | None = None,
    preview: PreviewView | None = None,
    preview_errors: Errors | None = None,
    status_code: int = 200,
) -> Response:
    errors = errors or {}
    return render(
        request,
        "form.html",
        {
            "values": form.values(),
            "errors": errors,
            "summary": [
                (_anchor(name), message)
                for name, messages in errors.items()
                for message in messages
            ],
            "labels": LABELS,
            "questions": [(name, QUESTIONS[name], QUESTION_HINTS.get(name)) for name in FLAGS],
            "kinds": [(k, KIND_LABELS[k], KIND_HINTS[k]) for k in KINDS],
            "groups": [(g, GROUP_LABELS[g], None) for g in TARGET_GROUPS],
            "unknown_group": UNKNOWN_GROUP,
            "accept": ACCEPT,
            "allowed_types": ALLOWED_TYPES_TEXT,
            "max_upload": _size(request.app.state.settings.max_upload_bytes),
            "max_attachments": request.app.state.settings.max_attachments,
            "dropped_files": form.file_names,
            "preview": preview,
            "preview_errors": _preview_messages(preview_errors or {}),
        },
        status_code=status_code,
    )


def _anchor(name: str) -> str:
    """The id of the field's first input, where the error summary's link leads."""
    if name == "kind":
        return f"kind-{KINDS[0]}"
    if name == "target_groups":
        return f"target_groups-{TARGET_GROUPS[0]}"
    if name in FLAGS:
        return f"{name}-{YES}"
    return name


def _preview_messages(errors: Errors) -> list[tuple[str, str]]:
    return [(LABELS[name], message) for name, messages in errors.items() for message in messages]


@router.get("/", name="submission_form")
def submission_form(request: Request) -> Response:
    """The empty form."""
    return _form_page(request, FormInput.empty())


@router.post("/", dependencies=[CsrfChecked])
async def post_submission(
    request: Request, engine: EngineDep, rule_set: RulesDep, settings: SettingsDep
) -> Response:
    """Preview the routing (action=preview) or submit the case (action=submit)."""
    form_data = await request.form()
    try:
        form = FormInput.from_form(form_data)
        if form_data.get("action") != "submit":
            preview, errors = await _routing_preview(engine, rule_set, form)
            return _form_page(
                request,
                form,
                errors=errors,
                preview=preview,
                status_code=422 if errors else 200,
            )
        data, errors = validate_submission(form)
        uploads, file_problems = await read_uploads(form.files, settings)
        if file_problems:
            errors = _ordered({**errors, "attachments": file_problems})
        if data is None or errors:
            return _form_page(request, form, errors=errors, status_code=422)
        quota = submission_quota(request)

        def submit_case(wait: bool = True) -> services.Submitted:
            return services.submit_case(
                engine,
                data,
                actor=submitter_actor(data),
                rules=rule_set,
                reference_prefix=settings.reference_prefix,
                attachments=uploads,
                data_dir=settings.data_dir,
                quota=quota,
                wait=wait,
            )

        try:
            # Documents are written to disk first: that waits, so only a submission
            # without any may run on the event loop.
            submitted = await run_submission(
                engine,
                submit_case,
                without_waiting=None if uploads else lambda: submit_case(wait=False),
            )
        except RateLimited:
            raise too_many_submissions() from None
    finally:
        await form_data.close()
    log.info("case %s submitted through the form", submitted.case.reference)
    request.app.state.after_submission()
    return RedirectResponse(f"/s/{submitted.access_token}?ny=1", status_code=303)


@router.post("/forhandsgranska", name="preview_fragment", dependencies=[CsrfChecked])
async def preview_fragment(request: Request, engine: EngineDep, rule_set: RulesDep) -> Response:
    """The preview box alone, for the live preview in `static/preview.js`."""
    form_data = await request.form()
    try:
        form = FormInput.from_form(form_data)
    finally:
        await form_data.close()
    preview, errors = await _routing_preview(engine, rule_set, form)
    return render(
        request,
        "_preview.html",
        {"preview": preview, "preview_errors": _preview_messages(errors)},
    )


# --- the status page ----------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryItem:
    when: str
    what: str
    who: str
    message: str = ""


@dataclass(frozen=True)
class AttachmentView:
    id: int
    filename: str
    size: str
    url: str


@dataclass(frozen=True)
class StatusView:
    reference: str
    title: str
    status: State
    status_label: str
    submitted_at: str
    kinds: str
    target_groups: str
    destination_name: str
    original_destination_name: str | None
    explanation: Explanation
    requires_endorsement: bool
    lead_group_name: str | None
    meeting: MeetingView | None
    return_message: str | None
    history: list[HistoryItem]
    attachments: list[AttachmentView]
    # The whole chain: where it is now, decisions, assignments, linked cases, answers.
    chain: ChainView | None = None


SUBMITTER_PREFIX = "anmälare:"
AUDIT_ACTOR_LENGTH = 200  # the width of audit_events.actor


def submitter_actor(data: CaseCreate) -> str:
    """The audit actor of an anonymous submission, cut to the column's width."""
    return f"{SUBMITTER_PREFIX}{data.submitter_email}"[:AUDIT_ACTOR_LENGTH]


STAFF_NAME = "Beredningsgruppen"
EVENT_TEXTS: dict[str, str] = {
    "submit": "Ärendet kom in",
    "attach": "Underlag bifogades",
    Action.triage: "Beredningsgruppen började bedöma ärendet",
    Action.route: "Ärendet fördelades",
    Action.reroute: "Ärendet fördelades om",
    Action.return_for_completion: "Ärendet skickades tillbaka för komplettering",
    Action.resubmit: "Ärendet skickades in igen",
    Action.schedule: "Ärendet sattes upp på en dagordning",
    Action.decide: "Beslut fattades",
    Action.note: "Informationen lades till protokollet",
    Action.follow_up: "Beslutet följs upp",
    Action.close: "Ärendet avslutades",
    Action.escalate: "Ärendet lyftes vidare",
    Action.withdraw: "Ärendet återtogs",
    "linked_case_raised": "Frågan lyftes vidare som ett nytt, kopplat ärende",
    "organisation_requests_opened": "Organisationernas egna beslutsorgan tillfrågades",
    "organisation_response": "En organisation svarade",
    "deviation_handed_over": "Avvikelsen lämnades till LSVO tillsammans med liknande avvikelser",
}


def _case_for_token(engine: Engine, token: str) -> tuple[Case, list[Attachment], list[AuditEvent]]:
    """The case behind a private link (the receipt's or a later message's), or a 404 page;
    a link whose time is over gives a page that says so."""
    with unit_of_work(engine, write=False) as session:
        try:
            found = access.case_for_token(session, token)
        except access.LinkNotFound:
            raise _not_found() from None
        except access.LinkExpired:
            raise PageError(
                410,
                "Länken har slutat gälla. Använd länken i det senaste meddelandet om "
                "ärendet, eller kontakta beredningsgruppen.",
            ) from None
        case = found.case
        if case.id is None:
            raise _not_found()
        attachments = repository.list_attachments(session, case_id=case.id)
        events = repository.list_audit_events(session, case_id=case.id)
    return case, attachments, events


def _not_found() -> PageError:
    return PageError(
        404,
        "Vi hittar inget ärende med den länken. Kontrollera att du har fått med hela länken.",
    )


def _history(
    events: Sequence[AuditEvent], rule_set: rules.RuleSet
) -> tuple[list[HistoryItem], str | None]:
    """The events a submitter may see, and the latest message asking for completion."""
    items: list[HistoryItem] = []
    return_message: str | None = None
    for event in events:
        what = EVENT_TEXTS.get(event.action)
        if what is None:
            continue
        after = event.after or {}
        message = ""
        if event.action == "attach":
            what = f"{what}: {after.get('filename', '')}".rstrip(": ")
        elif event.action == "submit" and after.get("destination"):
            proposed = _destination_name(rule_set, str(after["destination"]))
            what = f"{what}; reglerna föreslog {proposed}"
        elif event.action in (Action.route, Action.reroute) and after.get("destination"):
            what = f"{what} till {_destination_name(rule_set, str(after['destination']))}"
        if event.action == Action.return_for_completion:
            message = event.note
            return_message = event.note
        elif event.action == Action.resubmit:
            return_message = None
        who = "Anmälaren" if event.actor.startswith(SUBMITTER_PREFIX) else STAFF_NAME
        items.append(HistoryItem(local_time(event.at), what, who, message))
    return items, return_message


@router.get("/s/{token}", name="case_status")
def case_status(
    request: Request, token: str, engine: EngineDep, rule_set: RulesDep, ny: str | None = None
) -> Response:
    """The submitter's view of the case: where it went, why, when, and what happened since."""
    case, attachments, events = _case_for_token(engine, token)
    history, return_message = _history(events, rule_set)
    first = next((e for e in events if e.action == "submit"), None)
    routed_to = str((first.after or {}).get("destination", "")) if first else ""
    view = StatusView(
        reference=case.reference,
        title=case.title,
        status=case.status,
        status_label=STATE_LABELS[case.status],
        submitted_at=local_time(case.created_at),
        kinds=", ".join(KIND_LABELS[k] + f" ({KIND_LETTERS[k]})" for k in case.kinds) or "–",
        target_groups=", ".join(GROUP_LABELS.get(g, g) for g in case.target_groups)
        or "Inga angivna (vet ej)",
        destination_name=_destination_name(rule_set, case.destination),
        original_destination_name=(
            _destination_name(rule_set, routed_to)
            if routed_to and routed_to != case.destination
            else None
        ),
        explanation=Explanation.parse(case.routing_explanation),
        requires_endorsement=case.requires_endorsement,
        lead_group_name=_destination_name(rule_set, case.lead_group) or None,
        meeting=_meeting_view(engine, case.destination, case.created_at),
        return_message=return_message if case.status == State.returned else None,
        history=history,
        attachments=[
            AttachmentView(
                id=a.id or 0,
                filename=a.filename,
                size=_size(a.size),
                url=str(request.url_for("case_attachment", token=token, attachment_id=a.id)),
            )
            for a in attachments
        ],
        chain=load_chain(engine, case.id) if case.id is not None else None,
    )
    is_new = ny == "1"
    return render(
        request,
        "status.html",
        {
            "view": view,
            "new": is_new,
            "private_link": str(request.url_for("case_status", token=token)) if is_new else "",
        },
    )


@router.get("/s/{token}/bilagor/{attachment_id}", name="case_attachment")
def case_attachment(
    token: str, attachment_id: str, engine: EngineDep, settings: SettingsDep
) -> Response:
    """A document of the case, only through that case's own private link."""
    _, attachments, _ = _case_for_token(engine, token)
    wanted = int(attachment_id) if attachment_id.isdigit() else None
    attachment = next((a for a in attachments if a.id == wanted), None)
    if attachment is None:
        raise PageError(404, "Ärendet har ingen sådan bilaga.")
    return attachment_response(
        attachment,
        settings.data_dir,
        missing="Filen kunde inte hittas. Kontakta beredningsgruppen.",
    )


# --- Swedish formatting -------------------------------------------------------------------


def local_time(moment: datetime) -> str:
    """12 juni 2026 kl. 14.05, Swedish time."""
    local = moment.astimezone(services.LOCAL_TIMEZONE)
    return f"{local.day} {SWEDISH_MONTHS[local.month - 1]} {local.year} kl. {local:%H.%M}"


def _number(n: int) -> str:
    """20 000: Swedish thousands are grouped with a no-break space."""
    return f"{n:,}".replace(",", "\u00a0")


def _size(n: int) -> str:
    """A file size as Swedes write it: 512 byte, 34 kB, 1,2 MB."""
    if n < 1024:
        return f"{n} byte"
    if n < 1024 * 1024:
        return f"{round(n / 1024)} kB"
    mb = n / (1024 * 1024)
    text = f"{mb:.0f}" if mb == int(mb) else f"{mb:.1f}"
    return f"{text.replace('.', ',')} MB"
