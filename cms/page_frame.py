"""The page frame: what templates/base.html (and the public pages' own templates) read on every request besides the
page itself — the municipality's settings, the site's settings with its privacy policy page, the Site that serves
the request and Wagtail's site root paths (for `{% pageurl %}`). Read from the database on every request they were
five statements of each public page; here they are kept in a per-process memo, checked on each request against one
version key in the shared default cache (`settings.CACHES["default"]`): one cache read per request — one SELECT
with the database cache, none of the database with Redis.

How the memo stays right
------------------------
- **The version.** The memo holds the frame of each (hostname, port) it has served, tagged with the version it read
  *before* loading. A request uses the memo only while the shared version is still that one. Each change below
  deletes the version key (and Wagtail's own root-paths key, so the next load can't read paths a racing request
  cached before the change committed); the next request of every process finds no version, adds a new random
  token (never a counter, so a deleted-then-recreated key can't match an old memo) and reloads.
- **After the commit.** The change is announced with `transaction.on_commit`: a rolled-back change announces
  nothing, and a process can't reload between the bump and the commit and keep the old rows under the new version.
  A load that started before the bump is tagged with the old version, so it's dropped at the next request. One
  announcement per transaction, however many rows it changes.
- **Never inside a transaction.** Inside `transaction.atomic` (e.g. a view that renders after writing, and every
  non-transactional test) the frame is neither read from nor written to the memo: the connection may see its own
  uncommitted changes, which must not reach other requests, or (SQLite) an older snapshot than the version. There
  the settings load as Wagtail loads them (SiteSettings joins its privacy page: cms.models.SiteSettings).
- **What announces a change** (cms.apps wires `frame_changed`): saving or deleting a Site, the SiteSettings or the
  MunicipalitySettings (Wagtail's settings editor, `load_municipality`, provisioning); a page's slug change
  (Wagtail's `page_slug_changed`: its URL and its descendants' change) and move (`post_page_move`), which are the only
  ways a page's `url_path` — the privacy link, the root paths — changes; a page's deletion (the privacy page's is
  set to NULL in SQL, with no signal of SiteSettings). `post_migrate` (migrations, and the flush between
  transactional tests) drops the memo of its own process. Publishing or unpublishing a page needs none: the frame
  reads no page's title, status or content (a publish that changes a slug sends `page_slug_changed`). A template
  that starts reading more of these objects (the privacy page's title, say) must add the change that alters it.
- **Nothing shared is handed out.** Each request gets its own copies (the settings' `_request` is set per request),
  so one request can't change what another sees; the memo is replaced under a lock. Frames are keyed by hostname and
  port, as Wagtail finds a Site, so one site's settings never show on another's pages, and a request whose Site
  was already found otherwise is left alone.
- **A backstop.** Should a bump fail after its commit (the cache unreachable for a moment), a memo is still dropped
  after MAX_AGE.

The memo is as shared as the default cache: Redis or the database in production. Django's local-memory cache (a
development server) is per process, as Wagtail's own root-paths cache is then.
"""

import copy
import threading
import time
import uuid
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import transaction
from django.http.request import split_domain_port
from wagtail.contrib.settings.context_processors import SettingModuleProxy, SettingProxy
from wagtail.models import Site
from wagtail.models.sites import get_site_for_hostname

from cms.models import MunicipalitySettings, SiteSettings

VERSION_KEY = "dekiru:page-frame:version"
MAX_AGE = 600  # seconds: only a backstop for a bump lost to a cache error
MAX_HOSTS = 32  # frames kept per version; a request for a further hostname loads its own
_PRIMED = "_dekiru_page_frame"


@dataclass(frozen=True)
class Frame:
    """What one hostname's pages read, as loaded; `site` and `site_settings` are None where no Site serves it."""

    site: Site | None
    site_settings: SiteSettings | None
    municipality: MunicipalitySettings
    root_paths: tuple


@dataclass
class _Memo:
    version: str
    loaded_at: float = field(default_factory=time.monotonic)
    frames: dict = field(default_factory=dict)


_memo: _Memo | None = None
_lock = threading.Lock()


def host_key(request) -> tuple[str, int]:
    """What Wagtail finds a request's Site by (Site._find_for_request)."""
    return split_domain_port(request._get_raw_host())[0], request.get_port()


def prime(request) -> None:
    """Put the frame on the request where Wagtail looks for it (the Site, the root paths, each setting's cache
    attribute), from the memo while the shared version is unchanged. Once per request; attributes the request
    already has are kept. Inside a transaction it does nothing (see the module's docstring)."""
    if request is None or getattr(request, _PRIMED, False):
        return
    setattr(request, _PRIMED, True)
    if transaction.get_connection().in_atomic_block:
        return
    version = _version()
    key = host_key(request)
    memo = _memo
    frame = None
    if (
        version is not None
        and memo is not None
        and memo.version == version
        and time.monotonic() - memo.loaded_at < MAX_AGE
    ):
        frame = memo.frames.get(key)
    if frame is None:
        frame = _load(request)
        if version is not None:
            _remember(version, key, frame)
    known_site = getattr(request, "_wagtail_site", frame.site)
    if getattr(known_site, "pk", None) != getattr(frame.site, "pk", None):
        return  # the request's Site was found otherwise: Wagtail's own lookups serve it
    _hand_out(request, frame)


