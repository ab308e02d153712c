"""The `samverkan` command. Errors are printed in English on standard error, never as tracebacks."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, NoReturn

import typer
from pydantic import ValidationError

import rules
from casework.settings import get_settings
from notifications.cli import notify_app
from rules.check import check_file

if TYPE_CHECKING:
    from sqlalchemy import Engine

app = typer.Typer(
    help="samverkan – case routing and workflow for collaboration bodies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
rules_app = typer.Typer(help="Work with routing rule files.", no_args_is_help=True)
db_app = typer.Typer(help="The application database.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
app.add_typer(db_app, name="db")
app.add_typer(notify_app, name="notify")

RulesOption = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        help="Rule file to use (default: SAMVERKAN_RULES, else the bundled rules).",
        dir_okay=False,
    ),
]


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"samverkan: {message}", err=True)
    raise typer.Exit(code)


def describe_validation_error(exc: ValidationError) -> str:
    """Pydantic's errors as one readable line: `field: reason; field: reason`."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "case"
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def load_rule_set(path: Path | None) -> rules.RuleSet:
    try:
        return rules.load_rules(path or get_settings().rules_path)
    except rules.RuleFileError as exc:
        fail(f"cannot load rules:\n{exc}")


def parse_case_line(line: str) -> rules.CaseFacts:
    """One JSON Lines record: a case, or an object holding one under `case`."""
    try:
        data: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    if isinstance(data, dict) and isinstance(data.get("case"), dict):
        data = data["case"]
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object (a case, or an object with a 'case' key)")
    try:
        return rules.CaseFacts.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"not a valid case: {describe_validation_error(exc)}") from None


class OutputFormat(StrEnum):
    json = "json"
    text = "text"


def _as_text(
    number: int, facts: rules.CaseFacts, result: rules.RouteResult, rs: rules.RuleSet
) -> str:
    destination = rs.definition.destinations.get(result.destination, result.destination)
    flags = (
        " – kräver stöd från varje organisations egna beslutsorgan" * result.requires_endorsement
    )
    return (
        f"{number:>3}. {facts.title}\n"
        f"     → {destination} ({result.destination}){flags}\n"
        f"     {result.explanation}\n"
    )


def _lines(source: BinaryIO) -> Iterator[tuple[int, str | None]]:
    """Numbered non-blank lines; None for a line that is not UTF-8."""
    for number, raw in enumerate(source, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, None
            continue
        if line.strip():
            yield number, line


@app.command()
def route(
    file: Annotated[
        Path | None,
        typer.Argument(help="JSON Lines file of cases; standard input when omitted or '-'."),
    ] = None,
    rules_file: RulesOption = None,
    output: Annotated[
        OutputFormat,
        typer.Option("--format", help="json: one JSON line per case; text: for people."),
    ] = OutputFormat.json,
) -> None:
    """Route cases: one JSON line in, one JSON line out, in input order."""
    rule_set = load_rule_set(rules_file)
    if file is None or str(file) == "-":
        source: BinaryIO = sys.stdin.buffer
    else:
        try:
            source = file.open("rb")
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror}")
    failures = 0
    with source:
        for number, line in _lines(source):
            try:
                if line is None:
                    raise ValueError("not UTF-8 text")
                facts = parse_case_line(line)
                result = rule_set.route(facts)
            except (ValueError, rules.RulesError) as exc:
                failures += 1
                typer.echo(f"line {number}: {exc}", err=True)
                continue
            if output is OutputFormat.text:
                typer.echo(_as_text(number, facts, result, rule_set))
            else:
                typer.echo(json.dumps(result.public(), ensure_ascii=False))
    if failures:
        fail(f"{failures} line(s) could not be routed", code=1)


@app.command()
def deadlines(
    group: Annotated[str, typer.Argument(help="Group slug, e.g. lsvo or sg-aldre.")],
    meeting: Annotated[str, typer.Argument(help="Meeting date, YYYY-MM-DD.", metavar="YYYY-MM-DD")],
) -> None:
    """Print a meeting's agenda and submission deadlines as JSON."""
    from casework.bootstrap import open_database
    from casework.calendar import deadlines_for
    from casework.services import GroupNotFound, deadline_rule

    try:
        day = date.fromisoformat(meeting)
    except ValueError:
        fail(f"invalid date {meeting!r}: use YYYY-MM-DD, e.g. 2026-06-26")
    try:
        rule = deadline_rule(open_database(), group)
    except GroupNotFound as exc:
        fail(str(exc))
    typer.echo(json.dumps(deadlines_for(group, day, rule).as_json(), ensure_ascii=False))


