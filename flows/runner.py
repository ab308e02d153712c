"""Serve the calendar flows' deployments on their schedules (run by `samverkan serve`).

`python -m flows.runner` registers the deployments with the Prefect server at
PREFECT_API_URL and runs their scheduled flow runs until it gets SIGTERM or Ctrl-C. The
schedules stay active when it stops (they are not paused), so the next start goes on
where this one left off.
"""

from __future__ import annotations

from datetime import timedelta

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.types.entrypoint import EntrypointType

from casework.settings import get_settings
from flows import DEPLOYMENT
from flows.outbox import outbox_drain
from flows.sweep import deadline_sweep, stale_triage


def deployments(interval_minutes: int, drain_minutes: int = 1) -> list[RunnerDeployment]:
    """The deadline sweep and the stale-triage reminders every `interval_minutes`, the
    outbox drain every `drain_minutes`."""
    found = []
    for flow, minutes in (
        (deadline_sweep, interval_minutes),
        (stale_triage, interval_minutes),
        (outbox_drain, drain_minutes),
    ):
        deployment = flow.to_deployment(
            DEPLOYMENT,
            interval=timedelta(minutes=minutes),
            description=flow.description,
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        # Called outside an event loop, to_deployment returns the deployment itself.
        assert isinstance(deployment, RunnerDeployment)
        found.append(deployment)
    return found


def main() -> None:
    settings = get_settings()
    serve(
        *deployments(settings.sweep_interval_minutes, settings.drain_interval_minutes),
        pause_on_shutdown=False,
        print_starting_message=False,
    )


if __name__ == "__main__":
    main()
