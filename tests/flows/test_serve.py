"""`samverkan serve` starts a real Prefect server and serves the flows' deployments."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

SAMVERKAN = Path(sys.executable).parent / "samverkan"
STARTUP_SECONDS = 90


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _post(url: str, body: object) -> object:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _drain_quiet(api: str, deployment_id: str, margin: float = 15) -> bool:
    """Whether no drain run is due within `margin` seconds and the next one is scheduled
    already: a submission now finds no run waiting, so its trigger starts one."""
    after = (datetime.now(UTC) + timedelta(seconds=margin)).isoformat()

    def waiting(expected: dict[str, str]) -> int:
        count = _post(
            f"{api}/flow_runs/count",
            {
                "deployments": {"id": {"any_": [deployment_id]}},
                "flow_runs": {
                    "state": {"type": {"any_": ["SCHEDULED", "PENDING"]}},
                    "expected_start_time": expected,
                },
            },
        )
        assert isinstance(count, int)
        return count

    return waiting({"before_": after}) == 0 and waiting({"after_": after}) > 0


def _processes_using(data_dir: Path) -> list[int]:
    """Processes whose environment names the data directory (the runner, the server)."""
    found = []
    marker = str(data_dir).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


class Mailbox:
    """An SMTP server's handler that keeps the recipients of what it receives."""

    def __init__(self) -> None:
        self.recipients: list[str] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.recipients.extend(envelope.rcpt_tos)
        return "250 Message accepted"


def test_serve_starts_prefect_serves_the_flows_and_stops_everything(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = _free_port()
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SAMVERKAN_"))}
    env["SAMVERKAN_DATA_DIR"] = str(data_dir)
    env["SAMVERKAN_SMTP_URL"] = (
        f"mailto://127.0.0.1:{smtp.port}?from=samverkan@example.se&mode=insecure"
    )
    process = subprocess.Popen(
        [str(SAMVERKAN), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        ui = None
        deadline = time.monotonic() + STARTUP_SECONDS
        while ui is None and time.monotonic() < deadline and process.poll() is None:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            if "Prefect UI on " in line:
                ui = line.split("Prefect UI on ", 1)[1].split()[0].rstrip("/")
        assert ui is not None, "".join(output)
        assert ui.startswith("http://127.0.0.1:")
        api = f"{ui}/api"
        # The deployments appear once the runner has registered them: as long again for
        # the runner and the web application to start.
        deadline = time.monotonic() + STARTUP_SECONDS
        found: list[dict[str, object]] = []
        while time.monotonic() < deadline and len(found) < 3:
            time.sleep(0.5)
            found = _post(f"{api}/deployments/filter", {})  # type: ignore[assignment]
        flows = _post(f"{api}/flows/filter", {})
        assert isinstance(flows, list)
        flow_names = {f["id"]: f["name"] for f in flows}
        assert set(flow_names.values()) == {"deadline-sweep", "stale-triage", "outbox-drain"}
        intervals = {}
        deployment_ids = {}
        for deployment in _post(f"{api}/deployments/filter", {}):  # type: ignore[attr-defined]
            assert deployment["paused"] is False
            (schedule,) = deployment["schedules"]
            assert schedule["active"] is True
            intervals[flow_names[deployment["flow_id"]]] = schedule["schedule"]["interval"]
            deployment_ids[flow_names[deployment["flow_id"]]] = deployment["id"]
        assert intervals == {"deadline-sweep": 900, "stale-triage": 900, "outbox-drain": 60}
        while time.monotonic() < deadline and not _answers(f"http://127.0.0.1:{port}/"):
            time.sleep(0.5)
        assert _answers(f"http://127.0.0.1:{port}/")
        # A submission starts the outbox drain at once: the receipt reaches the SMTP server
        # through a flow run on the runner. The trigger starts none while a scheduled drain
        # run is due and not started, so the submission waits for a quiet moment.
        quiet_deadline = time.monotonic() + 90
        while time.monotonic() < quiet_deadline and not _drain_quiet(
            api, deployment_ids["outbox-drain"]
        ):
            time.sleep(0.5)
        assert _drain_quiet(api, deployment_ids["outbox-drain"])
        receipt = _post(
            f"http://127.0.0.1:{port}/api/cases",
            {
                "title": "Samordning kring demensvården",
                "submitter_name": "Anna Andersson",
                "submitter_email": "anna@example.se",
            },
        )
        assert isinstance(receipt, dict) and receipt["reference"].startswith("SB-")
        mail_deadline = time.monotonic() + 90
        while time.monotonic() < mail_deadline and "anna@example.se" not in mailbox.recipients:
            time.sleep(0.5)
        assert mailbox.recipients == ["anna@example.se"], "".join(output)
        runs = _post(
            f"{api}/flow_runs/filter",
            {"deployments": {"id": {"any_": [deployment_ids["outbox-drain"]]}}},
        )
        assert isinstance(runs, list)
        started = [
            (run["auto_scheduled"], run["state_type"], run["expected_start_time"]) for run in runs
        ]
        assert any(not run["auto_scheduled"] for run in runs), started
        assert (data_dir / "prefect" / "prefect.db").exists()
        assert _processes_using(data_dir), "no runner or server process found"
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
        smtp.stop()
    assert code == 0, "".join(output)
    assert "stopping the flow runner and the Prefect server" in "".join(output)
    assert not _answers(f"{api}/health")
    assert _processes_using(data_dir) == []
    # Stopping did not pause the schedules.
    with sqlite3.connect(data_dir / "prefect" / "prefect.db") as db:
        paused = db.execute("SELECT name, paused FROM deployment").fetchall()
        active = db.execute("SELECT active FROM deployment_schedule").fetchall()
    assert sorted(paused) == [("samverkan", 0)] * 3
    assert active == [(1,)] * 3


def test_serve_without_flows_starts_no_prefect_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SAMVERKAN_"))}
    env["SAMVERKAN_DATA_DIR"] = str(data_dir)
    process = subprocess.Popen(
        [str(SAMVERKAN), "serve", "--no-flows", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _answers(f"http://127.0.0.1:{port}/"):
            assert process.poll() is None
            time.sleep(0.3)
        assert _answers(f"http://127.0.0.1:{port}/")
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    assert "Prefect UI" not in out
    assert not (data_dir / "prefect").exists()


def test_a_configured_prefect_server_is_used_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from casework.settings import Settings
    from flows.serve import prefect_server

    monkeypatch.setenv("PREFECT_API_URL", "http://prefect.example.se:4200/api/")
    said: list[str] = []
    with prefect_server(Settings(data_dir=tmp_path / "data"), said.append) as (api, env):
        assert api == "http://prefect.example.se:4200/api"
        assert env["PREFECT_API_URL"] == "http://prefect.example.se:4200/api/"
    assert said == []
    assert not (tmp_path / "data" / "prefect").exists()


def test_a_prefect_server_that_cannot_start_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from casework.settings import Settings
    from flows.serve import PrefectServerError, prefect_server

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    # A directory where its SQLite database should be makes the real server exit at start.
    (tmp_path / "data" / "prefect" / "prefect.db").mkdir(parents=True)
    with (
        pytest.raises(PrefectServerError, match="exited with code"),
        prefect_server(Settings(data_dir=tmp_path / "data"), print),
    ):
        pass
