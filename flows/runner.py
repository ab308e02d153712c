"""Serve the calendar flows' deployments on their schedules (run by `samverkan serve`).

`python -m flows.runner` registers the deployments with the Prefect server at
PREFECT_API_URL and runs their scheduled flow runs until it gets SIGTERM or Ctrl-C. The
schedules stay active when it stops (they are not paused), so the next start goes on
where this one left off.
"""

from __future__ import annotations

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.types.entrypoint import EntrypointType

from casework.settings import Settings, get_settings
from flows import DEPLOYMENT
from flows.deploy import SCHEDULED


def deployments(settings: Settings) -> list[RunnerDeployment]:
    """The scheduled flows (`flows.deploy.SCHEDULED`) at their intervals from `settings`."""
    found = []
    for scheduled in SCHEDULED:
        deployment = scheduled.flow.to_deployment(
            DEPLOYMENT,
            interval=scheduled.interval(settings),
            description=scheduled.flow.description,
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        # Called outside an event loop, to_deployment returns the deployment itself.
        assert isinstance(deployment, RunnerDeployment)
        found.append(deployment)
    return found


def main() -> None:
    serve(
        *deployments(get_settings()),
        pause_on_shutdown=False,
        print_starting_message=False,
    )


if __name__ == "__main__":
    main()
