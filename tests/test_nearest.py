"""geoconflict._nearest: nearest segment by boxed runs of segments equals GEOS's answer."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geoconflict import _nearest
from geoconflict._nearest import SegmentIndex


@pytest.fixture(autouse=True, params=["compiled", "geos"])
def path(request, monkeypatch):
    """Every test on both paths: the compiled loop (millions of points) and GEOS's tree."""
    monkeypatch.setattr(_nearest, "method_for", lambda n: request.param)
    return request.param


def _segments(coords: np.ndarray) -> np.ndarray:
    return shapely.linestrings(np.stack([coords[:-1], coords[1:]], axis=1))


def _geos(segs: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    return shapely.distance(shapely.multilinestrings(segs), shapely.points(px, py))


def _wiggly_line(rng: np.random.Generator, n: int) -> np.ndarray:
    x = np.cumsum(rng.uniform(-300, 1000, n))
    y = np.cumsum(rng.normal(0, 800, n))
    return np.column_stack([x, y])


def test_distances_equal_geos_on_a_wiggly_line_and_hard_points():
    rng = np.random.default_rng(7)
    line = _wiggly_line(rng, 800)
    segs = _segments(line)
    x0, y0, x1, y1 = shapely.total_bounds(segs)
    far = np.column_stack([rng.uniform(x0 - 5e4, x1 + 5e4, 20_000), rng.uniform(y0 - 5e4, y1 + 5e4, 20_000)])
    on_vertex = line[rng.integers(0, len(line), 500)]
    t = rng.uniform(0, 1, 500)[:, None]
    j = rng.integers(0, len(line) - 1, 500)
    on_segment = line[j] + t * (line[j + 1] - line[j])
    near = on_segment + rng.normal(0, 1e-3, on_segment.shape)
    pts = np.vstack([far, on_vertex, on_segment, near])
    d, seg = SegmentIndex(segs).nearest(pts[:, 0], pts[:, 1])
    expected = _geos(segs, pts[:, 0], pts[:, 1])
    np.testing.assert_allclose(d, expected, rtol=1e-12, atol=1e-9)
    # the segment returned is at that distance
    np.testing.assert_allclose(shapely.distance(segs[seg], shapely.points(pts)), expected, rtol=1e-12, atol=1e-9)
    assert (d[len(far):len(far) + 1000] < 1e-6).all()  # on the line: zero


@pytest.mark.parametrize("chunk", [1, 3, 1000])
def test_any_run_length_gives_the_same_answer(monkeypatch, chunk: int):
    """Runs of one segment, of a few, and one run holding every segment (no pruning at all)."""
    rng = np.random.default_rng(3)
    # a tight zig-zag: many segments at almost the same distance from points on its axis
    xs = np.arange(200) * 10.0
    line = np.column_stack([xs, np.where(np.arange(200) % 2, 5.0, -5.0)])
    segs = _segments(line)
    px, py = rng.uniform(-100, 2100, 5000), rng.uniform(-50, 50, 5000)
    monkeypatch.setattr(_nearest, "CHUNK", chunk)
    d, seg = SegmentIndex(segs).nearest(px, py)
    np.testing.assert_allclose(d, _geos(segs, px, py), rtol=1e-12, atol=1e-9)
    assert (seg >= 0).all()


def test_zero_length_segments_a_single_segment_and_ties():
    segs = shapely.linestrings([[(0, 0), (0, 0)], [(10, 0), (10, 10)]])
    d, seg = SegmentIndex(segs).nearest(np.array([0.0, 13.0, -3.0]), np.array([4.0, 5.0, 0.0]))
    np.testing.assert_allclose(d, [4.0, 3.0, 3.0])
    assert list(seg) == [0, 1, 0]
    one = shapely.linestrings([[(0, 0), (100, 0)]])
    d, seg = SegmentIndex(one).nearest(np.array([50.0, 150.0]), np.array([7.0, 0.0]))
    np.testing.assert_allclose(d, [7.0, 50.0])
    # equally near two segments (a shared vertex): the lower index
    corner = shapely.linestrings([[(0, 0), (10, 0)], [(10, 0), (10, 10)]])
    d, seg = SegmentIndex(corner).nearest(np.array([15.0]), np.array([-5.0]))
    assert d[0] == pytest.approx(np.hypot(5, 5)) and seg[0] == 0


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_vertices=st.integers(2, 80),
    scale=st.sampled_from([1.0, 100.0, 1e5]),
)
def test_property_equal_to_geos(seed: int, n_vertices: int, scale: float):
    rng = np.random.default_rng(seed)
    line = rng.uniform(-scale, scale, (n_vertices, 2))
    segs = _segments(line)
    pts = np.vstack([rng.uniform(-2 * scale, 2 * scale, (300, 2)), line + rng.normal(0, scale * 1e-6, line.shape)])
    d, seg = SegmentIndex(segs).nearest(pts[:, 0], pts[:, 1])
    expected = _geos(segs, pts[:, 0], pts[:, 1])
    np.testing.assert_allclose(d, expected, rtol=1e-10, atol=scale * 1e-12)
    assert (seg >= 0).all() and (seg < len(segs)).all()


