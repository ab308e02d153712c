"""Executing rules: operators, hit policies, errors and explanations; and the case format.

Each rule test runs twice, on the compiled rules and on the reference interpreter.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from rules import (
    CaseFacts,
    NoMatchingRule,
    RouteResult,
    RulesError,
    UnknownGroup,
    load_rules,
)
from rules.compiler import compile_rules
from rules.interpreter import interpret
from rules.loader import parse_definition
from rules.schema import RuleSetDefinition

HEAD = """\
version: 1
name: Test
destinations:
  lsvo: LSVO
  ikf: Interkommunalt forum
  sg-barn-unga: Barn och unga
  sg-vuxna: Vuxna
  sg-aldre: Äldre
  beredningsgruppen: Beredningsgruppen
  egna-beslutsorgan: Egna beslutsorgan
vocabularies:
  aldre: {label: äldre, word_starts: [äldre, demens], whole_words: [los], exclude: [åldrar]}
  vuxna: {label: vuxna, word_starts: [vuxen, vuxn, missbruk]}
"""
FALLBACK = """\
      - id: fallback
        description: Inget annat passade.
        then: {destination: beredningsgruppen}
"""

Engine = Callable[[RuleSetDefinition, CaseFacts], RouteResult]


def _compiled(definition: RuleSetDefinition, facts: CaseFacts) -> RouteResult:
    return compile_rules(definition).route(facts)


@pytest.fixture(params=[_compiled, interpret], ids=["compiled", "interpreted"])
def engine(request: pytest.FixtureRequest) -> Engine:
    return request.param  # type: ignore[no-any-return]


def rule_file(route_rules: str, collect: str = "", fallback: bool = True) -> RuleSetDefinition:
    """HEAD, the collect tables in `collect`, then a route table of `route_rules`."""
    text = HEAD + "tables:\n" + textwrap.indent(textwrap.dedent(collect), "  ")
    text += "  - id: route\n    rules:\n" + textwrap.indent(textwrap.dedent(route_rules), " " * 6)
    return parse_definition(text + (FALLBACK if fallback else ""), "test.yaml")


def single(when: str, then: str = "{destination: lsvo}") -> RuleSetDefinition:
    """A rule `r` with condition `when`, then the fallback."""
    return rule_file(f"- id: r\n  description: Regeln.\n  when: {when}\n  then: {then}\n")


def case(**fields: Any) -> CaseFacts:
    fields.setdefault("title", "Ett ärende")
    return CaseFacts(**fields)


def holds(engine: Engine, when: str, **fields: Any) -> bool:
    result = engine(single(when), case(**fields))
    assert result.rule in ("r", "fallback")
    return result.rule == "r"


# --- operators -------------------------------------------------------------------------


def test_flag(engine: Engine) -> None:
    assert holds(engine, "{flag: deviation}", deviation=True)
    assert not holds(engine, "{flag: deviation}")
    assert not holds(engine, "{flag: deviation}", recurring=True)


def test_equals_on_a_yes_no_field(engine: Engine) -> None:
    assert holds(engine, "{field: deviation, equals: false}")
    assert not holds(engine, "{field: deviation, equals: false}", deviation=True)
    assert holds(engine, "{field: deviation, equals: true}", deviation=True)


def test_equals_on_a_slug(engine: Engine) -> None:
    when = "{field: escalated_from, equals: lsvo}"
    assert holds(engine, when, escalated_from="lsvo")
    assert not holds(engine, when, escalated_from="sg-vuxna")
    assert not holds(engine, when)


def test_equals_on_text(engine: Engine) -> None:
    when = "{field: title, equals: Övriga frågor}"
    assert holds(engine, when, title="Övriga frågor")
    assert holds(engine, when, title="  Övriga frågor\n")
    assert not holds(engine, when, title="Övriga frågor och annat")
    assert not holds(engine, "{field: description, equals: Övriga frågor}", title="Övriga frågor")


def test_equals_on_a_list_needs_exactly_those_values(engine: Engine) -> None:
    when = "{field: kind, equals: [information, diskussion]}"
    assert holds(engine, when, kind="I/D")
    assert holds(engine, when, kind="D/I")
    assert holds(engine, when, kind=["diskussion", "information", "D"])
    assert not holds(engine, when, kind="I")
    assert not holds(engine, when, kind="B/I/D")
    assert not holds(engine, when)


def test_equals_on_a_list_of_target_groups_ignores_the_order_they_were_ticked(
    engine: Engine,
) -> None:
    """A form's ticked boxes have no order; kinds already compare that way (B/I = I/B)."""
    when = "{field: target_groups, equals: [barn_unga, vuxna]}"
    assert holds(engine, when, target_groups=["barn_unga", "vuxna"])
    assert holds(engine, when, target_groups=["vuxna", "barn_unga"])
    assert not holds(engine, when, target_groups=["vuxna"])


