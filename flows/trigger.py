"""Starting the outbox drain right after a submission, without waiting for its schedule.

The web application calls the trigger after each stored submission; the call only sets
a flag. A thread of its own asks the Prefect API for a flow run of the drain deployment,
at most once every `min_interval` seconds however many submissions arrive, and not while
a drain run is due but not yet started, so a burst of submissions costs one flow run,
not one each, whichever web process took them. If Prefect cannot be reached, the
scheduled run a minute later sends the messages.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import httpx

log = logging.getLogger("samverkan.flows")

DRAIN_FLOW = "outbox-drain"


class DrainTrigger:
    def __init__(self, deployment: str, *, min_interval: float = 5.0) -> None:
        self.deployment = deployment
        self.min_interval = min_interval
        self.api_url: str | None = None
        self.requested = 0
        self.skipped = 0
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, api_url: str) -> None:
        """Begin asking the Prefect API at `api_url` (…/api) for flow runs."""
        self.api_url = api_url.rstrip("/")
        self._thread = threading.Thread(target=self._run, name="drain-trigger", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __call__(self) -> None:
        self._wanted.set()

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                self._wanted.wait()
                if self._stop.is_set():
                    return
                self._wanted.clear()
                try:
                    self._create_flow_run(client)
                except httpx.HTTPError as error:
                    log.warning("could not start the outbox drain: %s", error)
                self._stop.wait(self.min_interval)

    def _create_flow_run(self, client: httpx.Client) -> None:
        found = client.get(f"{self.api_url}/deployments/name/{DRAIN_FLOW}/{self.deployment}")
        found.raise_for_status()
        deployment_id = found.json()["id"]
        if self._drain_waiting(client, deployment_id):
            self.skipped += 1
            return
        created = client.post(
            f"{self.api_url}/deployments/{deployment_id}/create_flow_run", json={}
        )
        created.raise_for_status()
        self.requested += 1

    def _drain_waiting(self, client: httpx.Client, deployment_id: str) -> bool:
        """Whether a drain run is due and not started yet: it will send the new messages
        too (with several web processes, or when the workers are busy or paused)."""
        waiting = client.post(
            f"{self.api_url}/flow_runs/count",
            json={
                "deployments": {"id": {"any_": [deployment_id]}},
                "flow_runs": {
                    "state": {"type": {"any_": ["SCHEDULED", "PENDING"]}},
                    "expected_start_time": {"before_": datetime.now(UTC).isoformat()},
                },
            },
        )
        waiting.raise_for_status()
        return bool(waiting.json())
