"""Registering the flows with a Prefect server for workers of a process work pool.

`samverkan deploy` (see `deploy`) makes the Prefect server at PREFECT_API_URL hold:

* the process work pool `SAMVERKAN_PREFECT_WORK_POOL` (default "samverkan"), created
  when it is missing;
* one deployment per flow of `SCHEDULED`, named "<flow>/samverkan", on that pool, with
  its interval schedule from the settings. The entrypoint is the flow's module path in
  the installed package (`flows.outbox:outbox_drain`): a worker on a machine where
  samverkan is installed imports it; nothing is pulled or copied;
* an automation that marks a flow run of these deployments Crashed when it stops sending
  heartbeats (its worker or machine died), so that no run stays Running for ever.

Running it again with the same settings changes nothing: every object is compared with
what is wanted and only written when it differs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prefect import Flow
from prefect.automations import AutomationCore
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate, WorkPoolCreate
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.responses import DeploymentResponse
from prefect.client.schemas.schedules import IntervalSchedule
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.settings import get_current_settings
from prefect.workers.process import ProcessWorker

from casework.settings import Settings
from flows import DEPLOYMENT
from flows.outbox import outbox_drain
from flows.sweep import deadline_sweep, stale_triage

__all__ = [
    "AUTOMATION",
    "SCHEDULED",
    "DeployError",
    "Scheduled",
    "deploy",
    "prefect_api_url",
]

# Interval schedules count from this moment, so a 15-minute sweep runs at :00, :15, :30
# and :45 whatever the time `samverkan deploy` ran (and running it again moves nothing).
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
TIMEZONE = "Europe/Stockholm"
AUTOMATION = "samverkan: unresponsive flow runs crash"
HEALTH_TIMEOUT_SECONDS = 5.0

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Scheduled:
    """A flow that runs on a schedule: its entrypoint and how often, from the settings."""

    flow: Flow[..., Any]
    entrypoint: str
    interval: Callable[[Settings], timedelta]


# The one list of scheduled flows: `samverkan deploy` registers it with a work pool and
# `samverkan serve` (flows.runner) serves it itself.
SCHEDULED: tuple[Scheduled, ...] = (
    Scheduled(
        deadline_sweep,
        "flows.sweep:deadline_sweep",
        lambda s: timedelta(minutes=s.sweep_interval_minutes),
    ),
    Scheduled(
        stale_triage,
        "flows.sweep:stale_triage",
        lambda s: timedelta(minutes=s.sweep_interval_minutes),
    ),
    Scheduled(
        outbox_drain,
        "flows.outbox:outbox_drain",
        lambda s: timedelta(minutes=s.drain_interval_minutes),
    ),
)


class DeployError(RuntimeError):
    """The deployments could not be registered; the message says why and what to do."""


def prefect_api_url() -> str | None:
    """The Prefect API this process talks to (PREFECT_API_URL or the Prefect profile)."""
    url = get_current_settings().api.url
    return url.rstrip("/") if url else None


def _check_reachable(api_url: str) -> None:
    try:
        answer = httpx.get(f"{api_url}/health", timeout=HEALTH_TIMEOUT_SECONDS)
    except httpx.HTTPError as error:
        raise DeployError(
            f"cannot reach the Prefect API at {api_url} ({type(error).__name__}: {error}).\n"
            "  Start the Prefect server (prefect server start) or correct PREFECT_API_URL.\n"
            f"  (Prefect-servern svarar inte på {api_url}.)"
        ) from None
    if answer.status_code != 200:
        raise DeployError(
            f"the Prefect API at {api_url} answered {answer.status_code} to /health: "
            "is PREFECT_API_URL the server's API address (ending in /api)?\n"
            f"  (Prefect-servern på {api_url} svarar inte som väntat.)"
        )


def _schedule(interval: timedelta) -> IntervalSchedule:
    return IntervalSchedule(interval=interval, anchor_date=ANCHOR, timezone=TIMEZONE)


def _job_variables(settings: Settings) -> dict[str, Any]:
    # The heartbeat interval goes with the deployment, next to the automation that
    # expects it: the flow-run processes a worker starts take it from here.
    return {"env": {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(settings.flow_heartbeat_seconds)}}


def _wanted(scheduled: Scheduled, settings: Settings, pool: str) -> dict[str, Any]:
    """The deployment's fields as the server reports them, for comparison."""
    return {
        "entrypoint": scheduled.entrypoint,
        "work_pool_name": pool,
        "work_queue_name": "default",
        "description": scheduled.flow.description,
        "path": None,
        "pull_steps": [],
        "job_variables": _job_variables(settings),
        "paused": False,
        "parameter_openapi_schema": scheduled.flow.parameters.model_dump(
            mode="json", exclude_unset=True
        ),
        "schedules": [
            {
                "schedule": _schedule(scheduled.interval(settings)).model_dump(mode="json"),
                "active": True,
                "parameters": {},
            }
        ],
    }


def _actual(found: DeploymentResponse) -> dict[str, Any]:
    return {
        "entrypoint": found.entrypoint,
        "work_pool_name": found.work_pool_name,
        "work_queue_name": found.work_queue_name,
        "description": found.description,
        "path": found.path,
        "pull_steps": found.pull_steps or [],
        "job_variables": found.job_variables or {},
        "paused": found.paused,
        "parameter_openapi_schema": found.parameter_openapi_schema,
        "schedules": [
            {
                "schedule": s.schedule.model_dump(mode="json"),
                "active": s.active,
                "parameters": s.parameters,
            }
            for s in found.schedules
        ],
    }