def test_in(engine: Engine) -> None:
    when = "{field: escalated_from, in: [sg-vuxna, sg-aldre]}"
    assert holds(engine, when, escalated_from="sg-aldre")
    assert holds(engine, when, escalated_from="sg-vuxna")
    assert not holds(engine, when, escalated_from="lsvo")
    assert not holds(engine, when)


def test_contains(engine: Engine) -> None:
    when = "{field: target_groups, contains: vuxna}"
    assert holds(engine, when, target_groups=["aldre", "vuxna"])
    assert not holds(engine, when, target_groups=["aldre"])
    assert not holds(engine, when)
    assert holds(engine, "{field: kind, contains: beslut}", kind="B/I")
    assert not holds(engine, "{field: kind, contains: beslut}", kind="I/D")


@pytest.mark.parametrize(
    ("field", "given"),
    [
        ("target_groups", ["aldre"]),
        ("kind", "B"),
        ("escalated_from", "lsvo"),
        ("description", "Underlag bifogas."),
    ],
)
def test_empty(engine: Engine, field: str, given: Any) -> None:
    assert holds(engine, f"{{field: {field}, empty: true}}")
    assert not holds(engine, f"{{field: {field}, empty: true}}", **{field: given})
    assert holds(engine, f"{{field: {field}, empty: false}}", **{field: given})
    assert not holds(engine, f"{{field: {field}, empty: false}}")


def test_count(engine: Engine) -> None:
    assert holds(engine, "{field: target_groups, count: 0}")
    assert holds(engine, "{field: target_groups, count: 2}", target_groups=["aldre", "vuxna"])
    assert not holds(engine, "{field: target_groups, count: 2}", target_groups=["aldre"])
    assert not holds(
        engine, "{field: target_groups, count: 2}", target_groups=["aldre", "vuxna", "barn_unga"]
    )
    # A group ticked twice counts once.
    assert holds(engine, "{field: target_groups, count: 1}", target_groups=["aldre", "aldre"])


def test_count_at_least(engine: Engine) -> None:
    when = "{field: target_groups, count_at_least: 2}"
    assert holds(engine, when, target_groups=["aldre", "vuxna"])
    assert holds(engine, when, target_groups=["aldre", "vuxna", "barn_unga"])
    assert not holds(engine, when, target_groups=["aldre"])
    assert not holds(engine, when)
    assert holds(engine, "{field: target_groups, count_at_least: 0}")


def test_text(engine: Engine) -> None:
    assert holds(engine, "{text: aldre}", title="Demensvården")
    assert holds(engine, "{text: aldre}", description="Utskrivning enligt LOS.")
    assert not holds(engine, "{text: aldre}", title="Föräldrar i alla åldrar")


def test_not(engine: Engine) -> None:
    assert holds(engine, "{not: {flag: deviation}}")
    assert not holds(engine, "{not: {flag: deviation}}", deviation=True)
    assert holds(engine, "{not: {not: {flag: deviation}}}", deviation=True)
    assert holds(engine, "{not: {text: aldre}}", title="Föräldrar")


