"""Generated cases and rule files: the compiled rules give exactly what the interpreter gives.

`rules.compiler` (closures and one regular expression per vocabulary) and
`rules.interpreter` (a tree walk with a word-by-word scanner) are written independently;
on any case and any valid rule file they must return the same `RouteResult`, explanation
included, or both raise `NoMatchingRule`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rules import CaseFacts, NoMatchingRule, RouteResult
from rules.compiler import compile_rules
from rules.facts import TARGET_GROUPS
from rules.interpreter import interpret
from rules.loader import load_definition, parse_definition
from rules.schema import RuleSetDefinition, Vocabulary
from rules.text import compile_vocabulary, scan_tokens

DEFINITION = load_definition()
RULES = compile_rules(DEFINITION)
DESTINATIONS = tuple(DEFINITION.destinations)
SAMVERKANSGRUPPER = ("sg-barn-unga", "sg-vuxna", "sg-aldre")

MANY = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- text built from the bundled word lists --------------------------------------------

ENTRIES = sorted(
    {
        entry
        for v in DEFINITION.vocabularies.values()
        for entry in (*v.word_starts, *v.whole_words, *v.exclude)
    }
)
LOOK_ALIKES = [
    "föräldrar",
    "relevant",
    "ungefär",
    "gymnastik",
    "aldrig",
    "lossning",
    "elevator",
    "i alla åldrar",
    "beroende på",
    "beroende av om",
    "skoltandvården",
    "forskning",
    "drog",
]
FILLER = ["och", "i", "på", "av", "om", "för", "att", "ärendet", "LSVO:s", "kommunerna", "år"]
SUFFIXES = ["", "", "", "en", "na", "s", "arna", "vården", "et", "er", "-", "_", "x", "2"]
PREFIXES = ["", "", "", "", "för", "q", "o"]
SEPARATORS = [" ", " ", " ", "-", " – ", "—", "/", "\n", "  ", ", ", ". ", ":", "\u00a0", "("]


RARELY = st.sampled_from([False, False, False, False, True])


@st.composite
def swedish_words(draw: st.DrawFn) -> str:
    """A vocabulary entry, a look-alike or a filler word, inflected and cased at random."""
    source = draw(st.sampled_from(["entry", "entry", "entry", "look-alike", "filler"]))
    pool = {"entry": ENTRIES, "look-alike": LOOK_ALIKES, "filler": FILLER}[source]
    words = draw(st.sampled_from(pool)).split(" ")
    out = []
    for i, word in enumerate(words):
        prefix = draw(st.sampled_from(PREFIXES)) if i == 0 else ""
        word = prefix + word + draw(st.sampled_from(SUFFIXES))
        case = draw(st.sampled_from(["lower", "lower", "upper", "capitalize", "swapcase"]))
        out.append(getattr(word, case)())
        if i < len(words) - 1:
            out.append(draw(st.sampled_from(SEPARATORS)))
    return "".join(out)


@st.composite
def swedish_texts(draw: st.DrawFn, max_words: int = 10) -> str:
    parts = []
    for word in draw(st.lists(swedish_words(), max_size=max_words)):
        parts += [word, draw(st.sampled_from(SEPARATORS))]
    return "".join(parts)


@st.composite
def cases(draw: st.DrawFn, destinations: tuple[str, ...] = DESTINATIONS) -> CaseFacts:
    title = draw(swedish_texts(max_words=6))[:300]
    return CaseFacts(
        title=title if title.strip() else "Ärende",
        description=draw(swedish_texts()),
        kind=draw(st.sampled_from(["", "B", "I", "D", "I/D", "B/I"])),
        target_groups=draw(st.lists(st.sampled_from(TARGET_GROUPS), max_size=3)),
        requests_resources=draw(RARELY),
        county_wide=draw(RARELY),
        deviation=draw(st.booleans()),
        recurring=draw(RARELY),
        municipalities_only=draw(RARELY),
        escalated_from=draw(st.none() | st.none() | st.sampled_from(destinations)),
    )


@MANY
@given(cases())
def test_default_rules_compiled_agree_with_the_interpreter(facts: CaseFacts) -> None:
    result = RULES.route(facts)
    event(f"rule {result.rule}")
    assert result == interpret(DEFINITION, facts)


@settings(max_examples=500, deadline=None)
@given(cases())
def test_default_rules_follow_the_domain_order(facts: CaseFacts) -> None:
    """DOMAIN.md, Routing, rules 1–5: the flags on the form decide before any text does."""
    result = RULES.route(facts)
    assert result.destination in DESTINATIONS
    assert f"[regel {result.rule}:" in result.explanation
    assert result.requires_endorsement is (result.rule == "utokade-resurser")
    if facts.escalated_from in SAMVERKANSGRUPPER:
        assert result.destination == "lsvo"
    elif facts.escalated_from == "lsvo":
        assert result.destination == "egna-beslutsorgan"
    elif facts.requests_resources:
        assert (result.destination, result.requires_endorsement) == ("lsvo", True)
    elif facts.county_wide or (facts.deviation and facts.recurring):
        assert result.destination == "lsvo"
    if facts.target_groups:
        assert set(result.groups) == set(facts.target_groups)


# --- both matchers on random word lists, and random rule files --------------------------

FILE_DESTINATIONS = ("lsvo", "sg-aldre", "sg-vuxna", "ikf", "beredningsgruppen")
BOOL_FIELDS = ("requests_resources", "county_wide", "deviation", "recurring", "municipalities_only")
KINDS = ("beslut", "information", "diskussion")
VALUES = ("x", "y", "z")
TITLES = ("Ärende", "Övriga frågor")

WORD = st.text(alphabet="abåö_1", min_size=1, max_size=2)
ENTRY = st.lists(WORD, min_size=1, max_size=3).map(" ".join)
TEXT_ALPHABET = "abAåÅöÖ_1ß" + " -–—/\n\t\u00a0" + ".,:'" + "\u0301İ"


@st.composite
def exclusions(draw: st.DrawFn, entry: st.SearchStrategy[str], max_size: int) -> list[str]:
    """Exclude entries; a word ending in `*` excludes every word that starts with it."""
    entries = draw(st.lists(entry, max_size=max_size, unique=True))
    return [" ".join(w + draw(st.sampled_from(["", "*"])) for w in e.split()) for e in entries]


def one_file(vocabularies: dict[str, Any], tables: list[dict[str, Any]]) -> str:
    document = {
        "version": 1,
        "name": "Genererad",
        "destinations": {d: d.upper() for d in FILE_DESTINATIONS},
        "vocabularies": vocabularies,
        "tables": tables,
    }
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


@st.composite
def vocabularies(draw: st.DrawFn) -> Vocabulary:
    """A word list as the loader gives it, so entries are normalised as in a rule file."""
    starts = draw(st.lists(ENTRY, max_size=4, unique=True))
    whole = draw(st.lists(ENTRY, min_size=0 if starts else 1, max_size=3, unique=True))
    words = {"label": "v", "word_starts": starts, "whole_words": whole}
    words["exclude"] = draw(exclusions(ENTRY, 2))
    fallback = {"id": "r", "description": "r", "then": {"destination": "lsvo"}}
    route = {"id": "route", "rules": [fallback]}
    return parse_definition(one_file({"v": words}, [route])).vocabularies["v"]


def entries_of(*vocabularies: Vocabulary) -> tuple[str, ...]:
    """Every entry as text would spell it: without the `*` that marks a word start."""
    return tuple(
        " ".join(w.rstrip("*") for w in e.split())
        for v in vocabularies
        for e in (*v.word_starts, *v.whole_words, *v.exclude)
    )


def words_of(entries: Iterable[str]) -> list[str]:
    return sorted({w for e in entries for w in e.split()})


def phrases(entries: tuple[str, ...]) -> st.SearchStrategy[str]:
    """An entry written out with random separators between its words."""
    separator = st.sampled_from([" ", "-", " – ", "/", "\n ", ",", ""])
    return st.tuples(st.sampled_from(entries), separator).map(lambda p: p[1].join(p[0].split()))


GLUE = st.sampled_from(["", " ", " ", "-", " – ", "/", "\n", ", ", ".", "\u00a0", "'"])


@st.composite
def texts_for(draw: st.DrawFn, vocabulary: Vocabulary) -> str:
    """The vocabulary's own words, inflected, between random characters and separators."""
    entries = entries_of(vocabulary)
    word = st.sampled_from(words_of(entries))
    pieces = draw(
        st.lists(
            st.text(alphabet=TEXT_ALPHABET, max_size=3)
            | phrases(entries)
            | phrases(entries)
            | word
            | word.map(str.upper)
            | st.tuples(word, st.text(alphabet="abåö_1", max_size=2)).map("".join),
            max_size=12,
        )
    )
    return "".join(piece + draw(GLUE) for piece in pieces)


