"""Operations endpoints: liveness, readiness and Prometheus metrics.

- `GET /healthz`: the process answers (no database), 200 `{"status": "ok"}`.
- `GET /readyz`: the database answers a trivial query and, when the flows use a Prefect
  server, its API answers at `<PREFECT_API_URL>/health`; 200 when both do, else 503 with
  the check that failed and a short reason (an error's type, never its message, which
  may hold addresses or user names). Each check gives up after `CHECK_TIMEOUT_SECONDS`.
- `GET /metrics`: Prometheus text format (see `casework.metrics`). Open to clients on the
  loopback address whose request names no forwarded client (a reverse proxy's requests
  do); otherwise it needs `Authorization: Bearer <SAMVERKAN_METRICS_TOKEN>`, and without
  a token set it is refused (403).

None of them needs a signed-in user or counts against the submission rate limit.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from typing import Any

import anyio
import httpx
from anyio import to_thread
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, text

from casework.db import unit_of_work
from casework.metrics import Metrics
from casework.settings import Settings

router = APIRouter(include_in_schema=False)

CHECK_TIMEOUT_SECONDS = 2.0
# The readiness checks' own threads: a hung database never takes the request threads.
_CHECK_THREADS = anyio.CapacityLimiter(4)


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"}, headers={"cache-control": "no-store"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    engine: Engine = request.app.state.engine
    checks = {
        "database": await _check_database(engine),
        "prefect": await _check_prefect(prefect_api_url(request.app)),
    }
    ready = all(check["status"] in ("ok", "not configured") for check in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
        headers={"cache-control": "no-store"},
    )


@router.get("/metrics")
def metrics(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not _may_scrape(request, settings.metrics_token):
        return JSONResponse(
            {"detail": "metrics are open on the loopback address or with the metrics token"},
            status_code=403,
        )
    collected: Metrics = request.app.state.metrics
    return Response(generate_latest(collected.registry), media_type=CONTENT_TYPE_LATEST)


def prefect_api_url(app: FastAPI) -> str | None:
    """The Prefect API the flows of this installation use, or None when there is none.

    `samverkan serve` starts the drain trigger with the API it serves the flows with (its
    own Prefect server or PREFECT_API_URL); otherwise PREFECT_API_URL when it is set.
    """
    started: str | None = getattr(app.state.after_submission, "api_url", None)
    configured = started or os.environ.get("PREFECT_API_URL", "").strip()
    return configured.rstrip("/") or None


async def _check_database(engine: Engine) -> dict[str, Any]:
    def query() -> None:
        with unit_of_work(engine, write=False) as session:
            if engine.dialect.name == "postgresql":
                timeout_ms = int(CHECK_TIMEOUT_SECONDS * 1000)
                session.execute(text(f"SET LOCAL statement_timeout = {timeout_ms}"))
            session.execute(text("SELECT version_num FROM alembic_version")).all()

    try:
        with anyio.fail_after(CHECK_TIMEOUT_SECONDS):
            await to_thread.run_sync(query, abandon_on_cancel=True, limiter=_CHECK_THREADS)
    except TimeoutError:
        return {"status": "failed", "reason": f"no answer in {CHECK_TIMEOUT_SECONDS:g} s"}
    except Exception as error:
        return {"status": "failed", "reason": type(error).__name__}
    return {"status": "ok"}


async def _check_prefect(api_url: str | None) -> dict[str, Any]:
    if api_url is None:
        return {"status": "not configured"}
    try:
        async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_SECONDS) as client:
            answer = await client.get(f"{api_url}/health")
    except httpx.TimeoutException:
        return {"status": "failed", "reason": f"no answer in {CHECK_TIMEOUT_SECONDS:g} s"}
    except httpx.HTTPError as error:
        return {"status": "failed", "reason": type(error).__name__}
    if answer.status_code != 200:
        return {"status": "failed", "reason": f"HTTP {answer.status_code}"}
    return {"status": "ok"}


def _may_scrape(request: Request, token: str) -> bool:
    if token:
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.encode(), token.encode()):
            return True
    # A request a reverse proxy passed on arrives from the loopback address too: it names
    # the real client in a forwarding header.
    if "x-forwarded-for" in request.headers or "forwarded" in request.headers:
        return False
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
