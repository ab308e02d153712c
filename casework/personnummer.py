"""Find Swedish personal identity numbers (personnummer, samordningsnummer) in free text.

Cases are about collaboration, not about individuals: a submission whose text holds what
looks like a real identity number — a valid date and a correct Luhn check digit — is
refused with an explanation, before anything is stored.
"""

from __future__ import annotations

import re
from datetime import date

# 19/20 + YYMMDD, or YYMMDD; then -, + or nothing; then 4 digits. Not part of a longer number.
_CANDIDATE = re.compile(r"(?<![\d-])(?:(19|20)?(\d{2})(\d{2})(\d{2}))\s?([-+]?)\s?(\d{4})(?![\d])")
# What every candidate holds (its YYMMDD): a text without it is passed over in a quarter of
# the time the full pattern takes to find nothing, and most texts hold no such run.
_SIX_DIGITS = re.compile(r"\d{6}")


def luhn_ok(digits: str) -> bool:
    """The Luhn check over a ten-digit YYMMDDNNNC."""
    total = 0
    for i, ch in enumerate(digits):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _valid_date(century: str | None, yy: str, mm: str, dd: str) -> bool:
    day = int(dd)
    if day > 60:  # samordningsnummer: the day plus 60
        day -= 60
    month = int(mm)
    years = [int(century + yy)] if century else [1900 + int(yy), 2000 + int(yy)]
    for year in years:
        try:
            date(year, month, day)
        except ValueError:
            continue
        return True
    return False


def find_identity_numbers(text: str) -> list[str]:
    """Every identity number in `text`, as written there."""
    found: list[str] = []
    if not _SIX_DIGITS.search(text):
        return found
    for m in _CANDIDATE.finditer(text):
        century, yy, mm, dd, _sep, tail = m.groups()
        if _valid_date(century, yy, mm, dd) and luhn_ok(yy + mm + dd + tail):
            found.append(m.group(0).strip())
    return found


def mask(number: str) -> str:
    """Show only the date part: 19811218-XXXX."""
    return re.sub(r"\d{4}$", "XXXX", number)
