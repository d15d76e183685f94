"""Open data: the event list (イベント一覧) in the national recommended format, and participation statistics.

Queries choose the data; pure builders turn it into rows and bytes; outreach.opendata_views answers HTTP.

**Event list.** One row per public session that has not ended yet (the sessions the public calendar feed shows:
live, unrestricted course pages), in the 32 columns of the national recommended dataset, in their order
(PRODUCT.md). The values are Japanese data, like the column names: the same file whatever the site language.
- NO is the session's id: stable for the life of the session.
- Online sessions: 場所名称 "オンライン", 住所 "オンライン開催". The meeting link is never published (registered
  participants get it); URL is the course page, where one registers.
- Cancelled sessions that have not ended stay in the list, marked: イベント名 starts with "【中止】" and 備考 says
  so — an aggregator that copied the earlier row learns of the cancellation instead of losing the row silently.
- Line breaks inside a value become spaces (one record per line for simple consumers); quoting as RFC 4180,
  lines end with CRLF.
- UTF-8 without a BOM by default, as the national guideline asks (a BOM becomes part of the first column name
  for many parsers). `excel=True` (?excel=1) adds the BOM, so that Excel opens the Japanese text correctly, and
  defuses cells that Excel would run as a formula (a leading ' before = + - @).
- JSON: {"name", "columns": [the 32 names], "events": [{column name: value}]}: the same strings as the CSV.

**Participation statistics** (`participation_table`): per fiscal year, attendances, unique participants and
participants per 1,000 residents by ward of residence × age band, with totals. Age bands rolled up as elderly care
does (under 65, 65–74 前期高齢者, 75+ 後期高齢者): the programme is about older residents, and coarse bands keep
most cells above the suppression threshold. Every figure of a cell whose participants are hidden by
outreach.suppression is hidden too (attendances of the same people, the rate).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import jaconv
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from cms.i18n import localized
from cms.normalize import format_phone
from courses.calendar_views import feed_sessions
from courses.ical import TZ
from outreach import bands, metrics, suppression
from outreach.summaries import plain
from partners.models import Ward

# --- The event list ---------------------------------------------------------------------------------------------

EVENT_DATASET_NAME = "イベント一覧"
# Bump when what a row says changes, so that ETags of the old shape no longer match.
EVENT_FORMAT_VERSION = 1

EVENT_COLUMNS = [
    "都道府県コード又は市区町村コード", "NO", "都道府県名", "市区町村名", "イベント名", "イベント名_カナ",
    "イベント名_英語", "開始日", "終了日", "開始時間", "終了時間", "開始日時特記事項", "説明", "料金(基本)",
    "料金(詳細)", "連絡先名称", "連絡先電話番号", "連絡先内線番号", "主催者", "場所名称", "住所", "方書", "緯度",
    "経度", "アクセス方法", "駐車場情報", "定員", "参加申込終了日", "参加申込終了時間", "参加申込方法", "URL", "備考",
]
REQUIRED_EVENT_COLUMNS = [
    "都道府県コード又は市区町村コード", "NO", "イベント名", "イベント名_カナ", "開始日", "終了日", "開始時間",
    "終了時間", "説明", "場所名称", "住所",
]

# Values of the Japanese dataset (data, like the column names: not translated).
ONLINE_PLACE = "オンライン"
ONLINE_ADDRESS = "オンライン開催"
FREE = "無料"
CANCELLED_PREFIX = "【中止】"
CANCELLED_NOTE = "この回は中止になりました。"
ALSO_ONLINE_NOTE = "オンラインでも参加できます（参加用リンクは申込者にお知らせします）。"
ONLINE_NOTE = "参加用リンクは申込者にお知らせします。"
HOW_TO_APPLY = "URL欄のページの申込フォームから申し込み"
HOW_TO_APPLY_BY_PHONE = "、または電話（{phone}）"

DATE_FORMAT = "%Y-%m-%d"
TIME_FORMAT = "%H:%M"


@dataclass(frozen=True)
class Publisher:
    """What every row says about the municipality publishing the list, and the enquiry line to apply by phone."""

    code: str
    prefecture_name: str
    name: str
    enquiry_phone: str = ""

    @classmethod
    def from_settings(cls, municipality, site_settings=None) -> Publisher:
        phone = getattr(site_settings, "phone_number", "") or ""
        return cls(code=municipality.code, prefecture_name=municipality.prefecture_name, name=municipality.name,
                   enquiry_phone=format_phone(phone))


def public_sessions():
    """The sessions the public calendar feed lists (courses.calendar_views): of live, unrestricted course pages,
    not ended yet, cancelled ones included; with what a row shows joined, in start order."""
    return feed_sessions().select_related("course", "venue", "venue__ward", "organiser")


# Everything a row shows, read in one values_list() query for the ETag. Sessions change `updated_at` with every
# change; a course's shown fields change only when it is published; venues and partners have no timestamp, so
# their shown fields themselves are part of the key.
ETAG_FIELDS = (
    "pk", "updated_at", "course__last_published_at", "course__url_path",
    "organiser__name", "organiser__phone",
    "venue__name", "venue__address", "venue__access", "venue__latitude", "venue__longitude",
)


def events_etag(sessions, *, publisher: Publisher, variant: str) -> str:
    digest = hashlib.sha1(f"{EVENT_FORMAT_VERSION}\x1f{variant}\x1f{publisher!r}".encode())
    for row in sessions.values_list(*ETAG_FIELDS):
        digest.update("\x1f".join("" if value is None else str(value) for value in row).encode())
        digest.update(b"\x1e")
    return digest.hexdigest()


def one_line(text: str) -> str:
    """Line breaks (and the spaces around them) become one space."""
    return re.sub(r"[ \t]*(?:\r\n|\r|\n)+[ \t]*", " ", text or "").strip()


def katakana(text: str) -> str:
    """Full-width katakana, as the dataset asks: hiragana and half-width katakana are converted."""
    return jaconv.hira2kata(jaconv.h2z(text or "", kana=True, ascii=False, digit=False))


def fee_text(fee: int) -> str:
    return FREE if not fee else f"{fee:,}円"


def full_address(address: str, prefecture_name: str) -> str:
    """The address from the prefecture on, as the dataset asks (venues are often entered from the city on)."""
    address = (address or "").strip()
    if prefecture_name and address and not address.startswith(prefecture_name):
        return prefecture_name + address
    return address


def _coordinate(value: Decimal | None) -> str:
    return "" if value is None else format(value.normalize(), "f")


def _local(value):
    return timezone.localtime(value, TZ)


def event_row(session, *, publisher: Publisher, url: str) -> list[str]:
    """The 32 values of one session, in EVENT_COLUMNS order. `url` is the course page's absolute address."""
    course, venue, partner = session.course, session.venue, session.organiser
    starts, ends, closes = _local(session.starts_at), _local(session.ends_at), _local(session.registration_closes)
    title = one_line(course.title)
    if session.is_cancelled:
        title = CANCELLED_PREFIX + title
    notes = []
    if session.is_cancelled:
        notes.append(CANCELLED_NOTE)
    if venue is None:
        place, address, latitude, longitude, access = ONLINE_PLACE, ONLINE_ADDRESS, "", "", ""
        notes.append(ONLINE_NOTE)
    else:
        place, address = one_line(venue.name), one_line(full_address(venue.address, publisher.prefecture_name))
        latitude, longitude = _coordinate(venue.latitude), _coordinate(venue.longitude)
        access = one_line(venue.access)
        if session.online_url:
            notes.append(ALSO_ONLINE_NOTE)
    if session.notes:
        notes.append(one_line(session.notes))
    how_to_apply = HOW_TO_APPLY
    if publisher.enquiry_phone:
        how_to_apply += HOW_TO_APPLY_BY_PHONE.format(phone=publisher.enquiry_phone)
    values = {
        "都道府県コード又は市区町村コード": publisher.code,
        "NO": str(session.pk),
        "都道府県名": publisher.prefecture_name,
        "市区町村名": publisher.name,
        "イベント名": title,
        "イベント名_カナ": one_line(katakana(course.title_kana)) or katakana(title),
        "イベント名_英語": one_line(course.title_en),
        "開始日": starts.strftime(DATE_FORMAT),
        "終了日": ends.strftime(DATE_FORMAT),
        "開始時間": starts.strftime(TIME_FORMAT),
        "終了時間": ends.strftime(TIME_FORMAT),
        "開始日時特記事項": "",
        "説明": one_line(course.summary) or title,
        "料金(基本)": fee_text(course.fee),
        "料金(詳細)": "",
        "連絡先名称": one_line(partner.name),
        "連絡先電話番号": format_phone(partner.phone or ""),
        "連絡先内線番号": "",
        "主催者": one_line(partner.name),
        "場所名称": place,
        "住所": address,
        "方書": "",
        "緯度": latitude,
        "経度": longitude,
        "アクセス方法": access,
        "駐車場情報": "",
        "定員": str(session.capacity),
        "参加申込終了日": closes.strftime(DATE_FORMAT),
        "参加申込終了時間": closes.strftime(TIME_FORMAT),
        "参加申込方法": how_to_apply,
        "URL": url,
        "備考": " ".join(notes),
    }
    return [values[column] for column in EVENT_COLUMNS]


