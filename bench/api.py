"""Submissions through the JSON API under load: `python -m bench.api [--requests N]`.

For each database (SQLite, PostgreSQL) and each endpoint, a fresh database is created and
migrated, a real uvicorn server (one worker, 127.0.0.1) is started in a subprocess, and
`--clients` concurrent keep-alive connections send `--requests` submissions; the table gives the
throughput and the latency percentiles. The endpoints:

* `api`: `POST /api/cases` of the application, as deployed, called with a staff bearer
  token (so the rate limit does not apply and the token is looked up on every request);
* `api, anonymous`: the same without a token (the rate limit is set out of reach);
* `bare`: the limit. A FastAPI app on the same server stack that validates the same body
  with the same `CaseCreate` model and stores it with ONE SQL statement,
  `INSERT INTO cases (…) VALUES (…) RETURNING id`, in its own transaction (on SQLite the
  engine's BEGIN IMMEDIATE), on the same kind of database, migrated the same way: no
  routing, no reference counter, no audit event, no token, no authentication.

The submissions are the routing benchmark's generated cases (`bench.cases`) with submitter
fields added. The database is dropped afterwards. Progress goes to stderr, the table to
stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import rules
from bench.cases import DEFAULT_SEED, generate_cases
from casework import accounts
from casework.bootstrap import open_database
from casework.db import make_engine, normalise_url
from casework.lifecycle import State
from casework.model import CaseCreate, StaffRole, utcnow
from casework.settings import Settings
from rules.facts import kind_marks

POSTGRES_URL = os.environ.get(
    "SAMVERKAN_BENCH_POSTGRES_URL",
    os.environ.get(
        "SAMVERKAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
)
BACKENDS = ("sqlite", "postgresql")
API = "api"
API_ANONYMOUS = "api, anonymous"
BARE = "bare"
ENDPOINTS = (BARE, API, API_ANONYMOUS)
STAFF_EMAIL = "bench@example.se"

TARGET_P95_MS = 100.0  # on SQLite, at 50 clients
TARGET_VS_BARE = 0.5  # the API's throughput at least this share of the bare endpoint's

SUBMITTER = {
    "submitter_name": "Anna Andersson",
    "submitter_email": "anna.andersson@example.se",
    "submitter_organisation": "Ronneby kommun",
    "presenter": "Anna Andersson",
    "proposed_decision": "att lägga informationen till protokollet",
}


def progress(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


# --- the bare endpoint ------------------------------------------------------------------------


def bare_app(engine: sa.Engine) -> FastAPI:
    """The limit: the same body, validated the same way, stored with one INSERT."""
    app = FastAPI()
    cases = SQLModel.metadata.tables["cases"]
    insert = sa.insert(cases).returning(cases.c.id)

    @app.post("/api/cases", status_code=201)
    def submit(data: CaseCreate) -> dict[str, int]:
        now = utcnow()
        row = {
            **data.model_dump(exclude={"kind"}),
            "kind": kind_marks(data.kind),
            "target_groups": list(data.target_groups),
            "reference": f"BARE-{uuid.uuid4().hex[:16]}",
            "status": State.submitted,
            "destination": "beredningsgruppen",
            "requires_endorsement": False,
            "lead_group": None,
            "routed_groups": [],
            "routing_rule": "",
            "routing_explanation": "",
            "access_token_hash": None,
            "created_at": now,
            "updated_at": now,
        }
        with engine.begin() as connection:
            case_id = connection.execute(insert, row).scalar_one()
        return {"id": case_id}

    return app


# --- the server subprocess --------------------------------------------------------------------


def serve(
    endpoint: str, database_url: str, data_dir: Path, port: int, loop: str, http: str
) -> None:
    """Run one endpoint under uvicorn until terminated (the `--serve` mode)."""
    import uvicorn

    from casework.web.app import create_app

    engine = make_engine(database_url)
    if endpoint == BARE:
        app = bare_app(engine)
    else:
        settings = Settings(
            data_dir=data_dir, database_url=database_url, submissions_per_minute=10**9
        )
        app = create_app(engine=engine, settings=settings)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop=loop,
        http=http,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    base_url: str
    pid: int

    def cpu_seconds(self) -> float | None:
        """User and system CPU time the server process has used (Linux), else None."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return None
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(
    endpoint: str, database_url: str, data_dir: Path, *, loop: str = "auto", http: str = "auto"
) -> Iterator[Server]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bench.api",
        "--serve",
        endpoint,
        "--database-url",
        database_url,
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--loop",
        loop,
        "--http",
        http,
    ]
    process = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[1])
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the {endpoint} server exited with {process.returncode}")
            try:
                httpx.get(f"{base_url}/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {endpoint} server did not start in 60 s") from None
                time.sleep(0.1)
        progress(f"  server pid {process.pid} on {base_url}")
        yield Server(base_url, process.pid)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- databases --------------------------------------------------------------------------------


