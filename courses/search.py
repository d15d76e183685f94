"""Keyword search over courses that works for Japanese.

Japanese is written without spaces, so the full-text search built into SQLite and PostgreSQL treats a run of
Japanese characters as one word and misses a search for part of it (スマホ in はじめてのスマホ教室). This
matches substrings instead (SQL LIKE, the same on both databases), after normalising the query the way the
stored text is written: full-width Latin letters and digits to ASCII, hiragana to katakana for the kana
reading. Terms separated by spaces must all match (in any of the fields). The number of courses is small
(tens to hundreds), so a scan is cheap; the listing then filters sessions by the matching course ids.
"""

import jaconv
from django.db.models import Q, QuerySet

from cms.normalize import fold_spaces, normalize_kana, to_half_width_ascii
from courses.models import CoursePage

TEXT_FIELDS = ["title", "title_en", "summary", "summary_en", "topics__name", "topics__name_en"]
MAX_TERMS = 5


def query_terms(query: str) -> list[str]:
    return fold_spaces(to_half_width_ascii(query or "")).split(" ")[:MAX_TERMS] if fold_spaces(query) else []


def search_courses(query: str, courses: QuerySet | None = None) -> QuerySet:
    """Live courses matching every term of `query` in a title, summary, kana reading or topic."""
    courses = courses if courses is not None else CoursePage.objects.live().public()
    for term in query_terms(query):
        condition = Q()
        for field in TEXT_FIELDS:
            condition |= Q(**{f"{field}__icontains": term})
        # The kana reading is stored in katakana: a search typed in hiragana (すまほ) or half-width kana finds it,
        # and so does the katakana form of a term for the title (スマホ in a title written スマホ).
        kana = normalize_kana(term)
        condition |= Q(title_kana__icontains=kana) | Q(title__icontains=kana)
        hiragana = jaconv.kata2hira(kana)
        if hiragana != term:
            condition |= Q(title__icontains=hiragana) | Q(summary__icontains=hiragana)
        courses = courses.filter(pk__in=CoursePage.objects.filter(condition).values("pk"))
    return courses
