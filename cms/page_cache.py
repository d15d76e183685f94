"""Whole public pages for anonymous visitors, kept in the shared default cache (Redis in production, the database
cache without it) for at most DEKIRU_PAGE_CACHE_SECONDS (default 30; 0 turns it off).

A listing or a course page costs about 27 ms of CPU to render; a hit costs about as much as /healthz. The cache must
never show what the database no longer says, nor one person's page to another, so:

What is cached
--------------
Only an allowlist, checked twice: before looking (the resolved view) and before keeping (the view, and for Wagtail's
pages the page type and the page's own route): `/classes/` (its filters and paging are in the query string, part of
the key), the month calendar, and the home page, standard pages, the course index, course groups and course pages
(not their sub-routes). Never the admin, registrations, cancellations, personal or signed links, feeds, forms'
POSTs, health endpoints: none of them is on the list, and every request but an anonymous GET or HEAD passes by.

A response is kept only when it is a 200 text/html, not streamed, sets no cookie, has no Cache-Control private /
no-cache / no-store, no Vary of its own (the language is in the key), wrote nothing into the session (the request
has no session cookie, so any read of it — the user bar asking who is signed in — reads an empty one), queued no
message, used no CSP nonce — and when every use of the CSRF token is the hidden input of a form (see below).

A request is served from the cache, or fills it, only when it carries neither a session cookie (staff; a Wagtail
page password) nor a messages cookie nor an Authorization header, and when its connection is not inside a
transaction (so nothing uncommitted is ever kept; tests run inside one, and see fresh pages).

The key
-------
Scheme, host, path, the raw query string (exactly as sent: the pages write it back into their links and forms, so
two spellings of one query are two entries, each byte-identical to its own fresh page), the active language, and
the reading aids read from cookies (cms.display: text size, colours, furigana), which change the HTML. ?easy=1 is
in the query string. Nothing else of the request reaches these templates.

The CSRF token
--------------
Every public page carries two small POST forms in its header (language, reading aids), each with the visitor's
masked CSRF token (one masking for both, as the csrf context processor asks for it once). The page is kept with
those values cut out; a hit puts a new masking of the visitor's own token into them with Django's get_token(), which
also makes CsrfViewMiddleware set the cookie and `Vary: Cookie` exactly as for a fresh page. Only inputs whose
token unmasks to this request's secret are cut out (page content cannot forge one); a page that uses the token
anywhere else is not kept. So a cached page is the fresh page, byte for byte, but for the random mask of that
token — which differs between two fresh renders too.

Staying right: the generation
-----------------------------
Each entry carries the generation it was rendered under, read from the cache *before* rendering; a hit needs the
current generation (both read in one cache round trip). Any committed write to a table the public pages read bumps
the generation (a new random token, never a counter: a token lost with an evicted key can't come back):

- **What bumps.** Every INSERT, UPDATE, DELETE or TRUNCATE on a table of cms, courses, partners, outreach, Wagtail's
  core (pages, revisions, sites, collections, view restrictions), images, documents and tags — seen as SQL by a
  database execute wrapper (Django's instrumentation hook), so QuerySet.update(), bulk_create() and raw SQL bump
  as surely as save() and delete(), and so do Wagtail's publish, unpublish, move and delete, and the scheduled
  publishing command. Excluded are tables written often that no public page shows: the outbox and its delivery
  bookkeeping, LINE webhook events and link codes, audit logs, Wagtail's reference index and subscriptions,
  image renditions, heartbeats, outreach's summary tables; tables outside those apps (Django's sessions, the task
  queue, the cache table, django-axes) bump nothing.
- **After the commit.** The bump runs in `transaction.on_commit` (one per transaction however many rows): a
  rolled-back change bumps nothing (and changed nothing). A page rendered before the commit was stored under the
  old generation, so it is dead the moment the bump lands. A write outside a transaction (autocommit) is committed
  by its own statement; it is announced once that statement is finished: before the connection's next statement,
  at the end of the request, or when the process exits.
- **Time.** Pages also change with the clock alone (registration opening and closing, today's sessions dropping
  off, "few seats left" as others book through another server whose bump failed): no entry lives longer than
  DEKIRU_PAGE_CACHE_SECONDS, checked from the entry's own time as well as by the cache's expiry.
- Should the cache be unreachable, pages are rendered as if there were no cache, and a bump that fails is logged;
  entries then live at most DEKIRU_PAGE_CACHE_SECONDS.

Two visitors missing the same page at once both render it (the later write wins; both are right).
Responses say `X-Dekiru-Cache: hit` (with `Age`) or `miss`; a request the cache does not apply to has neither.
"""

