"""Issue 19, city figures: the reach heat map, its alt text and the reach table show the same numbers, rounded
half up (四捨五入) to one decimal (2.55 → 2.6, 2.59 → 2.6, 0.05 → 0.1; Django's number_format alone cuts 2.59 to 2.5);
the table has totals that are rates of their own (participants over residents, never a sum of rates) and says its
unit; reach is shown as 65–74 / 75+ by default, every band a plain link away."""

import re

import pytest
from django.utils import translation

from outreach import bands, charts, dashboard, metrics
from outreach.admin.dashboard import reach_table
from tests.outreach.test_dashboard import DASHBOARD, Tables, _reference_data, analyst, query, world  # noqa: F401

WARDS = [("1", "川崎区"), ("2", "幸区"), ("3", "中原区")]
ROWS = [("65-74", "65〜74歳"), ("75+", "75歳以上")]


def reach_of(values: dict) -> metrics.Reach:
    """A reach whose cells hold `values` as they are (not worked out from people): the formatting is tested."""
    matrix = metrics.RateMatrix("人口千人あたりの参加者数", ROWS, WARDS, values, "年齢階級")
    empty = metrics.Matrix("", ROWS, WARDS, {}, "")
    return metrics.Reach(participants=empty, population=empty, per_thousand=matrix, population_year=2025)


@pytest.mark.parametrize(("value", "shown"), [(2.55, "2.6"), (2.59, "2.6"), (0.05, "0.1"), (2.549, "2.5"),
                                              (2.45, "2.5"), (0.04, "0.0"), (1234.56, "1,234.6"), (3.0, "3.0")])
def test_numbers_round_half_up(value, shown):
    with translation.override("en"):
        assert charts.number(value, 1) == shown


def test_heat_map_alt_text_and_table_show_the_same_numbers():
    values = {("65-74", "1"): 2.55, ("65-74", "2"): 2.59, ("75+", "1"): 0.05, ("75+", "3"): 12.0}
    reach = reach_of(values)
    with translation.override("en"):
        svg = charts.reach_heatmap(reach, "svg").decode()
        alt = charts.reach_alt(reach)
        table = reach_table(reach.per_thousand)
    drawn = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    cells = [cell for line in table["lines"] for cell in line[1:len(WARDS) + 1]]
    assert cells == ["2.6", "2.6", None, "0.1", None, "12.0"]
    for cell in filter(None, cells):
        assert cell in drawn, cell
    assert "2.5" not in drawn  # the truncation of 2.55 and 2.59
    assert "highest 75歳以上 in 中原区 (12.0)" in alt and "lowest 75歳以上 in 川崎区 (0.1)" in alt


@pytest.mark.django_db
@pytest.mark.clock
def test_page_table_chart_and_download_agree(client, world, analyst):  # noqa: F811
    """On the dashboard: the reach table's cells are the alt text's and the SVG's numbers, and its CSV's."""
    _reference_data(world)
    client.force_login(analyst)
    html = client.get(f"{DASHBOARD}?{query(world)}").content.decode()
    tables = Tables(html)
    table = tables.tables["Participants per 1,000 residents"]
    header, *lines = table
    assert header[0] == "Age band (participants per 1,000 residents)" and header[-1] == "Whole city"
    assert [line[0] for line in lines] == ["Under 65", "65–74", "75 and over", "All ages"]  # the default roll-up
    second = header.index(str(world["second"].name_en or world["second"].name))
    assert lines[1][second] == "2.5"  # 5 participants aged 70–74 of 2,000 residents aged 65–74
    svg_url = re.search(r'href="(/admin/outreach/charts/reach\.svg\?[^"]*)"', html).group(1).replace("&amp;", "&")
    assert "reach_bands=elderly" in svg_url
    svg = client.get(svg_url).content.decode()
    drawn = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    figures = [cell for line in lines[:-1] for cell in line[1:-1] if cell not in ("", "–")]
    assert figures and all(cell in drawn for cell in figures)
    quoted = re.findall(r"\((\d[\d.,]*)\)", tables.alts["reach.png"])  # highest and lowest
    assert quoted and all(figure in figures for figure in quoted)


@pytest.mark.django_db
@pytest.mark.clock
def test_totals_divide_people_by_residents(client, world, analyst):  # noqa: F811
    """12 people aged 85+ in the first ward (2,000 residents aged 75+ there, 2,000 aged 65–74), 5 aged 70–74 in the
    second (2,000 residents each band): the first ward's all ages is 12 per 4,000, the city's 17 per 8,000."""
    _reference_data(world)
    client.force_login(analyst)
    header, *lines = Tables(client.get(f"{DASHBOARD}?{query(world)}").content.decode()).tables[
        "Participants per 1,000 residents"]
    first = header.index(str(world["first"].name_en or world["first"].name))
    second = header.index(str(world["second"].name_en or world["second"].name))
    total = lines[-1]
    assert total[0] == "All ages"
    assert total[first] == "3.0" and total[second] == "1.3"  # 12 / 4,000 and 5 / 4,000 (1.25, half up)
    assert total[-1] == "2.1"  # 17 / 8,000 (2.125): not 3.0 + 1.3, nor their mean
    assert lines[2][-1] == "3.0" and lines[1][-1] == "1.3"  # 75+: 12 / 4,000; 65–74: 5 / 4,000


@pytest.mark.django_db
@pytest.mark.clock
def test_every_band_is_a_link_away_without_javascript(client, world, analyst):  # noqa: F811
    _reference_data(world)
    client.force_login(analyst)
    html = client.get(f"{DASHBOARD}?{query(world)}").content.decode()
    links = re.findall(r'<a href="([^"]*reach_bands=(\w+)[^"]*)"( aria-current="true")?', html)
    assert {(rollup, bool(current)) for _url, rollup, current in links} >= {("elderly", True), ("detail", False)}
    detail = next(url for url, rollup, _current in links if rollup == "detail").replace("&amp;", "&")
    html = client.get(f"{DASHBOARD}{detail.split('#')[0]}").content.decode()
    header, *lines = Tables(html).tables["Participants per 1,000 residents"]
    assert [line[0] for line in lines] == [str(bands.label(key)) for key in bands.keys(bands.DETAIL)] + ["All ages"] \
        or "70–74" in [line[0] for line in lines]
    assert 'name="reach_bands" value="detail"' in html  # the filter form keeps the choice
    assert "reach_bands=detail" in re.search(r'src="(/admin/outreach/charts/reach\.png[^"]*)"', html).group(1)
    # The page's own roll-up filter applies to reach when no reach view is asked for.
    html = client.get(f"{DASHBOARD}?{query(world)}&rollup=decade").content.decode()
    lines = Tables(html).tables["Participants per 1,000 residents"][1:]
    assert "70–79" in [line[0] for line in lines]
    # Nonsense is the default, not an error.
    assert client.get(f"{DASHBOARD}?{query(world)}&reach_bands=%3Cx%3E").status_code == 200


def test_reach_rollup_default():
    filters = metrics.Filters(fiscal_year=2025)
    assert dashboard.reach_rollup(filters) == bands.ELDERLY
    assert dashboard.reach_rollup(filters, "detail") == bands.DETAIL
    assert dashboard.reach_rollup(filters.with_(rollup=bands.DECADE)) == bands.DECADE
    assert dashboard.reach_rollup(filters, "nonsense") == bands.ELDERLY
