"""Age bands and how reports roll them up (PRODUCT.md): stored bands, 10-year bands as the national survey uses,
and the elderly-care split 65–74 (前期高齢者) / 75+ (後期高齢者).

A rolled band is a key with its member bands; the same key means the same members in every roll-up, so one
dictionary (`MEMBERS`) resolves a band filter whichever roll-up it came from.
"""

from django.db.models import Case, CharField, Value, When
from django.utils.translation import gettext_lazy as _

NOT_GIVEN = ""
STORED = ["u20", "20-29", "30-39", "40-49", "50-59", "60-64", "65-69", "70-74", "75-79", "80-84", "85+"]

DETAIL = "detail"
DECADE = "decade"
ELDERLY = "elderly"
ROLLUP_CHOICES = [
    (DETAIL, _("As recorded")),
    (DECADE, _("10-year bands")),
    (ELDERLY, _("Under 65 / 65–74 / 75+")),
]

LABELS = {
    "u20": _("Under 20"), "20-29": _("20–29"), "30-39": _("30–39"), "40-49": _("40–49"), "50-59": _("50–59"),
    "60-64": _("60–64"), "65-69": _("65–69"), "70-74": _("70–74"), "75-79": _("75–79"), "80-84": _("80–84"),
    "85+": _("85 and over"), "60-69": _("60–69"), "70-79": _("70–79"), "80+": _("80 and over"),
    "u65": _("Under 65"), "65-74": _("65–74"), "75+": _("75 and over"), NOT_GIVEN: _("Not given"),
}

ROLLUPS: dict[str, list[tuple[str, list[str]]]] = {
    DETAIL: [(band, [band]) for band in STORED],
    DECADE: [("u20", ["u20"]), ("20-29", ["20-29"]), ("30-39", ["30-39"]), ("40-49", ["40-49"]),
             ("50-59", ["50-59"]), ("60-69", ["60-64", "65-69"]), ("70-79", ["70-74", "75-79"]),
             ("80+", ["80-84", "85+"])],
    ELDERLY: [("u65", ["u20", "20-29", "30-39", "40-49", "50-59", "60-64"]), ("65-74", ["65-69", "70-74"]),
              ("75+", ["75-79", "80-84", "85+"])],
}

MEMBERS: dict[str, list[str]] = {key: members for rollup in ROLLUPS.values() for key, members in rollup}
AGED_65_PLUS = ["65-69", "70-74", "75-79", "80-84", "85+"]
MEMBERS["65+"] = AGED_65_PLUS
LABELS["65+"] = _("65 and over")


def keys(rollup: str) -> list[str]:
    """The band keys of a roll-up, youngest first (without "not given")."""
    return [key for key, _members in ROLLUPS[rollup]]


def label(key: str):
    return LABELS.get(key, key)


def roll(band: str, rollup: str) -> str:
    """The key of `rollup` that a stored band falls in ("" for "not given" or an unknown band)."""
    for key, members in ROLLUPS[rollup]:
        if band in members:
            return key
    return NOT_GIVEN


def rolled(field: str, rollup: str):
    """A database expression mapping the stored band in `field` to its key in `rollup`."""
    if rollup == DETAIL:
        from django.db.models import F

        return F(field)
    return Case(*[When(**{f"{field}__in": members}, then=Value(key)) for key, members in ROLLUPS[rollup]],
                default=Value(NOT_GIVEN), output_field=CharField())


# The national communications usage survey's bands, and which stored bands the city's population counts for each.
# The survey's 13–19 is weighted with the city's under-20 population (the nearest band the city holds).
SURVEY_BANDS_OF_STORED = {
    "u20": "13-19", "20-29": "20-29", "30-39": "30-39", "40-49": "40-49", "50-59": "50-59",
    "60-64": "60-69", "65-69": "60-69", "70-74": "70-79", "75-79": "70-79", "80-84": "80+", "85+": "80+",
}
# The divide gap compares ages 13–59 with ages 70 and over (PRODUCT.md).
GAP_YOUNGER = ["13-19", "20-29", "30-39", "40-49", "50-59"]
GAP_OLDER = ["70-79", "80+"]
