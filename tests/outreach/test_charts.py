"""outreach.charts: pure functions from metrics data to PNG or SVG bytes of a fixed size, with Japanese text in the
IPAexGothic font (no missing glyphs), safe to draw in several threads at once, and alt texts that give the numbers."""

import datetime as dt
import io
import logging
import threading
import warnings
from decimal import Decimal

import pytest
from django.utils import translation
from PIL import Image

from outreach import charts, metrics

pytestmark = pytest.mark.clock

WARDS = [("1", "川崎区"), ("2", "幸区"), ("3", "中原区"), (metrics.NO_WARD, "不明")]
BANDS = [("65-74", "65〜74歳"), ("75+", "75歳以上"), ("", "回答なし")]


def ward_matrix() -> metrics.Matrix:
    values = {("65-74", "1"): 120, ("65-74", "2"): 80, ("75+", "1"): 200, ("75+", "3"): 43, ("", metrics.NO_WARD): 5}
    return metrics.Matrix("年齢階級・居住区別の参加者数", BANDS, WARDS, values, "年齢階級")


def monthly_matrix() -> metrics.Matrix:
    months = [(str(month), f"{month}月") for month in metrics.FISCAL_MONTHS]
    values = {(str(month), "2025"): 10 + month for month in metrics.FISCAL_MONTHS}
    values.update({(str(month), "2024"): month for month in metrics.FISCAL_MONTHS})
    values[("7", "2025")] = 99
    return metrics.Matrix("月別の参加者数", months, [("2025", "FY2025"), ("2024", "FY2024")], values, "月")


def reach_data() -> metrics.Reach:
    per_thousand = {("65-74", "1"): 12.34, ("65-74", "2"): 3.5, ("75+", "1"): 20.0, ("75+", "3"): 0.25}
    rows = BANDS[:2]
    matrix = metrics.Matrix("人口千人あたりの参加者数", rows, WARDS[:3], per_thousand, "年齢階級", totals=False)
    empty = metrics.Matrix("", rows, WARDS[:3], {}, "")
    return metrics.Reach(participants=empty, population=empty, per_thousand=matrix, population_year=2025)


def skill_rows() -> list[metrics.SkillRow]:
    return [
        metrics.SkillRow(1, "電源を入れ、ロックを解除できる", "foundation", 40, 1.2, 2.45, 1.25, 30, 24),
        metrics.SkillRow(6, "LINEで家族にメッセージや写真を送れる", "communicating", 12, 0.5, 1.75, 1.25, 12, 7),
        metrics.SkillRow(9, "マイナンバーカードでオンライン手続ができる", "transacting", 0, None, None, None, 0, 0),
    ]


def kpi_rows() -> list[metrics.KpiProgress]:
    return [
        metrics.KpiProgress("participants_65_plus", "65歳以上の参加者数", Decimal("1200.0"), 858, 71.5, 65.2, False),
        metrics.KpiProgress("foundation_on_my_own", "基礎項目で「一人でできる」の割合（%）", Decimal("70"), 40.0, 57.1,
                            65.2, True),
        metrics.KpiProgress("consultations", "デジタル相談件数", Decimal("500"), None, None, 65.2, False),
    ]


def gap_rows() -> list[metrics.GapRow]:
    return [metrics.GapRow(2021, 96.5, 45.2, 82.9), metrics.GapRow(2023, 97.5, 55.3, 86.2)]


CHARTS = {
    "attendance": lambda fmt: charts.attendance_by_band(ward_matrix(), fmt),
    "monthly": lambda fmt: charts.monthly_trend(monthly_matrix(), fmt, today=dt.date(2025, 11, 15)),
    "reach": lambda fmt: charts.reach_heatmap(reach_data(), fmt),
    "skills": lambda fmt: charts.skills_before_after(skill_rows(), fmt),
    "kpi": lambda fmt: charts.kpi_progress(kpi_rows(), fmt),
    "gap": lambda fmt: charts.divide_gap(gap_rows(), fmt),
    "empty attendance": lambda fmt: charts.attendance_by_band(metrics.Matrix("空", BANDS, WARDS, {}, ""), fmt),
    "empty kpi": lambda fmt: charts.kpi_progress([], fmt),
    "empty gap": lambda fmt: charts.divide_gap([], fmt),
    "empty skills": lambda fmt: charts.skills_before_after(skill_rows()[2:], fmt),
}


@pytest.mark.parametrize("language", ["ja", "en"])
@pytest.mark.parametrize("name", list(CHARTS))
def test_png_has_the_fixed_size_and_no_missing_glyph(name, language, caplog):
    caplog.set_level(logging.WARNING, logger="matplotlib")
    with translation.override(language), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = CHARTS[name]("png")
    assert png.startswith(b"\x89PNG")
    assert Image.open(io.BytesIO(png)).size == (charts.CHART_WIDTH, charts.CHART_HEIGHT) == (960, 540)
    messages = [str(warning.message) for warning in caught] + [record.getMessage() for record in caplog.records]
    assert not [message for message in messages if "Glyph" in message or "findfont" in message], messages


