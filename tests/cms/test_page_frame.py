"""The public pages' frame (cms.page_frame): the municipality's name, the site's phone and privacy link, the Site
and its root paths, kept in a per-process memo that one shared cache key keeps current. A change made anywhere
must show on the next request of every process; a change rolled back must not show; one site's settings never show
on another's pages.

The memo serves only requests outside a transaction, so these tests are transactional. "Another process" is this
one with its memo put back as it was before the change (`as_if_from_another_process`): all that process can learn
of the change is the shared version.
"""

import copy
from contextlib import contextmanager

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test import RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext
from wagtail.models import Site

from cms import page_frame
from cms.models import MunicipalitySettings, SiteSettings, StandardPage

pytestmark = [pytest.mark.django_db(transaction=True)]

FRAME_TABLES = ('"cms_sitesettings"', '"cms_municipalitysettings"', '"wagtailcore_site"')


def get(client, path="/classes/", host="testserver") -> str:
    response = client.get(path, HTTP_HOST=host)
    assert response.status_code == 200
    return response.content.decode()


def footer(html: str) -> str:
    return html[html.index('<footer class="site-footer">') :]


def header(html: str) -> str:
    return html[: html.index("</header>")]


def frame_queries(client, path="/classes/", host="testserver") -> tuple[str, list[str], list[str]]:
    """The page, the statements that read the frame's tables, and those of the cache."""
    with CaptureQueriesContext(connection) as captured:
        html = get(client, path, host)
    statements = [query["sql"] for query in captured.captured_queries]
    return (
        html,
        [sql for sql in statements if any(table in sql for table in FRAME_TABLES)],
        [sql for sql in statements if '"dekiru_cache"' in sql],
    )


@contextmanager
def as_if_from_another_process():
    """Make the change, then put this process's memo back as it was: as if another process had made it."""
    memo = copy.copy(page_frame._memo)
    if memo is not None:
        memo.frames = dict(memo.frames)
    yield
    page_frame._memo = memo


def privacy_page(site) -> StandardPage:
    return SiteSettings.for_site(site).privacy_policy_page.specific


@pytest.mark.parametrize(
    ("path", "sites_found"),
    [
        ("/classes/", 0),
        ("/opendata/", 0),
        ("/", 1),  # a Wagtail page: Wagtail's serve finds the Site itself, before anything of the frame is read
    ],
)
def test_once_warm_the_frame_costs_one_cache_read_and_no_query_of_its_tables(client, site, path, sites_found):
    get(client, path)
    html, frame, cache_reads = frame_queries(client, path)
    assert len(frame) == sites_found and all('FROM "wagtailcore_site"' in sql for sql in frame)
    assert len(cache_reads) == 1 and cache_reads[0].lstrip().upper().startswith("SELECT")
    assert 'href="/privacy/"' in footer(html)


# Each change: (what it does, given the site; what the page shows afterwards and not before).
def rename_the_municipality(site):
    municipality = MunicipalitySettings.load()
    municipality.name = "できる市"
    municipality.save()
    return header, "· できる市"


def change_the_phone_number(site):
    site_settings = SiteSettings.for_site(site)
    site_settings.phone_number = "044-200-0000"
    site_settings.save()
    return footer, 'href="tel:044-200-0000"'


def choose_another_privacy_page(site):
    page = Site.objects.get(pk=site.pk).root_page.add_child(instance=StandardPage(title="個人情報", slug="kojin"))
    site_settings = SiteSettings.for_site(site)
    site_settings.privacy_policy_page = page
    site_settings.save()
    return footer, 'href="/kojin/"'


def rename_the_privacy_page(site):
    page = privacy_page(site)
    page.slug = "privacy-policy"
    page.save_revision().publish()
    return footer, 'href="/privacy-policy/"'


def move_the_privacy_page(site):
    home = Site.objects.get(pk=site.pk).root_page
    about = home.add_child(instance=StandardPage(title="このサイトについて", slug="about"))
    privacy_page(site).move(about, pos="last-child")
    return footer, 'href="/about/privacy/"'


def rename_a_parent_of_the_privacy_page(site):
    move_the_privacy_page(site)
    about = StandardPage.objects.get(slug="about")
    about.slug = "guide"
    about.save()
    return footer, 'href="/guide/privacy/"'


@pytest.mark.parametrize(
    "change",
    [
        rename_the_municipality,
        change_the_phone_number,
        choose_another_privacy_page,
        rename_the_privacy_page,
        move_the_privacy_page,
        rename_a_parent_of_the_privacy_page,
    ],
)
def test_a_change_shows_on_the_next_request_of_every_process(client, site, change):
    before = get(client)
    get(client)  # warm
    with as_if_from_another_process():
        part, shown = change(site)
    assert shown not in part(before)
    assert shown in part(get(client))


def test_a_deleted_privacy_page_leaves_the_footer_at_once(client, site):
    assert 'href="/privacy/"' in footer(get(client))
    with as_if_from_another_process():
        privacy_page(site).delete()
    assert 'href="/privacy/"' not in footer(get(client))


