"""A plain interpreter of a rule definition: walks the tree for every case.

It is the reference the compiled rules are tested against; nothing in production uses it.
"""

from __future__ import annotations

from typing import Any

from rules import explain as ex
from rules.errors import NoMatchingRule
from rules.facts import CaseFacts, RouteResult
from rules.schema import (
    AllOf,
    AnyOf,
    Condition,
    FieldTest,
    Not,
    Rule,
    RuleSetDefinition,
    TextTest,
)
from rules.text import normalise, scan_tokens


def interpret(definition: RuleSetDefinition, facts: CaseFacts) -> RouteResult:
    labels = definition.table_labels
    values: dict[str, Any] = {name: getattr(facts, name) for name in CaseFacts.model_fields}
    text = normalise(facts.text)
    provenance: dict[str, dict[str, str]] = {}

    def evaluate(cond: Condition) -> tuple[bool, list[str]]:
        if isinstance(cond, TextTest):
            hits = scan_tokens(cond.vocabulary, text)
            return bool(hits), [ex.text_evidence(cond.vocabulary, hits)] if hits else []
        if isinstance(cond, Not):
            held, _ = evaluate(cond.part)
            return (not held), [ex.not_evidence(cond, labels)]
        if isinstance(cond, AllOf):
            evidence: list[str] = []
            for part in cond.parts:
                held, more = evaluate(part)
                if not held:
                    return False, []
                evidence += more
            return True, evidence
        if isinstance(cond, AnyOf):
            for part in cond.parts:
                held, more = evaluate(part)
                if held:
                    return True, more
            return False, []
        return field_test(cond)

    def field_test(cond: FieldTest) -> tuple[bool, list[str]]:
        actual = values[cond.field]
        if cond.op == "equals" and isinstance(cond.value, tuple):
            held = set(actual) == set(cond.value)
        elif cond.op == "equals":
            held = actual == cond.value and type(actual) is type(cond.value)
        elif cond.op == "in":
            held = actual in cond.value
        elif cond.op == "contains":
            held = cond.value in actual
        elif cond.op == "empty":
            held = (len(actual or "") == 0) == cond.value
        elif cond.op == "count":
            held = len(actual) == cond.value
        else:
            held = len(actual) >= cond.value
        if not held:
            return False, []
        return True, [ex.field_evidence(cond, actual, labels, provenance.get(cond.field))]

    def matches(rule: Rule) -> tuple[bool, list[str]]:
        return (True, []) if rule.when is None else evaluate(rule.when)

    for table in definition.derived_tables:
        found: dict[str, str] = {}
        for rule in table.rules:
            held, evidence = matches(rule)
            if held and rule.then.value is not None and rule.then.value not in found:
                found[rule.then.value] = ex.provenance_entry(rule, evidence)
        values[table.id] = tuple(found)
        provenance[table.id] = found

    route = definition.route_table
    for rule in route.rules:
        held, evidence = matches(rule)
        if held:
            return RouteResult(
                destination=rule.then.destination or "",
                requires_endorsement=rule.then.requires_endorsement,
                lead_group=rule.then.lead_group,
                rule=rule.id,
                explanation=ex.explanation(rule, evidence),
                derived={t.id: values[t.id] for t in definition.derived_tables},
            )
    raise NoMatchingRule(route.id)