def event_rows(sessions: Iterable, *, publisher: Publisher, url_for: Callable) -> Iterator[list[str]]:
    """The rows of `sessions`; `url_for(course)` gives a course page's absolute address (asked once per course)."""
    urls: dict[int, str] = {}
    for session in sessions:
        if session.course_id not in urls:
            urls[session.course_id] = url_for(session.course)
        yield event_row(session, publisher=publisher, url=urls[session.course_id])


# --- Writing CSV and JSON ---------------------------------------------------------------------------------------

BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Line:
    """A file-like object for csv.writer that hands back each line instead of storing it."""

    def write(self, value: str) -> str:
        return value


def excel_safe(value):
    """A text cell Excel would run as a formula, with a leading apostrophe (Excel shows it as text)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_lines(header: list[str], rows: Iterable[list], *, excel: bool = False) -> Iterator[bytes]:
    """RFC 4180 CSV, UTF-8, CRLF line ends, one encoded line at a time (for a streaming response). `excel` adds
    the byte order mark and defuses formula-like cells."""
    writer = csv.writer(_Line(), lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    first = writer.writerow(header)
    yield ((BOM if excel else "") + first).encode("utf-8")
    for row in rows:
        yield writer.writerow([excel_safe(value) for value in row] if excel else row).encode("utf-8")


def json_chunks(columns: list[str], rows: Iterable[list[str]], *, name: str) -> Iterator[bytes]:
    """{"name": …, "columns": [...], "events": [{column: value}, ...]}, one event at a time."""
    head = json.dumps({"name": name, "columns": columns}, ensure_ascii=False)
    yield (head[:-1] + ', "events": [').encode("utf-8")
    separator = "\n"
    for row in rows:
        yield (separator + json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False)).encode("utf-8")
        separator = ",\n"
    yield b"\n]}\n"


# --- Participation statistics -----------------------------------------------------------------------------------

PARTICIPATION_ROLLUP = bands.ELDERLY
NOT_GIVEN_CODE = "unknown"
ALL_AGES_CODE = "all"


@dataclass
class ParticipationTable:
    """Counts by age band (rows) × ward of residence (columns) for one fiscal year, with the suppression mask of
    the table extended by its totals (see outreach.suppression.extend)."""

    fiscal_year: int
    rows: list[tuple[str, str, str]]  # (band key, code, label)
    columns: list[tuple[str, str, str]]  # (ward key, code, label)
    participants: list[list[int]]
    attendances: list[list[int]]
    population: list[list[int]]
    population_year: int | None
    limit: int
    hidden: suppression.Mask = field(init=False)

    def __post_init__(self):
        self.hidden = suppression.suppress(self.participants, limit=self.limit)


def participation_years(today=None) -> list[int]:
    """Fiscal years that can be published: with data, and begun."""
    current = metrics.fiscal_year_of(today or timezone.localdate())
    return [year for year in metrics.fiscal_years_with_data() if year <= current]


def participation_table(fiscal_year: int, *, limit: int | None = None) -> ParticipationTable:
    """The fiscal year's table from outreach.metrics (attendances, reach's population), with unique participants
    counted in the same cells. Rows and columns for "not given" appear only when someone is in them."""
    filters = metrics.Filters(fiscal_year=fiscal_year, rollup=PARTICIPATION_ROLLUP)
    # Every count from the raw rows at one moment: the dashboard's summaries may be minutes old, and a published
    # cell must agree with the unique participants counted beside it (or suppression could be undone).
    with plain():
        attendance = metrics.attendance_by_band(filters).values
        people = {}
        for row in (metrics.attendances(filters).annotate(band=bands.rolled("participant__age_band",
                                                                            PARTICIPATION_ROLLUP))
                    .values("band", "participant__ward_id").annotate(n=Count("participant_id", distinct=True))):
            ward = row["participant__ward_id"]
            people[(row["band"], str(ward) if ward else metrics.NO_WARD)] = row["n"]
        reach = metrics.reach(filters)

    rows = [(key, key, str(bands.label(key))) for key in bands.keys(PARTICIPATION_ROLLUP)]
    if any(band == bands.NOT_GIVEN for band, _ward in people):
        rows.append((bands.NOT_GIVEN, NOT_GIVEN_CODE, str(bands.label(bands.NOT_GIVEN))))
    columns = [(str(ward.pk), ward.code, localized(ward, "name")) for ward in Ward.objects.order_by("sort_order",
                                                                                                      "code")]
    if any(ward == metrics.NO_WARD for _band, ward in people):
        columns.append((metrics.NO_WARD, NOT_GIVEN_CODE, str(_("Not given"))))

    def grid(values: dict) -> list[list[int]]:
        return [[int(values.get((row, column)) or 0) for column, _code, _label in columns] for row, _c, _l in rows]

    return ParticipationTable(
        fiscal_year=fiscal_year, rows=rows, columns=columns, participants=grid(people),
        attendances=grid(attendance), population=grid(reach.population.values),
        population_year=reach.population_year, limit=suppression.threshold() if limit is None else limit)


def participation_header() -> list[str]:
    return [_("Fiscal year"), _("Ward code"), _("Ward"), _("Age band code"), _("Age band"), _("Participants"),
            _("Attendances"), _("Residents"), _("Population year"), _("Participants per 1,000 residents")]


def per_thousand(people: int, population: int) -> str:
    return f"{1000 * people / population:.2f}" if population else ""


def participation_rows(table: ParticipationTable, *, municipality_code: str, municipality_name: str) -> list[list]:
    """One line per ward (then the not-given column, then the whole city) × age band (then not given, then all
    ages), in long form. Hidden figures show suppression.MARK; a rate is empty where there is no population."""
    participants = suppression.extend(table.participants)
    attendances = suppression.extend(table.attendances)
    population = suppression.extend(table.population)
    rows = [*table.rows, ("", ALL_AGES_CODE, _("All ages"))]
    columns = [*table.columns, ("", municipality_code, municipality_name or _("Total"))]
    lines = []
    for j, (_ward, ward_code, ward_label) in enumerate(columns):
        for i, (_band, band_code, band_label) in enumerate(rows):
            hidden = table.hidden[i][j]
            lines.append([
                table.fiscal_year, ward_code, ward_label, band_code, str(band_label),
                suppression.show(participants[i][j], hidden), suppression.show(attendances[i][j], hidden),
                population[i][j] or "", table.population_year or "",
                suppression.show(per_thousand(participants[i][j], population[i][j]), hidden),
            ])
    return lines
