"""文字サイズ and 配色 (cms.display): a POST form on every page sets cookies; the server applies them as classes of
<html>. No account and no JavaScript."""

import pytest

from cms.display import SCHEME_COOKIE, SIZE_COOKIE

pytestmark = [pytest.mark.django_db]


def html_class(response) -> str:
    html = response.content.decode()
    start = html.index("<html")
    return html[start:html.index(">", start)].split('class="')[1].split('"')[0]


def test_every_page_offers_the_settings_in_its_language(client, site):
    page = client.get("/classes/").content.decode()
    assert "<summary>文字サイズ・配色・ふりがな</summary>" in page
    assert '<legend>文字サイズ</legend>' in page and '<legend>配色</legend>' in page
    for label in ("標準", "大", "特大", "白黒反転", "青地に黄色", "表示する", "表示しない", "変更する"):
        assert f">{label}<" in page
    assert 'name="next" type="hidden" value="/classes/"' in page
    english = client.get("/en/classes/").content.decode()
    assert "<summary>Text size, colours, furigana</summary>" in english
    for label in ("Standard", "Large", "Extra large", "White on black", "Yellow on blue", "Show", "Hide", "Apply"):
        assert f">{label}<" in english


def test_standard_until_chosen(client, site):
    response = client.get("/")
    assert html_class(response) == "text-standard scheme-standard"
    assert 'id="text-size-standard" value="standard" checked' in response.content.decode()


def test_choosing_sets_cookies_and_returns_to_the_page(client, site):
    response = client.post("/display/", {"text_size": "x-large", "colours": "blue-yellow", "next": "/en/classes/"})
    assert response.status_code == 302 and response["Location"] == "/en/classes/"
    assert response.cookies[SIZE_COOKIE].value == "x-large"
    assert response.cookies[SCHEME_COOKIE].value == "blue-yellow"
    assert response.cookies[SIZE_COOKIE]["max-age"] == 365 * 24 * 60 * 60
    assert response.cookies[SIZE_COOKIE]["samesite"] == "Lax"
    page = client.get("/en/classes/")
    assert html_class(page) == "text-x-large scheme-blue-yellow"
    html = page.content.decode()
    assert 'id="text-size-x-large" value="x-large" checked' in html
    assert 'id="colours-blue-yellow" value="blue-yellow" checked' in html


def test_back_to_standard_forgets_the_cookie(client, site):
    client.post("/display/", {"text_size": "large", "colours": "inverted", "next": "/"})
    response = client.post("/display/", {"text_size": "standard", "colours": "standard", "next": "/"})
    assert response.cookies[SIZE_COOKIE]["max-age"] == 0 and response.cookies[SCHEME_COOKIE]["max-age"] == 0
    assert html_class(client.get("/")) == "text-standard scheme-standard"


@pytest.mark.parametrize("value", ["huge", "", "\x00", "x-large; other=1", "<script>"])
def test_odd_values_change_nothing(client, site, value):
    client.post("/display/", {"text_size": "large", "next": "/"})
    response = client.post("/display/", {"text_size": value, "colours": value, "next": "/"})
    assert response.status_code in (302, 400)
    client.cookies[SCHEME_COOKIE] = value
    assert html_class(client.get("/")) == "text-large scheme-standard"


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/", "javascript:alert(1)"])
def test_only_goes_back_to_this_site(client, site, next_url):
    response = client.post("/display/", {"text_size": "large", "next": next_url})
    assert response["Location"] == "/"


def test_a_get_is_refused(client, site):
    assert client.get("/display/").status_code == 405


def test_pages_vary_by_cookie(client, site):
    """A shared cache must not hand one person's text size to another."""
    assert "Cookie" in client.get("/classes/")["Vary"]