@settings(max_examples=2000, deadline=None)
@given(st.data())
def test_regex_and_scanner_find_the_same_hits(data: st.DataObject) -> None:
    vocabulary = data.draw(vocabularies())
    text = data.draw(texts_for(vocabulary))
    pattern = compile_vocabulary(vocabulary)
    for variant in (text, text.casefold()):
        hits = [m.group() for m in pattern.finditer(variant)]
        assert hits == scan_tokens(vocabulary, variant)
        assert (pattern.search(variant) is not None) == bool(hits)
    event(f"{min(len(hits), 3)} hits in the casefolded text")


# --- random rule files -----------------------------------------------------------------


@st.composite
def leaf_conditions(
    draw: st.DrawFn, vocabularies: list[str], derived: dict[str, tuple[str, ...]]
) -> dict[str, Any]:
    lists = {"kind": KINDS, "target_groups": TARGET_GROUPS, **derived}
    kinds = ["flag", "bool", "slug", "text-field", "list", "text", "text", "text"]
    kinds += ["derived", "derived"] if derived else []
    choice = draw(st.sampled_from(kinds))
    if choice == "flag":
        return {"flag": draw(st.sampled_from(BOOL_FIELDS))}
    if choice == "bool":
        return {"field": draw(st.sampled_from(BOOL_FIELDS)), "equals": draw(st.booleans())}
    if choice == "slug":
        op = draw(st.sampled_from(["equals", "in", "empty"]))
        value: Any = {
            "equals": draw(st.sampled_from(FILE_DESTINATIONS)),
            "in": draw(st.lists(st.sampled_from(FILE_DESTINATIONS), min_size=1, max_size=3)),
            "empty": draw(st.booleans()),
        }[op]
        return {"field": "escalated_from", op: value}
    if choice == "text-field":
        field = draw(st.sampled_from(["title", "description"]))
        if draw(st.booleans()):
            return {"field": field, "empty": draw(st.booleans())}
        return {"field": field, "equals": draw(st.sampled_from(TITLES))}
    if choice in ("list", "derived"):
        field = draw(st.sampled_from(sorted(lists if choice == "list" else derived)))
        allowed = lists[field]
        op = draw(st.sampled_from(["equals", "contains", "empty", "count", "count_at_least"]))
        if op == "equals":
            value = draw(st.lists(st.sampled_from(allowed), max_size=3, unique=True))
        elif op == "contains":
            value = draw(st.sampled_from(allowed))
        elif op == "empty":
            value = draw(st.booleans())
        else:
            value = draw(st.integers(0, 3))
        return {"field": field, op: value}
    return {"text": draw(st.sampled_from(vocabularies))}


