"""A production-shaped samverkan on this machine, on loopback: for the end-to-end test of
tests/production and for bench/production.

`Cluster` starts real processes, each in a session of its own: a Prefect server on a
fresh PostgreSQL database (with pg_trgm), `prefect worker start --pool … --type process`
workers, `samverkan serve --no-flows` web processes on one fresh PostgreSQL application
database, and runs `samverkan db upgrade` and `samverkan deploy`. `Mailbox` is an SMTP
server (aiosmtpd) in this process that records every message, can answer slowly, and
can hold every message once a number have arrived (to stop a drain in the middle).

Databases get unique names and are dropped (WITH (FORCE)) when the cluster closes; every
process it started is killed then, with its children.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sqlalchemy.engine import URL, make_url

POSTGRES_URL = os.environ.get(
    "SAMVERKAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BIN = Path(sys.executable).parent
STARTUP_SECONDS = 180.0

FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


class ClusterError(RuntimeError):
    """A process of the cluster did not start or answer."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- processes -----------------------------------------------------------------------


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    return int(stat.rsplit(")", 1)[1].split()[1])


def ancestors(pid: int) -> list[int]:
    """`pid` and its parents, up to init."""
    chain = [pid]
    while (parent := _parent(chain[-1])) not in (None, 0, 1):
        assert parent is not None
        chain.append(parent)
    return chain


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children …)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent = _parent(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    queue = [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def kill_tree(pid: int) -> list[int]:
    """SIGKILL to `pid` first (so it cannot react), then to everything it had started."""
    below = descendants(pid)
    killed = []
    for target in [pid, *below]:
        try:
            os.kill(target, signal.SIGKILL)
            killed.append(target)
        except ProcessLookupError:
            continue
    return killed


def pid_of_local_port(port: int) -> int | None:
    """The process holding the loopback TCP socket whose local port is `port`."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[9] != "0":
                inode = fields[9]
                break
        if inode:
            break
    if inode is None:
        return None
    wanted = f"socket:[{inode}]"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) == wanted:
                    return int(entry.name)
        except OSError:
            continue
    return None


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM, then SIGKILL to it and its children if it has not ended in time."""
        if self.popen.poll() is None:
            below = descendants(self.pid)
            with suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.popen.wait(grace)
            for pid in [self.pid, *below]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
        if self.popen.poll() is None:
            self.popen.wait(10)


# --- the SMTP server ------------------------------------------------------------------


@dataclass
class Mailbox:
    """An SMTP server's handler: records each message's recipients as it arrives.

    `delay` seconds pass before each message is accepted (a relay's latency). With
    `hold_after` set, once that many messages have arrived every further message is
    recorded but not answered until `release()`: it has reached the server, and a client
    that dies meanwhile never learns so. `held` is set when the first one waits, and
    `held_peers` has the (host, port) of each waiting client.
    """

    delay: float = 0.0
    hold_after: int | None = None
    recipients: list[str] = field(default_factory=list)
    held_peers: list[tuple[str, int]] = field(default_factory=list)
    held: threading.Event = field(default_factory=threading.Event)
    _released: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        with self._lock:
            holding = (
                self.hold_after is not None
                and not self._released.is_set()
                and len(self.recipients) >= self.hold_after
            )
            if holding:
                self.held_peers.append(tuple(session.peer[:2]))
                self.held.set()
            # Recorded before the answer: a held message has arrived even if its client
            # dies waiting (aiosmtpd then cancels this handler).
            self.recipients.extend(address.lower() for address in envelope.rcpt_tos)
        while holding and not self._released.is_set():
            await asyncio.sleep(0.05)
        return "250 Message accepted"

    def release(self) -> None:
        self._released.set()

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.recipients)

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(self.recipients)

    def reset(self) -> None:
        with self._lock:
            self.recipients.clear()


@contextmanager
def smtp_server(mailbox: Mailbox) -> Iterator[str]:
    """`mailbox` served on a loopback port; yields the Apprise URL that sends to it."""
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"mailto://127.0.0.1:{port}?from=samverkan@example.se&mode=insecure&name=Samverkan"
    finally:
        mailbox.release()
        controller.stop()


# --- databases ------------------------------------------------------------------------


@contextmanager
def fresh_database(prefix: str, extensions: Sequence[str] = ()) -> Iterator[URL]:
    """A new database on the PostgreSQL server (unique name), dropped afterwards."""
    admin_url = make_url(POSTGRES_URL)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = admin_url.set(database=name)
        if extensions:
            engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
            try:
                with engine.connect() as connection:
                    for extension in extensions:
                        connection.execute(sa.text(f'CREATE EXTENSION IF NOT EXISTS "{extension}"'))
            finally:
                engine.dispose()
        try:
            yield url
        finally:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


# --- the cluster ----------------------------------------------------------------------


@dataclass
class Cluster:
    """The processes of one installation; `start_*` methods add them, `close` ends all."""

    workdir: Path
    app_url: URL
    prefect_url: URL
    settings: Mapping[str, str]
    api_url: str = ""
    processes: list[Process] = field(default_factory=list)
    workers: dict[str, Process] = field(default_factory=dict)
    web_urls: list[str] = field(default_factory=list)
    starting_web: list[tuple[Process, str]] = field(default_factory=list)
    prefect_server: Process | None = None

    def env(self, home: str, **extra: str) -> dict[str, str]:
        """The environment of a process of this installation (PREFECT_HOME of its own)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SAMVERKAN_"))}
        env.update(
            {
                "PREFECT_HOME": str(self.workdir / "prefect" / home),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "SAMVERKAN_DATABASE_URL": self.app_url.render_as_string(hide_password=False),
                "SAMVERKAN_DATA_DIR": str(self.workdir / "data"),
                **self.settings,
                **extra,
            }
        )
        if self.api_url:
            env["PREFECT_API_URL"] = self.api_url
        return env

    def _spawn(self, name: str, command: Sequence[str], env: Mapping[str, str]) -> Process:
        log = self.workdir / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            popen = subprocess.Popen(
                list(command),
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.workdir,
            )
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def _wait(self, process: Process, url: str, what: str) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise ClusterError(
                    f"{process.name} exited with {process.popen.returncode}:\n{process.tail()}"
                )
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise ClusterError(f"{process.name}: {what} did not answer at {url}:\n{process.tail()}")

    def start_prefect_server(self) -> None:
        """Start `prefect server start` on the Prefect database; `wait_for_prefect` waits."""
        port = free_port()
        self.api_url = f"http://127.0.0.1:{port}/api"
        database = self.prefect_url.set(drivername="postgresql+asyncpg")
        env = self.env(
            "server",
            PREFECT_API_DATABASE_CONNECTION_URL=database.render_as_string(hide_password=False),
            PREFECT_UI_ENABLED="false",
        )
        self.prefect_server = self._spawn(
            "prefect-server",
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env,
        )

    def wait_for_prefect(self) -> None:
        assert self.prefect_server is not None, "start_prefect_server first"
        self._wait(self.prefect_server, f"{self.api_url}/health", "the Prefect server")

    def samverkan(self, *args: str, home: str = "cli") -> subprocess.CompletedProcess[str]:
        """Run a `samverkan` command of this installation; raises when it fails."""
        done = subprocess.run(
            [str(BIN / "samverkan"), *args],
            env=self.env(home),
            capture_output=True,
            text=True,
            timeout=STARTUP_SECONDS,
            cwd=self.workdir,
        )
        if done.returncode != 0:
            raise ClusterError(f"samverkan {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done

    def start_worker(
        self, name: str, *, pool: str = "samverkan", limit: int | None = None
    ) -> Process:
        command = [str(BIN / "prefect"), "worker", "start", "--pool", pool, "--type", "process"]
        command += ["--name", name]
        if limit is not None:
            command += ["--limit", str(limit)]
        # Ask for work every 2 s (10 s by default): the test and the bench wait less.
        worker = self._spawn(name, command, self.env(name, PREFECT_WORKER_QUERY_SECONDS="2"))
        self.workers[name] = worker
        return worker

    def wait_for_workers(self, pool: str = "samverkan") -> None:
        """Until the Prefect server lists every started worker of `pool` as online."""
        deadline = time.monotonic() + STARTUP_SECONDS
        wanted = set(self.workers)
        online: set[str] = set()
        while time.monotonic() < deadline:
            for worker in self.workers.values():
                if worker.popen.poll() is not None:
                    raise ClusterError(f"{worker.name} exited:\n{worker.tail()}")
            found = self.api("post", f"/work_pools/{pool}/workers/filter", json={})
            online = {w["name"] for w in found if w["status"] == "ONLINE"}
            if wanted <= online:
                return
            time.sleep(0.5)
        raise ClusterError(f"workers online: {sorted(online)}, started: {sorted(wanted)}")

    def start_web(self, name: str) -> str:
        port = free_port()
        web = self._spawn(
            name,
            [str(BIN / "samverkan"), "serve", "--no-flows", "--port", str(port)],
            self.env(name),
        )
        url = f"http://127.0.0.1:{port}"
        self.web_urls.append(url)
        self.starting_web.append((web, url))
        return url

    def wait_for_web(self) -> None:
        """Until every started web process answers /readyz (database and Prefect API)."""
        for web, url in self.starting_web:
            self._wait(web, f"{url}/readyz", "the web application")
        self.starting_web.clear()

    # --- the Prefect API --------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = httpx.request(method, f"{self.api_url}{path}", timeout=30, **kwargs)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def deployment_id(self, flow: str, deployment: str = "samverkan") -> str:
        found: str = self.api("get", f"/deployments/name/{flow}/{deployment}")["id"]
        return found

    def run_deployment(self, flow: str, parameters: Mapping[str, Any] | None = None) -> str:
        """Ask for a flow run of the deployment now; its id."""
        body = {"parameters": dict(parameters or {})}
        run = self.api(
            "post", f"/deployments/{self.deployment_id(flow)}/create_flow_run", json=body
        )
        run_id: str = run["id"]
        return run_id

    def flow_run(self, run_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.api("get", f"/flow_runs/{run_id}")
        return found

    def flow_runs(self, *flows: str) -> list[dict[str, Any]]:
        """Every flow run of the deployments of `flows`, oldest first."""
        ids = [self.deployment_id(flow) for flow in flows]
        body = {"deployments": {"id": {"any_": ids}}, "sort": "EXPECTED_START_TIME_ASC"}
        found: list[dict[str, Any]] = []
        while True:
            page = self.api("post", "/flow_runs/filter", json={**body, "offset": len(found)})
            found.extend(page)
            if len(page) < 200:
                return found

    def wait_for_run(self, run_id: str, timeout: float = STARTUP_SECONDS) -> dict[str, Any]:
        """The flow run once it is in a final state."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.flow_run(run_id)
            if run["state_type"] in FINAL_STATES or time.monotonic() > deadline:
                return run
            time.sleep(0.5)

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()


@contextmanager
def cluster(workdir: Path, settings: Mapping[str, str]) -> Iterator[Cluster]:
    """Fresh databases and an empty cluster on them; every process and database goes after."""
    with (
        fresh_database("samverkan_app") as app_url,
        fresh_database("samverkan_prefect", extensions=["pg_trgm"]) as prefect_url,
    ):
        running = Cluster(workdir, app_url, prefect_url, settings)
        try:
            yield running
        finally:
            running.close()
