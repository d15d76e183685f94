"""Open data under /opendata/ (Japanese) and /en/opendata/ (English): thin views over outreach.opendata.

The files are public and meant for other sites and programs: any origin may read them (CORS), shared caches may
keep them for a while, and the event list answers 304 when nothing it shows has changed.
"""

from django.http import Http404, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils.cache import get_conditional_response
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from cms.models import MunicipalitySettings, SiteSettings
from outreach import opendata, suppression

EVENTS_MAX_AGE = 300  # seconds; as the calendar feeds
STATISTICS_MAX_AGE = 60 * 60


def _open(response, *, max_age: int):
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = f"public, max-age={max_age}"
    return response


def _publisher(request) -> opendata.Publisher:
    return opendata.Publisher.from_settings(MunicipalitySettings.load(request_or_site=request),
                                            SiteSettings.for_request(request))


def _course_url(request):
    """A course page's absolute address in Japanese (the dataset's language), whatever the request's language."""
    from django.utils import translation

    def url_for(course) -> str:
        with translation.override("ja"):
            return request.build_absolute_uri(course.get_url(request=request))

    return url_for


def _filename(publisher: opendata.Publisher, extension: str) -> str:
    """<local government code>_event.<ext>, the national naming of the event list."""
    return f"{publisher.code}_event.{extension}" if publisher.code else f"event.{extension}"


def _events(request, *, kind: str):
    publisher = _publisher(request)
    excel = kind == "csv" and request.GET.get("excel") == "1"
    sessions = opendata.public_sessions()
    etag = '"{}"'.format(opendata.events_etag(sessions, publisher=publisher, variant=f"{kind}:{excel}"))
    response = get_conditional_response(request, etag=etag)
    if response is None:
        rows = opendata.event_rows(sessions.iterator(chunk_size=500), publisher=publisher,
                                   url_for=_course_url(request))
        if kind == "csv":
            response = StreamingHttpResponse(opendata.csv_lines(opendata.EVENT_COLUMNS, rows, excel=excel),
                                             content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{_filename(publisher, "csv")}"'
        else:
            response = StreamingHttpResponse(
                opendata.json_chunks(opendata.EVENT_COLUMNS, rows, name=opendata.EVENT_DATASET_NAME),
                content_type="application/json; charset=utf-8")
            response["Content-Disposition"] = f'inline; filename="{_filename(publisher, "json")}"'
        response["Content-Language"] = "ja"
    response["ETag"] = etag
    return _open(response, max_age=EVENTS_MAX_AGE)


@require_safe
def events_csv(request):
    """The event list as CSV; ?excel=1 for the Excel-friendly variant (see outreach.opendata)."""
    return _events(request, kind="csv")


@require_safe
def events_json(request):
    return _events(request, kind="json")


@require_safe
def participation_csv(request, fiscal_year: int):
    """Participation by ward and age band for one fiscal year, with small cells suppressed."""
    if fiscal_year not in opendata.participation_years():
        raise Http404(_("No statistics for this fiscal year."))
    municipality = MunicipalitySettings.load(request_or_site=request)
    table = opendata.participation_table(fiscal_year)
    rows = opendata.participation_rows(table, municipality_code=municipality.code,
                                       municipality_name=municipality.name if _language() == "ja"
                                       else (municipality.name_en or municipality.name))
    response = StreamingHttpResponse(opendata.csv_lines(opendata.participation_header(), rows,
                                                        excel=request.GET.get("excel") == "1"),
                                     content_type="text/csv; charset=utf-8")
    code = municipality.code or "dekiru"
    response["Content-Disposition"] = (f'attachment; filename="{code}_participation_FY{fiscal_year}'
                                       f'{"_en" if _language() == "en" else ""}.csv"')
    response["Content-Language"] = _language()
    return _open(response, max_age=STATISTICS_MAX_AGE)


def _language() -> str:
    return (get_language() or "ja").split("-")[0]


@require_safe
def index(request):
    """The list of datasets, what each contains and how small numbers are protected."""
    return TemplateResponse(request, "outreach/opendata_index.html", {
        "fiscal_years": opendata.participation_years(),
        "threshold": suppression.threshold(),
        "mark": suppression.MARK,
        "columns": opendata.EVENT_COLUMNS,
        "required_columns": opendata.REQUIRED_EVENT_COLUMNS,
    })
