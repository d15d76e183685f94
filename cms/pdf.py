"""Real PDFs rendered on the server with WeasyPrint, from the same templates as the printable pages, instead of the
browser's "Save as PDF". The stylesheets come from the static files on disk (never over the network: anything else
a page names is not fetched), and the text is set in IPAexGothic, the Japanese font matplotlib-fontja bundles, so a
PDF has every Japanese glyph on any server. WeasyPrint needs Pango from the system (Debian: libpango-1.0-0,
libpangoft2-1.0-0)."""

from importlib.util import find_spec
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpResponse

# Found without importing matplotlib_fontja (which would load matplotlib at start-up).
FONT = Path(find_spec("matplotlib_fontja").origin).parent / "fonts" / "ipaexg.ttf"
BASE_URL = "https://dekiru.invalid/"  # the pages' own addresses resolve against this, and only static ones are read
FONT_CSS = (f"@font-face {{ font-family: 'Dekiru PDF'; src: url('{FONT.as_uri()}'); }}"
            "html, body, body * { font-family: 'Dekiru PDF', sans-serif !important; }")


def _fetcher():
    from weasyprint.urls import URLFetcher, URLFetchingError  # WeasyPrint loads Pango: only when a PDF is made

    class StaticFilesOnly(URLFetcher):
        """Static files from disk, the bundled font and data: URLs; nothing else (no network, no other file)."""

        def fetch(self, url, headers=None):
            if url == FONT.as_uri() or url.startswith("data:"):  # the font; images given inline (charts)
                return super().fetch(url, headers)
            parts = urlsplit(url)
            if url.startswith(BASE_URL) and parts.path.startswith(settings.STATIC_URL):
                found = finders.find(unquote(parts.path[len(settings.STATIC_URL):]))
                if found:
                    return super().fetch(Path(found).as_uri(), headers)
            raise URLFetchingError(f"not fetched in a PDF: {url}")

    return StaticFilesOnly()


def render(html: str) -> bytes:
    """The PDF of an HTML page (print media)."""
    from weasyprint import CSS, HTML  # see _fetcher
    from weasyprint.text.fonts import FontConfiguration

    fetcher, fonts = _fetcher(), FontConfiguration()  # @font-face needs the font configuration on both sides
    return HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher).write_pdf(
        stylesheets=[CSS(string=FONT_CSS, url_fetcher=fetcher, font_config=fonts)], font_config=fonts)


def response(html: str, filename: str) -> HttpResponse:
    result = HttpResponse(render(html), content_type="application/pdf")
    result["Content-Disposition"] = f'inline; filename="{filename}"'
    return result