def _version() -> str | None:
    """The shared version, created if absent; None where the cache keeps nothing (the dummy cache)."""
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
        version = cache.get(VERSION_KEY)
    return version


def _load(request) -> Frame:
    """The frame of the request's hostname and port, found as Wagtail finds it — by the host, not by a Site the
    request may carry already, so that the memo maps each host to its own Site."""
    hostname, port = host_key(request)
    try:
        site = get_site_for_hostname(hostname, port)
    except Site.DoesNotExist:
        site = None
    frame = copy.deepcopy(
        Frame(
            site=site,
            site_settings=SiteSettings.for_site(site) if site is not None else None,
            municipality=MunicipalitySettings.load(),
            root_paths=tuple(Site.get_site_root_paths()),
        )
    )
    if frame.site is not None:
        frame.site._state.fields_cache.clear()  # no root page: a later `site.root_page` reads the current one
    return frame


def _remember(version: str, key: tuple[str, int], frame: Frame) -> None:
    global _memo
    with _lock:
        memo = _memo
        if memo is None or memo.version != version or time.monotonic() - memo.loaded_at >= MAX_AGE:
            memo = _memo = _Memo(version)
        if len(memo.frames) < MAX_HOSTS:
            memo.frames[key] = frame


def _hand_out(request, frame: Frame) -> None:
    if not hasattr(request, "_wagtail_site"):
        request._wagtail_site = _clone(frame.site)
    if not hasattr(request, "_wagtail_cached_site_root_paths"):
        request._wagtail_cached_site_root_paths = list(frame.root_paths)
    name = MunicipalitySettings.get_cache_attr_name()
    if not hasattr(request, name):
        setattr(request, name, _clone(frame.municipality))
    name = SiteSettings.get_cache_attr_name()
    if frame.site_settings is not None and not hasattr(request, name):
        site_settings = _clone(frame.site_settings)
        site_settings._request = request  # as SiteSettings.for_request does, for its page URLs
        setattr(request, name, site_settings)


def _clone(instance):
    """A copy a request may change without touching the memo, cheaper than a deep copy (a fifth of the time): what
    Django pickles of an instance (its own state and cache of related objects), each cached related object cloned
    in turn, and for a setting an empty cache of page URLs. Field values are shared: strings, numbers, dates."""
    if instance is None:
        return None
    clone = copy.copy(instance)
    cached = clone._state.fields_cache
    for name in list(cached):
        cached[name] = _clone(cached[name])
    if hasattr(clone, "_page_url_cache"):
        clone._page_url_cache = {}
    return clone


def forget(**kwargs) -> None:
    """Drop this process's memo. Receiver of `post_migrate` (cms.apps): after a migration, and after the flush that
    ends each transactional test, which deletes rows without signals. (Not a bump: `migrate` runs before the
    database cache's table exists.)"""
    global _memo
    with _lock:
        _memo = None


# --- Announcing changes -------------------------------------------------------------------------------------------


def bump() -> None:
    """Every process reloads the frame at its next request. Wagtail's root paths first: a process that reloads
    between the two deletions must not find paths cached before the change."""
    Site.clear_site_root_paths_cache()
    cache.delete(VERSION_KEY)


def frame_changed(sender=None, using=None, **kwargs) -> None:
    """Receiver of the signals of every change the frame shows (cms.apps): bump once the change commits, once per
    transaction."""
    connection = transaction.get_connection(using)
    # Already pending in this transaction? Django's list of on-commit callbacks is emptied by the commit and by a
    # rollback (a rolled-back savepoint drops its own), so a bump is never taken as pending when it is not.
    if connection.in_atomic_block and any(func is bump for _savepoints, func, _robust in connection.run_on_commit):
        return
    transaction.on_commit(bump, using=using)


# --- The `settings` of templates ----------------------------------------------------------------------------------


class _FrameModuleProxy(SettingModuleProxy):
    def get_setting(self, model_name):
        prime(self.request_or_site)
        return super().get_setting(model_name)


class _FrameSettingProxy(SettingProxy):
    def __missing__(self, app_label):
        self[app_label] = value = _FrameModuleProxy(self.request_or_site, app_label)
        return value


def settings(request) -> dict:
    """Context processor, in place of Wagtail's (wagtail.contrib.settings.context_processors.settings): the same
    `settings`, primed from the frame when a template first reads one — a template that reads none costs nothing."""
    return {"settings": _FrameSettingProxy(request_or_site=request)}