def _ensure_work_pool(client: SyncPrefectClient, name: str, echo: Echo) -> None:
    try:
        pool = client.read_work_pool(name)
    except ObjectNotFound:
        client.create_work_pool(
            WorkPoolCreate(
                name=name,
                type=ProcessWorker.type,
                description="samverkan's flows: the deadline sweep, stale triage, outbox drain",
                base_job_template=ProcessWorker.get_default_base_job_template(),
            )
        )
        echo(f"work pool {name}: created (type process)")
        return
    if pool.type != ProcessWorker.type:
        raise DeployError(
            f"the work pool {name!r} exists with type {pool.type!r}, not 'process': choose "
            "another name with SAMVERKAN_PREFECT_WORK_POOL"
        )
    echo(f"work pool {name}: unchanged")


def _ensure_deployment(
    client: SyncPrefectClient, scheduled: Scheduled, settings: Settings, pool: str, echo: Echo
) -> DeploymentResponse:
    name = f"{scheduled.flow.name}/{DEPLOYMENT}"
    wanted = _wanted(scheduled, settings, pool)
    try:
        found: DeploymentResponse | None = client.read_deployment_by_name(name)
    except ObjectNotFound:
        found = None
    if found is not None and _actual(found) == wanted:
        echo(f"deployment {name}: unchanged")
        return found
    interval = scheduled.interval(settings)
    # Creating a deployment that exists replaces it in place (same id).
    client.create_deployment(
        flow_id=client.create_flow_from_name(scheduled.flow.name),
        name=DEPLOYMENT,
        work_pool_name=pool,
        work_queue_name="default",
        entrypoint=scheduled.entrypoint,
        description=scheduled.flow.description,
        path=None,
        pull_steps=[],
        job_variables=_job_variables(settings),
        paused=False,
        parameter_openapi_schema=wanted["parameter_openapi_schema"],
        enforce_parameter_schema=True,
        schedules=[DeploymentScheduleCreate(schedule=_schedule(interval), active=True)],
    )
    minutes = interval.total_seconds() / 60
    echo(f"deployment {name}: {'updated' if found else 'created'} (every {minutes:g} min)")
    return client.read_deployment_by_name(name)


def _automation(settings: Settings, deployments: Sequence[DeploymentResponse]) -> AutomationCore:
    """Crashed, for a run of these deployments that was pending or sent a heartbeat and
    then nothing (no heartbeat, no final state) for `flow_crash_after_seconds`."""
    return AutomationCore(
        name=AUTOMATION,
        description=(
            "Marks a samverkan flow run Crashed when its process stops sending heartbeats "
            "(the worker or its machine died), so that the run does not stay Running."
        ),
        trigger=EventTrigger(
            after={"prefect.flow-run.Pending", "prefect.flow-run.heartbeat"},
            expect={
                "prefect.flow-run.heartbeat",
                "prefect.flow-run.Completed",
                "prefect.flow-run.Failed",
                "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed",
            },
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            match_related=ResourceSpecification(
                {
                    "prefect.resource.role": "deployment",
                    "prefect.resource.id": sorted(
                        f"prefect.deployment.{d.id}" for d in deployments
                    ),
                }
            ),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=settings.flow_crash_after_seconds),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=(
                    f"no heartbeat for {settings.flow_crash_after_seconds} s: the process "
                    "running this flow run stopped"
                ),
            )
        ],
    )


def _canonical(value: Any) -> Any:
    """JSON with its lists of names sorted: the trigger's event sets come in any order."""
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [_canonical(item) for item in value]
        return sorted(items) if all(isinstance(item, str) for item in items) else items
    return value


def _comparable(automation: AutomationCore) -> Any:
    return _canonical(
        automation.model_dump(
            mode="json", include={"name", "description", "enabled", "trigger", "actions"}
        )
    )


def _ensure_automation(
    client: SyncPrefectClient,
    settings: Settings,
    deployments: Sequence[DeploymentResponse],
    echo: Echo,
) -> None:
    wanted = _automation(settings, deployments)
    found = client.read_automations_by_name(AUTOMATION)
    if len(found) == 1 and _comparable(found[0]) == _comparable(wanted):
        echo(f"automation {AUTOMATION!r}: unchanged")
        return
    for extra in found[1:]:
        client.delete_automation(extra.id)
    if found:
        client.update_automation(found[0].id, wanted)
        echo(f"automation {AUTOMATION!r}: updated")
    else:
        client.create_automation(wanted)
        echo(f"automation {AUTOMATION!r}: created")


def deploy(settings: Settings, echo: Echo) -> list[DeploymentResponse]:
    """Register the work pool, the deployments and the crash automation; idempotent."""
    api_url = prefect_api_url()
    if not api_url:
        raise DeployError(
            "PREFECT_API_URL is not set: point it at the Prefect server's API, e.g. "
            "PREFECT_API_URL=http://127.0.0.1:4200/api\n"
            "  (ange Prefect-serverns adress i PREFECT_API_URL.)"
        )
    _check_reachable(api_url)
    pool = settings.prefect_work_pool
    try:
        with get_client(sync_client=True) as client:
            _ensure_work_pool(client, pool, echo)
            deployments = [
                _ensure_deployment(client, scheduled, settings, pool, echo)
                for scheduled in SCHEDULED
            ]
            _ensure_automation(client, settings, deployments, echo)
    except PrefectHTTPStatusError as error:
        raise DeployError(
            f"the Prefect API at {api_url} refused a request: {error.response.status_code} "
            f"{error.response.text[:500]}"
        ) from None
    except httpx.HTTPError as error:
        raise DeployError(
            f"lost the connection to the Prefect API at {api_url}: {error}; run "
            "samverkan deploy again when the server answers (it changes only what differs)"
        ) from None
    return deployments
