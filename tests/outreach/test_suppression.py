"""Small-cell suppression (outreach.suppression): every hidden entry of a published table, totals included, must
stay hidden from someone who adds and subtracts the published numbers, knowing that counts are not negative.

The attacks below do not reuse the module's reasoning (bridges of a graph): they solve the linear equations of the
table with numpy, narrow each hidden entry's interval from the row and column totals (the "shuttle" attack), and
for small tables list every table consistent with what is published.
"""

import itertools
import math

import numpy as np
import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from outreach import suppression
from outreach.suppression import extend, primary_mask, suppress

# --- Attacks ------------------------------------------------------------------------------------------------------


def relations(extended):
    """Each row and column of the extended table as (cells, total): the cells add up to the total."""
    n_rows, n_columns = len(extended), len(extended[0])
    lines = [([(i, j) for j in range(n_columns - 1)], (i, n_columns - 1)) for i in range(n_rows)]
    lines += [([(i, j) for i in range(n_rows - 1)], (n_rows - 1, j)) for j in range(n_columns)]
    return lines


def hidden_entries(mask):
    return [(i, j) for i, row in enumerate(mask) for j, hidden in enumerate(row) if hidden]


def linearly_determined(extended, mask) -> set:
    """Hidden entries that a combination of the published row and column sums gives exactly."""
    unknowns = hidden_entries(mask)
    if not unknowns:
        return set()
    index = {entry: k for k, entry in enumerate(unknowns)}
    equations = []
    for cells, total in relations(extended):
        coefficients = np.zeros(len(unknowns))
        for entry in cells:
            if entry in index:
                coefficients[index[entry]] += 1
        if total in index:
            coefficients[index[total]] -= 1
        if coefficients.any():
            equations.append(coefficients)
    if not equations:
        return set()
    system = np.array(equations)
    rank = np.linalg.matrix_rank(system)
    determined = set()
    for entry, k in index.items():
        unit = np.zeros(len(unknowns))
        unit[k] = 1
        if np.linalg.matrix_rank(np.vstack([system, unit])) == rank:
            determined.add(entry)
    return determined


def shuttle_bounds(extended, mask) -> dict:
    """Interval of each hidden entry from the published totals and non-negativity, narrowed until stable."""
    low = dict.fromkeys(hidden_entries(mask), 0)
    high = dict.fromkeys(low, math.inf)

    def bounds(entry):
        i, j = entry
        return (low[entry], high[entry]) if mask[i][j] else (extended[i][j], extended[i][j])

    changed = True
    while changed:
        changed = False
        for cells, total in relations(extended):
            # sum(cells) - total = 0: each term is the negated sum of the others.
            terms = [(entry, 1) for entry in cells] + [(total, -1)]
            for entry, sign in terms:
                if entry not in low:
                    continue
                others_low = others_high = 0
                for other, other_sign in terms:
                    if other == entry:
                        continue
                    lo, hi = bounds(other)
                    others_low += other_sign * (lo if other_sign > 0 else hi)
                    others_high += other_sign * (hi if other_sign > 0 else lo)
                # sign * x = -(others)
                candidates = (-others_high, -others_low) if sign > 0 else (others_low, others_high)
                new_low, new_high = max(low[entry], candidates[0]), min(high[entry], candidates[1])
                if new_low > low[entry] or new_high < high[entry]:
                    low[entry], high[entry] = new_low, new_high
                    changed = True
    return {entry: (low[entry], high[entry]) for entry in low}


def consistent_values(table, mask) -> dict:
    """For a small table: every value each hidden entry takes among the tables that agree with what is published
    (hidden interior cells up to the largest value + 1, which is enough to find any alternative)."""
    extended = extend(table)
    n_rows, n_columns = len(table), len(table[0])
    hidden_cells = [(i, j) for i in range(n_rows) for j in range(n_columns) if mask[i][j]]
    cap = max(max(row) for row in table) + 1
    seen = {entry: set() for entry in hidden_entries(mask)}
    for values in itertools.product(range(cap + 1), repeat=len(hidden_cells)):
        candidate = [list(row) for row in table]
        for (i, j), value in zip(hidden_cells, values, strict=True):
            candidate[i][j] = value
        candidate_extended = extend(candidate)
        if all(candidate_extended[i][j] == extended[i][j]
               for i, row in enumerate(mask) for j, hidden in enumerate(row) if not hidden):
            for entry in seen:
                seen[entry].add(candidate_extended[entry[0]][entry[1]])
    return seen


