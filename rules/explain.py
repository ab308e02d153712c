"""Swedish explanations of why a rule matched, shared by the compiler and the interpreter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rules.schema import (
    FIELD_LABELS,
    VALUE_LABELS,
    AllOf,
    AnyOf,
    Condition,
    FieldTest,
    Not,
    Rule,
    TextTest,
    Vocabulary,
)

# Where each value of a derived list came from: value → "regel …: …".
Provenance = Mapping[str, str]


def label(field: str, table_labels: Mapping[str, str]) -> str:
    return table_labels.get(field) or FIELD_LABELS.get(field, field)


def value_label(value: Any) -> str:
    if value is None:
        return "inget"
    return VALUE_LABELS.get(value, str(value))


def _values(values: Sequence[Any], provenance: Provenance | None) -> str:
    if not values:
        return "inga"
    out = []
    for v in values:
        why = provenance.get(v) if provenance else None
        out.append(f"{value_label(v)} ({why})" if why else value_label(v))
    return ", ".join(out)


def field_evidence(
    test: FieldTest,
    actual: Any,
    table_labels: Mapping[str, str],
    provenance: Provenance | None = None,
) -> str:
    """What a field condition that held saw."""
    name = label(test.field, table_labels)
    if isinstance(actual, bool):
        return name if actual else f"inte {name}"
    if test.op == "contains":
        why = provenance.get(test.value) if provenance else None
        return f"{name} omfattar {value_label(test.value)}" + (f" ({why})" if why else "")
    if isinstance(actual, tuple):
        return f"{name}: {_values(actual, provenance)}"
    if actual in (None, ""):
        return f"{name}: inga uppgifter"
    return f"{name}: {value_label(actual)}"


def text_evidence(vocabulary: Vocabulary, hits: Sequence[str]) -> str:
    words = ", ".join(f"”{w}”" for w in dict.fromkeys(hits))
    return f"texten nämner {vocabulary.label}: {words}"


def describe(cond: Condition, table_labels: Mapping[str, str]) -> str:
    """A condition in words, independent of any case (used under `not`)."""
    if isinstance(cond, TextTest):
        return f"texten nämner {cond.vocabulary.label}"
    if isinstance(cond, Not):
        return f"inte ({describe(cond.part, table_labels)})"
    if isinstance(cond, AllOf | AnyOf):
        glue = " och " if isinstance(cond, AllOf) else " eller "
        return "(" + glue.join(describe(p, table_labels) for p in cond.parts) + ")"
    name = label(cond.field, table_labels)
    value = cond.value
    if cond.op == "equals" and isinstance(value, bool):
        return name if value else f"inte {name}"
    if cond.op == "empty":
        return f"{name} saknas" if value else f"{name} finns"
    if cond.op == "count":
        return f"{name}: exakt {value}"
    if cond.op == "count_at_least":
        return f"{name}: minst {value}"
    if cond.op == "contains":
        return f"{name} omfattar {value_label(value)}"
    if isinstance(value, tuple):
        return f"{name}: {' / '.join(value_label(v) for v in value)}"
    return f"{name}: {value_label(value)}"


def not_evidence(cond: Not, table_labels: Mapping[str, str]) -> str:
    return f"inte {describe(cond.part, table_labels)}"


def explanation(rule: Rule, evidence: Sequence[str]) -> str:
    why = "; ".join(evidence) if evidence else "ingen tidigare regel matchade"
    return f"{rule.description} [regel {rule.id}: {why}]"


def provenance_entry(rule: Rule, evidence: Sequence[str]) -> str:
    return f"regel {rule.id}: " + ("; ".join(evidence) if evidence else "alltid")
