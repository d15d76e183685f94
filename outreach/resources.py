"""The outreach spreadsheets' columns and rows: django-import-export resources for support-desk consultations and
the city's reference data (population, internet-usage rates, KPI targets).

They are built on the partner spreadsheets' machinery (courses.resources and courses.spreadsheets): the same
reading of XLSX and CSV files, header matching in Japanese or English, cell widgets, formula refusal, per-row plans
with errors keyed by column, all-or-nothing application and the same report. What is new here:

- Consultations are only ever added (they have no natural key), in bulk at the end, recorded by the importing user.
  Each row is checked with `outreach.consultations.consultation_errors`, the rules of the entry form.
- Reference data is an upsert on the model's unique key (year + ward + age band; year + source + age band;
  fiscal year + indicator): a new key is created, a known key with another value is updated, the same value is
  left unchanged. A key given twice in one file is an error on the later row.
- Wards are given by their local government code or their name (Japanese or English, with or without 区 / -ku);
  consultation topics by their name in either language, several in one cell separated by 、 , or ;.
"""

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export import widgets
from import_export.results import RowResult

from courses import spreadsheets
from courses.resources import (
    ChoiceWidget,
    Column,
    LocalDateWidget,
    Plan,
    RowErrors,
    SpreadsheetResource,
    WholeNumberWidget,
    fold,
    fold_age_band,
    in_both_languages,
    is_blank,
)
from outreach.consultations import IMPORT_KIND, consultation_errors
from outreach.models import (
    AGE_BAND_CHOICES,
    SURVEY_BAND_CHOICES,
    Consultation,
    ConsultationTopic,
    InternetUsageRate,
    KpiTarget,
    PopulationFigure,
)
from partners.models import Ward

NEW, UPDATE, SKIP = RowResult.IMPORT_TYPE_NEW, RowResult.IMPORT_TYPE_UPDATE, RowResult.IMPORT_TYPE_SKIP
MIN_YEAR, MAX_YEAR = 1900, 2100
BATCH = 1000


def run_import(resource: SpreadsheetResource, table: spreadsheets.Table, *, dry_run: bool) -> spreadsheets.ImportReport:
    """Run `resource` over an uploaded table (a dry run, or for real inside the caller's transaction) and report
    every row, as courses.spreadsheets does for the partner imports. Raises spreadsheets.SpreadsheetError when
    the columns cannot be used."""
    dataset, keys, unknown, formulas = spreadsheets.table_dataset(resource, table)
    result = resource.import_data(dataset, dry_run=dry_run, use_transactions=True,
                                  rollback_on_validation_errors=True, row_numbers=table.row_numbers,
                                  formulas=formulas)
    return spreadsheets.import_report(resource, table, result, keys, unknown)


# --- Widgets and lookups ----------------------------------------------------------------------------------------


class OutreachColumn(Column):
    """A column with its usual Japanese header, written in Japanese files (the template, the exports) and
    always accepted on import."""

    def __init__(self, attribute=None, *, label, header_ja, aliases=(), **kwargs):
        super().__init__(attribute, label=label, aliases=(header_ja, *aliases), **kwargs)
        self.header_ja = header_ja

    def header(self) -> str:
        if (translation.get_language() or "ja").split("-")[0] == "ja":
            return self.header_ja
        return super().header()


class DecimalWidget(widgets.Widget):
    """A number with at most `places` decimals: 82.9, "82.9%", "８２．９", "1,800"."""

    def __init__(self, places: int = 1):
        super().__init__()
        self.places = places

    def clean(self, value, row=None, **kwargs):
        if is_blank(value):
            return None
        if isinstance(value, bool):
            raise ValueError(_("Enter a number."))
        text = unicodedata.normalize("NFKC", str(value)).strip().replace(",", "").rstrip("%").strip()
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(_("“%(value)s” is not a number.") % {"value": value}) from None
        if not number.is_finite():
            raise ValueError(_("“%(value)s” is not a number.") % {"value": value})
        if number.normalize().as_tuple().exponent < -self.places:
            raise ValueError(_("“%(value)s” has too many decimals: give at most %(places)d, as in 82.9.")
                             % {"value": value, "places": self.places})
        return number.quantize(Decimal(1).scaleb(-self.places))

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


