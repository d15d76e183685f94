"""Filling in the registration form as the page offers it (stdlib only: imported by locustfile.py, and by
tests/test_loadtest_prepare.py without locust installed).

The load test once sent ward ids 1–7 written into the locustfile: on a database whose wards had other ids, every
POST was a 400 (the form refused the ward) and the burst measured nothing. The choices are read from the form page
itself instead: each <select>'s options and each group of radio buttons, empty values (the "choose one" prompt)
left out.
"""

import html
import re

_SELECT = re.compile(r"<select\b[^>]*\bname=\"([^\"]+)\"[^>]*>(.*?)</select>", re.S | re.I)
_OPTION = re.compile(r"<option\b[^>]*\bvalue=\"([^\"]*)\"", re.I)
_INPUT = re.compile(r"<input\b[^>]*>", re.I)
_ATTRIBUTE = re.compile(r"\b(type|name|value)=\"([^\"]*)\"", re.I)


def form_choices(page: str) -> dict[str, list[str]]:
    """{field name: the values it offers, in page order} for the <select>s and radio buttons of `page`."""
    choices: dict[str, list[str]] = {}
    for name, options in _SELECT.findall(page):
        values = [html.unescape(value) for value in _OPTION.findall(options) if value]
        choices.setdefault(html.unescape(name), []).extend(values)
    for tag in _INPUT.findall(page):
        attributes = {key.lower(): html.unescape(value) for key, value in _ATTRIBUTE.findall(tag)}
        if attributes.get("type", "").lower() == "radio" and attributes.get("name") and attributes.get("value"):
            choices.setdefault(attributes["name"], []).append(attributes["value"])
    return choices


def pick(choices: dict[str, list[str]], name: str, n: int, preferred: str | None = None) -> str:
    """Resident n's answer to `name`: `preferred` when the form offers it, otherwise the offered values in turn.
    Raises KeyError when the form offers none (the run must fail loudly, not send a form the site refuses)."""
    values = choices.get(name) or []
    if not values:
        raise KeyError(f"the registration form offers no choice for {name!r}")
    if preferred is not None and preferred in values:
        return preferred
    return values[n % len(values)]
