"""`samverkan publish DIR`: the bodies' public pages as a static site."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from casework.cli import app, fail


@app.command()
def publish(
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="DIR",
            help="The folder to write the site to; an earlier export there is replaced.",
        ),
    ],
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            metavar="URL",
            help="The address the site will have (https://…); the Atom feeds' links are made "
            "absolute with it. Without it they are relative to each feed file.",
        ),
    ] = None,
) -> None:
    """Write the public pages (bodies, published agendas and minutes, Atom and iCalendar
    feeds) as a static site with relative links, ready to copy to a web site."""
    from datetime import datetime

    from casework.bootstrap import open_database
    from casework.calendar import STOCKHOLM
    from casework.publication_export import PublishError, export_site

    engine = open_database()
    try:
        summary = export_site(
            engine,
            directory,
            today=datetime.now(STOCKHOLM).date(),
            base_url=base_url,
            progress=typer.echo,
        )
    except PublishError as exc:
        fail(exc.message_sv, code=1)
    finally:
        engine.dispose()
    typer.echo(summary.text_sv)