def test_a_missing_glyph_would_be_caught(caplog):
    """The check above can fail: a character in no installed font is reported."""
    caplog.set_level(logging.WARNING, logger="matplotlib")
    matrix = metrics.Matrix("\U0001FAE8", BANDS, WARDS, {("65-74", "1"): 1}, "")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        charts.attendance_by_band(matrix, "png")
    messages = [str(warning.message) for warning in caught] + [record.getMessage() for record in caplog.records]
    assert any("Glyph" in message for message in messages)


def test_svg_keeps_japanese_text_as_text_in_the_japanese_font():
    svg = charts.attendance_by_band(ward_matrix(), "svg").decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for text in ("川崎区", "幸区", "中原区", "65〜74歳", "75歳以上", "年齢階級・居住区別の参加者数"):
        assert text in svg
    assert "IPAexGothic" in svg
    assert 'width="960pt"' in svg or 'width="720pt"' in svg  # 960 px at 96 dpi = 720 pt
    heatmap = charts.reach_heatmap(reach_data(), "svg").decode()
    assert "12.3" in heatmap and "中原区" in heatmap


def test_empty_series_are_left_out_and_many_series_grouped_as_other():
    svg = charts.attendance_by_band(ward_matrix(), "svg").decode()
    assert "不明" in svg  # 5 people with no ward
    matrix = ward_matrix()
    matrix.values = {key: value for key, value in matrix.values.items() if key[1] != "2"}
    assert "幸区" not in charts.attendance_by_band(matrix, "svg").decode()

    topics = [(str(n), f"テーマ{n}") for n in range(1, 12)]
    many = metrics.Matrix("テーマ別", BANDS, topics, {("75+", str(n)): n for n in range(1, 12)}, "年齢階級")
    stacks = charts._stacks(many)
    assert len(stacks) == 8
    assert [label for _key, label, _values in stacks[:-1]] == [f"テーマ{n}" for n in range(5, 12)]
    assert stacks[-1][0] == charts.OTHER and sum(stacks[-1][2]) == 1 + 2 + 3 + 4


def test_charts_draw_the_same_in_parallel_threads():
    """No pyplot, no shared figure: four threads drawing at once get exactly what one thread gets."""
    expected = {name: CHARTS[name]("png") for name in ("attendance", "reach")}
    results, errors = [], []

    def draw(name):
        try:
            results.append((name, CHARTS[name]("png")))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=draw, args=(name,)) for name in ("attendance", "reach") * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == 6
    assert all(content == expected[name] for name, content in results)


def test_alt_texts_summarise_the_numbers():
    with translation.override("en"):
        alt = charts.attendance_by_band_alt(ward_matrix(), by="ward")
        assert alt.startswith("年齢階級・居住区別の参加者数, 448 in all.")
        assert "By age band: 75歳以上 243, 65〜74歳 200, 回答なし 5." in alt
        assert "By ward: 川崎区 320, 幸区 80, 中原区 43, 不明 5." in alt
        assert "By topic" in charts.attendance_by_band_alt(ward_matrix(), by="topic")

        alt = charts.monthly_trend_alt(monthly_matrix())
        assert "FY2025: 280 in all, most in 7月 (99)" in alt
        assert "FY2024: 78 in all, most in 12月 (12)" in alt

        alt = charts.reach_alt(reach_data())
        assert "(population 2025)" in alt
        assert "highest 75歳以上 in 川崎区 (20.0)" in alt and "lowest 75歳以上 in 中原区 (0.3)" in alt  # 0.25 half up
        assert "2 cells have no population figure" in alt

        alt = charts.skills_alt(skill_rows())
        assert "1. 電源を入れ、ロックを解除できる 1.20 → 2.45 (40 people)" in alt
        assert "9. " not in alt  # no pairs, no figure

        alt = charts.kpi_progress_alt(kpi_rows())
        assert alt.startswith("KPI progress, 65% of the fiscal year elapsed")
        assert "65歳以上の参加者数 858 of 1,200 (71.5%, on track)" in alt
        assert "40% of 70% (57.1%, behind)" in alt
        assert "デジタル相談件数 – of 500 (–%, no figure yet)" in alt

        alt = charts.divide_gap_alt(gap_rows())
        assert "2021 ages 13–59 96.5%, 70 and over 45.2%, gap 51.3 points" in alt
        assert "2023 ages 13–59 97.5%, 70 and over 55.3%, gap 42.2 points" in alt

        assert "no attendances" in charts.attendance_by_band_alt(metrics.Matrix("X", BANDS, WARDS, {}, ""))
        assert "no targets" in charts.kpi_progress_alt([])
        assert "no internet usage figures" in charts.divide_gap_alt([])


def test_alt_texts_follow_the_language():
    with translation.override("en"):
        english = charts.kpi_progress_alt(kpi_rows())
    with translation.override("ja"):
        japanese = charts.kpi_progress_alt(kpi_rows())
    # Numbers the same whatever the language (translations may reword the rest).
    for number in ("858", "1,200", "71.5"):
        assert number in english and number in japanese


def test_months_not_yet_started_are_not_drawn():
    assert charts._month_started(2025, 11, dt.date(2025, 11, 15))
    assert not charts._month_started(2025, 12, dt.date(2025, 11, 15))
    assert not charts._month_started(2025, 3, dt.date(2025, 11, 15))  # March 2026
    assert charts._month_started(2024, 3, dt.date(2025, 11, 15))


def test_unknown_format_is_refused():
    with pytest.raises(ValueError):
        charts.divide_gap(gap_rows(), "gif")
