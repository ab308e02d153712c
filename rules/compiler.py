"""`RuleSetDefinition` → plain Python callables, built once; routing a case parses nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from rules import explain as ex
from rules.errors import NoMatchingRule, UnknownGroup
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
from rules.text import compile_vocabulary, normalise

Ctx = dict[str, Any]
Test = Callable[[Ctx], bool]
Explain = Callable[[Ctx], list[str]]
TEXT = "_text"
HITS = "_hits:"


def _always(ctx: Ctx) -> bool:
    return True


def _nothing(ctx: Ctx) -> list[str]:
    return []


def facts_context(facts: CaseFacts) -> Ctx:
    """The mapping every compiled condition reads: the case's fields and its casefolded text."""
    ctx = dict(facts.__dict__)
    ctx[TEXT] = normalise(facts.text)
    return ctx


class RuleSet:
    """A compiled rule set: `route(facts)` gives a destination and its explanation."""

    def __init__(self, definition: RuleSetDefinition) -> None:
        self.definition = definition
        self.name = definition.name
        self.destinations = tuple(definition.destinations)
        self._labels = definition.table_labels
        self._patterns = {
            name: compile_vocabulary(v) for name, v in definition.vocabularies.items()
        }
        self._derived = [
            (t.id, [(r.then.value, *self._rule(r), r) for r in t.rules])
            for t in definition.derived_tables
        ]
        self._route = [(*self._rule(r), r) for r in definition.route_table.rules]
        self._route_table = definition.route_table.id

    def check(self, facts: CaseFacts) -> None:
        """Refuse a case that names a group this rule set does not know."""
        if facts.escalated_from is not None and facts.escalated_from not in self.destinations:
            raise UnknownGroup("escalated_from", facts.escalated_from, self.destinations)

    def route(self, facts: CaseFacts) -> RouteResult:
        self.check(facts)
        ctx = facts_context(facts)
        for table_id, rules in self._derived:
            hits = [(value, explain, rule) for value, test, explain, rule in rules if test(ctx)]
            ctx[table_id] = tuple(dict.fromkeys(value for value, _, _ in hits))
            ctx[HITS + table_id] = hits
        for test, explain, rule in self._route:
            if test(ctx):
                then = rule.then
                return RouteResult(
                    destination=then.destination or "",
                    requires_endorsement=then.requires_endorsement,
                    lead_group=then.lead_group,
                    rule=rule.id,
                    explanation=ex.explanation(rule, explain(ctx)),
                    derived={t: ctx[t] for t, _ in self._derived},
                )
        raise NoMatchingRule(self._route_table)

    def route_many(self, many: Iterable[CaseFacts]) -> Iterator[RouteResult]:
        return (self.route(facts) for facts in many)

    # -- compilation ---------------------------------------------------------------------

    def _rule(self, rule: Rule) -> tuple[Test, Explain]:
        if rule.when is None:
            return _always, _nothing
        return self._condition(rule.when)

    def _provenance(self, ctx: Ctx, field: str) -> ex.Provenance | None:
        hits = ctx.get(HITS + field)
        if hits is None:
            return None
        out: dict[str, str] = {}
        for value, explain, rule in hits:
            out.setdefault(value, ex.provenance_entry(rule, explain(ctx)))
        return out

    def _condition(self, cond: Condition) -> tuple[Test, Explain]:
        if isinstance(cond, FieldTest):
            return self._field(cond)
        if isinstance(cond, TextTest):
            pattern = self._patterns[cond.vocabulary.name]
            search, finditer, vocabulary = pattern.search, pattern.finditer, cond.vocabulary

            def text_test(ctx: Ctx) -> bool:
                return search(ctx[TEXT]) is not None

            def text_explain(ctx: Ctx) -> list[str]:
                hits = [m.group() for m in finditer(ctx[TEXT])]
                return [ex.text_evidence(vocabulary, hits)]

            return text_test, text_explain
        if isinstance(cond, Not):
            inner, _ = self._condition(cond.part)
            said = [ex.not_evidence(cond, self._labels)]
            return (lambda ctx: not inner(ctx)), (lambda ctx: list(said))
        parts = [self._condition(p) for p in cond.parts]
        tests = tuple(t for t, _ in parts)
        if isinstance(cond, AllOf):

            def all_test(ctx: Ctx) -> bool:
                # A plain loop: cheaper than all() over a generator on this hot path.
                for t in tests:  # noqa: SIM110
                    if not t(ctx):
                        return False
                return True

            def all_explain(ctx: Ctx) -> list[str]:
                return [line for _, e in parts for line in e(ctx)]

            return all_test, all_explain
        assert isinstance(cond, AnyOf)

        def any_test(ctx: Ctx) -> bool:
            for t in tests:  # noqa: SIM110
                if t(ctx):
                    return True
            return False

        def any_explain(ctx: Ctx) -> list[str]:
            return next(e(ctx) for t, e in parts if t(ctx))

        return any_test, any_explain

    def _field(self, cond: FieldTest) -> tuple[Test, Explain]:
        name, value, op = cond.field, cond.value, cond.op
        test: Test
        if op == "equals" and isinstance(value, bool):
            test = (lambda c: c[name] is True) if value else (lambda c: c[name] is False)
        elif op == "equals" and isinstance(value, tuple):
            # A list equals another when it holds the same values, in any order.
            wanted, size = frozenset(value), len(frozenset(value))
            test = lambda c: len(c[name]) == size and wanted.issuperset(c[name])  # noqa: E731
        elif op == "equals":
            test = lambda c: c[name] == value  # noqa: E731
        elif op == "in":
            options = frozenset(value)
            test = lambda c: c[name] in options  # noqa: E731
        elif op == "contains":
            test = lambda c: value in c[name]  # noqa: E731
        elif op == "empty":
            test = (lambda c: not c[name]) if value else (lambda c: bool(c[name]))
        elif op == "count":
            test = lambda c: len(c[name]) == value  # noqa: E731
        elif op == "count_at_least":
            test = lambda c: len(c[name]) >= value  # noqa: E731
        else:
            raise AssertionError(f"operator {op!r} passed the loader but has no compiled form")
        labels = self._labels

        def field_explain(ctx: Ctx) -> list[str]:
            return [ex.field_evidence(cond, ctx[name], labels, self._provenance(ctx, name))]

        return test, field_explain


def compile_rules(definition: RuleSetDefinition) -> RuleSet:
    return RuleSet(definition)