@contextmanager
def fresh_database(backend: str, workdir: Path, name: str) -> Iterator[str]:
    """The URL of a new, empty database; dropped (or deleted) afterwards."""
    if backend == "sqlite":
        path = workdir / f"{name}.db"
        yield f"sqlite:///{path}"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    database = f"bench_api_{name}_{uuid.uuid4().hex[:8]}"
    engine = make_engine(POSTGRES_URL)
    admin = engine.execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
        try:
            url = normalise_url(POSTGRES_URL).set(database=database)
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE "{database}" WITH (FORCE)'))
    finally:
        engine.dispose()


def prepare(database_url: str) -> str:
    """Migrate and seed the database; returns a staff API token."""
    engine = open_database(database_url)
    try:
        accounts.create_user(
            engine, email=STAFF_EMAIL, password="bench password 2026", role=StaffRole.beredning
        )
        return accounts.issue_api_token(engine, email=STAFF_EMAIL)
    finally:
        engine.dispose()


def count_cases(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text("SELECT count(*) FROM cases")).scalar_one())
    finally:
        engine.dispose()


# --- the load ---------------------------------------------------------------------------------


@dataclass
class Run:
    backend: str
    endpoint: str
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    first_error: str = ""
    stored: int = 0
    cpu_seconds: float | None = None  # the server process's, during the timed requests

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """The p-th percentile latency in milliseconds (nearest rank)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(p / 100 * len(ordered)))
        return ordered[rank - 1] * 1000

    @property
    def cpu_ms(self) -> float:
        """Server CPU time per request in milliseconds."""
        if self.cpu_seconds is None or not self.requests:
            return float("nan")
        return self.cpu_seconds / self.requests * 1000


class HttpConnection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams, one request at a time.

    httpx would do, but one `httpx.AsyncClient` with 50 connections spends most of its time
    in its own connection pool: against a no-op endpoint it managed 243 requests/s here,
    this client 2 500, so httpx would have measured itself, not the server.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        lines = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines += [f"Content-Length: {len(body)}", "", ""]
        writer.write("\r\n".join(lines).encode("latin-1") + body)
        status = int((await reader.readline()).split()[1])
        length, chunked, close = 0, False, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            length = int(value) if name == "content-length" else length
            chunked = chunked or (name == "transfer-encoding" and "chunked" in value)
            close = close or (name == "connection" and value == "close")
        if chunked:
            content = b""
            while size := int((await reader.readline()).split(b";")[0], 16):
                content += await reader.readexactly(size)
                await reader.readline()
            await reader.readline()
        else:
            content = await reader.readexactly(length)
        if close:
            await self.close()
        return status, content

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def load(
    base_url: str, bodies: list[bytes], clients: int, headers: dict[str, str], run: Run
) -> None:
    """Send every body once from `clients` connections; each waits for its answer."""
    url = httpx.URL(base_url)
    queue = iter(bodies)
    headers = {**headers, "Content-Type": "application/json"}

    async def client() -> None:
        connection = HttpConnection(url.host, url.port or 80)
        try:
            for body in queue:
                started = time.perf_counter()
                try:
                    status, content = await connection.post("/api/cases", body, headers)
                except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as error:
                    run.errors += 1
                    run.first_error = run.first_error or repr(error)
                    await connection.close()
                    continue
                elapsed = time.perf_counter() - started
                if status == 201:
                    run.latencies.append(elapsed)
                else:
                    run.errors += 1
                    run.first_error = run.first_error or f"{status} {content.decode()}"
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    run.seconds = time.perf_counter() - started
    run.requests = len(bodies)


def submissions(rule_set: rules.RuleSet, n: int, seed: int) -> list[bytes]:
    bodies = []
    for facts in generate_cases(rule_set.definition, n, seed):
        body = {**facts.model_dump(mode="json"), **SUBMITTER}
        bodies.append(json.dumps(body, ensure_ascii=False).encode())
    return bodies


def measure(
    backend: str,
    endpoint: str,
    workdir: Path,
    bodies: list[bytes],
    warmup: list[bytes],
    clients: int,
    *,
    loop: str = "auto",
    http: str = "auto",
) -> Run:
    run = Run(backend, endpoint)
    name = endpoint.replace(", ", "_")
    with fresh_database(backend, workdir, name) as database_url:
        progress(f"{backend} / {endpoint}: migrating a fresh database")
        token = prepare(database_url)
        headers = {"Authorization": f"Bearer {token}"} if endpoint == API else {}
        with server(endpoint, database_url, workdir, loop=loop, http=http) as running:
            progress(f"  warming up with {len(warmup)} requests")
            asyncio.run(load(running.base_url, warmup, clients, headers, Run(backend, endpoint)))
            progress(f"  {len(bodies)} requests, {clients} clients")
            cpu_before = running.cpu_seconds()
            asyncio.run(load(running.base_url, bodies, clients, headers, run))
            cpu_after = running.cpu_seconds()
            if cpu_before is not None and cpu_after is not None:
                run.cpu_seconds = cpu_after - cpu_before
        run.stored = count_cases(database_url) - len(warmup)
    progress(
        f"  {run.rate:.0f} req/s, p95 {run.percentile(95):.1f} ms, {run.errors} errors"
        + (f" (first: {run.first_error[:200]})" if run.first_error else "")
    )
    return run


# --- report -----------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(runs: list[Run], clients: int) -> str:
    lines = [
        f"{'backend':<12}{'endpoint':<16}{'requests':>9}{'errors':>8}{'req/s':>9}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'server CPU ms/req':>19}",
        "-" * 100,
    ]
    for run in runs:
        lines.append(
            f"{run.backend:<12}{run.endpoint:<16}{run.requests:>9}{run.errors:>8}"
            f"{run.rate:>9.0f}{run.percentile(50):>9.1f}{run.percentile(95):>9.1f}"
            f"{run.percentile(99):>9.1f}{run.cpu_ms:>19.2f}"
        )
    lines += ["", f"Targets (api = POST /api/cases with a staff token, {clients} clients):"]
    by_key = {(run.backend, run.endpoint): run for run in runs}
    for backend in dict.fromkeys(run.backend for run in runs):
        api = by_key.get((backend, API))
        if api is None:
            continue
        if backend == "sqlite":
            p95 = api.percentile(95)
            lines.append(
                f"  {backend:<11} p95 latency:       {p95:7.1f} ms   "
                f"(target < {TARGET_P95_MS:.0f} ms)   {verdict(p95 < TARGET_P95_MS)}"
            )
        errors = sum(r.errors for r in runs if r.backend == backend and r.endpoint != BARE)
        lost = sum(
            r.requests - r.errors - r.stored
            for r in runs
            if r.backend == backend and r.endpoint != BARE
        )
        lines.append(
            f"  {backend:<11} errors:            {errors:7d}      "
            f"(target 0)          {verdict(errors == 0 and lost == 0)}"
        )
        if lost:
            lines.append(f"  {backend:<11} answered 201 but not stored: {lost}")
        bare = by_key.get((backend, BARE))
        if bare is not None and bare.rate:
            share = api.rate / bare.rate
            lines.append(
                f"  {backend:<11} throughput vs bare: {share:6.2f}×     "
                f"(target ≥ {TARGET_VS_BARE}×)     {verdict(share >= TARGET_VS_BARE)}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.api",
        description="Submissions per second and latency through POST /api/cases.",
    )
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per run")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests first")
    parser.add_argument(
        "--backend", choices=BACKENDS, action="append", help="repeat for several (default: both)"
    )
    parser.add_argument(
        "--endpoint", choices=ENDPOINTS, action="append", help="repeat for several (default: all)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="uvicorn's event loop (auto: uvloop when installed, as `samverkan serve`)",
    )
    parser.add_argument(
        "--http",
        choices=("auto", "h11", "httptools"),
        default="auto",
        help="uvicorn's HTTP parser (auto: httptools when installed, as `samverkan serve`)",
    )
    parser.add_argument("--serve", choices=ENDPOINTS, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve:
        serve(args.serve, args.database_url, args.data_dir, args.port, args.loop, args.http)
        return 0
    if args.requests < 1 or args.clients < 1 or args.warmup < 0:
        parser.error("--requests and --clients must be at least 1, --warmup at least 0")
    backends = args.backend or list(BACKENDS)
    endpoints = [e for e in ENDPOINTS if e in (args.endpoint or ENDPOINTS)]
    if "postgresql" in backends:
        host = make_url(POSTGRES_URL).host or ""
        if host not in ("127.0.0.1", "localhost", "::1"):
            parser.error(f"PostgreSQL must be on the loopback interface, not {host!r}")

    rule_set = rules.load_rules()
    everything = submissions(rule_set, args.warmup + args.requests, args.seed)
    warmup, bodies = everything[: args.warmup], everything[args.warmup :]
    workdir = Path(tempfile.mkdtemp(prefix="samverkan-bench-api-"))
    runs = []
    try:
        for backend in backends:
            for endpoint in endpoints:
                runs.append(
                    measure(
                        backend,
                        endpoint,
                        workdir,
                        bodies,
                        warmup,
                        args.clients,
                        loop=args.loop,
                        http=args.http,
                    )
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(report(runs, args.clients))
    return 0


if __name__ == "__main__":
    sys.exit(main())
