"""Swedish word lists matched against free text at word starts.

A `word_starts` entry matches any word that begins with it, so compounds and inflections
match ("demens" → "demensvården", "grundskol" → "grundskolan"), while look-alikes that only
contain it do not ("äldre" does not match "föräldrar", "elev" does not match "relevant").
A `whole_words` entry matches only the word itself ("bup", "los"). An entry of several
words ("fou avtal") matches those words in sequence, separated by spaces, hyphens, dashes
or slashes ("FoU-avtalet"). An `exclude` entry, matched at word starts, cancels any hit
that begins where it does ("beroende på" is not addiction). Matching ignores case.

Two implementations live here on purpose: `compile_vocabulary` builds one regular
expression (what the compiled rules run), `scan_tokens` walks the words one by one (what
the plain interpreter runs). Property tests hold them to the same answers.
"""

from __future__ import annotations

import re

from rules.schema import Vocabulary

WORD = re.compile(r"\w+")
SEPARATOR = r"[\s\-–—/]+"
_SEPARATOR = re.compile(SEPARATOR)


def split_words(text: str) -> list[str]:
    return WORD.findall(text)


def _entries(vocabulary: Vocabulary) -> list[tuple[tuple[str, ...], bool]]:
    """(words, is_prefix) for every entry, longest phrase first; ties keep file order."""
    entries = [(tuple(e.split(" ")), True) for e in vocabulary.word_starts]
    entries += [(tuple(e.split(" ")), False) for e in vocabulary.whole_words]
    return sorted(entries, key=lambda e: -len(e[0]))


def _phrase_pattern(words: tuple[str, ...], prefix: bool) -> str:
    tail = r"\w*" if prefix else r"(?!\w)"
    return SEPARATOR.join(re.escape(w) + tail for w in words)


def compile_vocabulary(vocabulary: Vocabulary) -> re.Pattern[str]:
    """One expression whose matches are exactly the hits `scan_tokens` finds."""
    alternatives = "|".join(_phrase_pattern(w, p) for w, p in _entries(vocabulary))
    exclusions = "|".join(_phrase_pattern(tuple(e.split(" ")), True) for e in vocabulary.exclude)
    guard = f"(?!{exclusions})" if exclusions else ""
    return re.compile(rf"(?<!\w){guard}(?:{alternatives})")


def scan_tokens(vocabulary: Vocabulary, text: str) -> list[str]:
    """Every hit in casefolded `text`, found word by word without regular expressions."""
    tokens = [(m.group(), m.start(), m.end()) for m in WORD.finditer(text)]
    entries = _entries(vocabulary)
    exclusions = [tuple(e.split(" ")) for e in vocabulary.exclude]

    def phrase_at(i: int, words: tuple[str, ...], prefix: bool) -> bool:
        if i + len(words) > len(tokens):
            return False
        for k, word in enumerate(words):
            token, start, _ = tokens[i + k]
            if not (token.startswith(word) if prefix else token == word):
                return False
            if k and not _SEPARATOR.fullmatch(text, tokens[i + k - 1][2], start):
                return False
        return True

    hits: list[str] = []
    i = 0
    while i < len(tokens):
        if any(phrase_at(i, words, True) for words in exclusions):
            i += 1
            continue
        for words, prefix in entries:
            if phrase_at(i, words, prefix):
                hits.append(text[tokens[i][1] : tokens[i + len(words) - 1][2]])
                i += len(words)
                break
        else:
            i += 1
    return hits
