"""ふりがな: readings of kanji as <ruby>, for residents who read kana more easily (older people, children, people still
learning Japanese). Turned on with the reading-aids form (cms.display); then every Japanese public page is given
readings as it leaves the server (FuriganaMiddleware): the interface strings and the content staff write alike.

Readings come from SudachiPy with its core dictionary (a maintained morphological analyser and dictionary). Names it
gets wrong (places, venues) are corrected by staff (cms.models.Reading, a snippet): a correction wins everywhere,
since corrected words are taken out of the text before the analyser sees it. Each piece of text is analysed once
per process and kept (an LRU keyed by the corrections' version), never on every request.

The markup: <ruby>漢字<rt data-r="かんじ" aria-hidden="true"></rt></ruby>, the reading drawn by the stylesheet
(rt::before { content: attr(data-r) }). So the reading is not text of the page: screen readers read the base text
once, copying copies the base text only, and the browser's find in page finds 「講座を探す」 as written (with the
reading as text, Chromium finds nothing and copies 講座こうざ). A text node given readings is wrapped in a <span>, so
that a flex container (a button-like link) lays it out as one line of text. Words written partly in kana carry
readings over their kanji only (使[つか]い方[かた]).
"""

import hashlib
import html
import re
from functools import lru_cache

from django.core.cache import cache
from django.utils import translation

COOKIE = "dekiru_furigana"
KANJI = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ヵヶ"
HAS_KANJI = re.compile(f"[{KANJI}]")
KANJI_RUN = re.compile(f"[{KANJI}]+|[^{KANJI}]+")
CORRECTIONS_KEY = "dekiru:furigana:readings"


@lru_cache(maxsize=1)
def _tokenizer():
    from sudachipy import Dictionary, SplitMode  # imported when first needed: loading the dictionary takes a second

    return Dictionary(dict="core").tokenizer(mode=SplitMode.C, fields={"reading_form"})


def hiragana(text: str) -> str:
    return "".join(chr(ord(ch) - 0x60) if "ァ" <= ch <= "ヶ" else ch for ch in text)


def align(surface: str, reading: str) -> list[tuple[str, str | None]]:
    """Readings over the kanji of one word: 使い方 + つかいかた → [(使, つか), (い, None), (方, かた)]. When the
    kana of the word cannot be found in its reading, the whole word carries the whole reading."""
    runs = KANJI_RUN.findall(surface)
    if len(runs) == 1:
        return [(surface, reading)]
    pattern = "".join("(.+?)" if HAS_KANJI.match(run) else re.escape(hiragana(run)) for run in runs)
    match = re.fullmatch(pattern, reading)
    if match is None:
        return [(surface, reading)]
    readings = iter(match.groups())
    return [(run, next(readings)) if HAS_KANJI.match(run) else (run, None) for run in runs]


# A reading longer than this (kana) over one compound is read over its short units instead: 携帯電話番号 as
# 携帯・電話・番号. A ruby does not break across lines, and けいたいでんわばんごう in the largest text size is wider
# than a 320-pixel phone screen.
LONG_READING = 8


@lru_cache(maxsize=1)
def _short_unit_tokenizer():
    from sudachipy import Dictionary, SplitMode  # as _tokenizer

    return Dictionary(dict="core").tokenizer(mode=SplitMode.A, fields={"reading_form"})


def _morphemes(text: str):
    for morpheme in _tokenizer().tokenize(text):
        if HAS_KANJI.search(morpheme.surface()) and len(morpheme.reading_form()) > LONG_READING:
            yield from _short_unit_tokenizer().tokenize(morpheme.surface())
        else:
            yield morpheme


def _analyse(text: str) -> list[tuple[str, str | None]]:
    pieces = []
    for morpheme in _morphemes(text):
        surface = morpheme.surface()
        reading = hiragana(morpheme.reading_form())
        if not HAS_KANJI.search(surface) or not reading or HAS_KANJI.search(reading) or reading == surface:
            pieces.append((surface, None))
        else:
            pieces.extend(align(surface, reading))
    return pieces