@rules_app.command("check")
def rules_check(
    file: Annotated[
        Path | None, typer.Argument(help="Rule file (default: the configured rules).")
    ] = None,
) -> None:
    """Lint a rule file: schema errors, duplicate ids, unreachable rules, no fallback."""
    path = file or get_settings().rules_path
    problems = check_file(path)
    for problem in problems:
        typer.echo(str(problem), err=True)
    if problems:
        fail(f"{path}: {len(problems)} problem(s)", code=1)
    typer.echo(f"{path}: ok")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema (the application also does this on start)."""
    from casework.bootstrap import open_database

    open_database()
    typer.echo("database is up to date")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="First add demo data: a staff user (its password printed once), a year of "
            "meetings and a few example cases. Adds nothing that is already there.",
        ),
    ] = False,
    flows: Annotated[
        bool,
        typer.Option(
            "--flows/--no-flows",
            help="Also serve the calendar flows (deadline sweep, stale triage) with a Prefect "
            "server under the data directory, unless PREFECT_API_URL names one. With "
            "--no-flows and PREFECT_API_URL set, the flows run on that server's workers "
            "(samverkan deploy) and submissions start its outbox drain.",
        ),
    ] = True,
) -> None:
    """Start the web application (migrating the database first) and print its address."""
    import uvicorn

    from casework.bootstrap import open_database
    from casework.web.app import create_app

    settings = get_settings()
    try:
        rule_set = rules.load_rules(settings.rules_path)
    except rules.RuleFileError as exc:
        fail(f"cannot load rules:\n{exc}")
    engine = open_database(settings.database_url)
    # A wildcard address is not one a browser can open; the loopback address always works.
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    address = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}"
    if demo:
        _prepare_demo(engine, rule_set, settings.reference_prefix, address)
    if settings.secure_cookies and not _is_loopback(host):
        typer.echo(
            "samverkan: note: the session cookie is Secure, so signing in needs HTTPS (a "
            "TLS proxy in front) except on http://127.0.0.1 and http://localhost"
        )
    trigger = None
    if flows:
        from flows import DEPLOYMENT
        from flows.trigger import DrainTrigger

        trigger = DrainTrigger(DEPLOYMENT)
    elif _configured_prefect_api():
        # The flows run on Prefect workers (samverkan deploy): after a submission, ask
        # their server for an outbox drain instead of waiting for its schedule.
        from flows import DEPLOYMENT
        from flows.trigger import DrainTrigger

        trigger = DrainTrigger(DEPLOYMENT)
    web_app = create_app(
        engine=engine, rule_set=rule_set, settings=settings, after_submission=trigger
    )

    def run_web() -> None:
        typer.echo(f"samverkan: serving on {address}/  (API docs: {address}/docs)")
        from casework.logs import logging_config

        uvicorn.run(
            web_app,
            host=host,
            port=port,
            log_level="info",
            proxy_headers=True,
            log_config=logging_config(settings.log_format),
            # The JSON log has its own access lines, by route template and with durations.
            access_log=settings.log_format == "text",
        )

    if not flows:
        if trigger is not None:
            trigger.start(_configured_prefect_api())
        try:
            run_web()
        finally:
            if trigger is not None:
                trigger.stop()
        return
    from flows.serve import PrefectServerError, serve_with_flows

    try:
        serve_with_flows(run_web, settings, typer.echo, trigger)
    except PrefectServerError as exc:
        fail(f"cannot start the flows: {exc}\n  (--no-flows serves the web application alone)")


@app.command("deploy")
def deploy_command() -> None:
    """Register the flows' deployments and schedules with the Prefect server at PREFECT_API_URL.

    Creates the process work pool (SAMVERKAN_PREFECT_WORK_POOL) when it is missing; running
    it again changes nothing. Workers run the flows: prefect worker start --pool POOL.
    """
    from flows.deploy import DeployError, deploy

    try:
        deploy(get_settings(), lambda line: typer.echo(f"samverkan: {line}"))
    except DeployError as exc:
        fail(str(exc), code=1)


def _configured_prefect_api() -> str:
    import os

    return os.environ.get("PREFECT_API_URL", "").strip()


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _command_name() -> str:
    """How this command was started, when that was by its own name (e.g. .venv/bin/samverkan)."""
    started = sys.argv[0] if sys.argv else ""
    return started if Path(started).name == "samverkan" else "samverkan"


def _prepare_demo(engine: Engine, rule_set: rules.RuleSet, prefix: str, address: str) -> None:
    from casework import demo

    result = demo.prepare(engine, rules=rule_set, reference_prefix=prefix)
    for group, dates in result.meetings.items():
        typer.echo(
            f"samverkan: demo: planned {len(dates)} meetings for {group}, "
            f"{dates[0].isoformat()} to {dates[-1].isoformat()}"
        )
    if result.references:
        typer.echo(
            f"samverkan: demo: submitted {len(result.references)} example cases, "
            f"{result.references[0]} to {result.references[-1]}"
        )
    typer.echo(f"samverkan: demo: sign in at {address}/logga-in as {result.email}")
    if result.password is None:
        reset = f"{_command_name()} users add {result.email} --role {demo.DEMO_ROLE}"
        typer.echo(
            "samverkan: demo: that user exists from an earlier run; its password was shown "
            f"then. To set a new one, run\n    {reset} --password-stdin\n"
            "  and type it (at least 12 characters) followed by Enter."
        )
    else:
        typer.echo(f"samverkan: demo: password {result.password}  (shown only this once)")


users_app = typer.Typer(help="Staff accounts: sign-in users and API tokens.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("add")
def users_add(
    email: Annotated[str, typer.Argument(help="The user's e-mail address, used to sign in.")],
    role: Annotated[str, typer.Option(help="beredning, secretary, chair, member or admin.")],
    group: Annotated[
        str | None, typer.Option(help="Group slug; required for secretary and chair.")
    ] = None,
    name: Annotated[str, typer.Option(help="The name shown in the application.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a staff user (or give an existing one another role and a new password)."""
    from casework import accounts, repository
    from casework.bootstrap import open_database
    from casework.db import unit_of_work
    from casework.model import StaffRole
    from casework.services import GroupNotFound

    if not password_stdin:
        fail("give the password on standard input with --password-stdin")
    try:
        staff_role = StaffRole(role)
    except ValueError:
        fail(f"unknown role {role!r}: use one of {', '.join(StaffRole)}")
    if staff_role in (StaffRole.secretary, StaffRole.chair) and not group:
        fail(f"the role {staff_role} needs --group: which group's {staff_role}?")
    # One line: a trailing newline from `echo` or a here-string is not part of the password.
    password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if len(password) < accounts.MIN_PASSWORD_LENGTH:
        fail(f"the password must have at least {accounts.MIN_PASSWORD_LENGTH} characters")
    engine = open_database()
    try:
        if group is not None:
            with unit_of_work(engine, write=False) as session:
                if repository.get_group(session, slug=group) is None:
                    known = [g.slug for g in repository.list_groups(session)]
                    raise GroupNotFound(group, known)
        user = accounts.create_user(
            engine, email=email, password=password, role=staff_role, group=group, name=name
        )
    except (accounts.AccountError, GroupNotFound) as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    where = f" for {group}" if group else ""
    typer.echo(f"{user.email}: role {staff_role}{where}")