def conditions(vocabularies: list[str], derived: dict[str, tuple[str, ...]]) -> Any:
    return st.recursive(
        leaf_conditions(vocabularies, derived),
        lambda inner: (
            st.lists(inner, min_size=1, max_size=3).map(lambda c: {"all": c})
            | st.lists(inner, min_size=1, max_size=3).map(lambda c: {"any": c})
            | inner.map(lambda c: {"not": c})
        ),
        max_leaves=5,
    )


@st.composite
def rule_files(draw: st.DrawFn) -> str:
    entry = st.lists(WORD, min_size=1, max_size=2).map(" ".join)
    vocabulary_names = [f"v{i}" for i in range(draw(st.integers(1, 3)))]
    vocabularies = {}
    for name in vocabulary_names:
        starts = draw(st.lists(entry, max_size=3, unique=True))
        whole = draw(st.lists(entry, min_size=0 if starts else 1, max_size=2, unique=True))
        exclude = draw(exclusions(entry, 2))
        vocabularies[name] = {
            "label": f"ord {name}",
            "word_starts": starts,
            "whole_words": whole,
            "exclude": exclude,
        }
    ids = iter(range(1000))
    derived: dict[str, tuple[str, ...]] = {}
    tables = []
    for t in range(draw(st.integers(0, 2))):
        table_id = f"t{t}"
        rules = []
        for _ in range(draw(st.integers(1, 3))):
            rule: dict[str, Any] = {
                "id": f"r{next(ids)}",
                "description": f"Samlar {table_id}.",
                "then": {"value": draw(st.sampled_from(VALUES))},
            }
            if draw(st.integers(0, 4)):
                rule["when"] = draw(conditions(vocabulary_names, derived))
            rules.append(rule)
        tables.append({"id": table_id, "hit_policy": "collect", "rules": rules})
        derived[table_id] = tuple(dict.fromkeys(r["then"]["value"] for r in rules))
    route = []
    for _ in range(draw(st.integers(1, 5))):
        then: dict[str, Any] = {"destination": draw(st.sampled_from(FILE_DESTINATIONS))}
        if draw(st.booleans()):
            then["requires_endorsement"] = draw(st.booleans())
        if draw(st.integers(0, 3)) == 0:
            then["lead_group"] = draw(st.sampled_from(FILE_DESTINATIONS))
        route.append(
            {
                "id": f"r{next(ids)}",
                "description": "Regel.",
                "when": draw(conditions(vocabulary_names, derived)),
                "then": then,
            }
        )
    if draw(st.booleans()):
        route.append({"id": "fallback", "description": "Annars.", "then": {"destination": "lsvo"}})
    tables.append({"id": "route", "rules": route})
    return one_file(vocabularies, tables)


