"""Fisher-Jenks natural breaks: a numpy port of mapclassify's algorithm (identical bins, checked in
tests against mapclassify), so drawing a map does not import mapclassify (2-3 s)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

JENKS_SAMPLE = 300


def fisher_jenks(values: Sequence[float] | np.ndarray, k: int) -> np.ndarray:
    """Upper bounds of ``k`` Fisher-Jenks classes: mapclassify's ``FisherJenks(values, k).bins``
    (its ``_fisher_jenks_means``, float32 sums and tie rules included), as numpy cumulative sums
    over the whole table one class at a time (up to :data:`WHOLE_TABLE_UP_TO` values; 4 ms
    instead of 19 ms for the 300 values a map's classes are fitted on), else one value at a time.

    Why not call mapclassify: importing it takes 2-3 s in every process that draws a map
    (scikit-learn, scipy.stats, matplotlib.pyplot, and with numba an eager compile), for a
    dynamic programme over a few hundred values.  tests/test_styles.py checks the two agree.
    """
    x = np.sort(np.asarray(values, dtype="f8"))
    n = len(x)
    if n <= WHOLE_TABLE_UP_TO:
        mat1, mat2 = _tables_by_class(x, k)
    else:
        mat1, mat2 = _tables_by_value(x, k)
    kclass = np.zeros(k + 1)
    kclass[k], kclass[0] = x[-1], x[0]
    row = n
    for count in range(k, 1, -1):
        pivot = int(mat1[row, count])
        kclass[count - 1] = x[pivot - 2]
        row = pivot - 1
    return kclass[1:]


#: up to this many values the dynamic programme runs one class at a time over every value at once
#: (n² float32 tables, 4 MB at 1,024); past it, one value at a time (n·k tables)
WHOLE_TABLE_UP_TO = 1024


def _tables_by_class(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The (pivot, variance) tables of :func:`_tables_by_value`, bit for bit, one class at a time:
    the row of every last value at once.  Each row's float32 sums run in the same order (numpy's
    ``cumsum`` along a row is sequential), and the minimum keeps the largest m reaching it."""
    n = len(x)
    mat1 = np.zeros((n + 1, k + 1), dtype=np.int32)
    mat2 = np.zeros((n + 1, k + 1), dtype=np.float32)
    mat1[1, 1:] = 1
    mat2[2:, 1:] = np.inf
    if n < 2:
        return mat1, mat2
    x32 = x.astype(np.float32)
    last = np.arange(2, n + 1)[:, None]  # one row per last value
    m = np.arange(1, n + 1)[None, :]  # m = 1..last: the value at position last - m
    valid = m <= last
    vals = np.where(valid, x32[np.clip(last - m, 0, None)], np.float32(0))
    s1 = np.cumsum(vals, axis=1, dtype=np.float32)
    s2 = np.cumsum(vals * vals, axis=1, dtype=np.float32)
    v = s2 - (s1 * s1) / np.arange(1, n + 1, dtype=np.float32)
    rows = last[:, 0]
    mat1[rows, 1] = 1
    mat2[rows, 1] = v[rows - 2, rows - 1]  # m = last
    inner = m[:, :-1] < last  # m = 1..last-1
    before = np.where(inner, last - m[:, :-1], 0)  # the row of the previous class: last - m
    for j in range(2, k + 1):
        cand = np.where(inner, v[:, :-1] + mat2[before, j - 1], np.float32(np.inf))
        pick = cand.shape[1] - 1 - np.argmin(cand[:, ::-1], axis=1)  # the largest m reaching the minimum
        mat1[rows, j] = rows - pick
        mat2[rows, j] = cand[np.arange(len(rows)), pick]
    return mat1, mat2


def _tables_by_value(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """mapclassify's tables, one last value at a time (the inner loop as numpy cumulative sums)."""
    n = len(x)
    mat1 = np.zeros((n + 1, k + 1), dtype=np.int32)
    mat2 = np.zeros((n + 1, k + 1), dtype=np.float32)
    mat1[1, 1:] = 1
    mat2[2:, 1:] = np.inf
    x32 = x.astype(np.float32)
    for last in range(2, n + 1):
        vals = x32[last - 1::-1]  # m = 1..last takes the value at position last - m
        s1 = np.cumsum(vals, dtype=np.float32)
        s2 = np.cumsum(vals * vals, dtype=np.float32)
        v = s2 - (s1 * s1) / np.arange(1, last + 1, dtype=np.float32)
        i3 = last - np.arange(1, last) + 1  # m = 1..last-1 (i4 = i3 - 1 > 0)
        for j in range(2, k + 1):
            cand = v[:-1] + mat2[i3 - 1, j - 1]
            # the sequential ">=" update keeps the last m reaching the minimum
            pick = len(cand) - 1 - int(np.argmin(cand[::-1]))
            if mat2[last, j] >= cand[pick]:
                mat1[last, j] = i3[pick]
                mat2[last, j] = cand[pick]
        mat1[last, 1] = 1
        mat2[last, 1] = v[-1]
    return mat1, mat2
