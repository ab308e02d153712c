"""`samverkan serve` as it runs in production: JSON logs, readiness with the Prefect API."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

SAMVERKAN = Path(sys.executable).parent / "samverkan"
STARTUP_SECONDS = 120


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SAMVERKAN_"))}
    env["SAMVERKAN_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def _wait_until_ready(url: str, process: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, "samverkan serve stopped"
        try:
            answer = httpx.get(f"{url}/readyz", timeout=5)
        except httpx.HTTPError:
            time.sleep(0.5)
            continue
        if answer.status_code == 200:
            return answer
        time.sleep(0.5)
    raise AssertionError("samverkan serve did not become ready")


def test_json_logs_are_one_object_per_line_and_name_routes_not_paths(tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(SAMVERKAN), "serve", "--no-flows", "--port", str(port)],
        env=_env(tmp_path / "data", SAMVERKAN_LOG_FORMAT="json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = _wait_until_ready(url, process)
        assert ready.json()["checks"]["prefect"] == {"status": "not configured"}
        assert httpx.get(f"{url}/s/en-hemlig-länk").status_code == 404
        metrics = httpx.get(f"{url}/metrics")
        assert metrics.status_code == 200
        assert (
            'samverkan_http_requests_total{method="GET",route="/s/{token}",status="404"} 1.0'
            in (metrics.text)
        )
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys(), line
    loggers = {line["logger"] for line in lines}
    assert {"uvicorn.error", "samverkan.access"} <= loggers
    (secret,) = [line for line in lines if line.get("path") == "/s/{token}"]
    assert secret["status"] == 404 and secret["method"] == "GET"
    assert "hemlig" not in err
    assert "uvicorn.access" not in loggers


def test_readyz_checks_the_prefect_server_the_flows_use(tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(SAMVERKAN), "serve", "--port", str(port)],
        env=_env(tmp_path / "data"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        ready = _wait_until_ready(url, process)
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    assert ready.json() == {
        "status": "ok",
        "checks": {"database": {"status": "ok"}, "prefect": {"status": "ok"}},
    }, out