import atexit
import hashlib
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.core.signals import request_finished
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.signals import connection_created
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_TOKEN_LENGTH, _unmask_cipher_token, get_token
from django.urls import Resolver404, resolve
from django.utils.cache import cc_delim_re
from django.utils.crypto import constant_time_compare
from django.utils.translation import get_language

from cms.display import display_for

logger = logging.getLogger(__name__)

DEFAULT_SECONDS = 30
GENERATION_KEY = "dekiru:page-cache:generation"
ENTRY_PREFIX = "dekiru:page-cache:page:"
HEADER = "X-Dekiru-Cache"
MAX_QUERY_LENGTH = 1000  # longer query strings are no listing a person typed: rendered, not kept

# Django views (by their URL name) and Wagtail page types whose pages are the same for every anonymous visitor.
CACHED_VIEWS = frozenset({"courses:session_list", "courses:calendar", "courses:month_calendar"})
WAGTAIL_VIEW = "wagtail_serve"
CACHED_PAGE_TYPES = frozenset({"cms.homepage", "cms.standardpage", "courses.courseindexpage",
                               "courses.coursegrouppage", "courses.coursepage"})
INDEX_ROUTE = "index_route"  # a RoutablePageMixin page's own address; its sub-routes are not kept

# Apps whose tables the public pages read, and the tables among them that are written often and shown on none.
WATCHED_APPS = ("cms", "courses", "partners", "outreach", "wagtailcore", "wagtailimages", "wagtaildocs", "taggit")
UNWATCHED_MODELS = frozenset({
    "cms.heartbeat",
    "courses.outgoingmessage", "courses.undeliverablecontact", "courses.linelinkcode", "courses.linewebhookevent",
    "wagtailcore.modellogentry", "wagtailcore.pagelogentry", "wagtailcore.referenceindex",
    "wagtailcore.pagesubscription", "wagtailimages.rendition",
    "outreach.summaryrefresh", "outreach.sessionsummary", "outreach.registrationsummary", "outreach.topicsummary",
    "outreach.peoplesummary", "outreach.skillsummary", "outreach.foundationsummary", "outreach.partnersummary",
})

# Headers not kept with a page: recomputed by the middleware outside this one (Content-Length), or ours.
_NOT_KEPT = frozenset({"content-length", HEADER.lower(), "age"})
_CSRF_INPUT = re.compile(rf'(<input type="hidden" name="csrfmiddlewaretoken" value=")([{CSRF_ALLOWED_CHARS}]'
                         rf'{{{CSRF_TOKEN_LENGTH}}})(">)'.encode())
_TOKEN_LIKE = re.compile(rf"(?<![{CSRF_ALLOWED_CHARS}])[{CSRF_ALLOWED_CHARS}]{{{CSRF_TOKEN_LENGTH}}}"
                         rf"(?![{CSRF_ALLOWED_CHARS}])".encode())
_WRITE_START = frozenset("IUDTWRM")  # INSERT, UPDATE, DELETE, TRUNCATE, WITH, REPLACE, MERGE
_WRITE_TARGET = re.compile(r'\b(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM|MERGE\s+INTO|REPLACE\s+INTO)'
                           r'\s+"?(\w+)"?', re.IGNORECASE)


def seconds() -> int:
    return int(getattr(settings, "DEKIRU_PAGE_CACHE_SECONDS", DEFAULT_SECONDS))


# --- The generation ---------------------------------------------------------------------------------------------


def _bump() -> None:
    try:
        cache.set(GENERATION_KEY, uuid.uuid4().hex, None)
    except Exception:  # an unreachable cache must not fail the write that was just committed
        logger.exception("Could not invalidate the page cache; its entries expire within %d s", seconds())


def changed(using: str = DEFAULT_DB_ALIAS) -> None:
    """Announce a change the public pages may show: once the transaction commits (at once outside one), every
    entry of the page cache is dropped. Called by the write watcher; callable by code that changes what pages show
    by other means than the database."""
    if seconds() <= 0:
        return
    connection = connections[using]
    if connection.in_atomic_block and any(entry[1] is _bump for entry in connection.run_on_commit):
        return  # this transaction already bumps once at its commit
    transaction.on_commit(_bump, using=using, robust=True)


@lru_cache(maxsize=1)
def watched_tables() -> frozenset[str]:
    tables = set()
    for label in WATCHED_APPS:
        for model in apps.get_app_config(label).get_models(include_auto_created=True):
            if model._meta.label_lower not in UNWATCHED_MODELS:
                tables.add(model._meta.db_table.lower())
    return frozenset(tables)


