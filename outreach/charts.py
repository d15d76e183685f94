"""Charts of the outreach figures: pure functions from `outreach.metrics` data to PNG or SVG bytes, and for each
chart a descriptive alt text summarising its main numbers. The view decides HTTP and caching (outreach.dashboard).

Thread-safe by construction: every chart is a `matplotlib.figure.Figure` of its own, drawn on its own canvas;
pyplot (whose global figure registry is not thread-safe) is never imported. The Japanese font (IPAexGothic, shipped
by matplotlib-fontja) is registered once on import and named explicitly on every text of every figure.

Every chart is CHART_WIDTH × CHART_HEIGHT pixels (PNG exactly that size), drawn with the Okabe–Ito palette (safe for
the common colour-vision deficiencies) and, where series could be told apart by colour only, with different line
styles, markers or hatching as well.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal

import matplotlib
import matplotlib_fontja  # noqa: F401  (registers IPAexGothic with matplotlib's font manager on import)
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from outreach import metrics, suppression
from outreach.models import SkillScore

# Process-wide output settings, set once on import, never per request: SVG keeps text as <text> (searchable,
# selectable, assertable, and small) and gets stable ids, so the same figure gives the same bytes.
matplotlib.rcParams["svg.fonttype"] = "none"
matplotlib.rcParams["svg.hashsalt"] = "dekiru"

FONT_FAMILY = ["IPAexGothic", "DejaVu Sans"]  # DejaVu Sans only for the odd symbol IPAexGothic lacks
DPI = 96
CHART_WIDTH, CHART_HEIGHT = 960, 540
FORMATS = {"png": "image/png", "svg": "image/svg+xml"}

# Okabe & Ito (2008), "Color Universal Design": distinguishable with protanopia, deuteranopia and tritanopia.
BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY_BLUE, YELLOW, BLACK = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
SERIES_COLOURS = [BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY_BLUE, YELLOW]
GREY = "#999999"  # "not given" and "other" series
TEXT_COLOUR = "#222222"
GRID_COLOUR = "#DDDDDD"
HEATMAP_COLOURS = "cividis"  # sequential, perceptually uniform, designed for colour-vision deficiencies
LINE_STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D")]

TITLE_SIZE, LABEL_SIZE, TICK_SIZE, NOTE_SIZE = 15, 12, 11, 10


# --- Formatting helpers ---------------------------------------------------------------------------------------


def rounded(value, decimals: int) -> Decimal:
    """`value` rounded half up (四捨五入) to `decimals` places, from its decimal digits: 2.55 → 2.6, 2.59 → 2.6,
    0.05 → 0.1. A float (numpy's too) is read as the shortest text that gives it back, so 2.55 is 2.55, not the
    binary 2.54999…; the same rule as metrics._half_up and the `floatformat` filter, so charts and tables agree."""
    exact = value if isinstance(value, Decimal) else Decimal(str(value))
    return exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def number(value, decimals: int | None = None) -> str:
    """A number as people read it in the active language (grouped thousands), rounded half up to `decimals`
    places when given (Django's number_format would cut the digits off: 2.59 → 2.5); "–" for no value."""
    if value is None:
        return "–"
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and decimals is None:
        decimals = 0 if value.is_integer() else (1 if round(value, 1) == value else 2)
    if decimals is not None and math.isfinite(value):
        value = rounded(value, decimals)
    return number_format(value, decimal_pos=decimals, force_grouping=True)


def _list(items: Iterable[str]) -> str:
    return _(", ").join(items)


def _plain(text) -> str:
    """Text shown literally: matplotlib would read a pair of $ as mathematics."""
    return str(text).replace("$", r"\$")


def _short(text: str, length: int = 22) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


# --- Figure plumbing ------------------------------------------------------------------------------------------


def _figure() -> Figure:
    figure = Figure(figsize=(CHART_WIDTH / DPI, CHART_HEIGHT / DPI), dpi=DPI, layout="constrained",
                    facecolor="white")
    FigureCanvasAgg(figure)
    return figure


def _axes(figure: Figure, title: str):
    axes = figure.add_subplot()
    axes.set_title(_plain(title), fontsize=TITLE_SIZE, color=TEXT_COLOUR, loc="left", fontfamily=FONT_FAMILY)
    axes.tick_params(labelsize=TICK_SIZE, labelcolor=TEXT_COLOUR, labelfontfamily=FONT_FAMILY)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return axes


def _label_axes(axes, *, x: str = "", y: str = "") -> None:
    if x:
        axes.set_xlabel(_plain(x), fontsize=LABEL_SIZE, color=TEXT_COLOUR, fontfamily=FONT_FAMILY)
    if y:
        axes.set_ylabel(_plain(y), fontsize=LABEL_SIZE, color=TEXT_COLOUR, fontfamily=FONT_FAMILY)


def _legend(axes, **kwargs) -> None:
    kwargs.setdefault("loc", "upper left")
    kwargs.setdefault("bbox_to_anchor", (1.01, 1.0))
    legend = axes.legend(frameon=False, prop={"family": FONT_FAMILY, "size": TICK_SIZE}, **kwargs)
    legend.set_title(legend.get_title().get_text() or None, prop={"family": FONT_FAMILY, "size": TICK_SIZE})


def _empty(figure: Figure, title: str, message: str | None = None) -> None:
    axes = _axes(figure, title)
    axes.set_axis_off()
    axes.text(0.5, 0.5, _plain(message or _("No figures for these filters.")), ha="center", va="center",
              fontsize=LABEL_SIZE, color=TEXT_COLOUR, fontfamily=FONT_FAMILY, transform=axes.transAxes)


def _save(figure: Figure, fmt: str) -> bytes:
    """The figure as PNG or SVG bytes. Every text gets the Japanese font, whatever the process-wide defaults."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown chart format: {fmt}")
    figure.draw_without_rendering()  # creates the tick labels, so that they get the font too
    for text in figure.findobj(Text):
        text.set_fontfamily(FONT_FAMILY)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=DPI, metadata={"Software": None} if fmt == "png" else {"Date": None})
    return buffer.getvalue()


def _series_colours(keys: Sequence[str], grey_keys: Iterable[str]) -> list[str]:
    greys, colours, index = set(grey_keys), [], 0
    for key in keys:
        if key in greys:
            colours.append(GREY)
        else:
            colours.append(SERIES_COLOURS[index % len(SERIES_COLOURS)])
            index += 1
    return colours


# --- Attendance by age band, stacked by ward or topic ---------------------------------------------------------

OTHER = "__other__"
GREY_COLUMNS = {metrics.NO_WARD, OTHER}


def _stacks(matrix: metrics.Matrix, limit: int = 8) -> list[tuple[str, str, list[float]]]:
    """The series to stack (column key, label, value per row): the largest `limit` - 1 columns and the rest summed
    as "Other" when there are more than `limit` (a chart with more colours than that cannot be read); empty columns
    are left out."""
    series = [(key, label, [matrix.value(row, key) or 0 for row, _label in matrix.rows])
              for key, label in matrix.columns]
    series = [item for item in series if any(item[2])]
    if len(series) <= limit:
        return series
    ranked = sorted(series, key=lambda item: (item[0] in GREY_COLUMNS, -sum(item[2])))
    kept, rest = ranked[: limit - 1], ranked[limit - 1:]
    kept_keys = {key for key, _label, _values in kept}
    kept = [item for item in series if item[0] in kept_keys]  # the original order
    other = [sum(values) for values in zip(*(values for _key, _label, values in rest), strict=True)]
    return [*kept, (OTHER, _("Other"), other)]


def attendance_by_band(matrix: metrics.Matrix, fmt: str = "png") -> bytes:
    """Attendances per age band (bars), stacked by the matrix's columns (wards or topics)."""
    figure = _figure()
    series = _stacks(matrix)
    if not series:
        _empty(figure, matrix.title)
        return _save(figure, fmt)
    axes = _axes(figure, matrix.title)
    labels = [_plain(label) for _key, label in matrix.rows]
    positions = range(len(labels))
    bottoms = [0.0] * len(labels)
    for (key, label, values), colour in zip(series, _series_colours([s[0] for s in series], GREY_COLUMNS),
                                            strict=True):
        axes.bar(positions, values, bottom=bottoms, color=colour, edgecolor="white", linewidth=0.6,
                 label=_plain(_short(str(label), 16)), hatch="//" if key == OTHER else None)
        bottoms = [bottom + value for bottom, value in zip(bottoms, values, strict=True)]
    for position, total in zip(positions, bottoms, strict=True):
        if total:
            axes.annotate(number(total), (position, total), xytext=(0, 2), textcoords="offset points",
                          ha="center", va="bottom", fontsize=NOTE_SIZE, color=TEXT_COLOUR, fontfamily=FONT_FAMILY)
    axes.set_xticks(list(positions), labels, rotation=30 if len(labels) > 6 else 0,
                    ha="right" if len(labels) > 6 else "center")
    axes.yaxis.grid(True, color=GRID_COLOUR)
    axes.set_axisbelow(True)
    axes.set_ylim(0, max(bottoms) * 1.1 or 1)
    _label_axes(axes, x=matrix.row_heading, y=_("Attendances"))
    _legend(axes, reverse=True)  # the same order as the stack
    return _save(figure, fmt)


def attendance_by_band_alt(matrix: metrics.Matrix, *, by: str = "ward") -> str:
    """E.g. "Attendances by age band and ward of residence, 1,479 in all. By age band: 75–79 338, 70–74 333, ….
    By ward: 多摩区 282, …." (largest first, zeros left out). `by` names the columns: "ward" or "topic"."""
    total = matrix.grand_total
    if not total:
        return _("%(title)s: no attendances for these filters.") % {"title": matrix.title}
    by_row = sorted(((matrix.row_total(key), label) for key, label in matrix.rows), key=lambda item: -item[0])
    by_column = sorted(((matrix.column_total(key), label) for key, label in matrix.columns), key=lambda item: -item[0])
    text = (_("%(title)s, %(total)s in all. By age band: %(rows)s. By topic: %(columns)s.") if by == "topic"
            else _("%(title)s, %(total)s in all. By age band: %(rows)s. By ward: %(columns)s."))
    return text % {
        "title": matrix.title, "total": number(total),
        "rows": _list(f"{label} {number(value)}" for value, label in by_row if value),
        "columns": _list(f"{label} {number(value)}" for value, label in by_column if value),
    }


# --- Monthly trend by fiscal year -----------------------------------------------------------------------------


def _month_started(fiscal_year: int, month: int, today: dt.date | None) -> bool:
    return today is None or metrics.month_bounds(fiscal_year, month)[0] <= today


def monthly_trend(matrix: metrics.Matrix, fmt: str = "png", *, today: dt.date | None = None) -> bytes:
    """Attendances per month, April to March, one line per fiscal year (the matrix's columns, newest first).
    Months that have not started by `today` are left out rather than drawn as zeros."""
    figure = _figure()
    if matrix.is_empty():
        _empty(figure, matrix.title)
        return _save(figure, fmt)
    axes = _axes(figure, matrix.title)
    positions = list(range(len(matrix.rows)))
    colours = [BLUE, ORANGE, GREEN, PURPLE]
    for index, (key, label) in enumerate(matrix.columns):
        fiscal_year = int(key)
        values = [matrix.value(row, key) if _month_started(fiscal_year, int(row), today) else math.nan
                  for row, _label in matrix.rows]
        style, marker = LINE_STYLES[index % len(LINE_STYLES)]
        axes.plot(positions, values, linestyle=style, marker=marker, color=colours[index % len(colours)],
                  linewidth=3 if index == 0 else 1.8, markersize=7 if index == 0 else 5, label=_plain(label))
    axes.set_xticks(positions, [_plain(label) for _key, label in matrix.rows])
    axes.set_ylim(bottom=0)
    axes.yaxis.grid(True, color=GRID_COLOUR)
    axes.set_axisbelow(True)
    _label_axes(axes, x=matrix.row_heading, y=_("Attendances"))
    _legend(axes, title=_("Fiscal year"))
    return _save(figure, fmt)


def monthly_trend_alt(matrix: metrics.Matrix) -> str:
    """E.g. "Attendances per month. FY2026: 1,479 in all, most in July (355). FY2025: 1,243 in all, …"."""
    if matrix.is_empty():
        return _("%(title)s: no attendances for these filters.") % {"title": matrix.title}
    parts = []
    for key, label in matrix.columns:
        total = matrix.column_total(key)
        if not total:
            parts.append(_("%(year)s: none") % {"year": label})
            continue
        peak_value, peak_label = max(((matrix.value(row, key) or 0, row_label) for row, row_label in matrix.rows),
                                     key=lambda item: item[0])
        parts.append(_("%(year)s: %(total)s in all, most in %(month)s (%(peak)s)") % {
            "year": label, "total": number(total), "month": peak_label, "peak": number(peak_value)})
    return _("%(title)s. %(years)s.") % {"title": matrix.title, "years": _(". ").join(parts)}


# --- Reach: heat map of participants per 1,000 residents ------------------------------------------------------


def reach_heatmap(reach: metrics.Reach, fmt: str = "png") -> bytes:
    """Participants per 1,000 residents by age band (rows) and ward (columns); cells without a population are
    blank and marked "–"."""
    matrix = reach.per_thousand
    figure = _figure()
    title = matrix.title
    if reach.population_year is not None:
        title = _("%(title)s (population %(year)s)") % {"title": title, "year": reach.population_year}
    cells = [[matrix.value(row, column) for column, _label in matrix.columns] for row, _label in matrix.rows]
    known = [value for line in cells for value in line if value is not None]
    if not known:
        _empty(figure, title, _("No population figures to compare with.") if reach.population_year is None
               else None)
        return _save(figure, fmt)
    axes = _axes(figure, title)
    for side in ("left", "bottom"):
        axes.spines[side].set_visible(False)
    data = [[math.nan if value is None else value for value in line] for line in cells]
    highest = max(known) or 1
    colours = matplotlib.colormaps[HEATMAP_COLOURS].with_extremes(bad="#F2F2F2")  # a copy: never the registered map
    image = axes.imshow(data, cmap=colours, vmin=0, vmax=highest, aspect="auto")
    for y, line in enumerate(cells):
        for x, value in enumerate(line):
            # cividis runs from dark blue to light yellow: light text on the darker half.
            colour = "white" if value is not None and value < highest * 0.55 else TEXT_COLOUR
            axes.text(x, y, number(value, 1) if value is not None else "–", ha="center", va="center",
                      fontsize=NOTE_SIZE, color=colour if value is not None else "#666666", fontfamily=FONT_FAMILY)
    axes.set_xticks(range(len(matrix.columns)), [_plain(label) for _key, label in matrix.columns])
    axes.set_yticks(range(len(matrix.rows)), [_plain(label) for _key, label in matrix.rows])
    axes.tick_params(length=0)
    axes.xaxis.tick_top()
    colourbar = figure.colorbar(image, ax=axes, shrink=0.8)
    colourbar.set_label(_("Participants per 1,000 residents"), fontsize=TICK_SIZE, fontfamily=FONT_FAMILY)
    colourbar.ax.tick_params(labelsize=TICK_SIZE, labelfontfamily=FONT_FAMILY)
    colourbar.outline.set_visible(False)
    return _save(figure, fmt)


def reach_alt(reach: metrics.Reach) -> str:
    """E.g. "Participants per 1,000 residents by age band and ward (population 2025): highest 75–79 in 多摩区 (12.3),
    lowest 20–29 in 中原区 (0.1)."."""
    matrix = reach.per_thousand
    cells = [(matrix.value(row, column), row_label, column_label)
             for row, row_label in matrix.rows for column, column_label in matrix.columns]
    known = [cell for cell in cells if cell[0] is not None]
    if not known:
        return _("%(title)s: no population figures to compare with.") % {"title": matrix.title}
    highest = max(known, key=lambda cell: cell[0])
    lowest = min(known, key=lambda cell: cell[0])
    text = _("%(title)s (population %(year)s): highest %(high_band)s in %(high_ward)s (%(high)s), "
             "lowest %(low_band)s in %(low_ward)s (%(low)s).") % {
        "title": matrix.title, "year": reach.population_year,
        "high_band": highest[1], "high_ward": highest[2], "high": number(highest[0], 1),
        "low_band": lowest[1], "low_ward": lowest[2], "low": number(lowest[0], 1)}
    missing = len(cells) - len(known)
    if missing:
        text += " " + _("%(count)s cells have no population figure.") % {"count": number(missing)}
    return text


# --- Skills before and after ----------------------------------------------------------------------------------


def skills_before_after(rows: Sequence[metrics.SkillRow], fmt: str = "png") -> bytes:
    """Per can-do item, the mean answer before and after the course (0–3), as paired horizontal bars."""
    figure = _figure()
    title = _("Can-do items: mean answer before and after the course")
    rows = [row for row in rows if row.pairs]
    if not rows:
        _empty(figure, title, _("No paired before-and-after answers for these filters."))
        return _save(figure, fmt)
    axes = _axes(figure, title)
    height = 0.38
    positions = list(range(len(rows)))
    before = axes.barh([p - height / 2 for p in positions], [row.mean_pre or 0 for row in rows], height=height,
                       color=ORANGE, label=_("Before"), hatch="..", edgecolor="white", linewidth=0.4)
    after = axes.barh([p + height / 2 for p in positions], [row.mean_post or 0 for row in rows], height=height,
                      color=BLUE, label=_("After"))
    for bars in (before, after):
        axes.bar_label(bars, labels=[number(bar.get_width(), 2) for bar in bars], padding=2, fontsize=9,
                       color=TEXT_COLOUR, fontfamily=FONT_FAMILY)
    axes.set_yticks(positions, [_plain(_short(f"{row.number}. {row.text}", 24)) for row in rows])
    axes.invert_yaxis()
    axes.set_xlim(0, 3.35)
    axes.set_xticks(range(4), [_plain(f"{score.value} {score.label}") for score in SkillScore.Score],
                    fontsize=9)
    axes.xaxis.grid(True, color=GRID_COLOUR)
    axes.set_axisbelow(True)
    _legend(axes, loc="lower right", bbox_to_anchor=None)
    return _save(figure, fmt)


def skills_alt(rows: Sequence[metrics.SkillRow]) -> str:
    """E.g. "Can-do items, mean answer (0–3) before → after: 1. 電源を入れ… 1.2 → 2.5 (40 people); …"."""
    rows = [row for row in rows if row.pairs]
    if not rows:
        return _("Can-do items: no paired before-and-after answers for these filters.")
    return _("Can-do items, mean answer (0–3) before → after: %(items)s.") % {"items": _("; ").join(
        _("%(item)s %(before)s → %(after)s (%(pairs)s people)") % {
            "item": f"{row.number}. {row.text}", "before": number(row.mean_pre, 2), "after": number(row.mean_post, 2),
            "pairs": number(row.pairs)} for row in rows)}


# --- KPI progress ---------------------------------------------------------------------------------------------


def _kpi_value(value, row: metrics.KpiProgress) -> str:
    return f"{number(value)}%" if row.is_percentage and value is not None else number(value)


def kpi_progress(rows: Sequence[metrics.KpiProgress], fmt: str = "png") -> bytes:
    """Each KPI as a horizontal bar: the actual figure as a percentage of its target, with the target (100%) and
    the share of the fiscal year elapsed marked. Bars behind schedule are hatched as well as coloured."""
    figure = _figure()
    title = _("KPI progress: per cent of the year's target")
    if not rows:
        _empty(figure, title, _("No KPI targets for this fiscal year."))
        return _save(figure, fmt)
    axes = _axes(figure, title)
    positions = list(range(len(rows)))
    progress = [row.progress or 0 for row in rows]
    behind = [row.on_track is False for row in rows]
    bars = axes.barh(positions, progress, height=0.55, color=[VERMILLION if late else BLUE for late in behind],
                     edgecolor="white")
    for bar, late in zip(bars, behind, strict=True):
        if late:
            bar.set_hatch("//")
    labels = [_("%(progress)s%% (%(actual)s of %(target)s)") % {
        "progress": number(row.progress, 1), "actual": _kpi_value(row.actual, row),
        "target": _kpi_value(row.target, row)} if row.progress is not None else _("no figure yet") for row in rows]
    axes.bar_label(bars, labels=labels, padding=4, fontsize=NOTE_SIZE, color=TEXT_COLOUR, fontfamily=FONT_FAMILY)
    elapsed = rows[0].elapsed
    axes.axvline(100, color=TEXT_COLOUR, linewidth=1.5, label=_("Target (100%)"))
    axes.axvline(elapsed, color=GREEN, linewidth=2, linestyle="--",
                 label=_("Share of the year elapsed (%(elapsed)s%%)") % {"elapsed": number(elapsed, 0)})
    top = max(130.0, max(progress) * 1.35)
    axes.set_yticks(positions, [_plain(_short(row.label, 20)) for row in rows])
    axes.set_ylim(len(rows) - 0.4, -0.6)
    axes.set_xlim(0, top)
    axes.xaxis.grid(True, color=GRID_COLOUR)
    axes.set_axisbelow(True)
    _label_axes(axes, x=_("Share of target (%)"))
    figure.legend(loc="outside lower center", ncols=2, frameon=False, prop={"family": FONT_FAMILY, "size": TICK_SIZE})
    return _save(figure, fmt)


def kpi_progress_alt(rows: Sequence[metrics.KpiProgress]) -> str:
    """E.g. "KPI progress, 67% of the fiscal year elapsed: Participants 1,018 of 1,200 (84.8%, on track); …"."""
    if not rows:
        return _("KPI progress: no targets for this fiscal year.")
    status = {True: _("on track"), False: _("behind"), None: _("no figure yet")}
    return _("KPI progress, %(elapsed)s%% of the fiscal year elapsed: %(items)s.") % {
        "elapsed": number(rows[0].elapsed, 0), "items": _("; ").join(
            _("%(label)s %(actual)s of %(target)s (%(progress)s%%, %(status)s)") % {
                "label": row.label, "actual": _kpi_value(row.actual, row), "target": _kpi_value(row.target, row),
                "progress": number(row.progress, 1), "status": status[row.on_track]} for row in rows)}


# --- The divide gap -------------------------------------------------------------------------------------------


def divide_gap(rows: Sequence[metrics.GapRow], fmt: str = "png") -> bytes:
    """Internet use of ages 13–59 and of ages 70+ per survey year, with the gap between them annotated."""
    figure = _figure()
    title = _("The digital divide: internet use of ages 13–59 and 70 and over")
    rows = [row for row in rows if row.younger is not None or row.older is not None]
    if not rows:
        _empty(figure, title, _("No internet usage figures have been entered."))
        return _save(figure, fmt)
    axes = _axes(figure, title)
    years = [row.year for row in rows]
    axes.plot(years, [math.nan if row.younger is None else row.younger for row in rows], color=BLUE, marker="o",
              linewidth=2.5, label=_("Ages 13–59"))
    axes.plot(years, [math.nan if row.older is None else row.older for row in rows], color=VERMILLION, marker="s",
              linestyle="--", linewidth=2.5, label=_("Ages 70 and over"))
    for row in rows:
        if row.gap is None:
            continue
        axes.annotate("", xy=(row.year, row.older), xytext=(row.year, row.younger),
                      arrowprops={"arrowstyle": "<->", "color": GREY, "linewidth": 1.2})
        axes.annotate(_("gap %(gap)s pt") % {"gap": number(row.gap, 1)}, ((row.year), (row.younger + row.older) / 2),
                      xytext=(6, 0), textcoords="offset points", va="center", fontsize=NOTE_SIZE,
                      color=TEXT_COLOUR, fontfamily=FONT_FAMILY)
    axes.set_xticks(years, [str(year) for year in years])
    if len(years) == 1:
        axes.set_xlim(years[0] - 1, years[0] + 1)
    axes.set_ylim(0, 105)
    axes.yaxis.grid(True, color=GRID_COLOUR)
    axes.set_axisbelow(True)
    _label_axes(axes, x=_("Survey year"), y=_("Internet use (%)"))
    _legend(axes)
    return _save(figure, fmt)


def divide_gap_alt(rows: Sequence[metrics.GapRow]) -> str:
    """E.g. "Internet use by age: 2021 ages 13–59 96.1%, 70 and over 44.6%, gap 51.5 points; 2023 …"."""
    rows = [row for row in rows if row.younger is not None or row.older is not None]
    if not rows:
        return _("The digital divide: no internet usage figures have been entered.")
    return _("Internet use by age: %(years)s.") % {"years": _("; ").join(
        _("%(year)s ages 13–59 %(younger)s%%, 70 and over %(older)s%%, gap %(gap)s points") % {
            "year": row.year, "younger": number(row.younger, 1), "older": number(row.older, 1),
            "gap": number(row.gap, 1)} for row in rows)}


# --- Channel mix: how residents can be reached, by age band ---------------------------------------------------

# Colours and hatching per channel (told apart without colour too); "call only" is the figure the city watches.
CHANNEL_STYLES = {"line": (GREEN, None), "email": (BLUE, ".."), "sms": (ORANGE, "xx"), "call": (VERMILLION, "//")}


def _published(value) -> bool:
    return isinstance(value, int | float)


def channel_mix(matrix: metrics.Matrix, fmt: str = "png") -> bytes:
    """Residents per age band (bars), stacked by the best channel that reaches them. Only published figures are
    drawn: a hidden (suppressed) cell is left out of its bar, and the bar is labelled with its total or the mark."""
    figure = _figure()
    rows = [(key, label) for key, label in matrix.rows if matrix.row_total(key)]
    if not rows or not matrix.grand_total:
        _empty(figure, matrix.title)
        return _save(figure, fmt)
    axes = _axes(figure, matrix.title)
    positions = range(len(rows))
    bottoms = [0.0] * len(rows)
    for key, label in matrix.columns:
        values = [matrix.value(row, key) for row, _label in rows]
        heights = [value if _published(value) else 0 for value in values]
        colour, hatch = CHANNEL_STYLES.get(key, (GREY, None))
        axes.bar(positions, heights, bottom=bottoms, color=colour, edgecolor="white", linewidth=0.6,
                 hatch=hatch, label=_plain(label))
        bottoms = [bottom + height for bottom, height in zip(bottoms, heights, strict=True)]
    for position, (row, _label), top in zip(positions, rows, bottoms, strict=True):
        total = matrix.row_total(row)
        axes.annotate(number(total) if _published(total) else str(total), (position, top), xytext=(0, 2),
                      textcoords="offset points", ha="center", va="bottom", fontsize=NOTE_SIZE, color=TEXT_COLOUR,
                      fontfamily=FONT_FAMILY)
    axes.set_xticks(list(positions), [_plain(label) for _key, label in rows])
    axes.yaxis.grid(True, color=GRID_COLOUR)
    axes.set_axisbelow(True)
    axes.set_ylim(0, max(bottoms) * 1.15 or 1)
    _label_axes(axes, x=matrix.row_heading, y=pgettext("channel mix", "Residents"))
    _legend(axes, reverse=True)
    return _save(figure, fmt)


def channel_mix_alt(matrix: metrics.Matrix) -> str:
    """E.g. "Residents by the best channel that reaches them, 240 in all. 75 and over: LINE 12, E-mail X, SMS 15,
    Call only 40. … X: fewer than 10 people, not shown." (the numbers of the table, hidden ones as the mark)."""
    total = matrix.grand_total
    if not total:
        return _("%(title)s: no residents for these filters.") % {"title": matrix.title}

    def shown(value):
        return number(value) if _published(value) else str(value)

    parts = []
    for row, label in matrix.rows:
        if not matrix.row_total(row):
            continue
        cells = _list(f"{column_label} {shown(matrix.value(row, column))}" for column, column_label in matrix.columns)
        parts.append(f"{label}: {cells}")
    text = _("%(title)s, %(total)s in all. %(rows)s.") % {
        "title": matrix.title, "total": shown(total), "rows": _("; ").join(parts)}
    hidden = getattr(matrix, "hidden", None)
    if hidden:
        text += " " + _("X: a figure of fewer than %(n)s people, or one that would reveal it, is not shown.") % {
            "n": suppression.threshold()}
    return text