_FISCAL_YEAR = re.compile(r"^(?:fy)?(\d{4})(?:年度)?$")
_REIWA = re.compile(r"^(?:令和|r)(\d{1,2}|元)(?:年度)?$")


class FiscalYearWidget(widgets.Widget):
    """A fiscal year by the calendar year it starts in: 2025, FY2025, 2025年度, 令和7年度, R7."""

    def clean(self, value, row=None, **kwargs):
        if is_blank(value):
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = unicodedata.normalize("NFKC", str(value)).strip().casefold().replace(" ", "")
        match = _FISCAL_YEAR.match(text)
        if match:
            return int(match.group(1))
        match = _REIWA.match(text)
        if match:
            return 2018 + (1 if match.group(1) == "元" else int(match.group(1)))
        raise ValueError(_("“%(value)s” is not a fiscal year. Write it as 2025 (for April 2025 to March 2026).")
                         % {"value": value})

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else value


def ward_index() -> dict[str, Ward]:
    """Folded code, name, English name and short names (without 区 / -ku) → ward."""
    index: dict[str, Ward] = {}
    for ward in Ward.objects.all():
        short = (re.sub(r"区$", "", ward.name), re.sub(r"[-\s]?(ku|ward)$", "", ward.name_en, flags=re.I))
        for name in (ward.code, ward.name, ward.name_en, *short):
            if name:
                index.setdefault(fold(name), ward)
    return index


def topic_index() -> dict[str, ConsultationTopic]:
    index: dict[str, ConsultationTopic] = {}
    for topic in ConsultationTopic.objects.all():
        for name in (topic.name, topic.name_en):
            if name:
                index.setdefault(fold(name), topic)
    return index


TOPIC_SEPARATORS = re.compile(r"[、,，;；\n]+")

AGE_BAND_SYNONYMS = {
    "u20": ("0-19", "-19", "19以下", "20未満", "under20", "0〜19"),
    "85+": ("85以上", "85-", "85〜", "85+", "85over", "85andolder"),
}
# An explicit "not given" (age band or where the person lives), besides its labels in both languages.
NOT_GIVEN_SYNONYMS = ("答えたくない", "回答しない", "答えない", "不明", "無回答", "未回答", "回答なし", "not given",
                      "declined", "prefer not to say", "no answer", "unknown", "-", "―", "ー")
SURVEY_BAND_SYNONYMS = {
    **{f"{decade}-{decade + 9}": (f"{decade}代",) for decade in range(20, 80, 10)},
    "80+": ("80以上", "80-", "80〜", "80over", "80andolder", "80代以上"),
    "all": ("全体", "全年齢", "総数", "計", "合計", "total", "allages", "6以上"),
}
PLACE_SYNONYMS = {
    Consultation.Place.WARD_OFFICE: ("区役所", "区役所窓口", "役所", "窓口"),
    Consultation.Place.COMMUNITY_CENTRE: ("市民館", "地区会館", "公民館", "いこいの家", "community center"),
    Consultation.Place.OUTREACH_EVENT: ("出張相談", "出張", "イベント", "outreach", "event"),
}
OUTCOME_SYNONYMS = {
    Consultation.Outcome.SOLVED: ("解決", "解決済", "解決済み", "その場で解決", "resolved", "done"),
    Consultation.Outcome.REFERRED_CLASS: ("講座案内", "講座を案内", "講座紹介", "教室案内", "講座へ案内", "class"),
    Consultation.Outcome.REFERRED_ELSEWHERE: ("他機関案内", "他機関を案内", "他機関紹介", "他の窓口を案内",
                                              "referred", "elsewhere"),
}
OUTSIDE_CITY_SYNONYMS = ("市外", "市外在住", "outside", "outside the city")
# What an export writes for where the person lives when it was never asked (consultations recorded before the
# question had "outside the city" and "not given" as answers of their own): refused on import, as a new
# consultation must say which (the column's cell is read by prefix, so "記録なし (…)" is recognised too).
NOT_RECORDED_PREFIXES = ("記録なし", "notrecorded")
SOURCE_SYNONYMS = {
    InternetUsageRate.Source.NATIONAL: ("全国", "国", "総務省", "通信利用動向調査", "national"),
    InternetUsageRate.Source.CITY: ("市", "市独自", "市調査", "city"),
}


