"""`samverkan notify …`: try the delivery settings and send the outbox by hand."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from casework.settings import Settings
    from notifications.delivery import AppriseSender

notify_app = typer.Typer(
    help="Notifications: test delivery, drain the outbox.", no_args_is_help=True
)


def _sender(settings: Settings) -> AppriseSender:
    """The configured sender, or exit 2 saying which setting is wrong."""
    from notifications.delivery import AppriseSender, DeliveryConfigError

    try:
        return AppriseSender.from_settings(settings)
    except DeliveryConfigError as error:
        typer.echo(f"samverkan: {error}", err=True)
        raise typer.Exit(2) from None


@notify_app.command("test")
def notify_test(
    address: Annotated[
        str,
        typer.Argument(
            help="An e-mail address (sent through SAMVERKAN_SMTP_URL) or an Apprise URL."
        ),
    ],
) -> None:
    """Send a test message now, outside the outbox, and print how it went."""
    from casework.outbox import Recipient
    from casework.settings import get_settings
    from notifications.delivery import Outgoing
    from notifications.messages import render

    settings = get_settings()
    message = render(
        "test", {"recipient": Recipient("", address), "public_url": settings.public_url}
    )
    with _sender(settings) as sender:
        outcome = sender.send(
            Outgoing(address=address, subject=message.subject, text=message.text, html=message.html)
        )
    if outcome.ok:
        typer.echo(f"sent through {outcome.channel}")
        return
    typer.echo(
        f"samverkan: not sent through {outcome.channel or address}: {outcome.error}", err=True
    )
    raise typer.Exit(1)


@notify_app.command("drain")
def notify_drain() -> None:
    """Send every message that is due now, then exit (the flows do this every minute)."""
    from casework.bootstrap import open_database
    from casework.settings import get_settings
    from notifications.drain import drain_configured

    settings = get_settings()
    sender = _sender(settings)
    engine = open_database()
    try:
        report = drain_configured(
            engine,
            sender,
            settings,
            on_progress=lambda r: typer.echo(f"… {r.claimed} claimed, {r.sent} sent", err=True),
        )
    finally:
        engine.dispose()
    typer.echo(
        f"{report.claimed} claimed: {report.sent} sent, "
        f"{report.retried} to retry, {report.dead} dead"
    )
    for line in report.errors[:20]:
        typer.echo(f"  {line}", err=True)