def test_a_new_site_for_the_host_serves_its_own_settings_at_once(client, site):
    site_settings = SiteSettings.for_site(site)
    site_settings.phone_number = "044-200-0000"
    site_settings.save()
    assert 'href="tel:044-200-0000"' in footer(get(client))
    with as_if_from_another_process():
        Site.objects.create(hostname="testserver", port=80, root_page=Site.objects.get(pk=site.pk).root_page)
    assert 'href="tel:044-200-0000"' not in footer(get(client))
    assert 'href="tel:044-200-0000"' in footer(get(client, host="localhost"))


def test_two_sites_never_show_each_others_settings(client, site):
    other_root = Site.objects.get(pk=site.pk).root_page.add_child(instance=StandardPage(title="別", slug="other"))
    other = Site.objects.create(hostname="other.example", port=80, root_page=other_root)
    for each, phone in ((site, "044-200-0000"), (other, "03-0000-0000")):
        site_settings = SiteSettings.for_site(each)
        site_settings.phone_number = phone
        site_settings.save()
    for _round in range(2):  # loading, then from the memo
        ours, theirs = footer(get(client)), footer(get(client, host="other.example"))
        assert 'href="tel:044-200-0000"' in ours and "03-0000-0000" not in ours
        assert 'href="tel:03-0000-0000"' in theirs and "044-200-0000" not in theirs
    _html, frame, _cache = frame_queries(client, host="other.example")
    assert frame == []


def test_a_rolled_back_change_neither_bumps_nor_shows(client, site):
    rename_the_municipality(site)
    get(client)  # warm
    version = cache.get(page_frame.VERSION_KEY)
    assert version is not None

    class RolledBack(Exception):
        pass

    with pytest.raises(RolledBack), transaction.atomic():
        municipality = MunicipalitySettings.load()
        municipality.name = "まぼろし市"
        municipality.save()
        # Inside the transaction its own change shows, read afresh and kept from the memo.
        assert "· まぼろし市" in header(get(client))
        raise RolledBack

    assert cache.get(page_frame.VERSION_KEY) == version
    html, frame, _cache = frame_queries(client)
    assert "· できる市" in header(html) and "まぼろし市" not in html
    assert frame == []  # the memo was still good


def test_the_version_changes_once_the_change_commits_and_once_per_transaction(client, site):
    get(client)
    version = cache.get(page_frame.VERSION_KEY)
    with CaptureQueriesContext(connection) as captured:
        with transaction.atomic():
            rename_the_municipality(site)
            change_the_phone_number(site)
            assert cache.get(page_frame.VERSION_KEY) == version  # not before the commit
    assert cache.get(page_frame.VERSION_KEY) is None
    deletions = [
        query["sql"]
        for query in captured.captured_queries
        if query["sql"].startswith("DELETE") and '"dekiru_cache"' in query["sql"]
    ]
    assert len(deletions) == 2  # Wagtail's root paths and the version, once
    html = get(client)
    assert "· できる市" in header(html) and 'href="tel:044-200-0000"' in footer(html)
    assert cache.get(page_frame.VERSION_KEY) not in (None, version)


@pytest.mark.parametrize(
    ("backend", "memoized"),
    [
        ("django.core.cache.backends.locmem.LocMemCache", True),
        ("django.core.cache.backends.dummy.DummyCache", False),  # keeps nothing: no version, so no memo
    ],
)
def test_every_cache_backend_keeps_the_frame_current(client, site, backend, memoized):
    with override_settings(CACHES={"default": {"BACKEND": backend}}):
        get(client)
        _html, frame, _cache = frame_queries(client)
        assert (frame == []) is memoized
        with as_if_from_another_process():
            rename_the_municipality(site)
        assert "· できる市" in header(get(client))


def test_each_request_gets_its_own_copies(site):
    get_request = RequestFactory().get
    first, second = get_request("/classes/"), get_request("/classes/")
    page_frame.prime(first)
    page_frame.prime(second)
    name = SiteSettings.get_cache_attr_name()
    ours, theirs = getattr(first, name), getattr(second, name)
    assert ours is not theirs and ours._request is first and theirs._request is second
    assert ours.privacy_policy_page is not theirs.privacy_policy_page
    assert ours.privacy_policy_page.pk == theirs.privacy_policy_page.pk == privacy_page(site).pk
    ours.phone_number = "changed by one request"
    ours.get_page_url("privacy_policy_page")
    assert ours._page_url_cache != theirs._page_url_cache == {}
    third = get_request("/classes/")
    page_frame.prime(third)
    assert getattr(third, name).phone_number != ours.phone_number
    assert first._wagtail_site is not second._wagtail_site
    assert first._wagtail_site.pk == second._wagtail_site.pk == site.pk
    municipality = MunicipalitySettings.get_cache_attr_name()
    assert getattr(first, municipality) is not getattr(second, municipality)


def test_a_request_whose_site_is_already_known_keeps_it(site):
    other_root = Site.objects.get(pk=site.pk).root_page.add_child(instance=StandardPage(title="別", slug="other"))
    other = Site.objects.create(hostname="other.example", port=80, root_page=other_root)
    request = RequestFactory().get("/classes/")  # host "testserver": the default site
    request._wagtail_site = other
    page_frame.prime(request)
    assert request._wagtail_site is other
    assert SiteSettings.for_request(request).site_id == other.pk