class ConsultationAgeBandWidget(ChoiceWidget):
    """An age band, or an explicit “prefer not to say” (stored as "", "not given"), written out as 答えたくない /
    Prefer not to say, never as a blank cell. A blank cell is no answer at all: `clean` gives None, which the
    row refuses."""

    blank_is_an_answer = True

    def __init__(self):
        super().__init__([*AGE_BAND_CHOICES, ("", Consultation.Residence.DECLINED.label)],
                         synonyms={**AGE_BAND_SYNONYMS, "": NOT_GIVEN_SYNONYMS}, fold_value=fold_age_band)

    def render(self, value, obj=None, **kwargs):
        if value == "":
            return str(Consultation.Residence.DECLINED.label)
        return super().render(value, obj, **kwargs)


def age_band_widget() -> ChoiceWidget:
    return ConsultationAgeBandWidget()


class OutreachResource(SpreadsheetResource):
    """Shared by the outreach imports: ward lookup, and the year checks."""

    def find_ward(self, values: dict, key: str, errors: RowErrors) -> Ward | None:
        text = values.get(key) or ""
        if not text:
            return None
        ward = self.wards.get(fold(text))
        if ward is None:
            errors.add(key, _("There is no ward “%(name)s”. Give the ward's name or its 6-digit code.")
                       % {"name": text})
        return ward

    def check_year(self, values: dict, key: str, errors: RowErrors) -> int | None:
        year = values.get(key)
        if year is None:
            if key not in errors:
                errors.add(key, _("Give the year."))
        elif not MIN_YEAR <= year <= MAX_YEAR:
            errors.add(key, _("%(year)s is not a plausible year.") % {"year": year})
        return year

    def require(self, values: dict, key: str, errors: RowErrors, message) -> None:
        if values.get(key) in (None, "") and key not in errors:
            errors.add(key, message)


# --- Consultations -----------------------------------------------------------------------------------------------


