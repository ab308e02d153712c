"""The public pages of the bodies: anyone may read them, no sign-in.

`/organ` lists the bodies; `/organ/{slug}` is a body's page with its upcoming meetings,
published agendas and minutes, its Atom feed and a link to its iCalendar feed. What is
not published (an agenda not sent out, minutes not approved) is a 404 here.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request, Response

from casework import publication as pub
from casework.agenda_pdf import render_agenda_pdf
from casework.minutes_pdf import render_minutes_pdf
from casework.model import Group, utcnow
from casework.settings import Settings
from casework.web.deps import EngineDep, PageError, SettingsDep, render
from casework.web.staff import local_today

router = APIRouter()

LAYOUT = "base.html"
LINKS = pub.WebLinks()
PUBLIC_CACHE = "public, max-age=300"
NO_PAGE = "Sidan finns inte."


def _day(text: str) -> date:
    day = pub.parse_day(text)
    if day is None:
        raise PageError(404, NO_PAGE)
    return day


def _not_found(exc: pub.BodyNotFound | pub.NotPublished) -> PageError:
    return PageError(404, exc.message_sv)


def _file(content: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": PUBLIC_CACHE,
        },
    )


@router.get("/organ")
def bodies(request: Request, engine: EngineDep) -> Response:
    summaries = pub.body_summaries(engine, today=local_today())
    return render(request, "organ.html", {"bodies": summaries, "links": LINKS, "layout": LAYOUT})


@router.get("/organ/{slug}")
def body(request: Request, slug: str, engine: EngineDep) -> Response:
    try:
        page = pub.body_page(engine, slug, today=local_today())
    except pub.BodyNotFound as exc:
        raise _not_found(exc) from None
    return render(request, "organ_body.html", {"body": page, "links": LINKS, "layout": LAYOUT})


def feed_links(settings: Settings) -> pub.WebLinks:
    """The feed's links are absolute, from the address people reach the application at."""
    return pub.WebLinks(settings.public_url)


@router.get("/organ/{slug}/atom.xml")
def atom(slug: str, engine: EngineDep, settings: SettingsDep) -> Response:
    try:
        page = pub.body_page(engine, slug, today=local_today())
    except pub.BodyNotFound as exc:
        raise _not_found(exc) from None
    content = pub.atom_feed(page, feed_links(settings), now=utcnow())
    return Response(
        content,
        media_type=f"{pub.ATOM_TYPE}; charset=utf-8",
        headers={"Cache-Control": PUBLIC_CACHE},
    )


def _agenda(engine: EngineDep, slug: str, day: str) -> tuple[Group, pub.PublishedAgenda]:
    try:
        return pub.published_agenda(engine, slug, _day(day))
    except (pub.BodyNotFound, pub.NotPublished) as exc:
        raise _not_found(exc) from None


# The .pdf routes come before the pages, whose {day} would otherwise take "….pdf".
@router.get("/organ/{slug}/dagordning/{day}.pdf")
def agenda_pdf(slug: str, day: str, engine: EngineDep) -> Response:
    group, published = _agenda(engine, slug, day)
    filename = f"dagordning-{group.slug}-{published.day.isoformat()}.pdf"
    return _file(render_agenda_pdf(published.agenda), "application/pdf", filename)


@router.get("/organ/{slug}/dagordning/{day}")
def agenda_page(request: Request, slug: str, day: str, engine: EngineDep) -> Response:
    group, published = _agenda(engine, slug, day)
    try:
        pub.published_minutes(engine, slug, published.day)
        has_minutes = True
    except pub.NotPublished:
        has_minutes = False
    context = pub.agenda_context(group, published, has_minutes, LINKS)
    return render(request, "organ_agenda.html", {**context, "layout": LAYOUT})


def _minutes(
    engine: EngineDep, slug: str, day: str, number: str | None
) -> tuple[Group, pub.PublishedMinutes, pub.MinutesVersion, int | None]:
    """The body, its published minutes of `day`, the version asked for (the current one
    without `number`) and that number as the addresses carry it (None for the current)."""
    try:
        group, published = pub.published_minutes(engine, slug, _day(day))
    except (pub.BodyNotFound, pub.NotPublished) as exc:
        raise _not_found(exc) from None
    if number is None:
        return group, published, published.current, None
    version = published.version(int(number)) if number.isdigit() and len(number) < 6 else None
    if version is None:
        raise PageError(404, "Det finns ingen sådan publicerad version av protokollet.")
    shown = None if version.version == published.current.version else version.version
    return group, published, version, shown


def _minutes_pdf(
    group: Group, published: pub.PublishedMinutes, version: pub.MinutesVersion
) -> Response:
    suffix = "" if version is published.current else f"-v{version.version}"
    filename = f"protokoll-{group.slug}-{published.day.isoformat()}{suffix}.pdf"
    return _file(render_minutes_pdf(version.document()), "application/pdf", filename)


def _minutes_page(
    request: Request,
    group: Group,
    published: pub.PublishedMinutes,
    version: pub.MinutesVersion,
    number: int | None,
) -> Response:
    context = pub.minutes_context(group, published, version, number, LINKS)
    return render(request, "organ_minutes.html", {**context, "layout": LAYOUT})


@router.get("/organ/{slug}/protokoll/{day}.pdf")
def minutes_pdf(slug: str, day: str, engine: EngineDep) -> Response:
    group, published, version, _ = _minutes(engine, slug, day, None)
    return _minutes_pdf(group, published, version)


@router.get("/organ/{slug}/protokoll/{day}/v{number}.pdf")
def minutes_version_pdf(slug: str, day: str, number: str, engine: EngineDep) -> Response:
    group, published, version, _ = _minutes(engine, slug, day, number)
    return _minutes_pdf(group, published, version)


@router.get("/organ/{slug}/protokoll/{day}")
def minutes_page(request: Request, slug: str, day: str, engine: EngineDep) -> Response:
    group, published, version, number = _minutes(engine, slug, day, None)
    return _minutes_page(request, group, published, version, number)


@router.get("/organ/{slug}/protokoll/{day}/v{number}")
def minutes_version_page(
    request: Request, slug: str, day: str, number: str, engine: EngineDep
) -> Response:
    group, published, version, shown = _minutes(engine, slug, day, number)
    return _minutes_page(request, group, published, version, shown)
