"""What every public page carries: the footer's links (open data among them, as municipal sites do) and an icon."""

import pytest
from django.contrib.staticfiles import finders

pytestmark = [pytest.mark.django_db]


@pytest.mark.parametrize("path", ["/", "/classes/", "/calendar/", "/courses/", "/opendata/", "/no-such-page/"])
def test_every_public_page_links_open_data_from_its_footer(client, site, path):
    html = client.get(path, follow=True).content.decode()
    footer = html[html.index('<footer class="site-footer">'):]
    assert '<nav aria-label="このサイトについて">' in footer
    assert '<a href="/opendata/">オープンデータ</a>' in footer


def test_the_english_footer_links_the_english_open_data_page(client, site):
    html = client.get("/en/classes/").content.decode()
    footer = html[html.index('<footer class="site-footer">'):]
    assert '<a href="/en/opendata/">Open data</a>' in footer


def test_pages_name_their_icons(client, site):
    html = client.get("/").content.decode()
    assert 'rel="icon" href="/static/img/favicon.svg" type="image/svg+xml"' in html
    assert 'rel="apple-touch-icon" href="/static/img/apple-touch-icon.png"' in html
    assert finders.find("img/favicon.svg") and finders.find("img/apple-touch-icon.png")


def test_favicon_ico_is_served_where_browsers_look(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/vnd.microsoft.icon"
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"  # the ICO header
