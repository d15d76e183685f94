"""ふりがな (cms.furigana): readings from SudachiPy, staff corrections that win everywhere, and the middleware that
adds them to Japanese public pages for a person who turned them on."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache

from cms import furigana
from cms.models import Reading

COOKIE = {furigana.COOKIE: "on"}


def ruby(base, reading):
    return furigana.ruby(base, reading)


@pytest.mark.parametrize(("surface", "reading", "expected"), [
    ("講座", "こうざ", [("講座", "こうざ")]),
    ("使い方", "つかいかた", [("使", "つか"), ("い", None), ("方", "かた")]),
    ("申し込み", "もうしこみ", [("申", "もう"), ("し", None), ("込", "こ"), ("み", None)]),
    ("お申し込み", "おもうしこみ", [("お", None), ("申", "もう"), ("し", None), ("込", "こ"), ("み", None)]),
    ("ヶ月", "かげつ", [("ヶ月", "かげつ")]),
    ("取り消し", "とりけし", [("取", "と"), ("り", None), ("消", "け"), ("し", None)]),
    ("変な読み", "まったくちがう", [("変な読み", "まったくちがう")]),  # kana not found in the reading: whole word
])
def test_readings_sit_over_the_kanji_only(surface, reading, expected):
    assert furigana.align(surface, reading) == expected


def test_the_reading_is_an_attribute_the_stylesheet_draws():
    assert ruby("講座", "こうざ") == '<ruby>講座<rt data-r="こうざ" aria-hidden="true"></rt></ruby>'


def test_text_gets_readings_from_the_dictionary():
    html = furigana.to_html("講座を探す", {})
    assert html == ruby("講座", "こうざ") + "を" + ruby("探", "さが") + "す"
    assert furigana.to_html("スマホ、LINE・10:00〜", {}) == "スマホ、LINE・10:00〜"  # nothing to read
    assert furigana.to_html("<b>市民</b>", {}) == "&lt;b&gt;" + ruby("市民", "しみん") + "&lt;/b&gt;"


def test_a_correction_wins_over_the_dictionary():
    assert ruby("宮前区", "みやまえく") in furigana.to_html("宮前区役所", {"宮前区": "みやまえく"})
    assert furigana.to_html("宮前平", {"宮前平": "みやまえだいら"}) == ruby("宮前平", "みやまえだいら")
    # the longest corrected word first
    html = furigana.to_html("多摩区役所", {"多摩": "たま", "多摩区役所": "たまくやくしょ"})
    assert html == ruby("多摩区役所", "たまくやくしょ")


def test_each_text_is_analysed_once(monkeypatch):
    furigana._text_node.cache_clear()
    calls = []
    original = furigana._analyse
    monkeypatch.setattr(furigana, "_analyse", lambda text: calls.append(text) or original(text))
    page = "<html><body><p>市民館で学ぶ</p></body></html>"
    first = furigana.add_to_page(page, {})
    assert furigana.add_to_page(page, {}) == first
    assert calls == ["市民館で学ぶ"]
    furigana.add_to_page(page, {"市民館": "しみんかん"})  # new corrections: analysed again
    assert len(calls) == 2


def test_only_running_text_of_the_body_is_annotated():
    page = ('<html lang="ja"><head><title>講座</title><meta name="description" content="講座"></head><body>'
            '<a href="/講座/" aria-label="講座の一覧">講座</a><script>var a = "漢字";</script><style>/*漢字*/</style>'
            '<select><option>中原区</option></select><textarea>住所</textarea><!-- 漢字 --></body></html>')
    html = furigana.add_to_page(page, {})
    assert html.count("<ruby>") == 1
    assert '<a href="/講座/" aria-label="講座の一覧"><span>' + ruby("講座", "こうざ") + "</span></a>" in html
    for kept in ("<title>講座</title>", 'content="講座"', 'var a = "漢字";', "/*漢字*/", "<option>中原区</option>",
                 "<textarea>住所</textarea>", "<!-- 漢字 -->"):
        assert kept in html


@pytest.mark.django_db
def test_the_wards_of_the_default_data_have_their_readings():
    assert dict(Reading.objects.values_list("text", "reading"))["麻生区"] == "あさおく"


@pytest.mark.django_db
def test_pages_get_readings_only_when_asked(client, site):
    assert "<ruby>" not in client.get("/classes/").content.decode()
    client.cookies.load(COOKIE)
    response = client.get("/classes/")
    html = response.content.decode()
    assert ruby("講座", "こうざ") + "を" + ruby("探", "さが") + "す" in html
    assert '<html lang="ja" class="text-standard scheme-standard furigana">' in html
    assert 'id="furigana-on" value="on" checked' in html
    english = client.get("/en/classes/").content.decode()
    assert "<ruby>" not in english  # readings are for Japanese text


@pytest.mark.django_db
def test_set_with_the_reading_aids_form(client, site):
    response = client.post("/display/", {"furigana": "on", "next": "/"})
    assert response.cookies[furigana.COOKIE].value == "on"
    assert "<ruby>" in client.get("/").content.decode()
    response = client.post("/display/", {"furigana": "off", "next": "/"})
    assert response.cookies[furigana.COOKIE]["max-age"] == 0


@pytest.mark.django_db
def test_a_correction_made_in_the_admin_wins_everywhere(client, site):
    from tests import factories

    venue = factories.venue(name="新百合ヶ丘会館")
    factories.session(venue=venue)
    client.cookies.load(COOKIE)
    assert ruby("新百合ヶ丘会館", "しんゆりがおかかいかん") not in client.get("/classes/").content.decode()

    officer = get_user_model().objects.create_user("officer", password="pw")
    officer.groups.add(Group.objects.get(name="City programme officer"))
    client.force_login(officer)
    add = client.post("/admin/snippets/cms/reading/add/",
                      {"text": "新百合ヶ丘会館", "reading": "しんゆりがおかかいかん"})
    assert add.status_code == 302, add.content.decode()[:2000]
    assert cache.get(furigana.CORRECTIONS_KEY) is None  # every process reads the corrections again
    client.logout()
    client.cookies.load(COOKIE)
    assert ruby("新百合ヶ丘会館", "しんゆりがおかかいかん") in client.get("/classes/").content.decode()


@pytest.mark.django_db
def test_a_reading_must_be_hiragana(client, site):
    officer = get_user_model().objects.create_user("officer", password="pw")
    officer.groups.add(Group.objects.get(name="City programme officer"))
    client.force_login(officer)
    response = client.post("/admin/snippets/cms/reading/add/", {"text": "麻生", "reading": "アサオ"})
    assert response.status_code == 200
    assert "読み方はひらがなで入力してください。" in response.content.decode()
    assert not Reading.objects.filter(text="麻生").exists()


@pytest.mark.django_db
def test_partner_staff_cannot_change_readings(client, site):
    manager = get_user_model().objects.create_user("manager", password="pw")
    manager.groups.add(Group.objects.get(name="Partner manager"))
    client.force_login(manager)
    assert client.get("/admin/snippets/cms/reading/add/").status_code in (302, 403)


@pytest.mark.django_db
def test_readings_cost_one_cache_read_per_page(client, site, django_assert_num_queries):
    client.get("/classes/")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as plain:
        client.get("/classes/")
    client.cookies.load(COOKIE)
    client.get("/classes/")
    with CaptureQueriesContext(connection) as annotated:
        client.get("/classes/")
    assert len(annotated) <= len(plain) + 1


def test_a_long_compound_is_read_over_its_short_units_so_the_line_can_break():
    """A ruby never breaks across lines: けいたいでんわばんごう over one word is wider than a phone's screen in the
    largest text size, so long compounds get their readings unit by unit (cms.furigana.LONG_READING)."""
    from cms.furigana import segments

    assert [piece for piece in segments("携帯電話番号", {}) if piece[1]] == [
        ("携帯", "けいたい"), ("電話", "でんわ"), ("番号", "ばんごう")]
    assert [piece for piece in segments("予約", {}) if piece[1]] == [("予約", "よやく")]
