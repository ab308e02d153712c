"""The production set-up on this machine: `python -m bench.production`.

Two comparisons, on fresh PostgreSQL databases that are dropped afterwards:

* **web processes**: `--submissions` cases posted to `/api/cases` by `--clients`
  keep-alive connections (bench.api's asyncio client, in this process), spread over one,
  then two `samverkan serve --no-flows` processes on one application database;
  submissions/s over the whole burst, and the median and 95th percentile of a request's
  time;
* **drain workers**: `--messages` messages put in the outbox, then drained by flow runs
  of the `outbox-drain` deployment (`samverkan deploy`) on one, then two
  `prefect worker start --pool samverkan --type process --limit 1` workers; as many flow
  runs are asked for at once as there are workers. The SMTP server (aiosmtpd, in this
  process) answers each message after `--smtp-delay-ms`, as a relay does. Timed from
  asking for the runs until the server has every message ("total", which includes
  starting the flow-run processes), and from the first message to the last ("sending").

Progress goes to stderr, the tables to stdout. Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench.api import HttpConnection
from bench.cluster import Cluster, Mailbox, cluster, smtp_server
from casework.db import make_engine, unit_of_work
from casework.model import Notification, NotificationAttempt
from casework.outbox import Recipient, enqueue

SETTINGS = {
    "SAMVERKAN_SUBMISSIONS_PER_MINUTE": "1000000",
    # No scheduled run during the measurement: the bench asks for the runs itself.
    "SAMVERKAN_SWEEP_INTERVAL_MINUTES": "1440",
    "SAMVERKAN_DRAIN_INTERVAL_MINUTES": "1440",
}


def progress(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def process_cpu(pids: Sequence[int]) -> float:
    """User and system CPU seconds the processes have used so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[int, int]:
    """The machine's busy and total CPU time so far (clock ticks, all cores)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = ticks[3] + ticks[4]
    return sum(ticks) - idle, sum(ticks)


@dataclass(frozen=True)
class WebRow:
    processes: int
    submissions: int
    seconds: float
    latencies: list[float]
    server_cpu: float = 0.0
    machine_busy: float = 0.0

    @property
    def cpu_ms(self) -> float:
        return self.server_cpu / self.submissions * 1000

    @property
    def rate(self) -> float:
        return self.submissions / self.seconds

    def percentile(self, p: float) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(p) - 1]


@dataclass(frozen=True)
class DrainRow:
    workers: int
    messages: int
    total: float
    sending: float

    @property
    def rate(self) -> float:
        return self.messages / self.total

    @property
    def sending_rate(self) -> float:
        return self.messages / self.sending


def submit_burst(urls: Sequence[str], count: int, clients: int, start: int) -> WebRow:
    """`count` submissions from `clients` keep-alive connections, spread evenly over `urls`
    (bench.api's asyncio client: one httpx client would measure itself)."""
    bodies = iter(
        json.dumps(
            {
                "title": f"Samordning kring hemtjänsten, fråga {number}",
                "description": "Hur samordnar kommunen och regionen insatserna?",
                "submitter_name": f"Person {number}",
                "submitter_email": f"person{number}@example.se",
            }
        ).encode()
        for number in range(start, start + count)
    )
    latencies: list[float] = []
    headers = {"Content-Type": "application/json"}

    async def client(url: httpx.URL) -> None:
        connection = HttpConnection(url.host, url.port or 80)
        try:
            for body in bodies:
                began = time.perf_counter()
                status, content = await connection.post("/api/cases", body, headers)
                if status != 201:
                    raise SystemExit(f"submission: {status} {content.decode()[:300]}")
                latencies.append(time.perf_counter() - began)
        finally:
            await connection.close()

    async def burst() -> None:
        targets = [httpx.URL(urls[i % len(urls)]) for i in range(clients)]
        await asyncio.gather(*(client(target) for target in targets))

    began = time.perf_counter()
    asyncio.run(burst())
    return WebRow(len(urls), count, time.perf_counter() - began, latencies)


def bench_web(installation: Cluster, submissions: int, clients: int) -> list[WebRow]:
    rows = []
    installation.samverkan("db", "upgrade")
    urls: list[str] = []
    number = 0
    for processes in (1, 2):
        while len(urls) < processes:
            urls.append(installation.start_web(f"web-{len(urls) + 1}"))
        installation.wait_for_web()
        warm = submit_burst(urls, 20 * processes, clients, number)
        number += warm.submissions
        progress(f"web: {submissions} submissions through {processes} process(es)")
        pids = [p.pid for p in installation.processes if p.name.startswith("web-")]
        cpu_before, (busy_before, total_before) = process_cpu(pids), machine_cpu()
        row = submit_burst(urls, submissions, clients, number)
        busy_after, total_after = machine_cpu()
        row = replace(
            row,
            server_cpu=process_cpu(pids) - cpu_before,
            machine_busy=(busy_after - busy_before) / max(1, total_after - total_before),
        )
        number += row.submissions
        progress(f"web: {row.rate:.0f} submissions/s, p95 {row.percentile(95) * 1000:.0f} ms")
        rows.append(row)
    for process in installation.processes:
        if process.name.startswith("web-"):
            process.stop()
    return rows


def fill_outbox(installation: Cluster, messages: int) -> None:
    engine = make_engine(installation.app_url.render_as_string(hide_password=False))
    try:
        with unit_of_work(engine) as session:
            session.execute(sa.delete(NotificationAttempt))
            session.execute(sa.delete(Notification))
            enqueue(
                session,
                kind="test",
                recipients=[
                    Recipient(f"Ledamot {i}", f"ledamot{i}@example.se") for i in range(messages)
                ],
                context={"public_url": "https://samverkan.example.se"},
            )
    finally:
        engine.dispose()


def drain_with(installation: Cluster, mailbox: Mailbox, runs: int, messages: int) -> DrainRow:
    """Ask for `runs` drain runs at once; timed until the SMTP server has every message."""
    fill_outbox(installation, messages)
    mailbox.reset()
    began = time.perf_counter()
    asked = [installation.run_deployment("outbox-drain") for _ in range(runs)]
    first = None
    while mailbox.count < messages:
        if first is None and mailbox.count:
            first = time.perf_counter()
        time.sleep(0.01)
    done = time.perf_counter()
    for run_id in asked:
        state = installation.wait_for_run(run_id)["state_type"]
        if state != "COMPLETED":
            raise SystemExit(f"drain run {run_id} ended {state}")
    return DrainRow(runs, messages, done - began, done - (first or began))


def bench_drain(installation: Cluster, mailbox: Mailbox, messages: int) -> list[DrainRow]:
    installation.start_prefect_server()
    installation.wait_for_prefect()
    installation.samverkan("deploy")
    rows = []
    for workers in (1, 2):
        while len(installation.workers) < workers:
            installation.start_worker(f"worker-{len(installation.workers) + 1}", limit=1)
        installation.wait_for_workers()
        progress(f"drain: warming up {workers} worker(s)")
        drain_with(installation, mailbox, workers, 10 * workers)
        progress(f"drain: {messages} messages with {workers} worker(s)")
        row = drain_with(installation, mailbox, workers, messages)
        progress(f"drain: {row.rate:.0f} messages/s")
        rows.append(row)
    return rows


def print_tables(web: list[WebRow], drain: list[DrainRow], clients: int, delay_ms: float) -> None:
    print(f"\nSubmissions to POST /api/cases, {clients} concurrent clients, PostgreSQL\n")
    print(
        "| web processes | submissions | seconds | submissions/s | p50 ms | p95 ms "
        "| × 1 process | web CPU ms/submission | machine CPU busy |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in web:
        print(
            f"| {row.processes} | {row.submissions} | {row.seconds:.2f} | {row.rate:.0f} | "
            f"{row.percentile(50) * 1000:.0f} | {row.percentile(95) * 1000:.0f} | "
            f"{row.rate / web[0].rate:.2f} | {row.cpu_ms:.1f} | {row.machine_busy:.0%} |"
        )
    cores = os.cpu_count()
    print(f"\n({cores} cores; machine CPU busy counts every process on it, other work too)")
    print(
        f"\nOutbox drain on Prefect process workers, SMTP answering after {delay_ms:g} ms, "
        "one flow run per worker\n"
    )
    print(
        "| workers | messages | total s | messages/s | × 1 worker "
        "| sending s | sending messages/s | × 1 worker |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for d in drain:
        print(
            f"| {d.workers} | {d.messages} | {d.total:.2f} | {d.rate:.0f} | "
            f"{d.rate / drain[0].rate:.2f} | {d.sending:.2f} | {d.sending_rate:.0f} | "
            f"{d.sending_rate / drain[0].sending_rate:.2f} |"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.production",
        description="Submissions through one and two web processes; the outbox drain on "
        "one and two Prefect workers.",
    )
    parser.add_argument("--submissions", type=int, default=1000, help="per row (1000)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    parser.add_argument("--messages", type=int, default=2000, help="per drain row (2000)")
    parser.add_argument(
        "--smtp-delay-ms", type=float, default=20.0, help="the SMTP server's answer time (20)"
    )
    args = parser.parse_args(argv)
    mailbox = Mailbox(delay=args.smtp_delay_ms / 1000)
    with (
        tempfile.TemporaryDirectory(prefix="bench-production-") as tmp,
        smtp_server(mailbox) as smtp_url,
        cluster(Path(tmp), {**SETTINGS, "SAMVERKAN_SMTP_URL": smtp_url}) as installation,
    ):
        # The web processes run without a Prefect server: no drain runs wait for the
        # workers when the drain rows begin.
        web = bench_web(installation, args.submissions, args.clients)
        drain = bench_drain(installation, mailbox, args.messages)
    print_tables(web, drain, args.clients, args.smtp_delay_ms)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
