"""A plain-Japanese (やさしい日本語) check of a text, as guidance for staff writing one, following the national
guidelines (在留支援のためのやさしい日本語ガイドライン): short sentences, kanji beyond the first three school grades
given a reading, few katakana loanwords, no double negatives, no honorific or humble verb forms. It never blocks a
save; the thresholds are settings (DEKIRU_EASY_JAPANESE_*)."""

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from cms import furigana

GRADES_FILE = Path(settings.BASE_DIR) / "data" / "reference" / "kyoiku_kanji_grades_1-3.txt"
SENTENCE_END = re.compile(r"(?<=[。！？!?])|\n+")
READING_AFTER = re.compile(r"\s*[（(][ぁ-ゖー]+[）)]")
KANJI_RUN = re.compile(f"[{furigana.KANJI}]+")
KATAKANA_WORD = re.compile(r"[ァ-ヶー]{2,}")
DOUBLE_NEGATIVES = ("ないわけではない", "ないわけではありません", "なくはない", "なくはありません", "ないことはない",
                    "ないことはありません", "なくもない", "ざるを得", "ないとは限らない", "ないとは限りません",
                    "ないではいられ", "ずにはいられ")
HONORIFIC_OR_HUMBLE = ("いらっしゃ", "おっしゃ", "召し上が", "ご覧にな", "ご覧くださ", "なさい", "なさる", "申し上げ",
                       "いたしま", "存じ", "伺", "拝見", "参ります", "おりま", "させていただ",
                       "いただきま", "いただけ", "くださいませ", "ございま", "お越し", "承り", "賜")


@dataclass(frozen=True)
class Finding:
    sentence: str
    message: str


@lru_cache(maxsize=1)
def known_kanji() -> frozenset[str]:
    """The kanji of grades 1–3 of the 学年別漢字配当表 (data/reference)."""
    lines = GRADES_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset("".join(line.split(" ", 1)[1] for line in lines if line and not line.startswith("#")))


def sentences(text: str) -> list[str]:
    return [part.strip() for part in SENTENCE_END.split(text or "") if part.strip()]


def _unknown_kanji_words(sentence: str) -> list[str]:
    """Runs of kanji with one beyond grade 3 and no reading right after them (「申請（しんせい）」 has one)."""
    known, words = known_kanji(), []
    for run in KANJI_RUN.finditer(sentence):
        if any(ch not in known for ch in run.group()) and not READING_AFTER.match(sentence, run.end()) \
                and run.group() not in words:
            words.append(run.group())
    return words


def check(text: str) -> list[Finding]:
    max_length = getattr(settings, "DEKIRU_EASY_JAPANESE_MAX_SENTENCE", 30)
    max_katakana = getattr(settings, "DEKIRU_EASY_JAPANESE_MAX_KATAKANA_WORDS", 2)
    findings = []
    for sentence in sentences(text):
        if len(sentence) > max_length:
            findings.append(Finding(sentence, _("%(length)d characters: make sentences %(max)d characters or "
                                                "shorter.") % {"length": len(sentence), "max": max_length}))
        if words := _unknown_kanji_words(sentence):
            findings.append(Finding(sentence, ngettext(
                "Kanji beyond grade 3 without a reading: %(words)s. Add the reading after it, e.g. 申請（しんせい）.",
                "Kanji beyond grade 3 without a reading: %(words)s. Add the reading after them, e.g. 申請（しんせい）.",
                len(words)) % {"words": "、".join(words)}))
        katakana = KATAKANA_WORD.findall(sentence)
        if len(katakana) > max_katakana:
            findings.append(Finding(sentence, _("%(count)d katakana words (%(words)s): use at most %(max)d in a "
                                                "sentence.") % {"count": len(katakana), "words": "、".join(katakana),
                                                                "max": max_katakana}))
        if any(pattern in sentence for pattern in DOUBLE_NEGATIVES):
            findings.append(Finding(sentence, _("A double negative: say it the positive way.")))
        if found := [pattern for pattern in HONORIFIC_OR_HUMBLE if pattern in sentence]:
            findings.append(Finding(sentence, _("An honorific or humble form (%(words)s): use plain です・ます.")
                                    % {"words": "、".join(found)}))
    return findings
