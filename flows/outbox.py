"""The outbox drain as a flow: send every due message, record every attempt.

One flow run drains everything that is due (in batches); it runs every minute and right
after a submission (see `flows.trigger`). The work is `notifications.drain.drain`.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from casework.db import make_engine
from casework.settings import get_settings
from notifications.delivery import AppriseSender
from notifications.drain import drain_configured


@task(retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE)
def send_due_messages(database_url: str | None = None) -> dict[str, Any]:
    """Claim, send and record every message that is due now."""
    settings = get_settings()
    sender = AppriseSender.from_settings(settings)
    engine = make_engine(database_url or settings.database_url)
    try:
        report = drain_configured(engine, sender, settings)
    finally:
        engine.dispose()
    logger = get_run_logger()
    logger.info(
        "%d claimed: %d sent, %d to retry, %d dead",
        report.claimed,
        report.sent,
        report.retried,
        report.dead,
    )
    for line in report.errors[:20]:
        logger.warning(line)
    return {
        "claimed": report.claimed,
        "sent": report.sent,
        "retried": report.retried,
        "dead": report.dead,
    }


@flow(name="outbox-drain", log_prints=True)
def outbox_drain(database_url: str | None = None) -> dict[str, Any]:
    """Send the notification outbox's due messages through Apprise."""
    return send_due_messages(database_url)
