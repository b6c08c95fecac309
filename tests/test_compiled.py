"""geoconflict._compiled: the numba loops are safe to call from several threads at once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    from concurrent.futures import ThreadPoolExecutor

    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import shapely

    import geoconflict.grids as grids
    from geoconflict import _nearest
    from geoconflict._nearest import SegmentIndex

    grids.APPROX_PROJECTION_FROM = 0
    _nearest.COMPILED_FROM = 0
    rng = np.random.default_rng(9)
    line = np.column_stack([np.cumsum(rng.uniform(-300, 1000, 300)), np.cumsum(rng.normal(0, 800, 300))])
    segs = shapely.linestrings(np.stack([line[:-1], line[1:]], axis=1))
    pts = rng.uniform(shapely.total_bounds(segs)[:2], shapely.total_bounds(segs)[2:], (20000, 2))
    n = 20000
    inc = gpd.GeoDataFrame({"fatalities": np.zeros(n), "geo_precision": pd.array([1] * n, dtype="Int8")},
                           geometry=gpd.points_from_xy(rng.uniform(36.0, 37.0, n), rng.uniform(35.3, 36.3, n)),
                           crs=4326)

    def work(i):
        d, _ = SegmentIndex(segs).nearest(pts[:, 0], pts[:, 1])
        cells = grids.count_by_cell(inc, cells="hex:5km" if i % 2 else "square:2km").cells
        return d, sorted(cells["count"].tolist())

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(work, range(24)))
    for i, (d, counts) in enumerate(results):
        assert np.array_equal(d, results[0][0])
        assert counts == results[i % 2][1]
    print("ok", len(results))
""")


def test_compiled_loops_can_be_called_from_many_threads():
    """numba's portable threading layer (workqueue, used where no OpenMP or TBB is installed)
    aborts the process when two Python threads launch parallel loops at once, as a threaded dask
    worker or a caller's thread pool would: geoconflict runs its parallel loops one at a time.
    Run under that layer in a child process, every answer equal."""
    env = {**os.environ, "NUMBA_THREADING_LAYER": "workqueue"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok 24"
