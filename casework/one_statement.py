"""A submission stored in one statement on PostgreSQL, its own transaction.

The ordinary way (`services.store_case` in a unit of work) costs six round trips to the
server: BEGIN, the reference counter's upsert, the case, its audit event, the receipt
message and COMMIT, one after another while the year's counter row stays locked. Here the
case is made, audited and its receipt rendered in Python with a placeholder where its
reference goes, and everything is stored by ONE statement in autocommit mode, which takes
the next number and puts the reference in:

    WITH bump AS (UPDATE reference_counters SET last = last + 1
                  WHERE prefix = … AND year = …
                    AND (SELECT name FROM groups WHERE slug = …) IS NOT DISTINCT FROM <name>
                    AND length(<the reference of last + 1>) = <the placeholder's length>
                  RETURNING last),
         new_case AS (INSERT INTO cases (reference, …)
                      SELECT <the reference of bump.last>, … FROM bump
                      RETURNING id, reference),
         audit AS (INSERT INTO audit_events (…) SELECT new_case.id, … FROM new_case),
         receipt AS (INSERT INTO notifications (…)
                     SELECT new_case.id, replace(<subject>, <placeholder>, reference), …
                     FROM new_case)
    SELECT (SELECT id FROM new_case), (SELECT reference FROM new_case), <the counter's
           last>, <the group's name>

The placeholder is random, of the reference's length, so the texts around it are laid out
as they will be. What the statement cannot know is checked in it: the destination group's
name (rendered into the receipt; remembered per engine) and the reference's length (the
number gains a digit at 10 000). If either is not what it was rendered with, the UPDATE
matches no row, nothing is inserted, and the statement returns the counter and the name
as they are: the submission is made once more with those. A number and the rows that
carry it are one transaction, so the numbers stay without gaps, whichever process or flow
takes them, and a failing insert (an idempotency key stored meanwhile, say) takes the
number back with it.

The case's id comes from its sequence inside the statement; the audit event's JSON
snapshot, made before it is known, gets it there too (`_after_with_id`). An idempotency
key is recorded by the same statement. An anonymous client's rate-limit hit is taken
just before, by a statement of its own (`rate_limits.take`, which writes nothing when it
refuses).

Only for submissions without documents or other work in their transaction; the first
submission of a year (no counter row yet) is stored the ordinary way, which makes it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from casework import repository
from casework.db import PerEngine
from casework.model import (
    AuditEvent,
    Case,
    Group,
    IdempotencyRecord,
    Notification,
    ReferenceCounter,
)
from casework.rate_limits import Quota

# Tries before the caller falls back to the ordinary way (the statement kept finding the
# group renamed, or the reference a digit longer, than the try before expected).
ATTEMPTS = 3

_CASES = Case.__table__  # type: ignore[attr-defined]
_AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
_NOTIFICATIONS = Notification.__table__  # type: ignore[attr-defined]
_IDEMPOTENCY = IdempotencyRecord.__table__  # type: ignore[attr-defined]
_COUNTERS = ReferenceCounter.__table__  # type: ignore[attr-defined]
_GROUPS = Group.__table__  # type: ignore[attr-defined]

_CASE_COLUMNS = [c for c in _CASES.c if c.name != "id"]
_AUDIT_COLUMNS = ("actor", "action", "at", "before", "note")
_IDEMPOTENCY_COLUMNS = ("key", "request_hash", "access_token", "created_at")
# The receipt's columns that may hold its reference.
_TEXTS = frozenset({"subject", "body_text", "body_html"})

_READ_COUNTER = sa.text(
    "SELECT last, (SELECT name FROM groups WHERE slug = :slug) FROM reference_counters "
    "WHERE prefix = :prefix AND year = :year"
)
# The audit snapshot's JSON as json.dumps writes it (SQLAlchemy's JSON type does the
# same for the ordinary way), with the case's id first.
_ID_FIRST = '{"id": '


def supported(engine: Engine) -> bool:
    """Whether submissions to `engine` may be stored this way (PostgreSQL)."""
    return engine.dialect.name == "postgresql"


def store(
    engine: Engine,
    values: Mapping[str, Any],
    *,
    actor: str,
    note: str,
    prefix: str,
    year: int,
    access_token: str,
    now: datetime,
    snapshot: Callable[[Case], dict[str, Any]],
    receipt: Callable[[Case, str], list[dict[str, Any]]],
    idempotency: tuple[str, str] | None = None,
    quota: Quota | None = None,
) -> Case | None:
    """Store a new case from its column `values` (`services.new_case_values`: all but its
    reference) with the next reference of `prefix` and `year`, its audit event ("submit"
    by `actor`, `snapshot(case)` as what the case is after, `note`) and the submitter's
    receipt (`receipt(case, destination name)`: its outbox rows, at most one),
    in one statement; None if it could not (no counter for the year yet, or
    another writer took the expected number `ATTEMPTS` times): the caller then stores it
    the ordinary way.

    With `idempotency` (key, request hash) the key is recorded in the same statement; a
    key stored meanwhile fails it with IntegrityError, nothing stored. A `quota` takes its
    hit first, in a statement of its own (`RateLimited`, nothing written, over the limit);
    the hit stays taken whatever happens after it, None returned included.
    """
    slug = values["destination"]
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        if quota is not None:
            quota.take(connection, now)
        for _attempt in range(ATTEMPTS):
            expected = _expected(engine, connection, prefix=prefix, year=year, slug=slug)
            if expected is None:
                return None
            last, group_name = expected
            # Random, as long as the reference of the number after `last` (the statement
            # checks that length): nobody's text holds it, and the layout stays the same.
            length = len(repository.format_reference(prefix=prefix, year=year, number=last + 1))
            placeholder = secrets.token_hex(length)[:length]
            row = repository.case_row({**values, "reference": placeholder})
            case = repository.loaded_case(row, 0)  # id and reference come from the statement
            destination_name = group_name or slug
            receipts = receipt(case, destination_name)
            parameters = _parameters(
                row,
                after=_after_with_id(snapshot(case)),
                audit={"actor": actor, "action": "submit", "at": now, "before": None, "note": note},
                receipts=receipts,
                idempotency=idempotency,
                access_token=access_token,
                now=now,
            )
            parameters.update(
                k_prefix=prefix,
                k_year=year,
                k_slug=slug,
                k_name=group_name,
                k_length=length,
                k_placeholder=placeholder,
            )
            # One submitter, one address (none if it is blank): its row's columns.
            columns = tuple(n for n in receipts[0] if n != "case_id") if receipts else ()
            statement = _statement(receipt=columns, idempotency=idempotency is not None)
            case_id, reference, number, now_last, now_name = connection.execute(
                statement, parameters
            ).one()
            if case_id is not None:
                _remember(engine, prefix, year, slug, number, group_name)
                case.id, case.reference = case_id, reference
                return case
            # Missed: try again with the counter and the name as the statement found them.
            if now_last is None:
                return None
            _remember(engine, prefix, year, slug, now_last, now_name)
    return None


def _parameters(
    row: Mapping[str, Any],
    *,
    after: tuple[str, str],
    audit: Mapping[str, Any],
    receipts: list[dict[str, Any]],
    idempotency: tuple[str, str] | None,
    access_token: str,
    now: datetime,
) -> dict[str, Any]:
    parameters = {f"c_{name}": value for name, value in row.items() if name != "reference"}
    parameters.update({f"a_{name}": value for name, value in audit.items()})
    parameters["a_after_head"], parameters["a_after_tail"] = after
    for receipt in receipts:
        parameters.update({f"n_{name}": value for name, value in receipt.items()})
    if idempotency is not None:
        key, request_hash = idempotency
        parameters.update(
            i_key=key, i_request_hash=request_hash, i_access_token=access_token, i_created_at=now
        )
    return parameters


def _after_with_id(after: dict[str, Any]) -> tuple[str, str]:
    """An audit snapshot made with the id 0 as JSON text around its id: (head, tail), so
    that head + id + tail is what the ordinary way stores once the id is known (the tail
    still holds the placeholder reference, which the statement replaces as well)."""
    text = json.dumps(after)
    placeholder = f"{_ID_FIRST}0,"
    if not text.startswith(placeholder):
        raise AssertionError(f"the case snapshot does not begin with its id: {text[:40]!r}")
    return _ID_FIRST, text[len(placeholder) - 1 :]


# --- what is expected of the counter ---------------------------------------------------------


@dataclass
class _Expectations:
    """One engine's remembered counters and group names; hints only, the statement checks
    what it relies on."""

    last: dict[tuple[str, int], int]  # (prefix, year) -> the counter's last number, for
    # the length of the next reference
    names: dict[str, str | None]  # destination slug -> its group's name (None: no group)


_known = PerEngine(lambda: _Expectations({}, {}))


def _expected(
    engine: Engine, connection: Connection, *, prefix: str, year: int, slug: str
) -> tuple[int, str | None] | None:
    """The counter's last number and the group's name, remembered or read; None without a
    counter for the year."""
    known = _known(engine)
    last = known.last.get((prefix, year))
    if last is not None and slug in known.names:
        return last, known.names[slug]
    found = connection.execute(_READ_COUNTER, {"prefix": prefix, "year": year, "slug": slug})
    row = found.one_or_none()
    if row is None:
        return None
    return int(row[0]), row[1]


def _remember(
    engine: Engine, prefix: str, year: int, slug: str, number: int, name: str | None
) -> None:
    known = _known(engine)
    known.last[(prefix, year)] = number
    known.names[slug] = name


# --- the statement ---------------------------------------------------------------------------


def _param(prefix: str, column: sa.Column[Any]) -> sa.ColumnElement[Any]:
    """A parameter for `column`, cast to its type: an INSERT … SELECT gives PostgreSQL no
    column to infer a parameter's type from."""
    return sa.cast(sa.bindparam(f"{prefix}_{column.name}", type_=column.type), column.type)


