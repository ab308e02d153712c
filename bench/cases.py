"""Generated cases for the routing benchmark: deterministic for a given seed.

Each case has a title and description of 10–60 words together (title 3–10 of them), mostly
neutral Swedish filler, with words from 0–2 target-group vocabularies (sometimes LSVO's
mandate or the municipalities' own questions) inflected or compounded the way real minutes
write them ("demens" → "demensvården", "fou avtal" → "FoU-avtalet"), and look-alikes the
word lists must not match ("föräldrar", "relevant", "beroende på", "i alla åldrar"). The
form fields are set with low, realistic probabilities. Words come from the rule set's own
vocabularies, so the cases follow the YAML file.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from rules.facts import KINDS, TARGET_GROUPS, CaseFacts
from rules.schema import RuleSetDefinition, Vocabulary

DEFAULT_SEED = 20_230_512

_FILLER_WORDS = (
    "ärendet gäller förslag om att och i på för med som till från det den ett en inte har "
    "kan ska bör behöver beslut information diskussion inom mellan under efter inför kring "
    "region regionen kommun kommunen kommunens organisationer verksamheten verksamheter "
    "samverkan samverkansformer möte mötet sammanträde protokoll uppföljning återkoppling "
    "underlag rapport redovisning arbetsgrupp uppdrag uppdraget förvaltning förvaltningen "
    "ledning chef chefer ansvar ansvaret rutinen riktlinje riktlinjen avtal avtalet plan "
    "planen mål målet åtgärder åtgärd tidplan hösten våren året nästa tidigare nuläge "
    "dialog vidare fortsatt gemensam gemensamt gemensamma nytt ny nya tas upp lyfts fram "
    "presenteras föredragande enligt utifrån avseende samt även också hur vad när där "
    "Karlskrona Ronneby Karlshamn Sölvesborg Olofström Blekinge hälso sjukvård vårdcentral "
    "digital lösning journal kompetens personal bemanning kostnad budget statistik"
)
FILLER = tuple(_FILLER_WORDS.split())

# Words the vocabularies must not match: the look-alikes of DOMAIN.md and the exclusions.
LOOK_ALIKES = (
    "föräldrar",
    "föräldrarna",
    "föräldrars",
    "relevant",
    "relevanta",
    "irrelevant",
    "elevation",
    "elevatorn",
    "beroende på",
    "beroende av om",
    "i alla åldrar",
    "skoltandvården",
    "ungefär",
    "vuxit",
    "hjälpa",
    "fallet",
    "lossa",
    "dragning",
    "interna",
    "kommunerna",
    "projektet",
    "överenskommen",
)

ENDINGS = ("", "", "en", "erna", "vården", "arbetet", "s", "na", "et", "frågor", "insatser")
LIGATURES = (" ", " ", "-")


@dataclass(frozen=True)
class _Words:
    """Inflectable word lists of one vocabulary."""

    starts: tuple[tuple[str, ...], ...]
    whole: tuple[tuple[str, ...], ...]

    @classmethod
    def of(cls, vocabulary: Vocabulary) -> _Words:
        return cls(
            tuple(tuple(e.split(" ")) for e in vocabulary.word_starts),
            tuple(tuple(e.split(" ")) for e in vocabulary.whole_words),
        )

    def pick(self, rng: random.Random) -> str:
        if self.whole and rng.random() < 0.15:
            words = rng.choice(self.whole)
            text = " ".join(words)
            return text.upper() if len(text) <= 4 and rng.random() < 0.5 else text
        words = rng.choice(self.starts)
        text = rng.choice(LIGATURES).join(words) if len(words) > 1 else words[0]
        return text + rng.choice(ENDINGS)


def _case(
    rng: random.Random,
    groups: dict[str, _Words],
    mandate: _Words,
    municipalities: _Words,
    destinations: tuple[str, ...],
) -> CaseFacts:
    topics: list[_Words] = []
    r = rng.random()
    if r < 0.45:
        topics = [groups[rng.choice(TARGET_GROUPS)]]
    elif r < 0.65:
        topics = [groups[g] for g in rng.sample(TARGET_GROUPS, 2)]
    if rng.random() < 0.06:
        topics.append(mandate)
    if rng.random() < 0.04:
        topics.append(municipalities)

    total = rng.randint(10, 60)
    words: list[str] = []
    for _ in range(total):
        r = rng.random()
        if topics and r < 0.10:
            words.append(rng.choice(topics).pick(rng))
        elif r < 0.14:
            words.append(rng.choice(LOOK_ALIKES))
        else:
            words.append(rng.choice(FILLER))
    for topic in topics:  # every topic of the case is named at least once
        words.insert(rng.randrange(len(words) + 1), topic.pick(rng))
    for i, word in enumerate(words):
        if rng.random() < 0.04:
            words[i] = word + rng.choice(",.")
        elif rng.random() < 0.03:
            words[i] = word.capitalize()

    cut = rng.randint(3, 10)
    title = " ".join(words[:cut])
    title = title[0].upper() + title[1:]
    description = " ".join(words[cut:])

    given: list[str] = []
    r = rng.random()
    if r < 0.25:
        given = [rng.choice(TARGET_GROUPS)]
    elif r < 0.33:
        given = rng.sample(TARGET_GROUPS, 2)
    deviation = rng.random() < 0.10
    escalated = None
    if rng.random() < 0.04:
        escalated = rng.choice(("sg-barn-unga", "sg-vuxna", "sg-aldre", "lsvo", *destinations))
    return CaseFacts(
        title=title,
        description=description,
        kind=rng.sample(KINDS, rng.randint(0, 2)),
        target_groups=given,
        requests_resources=rng.random() < 0.05,
        county_wide=rng.random() < 0.04,
        deviation=deviation,
        recurring=rng.random() < (0.30 if deviation else 0.05),
        municipalities_only=rng.random() < 0.03,
        escalated_from=escalated,
    )


def generate_cases(
    definition: RuleSetDefinition, n: int, seed: int = DEFAULT_SEED
) -> Iterator[CaseFacts]:
    """`n` cases, the same ones for the same definition, `n` and seed."""
    rng = random.Random(seed)
    vocabularies = definition.vocabularies
    groups: dict[str, _Words] = {g: _Words.of(vocabularies[g]) for g in TARGET_GROUPS}
    mandate = _Words.of(vocabularies["lsvo_mandat"])
    municipalities = _Words.of(vocabularies["enbart_kommunerna"])
    destinations = tuple(definition.destinations)
    for _ in range(n):
        yield _case(rng, groups, mandate, municipalities, destinations)
