"""Swedish identity numbers in free text: found when real, left alone when merely numeric."""

from __future__ import annotations

import pytest

from casework.personnummer import find_identity_numbers, mask


def check_digit(nine: str) -> str:
    """The Luhn check digit for YYMMDDNNN: weights 2,1,2,1…, digits of each product summed."""
    total = 0
    for position, char in enumerate(nine):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product // 10 + product % 10
    return str((10 - total % 10) % 10)


def number(yymmdd: str, serial: str = "987") -> str:
    """YYMMDDNNNC with a correct check digit."""
    return yymmdd + serial + check_digit(yymmdd + serial)


def wrong_digit(ten: str) -> str:
    return ten[:-1] + str((int(ten[-1]) + 1) % 10)


VALID = number("811218")  # 18 December 1981
SAMORDNING = number("811278")  # the same date as a samordningsnummer: day + 60
LEAP_DAY = number("000229", "123")  # 29 February 2000


def test_the_helper_agrees_with_a_worked_example() -> None:
    # 811218-9876 is the Swedish Tax Agency's textbook example of a valid personnummer.
    assert number("811218") == "8112189876"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Gäller {VALID[:6]}-{VALID[6:]} i Ronneby", f"{VALID[:6]}-{VALID[6:]}"),
        (f"född {VALID[:6]}+{VALID[6:]}", f"{VALID[:6]}+{VALID[6:]}"),
        (f"pnr 19{VALID}.", f"19{VALID}"),
        (f"pnr 19{VALID[:6]}-{VALID[6:]}", f"19{VALID[:6]}-{VALID[6:]}"),
        (f"pnr {VALID}", VALID),
        (
            f"samordningsnummer {SAMORDNING[:6]}-{SAMORDNING[6:]}",
            f"{SAMORDNING[:6]}-{SAMORDNING[6:]}",
        ),
        (f"skottdag 20{LEAP_DAY[:6]}-{LEAP_DAY[6:]}", f"20{LEAP_DAY[:6]}-{LEAP_DAY[6:]}"),
    ],
    ids=[
        "YYMMDD-NNNN",
        "YYMMDD+NNNN",
        "YYYYMMDDNNNN",
        "YYYYMMDD-NNNN",
        "YYMMDDNNNN",
        "samordningsnummer",
        "leap-day",
    ],
)
def test_valid_numbers_are_found(text: str, expected: str) -> None:
    assert find_identity_numbers(text) == [expected]


def test_every_number_in_a_text_is_found() -> None:
    text = f"{VALID[:6]}-{VALID[6:]} och {SAMORDNING[:6]}-{SAMORDNING[6:]}"
    assert len(find_identity_numbers(text)) == 2


@pytest.mark.parametrize(
    "yymmdd",
    ["811318", "810230", "810100", "811292", "010229"],
    ids=["month-13", "30-february", "day-0", "samordning-day-32", "29-february-2001"],
)
def test_an_impossible_date_is_not_a_number(yymmdd: str) -> None:
    # The check digit is right, so only the date can make these fail.
    candidate = number(yymmdd)
    assert find_identity_numbers(f"{candidate[:6]}-{candidate[6:]}") == []
    assert find_identity_numbers(f"19{candidate}") == []


@pytest.mark.parametrize("candidate", [VALID, SAMORDNING, LEAP_DAY])
def test_a_wrong_check_digit_is_not_a_number(candidate: str) -> None:
    bad = wrong_digit(candidate)
    assert find_identity_numbers(f"{bad[:6]}-{bad[6:]}") == []
    assert find_identity_numbers(f"19{bad}") == []


@pytest.mark.parametrize(
    "text",
    [
        "LSVO sammanträdde 2023-05-12, §60 b.",
        "Ärende SB-2026-0001 och SB-2025-0123.",
        "Ring 0455-73 50 00 eller 070-123 45 67.",
        "Mobil +46 70 123 45 67, växel 0455-735000.",
        "Telefon 0701234567.",
        "Beslutet gäller 2026-06-26 till 2027-06-25.",
        "Statsbidraget är 1 250 000 kronor, diarienummer 2023/01234.",
        "",
    ],
)
def test_dates_references_and_phone_numbers_are_not_flagged(text: str) -> None:
    assert find_identity_numbers(text) == []


def test_a_number_inside_a_longer_number_is_not_flagged() -> None:
    assert find_identity_numbers(f"1{VALID}1") == []


def test_mask_keeps_only_the_date() -> None:
    assert mask(f"{VALID[:6]}-{VALID[6:]}") == f"{VALID[:6]}-XXXX"
    assert mask(f"19{VALID}") == f"19{VALID[:6]}XXXX"
