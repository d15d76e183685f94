"""The plain-Japanese (やさしい日本語) check (cms.easy_japanese): guidance beside the field, never a refusal."""

import pytest
from django.utils import translation

from cms import easy_japanese


def messages(text: str) -> list[str]:
    with translation.override("en"):
        return [finding.message for finding in easy_japanese.check(text)]


def test_the_public_list_of_grades_1_to_3_ships_as_data():
    known = easy_japanese.known_kanji()
    assert len(known) == 440  # 80 + 160 + 200
    assert {"一", "話", "和", "駅", "医"} <= known and not {"請", "講", "師", "説"} & known


def test_plain_text_passes():
    assert easy_japanese.check("スマホの 使い方を 学びます。電話を もって きて ください。") == []


@pytest.mark.parametrize(("text", "expected"), [
    ("スマートフォンの使い方を、講師（こうし）がゆっくりていねいに教えるので安心です。", "characters"),
    ("オンライン申請をします。", "申請"),
    ("アプリでマイナンバーカードのパスワードを入れます。", "katakana"),
    ("スマホは難しくないわけではない。", "double negative"),
    ("会場までお越しください。", "honorific"),
    ("先生がいらっしゃいます。", "honorific"),
])
def test_each_rule_reports_its_sentence(text, expected):
    found = messages(text)
    assert any(expected in message for message in found), found


def test_a_reading_after_a_hard_kanji_satisfies_the_rule():
    assert messages("申請（しんせい）をします。") == []
    assert messages("申請(しんせい)をします。") == []


def test_thresholds_are_settings(settings):
    settings.DEKIRU_EASY_JAPANESE_MAX_SENTENCE = 5
    assert any("characters" in m for m in messages("スマホを学びます。"))
    settings.DEKIRU_EASY_JAPANESE_MAX_KATAKANA_WORDS = 0
    assert any("katakana" in m for m in messages("スマホ。"))
