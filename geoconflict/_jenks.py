"""Fisher-Jenks natural breaks: a numpy port of mapclassify's algorithm (identical bins, checked in
tests against mapclassify), so drawing a map does not import mapclassify (2-3 s)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

JENKS_SAMPLE = 300


def fisher_jenks(values: Sequence[float] | np.ndarray, k: int) -> np.ndarray:
    """Upper bounds of ``k`` Fisher-Jenks classes: mapclassify's ``FisherJenks(values, k).bins``
    (its ``_fisher_jenks_means``, float32 sums and tie rules included), with the inner loop as
    numpy cumulative sums.

    Why not call mapclassify: importing it takes 2-3 s in every process that draws a map
    (scikit-learn, scipy.stats, matplotlib.pyplot, and with numba an eager compile), for a
    dynamic programme over a few hundred values.  tests/test_styles.py checks the two agree.
    """
    x = np.sort(np.asarray(values, dtype="f8"))
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
    kclass = np.zeros(k + 1)
    kclass[k], kclass[0] = x[-1], x[0]
    row = n
    for count in range(k, 1, -1):
        pivot = int(mat1[row, count])
        kclass[count - 1] = x[pivot - 2]
        row = pivot - 1
    return kclass[1:]
