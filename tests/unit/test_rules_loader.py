"""Loading a rule file: every mistake is reported with file, line, rule id and a suggestion.

Expected lines are found in the YAML text each test writes, never copied from the loader.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from rules import RuleFileError, load_rules
from rules.compiler import compile_rules
from rules.errors import Problem
from rules.facts import CaseFacts
from rules.interpreter import interpret
from rules.loader import BUNDLED, load_definition, parse_definition
from rules.schema import RuleSetDefinition
from rules.text import compile_vocabulary, scan_tokens

SOURCE = "team/regler.yaml"

HEAD = """\
version: 1
name: Test
destinations:
  lsvo: LSVO
  sg-barn-unga: Barn och unga
  sg-vuxna: Vuxna
  sg-aldre: Äldre
  beredningsgruppen: Beredningsgruppen
vocabularies:
  vuxna:
    label: vuxna
    word_starts: [vuxen, missbruk]
"""


def rules_file(body: str) -> str:
    """HEAD followed by `body` (dedented): a `tables:` section, or more."""
    return HEAD + textwrap.dedent(body)


def route_table(rules: str) -> str:
    """A file whose only table is `route`, holding `rules` (dedented) and a fallback."""
    indented = textwrap.indent(textwrap.dedent(rules), " " * 6)
    return rules_file(
        "tables:\n  - id: route\n    rules:\n"
        + indented
        + "      - id: fallback\n"
        + "        description: Inget annat passade.\n"
        + "        then: {destination: beredningsgruppen}\n"
    )


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """The 1-based line of the `occurrence`-th line of `text` that contains `needle`."""
    found = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(found) >= occurrence, f"{needle!r} occurs {len(found)} times in the test's YAML"
    return found[occurrence - 1]


def problems(text: str) -> list[Problem]:
    with pytest.raises(RuleFileError) as caught:
        parse_definition(text, SOURCE)
    found = caught.value.problems
    assert found, "a RuleFileError must list at least one problem"
    for problem in found:
        assert problem.file == SOURCE
        assert str(problem) in str(caught.value)
    return found


def only(text: str) -> Problem:
    found = problems(text)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


def test_the_files_used_here_load_when_correct() -> None:
    good = route_table("""\
        - id: r1
          description: Vuxna.
          when: {text: vuxna}
          then: {destination: sg-vuxna}
        """)
    definition = parse_definition(good, SOURCE)
    assert [r.id for r in definition.route_table.rules] == ["r1", "fallback"]
    assert definition.route_table.rules[0].line == line_of(good, "- id: r1")


def test_the_bundled_rules_load() -> None:
    definition = load_definition()
    assert definition.source == str(BUNDLED)
    assert definition.route_table.rules[-1].when is None, "the route table needs a fallback"
    assert set(definition.destinations) >= {
        "lsvo",
        "sg-barn-unga",
        "sg-vuxna",
        "sg-aldre",
        "beredningsgruppen",
        "ikf",
        "egna-beslutsorgan",
    }


# --- unknown names, with suggestions ---------------------------------------------------


def test_unknown_key_in_a_rule() -> None:
    text = route_table("""\
        - id: r1
          description: Avvikelser.
          whne: {flag: deviation}
          then: {destination: lsvo}
        """)
    problem = only(text)
    assert problem.line == line_of(text, "whne:")
    assert problem.rule_id == "r1"
    assert problem.suggestion == "when"
    assert "whne" in problem.message
    assert str(problem).startswith(f"{SOURCE}:{problem.line}:")
    assert "did you mean 'when'" in str(problem)


def test_unknown_key_in_a_rule_is_reported_on_its_own_line_when_its_value_is_a_block() -> None:
    text = route_table("""\
        - id: r1
          description: Avvikelser.
          whne:
            flag: deviation
          then: {destination: lsvo}
        """)
    problem = only(text)
    assert (problem.line, problem.rule_id, problem.suggestion) == (
        line_of(text, "whne:"),
        "r1",
        "when",
    )


@pytest.mark.parametrize(
    ("bad", "good", "where"),
    [
        ("descripton: x", "description", "rule"),
        ("then: {destinaton: lsvo}", "destination", "then"),
    ],
)
def test_unknown_keys_elsewhere_in_a_rule(bad: str, good: str, where: str) -> None:
    lines = ["- id: r1", "  description: Allt.", "  then: {destination: lsvo}"]
    if where == "rule":
        lines.insert(2, f"  {bad}")
    else:
        lines[2] = f"  {bad}"
    text = route_table("\n".join(lines) + "\n")
    unknown = [p for p in problems(text) if p.suggestion == good]
    assert len(unknown) == 1
    assert unknown[0].line == line_of(text, bad.split(":")[0] + ":")
    assert unknown[0].rule_id == "r1"


def test_unknown_key_in_a_vocabulary() -> None:
    text = HEAD.replace("word_starts:", "word_start:") + textwrap.dedent("""\
        tables:
          - id: route
            rules:
              - id: r1
                description: Allt.
                then: {destination: lsvo}
        """)
    problem = only(text)
    assert problem.line == line_of(text, "word_start:")
    assert problem.suggestion == "word_starts"
    assert problem.rule_id is None


def test_unknown_field() -> None:
    text = route_table("""\
        - id: resurser
          description: Resurser.
          when: {field: requests_resource, equals: true}
          then: {destination: lsvo, requires_endorsement: true}
        """)
    problem = only(text)
    assert problem.line == line_of(text, "requests_resource,")
    assert problem.rule_id == "resurser"
    assert problem.suggestion == "requests_resources"
    assert "requests_resource" in problem.message


def test_unknown_flag() -> None:
    text = route_table("""\
        - id: avvikelse
          description: Avvikelser.
          when:
            all:
              - {flag: recurring}
              - {flag: deviaton}
          then: {destination: lsvo}
        """)
    problem = only(text)
    assert problem.line == line_of(text, "deviaton")
    assert problem.rule_id == "avvikelse"
    assert problem.suggestion == "deviation"


def test_unknown_vocabulary() -> None:
    text = route_table("""\
        - id: vuxna
          description: Vuxna.
          when: {text: vuxen}
          then: {destination: sg-vuxna}
        """)
    problem = only(text)
    assert problem.line == line_of(text, "{text: vuxen}")
    assert problem.rule_id == "vuxna"
    assert problem.suggestion == "vuxna"
    assert "vuxen" in problem.message


@pytest.mark.parametrize("key", ["destination", "lead_group"])
def test_unknown_destination_slug(key: str) -> None:
    then = (
        "{destination: sg-vuxen}"
        if key == "destination"
        else "{destination: beredningsgruppen, lead_group: sg-vuxen}"
    )
    text = route_table(f"""\
        - id: vuxna
          description: Vuxna.
          when: {{text: vuxna}}
          then: {then}
        """)
    problem = only(text)
    assert problem.line == line_of(text, "sg-vuxen")
    assert problem.rule_id == "vuxna"
    assert problem.suggestion == "sg-vuxna"
    assert key in problem.message


def test_unknown_group_in_a_condition_value() -> None:
    text = route_table("""\
        - id: oenighet
          description: Oenighet.
          when: {field: escalated_from, in: [sg-aldre, sg-vuxen]}
          then: {destination: lsvo}
        """)
    problem = only(text)
    assert (problem.line, problem.rule_id, problem.suggestion) == (
        line_of(text, "sg-vuxen"),
        "oenighet",
        "sg-vuxna",
    )


def test_unknown_target_group_value() -> None:
    text = route_table("""\
        - id: aldre
          description: Äldre.
          when: {field: target_groups, contains: alder}
          then: {destination: sg-aldre}
        """)
    problem = only(text)
    assert (problem.line, problem.rule_id, problem.suggestion) == (
        line_of(text, "alder"),
        "aldre",
        "aldre",
    )


@pytest.mark.parametrize(
    ("condition", "op"),
    [
        ("{field: deviation, contains: x}", "contains"),
        ("{field: escalated_from, count: 1}", "count"),
        ("{field: target_groups, in: [vuxna]}", "in"),
        ("{field: title, count_at_least: 1}", "count_at_least"),
        ("{field: kind, flag: beslut}", "flag"),
    ],
)
def test_operator_that_does_not_fit_the_field_type(condition: str, op: str) -> None:
    text = route_table(f"""\
        - id: r1
          description: Något.
          when: {condition}
          then: {{destination: lsvo}}
        """)
    problem = only(text)
    assert problem.line == line_of(text, condition)
    assert problem.rule_id == "r1"
    assert repr(op) in problem.message


@pytest.mark.parametrize(
    "condition",
    [
        "{field: requests_resources, equals: yes}",  # a string under YAML 1.2, not true
        "{field: groups, count: 1}",  # no collect table named groups here
        "{field: target_groups, count: -1}",
        "{field: target_groups, count_at_least: 1.5}",
        "{field: target_groups, equals: vuxna}",  # a list field compares with a list
        "{field: target_groups, empty: 'true'}",
        "{field: escalated_from, equals: [lsvo]}",
        "{field: escalated_from}",
        "{flag: deviation, text: vuxna}",
        "{any: []}",
        "{not: [{flag: deviation}]}",
        "{when: {flag: deviation}}",
        "[{flag: deviation}]",
    ],
)
def test_malformed_condition_is_a_problem_on_its_line(condition: str) -> None:
    text = route_table(f"""\
        - id: r1
          description: Något.
          when: {condition}
          then: {{destination: lsvo}}
        """)
    problem = problems(text)[0]
    assert problem.line == line_of(text, "when:")
    assert problem.rule_id == "r1"


@pytest.mark.parametrize(
    "condition",
    [
        "{field: [requests_resources], equals: true}",
        "{field: {name: deviation}, equals: true}",
        "{flag: [deviation]}",
        "{flag: {name: deviation}}",
        "{text: [vuxna]}",
    ],
)
def test_a_name_that_is_a_list_or_mapping_is_a_problem_not_a_crash(condition: str) -> None:
    text = route_table(f"""\
        - id: r1
          description: Något.
          when: {condition}
          then: {{destination: lsvo}}
        """)
    problem = only(text)
    assert problem.line == line_of(text, "when:")
    assert problem.rule_id == "r1"


# --- duplicates ------------------------------------------------------------------------


def test_duplicate_rule_id_names_both_lines() -> None:
    text = rules_file("""\
        tables:
          - id: groups
            hit_policy: collect
            rules:
              - id: vuxna
                description: Vuxna.
                when: {text: vuxna}
                then: {value: vuxna}
          - id: route
            rules:
              - id: lsvo
                description: LSVO.
                then: {destination: lsvo}
              - id: vuxna
                description: Vuxna igen.
                then: {destination: sg-vuxna}
        """)
    problem = only(text)
    first, second = line_of(text, "- id: vuxna"), line_of(text, "- id: vuxna", 2)
    assert problem.line == second
    assert problem.rule_id == "vuxna"
    assert f"line {first}" in problem.message


def test_duplicate_yaml_key() -> None:
    text = route_table("""\
        - id: r1
          description: Första.
          description: Andra.
          then: {destination: lsvo}
        """)
    problem = only(text)
    assert problem.line == line_of(text, "description: Andra.")
    assert "description" in problem.message


def test_duplicate_vocabulary_entry() -> None:
    text = HEAD.replace("[vuxen, missbruk]", "[vuxen, missbruk, Vuxen]") + textwrap.dedent("""\
        tables:
          - id: route
            rules:
              - id: r1
                description: Allt.
                then: {destination: lsvo}
        """)
    problem = only(text)
    assert problem.line == line_of(text, "word_starts:")
    assert "Vuxen" in problem.message


def test_a_second_route_table_is_a_problem() -> None:
    text = rules_file("""\
        tables:
          - id: route
            rules:
              - id: lsvo
                description: LSVO.
                then: {destination: lsvo}
          - id: route
            rules:
              - id: vuxna
                description: Vuxna.
                then: {destination: sg-vuxna}
        """)
    problem = only(text)
    assert problem.line in (line_of(text, "- id: route", 2), line_of(text, "- id: vuxna"))
    assert "route" in problem.message


# --- the file as a whole ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("broken", "bad_line"),
    [
        ("        description: Något: annat\n", "Något: annat"),
        ("        description: [Något\n        then: x\n", "then: x"),
        ("\t  description: Något\n", "Något"),
    ],
)
def test_invalid_yaml_gives_the_line(broken: str, bad_line: str) -> None:
    text = rules_file("tables:\n  - id: route\n    rules:\n      - id: r1\n") + broken
    problem = only(text)
    assert problem.line == line_of(text, bad_line)
    assert "YAML" in problem.message
    assert problem.rule_id is None


def test_missing_route_table() -> None:
    text = rules_file("""\
        tables:
          - id: groups
            hit_policy: collect
            rules:
              - id: vuxna
                description: Vuxna.
                when: {text: vuxna}
                then: {value: vuxna}
        """)
    problem = only(text)
    assert problem.line in (line_of(text, "tables:"), line_of(text, "- id: groups"))
    assert "'route'" in problem.message


def test_route_table_not_last() -> None:
    text = rules_file("""\
        tables:
          - id: route
            rules:
              - id: lsvo
                description: LSVO.
                then: {destination: lsvo}
          - id: groups
            hit_policy: collect
            rules:
              - id: vuxna
                description: Vuxna.
                when: {text: vuxna}
                then: {value: vuxna}
        """)
    problem = only(text)
    assert problem.line == line_of(text, "- id: route")
    assert "last" in problem.message


def test_route_table_must_use_first_hit() -> None:
    text = rules_file("""\
        tables:
          - id: route
            hit_policy: collect
            rules:
              - id: lsvo
                description: LSVO.
                then: {destination: lsvo}
        """)
    problem = only(text)
    assert problem.line == line_of(text, "hit_policy: collect")


@pytest.mark.parametrize(
    ("then", "needle"),
    [
        ("{}", "then: {}"),
        ("{requires_endorsement: true}", "requires_endorsement"),
        ("{destination: lsvo}", "destination: lsvo"),
    ],
)
def test_collect_rule_without_value(then: str, needle: str) -> None:
    text = rules_file(f"""\
        tables:
          - id: groups
            hit_policy: collect
            rules:
              - id: vuxna
                description: Vuxna.
                when: {{text: vuxna}}
                then: {then}
          - id: route
            rules:
              - id: lsvo
                description: LSVO.
                then: {{destination: lsvo}}
        """)
    problem = problems(text)[0]
    assert problem.line == line_of(text, needle)
    assert problem.rule_id == "vuxna"
    assert "value" in problem.message


def test_route_rule_without_destination() -> None:
    text = route_table("""\
        - id: r1
          description: Något.
          then: {requires_endorsement: true}
        """)
    problem = only(text)
    assert (problem.line, problem.rule_id) == (line_of(text, "requires_endorsement"), "r1")
    assert "destination" in problem.message


def test_missing_required_key_in_a_rule() -> None:
    text = route_table("""\
        - id: r1
          then: {destination: lsvo}
        """)
    problem = only(text)
    assert (problem.line, problem.rule_id) == (line_of(text, "- id: r1"), "r1")
    assert "description" in problem.message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "saknas.yaml"
    with pytest.raises(RuleFileError) as caught:
        load_definition(path)
    [problem] = caught.value.problems
    assert problem.file == str(path)
    assert problem.line is None
    assert "cannot read" in problem.message
    with pytest.raises(RuleFileError):
        load_rules(path)


def test_problems_from_a_file_name_that_file(tmp_path: Path) -> None:
    path = tmp_path / "regler.yaml"
    text = route_table("""\
        - id: r1
          description: Något.
          when: {flag: deviaton}
          then: {destination: lsvo}
        """)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RuleFileError) as caught:
        load_definition(path)
    [problem] = caught.value.problems
    assert problem.file == str(path)
    assert str(caught.value).startswith(f"{path}:{line_of(text, 'deviaton')}:")


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(route_table("").encode("latin-1"))
    with pytest.raises(RuleFileError) as caught:
        load_definition(path)
    [problem] = caught.value.problems
    assert problem.file == str(path)
    assert "UTF-8" in problem.message


def test_several_errors_are_reported_at_once() -> None:
    text = route_table("""\
        - id: resurser
          description: Resurser.
          when: {field: requests_resource, equals: true}
          then: {destination: lsvo, requires_endorsement: true}
        - id: vuxna
          description: Vuxna.
          when: {text: vuxen}
          then: {destination: sg-vuxen}
        - id: resurser
          description: Igen.
          when:
            not: {flag: deviaton}
          then: {destination: beredningsgruppen, lead_group: sg-aldr}
        """)
    found = {(p.line, p.rule_id, p.suggestion) for p in problems(text)}
    assert found == {
        (line_of(text, "requests_resource,"), "resurser", "requests_resources"),
        (line_of(text, "{text: vuxen}"), "vuxna", "vuxna"),
        (line_of(text, "sg-vuxen"), "vuxna", "sg-vuxna"),
        (line_of(text, "- id: resurser", 2), "resurser", None),
        (line_of(text, "deviaton"), "resurser", "deviation"),
        (line_of(text, "lead_group: sg-aldr"), "resurser", "sg-aldre"),
    }


def test_several_unknown_keys_are_reported_at_once() -> None:
    text = route_table("""\
        - id: r1
          description: Något.
          whne: {flag: deviation}
          then: {destination: lsvo}
        - id: r2
          description: Annat.
          then: {destinaton: lsvo}
        """)
    found = {(p.line, p.rule_id, p.suggestion) for p in problems(text)}
    assert (line_of(text, "whne:"), "r1", "when") in found
    assert (line_of(text, "destinaton"), "r2", "destination") in found


# --- YAML 1.2 scalars ------------------------------------------------------------------


def test_on_yes_no_stay_strings() -> None:
    text = textwrap.dedent("""\
        version: 1
        name: Ja och nej
        description: no
        destinations:
          on: Ett forum som heter on
          no: Norrköping
          lsvo: LSVO
        vocabularies:
          ord:
            label: yes
            word_starts: [no, on, off, Yes, y]
            whole_words: [n, NO]
            exclude: [off side]
        tables:
          - id: route
            rules:
              - id: on
                description: on
                when: {text: ord}
                then: {destination: on, requires_endorsement: true}
              - id: fallback
                description: no
                then: {destination: no, requires_endorsement: false}
        """)
    definition = parse_definition(text, SOURCE)
    assert set(definition.destinations) == {"on", "no", "lsvo"}
    vocabulary = definition.vocabularies["ord"]
    assert vocabulary.label == "yes"
    assert vocabulary.word_starts == ("no", "on", "off", "yes", "y")
    assert vocabulary.whole_words == ("n", "no")
    assert vocabulary.exclude == ("off side",)
    first, fallback = definition.route_table.rules
    assert (first.id, first.description, first.then.destination) == ("on", "on", "on")
    assert first.then.requires_endorsement is True
    assert fallback.then.destination == "no"
    assert fallback.then.requires_endorsement is False

    rules = compile_rules(definition)
    for title, destination in [
        ("No", "on"),
        ("Yes", "on"),
        ("Onsdag", "on"),
        ("Off side", "no"),
        ("Nej", "no"),
    ]:
        facts = CaseFacts(title=title)
        assert rules.route(facts).destination == destination, title
        assert interpret(definition, facts) == rules.route(facts)


@pytest.mark.parametrize("value", ["yes", "on", "no", "'false'", "1"])
def test_true_and_false_are_the_only_booleans(value: str) -> None:
    """As in conditions (`equals: yes` is refused), a yes/no setting takes only true/false."""
    text = route_table(f"""\
        - id: r1
          description: Något.
          then: {{destination: lsvo, requires_endorsement: {value}}}
        """)
    problem = only(text)
    assert problem.line == line_of(text, f"requires_endorsement: {value}")
    assert problem.rule_id == "r1"


# --- vocabulary entries ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "text"),
    [
        ("FoU-avtal", "FoU-avtalet"),
        ("Mitt i livet", "mitt i livet"),
        ("LSVO:s plan", "LSVO:s plan"),
        ("t.ex.", "t.ex. skolan"),
        ("O'Brien", "O'Brien"),
    ],
)
def test_an_entry_finds_the_words_it_is_written_as_or_is_refused(entry: str, text: str) -> None:
    """A rule writer who lists "LSVO:s plan" must not get a word list that can never match."""
    quoted = json.dumps(entry, ensure_ascii=False)
    source = HEAD.replace("[vuxen, missbruk]", f"[vuxen, {quoted}]") + textwrap.dedent("""\
        tables:
          - id: route
            rules:
              - id: r1
                description: Allt.
                then: {destination: lsvo}
        """)
    try:
        definition: RuleSetDefinition = parse_definition(source, SOURCE)
    except RuleFileError as exc:
        assert any(p.line == line_of(source, "word_starts:") for p in exc.problems)
        return
    vocabulary = definition.vocabularies["vuxna"]
    folded = text.casefold()
    found = [m.group() for m in compile_vocabulary(vocabulary).finditer(folded)]
    assert found, f"{entry!r} was accepted but never matches {text!r}"
    assert scan_tokens(vocabulary, folded) == found


def test_an_entry_without_letters_is_a_problem() -> None:
    text = HEAD.replace("[vuxen, missbruk]", '[vuxen, "–"]') + textwrap.dedent("""\
        tables:
          - id: route
            rules:
              - id: r1
                description: Allt.
                then: {destination: lsvo}
        """)
    problem = only(text)
    assert problem.line == line_of(text, "word_starts:")


def test_a_vocabulary_without_words_is_a_problem() -> None:
    text = HEAD.replace("word_starts: [vuxen, missbruk]", "exclude: [vuxen]") + textwrap.dedent(
        """\
        tables:
          - id: route
            rules:
              - id: r1
                description: Allt.
                then: {destination: lsvo}
        """
    )
    problem = only(text)
    assert problem.line in (line_of(text, "  vuxna:"), line_of(text, "label: vuxna"))
