"""What the partners app does: partners and their course groups, memberships, and municipality data."""

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.utils.translation import gettext as _
from wagtail import hooks

from cms.audit import log
from cms.models import MunicipalitySettings
from partners.models import Partner, PartnerMembership, Ward

DEFAULT_MUNICIPALITY_CSV = Path(__file__).resolve().parent.parent / "data" / "municipalities" / "kawasaki.csv"


class MunicipalityDataError(Exception):
    """The municipality CSV is not usable; `errors` lists every problem found, by line."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


def check_digit(code5: str) -> str:
    """Check digit of a local government code (JIS X 0402): weights 6..2, mod 11, last digit of 11 − r."""
    total = sum(int(d) * w for d, w in zip(code5, (6, 5, 4, 3, 2), strict=True))
    return str((11 - total % 11) % 10)


def is_valid_local_government_code(code: str) -> bool:
    return len(code) == 6 and code.isascii() and code.isdigit() and check_digit(code[:5]) == code[5]


@dataclass
class MunicipalityLoadResult:
    municipality: MunicipalitySettings
    wards_created: int
    wards_updated: int
    wards_removed: int = 0


def _read_csv_rows(path: Path | str) -> tuple[list[str], list[tuple[int, dict]]]:
    """Rows with their physical line numbers. UTF-8 (with or without BOM), or Shift_JIS as Excel on Japanese
    Windows saves a CSV."""
    raw = Path(path).read_bytes()
    for encoding in ("utf-8-sig", "cp932"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise MunicipalityDataError([_("The file is neither UTF-8 nor Shift_JIS text.")])
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = []
    for row in reader:
        rows.append((reader.line_num, {k.strip(): (v or "").strip() for k, v in row.items() if k}))
    return [f.strip() for f in reader.fieldnames or []], rows


def _too_long(model, field: str, value: str) -> bool:
    return len(value) > model._meta.get_field(field).max_length


def load_municipality(path: Path | str = DEFAULT_MUNICIPALITY_CSV, *, actor=None) -> MunicipalityLoadResult:
    """Load the municipality and its wards from a CSV (columns: level, code, name, name_en, prefecture_code,
    prefecture_name): one `municipality` row and its `ward` rows. The file is the whole truth: wards matched
    by code are updated, new ones created, and wards not in the file removed (refused while anything still
    refers to them). All or nothing: any problem leaves the database unchanged and every problem is reported.
    """
    errors: list[str] = []
    fieldnames, rows = _read_csv_rows(path)
    missing = {"level", "code", "name"} - set(fieldnames)
    if missing:
        raise MunicipalityDataError([_("Missing columns: %(columns)s") % {"columns": ", ".join(sorted(missing))}])
    municipality_row = None
    ward_rows = []
    seen_codes = set()
    for line, row in rows:
        level, code, name = row.get("level", ""), row.get("code", ""), row.get("name", "")
        if not is_valid_local_government_code(code):
            errors.append(_("Line %(line)d: %(code)s is not a valid local government code.")
                          % {"line": line, "code": code})
        if not name:
            errors.append(_("Line %(line)d: the name is empty.") % {"line": line})
        if code in seen_codes:
            errors.append(_("Line %(line)d: code %(code)s appears twice.") % {"line": line, "code": code})
        seen_codes.add(code)
        too_long = [f for f in ("name", "name_en") if _too_long(Ward, f, row.get(f, ""))]
        if level == "municipality":
            if municipality_row is not None:
                errors.append(_("Line %(line)d: only one municipality row is allowed.") % {"line": line})
            municipality_row = row
            too_long = [f for f in ("name", "name_en", "prefecture_name")
                        if _too_long(MunicipalitySettings, f, row.get(f, ""))]
            prefecture_code = row.get("prefecture_code", "")
            if prefecture_code and prefecture_code != code[:2]:
                errors.append(_("Line %(line)d: the prefecture code %(prefecture)s does not match the first two "
                                "digits of %(code)s.") % {"line": line, "prefecture": prefecture_code, "code": code})
        elif level == "ward":
            ward_rows.append(row)
        else:
            errors.append(_("Line %(line)d: level must be “municipality” or “ward”.") % {"line": line})
        if too_long:
            errors.append(_("Line %(line)d: too long: %(columns)s.") % {"line": line, "columns": ", ".join(too_long)})
    if municipality_row is None:
        errors.append(_("The file has no municipality row."))
    if errors:
        raise MunicipalityDataError(errors)

    with transaction.atomic():
        ward_codes = {row["code"] for row in ward_rows}
        obsolete = Ward.objects.exclude(code__in=ward_codes)
        in_use = [str(ward) for ward in obsolete if ward.venues.exists() or ward.participants.exists()]
        if in_use:
            raise MunicipalityDataError([_("These wards are not in the file but are still used by venues or "
                                           "participants: %(wards)s") % {"wards": ", ".join(in_use)}])
        removed, _details = obsolete.delete()
        municipality = MunicipalitySettings.load()
        municipality.code = municipality_row["code"]
        municipality.name = municipality_row["name"]
        municipality.name_en = municipality_row.get("name_en", "")
        municipality.prefecture_code = municipality_row.get("prefecture_code", "") or municipality.code[:2]
        municipality.prefecture_name = municipality_row.get("prefecture_name", "")
        municipality.save()
        created = updated = 0
        for order, row in enumerate(ward_rows, start=1):
            _ward, was_created = Ward.objects.update_or_create(
                code=row["code"],
                defaults={"name": row["name"], "name_en": row.get("name_en", ""), "sort_order": order})
            created += was_created
            updated += not was_created
        log(municipality, "wagtail.edit", user=actor)
    return MunicipalityLoadResult(municipality=municipality, wards_created=created, wards_updated=updated,
                                  wards_removed=removed)


def partner_changed(partner: Partner) -> None:
    """Tell the apps above that a partner or its staff changed (created, activated or deactivated, a membership added
    or removed): each function registered with the `partner_changed` hook is called with the partner, in the same
    transaction. Courses keeps the staff's page permissions on the partner's course pages in step this way."""
    for hook in hooks.get_hooks("partner_changed"):
        hook(partner)


def create_partner(*, name: str, kind: str, actor=None, **fields) -> Partner:
    """Create a partner; the apps above add what goes with it (courses: its course group page and its staff's
    page-permission group)."""
    with transaction.atomic():
        partner = Partner.objects.create(name=name, kind=kind, **fields)
        partner_changed(partner)
        log(partner, "wagtail.create", user=actor)
    return partner


def add_membership(*, partner: Partner, user, role: str, actor=None) -> PartnerMembership:
    with transaction.atomic():
        membership, _created = PartnerMembership.objects.update_or_create(
            partner=partner, user=user, defaults={"role": role})
        partner_changed(partner)
        log(membership, "wagtail.create" if _created else "wagtail.edit", user=actor)
    return membership


def remove_membership(*, membership: PartnerMembership, actor=None) -> None:
    """Take a staff member out of a partner: their page permissions and private calendar feed go with it."""
    with transaction.atomic():
        partner = membership.partner
        log(membership, "wagtail.delete", user=actor)
        membership.delete()
        partner_changed(partner)
