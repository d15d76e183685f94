"""Every admin page, as city and partner staff whose admin is in Japanese, says nothing in English that has a
translation to give: no visible text, button label, title or aria-label equals (or, with placeholders, matches) an
English message of Dekiru's catalogue or of Wagtail's own. Wagtail's Japanese catalogue leaves some of its strings
untranslated ("Help", "Go to the first error", "New: %(model_name)s"); Dekiru's catalogue translates those it shows,
and this walk fails on the next one.

The pages are those of the URL walk (test_url_walk_roles: every route, filled with real objects) under /admin/
whose view is Dekiru's (a view of its apps, or of one of its viewsets), and the admin home, which Dekiru fills.
Wagtail's own pages (the page editor, users, groups, images) are Wagtail's to translate.
"""

import re
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import pytest
import wagtail
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import Resolver404, resolve
from wagtail.users.models import UserProfile

from cms import roles
from partners.services import add_membership
from tests.isolation.test_url_walk_roles import all_urls, world  # noqa: F401 - the walk's fixture

pytestmark = [pytest.mark.django_db, pytest.mark.url_walk, pytest.mark.clock]

# English words that are the same in the Japanese admin: names of things, units and formats.
SAME_IN_JAPANESE = {"CSV", "XLSX", "PDF", "ID", "OK", "URL", "LINE", "SMS", "Wagtail", "iCal", "QR", "Excel",
                    "E-mail", "JSON", "PNG", "SVG", "TOTP", "Dekiru", "UTF-8", "iPhone", "Android"}
# Data, not messages: the English name column of a reference list (相談のテーマ "Other"), and the role groups'
# names, which are stable identifiers (cms.roles) that Wagtail's users and groups pages print as they are.
# Data, not messages: the roles' names, and the UK Essential Digital Skills framework's own English theme names in the
# framework themes' "name (English)" column (outreach 0009), some of which are also the can-do groups' msgids.
DATA = {"Other", *roles.ALL_ROLES, "Foundation", "Communicating", "Handling information and content", "Transacting",
        "Problem solving", "Being safe and legal online"}
# English that Wagtail 8 writes into its templates without gettext (no catalogue can translate it): the admin
# home's hidden search button (value="Search") and the header's aria-label="Actions".
WAGTAIL_HARD_CODED = {"Search", "Actions"}
SKIP_SUFFIXES = (".csv", ".xlsx", ".pdf", ".png", ".json", ".ics", ".svg")
OUR_APPS = ("cms.", "courses.", "partners.", "outreach.", "provision.")


def is_dekirus(url: str) -> bool:
    """The view behind `url` is Dekiru's: defined in its apps, or served by one of its viewsets (whose generic
    views, such as delete and history, are Wagtail's classes)."""
    if url == "/admin/":
        return True
    try:
        match = resolve(url)
    except Resolver404:
        return False
    view = getattr(match.func, "view_class", match.func)
    if view.__module__.startswith(OUR_APPS):
        return True
    initkwargs = getattr(match.func, "view_initkwargs", {}) or {}
    model = initkwargs.get("model")
    return isinstance(model, type) and model.__module__.startswith(OUR_APPS)


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Text(HTMLParser):
    """The text a person sees or hears: text outside script, style, templates and hidden elements (a `hidden`
    attribute: Wagtail's empty side-panel counter holds a hidden "None"), and labels in attributes."""

    ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")
    NEVER_SHOWN = ("script", "style", "template")

    def __init__(self):
        super().__init__()
        self.texts: list[str] = []
        self._open: list[tuple[str, bool]] = []  # open elements, and whether each is hidden

    def _hidden(self) -> bool:
        return any(hidden for _tag, hidden in self._open)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        hidden = tag in self.NEVER_SHOWN or "hidden" in attributes
        if not (hidden or self._hidden()):
            for name, value in attrs:
                if name in self.ATTRIBUTES and value:
                    self.texts.append(value)
            if tag == "input" and attributes.get("type") in ("submit", "button") and attributes.get("value"):
                self.texts.append(attributes["value"])
        if tag not in VOID:
            self._open.append((tag, hidden))

    def handle_endtag(self, tag):
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index][0] == tag:
                del self._open[index:]
                break

    def handle_data(self, data):
        if not self._hidden() and data.strip():
            self.texts.append(data)


