"""Lint a rule file beyond what loading checks: rules that can never match, no fallback."""

from __future__ import annotations

from pathlib import Path

from rules.errors import Problem, RuleFileError
from rules.loader import load_definition
from rules.schema import AllOf, AnyOf, Condition, Rule, RuleSetDefinition, Table


def conjuncts(cond: Condition | None) -> frozenset[Condition]:
    """The conditions that must all hold, with nested `all` flattened."""
    if cond is None:
        return frozenset()
    if isinstance(cond, AllOf):
        return frozenset(c for part in cond.parts for c in conjuncts(part))
    return frozenset([cond])


def implied(cond: Condition | None, known: frozenset[Condition]) -> bool:
    """Whether `cond` holds whenever every condition in `known` holds (a safe approximation)."""
    if cond is None or cond in known:
        return True
    if isinstance(cond, AllOf):
        return all(implied(part, known) for part in cond.parts)
    if isinstance(cond, AnyOf):
        return any(implied(part, known) for part in cond.parts)
    return False


def _shadowing(table: Table) -> list[tuple[Rule, Rule]]:
    """(later, earlier) pairs where the earlier rule matches whenever the later one would."""
    found = []
    for i, later in enumerate(table.rules):
        known = conjuncts(later.when)
        for earlier in table.rules[:i]:
            if implied(earlier.when, known):
                found.append((later, earlier))
                break
    return found


def lint(definition: RuleSetDefinition) -> list[Problem]:
    problems: list[Problem] = []
    for table in definition.tables:
        if table.hit_policy != "first":
            continue
        for later, earlier in _shadowing(table):
            problems.append(
                Problem(
                    definition.source,
                    later.line,
                    f"can never match: rule {earlier.id!r} (line {earlier.line}) comes first "
                    "and matches every case this one does",
                    rule_id=later.id,
                )
            )
        last = table.rules[-1]
        if last.when is not None:
            problems.append(
                Problem(
                    definition.source,
                    last.line,
                    f"table {table.id!r} has no fallback rule: end it with a rule without "
                    "'when' so that every case gets a destination",
                    rule_id=last.id,
                )
            )
    return problems


def check_file(path: Path | str | None = None) -> list[Problem]:
    """Every problem in a rule file: load errors, or else lint findings. Empty when clean."""
    try:
        definition = load_definition(path)
    except RuleFileError as exc:
        return exc.problems
    return lint(definition)