def corrections() -> dict[str, str]:
    """{written form: reading} of the staff's corrections, from the cache (one read per request that shows
    furigana); cms.models.Reading empties it when a correction changes."""
    from cms.models import Reading  # the model module imports this one (to forget the corrections)

    readings = cache.get(CORRECTIONS_KEY)
    if readings is None:
        readings = dict(Reading.objects.values_list("text", "reading"))
        cache.set(CORRECTIONS_KEY, readings, None)
    return readings


def forget_corrections() -> None:
    """A correction changed: every process reads them again (and analyses texts again, under the new version)."""
    cache.delete(CORRECTIONS_KEY)


def version(readings: dict[str, str]) -> str:
    return hashlib.sha1(repr(sorted(readings.items())).encode()).hexdigest()[:12]


@lru_cache(maxsize=1)
def _corrections_pattern(key: str, words: tuple[str, ...]):
    return re.compile("|".join(re.escape(word) for word in sorted(words, key=len, reverse=True)))


def segments(text: str, readings: dict[str, str] | None = None) -> list[tuple[str, str | None]]:
    """The text as (base, reading or None) pieces; corrected words take the staff's reading."""
    readings = corrections() if readings is None else readings
    if not readings:
        return _analyse(text)
    pattern = _corrections_pattern(version(readings), tuple(readings))
    pieces, start = [], 0
    for match in pattern.finditer(text):
        if match.start() > start:
            pieces.extend(_analyse(text[start:match.start()]))
        pieces.append((match.group(), readings[match.group()]))
        start = match.end()
    if start < len(text):
        pieces.extend(_analyse(text[start:]))
    return pieces


def ruby(base: str, reading: str) -> str:
    return f'<ruby>{html.escape(base, quote=False)}<rt data-r="{html.escape(reading)}" aria-hidden="true"></rt></ruby>'


def to_html(text: str, readings: dict[str, str] | None = None) -> str:
    """Plain text → HTML with readings."""
    return "".join(ruby(base, reading) if reading else html.escape(base, quote=False)
                   for base, reading in segments(text, readings))


_readings_by_version: dict[str, dict[str, str]] = {}


@lru_cache(maxsize=50_000)
def _text_node(node: str, key: str) -> str:
    annotated = to_html(html.unescape(node), _readings_by_version[key])
    return f"<span>{annotated}</span>" if "<ruby>" in annotated else node


# Elements whose content is not running text (or cannot hold <ruby>): left as they are, with comments and tags.
_NOT_TEXT = re.compile(
    r"(<(script|style|textarea|title|option|rt|rp|ruby|code|pre|svg)\b[^>]*>.*?</\2\s*>|<!--.*?-->|<[^>]*>)",
    re.S | re.I)


def add_to_page(page: str, readings: dict[str, str] | None = None) -> str:
    """Readings for every text node of an HTML page's body (attributes and the <head> are left alone)."""
    readings = corrections() if readings is None else readings
    key = version(readings)
    _readings_by_version.setdefault(key, readings)
    body = page.find("<body")
    if body < 0:
        return page
    parts = _NOT_TEXT.split(page[body:])
    out = [page[:body]]
    # split() with two groups yields: text, whole match, group 2, text, whole match, group 2, …
    for index in range(0, len(parts), 3):
        text = parts[index]
        out.append(_text_node(text, key) if HAS_KANJI.search(text) else text)
        if index + 1 < len(parts):
            out.append(parts[index + 1])
    return "".join(out)


def wanted(request) -> bool:
    return request.COOKIES.get(COOKIE) == "on"


class FuriganaMiddleware:
    """Adds readings to Japanese public HTML pages for a person who turned furigana on (cookie). The admin, other
    languages, files and streamed responses pass untouched."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (not wanted(request) or request.path.startswith("/admin/") or response.streaming
                or not response.get("Content-Type", "").startswith("text/html")
                or translation.get_language() != "ja"):
            return response
        charset = response.charset or "utf-8"
        response.content = add_to_page(response.content.decode(charset)).encode(charset)
        if response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))
        return response
