"""Small-cell suppression for published statistics (PRODUCT.md: no cell computed from fewer than 10 people).

Pure functions over a 2-D table of counts of people. The table is published with its row totals, column totals
and grand total, so this works on the *extended* table: `extend(table)` adds a totals column on the right, a
totals row at the bottom, and the grand total in the corner. Every entry of the extended table, totals included,
is a published number or a hidden one.

Rules, in order:

1. **Primary suppression**: an entry (cell or total) counting 1 to threshold − 1 people is hidden. Zero is
   published: it tells nothing about anybody.
2. **Secondary suppression**: more entries are hidden until no hidden entry can be worked out from the published
   ones. In the extended table every row and every column is a linear relation (cells sum to the total), so hidden
   entries are the edges of a bipartite graph (extended rows × extended columns) and an entry can be computed by
   adding and subtracting published numbers exactly when its edge is a *bridge* of that graph (no cycle of hidden
   entries passes through it). A row or column with exactly one hidden entry is the simplest bridge; two blocks
   of hidden entries joined by one entry is another. Each bridge is closed into a cycle by hiding the published
   entries of the cheapest path from its row to its column (smallest sum of values first, then fewest entries);
   totals are candidates like any other entry (hiding a total is necessary when, say, a whole row is hidden).
   Only non-zero entries are used: a hidden entry can then move up *and* down along its cycle without any entry
   going below zero, so even with the knowledge that counts are not negative its range is never a single value.

Rates derived from a count (attendances of the same people, participants per 1,000 residents) are hidden wherever
the count is: `mask` is applied to every published figure of the cell.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from django.conf import settings

DEFAULT_THRESHOLD = 10
# What a hidden entry shows. "X" is the mark of Japan's official statistics (e-Stat: 秘匿); zero is shown as 0.
MARK = "X"


def threshold() -> int:
    """The smallest number of people a published figure may be based on (setting DEKIRU_SUPPRESSION_THRESHOLD)."""
    return int(getattr(settings, "DEKIRU_SUPPRESSION_THRESHOLD", DEFAULT_THRESHOLD))


Table = Sequence[Sequence[int]]
Mask = list[list[bool]]


def extend(table: Table) -> list[list[int]]:
    """The table with row totals as a last column, column totals as a last row and the grand total in the corner."""
    rows = [list(row) for row in table]
    width = len(rows[0]) if rows else 0
    if any(len(row) != width for row in rows):
        raise ValueError("All rows of the table must have the same length.")
    extended = [[*row, sum(row)] for row in rows]
    column_totals = [sum(row[j] for row in extended) for j in range(width + 1)]
    return [*extended, column_totals]


def primary_mask(extended: Table, *, limit: int) -> Mask:
    return [[0 < value < limit for value in row] for row in extended]


def suppress(table: Table, *, limit: int | None = None) -> Mask:
    """The mask of hidden entries of `extend(table)` (True = hidden), primary and secondary suppression applied.

    `table` is r × c counts of people (non-negative integers, each person in exactly one cell); the mask is
    (r + 1) × (c + 1): `mask[i][c]` is row i's total, `mask[r][j]` column j's total, `mask[r][c]` the grand total.
    """
    limit = threshold() if limit is None else limit
    extended = extend(table)
    if any(value < 0 for row in extended for value in row):
        raise ValueError("Counts cannot be negative.")
    mask = primary_mask(extended, limit=limit)
    while (bridge := _find_bridge(mask)) is not None:
        _close(bridge, extended, mask)
    return mask


def hidden_line_counts(mask: Mask) -> tuple[list[int], list[int]]:
    """How many entries are hidden in each row and each column of the extended table."""
    columns = [sum(column) for column in zip(*mask, strict=True)] if mask else []
    return [sum(row) for row in mask], columns


# --- The graph of hidden entries: vertices ("r", i) and ("c", j), one edge per hidden entry (i, j) ---------------

def _component(mask: Mask, start: tuple[str, int], *, without: tuple[int, int] | None = None) -> set:
    """The vertices reachable from `start` along hidden entries, not using the entry `without`."""
    seen = {start}
    todo = [start]
    while todo:
        kind, index = todo.pop()
        if kind == "r":
            neighbours = [("c", j) for j, hidden in enumerate(mask[index]) if hidden and (index, j) != without]
        else:
            neighbours = [("r", i) for i, row in enumerate(mask) if row[index] and (i, index) != without]
        for vertex in neighbours:
            if vertex not in seen:
                seen.add(vertex)
                todo.append(vertex)
    return seen


def _find_bridge(mask: Mask) -> tuple[int, int] | None:
    """A hidden entry that no cycle of hidden entries passes through (so it could be computed), or None."""
    rows, columns = hidden_line_counts(mask)
    # Cheap first: the only hidden entry of its row or column.
    for i, row in enumerate(mask):
        for j, hidden in enumerate(row):
            if hidden and (rows[i] == 1 or columns[j] == 1):
                return (i, j)
    for i, row in enumerate(mask):
        for j, hidden in enumerate(row):
            if hidden and ("c", j) not in _component(mask, ("r", i), without=(i, j)):
                return (i, j)
    return None


def _close(bridge: tuple[int, int], extended: Table, mask: Mask) -> None:
    """Hide the published entries of the cheapest path of non-zero entries from the bridge's row to its column
    (not through the bridge): with the bridge, the path is a cycle. Cost: the sum of the values newly hidden, then
    their number; hidden entries on the way cost nothing."""
    i, j = bridge
    start, goal = ("r", i), ("c", j)
    best = {start: (0, 0)}
    previous: dict = {}
    queue = [((0, 0), start)]
    while queue:
        cost, vertex = heapq.heappop(queue)
        if vertex == goal:
            break
        if cost > best[vertex]:
            continue
        kind, index = vertex
        if kind == "r":
            entries = [((index, c), ("c", c)) for c in range(len(extended[index]))]
        else:
            entries = [((r, index), ("r", r)) for r in range(len(extended))]
        for (r, c), neighbour in entries:
            value = extended[r][c]
            if (r, c) == bridge or value <= 0:
                continue
            step = (0, 0) if mask[r][c] else (value, 1)
            candidate = (cost[0] + step[0], cost[1] + step[1])
            if neighbour not in best or candidate < best[neighbour]:
                best[neighbour] = candidate
                previous[neighbour] = (vertex, (r, c))
                heapq.heappush(queue, (candidate, neighbour))
    if goal not in previous:  # cannot happen: in a table with its totals, every non-zero entry is on a cycle
        raise AssertionError(f"No entries can protect {bridge}.")
    vertex = goal
    while vertex != start:
        vertex, (r, c) = previous[vertex]
        mask[r][c] = True


def show(value, hidden: bool):
    """The published form of a figure: the value, or the suppression mark."""
    return MARK if hidden else value
