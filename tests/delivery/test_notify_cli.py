"""`samverkan notify test` and `samverkan notify drain`, run as the installed command."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from casework.bootstrap import open_database
from casework.db import unit_of_work
from casework.outbox import Recipient, enqueue
from delivery.conftest import HttpReceiver, SmtpServer


def _command(*args: str) -> list[str]:
    exe = shutil.which("samverkan", path=str(Path(sys.executable).parent))
    assert exe, "the samverkan console script is not installed in this environment"
    return [exe, *args]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMVERKAN_")}
    return {**env, "SAMVERKAN_DATA_DIR": str(tmp_path), **extra}


def test_notify_test_sends_and_prints_the_channel(tmp_path: Path, smtp_server: SmtpServer) -> None:
    result = subprocess.run(
        _command("notify", "test", "anna@example.se"),
        env=_env(tmp_path, SAMVERKAN_SMTP_URL=smtp_server.url()),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("sent through mailto://127.0.0.1")
    [mail] = smtp_server.wait_for(1)
    assert mail["To"] == "anna@example.se"
    assert mail["Subject"] == "Provmeddelande från Samverkan Blekinge"


def test_notify_test_reports_a_failure_without_a_traceback(
    tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    http_receiver.status = 500
    result = subprocess.run(
        _command("notify", "test", http_receiver.url),
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("samverkan: not sent through json://127.0.0.1")
    assert "Traceback" not in result.stderr
    assert len(http_receiver.received) == 1


def test_notify_test_refuses_a_broken_smtp_setting(tmp_path: Path) -> None:
    result = subprocess.run(
        _command("notify", "test", "anna@example.se"),
        env=_env(tmp_path, SAMVERKAN_SMTP_URL="smtp.example.se"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "SAMVERKAN_SMTP_URL is not an Apprise e-mail URL" in result.stderr


class SlowSmtp(SmtpServer):
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.05)
        return await super().handle_DATA(server, session, envelope)


def test_a_drain_process_killed_mid_batch_loses_nothing(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller

    from delivery.conftest import free_port

    smtp = SlowSmtp(port=free_port())
    controller = Controller(smtp, hostname="127.0.0.1", port=smtp.port)
    controller.start()
    try:
        engine: Engine = open_database(f"sqlite:///{tmp_path / 'samverkan.db'}")
        addresses = [f"person{i}@example.se" for i in range(60)]
        with unit_of_work(engine) as session:
            enqueue(
                session,
                kind="test",
                recipients=[Recipient("", a) for a in addresses],
                context={"public_url": "https://a.se"},
            )
        engine.dispose()
        env = _env(tmp_path, SAMVERKAN_SMTP_URL=smtp.url(), SAMVERKAN_DRAIN_LEASE_SECONDS="2")
        first = subprocess.Popen(
            _command("notify", "drain"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        smtp.wait_for(15, timeout=60)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        killed_after = len(smtp.messages)
        assert killed_after < 60, "the drain finished before it could be killed"
        time.sleep(2.5)  # the dead drain's claim lapses
        second = subprocess.run(
            _command("notify", "drain"), env=env, capture_output=True, text=True, timeout=120
        )
        assert second.returncode == 0, second.stderr
        received = Counter(str(mail["To"]) for mail in smtp.messages)
        assert set(received) == set(addresses)  # nothing lost
        # Only what the killed drain sent but had not yet recorded came twice: at most two
        # chunks of 20 (one being recorded while the next is sent).
        assert sum(received.values()) - 60 <= 40
    finally:
        controller.stop()
