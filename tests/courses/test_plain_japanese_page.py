"""やさしい日本語 on the course page: a switch on the Japanese page when staff wrote a plain-Japanese version, a link
from the English page for residents who read Japanese better than English, and the check in the page editor."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

EASY = "スマホの 使い方を ゆっくり 学びます。"


def test_no_switch_without_a_plain_version(client, site):
    course = factories.course()
    assert "easy=1" not in client.get(course.url).content.decode()


def test_the_switch_shows_the_plain_version(client, site):
    course = factories.course(summary_easy=EASY, what_to_bring_easy="スマホ")
    page = client.get(course.url).content.decode()
    assert '<a class="link-standalone" href="?easy=1">やさしい にほんご で よむ</a>' in page
    assert EASY not in page and "電源の入れ方から" in page
    easy = client.get(course.url + "?easy=1").content.decode()
    assert EASY in easy and "電源の入れ方から" not in easy
    assert "<dd>スマホ</dd>" in easy
    assert "ふつうの日本語にもどす" in easy


def test_the_english_page_links_to_the_plain_japanese_page(client, site):
    course = factories.course(summary_easy=EASY)
    japanese_url = course.url
    page = client.get("/en" + japanese_url).content.decode()
    assert f'href="{japanese_url}?easy=1" hreflang="ja"><span lang="ja">やさしい にほんご</span>' in page
    assert EASY not in page  # the English page itself stays English
    assert EASY not in client.get("/en" + japanese_url + "?easy=1").content.decode()


def test_the_editor_shows_the_check_beside_the_field(client, site):
    course = factories.course(
        summary_easy="マイナンバーカードでオンライン申請をするやり方を、講師がていねいに説明いたします。")
    admin = get_user_model().objects.create_superuser("admin", password="pw")
    admin.groups.add(Group.objects.get(name="City administrator"))
    client.force_login(admin)
    page = client.get(f"/admin/pages/{course.pk}/edit/").content.decode()
    assert "やさしい日本語チェック（目安です。保存は止めません）" in page
    assert "申請、講師、説明" in page
    assert "尊敬語・謙譲語があります（いたしま）" in page