@st.composite
def texts_for_file(draw: st.DrawFn, definition: RuleSetDefinition) -> str:
    entries = entries_of(*definition.vocabularies.values())
    word = st.sampled_from(words_of(entries))
    pieces = draw(
        st.lists(
            phrases(entries)
            | phrases(entries).map(str.upper)
            | word
            | st.tuples(word, st.sampled_from(["", "a", "ö1"])).map("".join)
            | st.sampled_from(TITLES)
            | st.text(alphabet="abåö_ -/.,", max_size=3),
            max_size=8,
        )
    )
    return "".join(piece + draw(GLUE) for piece in pieces)


@SOME
@given(st.data())
def test_generated_rule_files_compiled_agree_with_the_interpreter(data: st.DataObject) -> None:
    source = data.draw(rule_files())
    definition = parse_definition(source, "generated.yaml")
    rules = compile_rules(definition)
    for _ in range(data.draw(st.integers(1, 5))):
        title = data.draw(texts_for_file(definition))
        drawn = data.draw(cases(destinations=FILE_DESTINATIONS)).model_dump()
        drawn["title"] = title if title.strip() else "Ärende"
        drawn["description"] = data.draw(texts_for_file(definition))
        facts = CaseFacts(**drawn)
        try:
            expected: RouteResult | None = interpret(definition, facts)
        except NoMatchingRule:
            expected = None
        try:
            actual: RouteResult | None = rules.route(facts)
        except NoMatchingRule:
            actual = None
        event(f"{'no rule matched' if expected is None else 'routed'}")
        if expected is not None:
            event(f"rule {expected.rule} of {len(definition.route_table.rules)}")
            event("text quoted" if "”" in expected.explanation else "no text quoted")
        assert actual == expected, source
