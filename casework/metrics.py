"""Prometheus metrics of the web application, served at `/metrics`.

Per process (each web process counts its own requests; scrape every process):
- `samverkan_http_requests_total{method, route, status}`: requests answered, by the
  route's template (`/arenden/{case_id}`), never the raw path, which may hold a token.
- `samverkan_http_request_duration_seconds{method, route}`: a histogram of their durations.
- the process collector's `process_*` (CPU, memory, open files).

Read from the database at each scrape (the same in every process; do not add them up):
- `samverkan_cases{status}`: cases by status, from one GROUP BY query.
- `samverkan_outbox_messages{status}`: messages in the outbox by status (pending, sent, dead).
- `samverkan_outbox_due_messages`: pending messages whose time to be sent has come.
- `samverkan_outbox_oldest_due_age_seconds`: how long the oldest of those has waited (0
  when none is waiting).
- `samverkan_database_up`: 1 when those queries succeeded, 0 when they failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select, text
from sqlmodel import col
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from casework.db import unit_of_work
from casework.lifecycle import State
from casework.model import Case, Notification, NotificationStatus

log = logging.getLogger("samverkan.metrics")
access_log = logging.getLogger("samverkan.access")

# A route label for requests no route matched (a 404), so that scanners cannot create
# a series for every path they try.
UNMATCHED = "<unmatched>"
QUERY_TIMEOUT_MS = 5000


class Metrics:
    """One application's registry: its request metrics and the database collector."""

    def __init__(self, engine: Engine | None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "samverkan_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "samverkan_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response.",
            ["method", "route"],
            registry=self.registry,
        )
        self.database = DatabaseCollector(engine)
        self.registry.register(self.database)
        ProcessCollector(registry=self.registry)


class DatabaseCollector(Collector):
    """Gauges read at each scrape in one read-only transaction."""

    def __init__(self, engine: Engine | None) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "samverkan_database_up", "1 when the metrics' database queries succeeded."
        )
        if self.engine is None:
            up.add_metric([], 0)
            yield up
            return
        try:
            families = self._read(self.engine)
        except Exception as error:
            log.warning("metrics: the database queries failed: %s", type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self, engine: Engine) -> list[GaugeMetricFamily]:
        now = datetime.now(UTC)
        by_column = col(Notification.status)
        due = (by_column == NotificationStatus.pending) & (col(Notification.not_before) <= now)
        with unit_of_work(engine, write=False) as session:
            if engine.dialect.name == "postgresql":
                # A scrape that cannot finish is better reported than left waiting.
                session.execute(text(f"SET LOCAL statement_timeout = {QUERY_TIMEOUT_MS}"))
            cases = dict(
                session.execute(select(col(Case.status), func.count()).group_by(col(Case.status)))
                .tuples()
                .all()
            )
            messages = dict(
                session.execute(select(by_column, func.count()).group_by(by_column)).tuples().all()
            )
            due_count, oldest = session.execute(
                select(func.count(), func.min(col(Notification.not_before))).where(due)
            ).one()
        by_status = GaugeMetricFamily("samverkan_cases", "Cases by status.", labels=["status"])
        for state in State:
            by_status.add_metric([state.value], cases.get(state, 0))
        outbox = GaugeMetricFamily(
            "samverkan_outbox_messages", "Messages in the outbox by status.", labels=["status"]
        )
        for status in NotificationStatus:
            outbox.add_metric([status.value], messages.get(status, 0))
        due_gauge = GaugeMetricFamily(
            "samverkan_outbox_due_messages", "Pending messages whose time to be sent has come."
        )
        due_gauge.add_metric([], due_count)
        age = GaugeMetricFamily(
            "samverkan_outbox_oldest_due_age_seconds",
            "Seconds the oldest due pending message has waited since it became due.",
        )
        waited = (now - oldest).total_seconds() if isinstance(oldest, datetime) else 0.0
        age.add_metric([], max(0.0, waited))
        return [by_status, outbox, due_gauge, age]


class RequestMetrics:
    """ASGI middleware: counts and times every HTTP request by its route template.

    With `access_log` it also logs each request to `samverkan.access` with its method,
    route template, status and duration (the JSON log format uses this instead of
    uvicorn's access log, which shows raw paths and client addresses).
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics, access_log: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        # The labelled counter and histogram per (method, route, status): looked up here
        # rather than through `labels()`, which checks and locks on every call.
        self._labelled: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            elapsed = time.perf_counter() - started
            method = scope.get("method", "")
            route = route_template(scope)
            labelled = self._labelled.get((method, route, status))
            if labelled is None:
                labelled = self._labelled[(method, route, status)] = (
                    self.metrics.requests.labels(method, route, str(status)),
                    self.metrics.duration.labels(method, route),
                )
            labelled[0].inc()
            labelled[1].observe(elapsed)
            if self.access_log:
                access_log.info(
                    "%s %s %s",
                    method,
                    route,
                    status,
                    extra={
                        "method": method,
                        "path": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 1),
                    },
                )


def route_template(scope: Scope) -> str:
    """The matched route's path template, the mount's path for static files, or UNMATCHED."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str):
        return template
    path: str = scope.get("path", "")
    return "/static" if path.startswith("/static/") else UNMATCHED