def writes_watched_table(sql: str) -> bool:
    """Whether an SQL statement may change a table the public pages read."""
    statement = sql.lstrip()
    if statement[:1].upper() not in _WRITE_START:
        return False
    if statement[:8].upper() == "TRUNCATE":  # the test runner's flush: many tables at once
        return True
    tables = watched_tables()
    return any(match.group(1).lower() in tables for match in _WRITE_TARGET.finditer(statement))


_pending = threading.local()  # aliases of this thread's connections with a write in autocommit not yet announced


def _flush_pending(**kwargs) -> None:
    """Announce the writes made outside a transaction, once their statements are finished (never in the middle of
    one: an INSERT … RETURNING on SQLite is finished by its fetch, after the execute wrapper has returned)."""
    aliases = getattr(_pending, "aliases", None)
    if not aliases:
        return
    for alias in list(aliases):
        if not connections[alias].in_atomic_block:
            aliases.discard(alias)
            _bump()


def _watch_writes(execute, sql, params, many, context):
    connection = context["connection"]
    if getattr(_pending, "aliases", None) and not connection.in_atomic_block:
        _flush_pending()  # the previous statement is finished: this is the next one
    result = execute(sql, params, many, context)
    if isinstance(sql, str) and writes_watched_table(sql) and seconds() > 0:
        if connection.in_atomic_block:
            changed(connection.alias)
        else:  # committed already; announced before the next statement, at the end of the request or at exit
            if not hasattr(_pending, "aliases"):
                _pending.aliases = set()
            _pending.aliases.add(connection.alias)
    return result


def _install(sender=None, connection=None, **kwargs) -> None:
    # First in the list: a `with connection.execute_wrapper(...)` that was open when this connection was made pops
    # the last wrapper when it ends, which must be its own.
    if connection is not None and _watch_writes not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, _watch_writes)


def connect() -> None:
    """Watch every database connection of this process for writes (called from cms.apps, in every process: the web
    servers, the workers and management commands write too)."""
    connection_created.connect(_install, dispatch_uid="dekiru_page_cache_watch_writes")
    for connection in connections.all(initialized_only=True):
        _install(connection=connection)
    request_finished.connect(_flush_pending, dispatch_uid="dekiru_page_cache_flush_pending")
    atexit.register(_flush_pending)  # a command whose last write was outside a transaction


# --- Entries ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    generation: str
    created: float
    status: int
    headers: tuple[tuple[str, str], ...]
    chunks: tuple[bytes, ...]  # the body, cut where the visitor's CSRF tokens go
    session_read: bool  # the page read the (empty) session: SessionMiddleware then adds `Vary: Cookie`


def cache_key(request: HttpRequest) -> str:
    display = display_for(request)
    parts = [request.scheme, request.get_host(), request.path, request.META.get("QUERY_STRING", ""),
             get_language() or "", display.size, display.scheme, "furigana" if display.furigana else ""]
    return ENTRY_PREFIX + hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def applies_to(request: HttpRequest) -> bool:
    """Whether the request may be served from the cache (and fill it): the cheap tests, then the allowlist."""
    if request.method not in ("GET", "HEAD") or seconds() <= 0:
        return False
    cookies = request.COOKIES
    if settings.SESSION_COOKIE_NAME in cookies or "messages" in cookies or "HTTP_AUTHORIZATION" in request.META:
        return False
    if len(request.META.get("QUERY_STRING", "")) > MAX_QUERY_LENGTH or ":" in request.path:
        return False  # signed tokens always hold a colon
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return False
    view_name = _view_name(request.path_info, getattr(request, "urlconf", None) or settings.ROOT_URLCONF,
                           get_language())
    return view_name in CACHED_VIEWS or view_name == WAGTAIL_VIEW


@lru_cache(maxsize=4096)
def _view_name(path_info: str, urlconf, language: str | None) -> str | None:
    """The URL name a path resolves to (in the language active, as /en/ resolves only in English). The URLconf
    does not change while the process runs; which page Wagtail finds is decided later, when the page is kept."""
    try:
        return resolve(path_info, urlconf).view_name
    except Resolver404:
        return None


def _allowed_view(request: HttpRequest, response) -> bool:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return False
    if match.view_name in CACHED_VIEWS:
        return True
    if match.view_name != WAGTAIL_VIEW:
        return False
    page = (getattr(response, "context_data", None) or {}).get("page")
    if page is None or page._meta.label_lower not in CACHED_PAGE_TYPES or not page.live:
        return False
    if getattr(request, "is_preview", False):
        return False
    sub_route = getattr(request, "routable_resolver_match", None)
    return sub_route is None or sub_route.url_name == INDEX_ROUTE


