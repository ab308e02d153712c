"""`samverkan deploy` against a temporary Prefect server, and its errors without one.

The command runs as a subprocess, as people run it (and because `tests/flows` would
stand in for the `flows` package in this process).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.events.schemas.automations import EventTrigger
from prefect.settings import get_current_settings
from prefect.testing.utilities import prefect_test_harness
from pydantic import ValidationError

from casework.settings import Settings

SAMVERKAN = Path(sys.executable).parent / "samverkan"
AUTOMATION = "samverkan: unresponsive flow runs crash"


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[str]:
    """A temporary Prefect server for this module; its API URL."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with prefect_test_harness(server_startup_timeout=120):
        url = get_current_settings().api.url
        assert url
        yield url


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _run_deploy(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SAMVERKAN_"))}
    clean |= {"PREFECT_HOME": str(tmp_path / "prefect"), "SAMVERKAN_DATA_DIR": str(tmp_path)}
    return subprocess.run(
        [str(SAMVERKAN), "deploy"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, done.stderr
    return [line.removeprefix("samverkan: ") for line in done.stdout.splitlines()]


def _deployments() -> dict[str, dict[str, object]]:
    with get_client(sync_client=True) as client:
        flows = {flow.id: flow.name for flow in client.read_flows()}
        return {
            flows[d.flow_id]: {
                "id": d.id,
                "pool": d.work_pool_name,
                "entrypoint": d.entrypoint,
                "intervals": [s.schedule.interval.total_seconds() for s in d.schedules],  # type: ignore[union-attr]
                "schedule_ids": [s.id for s in d.schedules],
                "updated": d.updated,
                "env": (d.job_variables or {}).get("env"),
            }
            for d in client.read_deployments()
        }


def test_deploy_creates_then_changes_nothing_then_follows_the_settings(
    prefect_server: str, tmp_path: Path
) -> None:
    env = {"PREFECT_API_URL": prefect_server, "SAMVERKAN_PREFECT_WORK_POOL": "samverkan-test"}
    assert _lines(_run_deploy(tmp_path, **env)) == [
        "work pool samverkan-test: created (type process)",
        "deployment deadline-sweep/samverkan: created (every 15 min)",
        "deployment stale-triage/samverkan: created (every 15 min)",
        "deployment outbox-drain/samverkan: created (every 1 min)",
        f"automation {AUTOMATION!r}: created",
    ]
    first = _deployments()
    assert {name: d["entrypoint"] for name, d in first.items()} == {
        "deadline-sweep": "flows.sweep:deadline_sweep",
        "stale-triage": "flows.sweep:stale_triage",
        "outbox-drain": "flows.outbox:outbox_drain",
    }
    assert {d["pool"] for d in first.values()} == {"samverkan-test"}
    assert first["outbox-drain"]["intervals"] == [60.0]
    assert first["deadline-sweep"]["env"] == {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "60"}

    assert _lines(_run_deploy(tmp_path, **env)) == [
        "work pool samverkan-test: unchanged",
        "deployment deadline-sweep/samverkan: unchanged",
        "deployment stale-triage/samverkan: unchanged",
        "deployment outbox-drain/samverkan: unchanged",
        f"automation {AUTOMATION!r}: unchanged",
    ]
    assert _deployments() == first

    changed = {
        **env,
        "SAMVERKAN_SWEEP_INTERVAL_MINUTES": "30",
        "SAMVERKAN_FLOW_CRASH_AFTER_SECONDS": "240",
    }
    assert _lines(_run_deploy(tmp_path, **changed)) == [
        "work pool samverkan-test: unchanged",
        "deployment deadline-sweep/samverkan: updated (every 30 min)",
        "deployment stale-triage/samverkan: updated (every 30 min)",
        "deployment outbox-drain/samverkan: unchanged",
        f"automation {AUTOMATION!r}: updated",
    ]
    now = _deployments()
    assert now["deadline-sweep"]["intervals"] == [1800.0]
    assert now["deadline-sweep"]["id"] == first["deadline-sweep"]["id"]
    assert now["outbox-drain"] == first["outbox-drain"]
    with get_client(sync_client=True) as client:
        (automation,) = client.read_automations_by_name(AUTOMATION)
    trigger = automation.trigger
    assert isinstance(trigger, EventTrigger)
    assert trigger.within.total_seconds() == 240
    assert trigger.posture == "Proactive"
    assert set(trigger.match_related.get("prefect.resource.id", [])) == {  # type: ignore[union-attr]
        f"prefect.deployment.{d['id']}" for d in now.values()
    }


def test_a_work_pool_of_another_type_is_refused(prefect_server: str, tmp_path: Path) -> None:
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="elsewhere", type="docker"))
    done = _run_deploy(
        tmp_path, PREFECT_API_URL=prefect_server, SAMVERKAN_PREFECT_WORK_POOL="elsewhere"
    )
    assert done.returncode == 1
    assert "the work pool 'elsewhere' exists with type 'docker', not 'process'" in done.stderr


def test_deploy_says_when_the_prefect_api_cannot_be_reached(tmp_path: Path) -> None:
    api = f"http://127.0.0.1:{_free_port()}/api"
    done = _run_deploy(tmp_path, PREFECT_API_URL=api)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(f"samverkan: cannot reach the Prefect API at {api} (ConnectError")
    assert "Start the Prefect server (prefect server start) or correct PREFECT_API_URL" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr


def test_deploy_needs_prefect_api_url(tmp_path: Path) -> None:
    done = _run_deploy(tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("samverkan: PREFECT_API_URL is not set")
    assert "Traceback" not in done.stderr


def test_crash_detection_must_wait_longer_than_a_heartbeat() -> None:
    with pytest.raises(ValidationError, match="must be longer than SAMVERKAN_FLOW_HEARTBEAT"):
        Settings(flow_heartbeat_seconds=60, flow_crash_after_seconds=60)
    assert Settings(flow_heartbeat_seconds=30, flow_crash_after_seconds=60)
