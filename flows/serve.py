"""The web application with the calendar flows next to it, for `samverkan serve`.

Unless PREFECT_API_URL names a Prefect server, a Prefect server is started with its
SQLite database and files under `<data_dir>/prefect/`. The flows' deployments are served
by `flows.runner` in a process of its own; the web application runs in this process.
When the web application stops (Ctrl-C, SIGTERM) the runner is stopped first, then the
Prefect server; the schedules are not paused.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from casework.settings import Settings
from flows.trigger import DrainTrigger

__all__ = ["PrefectServerError", "prefect_server", "serve_with_flows"]

DEFAULT_UI_PORT = 4200
STARTUP_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 20.0

Echo = Callable[[str], None]
_PREFECT = (sys.executable, "-m", "prefect")


class PrefectServerError(RuntimeError):
    """The Prefect server could not be started."""


class _Stopped(Exception):
    """SIGTERM arrived."""


def _raise_stopped(signum: int, frame: object) -> None:
    raise _Stopped


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    if _port_is_free(DEFAULT_UI_PORT):
        return DEFAULT_UI_PORT
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes], name: str, echo: Echo) -> None:
    """SIGTERM to the process's group, then SIGKILL if it has not ended in time."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        echo(f"samverkan: {name} did not stop in {STOP_TIMEOUT_SECONDS:.0f} s; killing it")
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        process.wait()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextmanager
def prefect_server(settings: Settings, echo: Echo) -> Iterator[tuple[str, dict[str, str]]]:
    """The Prefect API address and the environment for processes that use it.

    With PREFECT_API_URL set, that server; otherwise a `prefect server start` of our own,
    stopped when the block ends.
    """
    configured = os.environ.get("PREFECT_API_URL", "").strip()
    if configured:
        yield configured.rstrip("/"), dict(os.environ)
        return
    home = (settings.data_dir / "prefect").resolve()
    home.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": api_url,
    }
    log_path = home / "server.log"
    with log_path.open("ab") as log:
        server = subprocess.Popen(
            [*_PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not _healthy(api_url):
            if server.poll() is not None:
                raise PrefectServerError(
                    f"the Prefect server exited with code {server.returncode}; "
                    f"its log ({log_path}) ends:\n{_tail(log_path)}"
                )
            if time.monotonic() > deadline:
                raise PrefectServerError(
                    f"the Prefect server did not answer at {api_url}/health within "
                    f"{STARTUP_TIMEOUT_SECONDS:.0f} s; see {log_path}"
                )
            time.sleep(0.5)
        yield api_url, env
    finally:
        _stop(server, "the Prefect server", echo)


def serve_with_flows(
    run_web: Callable[[], None],
    settings: Settings,
    echo: Echo,
    trigger: DrainTrigger | None = None,
) -> None:
    """Run `run_web` (it blocks until the web application stops) with the flows served;
    `trigger` starts the outbox drain after submissions."""
    with prefect_server(settings, echo) as (api_url, env):
        ui = api_url.removesuffix("/api")
        echo(
            f"samverkan: Prefect UI on {ui}/  (flows deadline-sweep and stale-triage every "
            f"{settings.sweep_interval_minutes} min, outbox-drain every "
            f"{settings.drain_interval_minutes} min and after each submission)"
        )
        runner_env = {
            **env,
            "SAMVERKAN_DATA_DIR": str(settings.data_dir),
            "SAMVERKAN_DATABASE_URL": settings.database_url,
            # Prefect's runner leaves its stop coroutine unawaited when SIGTERM ends it.
            "PYTHONWARNINGS": "ignore:coroutine 'Runner.astop' was never awaited",
        }
        runner = subprocess.Popen(
            [sys.executable, "-m", "flows.runner"],
            env=runner_env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        # uvicorn stops on SIGINT or SIGTERM and then raises the signal again with the
        # handler it found: make that handler end run_web with an exception, so that the
        # runner and the server are stopped below instead of left running.
        previous = signal.signal(signal.SIGTERM, _raise_stopped)
        if trigger is not None:
            trigger.start(api_url)
        try:
            run_web()
        except (KeyboardInterrupt, _Stopped):
            echo("samverkan: stopping the flow runner and the Prefect server")
        finally:
            signal.signal(signal.SIGTERM, previous)
            if trigger is not None:
                trigger.stop()
            _stop(runner, "the flow runner", echo)
