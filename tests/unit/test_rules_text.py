"""Swedish word lists matched against free text.

Every case runs through both matchers, `compile_vocabulary` (what the compiled rules run)
and `scan_tokens` (what the reference interpreter runs), on the same casefolded text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import pytest

from rules import CaseFacts, load_rules
from rules.interpreter import interpret
from rules.loader import load_definition
from rules.schema import Vocabulary
from rules.text import compile_vocabulary, scan_tokens

DEFINITION = load_definition()
BUNDLED = DEFINITION.vocabularies
RULES = load_rules()

Matcher = Callable[[Vocabulary, str], list[str]]


def _regex(vocabulary: Vocabulary, text: str) -> list[str]:
    return [m.group() for m in compile_vocabulary(vocabulary).finditer(text)]


@pytest.fixture(params=[_regex, scan_tokens], ids=["compile_vocabulary", "scan_tokens"])
def matcher(request: pytest.FixtureRequest) -> Matcher:
    return request.param  # type: ignore[no-any-return]


def hits(matcher: Matcher, vocabulary: Vocabulary | str, text: str) -> list[str]:
    """Hits in `text` casefolded, as the compiled rules and the interpreter pass it."""
    vocab = BUNDLED[vocabulary] if isinstance(vocabulary, str) else vocabulary
    return matcher(vocab, text.casefold())


def vocab(
    word_starts: tuple[str, ...] = (),
    whole_words: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
) -> Vocabulary:
    return Vocabulary("test", "test", word_starts, whole_words, exclude)


def test_the_bundled_vocabularies_are_the_ones_tested_here() -> None:
    assert {"barn_unga", "vuxna", "aldre", "lsvo_mandat", "enbart_kommunerna"} <= set(BUNDLED)


# --- compounds and inflections ---------------------------------------------------------

COMPOUNDS = [
    ("aldre", "Demensvården i Karlshamn", ["demensvården"]),
    ("barn_unga", "Grundskolan i Ronneby", ["grundskolan"]),
    ("vuxna", "Remiss till vuxenpsykiatrin", ["vuxenpsykiatrin"]),
    ("aldre", "Äldreomsorgen behöver fler sjuksköterskor", ["äldreomsorgen"]),
    ("barn_unga", "Samarbete med elevhälsan", ["elevhälsan"]),
    ("lsvo_mandat", "Förlängning av FoU-avtalet", ["fou-avtalet"]),
    ("barn_unga", "Barnens rätt och ungdomarnas hälsa", ["barnens", "ungdomarnas"]),
    ("vuxna", "Samsjukligheten bland vuxna", ["samsjukligheten", "vuxna"]),
    ("aldre", "Att åldras i Blekinge", ["åldras"]),
    ("lsvo_mandat", "De gemensamma statsbidragen", ["statsbidragen"]),
]


@pytest.mark.parametrize(("vocabulary", "text", "expected"), COMPOUNDS)
def test_compounds_and_inflections_match(
    matcher: Matcher, vocabulary: str, text: str, expected: list[str]
) -> None:
    assert hits(matcher, vocabulary, text) == expected


# --- look-alikes -----------------------------------------------------------------------

LOOK_ALIKES = [
    ("aldre", "Stöd till föräldrar"),  # "äldre" inside a word is not "äldre"
    ("barn_unga", "Ett relevant underlag"),  # "elev" inside "relevant"
    ("barn_unga", "Ungefär hälften av kommunerna"),  # "unge…" is not "unga"
    ("barn_unga", "Gymnastik på arbetstid"),  # "gymnas-tik" is not "gymnasi-"
    ("aldre", "Insatser för personer i alla åldrar"),  # excluded: "åldrar"
    ("aldre", "Det har aldrig hänt"),  # a is not å: "aldrig" is not "åldr…"
    ("aldre", "Lossning av gods"),  # "los" is a whole word only
    ("barn_unga", "Hissen och elevatorn"),  # excluded: "elevat…"
    ("barn_unga", "Skoltandvården i länet"),  # excluded: "skoltandvård"
    ("vuxna", "Det är beroende på resultatet"),  # excluded: "beroende på"
    ("vuxna", "Det är beroende av om medlen räcker"),  # excluded: "beroende av om"
    ("lsvo_mandat", "FoU, avtal och annat"),  # a comma does not join a phrase
]


@pytest.mark.parametrize(("vocabulary", "text"), LOOK_ALIKES)
def test_look_alikes_do_not_match(matcher: Matcher, vocabulary: str, text: str) -> None:
    assert hits(matcher, vocabulary, text) == []


def test_a_look_alike_does_not_hide_the_real_word_next_to_it(matcher: Matcher) -> None:
    assert hits(matcher, "aldre", "Föräldrar till äldre") == ["äldre"]
    assert hits(matcher, "barn_unga", "relevant för eleverna") == ["eleverna"]
    assert hits(matcher, "aldre", "i alla åldrar, även åldrandet") == ["åldrandet"]


# --- case, å ä ö -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vocabulary", "text", "expected"),
    [
        ("aldre", "ÄLDREOMSORG", ["äldreomsorg"]),
        ("aldre", "Demens", ["demens"]),
        ("aldre", "dEMENSVÅRDEN", ["demensvården"]),
        ("barn_unga", "BUP och HVB", ["bup", "hvb"]),
        ("aldre", "LOS", ["los"]),
        ("lsvo_mandat", "FOU-AVTAL", ["fou-avtal"]),
    ],
)
def test_case_is_ignored(matcher: Matcher, vocabulary: str, text: str, expected: list[str]) -> None:
    assert hits(matcher, vocabulary, text) == expected


@pytest.mark.parametrize(
    ("vocabulary", "text", "expected"),
    [
        ("aldre", "Åldrande befolkning", ["åldrande"]),
        ("aldre", "Återinskrivning inom 30 dagar", ["återinskrivning"]),
        ("aldre", "Plats på särskilt boende", ["särskilt boende"]),
        ("barn_unga", "Förskolan och särskolan", ["förskolan", "särskolan"]),
        (
            "vuxna",
            "Funktionsnedsättning, försörjningsstöd",
            ["funktionsnedsättning", "försörjningsstöd"],
        ),
        ("barn_unga", "Mödrahälsovården", ["mödrahälsovården"]),
    ],
)
def test_swedish_letters_are_letters(
    matcher: Matcher, vocabulary: str, text: str, expected: list[str]
) -> None:
    assert hits(matcher, vocabulary, text) == expected


@pytest.mark.parametrize(
    "text",
    ["Äldreomsorgen i länet", "Åldrande och hälsa", "Förskolans arbete"],
    ids=["aldreomsorgen", "aldrande", "forskolans"],
)
def test_decomposed_letters_are_the_same_letters(text: str) -> None:
    """Text pasted from a PDF or a Mac may spell ä as a + U+0308; it reads the same."""
    decomposed = unicodedata.normalize("NFD", text)
    assert decomposed != text
    composed_result = RULES.route(CaseFacts(title=text))
    assert composed_result.rule.startswith("malgrupp-")
    for facts in (CaseFacts(title=decomposed), CaseFacts(title="x", description=decomposed)):
        result = RULES.route(facts)
        assert result.destination == composed_result.destination, result.explanation
        assert interpret(DEFINITION, facts).destination == composed_result.destination


# --- whole words -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("LOS", ["los"]),
        ("Enligt LOS.", ["los"]),
        ("LOS-medel", ["los"]),
        ("(LOS)", ["los"]),
        ("lossning", []),
        ("LOSS", []),
        ("Los_2", []),
        ("Slos", []),
    ],
)
def test_whole_words_match_only_the_word(matcher: Matcher, text: str, expected: list[str]) -> None:
    assert hits(matcher, "aldre", text) == expected


def test_a_whole_word_phrase_matches_only_those_words(matcher: Matcher) -> None:
    v = vocab(whole_words=("daglig verksamhet",))
    assert hits(matcher, v, "Daglig verksamhet") == ["daglig verksamhet"]
    assert hits(matcher, v, "dagliga verksamheter") == []
    assert hits(matcher, v, "daglig verksamheten") == []


# --- phrases ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FoU avtal", ["fou avtal"]),
        ("FoU-avtalet", ["fou-avtalet"]),
        ("FoU – avtalet", ["fou – avtalet"]),
        ("FoU—avtalet", ["fou—avtalet"]),
        ("FoU/avtal", ["fou/avtal"]),
        ("FoU\navtal", ["fou\navtal"]),
        ("FoU  -  avtalet", ["fou  -  avtalet"]),
        ("FoU avtal", ["fou avtal"]),  # a no-break space is a space
        ("FoU, avtal", []),
        ("FoU. Avtal", []),
        ("FoU-cirkel och avtal", []),
        ("avtal FoU", []),
    ],
)
def test_phrases_join_across_space_hyphen_dash_and_slash(
    matcher: Matcher, text: str, expected: list[str]
) -> None:
    assert hits(matcher, "lsvo_mandat", text) == expected


def test_every_word_of_a_phrase_matches_at_its_start(matcher: Matcher) -> None:
    assert hits(matcher, "vuxna", "Våld i nära relationer") == ["våld i nära relationer"]
    assert hits(matcher, "aldre", "särskilda boenden") == ["särskilda boenden"]
    assert hits(matcher, "aldre", "Kognitiv svikt") == ["kognitiv svikt"]
    assert hits(matcher, "aldre", "kognitiva förmågor") == []


def test_the_longer_phrase_wins_where_both_start(matcher: Matcher) -> None:
    v = vocab(word_starts=("vård", "vård plan"))
    assert hits(matcher, v, "vård-planen och vården") == ["vård-planen", "vården"]


# --- exclusions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("beroende på", []),
        ("Beroende på läget", []),
        ("beroende och missbruk", ["beroende", "missbruk"]),
        ("beroende på alkohol", ["alkohol"]),  # the exclusion cancels only its own start
        ("ett beroende, på sikt", ["beroende"]),  # a comma breaks the phrase
        ("beroende av alkohol", ["beroende", "alkohol"]),  # only "beroende av om" is excluded
    ],
)
def test_exclusions_cancel_hits_that_start_at_the_same_word(
    matcher: Matcher, text: str, expected: list[str]
) -> None:
    assert hits(matcher, "vuxna", text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Beroendemottagningen på sjukhuset", ["beroendemottagningen"]),
        ("Beroendevården påverkas av neddragningar", ["beroendevården"]),
    ],
)
def test_excluding_beroende_pa_leaves_other_words_that_start_with_beroende(
    matcher: Matcher, text: str, expected: list[str]
) -> None:
    """ "beroende på" means "depending on"; addiction care followed by "på" is still addiction."""
    assert hits(matcher, "vuxna", text) == expected


def test_an_exclusion_starting_inside_a_phrase_does_not_cancel_it(matcher: Matcher) -> None:
    v = vocab(word_starts=("våld i nära relation",), exclude=("nära",))
    assert hits(matcher, v, "Våld i nära relation") == ["våld i nära relation"]
    assert hits(matcher, v, "nära relation") == []


def test_an_exclusion_can_cancel_every_word_that_starts_with_it(matcher: Matcher) -> None:
    text = "elevatorn, elevationen och eleverna"
    assert hits(matcher, "barn_unga", text) == ["eleverna"]
    assert hits(matcher, "aldre", "Åldrarna och åldrandet") == ["åldrandet"]


# --- order -----------------------------------------------------------------------------


def test_hits_are_reported_in_text_order_with_repeats(matcher: Matcher) -> None:
    text = "LOS, demens och äldreomsorg; demens igen och hemtjänst"
    assert hits(matcher, "aldre", text) == ["los", "demens", "äldreomsorg", "demens", "hemtjänst"]


def test_hits_follow_the_text_not_the_word_list(matcher: Matcher) -> None:
    v = vocab(word_starts=("c", "b"), whole_words=("a",))
    assert hits(matcher, v, "a bb cc a") == ["a", "bb", "cc", "a"]


# --- every bundled entry -----------------------------------------------------------------


def _entries() -> list[tuple[str, str, bool]]:
    return [
        (name, entry, prefix)
        for name, v in BUNDLED.items()
        for entries, prefix in ((v.word_starts, True), (v.whole_words, False))
        for entry in entries
    ]


@pytest.mark.parametrize(("name", "entry", "prefix"), _entries())
def test_every_bundled_entry_finds_itself_and_not_inside_another_word(
    matcher: Matcher, name: str, entry: str, prefix: bool
) -> None:
    assert hits(matcher, name, entry.upper()) == [entry]
    assert hits(matcher, name, f"Om {entry.capitalize()}.") == [entry]
    assert hits(matcher, name, f"q{entry}") == []
    longer = f"{entry}na"
    assert hits(matcher, name, longer) == ([longer] if prefix else [])