class ConsultationResource(OutreachResource):
    """Support-desk consultations, one row each; every row adds a consultation recorded by the importing user."""

    kind = IMPORT_KIND
    required_columns = (("date",), ("place",), ("place_ward",), ("age_band",), ("residence_ward",), ("topics",),
                        ("outcome",))

    date = OutreachColumn("date", label=gettext_lazy("Date"), header_ja="日付", widget=LocalDateWidget(),
                          aliases=("相談日", "実施日"))
    place = OutreachColumn("place", label=gettext_lazy("Place"), header_ja="場所",
                           widget=ChoiceWidget(Consultation.Place.choices, synonyms=PLACE_SYNONYMS),
                           aliases=("実施場所", "相談場所"))
    place_ward = OutreachColumn("place_ward", label=gettext_lazy("Ward where it took place"), header_ja="実施区",
                                aliases=("place ward", "実施区名", "実施区コード", "相談区"))
    age_band = OutreachColumn("age_band", label=gettext_lazy("Age band"), header_ja="年齢階級",
                              widget=age_band_widget(), aliases=("年齢", "年代", "age"))
    # A ward, 市外 (outside the city) or 答えたくない (not given): Consultation.residence_ward and .residence.
    residence_ward = OutreachColumn("residence_ward", label=gettext_lazy("Ward of residence"), header_ja="居住区",
                                    aliases=("residence", "お住まいの区", "住所区", "お住まい", "住まい"))
    topics = OutreachColumn("topics", label=gettext_lazy("Topics"), header_ja="相談内容",
                            aliases=("topic", "内容", "相談分野"))
    outcome = OutreachColumn("outcome", label=gettext_lazy("Outcome"), header_ja="結果",
                             widget=ChoiceWidget(Consultation.Outcome.choices, synonyms=OUTCOME_SYNONYMS),
                             aliases=("対応結果", "result"))
    duration_minutes = OutreachColumn("duration_minutes", label=gettext_lazy("Length (minutes)"),
                                      header_ja="所要時間(分)", widget=WholeNumberWidget(),
                                      aliases=("所要時間", "時間(分)", "分", "minutes", "duration", "length"))

    class Meta:
        model = Consultation
        fields = ("date", "place", "place_ward", "age_band", "residence_ward", "topics", "outcome",
                  "duration_minutes")

    def prepare(self, dataset):
        from django.utils import timezone

        self.wards = ward_index()
        self.topic_names = topic_index()
        self.today = timezone.localdate(self.now)
        self.pending: list[dict] = []
        residence = Consultation.Residence
        self.residence_answers = {}
        for code, names in ((residence.OUTSIDE, OUTSIDE_CITY_SYNONYMS), (residence.DECLINED, NOT_GIVEN_SYNONYMS)):
            for name in (*names, *in_both_languages(residence(code).label)):
                if fold(name):
                    self.residence_answers.setdefault(fold(name), code)

    # --- export ---

    def dehydrate_place_ward(self, consultation):
        return str(consultation.place_ward)

    def dehydrate_residence_ward(self, consultation):
        """The ward, 市外 / Outside the city, 答えたくない / Prefer not to say; 記録なし / Not recorded for a
        consultation recorded before the question had these answers. Never a blank cell."""
        if consultation.residence_ward_id:
            return str(consultation.residence_ward)
        return str(Consultation.Residence(consultation.residence).label)

    def dehydrate_topics(self, consultation):
        return "、".join(str(topic) for topic in consultation.topics.all())

    # --- import ---

    def find_residence(self, values: dict, errors: RowErrors) -> tuple[Ward | None, str | None]:
        """(ward, Consultation.Residence) from the cell: a ward, outside the city or not given. A blank cell, or
        “not recorded”, is refused: every consultation says where the person lives, even if only “not given”."""
        text = values.get("residence_ward") or ""
        folded = fold(text)
        if not folded or folded.startswith(NOT_RECORDED_PREFIXES):
            errors.add("residence_ward", _("Give where the person lives: a ward, “%(outside)s” or “%(declined)s”.")
                       % {"outside": Consultation.Residence.OUTSIDE.label,
                          "declined": Consultation.Residence.DECLINED.label})
            return None, None
        if folded in self.residence_answers:
            return None, self.residence_answers[folded]
        ward = self.find_ward(values, "residence_ward", errors)
        return ward, Consultation.Residence.CITY if ward else None

    def find_topics(self, values: dict, errors: RowErrors) -> list[ConsultationTopic]:
        topics: list[ConsultationTopic] = []
        unknown = []
        for name in TOPIC_SEPARATORS.split(values.get("topics") or ""):
            name = name.strip()
            if not name:
                continue
            topic = self.topic_names.get(fold(name))
            if topic is None:
                unknown.append(name)
            elif topic not in topics:
                topics.append(topic)
        if unknown:
            errors.add("topics", _("Unknown topic: %(names)s. Topics are: %(topics)s.") % {
                "names": "、".join(unknown),
                "topics": "、".join(str(topic) for topic in dict.fromkeys(self.topic_names.values()))})
        return topics

    def plan_row(self, values, errors, *, number):
        place_ward = self.find_ward(values, "place_ward", errors)
        residence_ward, residence = self.find_residence(values, errors)
        if values.get("age_band") is None and "age_band" not in errors:
            errors.add("age_band", _("Give the age band, or “%(declined)s”.")
                       % {"declined": Consultation.Residence.DECLINED.label})
        topics = self.find_topics(values, errors)
        duration = values.get("duration_minutes")
        if duration is None and "duration_minutes" not in errors:  # it feeds the consultation minutes: no default
            errors.add("duration_minutes", _("Give the length in minutes (1 to 600)."))
        fields = {"date": values.get("date"), "place": values.get("place"), "place_ward": place_ward,
                  "age_band": values.get("age_band") or "", "residence_ward": residence_ward,
                  "residence": residence, "topics": topics,
                  "outcome": values.get("outcome"),
                  "duration_minutes": duration}
        for key, messages in consultation_errors(**fields, today=self.today).items():
            key = "residence_ward" if key == "residence" else key  # one column holds both
            if key not in errors:  # a cell that could not be read is reported once
                for message in messages:
                    errors.add(key, message)
        errors.raise_if_any()
        description = " ".join(str(part) for part in (
            fields["date"].isoformat(), Consultation.Place(fields["place"]).label, place_ward, "—",
            "、".join(str(topic) for topic in topics), "—", Consultation.Outcome(fields["outcome"]).label))
        return Plan(NEW, description=description, data=fields)

    def carry_out(self, plan):
        self.pending.append(plan.data)

    def finish(self):
        user = self.user if getattr(self.user, "is_authenticated", False) else None
        consultations = Consultation.objects.bulk_create(
            [Consultation(date=row["date"], place=row["place"], place_ward=row["place_ward"],
                          age_band=row["age_band"], residence_ward=row["residence_ward"],
                          residence=row["residence"], outcome=row["outcome"],
                          duration_minutes=row["duration_minutes"], recorded_by=user) for row in self.pending],
            batch_size=BATCH)
        through = Consultation.topics.through
        through.objects.bulk_create(
            [through(consultation_id=consultation.pk, consultationtopic_id=topic.pk)
             for consultation, row in zip(consultations, self.pending, strict=True) for topic in row["topics"]],
            batch_size=BATCH)