def test_any(engine: Engine) -> None:
    when = "{any: [{flag: deviation}, {text: aldre}]}"
    assert holds(engine, when, deviation=True)
    assert holds(engine, when, title="Äldre")
    assert holds(engine, when, title="Äldre", deviation=True)
    assert not holds(engine, when)


def test_all(engine: Engine) -> None:
    when = "{all: [{flag: deviation}, {text: aldre}]}"
    assert holds(engine, when, deviation=True, title="Äldre")
    assert not holds(engine, when, deviation=True)
    assert not holds(engine, when, title="Äldre")


def test_nested_conditions(engine: Engine) -> None:
    when = (
        "{all: [{any: [{flag: deviation}, {flag: requests_resources}]},"
        " {not: {field: escalated_from, in: [lsvo]}}]}"
    )
    assert holds(engine, when, deviation=True)
    assert holds(engine, when, requests_resources=True, escalated_from="sg-vuxna")
    assert not holds(engine, when, requests_resources=True, escalated_from="lsvo")
    assert not holds(engine, when, escalated_from="sg-vuxna")


# --- hit policies ----------------------------------------------------------------------

TWO_RULES = """\
- id: {a}
  description: Regel {a}.
  when: {{flag: {a}}}
  then: {{destination: {da}}}
- id: {b}
  description: Regel {b}.
  when: {{flag: {b}}}
  then: {{destination: {db}}}
"""


def test_the_first_matching_rule_wins(engine: Engine) -> None:
    both = case(deviation=True, recurring=True)
    first = rule_file(TWO_RULES.format(a="deviation", da="ikf", b="recurring", db="lsvo"))
    assert engine(first, both).destination == "ikf"
    assert engine(first, case(recurring=True)).destination == "lsvo"
    swapped = rule_file(TWO_RULES.format(a="recurring", da="lsvo", b="deviation", db="ikf"))
    assert engine(swapped, both).destination == "lsvo"
    assert engine(swapped, case()).rule == "fallback"


GROUPS = """\
- id: groups
  description: målgrupper
  hit_policy: collect
  rules:
    - id: g-vuxna
      description: Vuxna.
      when: {text: vuxna}
      then: {value: vuxna}
    - id: g-aldre
      description: Äldre.
      when: {text: aldre}
      then: {value: aldre}
    - id: g-aldre-flagga
      description: Äldre, ikryssat.
      when: {field: target_groups, contains: aldre}
      then: {value: aldre}
"""
ROUTE_BY_GROUPS = """\
- id: flera
  description: Flera grupper.
  when: {field: groups, count_at_least: 2}
  then: {destination: beredningsgruppen, lead_group: sg-aldre}
- id: aldre
  description: Äldre.
  when: {field: groups, equals: [aldre]}
  then: {destination: sg-aldre}
- id: vuxna
  description: Vuxna.
  when: {field: groups, contains: vuxna}
  then: {destination: sg-vuxna}
"""


def test_a_collect_table_feeds_the_route_table(engine: Engine) -> None:
    definition = rule_file(ROUTE_BY_GROUPS, collect=GROUPS)

    both = engine(definition, case(title="Missbruk bland äldre"))
    assert both.groups == ("vuxna", "aldre")
    assert both.derived == {"groups": ("vuxna", "aldre")}
    assert (both.destination, both.lead_group, both.rule) == (
        "beredningsgruppen",
        "sg-aldre",
        "flera",
    )

    # The same value from two rules is listed once.
    aldre = engine(definition, case(title="Demens", target_groups=["aldre"]))
    assert aldre.groups == ("aldre",)
    assert (aldre.destination, aldre.rule) == ("sg-aldre", "aldre")

    vuxna = engine(definition, case(title="Vuxenpsykiatrin"))
    assert (vuxna.groups, vuxna.destination) == (("vuxna",), "sg-vuxna")

    none = engine(definition, case(title="Föräldrar"))
    assert (none.groups, none.rule) == ((), "fallback")