_statements: dict[tuple[tuple[str, ...], bool], sa.Select[Any]] = {}


def _statement(*, receipt: tuple[str, ...], idempotency: bool) -> sa.Select[Any]:
    statement = _statements.get((receipt, idempotency))
    if statement is None:
        statement = _statements[(receipt, idempotency)] = _build(receipt, idempotency)
    return statement


def _reference(number: sa.ColumnElement[int]) -> sa.ColumnElement[str]:
    """`repository.format_reference` in SQL: PREFIX-YEAR-0001, four digits at least."""
    digits = sa.cast(number, sa.Text)
    dash = sa.literal_column("'-'", sa.Text)
    return (
        sa.bindparam("k_prefix", type_=sa.Text)
        + dash
        + sa.cast(sa.bindparam("k_year", type_=sa.Integer), sa.Text)
        + dash
        + sa.case((number < 10000, sa.func.lpad(digits, 4, "0")), else_=digits)
    )


def _build(receipt: tuple[str, ...], idempotency: bool) -> sa.Select[Any]:
    """The statement; `receipt` names the receipt's columns (none: no receipt)."""
    group_name = (
        sa.select(_GROUPS.c.name)
        .where(_GROUPS.c.slug == sa.bindparam("k_slug", type_=sa.String))
        .scalar_subquery()
    )
    this_counter = (
        _COUNTERS.c.prefix == sa.bindparam("k_prefix", type_=sa.String),
        _COUNTERS.c.year == sa.bindparam("k_year", type_=sa.Integer),
    )
    bump = (
        sa.update(_COUNTERS)
        .where(
            *this_counter,
            group_name.is_not_distinct_from(sa.bindparam("k_name", type_=sa.String)),
            sa.func.length(_reference(_COUNTERS.c.last + 1))
            == sa.bindparam("k_length", type_=sa.Integer),
        )
        .values(last=_COUNTERS.c.last + 1)
        .returning(_COUNTERS.c.last)
        .cte("bump")
    )
    placeholder = sa.bindparam("k_placeholder", type_=sa.Text)
    new_case = (
        sa.insert(_CASES)
        .from_select(
            [c.name for c in _CASE_COLUMNS],
            sa.select(
                *(
                    _reference(bump.c.last) if c.name == "reference" else _param("c", c)
                    for c in _CASE_COLUMNS
                )
            ),
        )
        .returning(_CASES.c.id, _CASES.c.reference)
        .cte("new_case")
    )

    def completed(column: sa.Column[Any]) -> sa.ColumnElement[Any]:
        # A text rendered with the placeholder, the reference put in.
        return sa.func.replace(_param("n", column), placeholder, new_case.c.reference)

    after = sa.cast(
        sa.bindparam("a_after_head", type_=sa.Text)
        + sa.cast(new_case.c.id, sa.Text)
        + sa.func.replace(
            sa.bindparam("a_after_tail", type_=sa.Text), placeholder, new_case.c.reference
        ),
        _AUDIT.c.after.type,
    )
    ctes = [
        sa.insert(_AUDIT)
        .from_select(
            ["case_id", *_AUDIT_COLUMNS, "after"],
            sa.select(
                new_case.c.id, *(_param("a", _AUDIT.c[name]) for name in _AUDIT_COLUMNS), after
            ),
        )
        .cte("audit")
    ]
    if receipt:
        ctes.append(
            sa.insert(_NOTIFICATIONS)
            .from_select(
                ["case_id", *receipt],
                sa.select(
                    new_case.c.id,
                    *(
                        completed(_NOTIFICATIONS.c[n])
                        if n in _TEXTS
                        else _param("n", _NOTIFICATIONS.c[n])
                        for n in receipt
                    ),
                ),
            )
            .cte("receipt")
        )
    if idempotency:
        ctes.append(
            sa.insert(_IDEMPOTENCY)
            .from_select(
                ["case_id", *_IDEMPOTENCY_COLUMNS],
                sa.select(
                    new_case.c.id, *(_param("i", _IDEMPOTENCY.c[n]) for n in _IDEMPOTENCY_COLUMNS)
                ),
            )
            .cte("idempotency")
        )
    counter_now = sa.select(_COUNTERS.c.last).where(*this_counter).scalar_subquery()
    # One row: the new case's id, reference and number, or NULLs and the counter and the
    # name as the statement found them.
    return sa.select(
        sa.select(new_case.c.id).scalar_subquery().label("id"),
        sa.select(new_case.c.reference).scalar_subquery().label("reference"),
        sa.select(bump.c.last).scalar_subquery().label("number"),
        counter_now.label("last"),
        group_name.label("name"),
    ).add_cte(*ctes)
