"""Safe normalisation of what people type into the registration form.

Only contact fields and the kana reading are rewritten. A person's name is trimmed, its runs of spaces folded,
its invisible and direction-changing characters removed and its full-width Latin letters folded to ASCII, nothing
more: blanket Unicode normalisation (NFKC, even NFC) rewrites some name kanji, e.g. 塚 (U+FA10) → 塚, so kanji,
variant kanji and the variation selectors (IVS, U+E0100–U+E01EF) that pick a glyph stay exactly as typed.
"""

import re
import unicodedata

import jaconv

# Everything people type (or an IME produces) between the groups of a phone number.
_PHONE_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−－ー─━ｰ﹣.()（）・/]")
_SPACES = re.compile(r"\s+")  # \s includes the ideographic space U+3000


def fold_spaces(value: str) -> str:
    """Trim, and fold every run of whitespace (ASCII or full-width) into one ASCII space."""
    return _SPACES.sub(" ", value or "").strip()


def strip_invisible(value: str) -> str:
    """Remove format characters (Unicode category Cf: zero-width spaces and joiners U+200B–U+200D, direction marks
    and overrides U+200E/F, U+202A–U+202E, U+2066–U+2069, the word joiner U+2060, the BOM U+FEFF, soft hyphens,
    tags…) and control characters (Cc). They make a name look different from what it is in a roster or an
    export. Variation selectors (Mn, e.g. the IVS U+E0100–U+E01EF after a kanji) are part of the name: kept."""
    return "".join(char for char in value or "" if unicodedata.category(char) not in ("Cf", "Cc"))


# Full-width Latin letters and the punctuation of Latin names (apostrophe, hyphen, full stop) → ASCII.
_FULL_WIDTH_LATIN = str.maketrans({
    **{chr(code): chr(code - 0xFEE0) for code in range(0xFF21, 0xFF3B)},  # Ａ–Ｚ
    **{chr(code): chr(code - 0xFEE0) for code in range(0xFF41, 0xFF5B)},  # ａ–ｚ
    "＇": "'", "－": "-", "．": ".",
})


def normalize_name(value: str) -> str:
    """Trimmed, spaces folded, invisible characters removed, full-width Latin letters folded to ASCII
    (Ｍａｒｉａ　Ｇａｒｃｉａ → Maria Garcia). Kanji, kana and accented letters stay as typed."""
    return fold_spaces(strip_invisible(fold_spaces(value)).translate(_FULL_WIDTH_LATIN))


# A name written in the Latin script: letters (with accents, precomposed or combining), spaces, apostrophes,
# hyphens, full stops and commas. At least one letter.
_LATIN_NAME = re.compile(r"(?=.*[A-Za-z\u00C0-\u024F\u1E00-\u1EFF])"
                         r"[A-Za-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u024F\u1E00-\u1EFF\u0300-\u036F '’.,\-]+")


def is_latin_name(value: str) -> bool:
    """A (normalised) name in the Latin script, such as "Maria Garcia" or "José Müller": it needs no kana."""
    return bool(_LATIN_NAME.fullmatch(value or ""))


def normalize_kana(value: str) -> str:
    """Reading in full-width katakana: half-width katakana widened, hiragana turned to katakana; invisible
    characters removed."""
    value = jaconv.h2z(fold_spaces(strip_invisible(fold_spaces(value))), kana=True, ascii=False, digit=False)
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