def test_collected_values_keep_rule_order_not_text_order(engine: Engine) -> None:
    definition = rule_file(ROUTE_BY_GROUPS, collect=GROUPS)
    result = engine(definition, case(title="Äldre", description="vuxna"))
    assert result.groups == ("vuxna", "aldre")


def test_no_matching_rule_without_fallback(engine: Engine) -> None:
    definition = rule_file(ROUTE_BY_GROUPS, collect=GROUPS, fallback=False)
    with pytest.raises(NoMatchingRule) as caught:
        engine(definition, case(title="Föräldrar"))
    assert caught.value.table == "route"
    assert isinstance(caught.value, RulesError)
    assert engine(definition, case(title="Demens")).destination == "sg-aldre"


def test_unknown_group_in_escalated_from() -> None:
    rules = compile_rules(single("{field: escalated_from, in: [sg-vuxna]}"))
    with pytest.raises(UnknownGroup) as caught:
        rules.route(case(escalated_from="sg-okand"))
    error = caught.value
    assert (error.field, error.value) == ("escalated_from", "sg-okand")
    assert "sg-vuxna" in error.known and "sg-okand" not in error.known
    assert isinstance(error, RulesError) and isinstance(error, ValueError)
    # A declared group that no rule names is not unknown.
    assert rules.route(case(escalated_from="ikf")).rule == "fallback"


def test_unknown_group_with_the_default_rules() -> None:
    with pytest.raises(UnknownGroup):
        load_rules().route(case(escalated_from="sg-vuxen"))


def test_route_many_routes_each_case_in_order() -> None:
    rules = compile_rules(single("{flag: deviation}"))
    results = list(rules.route_many([case(deviation=True), case(), case(deviation=True)]))
    assert [r.rule for r in results] == ["r", "fallback", "r"]


# --- explanations ----------------------------------------------------------------------


def test_explanation_names_the_rule_and_the_conditions_that_held(engine: Engine) -> None:
    definition = single(
        "{all: [{flag: deviation}, {text: aldre}, {not: {flag: recurring}}]}",
        "{destination: sg-aldre}",
    )
    result = engine(definition, case(title="Demensvården", description="LOS", deviation=True))
    assert result.explanation.startswith("Regeln. [regel r: ")
    assert "avvikelse i samverkan" in result.explanation
    assert "texten nämner äldre: ”demensvården”, ”los”" in result.explanation
    assert "inte generell eller återkommande" in result.explanation


def test_explanation_of_any_gives_the_alternative_that_held(engine: Engine) -> None:
    definition = single("{any: [{flag: county_wide}, {text: vuxna}, {text: aldre}]}")
    result = engine(definition, case(title="Missbruk och vuxenpsykiatri, inte äldre"))
    assert "”missbruk”, ”vuxenpsykiatri”" in result.explanation
    assert "texten nämner äldre" not in result.explanation
    assert "länsgemensamma" not in result.explanation


def test_explanation_quotes_each_matched_word_once(engine: Engine) -> None:
    result = engine(
        single("{text: aldre}"), case(title="Demens, demens och DEMENS", description="LOS")
    )
    assert result.explanation.count("”demens”") == 1
    assert "”los”" in result.explanation


def test_explanation_of_a_field_value(engine: Engine) -> None:
    definition = single("{field: escalated_from, in: [sg-vuxna, lsvo]}")
    result = engine(definition, case(escalated_from="sg-vuxna"))
    assert "[regel r: " in result.explanation
    assert "sg-vuxna" in result.explanation


def test_explanation_of_the_fallback(engine: Engine) -> None:
    result = engine(single("{flag: deviation}"), case())
    assert result.explanation.startswith("Inget annat passade. [regel fallback:")


