"""Spreadsheet formula injection (OWASP's CSV injection advice), one rule for every export and import.

A text cell that starts with one of FORMULA_PREFIXES would be run as a formula by Excel or LibreOffice: exports
put an apostrophe before it, and imports take that apostrophe off again, so an export re-imports unchanged.
"""

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_csv_cell(value):
    """A text a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def unescape_cell(text: str) -> str:
    """The text an export escaped, as it was: the apostrophe before a formula-like text is removed."""
    if text[:1] == "'" and text[1:2] and text[1:2] in FORMULA_PREFIXES:
        return text[1:]
    return text
