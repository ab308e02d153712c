"""The production set-up, end to end on loopback: a Prefect server on PostgreSQL, two
process workers, two web processes on one PostgreSQL database, `samverkan deploy`.

500 cases are submitted concurrently through both web processes; the outbox drain and
the sweeps run on the workers. While a drain is sending, the worker running it is killed
with SIGKILL (with its flow-run process). Afterwards every case is stored once, every
message has reached the SMTP server once or twice (never zero), the killed run is marked
Crashed by the deployed automation and a later drain run completed; no run is left
Pending or Running.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from conftest import _require_postgres, wait_until
from sqlmodel import col

from casework.model import Case, Notification, NotificationStatus, utcnow

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.cluster import (
    FINAL_STATES,
    Cluster,
    Mailbox,
    ancestors,
    cluster,
    kill_tree,
    pid_of_local_port,
    smtp_server,
)

pytestmark = [pytest.mark.postgres, pytest.mark.production]

CASES = 500
WAIT_SECONDS = 240.0
DRAIN = "outbox-drain"
FLOWS = ("deadline-sweep", "stale-triage", DRAIN)

SETTINGS = {
    "SAMVERKAN_SUBMISSIONS_PER_MINUTE": "100000",
    # The messages a killed drain had claimed go out again 20 s after it claimed them.
    "SAMVERKAN_DRAIN_LEASE_SECONDS": "20",
    # Heartbeats every 30 s (Prefect's minimum); a run silent for 120 s is crashed, which
    # leaves a run's process time to start on a busy machine before its first heartbeat.
    "SAMVERKAN_FLOW_HEARTBEAT_SECONDS": "30",
    "SAMVERKAN_FLOW_CRASH_AFTER_SECONDS": "120",
    # The scheduled runs come on the hour: the test starts the runs it waits for itself.
    "SAMVERKAN_SWEEP_INTERVAL_MINUTES": "60",
    "SAMVERKAN_DRAIN_INTERVAL_MINUTES": "60",
}


def _until(condition: Callable[[], object], what: str) -> None:
    wait_until(condition, what, timeout=WAIT_SECONDS, interval=0.5)


@pytest.fixture
def mailbox() -> Mailbox:
    # Each message takes 50 ms to be accepted, so a drain of the burst takes a while;
    # once 70 messages have arrived, the next ones wait until the test releases them
    # (70: amid the drain's batch of 20 messages sent between two records of outcomes).
    return Mailbox(delay=0.05, hold_after=70)


@pytest.fixture
def running(tmp_path: Path, mailbox: Mailbox) -> Iterator[tuple[Cluster, str]]:
    _require_postgres()
    with smtp_server(mailbox) as smtp_url:
        settings = {**SETTINGS, "SAMVERKAN_SMTP_URL": smtp_url}
        with cluster(tmp_path, settings) as started:
            yield started, smtp_url


def _submit(client: httpx.Client, url: str, number: int) -> str:
    answer = client.post(
        f"{url}/api/cases",
        json={
            "title": f"Samordning kring hemtjänsten, fråga {number}",
            "description": "Hur samordnar kommunen och regionen insatserna?",
            "submitter_name": f"Person {number}",
            "submitter_email": f"person{number}@example.se",
        },
    )
    assert answer.status_code == 201, answer.text
    reference: str = answer.json()["reference"]
    return reference


def test_two_workers_two_web_processes_and_a_killed_worker(
    running: tuple[Cluster, str], mailbox: Mailbox
) -> None:
    installation, _smtp = running
    installation.start_prefect_server()
    # The web processes wait (readiness) for the database and the Prefect API.
    urls = [installation.start_web("web-1"), installation.start_web("web-2")]
    installation.samverkan("db", "upgrade")
    installation.wait_for_prefect()
    first = installation.samverkan("deploy").stdout
    assert "work pool samverkan: created (type process)" in first
    for flow in FLOWS:
        assert f"deployment {flow}/samverkan: created" in first

    for name in ("worker-1", "worker-2"):
        installation.start_worker(name, limit=1)
    # Deploying again changes nothing.
    again = installation.samverkan("deploy").stdout
    assert again.count(": unchanged") == 5, again
    installation.wait_for_workers()
    installation.wait_for_web()

    deployments = installation.api("post", "/deployments/filter", json={})
    assert {d["work_pool_name"] for d in deployments} == {"samverkan"}
    assert sorted(d["entrypoint"] for d in deployments) == [
        "flows.outbox:outbox_drain",
        "flows.sweep:deadline_sweep",
        "flows.sweep:stale_triage",
    ]

    # 500 submissions at once, half through each web process. The work pool is paused
    # meanwhile, so that the drain runs they ask for start together afterwards.
    installation.api("patch", "/work_pools/samverkan", json={"is_paused": True})
    with (
        httpx.Client(timeout=120, limits=httpx.Limits(max_connections=40)) as client,
        ThreadPoolExecutor(40) as pool,
    ):
        references = list(pool.map(lambda n: _submit(client, urls[n % 2], n), range(CASES)))
    assert len(set(references)) == CASES
    burst_ended = datetime.now(UTC)
    drains = installation.flow_runs(DRAIN)
    asked = [run for run in drains if not run["auto_scheduled"]]
    # Each web process asks for a drain after submissions, but not while one waits to
    # start: the burst cost one run, or two when both asked at the same moment, or none
    # when the schedule's own run fell due (the hour struck) while the pool was paused.
    due = [
        run
        for run in drains
        if run["auto_scheduled"]
        and run["state_type"] in ("SCHEDULED", "PENDING")
        and datetime.fromisoformat(run["expected_start_time"]) <= burst_ended
    ]
    assert len(asked) <= 2 and (asked or due), (asked, due)

    sweeps = [installation.run_deployment(flow) for flow in ("deadline-sweep", "stale-triage")]
    installation.api("patch", "/work_pools/samverkan", json={"is_paused": False})
    # Messages after the 70th wait at the SMTP server: kill the worker whose flow run
    # holds a waiting connection, with the run's process.
    _until(mailbox.held.is_set, "a drain run sending messages")
    sender = None
    for _ in range(50):
        sender = pid_of_local_port(mailbox.held_peers[0][1])
        if sender is not None:
            break
        time.sleep(0.1)
    assert sender is not None, "the sending process was not found"
    chain = ancestors(sender)
    (victim,) = [w for w in installation.workers.values() if w.pid in chain]
    (killed_run,) = [
        run
        for run in installation.flow_runs(DRAIN)
        if run["state_type"] == "RUNNING" and int(run["infrastructure_pid"] or 0) in chain
    ]
    killed_at = datetime.now(UTC)
    kill_tree(victim.pid)
    victim.popen.wait(10)
    mailbox.release()
    survivor = next(w for w in installation.workers.values() if w is not victim)

    engine = sa.create_engine(installation.app_url)
    try:
        # The messages the killed run had claimed become free when its lease lapses; a
        # drain asked for after that (the schedule's next run would do the same) sends
        # them on the surviving worker.
        def claims_lapsed() -> bool:
            with engine.connect() as connection:
                held = connection.execute(
                    sa.select(sa.func.count())
                    .select_from(Notification)
                    .where(
                        col(Notification.status) == NotificationStatus.pending,
                        col(Notification.claimed_until) > utcnow(),
                    )
                ).scalar_one()
            return held == 0

        _until(claims_lapsed, "the killed drain's claims to lapse")
        later = installation.run_deployment(DRAIN)
        finished = installation.wait_for_run(later, WAIT_SECONDS)
        assert finished["state_type"] == "COMPLETED", finished["state"]

        def all_sent() -> bool:
            with engine.connect() as connection:
                pending = connection.execute(
                    sa.select(sa.func.count())
                    .select_from(Notification)
                    .where(col(Notification.status) != NotificationStatus.sent)
                ).scalar_one()
            return pending == 0

        # A drain still running on the surviving worker sends what it has claimed.
        _until(all_sent, "every message to be sent")

        with engine.connect() as connection:
            stored = connection.execute(
                sa.select(sa.func.count(), sa.func.count(sa.distinct(col(Case.reference))))
            ).one()
            stored_references = set(connection.execute(sa.select(col(Case.reference))).scalars())
            due = list(
                connection.execute(
                    sa.select(sa.func.lower(col(Notification.recipient_address)))
                ).scalars()
            )
    finally:
        engine.dispose()

    # Every case stored exactly once.
    assert tuple(stored) == (CASES, CASES)
    assert stored_references == set(references)
    # Every message at the SMTP server at least once, at most twice; nothing else came.
    assert len(due) == CASES
    received = mailbox.counts()
    assert {address: received[address] for address in due if received[address] not in (1, 2)} == {}
    assert set(received) == set(due)
    # The message that waited when the worker died reached the server (its answer did
    # not reach the drain), and was sent again: the crash window is real.
    assert max(received.values()) == 2

    # The deployed automation marks the killed run Crashed once its heartbeats stop.
    _until(
        lambda: installation.flow_run(killed_run["id"])["state_type"] == "CRASHED",
        "the killed run to be marked Crashed",
    )
    for run_id in sweeps:
        assert installation.wait_for_run(run_id)["state_type"] == "COMPLETED"

    # No flow run is left behind: all final, except runs scheduled for later.
    def settled() -> bool:
        runs = installation.flow_runs(*FLOWS)
        return all(
            run["state_type"] in FINAL_STATES
            or (run["state_type"] == "SCHEDULED" and run["state_name"] != "Late")
            for run in runs
        )

    _until(settled, "every flow run to reach a final state")
    runs = installation.flow_runs(*FLOWS)
    crashed = [run["id"] for run in runs if run["state_type"] == "CRASHED"]
    assert crashed == [killed_run["id"]]
    # The drain asked for after the kill ran to the end on the surviving worker.
    assert datetime.fromisoformat(finished["start_time"]) > killed_at
    assert survivor.popen.poll() is None