def _csrf_chunks(request: HttpRequest, body: bytes) -> tuple[bytes, ...] | None:
    """The body cut around the hidden inputs holding this request's CSRF token; None if the token is used
    otherwise (it can't be given to another visitor)."""
    if not request.META.get("CSRF_COOKIE_NEEDS_UPDATE"):
        return (body,) if b"csrfmiddlewaretoken" not in body else None
    secret = request.META.get("CSRF_COOKIE", "")
    chunks, start = [], 0
    for match in _CSRF_INPUT.finditer(body):
        if not constant_time_compare(_unmask_cipher_token(match.group(2).decode()), secret):
            return None
        chunks.append(body[start:match.end(1)])
        start = match.start(3)
    chunks.append(body[start:])
    if len(chunks) == 1 or body.count(b"csrfmiddlewaretoken") != len(chunks) - 1:
        return None
    if secret and secret.encode() in body:
        return None
    # Each use of the token is masked anew: any other string that unmasks to the secret is another use.
    uses = sum(constant_time_compare(_unmask_cipher_token(token.decode()), secret)
               for token in _TOKEN_LIKE.findall(body))
    return tuple(chunks) if uses == len(chunks) - 1 else None


def entry_for(request: HttpRequest, response, generation: str) -> Entry | None:
    """What to keep of a fresh response, or None when it must not be kept (module docstring)."""
    if request.method != "GET" or response.status_code != 200 or response.streaming:
        return None
    if not response.get("Content-Type", "").startswith("text/html") or response.cookies:
        return None
    cache_control = {item.split("=", 1)[0].strip().lower()
                     for item in cc_delim_re.split(response.get("Cache-Control", "")) if item.strip()}
    if cache_control & {"private", "no-cache", "no-store"}:
        return None
    if any(item.strip() and item.strip().lower() != "accept-language"
           for item in response.get("Vary", "").split(",")):
        return None
    session = getattr(request, "session", None)
    if session is not None and session.modified:
        return None  # a session begun here: the response will set its cookie
    storage = getattr(request, "_messages", None)
    if storage is not None and (storage._queued_messages or storage.used):
        return None
    if isinstance(getattr(request, "_csp_nonce", None), str):
        return None
    if not _allowed_view(request, response):
        return None
    chunks = _csrf_chunks(request, response.content)
    if chunks is None:
        return None
    headers = tuple((name, value) for name, value in response.items() if name.lower() not in _NOT_KEPT)
    return Entry(generation=generation, created=time.time(), status=response.status_code, headers=headers,
                 chunks=chunks, session_read=bool(session is not None and session.accessed))


def response_for(request: HttpRequest, entry: Entry, now: float) -> HttpResponse:
    """The kept page, with this visitor's CSRF tokens (get_token also has the cookie set, as a fresh page does)."""
    # One masked token for every form, as a fresh page has (the csrf context processor asks for it once).
    body = get_token(request).encode().join(entry.chunks) if len(entry.chunks) > 1 else entry.chunks[0]
    response = HttpResponse(body, status=entry.status)
    for name, value in entry.headers:
        response[name] = value
    if entry.session_read and hasattr(request, "session"):
        request.session.accessed = True  # the same `Vary: Cookie` as the fresh page (it read the empty session)
    response["Age"] = str(max(int(now - entry.created), 0))
    response[HEADER] = "hit"
    return response


class PageCacheMiddleware:
    """Serve anonymous visitors' public pages from the shared cache (module docstring). Placed after the language,
    CSRF and common middleware (whose work a hit still needs) and before authentication and everything after it
    (which a hit skips); the security headers and the CSP are added outside it, to hits and misses alike."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not applies_to(request):
            return self.get_response(request)
        try:
            key = cache_key(request)
            found = cache.get_many([GENERATION_KEY, key])
            generation = found.get(GENERATION_KEY)
            if generation is None:
                cache.add(GENERATION_KEY, uuid.uuid4().hex, None)
                generation = cache.get(GENERATION_KEY)
        except Exception:
            logger.exception("The page cache could not be read")
            return self.get_response(request)
        entry, now = found.get(key), time.time()
        if (isinstance(entry, Entry) and generation is not None and entry.generation == generation
                and 0 <= now - entry.created < seconds()):
            return response_for(request, entry, now)

        response = self.get_response(request)
        fresh = entry_for(request, response, generation) if generation is not None else None
        if fresh is not None:
            try:
                cache.set(key, fresh, seconds())
            except Exception:
                logger.exception("The page cache could not be written")
            else:
                response[HEADER] = "miss"
        return response
