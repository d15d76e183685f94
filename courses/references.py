"""Booking references (受付番号): eight digits a person can read out over the phone, e.g. 3804-1279.

Seven random digits (the first never 0, so that the number keeps its length in a spreadsheet and is never read
as "zero-something"), then one check digit by the Damm algorithm (H. Michael Damm, 2004). Damm's check digit
catches every single wrong digit and every swap of two neighbouring digits — the two mistakes people make
reading a number out or typing it — using digits only (unlike ISO 7064 mod 11-2, which needs an "X").
About 9 million references: collisions are rare, and the services draw again when one happens.

Pure functions: nothing here touches the database.
"""

import re
import secrets
import unicodedata

LENGTH = 8

# The quasigroup of order 10 from Damm's thesis (weakly totally anti-symmetric, zero diagonal).
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

# What people type between the groups: spaces (ASCII or full-width) and every kind of dash, including the
# katakana long-vowel mark an IME produces for "-".
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−－ー─━ｰ﹣]")


def damm_check_digit(digits: str) -> str:
    """The Damm check digit of a string of ASCII digits."""
    interim = 0
    for digit in digits:
        interim = _DAMM[interim][int(digit)]
    return str(interim)


def has_valid_check_digit(reference: str) -> bool:
    """True when `reference` (digits only) ends with the right check digit."""
    return reference.isascii() and reference.isdigit() and damm_check_digit(reference) == "0"


def _random_body() -> str:
    """Seven random digits, the first not 0."""
    return str(secrets.randbelow(9 * 10 ** (LENGTH - 2)) + 10 ** (LENGTH - 2))


def new_reference() -> str:
    """A fresh random reference. Unique only by chance: the caller stores it under the unique constraint."""
    body = _random_body()
    return body + damm_check_digit(body)


def new_references(count: int, taken: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """`count` distinct fresh references, none of them in `taken` (for rows written in bulk)."""
    chosen: set[str] = set()
    result = []
    while len(result) < count:
        reference = new_reference()
        if reference not in chosen and reference not in taken:
            chosen.add(reference)
            result.append(reference)
    return result


def digits_of(text: str) -> str:
    """What was typed, with full-width digits made ASCII and spaces and dashes removed ("１２３４－５６７８" →
    "12345678"). Anything else is kept, so the caller can tell a reference from other input."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text or ""))


def looks_like_reference(text: str) -> bool:
    """Eight digits once spaces and dashes are removed, whether or not the check digit is right."""
    digits = digits_of(text)
    return len(digits) == LENGTH and digits.isascii() and digits.isdigit()


def format_reference(reference: str) -> str:
    """Grouped for reading aloud: 38041279 → 3804-1279."""
    if len(reference or "") != LENGTH:
        return reference or ""
    return f"{reference[:4]}-{reference[4:]}"
