"""The real items of `shared/examples/routing.jsonl` route where the minutes sent them.

The examples come from the minutes in `seeds/`; the expected rule for each one is read
from the numbered routing rules in DOMAIN.md ("Routing"), not from the code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from rules import CaseFacts, load_rules
from rules.interpreter import interpret
from rules.loader import load_definition

REPO_ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
EXAMPLES_NAME = Path("shared", "examples", "routing.jsonl")


def _examples_file() -> Path | None:
    """`shared/` sits beside the checkout; look upwards from the repository root for it."""
    for folder in (REPO_ROOT, *REPO_ROOT.parents):
        candidate = folder / EXAMPLES_NAME
        if candidate.is_file():
            return candidate
    return None


EXAMPLES_FILE = _examples_file()
MISSING = (
    f"{EXAMPLES_NAME} not found beside the checkout {REPO_ROOT} (nor in any folder above it): "
    "the routing examples from the minutes are needed to run these tests"
)

# Domain rule (DOMAIN.md "Routing") → rule id in the bundled rule set, per example.
EXPECTED_RULE = {
    "ex01": "utokade-resurser",  # 3: requests extended resources
    "ex02": "utokade-resurser",  # 3
    "ex03": "utokade-resurser",  # 3
    "ex04": "lsvo-mandat",  # 4: the FoU agreement
    "ex05": "lsvo-mandat",  # 4: larger county-wide project
    "ex06": "flera-malgrupper",  # 7: two target groups
    "ex07": "enbart-kommunerna",  # 6: the municipalities alone
    "ex08": "malgrupp-vuxna",  # 8: one target group, on the form
    "ex09": "malgrupp-barn-unga",  # 8: read from the text
    "ex10": "malgrupp-barn-unga",  # 8
    "ex11": "malgrupp-aldre",  # 8
    "ex12": "malgrupp-aldre",  # 8
    "ex13": "malgrupp-aldre",  # 8
    "ex14": "avvikelse-aldre",  # 5: a deviation, not recurring
    "ex15": "avvikelse-generell",  # 5: a recurring deviation
    "ex16": "oenighet-samverkansgrupp",  # 1
    "ex17": "oenighet-lsvo",  # 2
    "ex18": "lsvo-mandat",  # 4: joint state grants, read from the text
}
TEXT_ROUTED = ("ex09", "ex10", "ex11", "ex12", "ex13", "ex18")
QUOTED = re.compile(r"”([^”]+)”")


def _load() -> list[Any]:
    if EXAMPLES_FILE is None:
        return [pytest.param(None, id="routing.jsonl-missing")]
    examples = []
    for number, line in enumerate(EXAMPLES_FILE.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            example = json.loads(line)
            examples.append(pytest.param(example, id=example.get("id", f"line-{number}")))
    return examples


EXAMPLES = _load()
RULES = load_rules()
DEFINITION = load_definition()


def _need(example: dict[str, Any] | None) -> dict[str, Any]:
    if example is None:
        pytest.fail(MISSING)
    return example


def test_the_examples_file_is_there_and_complete() -> None:
    assert EXAMPLES_FILE is not None, MISSING
    ids = [p.values[0]["id"] for p in EXAMPLES]
    assert len(ids) == len(set(ids)), "example ids must be unique"
    missing = set(EXPECTED_RULE) - set(ids)
    assert not missing, f"examples named by DOMAIN.md's routing are missing: {sorted(missing)}"


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_routes_as_labelled(example: dict[str, Any] | None) -> None:
    example = _need(example)
    result = RULES.route(CaseFacts(**example["case"]))
    expected = example["expected"]
    assert result.destination == expected["destination"], result.explanation
    assert result.requires_endorsement is expected.get("requires_endorsement", False)


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_matches_the_domain_rule_and_says_so(example: dict[str, Any] | None) -> None:
    example = _need(example)
    result = RULES.route(CaseFacts(**example["case"]))
    if example["id"] in EXPECTED_RULE:
        assert result.rule == EXPECTED_RULE[example["id"]], result.explanation
    assert f"[regel {result.rule}:" in result.explanation
    rule = next(r for r in DEFINITION.route_table.rules if r.id == result.rule)
    assert result.explanation.startswith(rule.description)


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_routes_the_same_in_the_reference_interpreter(
    example: dict[str, Any] | None,
) -> None:
    example = _need(example)
    facts = CaseFacts(**example["case"])
    assert interpret(DEFINITION, facts) == RULES.route(facts)


@pytest.mark.parametrize("example_id", TEXT_ROUTED)
def test_text_routed_example_quotes_words_of_its_text(example_id: str) -> None:
    assert EXAMPLES_FILE is not None, MISSING
    example = next(p.values[0] for p in EXAMPLES if p.values[0]["id"] == example_id)
    case = example["case"]
    # Routed from the text alone: nothing on the form points anywhere.
    flags = ("requests_resources", "county_wide", "deviation", "municipalities_only")
    assert not case.get("target_groups") and not any(case.get(f) for f in flags)
    assert case.get("escalated_from") is None

    facts = CaseFacts(**case)
    result = RULES.route(facts)
    assert f"[regel {result.rule}:" in result.explanation
    assert "texten nämner" in result.explanation
    quoted = QUOTED.findall(result.explanation)
    assert quoted, f"no word quoted in {result.explanation!r}"
    text = facts.text.casefold()
    words = set(re.findall(r"\w+", text))
    for hit in quoted:
        assert hit.casefold() in text, f"{hit!r} is not in the case's text"
        # A hit starts and ends on word boundaries: it is not a piece of a longer word.
        parts = re.findall(r"\w+", hit.casefold())
        assert parts[0] in words and parts[-1] in words, f"{hit!r} is not whole words of the text"
