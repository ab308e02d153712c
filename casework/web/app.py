"""The FastAPI application: wiring, security headers and error pages."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from anyio import to_thread
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import rules
from casework.db import WalCheckpointer
from casework.metrics import Metrics, RequestMetrics
from casework.settings import Settings, get_settings
from casework.web import (
    api,
    calendar_feeds,
    deviations,
    followup_pages,
    meeting_run,
    meetings,
    minutes_pages,
    ops,
    organisations,
    outbox_pages,
    public,
    publication_pages,
    staff,
    written_views,
)
from casework.web.deps import PageError, RateLimiter, templates
from casework.web.limits import BodySizeLimit

log = logging.getLogger("samverkan.web")
STATIC = Path(__file__).with_name("static")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# The interactive API docs load Swagger UI from its CDN.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "frame-ancestors 'none'"
)
FORM_TEXT_ROOM = 2 * 1024 * 1024
CSP_BYTES = CSP.encode()
DOCS_CSP_BYTES = DOCS_CSP.encode()
DOCS_PATHS = ("/docs", "/redoc")
COMMON_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # Private links carry a token in the path: never leak it in a Referer header.
    (b"referrer-policy", b"no-referrer"),
)
NO_STORE_PREFIXES = ("/s/", "/arenden", "/beredning", "/api", "/moten", "/utskick")
ERROR_TEXTS = {
    400: "Begäran kunde inte tolkas.",
    401: "Du behöver logga in för att se sidan.",
    403: "Du har inte behörighet till sidan.",
    404: "Sidan finns inte.",
    405: "Metoden stöds inte för den här adressen.",
    413: "Det du skickade är för stort.",
    429: "För många anmälningar på kort tid. Vänta en minut och försök igen.",
}


def create_app(
    *,
    engine: Engine | None = None,
    rule_set: rules.RuleSet | None = None,
    settings: Settings | None = None,
    after_submission: Callable[[], None] | None = None,
) -> FastAPI:
    """The application; without arguments it opens the configured database and rules.

    `after_submission` is called, and must return at once, after each newly stored
    submission (`samverkan serve` starts the outbox drain with it).
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Plain `def` routes and dependencies run in AnyIO's thread pool. Fewer threads than
        # its default of 40 contend less for the GIL and for the database's locks; the
        # requests beyond them wait their turn on the event loop.
        to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        if engine is None:
            from casework.bootstrap import open_database

            app.state.engine = open_database(settings.database_url)
        app.state.metrics.database.engine = app.state.engine
        # On SQLite, the WAL is copied back into the database file beside the writers.
        app.state.wal_checkpointer = WalCheckpointer(app.state.engine)
        app.state.wal_checkpointer.start()
        # What exists now (modules, models, routes, templates) lives as long as the server:
        # kept out of the interpreter's full garbage collections, which otherwise stopped
        # every request for about 90 ms each time they ran (bench/README.md, JSON API).
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            app.state.wal_checkpointer.stop()
            if engine is None:
                app.state.engine.dispose()

    app = FastAPI(
        title="samverkan",
        summary="Ärenden till Samverkan Blekinge: anmälan, fördelning och beredning.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.rules = rule_set or rules.load_rules(settings.rules_path)
    app.state.settings = settings
    app.state.after_submission = after_submission or (lambda: None)
    app.state.rate_limiter = RateLimiter(settings.submissions_per_minute)
    # Room for every attachment at its maximum plus the form's text.
    app.add_middleware(
        BodySizeLimit,
        limit=settings.max_attachments * settings.max_upload_bytes + FORM_TEXT_ROOM,
    )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = getattr(exc, "headers", None)
        if _wants_json(request):
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=headers
            )
        if exc.status_code == 401:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/logga-in?next={quote(target, safe='/')}", status_code=303)
        text = exc.detail if isinstance(exc, PageError) else ERROR_TEXTS.get(exc.status_code, "")
        return templates.TemplateResponse(
            request,
            "error.html",
            {"status": exc.status_code, "message": text},
            status_code=exc.status_code,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": _plain_errors(exc)}, status_code=422)
        return templates.TemplateResponse(
            request,
            "error.html",
            {
                "status": 422,
                "message": "Uppgifterna kunde inte tolkas. Gå tillbaka och försök igen.",
            },
            status_code=422,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if _wants_json(request):
            return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)
        return templates.TemplateResponse(
            request,
            "error.html",
            {"status": 500, "message": "Något gick fel hos oss. Felet är loggat; försök igen."},
            status_code=500,
        )

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # The JSON API before the pages: no page's path starts with /api/, so the order
    # changes no route's meaning, and a request to the API is matched after a few tests.
    app.include_router(api.router)
    app.include_router(deviations.api_router)
    app.include_router(public.router)
    app.include_router(staff.router)
    app.include_router(meetings.router)
    app.include_router(calendar_feeds.router)
    app.include_router(outbox_pages.router)
    app.include_router(minutes_pages.router)
    app.include_router(written_views.router)
    app.include_router(meeting_run.router)
    app.include_router(publication_pages.router)
    app.include_router(organisations.router)
    app.include_router(followup_pages.router)
    app.include_router(deviations.router)
    app.add_middleware(SecurityHeaders)
    app.include_router(ops.router)
    app.state.metrics = Metrics(engine)
    app.add_middleware(
        RequestMetrics, metrics=app.state.metrics, access_log=settings.log_format == "json"
    )
    return app


class SecurityHeaders:
    """Adds the security headers to every response that does not set them itself.

    A plain ASGI middleware: it only looks at the `http.response.start` message, without
    the task group and memory streams a `BaseHTTPMiddleware` costs on every request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        extra = [
            (b"content-security-policy", DOCS_CSP_BYTES if path in DOCS_PATHS else CSP_BYTES),
            *COMMON_HEADERS,
        ]
        if path.startswith(NO_STORE_PREFIXES):
            extra.append((b"cache-control", b"no-store"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(item for item in extra if item[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _plain_errors(exc: RequestValidationError) -> list[dict[str, object]]:
    """Validation errors without the submitted input echoed back."""
    return [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": err.get("type")}
        for err in exc.errors()
    ]
