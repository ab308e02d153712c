"""The rule set, translated mechanically into the languages of the engines it is compared with.

Both translators walk the same `RuleSetDefinition` the compiler runs, so a change to the YAML
file changes every engine in the benchmark. Text conditions use the very regular expression
`rules.text.compile_vocabulary` builds, applied to the casefolded title and description:

* rule-engine gets it as a string literal with the `=~~` operator (`re.search`; `=~` would be
  `re.match`, anchored at the start of the text);
* JSON Logic has no regular expressions, so it gets a custom operation, `regex_search`, that
  runs the compiled pattern's `search`.

Both engines read a plain mapping per case (`engine_context`): the case's fields, the
casefolded text under `text`, lists as lists; the `groups` collect table is evaluated first
and its values stored under the table's id before the route table runs, as the compiler does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from rules.facts import CaseFacts
from rules.schema import (
    FIELD_TYPES,
    AllOf,
    AnyOf,
    Condition,
    FieldTest,
    FieldType,
    Not,
    RuleSetDefinition,
    TextTest,
)
from rules.text import compile_vocabulary

TEXT = "text"
Decision = tuple[str, bool, str]  # destination, requires_endorsement, rule id


def engine_context(facts: CaseFacts, lists: bool) -> dict[str, Any]:
    """The mapping rule-engine (tuples) or JSON Logic (`lists`) evaluates; built before timing."""
    ctx: dict[str, Any] = dict(facts.__dict__)
    if lists:  # JSON Logic's `in` and `var` know lists, not tuples
        for name, value in ctx.items():
            if isinstance(value, tuple):
                ctx[name] = list(value)
    ctx[TEXT] = facts.text.casefold()
    return ctx


def _field_types(definition: RuleSetDefinition) -> dict[str, FieldType]:
    types: dict[str, FieldType] = dict(FIELD_TYPES)
    for table in definition.derived_tables:
        types[table.id] = "list"
    return types


# --- rule-engine ----------------------------------------------------------------------


def _re_literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_re_literal(v) for v in value) + "]"
    raise TypeError(f"no rule-engine literal for {value!r}")


def rule_engine_text(cond: Condition | None, definition: RuleSetDefinition) -> str:
    """A condition as rule-engine expression text."""
    types = _field_types(definition)

    def walk(c: Condition) -> str:
        if isinstance(c, TextTest):
            pattern = compile_vocabulary(c.vocabulary).pattern
            return f"{TEXT} =~~ {_re_literal(pattern)}"
        if isinstance(c, Not):
            return f"not ({walk(c.part)})"
        if isinstance(c, AllOf):
            return "(" + " and ".join(walk(p) for p in c.parts) + ")"
        if isinstance(c, AnyOf):
            return "(" + " or ".join(walk(p) for p in c.parts) + ")"
        return field(c)

    def field(c: FieldTest) -> str:
        name, op, value = c.field, c.op, c.value
        if op == "equals":
            return f"{name} == {_re_literal(value)}"
        if op == "in":
            return f"{name} in {_re_literal(value)}"
        if op == "contains":
            return f"{_re_literal(value)} in {name}"
        if op == "count":
            return f"{name}.length == {value}"
        if op == "count_at_least":
            return f"{name}.length >= {value}"
        if op == "empty":
            if types[name] == "list":
                test = f"{name}.is_empty"
            else:  # text or slug: missing or ""
                test = f"({name} == null or {name} == {_re_literal('')})"
            return test if value else f"not {test}"
        raise AssertionError(f"operator {op!r} has no rule-engine form")

    return "true" if cond is None else walk(cond)


# --- JSON Logic -----------------------------------------------------------------------

REGEX_SEARCH = "regex_search"


def json_logic_rule(cond: Condition | None, definition: RuleSetDefinition) -> Any:
    """A condition as a JSON Logic value (dicts, lists and literals)."""
    types = _field_types(definition)

    def var(name: str) -> dict[str, Any]:
        return {"var": name}

    def walk(c: Condition) -> Any:
        if isinstance(c, TextTest):
            return {REGEX_SEARCH: [var(TEXT), compile_vocabulary(c.vocabulary).pattern]}
        if isinstance(c, Not):
            return {"!": [walk(c.part)]}
        if isinstance(c, AllOf):
            return {"and": [walk(p) for p in c.parts]}
        if isinstance(c, AnyOf):
            return {"or": [walk(p) for p in c.parts]}
        return field(c)

    def field(c: FieldTest) -> Any:
        name, op, value = c.field, c.op, c.value
        if op == "equals" and isinstance(value, tuple):
            # `==` on two arrays is identity in JSON Logic: compare length and each position.
            parts = [{"==": [var(f"{name}.length"), len(value)]}]
            parts += [{"===": [var(f"{name}.{i}"), v]} for i, v in enumerate(value)]
            return {"and": parts}
        if op == "equals":
            return {"===": [var(name), value]}
        if op == "in":
            return {"in": [var(name), list(value)]}
        if op == "contains":
            return {"in": [value, var(name)]}
        if op == "count":
            return {"==": [var(f"{name}.length"), value]}
        if op == "count_at_least":
            return {">=": [var(f"{name}.length"), value]}
        if op == "empty":
            if types[name] == "list":
                test: Any = {"==": [var(f"{name}.length"), 0]}
            else:
                test = {"!": [var(name)]}
            return test if value else {"!": [test]}
        raise AssertionError(f"operator {op!r} has no JSON Logic form")

    return True if cond is None else walk(cond)


def regex_search_operation(definition: RuleSetDefinition) -> Callable[..., bool]:
    """The custom `regex_search` operation: the compiled vocabulary pattern's `search`."""
    compiled: dict[str, re.Pattern[str]] = {}
    for vocabulary in definition.vocabularies.values():
        pattern = compile_vocabulary(vocabulary)
        compiled[pattern.pattern] = pattern

    def regex_search(data: Any, text: Any = None, pattern: Any = None, *_: Any) -> bool:
        return compiled[pattern].search(text) is not None

    return regex_search


def dump(value: Any) -> str:
    """A JSON Logic rule as JSON text (for `--show-rules`)."""
    return json.dumps(value, ensure_ascii=False)
