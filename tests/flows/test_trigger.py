"""The drain trigger asks a real Prefect server for outbox-drain runs after submissions.

The server is a temporary one for this module; no worker runs the flow runs, so a run the
trigger starts stays due and not started.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from uuid import UUID, uuid4

import pytest
from conftest import wait_until
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import FlowRun
from prefect.deployments.runner import RunnerDeployment
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness

from flows.outbox import outbox_drain
from flows.trigger import DrainTrigger


@pytest.fixture(scope="module")
def prefect_api() -> Iterator[str]:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with prefect_test_harness(server_startup_timeout=120):
        url = PREFECT_API_URL.value()
        assert url
        yield url


def _register(name: str) -> UUID:
    """The drain's deployment under `name`, without a schedule."""
    # Synchronous even where the session's browser has left an event loop running.
    deployment = outbox_drain.to_deployment(name, _sync=True)  # type: ignore[call-arg]
    assert isinstance(deployment, RunnerDeployment)
    deployment_id = deployment.apply(_sync=True)  # type: ignore[call-arg]
    assert isinstance(deployment_id, UUID)
    return deployment_id


def _runs(deployment_id: UUID) -> list[FlowRun]:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )


def test_a_burst_of_submissions_starts_one_drain_run_and_none_while_it_waits(
    prefect_api: str,
) -> None:
    name = f"trigger-{uuid4().hex[:8]}"
    deployment_id = _register(name)
    trigger = DrainTrigger(name, min_interval=0.1)
    trigger.start(prefect_api)
    try:
        for _ in range(20):
            trigger()
        wait_until(lambda: trigger.requested == 1, "one flow run asked for", timeout=30)
        # The next call finds that run waiting and starts none.
        trigger()
        wait_until(lambda: trigger.skipped >= 1, "a call skipped", timeout=30)
    finally:
        trigger.stop()
    assert trigger._thread is not None and not trigger._thread.is_alive()
    assert trigger.requested == 1
    (run,) = _runs(deployment_id)
    assert run.auto_scheduled is False
    assert run.state_type is not None and run.state_type.value == "SCHEDULED"


def test_a_trigger_that_cannot_reach_prefect_warns_and_goes_on(
    prefect_api: str, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"trigger-{uuid4().hex[:8]}"
    deployment_id = _register(name)
    trigger = DrainTrigger(name, min_interval=0.1)
    # An address where nothing listens, then a deployment name the server does not know.
    trigger.start("http://127.0.0.1:9/api")
    caplog.set_level(logging.WARNING, logger="samverkan.flows")
    try:
        trigger()
        warned = "could not start the outbox drain"
        wait_until(lambda: warned in caplog.text, "a warning", timeout=30)
        assert trigger.requested == 0
        trigger.api_url = prefect_api.rstrip("/")
        trigger()
        wait_until(lambda: trigger.requested == 1, "a flow run asked for", timeout=30)
    finally:
        trigger.stop()
    assert len(_runs(deployment_id)) == 1
    unknown = DrainTrigger(f"missing-{uuid4().hex[:8]}", min_interval=0.1)
    unknown.start(prefect_api)
    caplog.clear()
    try:
        unknown()
        wait_until(lambda: "404" in caplog.text, "a 404 warning", timeout=30)
    finally:
        unknown.stop()
    assert unknown.requested == 0