def assert_protected(table, mask, limit):
    extended = extend(table)
    # Primary: nothing published counts 1 to limit - 1 people.
    for i, row in enumerate(extended):
        for j, value in enumerate(row):
            if 0 < value < limit:
                assert mask[i][j], f"{value} at {(i, j)} is published"
    # No row or column (totals included) with exactly one hidden entry.
    rows, columns = suppression.hidden_line_counts(mask)
    assert 1 not in rows and 1 not in columns, (rows, columns)
    # Hidden entries are never zeros (a zero tells nothing, and a zero next to a hidden cell would pin it).
    assert all(extended[i][j] > 0 for i, j in hidden_entries(mask))
    # Linear algebra finds none of them.
    assert linearly_determined(extended, mask) == set()
    # Interval narrowing leaves each one a range, which holds its true value.
    for (i, j), (low, high) in shuttle_bounds(extended, mask).items():
        assert low <= extended[i][j] <= high
        assert low < high, f"entry {(i, j)} = {extended[i][j]} recovered"


# --- Settings ---------------------------------------------------------------------------------------------------


def test_threshold_defaults_to_10():
    assert suppression.threshold() == 10


@override_settings(DEKIRU_SUPPRESSION_THRESHOLD=5)
def test_threshold_setting_is_used():
    assert suppression.threshold() == 5
    table = [[7, 30], [40, 50]]
    assert suppress(table) == [[False] * 3] * 3  # 7 people are enough at 5


def test_the_default_threshold_hides_7_people():
    mask = suppress([[7, 30], [40, 50]])
    assert mask[0][0]
    assert_protected([[7, 30], [40, 50]], mask, 10)


# --- Hand-made tables -------------------------------------------------------------------------------------------


def test_extend_adds_row_column_and_grand_totals():
    assert extend([[1, 2], [3, 4]]) == [[1, 2, 3], [3, 4, 7], [4, 6, 10]]


def test_nothing_small_nothing_hidden():
    assert suppress([[10, 20], [30, 40]], limit=10) == [[False] * 3] * 3


def test_zero_is_published():
    assert suppress([[0, 20], [30, 0]], limit=10) == [[False] * 3] * 3


def test_one_small_cell_is_protected_by_the_cheapest_cycle():
    table = [[20, 3, 30], [25, 40, 50], [15, 60, 12]]
    mask = suppress(table, limit=10)
    # 3 at (0, 1): the cheapest cycle through it is 20 → 25 → 40 (sum 85); 20 → 15 → 60 would cost 95.
    assert hidden_entries(mask) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert_protected(table, mask, 10)


def test_a_total_below_the_threshold_is_hidden_with_its_cells():
    table = [[2, 3, 0], [40, 50, 60]]
    mask = suppress(table, limit=10)
    assert mask[0][3]  # the row total, 5
    assert mask[0][0] and mask[0][1] and not mask[0][2]
    assert_protected(table, mask, 10)


def test_a_whole_small_table_is_hidden_except_zeros():
    table = [[0, 3], [2, 0]]
    mask = suppress(table, limit=10)
    assert mask == [[False, True, True], [True, False, True], [True, True, True]]
    assert_protected(table, mask, 10)


def test_two_hidden_per_line_is_not_enough_when_one_entry_links_two_blocks():
    # Small cells in two 2 × 2 blocks linked by (0, 2): every row and column has two or more hidden cells, yet
    # (0, 2) = (rows 0–1 hidden sum) − (columns 0–1 hidden sum), all published.
    table = [[3, 4, 5, 50], [4, 3, 60, 70], [80, 90, 2, 3], [70, 60, 4, 2]]
    extended = extend(table)
    primary = primary_mask(extended, limit=10)
    rows, columns = suppression.hidden_line_counts(primary)
    assert 1 not in rows and 1 not in columns
    assert linearly_determined(extended, primary) == {(0, 2)}

    mask = suppress(table, limit=10)
    assert_protected(table, mask, 10)


def test_rates_follow_their_counts():
    assert suppression.show(3, True) == suppression.MARK == "X"
    assert suppression.show(12, False) == 12


def test_negative_counts_are_refused():
    with pytest.raises(ValueError):
        suppress([[1, -1]], limit=10)


# --- Random tables ----------------------------------------------------------------------------------------------

counts = st.one_of(st.integers(0, 12), st.integers(0, 60))


@st.composite
def tables(draw, max_rows=6, max_columns=8, values=counts):
    n_rows = draw(st.integers(1, max_rows))
    n_columns = draw(st.integers(1, max_columns))
    return [[draw(values) for _j in range(n_columns)] for _i in range(n_rows)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables(), limit=st.integers(2, 12))
def test_random_tables_cannot_be_recovered(table, limit):
    mask = suppress(table, limit=limit)
    assert_protected(table, mask, limit)


@settings(max_examples=80, deadline=None)
@given(table=tables(max_rows=2, max_columns=3, values=st.integers(0, 6)), limit=st.integers(2, 5))
def test_every_consistent_table_of_a_small_one_leaves_each_hidden_entry_more_than_one_value(table, limit):
    mask = suppress(table, limit=limit)
    extended = extend(table)
    for entry, values in consistent_values(table, mask).items():
        assert extended[entry[0]][entry[1]] in values
        assert len(values) > 1, f"entry {entry} = {extended[entry[0]][entry[1]]} is the only possibility"
