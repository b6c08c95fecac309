"""The HTML map's fast paths (#17) write what the plain paths wrote.

- ``maps._feature_collection`` builds the properties column by column: the text must be the
  bytes that ``json.dumps`` of each record (``DataFrame.to_dict(orient="records")``) gave.
- Grid cells are drawn as they are (no coverage simplification, which only cut the cells on the
  grid's edge): every cell in the page is its input polygon, coordinates rounded.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from test_maps import PAYLOADS, _layer_data

from geoconflict import maps
from geoconflict.layers import Layer
from geoconflict.maps import _feature_collection, _json_column, make_map, render_html, round_coordinates


def _records_path(gdf: gpd.GeoDataFrame, props: pd.DataFrame) -> str:
    """The plain path: one ``json.dumps`` per record (what maps wrote before #17)."""
    geo = shapely.to_geojson(round_coordinates(gdf.geometry.values))
    feats = ['{"type":"Feature","properties":' + json.dumps(p, ensure_ascii=False, allow_nan=False)
             + ',"geometry":' + (g if g is not None else "null") + "}"
             for p, g in zip(props.to_dict(orient="records"), geo, strict=True)]
    return '{"type":"FeatureCollection","features":[' + ",".join(feats) + "]}"


def _frame() -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    n = 7
    geoms = [shapely.Point(36.1234567 + i / 3, 35.7654321 - i / 7) for i in range(n - 1)] + [None]
    gdf = gpd.GeoDataFrame({
        "name": [*PAYLOADS, "\u2028 line sep", "ḥalab é \"q\" \\ \t"],
        "count": np.arange(n, dtype="int64") * 1000,
        "share": [0.5, 1 / 3, 2.0, -0.0, 1e-7, 123456789.123, None],
        "date": pd.to_datetime(["2020-01-01 00:00", "2020-01-02 13:45", None, "2021-12-31 00:00", "2020-02-29 00:00",
                                "2020-03-01 00:00", "2020-03-02 00:00"]),
        "flag": pd.array([True, False, None, True, True, False, True], dtype="boolean"),
        "label": pd.array(["a", None, "c", "d", "e", "f", "g"], dtype="string"),
        7: [1, "two", 3.5, None, True, np.int64(6), np.float64(7.25)],  # a mixed column named by a number
    }, geometry=geoms, crs=4326)
    props = pd.DataFrame({c: _json_column(gdf[c]) for c in gdf.columns if c != "geometry"}, index=gdf.index)
    props[7] = pd.Series([1, "two", 3.5, None, True, np.int64(6), np.float64(7.25)], dtype=object,
                         index=gdf.index)  # raw values, numpy scalars among them
    props["_k"] = np.array(["s0", "s1", "s0", "s2", "s1", "s0", "s0"])
    return gdf, props


def test_feature_collection_is_the_records_text() -> None:
    gdf, props = _frame()
    fast = _feature_collection(gdf, props)
    assert fast == _records_path(gdf, props)
    parsed = json.loads(fast)
    assert parsed["features"][6]["geometry"] is None
    assert parsed["features"][1]["properties"]["name"] == PAYLOADS[1]
    assert parsed["features"][5]["properties"]["7"] == 6


@pytest.mark.parametrize("column", ["count", "share", "name", "_k", "flag"])
def test_feature_collection_one_typed_column(column: str) -> None:
    gdf, props = _frame()
    one = props[[column]]
    assert _feature_collection(gdf, one) == _records_path(gdf, one)


def test_feature_collection_without_properties() -> None:
    gdf, props = _frame()
    none = props[[]]
    assert _feature_collection(gdf, none) == _records_path(gdf, none)


@pytest.mark.parametrize("bad", [math.nan, math.inf, np.float64(-np.inf)])
def test_feature_collection_refuses_non_finite_numbers(bad: float) -> None:
    gdf, props = _frame()
    props = props[["share"]].astype(object)
    props.iloc[2, 0] = bad  # _json_column never gives these; the writer still refuses them
    with pytest.raises(ValueError, match="JSON compliant"):
        _feature_collection(gdf, props)


def _hex_grid(rows: int, cols: int) -> gpd.GeoDataFrame:
    """A coverage of 5 km hexagons (flat-topped) in UTM 37N, near Aleppo."""
    size = 5000 / math.sqrt(3)  # circumradius of a hexagon 5 km across flats
    cells, keys = [], []
    for i in range(cols):
        for j in range(rows):
            cx = 300_000 + i * 1.5 * size
            cy = 3_980_000 + j * 5000 + (2500 if i % 2 else 0)
            ring = [(cx + size * math.cos(math.radians(a)), cy + size * math.sin(math.radians(a)))
                    for a in range(0, 360, 60)]
            cells.append(shapely.Polygon(ring))
            keys.append(f"c{i}_{j}")
    return gpd.GeoDataFrame({"cell_id": keys, "count": np.arange(len(keys)) % 9 + 1}, geometry=cells,
                            crs=32637)


def test_grid_cells_are_drawn_as_they_are() -> None:
    grid = _hex_grid(12, 12)
    assert bool(shapely.coverage_is_valid(grid.geometry.values))
    budget = 200  # far fewer vertices than the grid's 1,008: an outline layer would be simplified
    messages: list[str] = []
    text = render_html(make_map([Layer("Hex", "grid", grid)], title="t", max_vertices=budget, messages=messages))
    assert not any("simplified" in m for m in messages)
    feats = _layer_data(text, "Hex")["features"]
    drawn = shapely.from_geojson([json.dumps(f["geometry"]) for f in feats])
    want = round_coordinates(grid.to_crs(4326).geometry.values)
    assert len(drawn) == len(grid)
    assert bool(shapely.equals_exact(drawn, want, tolerance=0).all())
    assert set(shapely.get_num_coordinates(drawn)) == {7}  # the edge cells are hexagons too
    # the same cells as an outline layer are simplified (what grids were given before #17)
    out, msg = maps.simplify_layer(grid.to_crs(4326), max_vertices=budget)
    assert msg is not None and "as a coverage" in msg
    assert int(shapely.get_num_coordinates(out.geometry.values).sum()) < len(grid) * 7


def test_cached_page_classes_keep_each_maps_own_text() -> None:
    """The page's element classes are made once per process: two maps still carry only their own
    names, legends and titles (nothing of one map's slots reaches the other)."""
    grid = _hex_grid(2, 2)
    first = render_html(make_map([Layer("Layer Quokka", "grid", grid)], title="Title Quokka"))
    second = render_html(make_map([Layer("Layer Wombat", "grid", grid.iloc[:3])], title="Title Wombat"))
    assert "Title Quokka" in first and "Layer Quokka" in first
    assert "Wombat" not in first
    assert "Title Wombat" in second and "Layer Wombat" in second
    assert "Quokka" not in second
    assert len(_layer_data(first, "Layer Quokka")["features"]) == 4
    assert len(_layer_data(second, "Layer Wombat")["features"]) == 3


def test_jenks_tables_by_class_equal_tables_by_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole-table Fisher-Jenks (every value at once, one class at a time) fills mapclassify's
    tables bit for bit: float32 variances, pivots, ties (few distinct values) included."""
    from geoconflict import _jenks

    rng = np.random.default_rng(17)
    for case in range(60):
        n, k = int(rng.integers(2, 120)), int(rng.integers(2, 8))
        y = [rng.gamma(1.5, 10, n).round() + 1, rng.integers(1, 5, n).astype(float),
             rng.normal(100, 30, n), rng.lognormal(2, 1.5, n)][case % 4]
        x = np.sort(y)
        by_class, by_value = _jenks._tables_by_class(x, k), _jenks._tables_by_value(x, k)
        assert np.array_equal(by_class[0], by_value[0]), (n, k, case)
        assert np.array_equal(by_class[1], by_value[1]), (n, k, case)
    y = rng.gamma(1.5, 10, _jenks.WHOLE_TABLE_UP_TO + 1).round() + 1  # past the limit: by value
    past = _jenks.fisher_jenks(y, 5)
    monkeypatch.setattr(_jenks, "WHOLE_TABLE_UP_TO", len(y))
    assert np.array_equal(_jenks.fisher_jenks(y, 5), past)


def test_written_page_is_the_rendered_text_and_its_size(tmp_path: Path) -> None:
    """write_map encodes the page once: the file is the UTF-8 page, its size the report's."""
    grid = _hex_grid(2, 2)
    out = tmp_path / "m.html"
    rep = maps.write_map([Layer("Ḥalab cells – km²", "grid", grid)], out, title="Idlib – ḥ")
    raw = out.read_bytes()
    assert rep.size_bytes == len(raw) == out.stat().st_size
    text = raw.decode("utf-8")
    assert "<h1>Idlib – ḥ</h1>" in text
    assert len(_layer_data(text, "Ḥalab cells – km²")["features"]) == 4
    assert list(tmp_path.iterdir()) == [out]  # no temporary left beside it


def _text_per_value(s: pd.Series) -> pd.Series:
    """The plain text path of ``_json_column``: ``str`` of each value, missing ones None."""
    text = s.astype(object).map(lambda v: None if v is None or v is pd.NA or (isinstance(v, float)
                                                                              and np.isnan(v)) else str(v))
    return text.astype(object).where(s.notna(), None)


@pytest.mark.parametrize("column", [
    pd.Series(["Ḥalab", "a", "", PAYLOADS[1]], dtype=object),
    pd.Series(["Ḥalab", None, "c", "d"], dtype=object),
    pd.Series(["x", float("nan"), "z", "w"], dtype=object),
    pd.array(["x", None, "z", "w"], dtype="string"),
    pd.array(["x", "y", "z", "w"], dtype="string"),
    pd.Categorical(["b", "a", "b", "a"]),
    pd.Series([1, "two", 3.5, None], dtype=object),
    pd.Series([np.str_("np"), "str", "a", "b"], dtype=object),
])
def test_text_columns_as_the_per_value_path(column: Any) -> None:
    s = pd.Series(column, index=[10, 11, 12, 13], name="c")
    fast, plain = _json_column(s), _text_per_value(s)
    assert fast.dtype == object and fast.index.equals(s.index)
    assert fast.tolist() == plain.tolist()
    assert [type(v) for v in fast] == [type(v) for v in plain]