def template_workbook(stream) -> None:
    """An empty consultation workbook: the column headers (Japanese or English, as the user reads), and a second
    sheet listing the values each column accepts."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    columns = ConsultationResource.columns()
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = str(_("Consultations"))[:31]
    sheet.append([column.header() for column in columns.values()])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for letter in "ABCDEFGH":
        sheet.column_dimensions[letter].width = 18
    values = workbook.create_sheet(str(_("Accepted values"))[:31])
    choices = {
        "place": [str(label) for _code, label in Consultation.Place.choices],
        "place_ward": [f"{ward.name} ({ward.code})" for ward in Ward.objects.all()],
        "age_band": [str(label) for _code, label in AGE_BAND_CHOICES] + [str(Consultation.Residence.DECLINED.label)],
        "residence_ward": [ward.name for ward in Ward.objects.all()]
        + [str(Consultation.Residence.OUTSIDE.label), str(Consultation.Residence.DECLINED.label)],
        "topics": [str(topic) for topic in ConsultationTopic.objects.all()]
        + [str(_("(several: separate them with 、 or ;)"))],
        "outcome": [str(label) for _code, label in Consultation.Outcome.choices],
        "duration_minutes": [str(_("1 to 600"))],
        "date": [str(_("2025-04-01, 2025/4/1 or 2025年4月1日"))],
    }
    keys = list(columns)
    values.append([columns[key].header() for key in keys])
    for cell in values[1]:
        cell.font = Font(bold=True)
    for row in range(max(len(options) for options in choices.values())):
        values.append([choices.get(key, [])[row] if row < len(choices.get(key, [])) else None for key in keys])
    workbook.save(stream)


# --- Reference data ------------------------------------------------------------------------------------------------


class ReferenceResource(OutreachResource):
    """An upsert on the model's unique key. Subclasses read a row into model field values (`row_fields`) and say
    which fields are the key and which the values."""

    key_fields: tuple[str, ...] = ()
    value_fields: tuple[str, ...] = ()

    def prepare(self, dataset):
        model = self._meta.model
        self.wards = ward_index()
        self.existing = {tuple(getattr(obj, name) for name in self.key_fields): obj
                         for obj in model.objects.all()}
        self.seen: dict[tuple, int] = {}
        self.to_create: list = []
        self.to_update: list = []

    def row_fields(self, values: dict, errors: RowErrors) -> dict:
        raise NotImplementedError

    def describe(self, fields: dict) -> str:
        raise NotImplementedError

    def plan_row(self, values, errors, *, number):
        fields = self.row_fields(values, errors)
        errors.raise_if_any()
        key = tuple(fields[name] for name in self.key_fields)
        if key in self.seen:
            errors.add(None, _("The same row is already on row %(row)d.") % {"row": self.seen[key]})
            errors.raise_if_any()
        self.seen[key] = number
        existing = self.existing.get(key)
        if existing is None:
            return Plan(NEW, description=self.describe(fields), data=fields)
        before = {name: getattr(existing, name) for name in self.value_fields}
        if all(before[name] == fields[name] for name in self.value_fields):
            return Plan(SKIP, object_id=existing.pk, description=self.describe(fields))
        was = ", ".join(self.render_value(name, before[name]) for name in self.value_fields)
        return Plan(UPDATE, object_id=existing.pk, data=fields,
                    description=_("%(row)s (was %(before)s)") % {"row": self.describe(fields), "before": was})

    def render_value(self, name: str, value) -> str:
        return f"{value:,}" if isinstance(value, int) else str(value)

    def carry_out(self, plan):
        model = self._meta.model
        if plan.import_type == NEW:
            self.to_create.append(model(**plan.data))
        else:
            obj = self.existing[tuple(plan.data[name] for name in self.key_fields)]
            for name in self.value_fields:
                setattr(obj, name, plan.data[name])
            self.to_update.append(obj)

    def finish(self):
        model = self._meta.model
        if self.to_create:
            model.objects.bulk_create(self.to_create, batch_size=BATCH)
        if self.to_update:
            model.objects.bulk_update(self.to_update, list(self.value_fields), batch_size=BATCH)


class PopulationResource(ReferenceResource):
    """Residents by year × ward × age band (census or resident register)."""

    kind = "population"
    required_columns = (("year",), ("ward",), ("age_band",), ("population",))
    key_fields = ("year", "ward_id", "age_band")
    value_fields = ("population",)

    year = OutreachColumn("year", label=gettext_lazy("Year"), header_ja="年", widget=WholeNumberWidget(),
                          aliases=("調査年", "西暦", "年次"))
    ward = OutreachColumn("ward", label=gettext_lazy("Ward"), header_ja="区",
                          aliases=("区名", "区コード", "ward code", "ward name"))
    age_band = OutreachColumn("age_band", label=gettext_lazy("Age band"), header_ja="年齢階級",
                              widget=ChoiceWidget(AGE_BAND_CHOICES, synonyms=AGE_BAND_SYNONYMS,
                                                  fold_value=fold_age_band),
                              aliases=("年齢", "age"))
    population = OutreachColumn("population", label=gettext_lazy("Population"), header_ja="人口",
                                widget=WholeNumberWidget(), aliases=("人口(人)", "人数", "人"))

    class Meta:
        model = PopulationFigure
        fields = ("year", "ward", "age_band", "population")

    def row_fields(self, values, errors):
        year = self.check_year(values, "year", errors)
        ward = self.find_ward(values, "ward", errors)
        self.require(values, "ward", errors, _("Give the ward."))
        self.require(values, "age_band", errors, _("Give the age band."))
        self.require(values, "population", errors, _("Give the population."))
        return {"year": year, "ward_id": ward.pk if ward else None, "age_band": values.get("age_band"),
                "population": values.get("population"), "_ward": ward}

    def carry_out(self, plan):
        plan.data.pop("_ward", None)
        super().carry_out(plan)

    def describe(self, fields):
        return f"{fields['year']} {fields['_ward']} {dict(AGE_BAND_CHOICES)[fields['age_band']]}: " \
               f"{fields['population']:,}"


class UsageRateResource(ReferenceResource):
    """The share of people of an age band using the internet in a year (per cent), by survey."""

    kind = "usage"
    required_columns = (("year",), ("age_band",), ("rate",))
    key_fields = ("year", "source", "age_band")
    value_fields = ("rate",)

    year = OutreachColumn("year", label=gettext_lazy("Year"), header_ja="年", widget=WholeNumberWidget(),
                          aliases=("調査年", "西暦"))
    source = OutreachColumn("source", label=gettext_lazy("Source"), header_ja="調査",
                            widget=ChoiceWidget(InternetUsageRate.Source.choices, synonyms=SOURCE_SYNONYMS),
                            aliases=("出典", "調査名", "survey"))
    age_band = OutreachColumn("age_band", label=gettext_lazy("Age band"), header_ja="年齢階級",
                              widget=ChoiceWidget(SURVEY_BAND_CHOICES, synonyms=SURVEY_BAND_SYNONYMS,
                                                  fold_value=fold_age_band),
                              aliases=("年齢", "age"))
    rate = OutreachColumn("rate", label=gettext_lazy("Usage rate (%)"), header_ja="利用率(%)",
                          widget=DecimalWidget(1), aliases=("利用率", "インターネット利用率", "rate", "%"))

    class Meta:
        model = InternetUsageRate
        fields = ("year", "source", "age_band", "rate")

    def row_fields(self, values, errors):
        year = self.check_year(values, "year", errors)
        self.require(values, "age_band", errors, _("Give the age band."))
        self.require(values, "rate", errors, _("Give the usage rate."))
        rate = values.get("rate")
        if rate is not None and not Decimal(0) <= rate <= Decimal(100):
            errors.add("rate", _("A usage rate is a percentage from 0 to 100."))
        return {"year": year, "source": values.get("source") or InternetUsageRate.Source.NATIONAL,
                "age_band": values.get("age_band"), "rate": rate}

    def describe(self, fields):
        return f"{fields['year']} {InternetUsageRate.Source(fields['source']).label} " \
               f"{dict(SURVEY_BAND_CHOICES)[fields['age_band']]}: {fields['rate']}%"


class KpiTargetResource(ReferenceResource):
    """The targets of the city's plan, per fiscal year and indicator."""

    kind = "kpi"
    required_columns = (("fiscal_year",), ("metric",), ("target",))
    key_fields = ("fiscal_year", "metric")
    value_fields = ("target",)

    fiscal_year = OutreachColumn("fiscal_year", label=gettext_lazy("Fiscal year"), header_ja="年度",
                                 widget=FiscalYearWidget(), aliases=("FY", "会計年度"))
    metric = OutreachColumn("metric", label=gettext_lazy("Indicator"), header_ja="指標",
                            widget=ChoiceWidget(KpiTarget.Metric.choices),
                            aliases=("指標名", "KPI", "metric", "評価指標"))
    target = OutreachColumn("target", label=gettext_lazy("Target"), header_ja="目標値",
                            widget=DecimalWidget(1), aliases=("目標", "target value"))

    class Meta:
        model = KpiTarget
        fields = ("fiscal_year", "metric", "target")

    def row_fields(self, values, errors):
        fiscal_year = values.get("fiscal_year")
        self.require(values, "fiscal_year", errors, _("Give the fiscal year."))
        if fiscal_year is not None and not MIN_YEAR <= fiscal_year <= MAX_YEAR:
            errors.add("fiscal_year", _("%(year)s is not a plausible year.") % {"year": fiscal_year})
        self.require(values, "metric", errors, _("Give the indicator."))
        self.require(values, "target", errors, _("Give the target."))
        target = values.get("target")
        if target is not None and target < 0:
            errors.add("target", _("A target cannot be negative."))
        if (target is not None and values.get("metric") == KpiTarget.Metric.FOUNDATION_ON_MY_OWN
                and target > 100):
            errors.add("target", _("This indicator is a percentage: at most 100."))
        return {"fiscal_year": fiscal_year, "metric": values.get("metric"), "target": target}

    def describe(self, fields):
        return f"FY{fields['fiscal_year']} {KpiTarget.Metric(fields['metric']).label}: {fields['target']}"


REFERENCE_RESOURCES = {resource.kind: resource for resource in (PopulationResource, UsageRateResource,
                                                                 KpiTargetResource)}