@pytest.mark.parametrize("n", [0, 1])
def test_few_points(n: int):
    segs = shapely.linestrings([[(0, 0), (10, 0)], [(10, 0), (10, 10)]])
    d, seg = SegmentIndex(segs).nearest(np.full(n, 5.0), np.full(n, 5.0))
    assert len(d) == len(seg) == n
    if n:
        assert d[0] == pytest.approx(5.0)



def test_the_paths_agree_exactly_including_ties():
    """Same distances to the last bit and the same segment (the lowest index at a tie)."""
    rng = np.random.default_rng(11)
    grid = np.arange(0, 400, 10.0)  # a comb of vertical segments on a 10 m lattice: many ties
    a = np.column_stack([np.repeat(grid, 1), np.zeros(len(grid))])
    b = np.column_stack([grid, np.full(len(grid), 50.0)])
    line = _wiggly_line(rng, 300)
    a = np.vstack([a, line[:-1]])
    b = np.vstack([b, line[1:]])
    px = np.r_[rng.integers(-5, 400, 3000) + 5.0, rng.uniform(-3e4, 3e5, 3000)]
    py = np.r_[rng.integers(-20, 70, 3000) * 1.0, rng.uniform(-3e4, 3e4, 3000)]
    index = _nearest.SegmentIndex.from_ends(a, b)
    answers = {m: index.nearest(px, py, method=m) for m in ("geos", "compiled")}
    np.testing.assert_array_equal(answers["compiled"][0], answers["geos"][0])
    np.testing.assert_array_equal(answers["compiled"][1], answers["geos"][1])
    assert (answers["geos"][0][:3000] == 5.0).sum() > 100  # the ties were there


def test_method_by_size(monkeypatch):
    monkeypatch.undo()  # the real choice, not the fixture's
    assert _nearest.method_for(10) == "geos"
    assert _nearest.method_for(_nearest.COMPILED_FROM - 1) == "geos"
    assert _nearest.method_for(_nearest.COMPILED_FROM) == "compiled"
    with pytest.raises(ValueError):
        SegmentIndex(shapely.linestrings([[(0, 0), (1, 1)]])).nearest(np.zeros(1), np.zeros(1), method="x")


def test_max_distance_masks_exactly_the_points_beyond_it():
    rng = np.random.default_rng(21)
    segs = _segments(_wiggly_line(rng, 400))
    x0, y0, x1, y1 = shapely.total_bounds(segs)
    px, py = rng.uniform(x0 - 3e4, x1 + 3e4, 8000), rng.uniform(y0 - 3e4, y1 + 3e4, 8000)
    index = SegmentIndex(segs)
    full_d, full_i = index.nearest(px, py)
    d, i = index.nearest(px, py, max_distance=2000.0)
    within = full_d <= 2000.0
    assert 0 < within.sum() < len(px)
    np.testing.assert_array_equal(d[within], full_d[within])
    np.testing.assert_array_equal(i[within], full_i[within])
    assert np.isnan(d[~within]).all() and (i[~within] == -1).all()
