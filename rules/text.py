"""Swedish word lists matched against free text at word starts.

A `word_starts` entry matches any word that begins with it, so compounds and inflections
match ("demens" → "demensvården", "grundskol" → "grundskolan"), while look-alikes that only
contain it do not ("äldre" does not match "föräldrar", "elev" does not match "relevant").
A `whole_words` entry matches only the word itself ("bup", "los"). An entry of several
words ("fou avtal") matches those words in sequence, separated by spaces, hyphens, dashes
or slashes ("FoU-avtalet"). An `exclude` entry cancels any hit that begins where it does
("beroende på" is not addiction); its words match whole, except a word ending in `*`, which
matches at its start ("elevat*" excludes "elevatorn"). Matching ignores case, and letters
written with combining accents are the same letters (text is normalised to NFC).

Two implementations live here on purpose: `compile_vocabulary` builds one regular
expression (what the compiled rules run), `scan_tokens` walks the words one by one (what
the plain interpreter runs). Property tests hold them to the same answers.
"""

from __future__ import annotations

import re
import unicodedata

from rules.schema import Vocabulary

WORD = re.compile(r"\w+")
SEPARATOR = r"[\s\-–—/]+"
_SEPARATOR = re.compile(SEPARATOR)
PREFIX_MARK = "*"

# A phrase as (word, matches_at_start) pairs.
Phrase = tuple[tuple[str, bool], ...]


def normalise(text: str) -> str:
    """What matching sees: NFC (so "a" + combining ring is "å") and casefolded."""
    return unicodedata.normalize("NFC", text).casefold()


def split_words(text: str) -> list[str]:
    return WORD.findall(text)


def _phrase(entry: str, prefix: bool | None) -> Phrase:
    """An entry's words; `prefix=None` reads a trailing `*` on each word."""
    words = entry.split(" ")
    if prefix is None:
        return tuple((w.removesuffix(PREFIX_MARK), w.endswith(PREFIX_MARK)) for w in words)
    return tuple((w, prefix) for w in words)


def _entries(vocabulary: Vocabulary) -> list[Phrase]:
    """Every entry as a phrase, longest first; ties keep file order."""
    entries = [_phrase(e, True) for e in vocabulary.word_starts]
    entries += [_phrase(e, False) for e in vocabulary.whole_words]
    return sorted(entries, key=lambda e: -len(e))


def _exclusions(vocabulary: Vocabulary) -> list[Phrase]:
    return [_phrase(e, None) for e in vocabulary.exclude]


def _phrase_pattern(phrase: Phrase) -> str:
    return SEPARATOR.join(
        re.escape(word) + (r"\w*" if prefix else r"(?!\w)") for word, prefix in phrase
    )


def compile_vocabulary(vocabulary: Vocabulary) -> re.Pattern[str]:
    """One expression whose matches are exactly the hits `scan_tokens` finds."""
    alternatives = "|".join(_phrase_pattern(p) for p in _entries(vocabulary))
    exclusions = "|".join(_phrase_pattern(p) for p in _exclusions(vocabulary))
    guard = f"(?!{exclusions})" if exclusions else ""
    return re.compile(rf"(?<!\w){guard}(?:{alternatives})")


def scan_tokens(vocabulary: Vocabulary, text: str) -> list[str]:
    """Every hit in normalised `text`, found word by word without regular expressions."""
    tokens = [(m.group(), m.start(), m.end()) for m in WORD.finditer(text)]
    entries = _entries(vocabulary)
    exclusions = _exclusions(vocabulary)

    def phrase_at(i: int, phrase: Phrase) -> bool:
        if i + len(phrase) > len(tokens):
            return False
        for k, (word, prefix) in enumerate(phrase):
            token, start, _ = tokens[i + k]
            if not (token.startswith(word) if prefix else token == word):
                return False
            if k and not _SEPARATOR.fullmatch(text, tokens[i + k - 1][2], start):
                return False
        return True

    hits: list[str] = []
    i = 0
    while i < len(tokens):
        if any(phrase_at(i, phrase) for phrase in exclusions):
            i += 1
            continue
        for phrase in entries:
            if phrase_at(i, phrase):
                hits.append(text[tokens[i][1] : tokens[i + len(phrase) - 1][2]])
                i += len(phrase)
                break
        else:
            i += 1
    return hits