def texts_of(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return [" ".join(text.split()) for text in parser.texts]


_KEYWORD = re.compile(r'^(msgid|msgid_plural|msgstr|msgstr\[\d+\]|msgctxt) "(.*)"$')
_CONTINUED = re.compile(r'^"(.*)"$')


def msgids(path: Path) -> list[str]:
    """The msgid and msgid_plural strings of a PO file (obsolete entries left out)."""
    found, current, parts = [], None, []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        keyword, continued = _KEYWORD.match(line), _CONTINUED.match(line)
        if continued and current is not None:
            parts.append(continued.group(1))
            continue
        if current in ("msgid", "msgid_plural"):
            found.append(bytes("".join(parts), "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8"))
        current, parts = (keyword.group(1), [keyword.group(2)]) if keyword else (None, [])
    return [text for text in found if text]


PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}")


@cache
def english_messages() -> tuple[frozenset[str], tuple[re.Pattern, ...]]:
    """Every English message of Dekiru's catalogue and Wagtail's: plain ones as a set, those with placeholders as
    patterns. Only messages with a letter in them, and not the ones that read the same in Japanese."""
    catalogues = [Path(settings.BASE_DIR) / "locale/ja/LC_MESSAGES/django.po",
                  *Path(wagtail.__file__).parent.glob("**/locale/en/LC_MESSAGES/django.po")]
    plain, patterns = set(), []
    for path in catalogues:
        for msgid in msgids(path):
            text = " ".join(msgid.split())
            if not re.search(r"[A-Za-z]{2}", text) or text in SAME_IN_JAPANESE:
                continue
            if PLACEHOLDER.search(text):
                parts = PLACEHOLDER.split(text)
                if sum(len(part.strip()) for part in parts) >= 4:
                    patterns.append(re.compile("^" + "(.+?)".join(re.escape(part) for part in parts) + "$"))
            else:
                plain.add(text)
    return frozenset(plain), tuple(patterns)


def untranslated(texts: list[str]) -> set[str]:
    plain, patterns = english_messages()
    return {text for text in texts if text not in DATA and text not in WAGTAIL_HARD_CODED and (
            text in plain or (re.search(r"[A-Za-z]{3}", text) and any(p.match(text) for p in patterns)))}


def test_the_detector_finds_english_messages_and_leaves_japanese_alone():
    html = ('<main><h1>開催回</h1><button title="Help">?</button><p>New: 開催回</p><script>var x = "Help";</script>'
            '<p>申込の控え</p><p>CSV</p><div hidden><span>None</span></div><br><p>Close dialog</p></main>')
    assert untranslated(texts_of(html)) == {"Help", "New: 開催回", "Close dialog"}


def _japanese_user(role: str, w):
    user = get_user_model().objects.create_user(f"ja-{role.lower().replace(' ', '-')}", password="pw")
    user.groups.add(Group.objects.get(name=role))
    if role == roles.PARTNER_MANAGER:
        add_membership(partner=w.partner, user=user, role="manager")
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "ja"
    profile.save()
    return user


@pytest.mark.parametrize("role", [roles.CITY_ADMINISTRATOR, roles.PARTNER_MANAGER])
def test_every_admin_page_in_japanese_has_no_english_left(client, world, role):  # noqa: F811 - the fixture
    client.raise_request_exception = False
    user = _japanese_user(role, world)
    found: dict[str, set[str]] = {}
    pages = 0
    for url in all_urls(world):
        if not url.startswith("/admin/") or url.endswith(SKIP_SUFFIXES) or not is_dekirus(url):
            continue
        if "_auth_user_id" not in client.session:
            client.force_login(user)  # the walk passed /admin/logout/
        response = client.get(url)
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        pages += 1
        for text in untranslated(texts_of(response.content.decode())):
            found.setdefault(text, set()).add(url)
    assert pages > 30
    report = "\n".join(f"{text!r} on {', '.join(sorted(urls)[:3])}" for text, urls in sorted(found.items()))
    assert not found, f"English left in the Japanese admin ({role}):\n{report}"