def test_explanation_tells_where_a_collected_value_came_from(engine: Engine) -> None:
    definition = rule_file(ROUTE_BY_GROUPS, collect=GROUPS)
    result = engine(definition, case(title="Vuxna med missbruk"))
    assert "[regel vuxna: " in result.explanation
    assert "regel g-vuxna" in result.explanation
    assert "”vuxna”, ”missbruk”" in result.explanation


def test_the_default_rules_explain_as_the_rule_language_documents() -> None:
    """The example explanation in rules/README.md, for a case about "demensvården"."""
    result = load_rules().route(case(title="Demensvården i Sölvesborg"))
    assert result.explanation == (
        "Ärendet gäller äldre och går till Samverkansgrupp Äldre. [regel malgrupp-aldre: "
        "målgrupper som ärendet berör: äldre (regel grupp-aldre: målgrupper i anmälan: inga; "
        "texten nämner äldre: ”demensvården”)]"
    )


def test_public_shape() -> None:
    result = load_rules().route(case(title="Nytt avtal", requests_resources=True))
    assert result.public() == {
        "destination": "lsvo",
        "requires_endorsement": True,
        "lead_group": None,
        "rule": "utokade-resurser",
        "explanation": result.explanation,
    }


# --- CaseFacts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "kinds"),
    [
        ("beslut", ("beslut",)),
        ("B", ("beslut",)),
        ("b", ("beslut",)),
        ("Information", ("information",)),
        ("I/D", ("information", "diskussion")),
        ("D/I", ("information", "diskussion")),
        ("B/I/D", ("beslut", "information", "diskussion")),
        ("I, D", ("information", "diskussion")),
        (["diskussion", "B"], ("beslut", "diskussion")),
        (("I", "information"), ("information",)),
        ("", ()),
        ([], ()),
        (None, ()),
    ],
)
def test_kind_accepts_words_letters_marks_and_lists(given: Any, kinds: tuple[str, ...]) -> None:
    assert CaseFacts(title="x", kind=given).kind == kinds


@pytest.mark.parametrize("given", ["x", "beslutet", "B/X", ["B", "x"], [1], 3, "Beslut (B)"])
def test_kind_refuses_anything_else(given: Any) -> None:
    with pytest.raises(ValidationError):
        CaseFacts(title="x", kind=given)


def test_extra_fields_are_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        CaseFacts(title="x", requests_resource=True)  # type: ignore[call-arg]
    assert "requests_resource" in str(caught.value)


@pytest.mark.parametrize("title", ["", "   ", "\n\t"])
def test_title_must_not_be_empty(title: str) -> None:
    with pytest.raises(ValidationError):
        CaseFacts(title=title)


def test_title_is_required() -> None:
    with pytest.raises(ValidationError):
        CaseFacts(description="Bara en beskrivning")  # type: ignore[call-arg]


def test_title_is_trimmed_and_limited() -> None:
    assert CaseFacts(title="  Demens  ").title == "Demens"
    CaseFacts(title="x" * 300)
    with pytest.raises(ValidationError):
        CaseFacts(title="x" * 301)


@pytest.mark.parametrize("given", [["aldre", "seniorer"], ["Aldre"], "aldre"])
def test_target_groups_are_the_three_groups(given: Any) -> None:
    with pytest.raises(ValidationError):
        CaseFacts(title="x", target_groups=given)


@pytest.mark.parametrize("given", ["SG-Vuxna", "sg vuxna", "-lsvo", "x" * 61, ""])
def test_escalated_from_must_be_a_slug(given: str) -> None:
    with pytest.raises(ValidationError):
        CaseFacts(title="x", escalated_from=given)


def test_facts_are_frozen_and_text_is_title_and_description() -> None:
    facts = CaseFacts(title="Rubrik", description="Beskrivning")
    assert facts.text == "Rubrik\nBeskrivning"
    with pytest.raises(ValidationError):
        facts.title = "Annan"  # type: ignore[misc]
