"""Safe normalisation of what people type into the registration form.

Only contact fields and the kana reading are rewritten. A person's name is trimmed and its runs of spaces
folded, nothing more: blanket Unicode normalisation (NFKC) rewrites some name kanji, e.g. 塚 (U+FA10) → 塚.
"""

import re

import jaconv

# Everything people type (or an IME produces) between the groups of a phone number.
_PHONE_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−－ー─━ｰ﹣.()（）・/]")
_SPACES = re.compile(r"\s+")  # \s includes the ideographic space U+3000


def fold_spaces(value: str) -> str:
    """Trim, and fold every run of whitespace (ASCII or full-width) into one ASCII space."""
    return _SPACES.sub(" ", value or "").strip()


def normalize_name(value: str) -> str:
    return fold_spaces(value)


def normalize_kana(value: str) -> str:
    """Reading in full-width katakana: half-width katakana widened, hiragana turned to katakana."""
    value = jaconv.h2z(fold_spaces(value), kana=True, ascii=False, digit=False)
    return jaconv.hira2kata(value)


def to_half_width_ascii(value: str) -> str:
    """Full-width Latin letters, digits, symbols and spaces → ASCII. Kana and kanji are left alone."""
    return jaconv.z2h(value or "", kana=False, ascii=True, digit=True)


def normalize_email(value: str) -> str:
    value = fold_spaces(to_half_width_ascii(value)).replace(" ", "")
    if "@" in value:
        local, _, domain = value.rpartition("@")
        value = f"{local}@{domain.lower()}"
    return value


def normalize_phone(value: str) -> str:
    """One canonical form: national digits only (090-1234-5678, ０９０ー１２３４ー５６７８ → 09012345678).

    A +81 country code becomes the national 0 prefix. Returns digits (and anything unexpected, which the
    caller's validation then rejects); does not validate.
    """
    value = _PHONE_SEPARATORS.sub("", to_half_width_ascii(value or "").strip())
    if value.startswith("+81"):
        value = "0" + value[3:].lstrip("0")
    elif value.startswith("0081"):
        value = "0" + value[4:].lstrip("0")
    return value


# 11 digits for mobile, IP and M2M numbers (020/050/060/070/080/090 and 0800 free dial); 10 for the rest
# (landlines, 0120, 0570).
_PHONE_RE = re.compile(r"0[256789]0\d{8}|0(?![256789]0)\d{9}")


def is_valid_phone(value: str) -> bool:
    """A Japanese phone number in the canonical digits-only form."""
    return bool(_PHONE_RE.fullmatch(value))


def format_phone(value: str) -> str:
    """Human-readable grouping for display: 09012345678 → 090-1234-5678, 0441234567 → 044-123-4567."""
    if value.startswith(("0120", "0570")) and len(value) == 10:
        return f"{value[:4]}-{value[4:7]}-{value[7:]}"
    if value.startswith("0800") and len(value) == 11:
        return f"{value[:4]}-{value[4:7]}-{value[7:]}"
    if len(value) == 11:
        return f"{value[:3]}-{value[3:7]}-{value[7:]}"
    if len(value) == 10 and value.startswith(("03", "06")):
        return f"{value[:2]}-{value[2:6]}-{value[6:]}"
    if len(value) == 10:
        return f"{value[:3]}-{value[3:6]}-{value[6:]}"
    return value