@users_app.command("token")
def users_token(
    email: Annotated[str, typer.Argument(help="The e-mail address of an existing user.")],
) -> None:
    """Print a new API bearer token for the user (shown once; only its hash is stored)."""
    from casework import accounts
    from casework.bootstrap import open_database

    engine = open_database()
    try:
        token = accounts.issue_api_token(engine, email=email)
    except accounts.AccountError as exc:
        fail(str(exc), code=1)
    finally:
        engine.dispose()
    typer.echo(token)


@app.command("export")
def export_command(
    file: Annotated[Path, typer.Argument(help="The JSON file to write; '-' for standard output.")],
) -> None:
    """Write all data (every table, and the attachments' files) to FILE as JSON."""
    from casework.db import make_engine
    from casework.transfer import TransferError, export_data

    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        document = export_data(engine, settings.data_dir, _progress)
    except TransferError as exc:
        fail(str(exc), code=1)
    finally:
        engine.dispose()
    text = json.dumps(document, ensure_ascii=False, indent=1) + "\n"
    if str(file) == "-":
        sys.stdout.write(text)
        return
    partial = file.with_name(f".{file.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(file)
    except OSError as exc:
        fail(f"cannot write {file}: {exc.strerror}", code=1)
    typer.echo(f"samverkan: exported to {file}", err=True)


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="A file written by `samverkan export`.")],
) -> None:
    """Load FILE into a new, empty database (migrating it first), in one transaction."""
    from sqlalchemy.exc import SQLAlchemyError

    from casework.db import make_engine, migrate
    from casework.transfer import TransferError, import_data

    settings = get_settings()
    try:
        document = json.loads(file.read_bytes())
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}", code=1)
    except ValueError as exc:
        fail(f"{file} is not JSON: {exc}", code=1)
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        counts = import_data(engine, document, settings.data_dir, _progress)
    except TransferError as exc:
        fail(str(exc), code=1)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        fail(f"the import was rolled back; the database refused a row: {reason}", code=1)
    finally:
        engine.dispose()
    typer.echo(f"samverkan: imported {sum(counts.values())} rows from {file}", err=True)


def _progress(line: str) -> None:
    typer.echo(f"samverkan: {line}", err=True)


from casework import cli_meetings as cli_meetings  # noqa: E402  (adds `samverkan meetings`)
from casework import cli_publish as cli_publish  # noqa: E402  (adds `samverkan publish`)
