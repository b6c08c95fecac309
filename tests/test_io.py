"""geoconflict.io.write_layers: the Arrow path writes the very file ``GeoDataFrame.to_file`` writes."""

from __future__ import annotations

import filecmp
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from geoconflict import io

N = 40


def _points() -> gpd.GeoDataFrame:
    """Incidents-like points with every kind of column the pipeline writes, nulls included."""
    rng = np.random.default_rng(8)
    dates = pd.Series(pd.date_range("2020-01-01", periods=N, freq="37h"))
    return gpd.GeoDataFrame(
        {
            "incident_id": pd.Series([f"SYR{i}" for i in range(N)], dtype="str"),
            "notes": pd.Series([None if i % 7 == 0 else f"note «{i}» \"q\"" for i in range(N)], dtype="str"),
            "pcode": pd.Series([None if i % 5 == 0 else f"SY{i:06d}" for i in range(N)], dtype=object),
            "fatalities": np.where(np.arange(N) % 6 == 0, np.nan, rng.integers(0, 9, N)).astype(float),
            "precision": pd.array([None if i % 4 == 0 else i % 3 for i in range(N)], dtype="Int8"),
            "has_time": np.arange(N) % 2 == 0,
            "count": np.arange(N, dtype="int64"),
            "date": dates.where(np.arange(N) % 9 != 0),
            "stamp": dates.dt.tz_localize("UTC"),
            "kind": pd.Categorical(["a", "b", None, "a"] * (N // 4)),
            "tags": [["x", "y"] if i % 3 == 0 else None for i in range(N)],
        },
        geometry=gpd.points_from_xy(36 + rng.random(N), 35 + rng.random(N)),
        crs=4326,
    )


def _polygons() -> gpd.GeoDataFrame:
    boxes = [shapely.box(i, 0, i + 1, 1) for i in range(5)]
    holed = shapely.Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (2, 1), (2, 2), (1, 2)]])
    return gpd.GeoDataFrame({"name": list("abcde") + ["holed"], "value": np.arange(6) / 3},
                            geometry=[*boxes, holed], crs=32637)


def _layers_by_both_paths(tmp_path: Path, layers: dict[str, gpd.GeoDataFrame],
                          monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, list[bool]]:
    """Write ``layers`` through write_layers (recording which layers took the Arrow path) and
    again with the Arrow path switched off (every layer through ``to_file``)."""
    real = io._arrow_layer
    used: list[bool] = []

    def spy(gdf: gpd.GeoDataFrame) -> io._ArrowLayer | None:
        arrow = real(gdf)
        used.append(arrow is not None)
        return arrow

    monkeypatch.setattr(io, "_arrow_layer", spy)
    fast = io.write_layers(layers, tmp_path / "fast.gpkg")
    monkeypatch.setattr(io, "_arrow_layer", lambda gdf: None)
    plain = io.write_layers(layers, tmp_path / "plain.gpkg")
    return fast, plain, used


def test_arrow_path_writes_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = gpd.GeoDataFrame({"date": pd.to_datetime(["2020-01-01", "2020-02-01"])},
                             geometry=[shapely.LineString([(0, 0), (1, 1)]), None], crs=4326)
    multi = gpd.GeoDataFrame({"id": [1, 2]}, geometry=[shapely.MultiPolygon([shapely.box(0, 0, 1, 1)]),
                                                       shapely.MultiPolygon([shapely.box(2, 2, 3, 3)])],
                             crs="+proj=laea +lat_0=35 +lon_0=38 +datum=WGS84 +units=m")  # no EPSG code
    empty_point = _points().iloc[:6].copy()
    empty_point.loc[3, "geometry"] = shapely.Point()  # an empty point: shapely's WKB, not the numpy one
    layers = {"incidents": _points(), "areas": _polygons(), "lines": lines, "multi": multi,
              "with_empty": empty_point}
    fast, plain, used = _layers_by_both_paths(tmp_path, layers, monkeypatch)
    assert used == [True] * len(layers)
    assert filecmp.cmp(fast, plain, shallow=False)
    back = pyogrio.read_dataframe(fast, layer="incidents")
    assert back["incident_id"].tolist() == layers["incidents"]["incident_id"].tolist()
    assert back.geometry.equals(layers["incidents"].geometry)


@pytest.mark.parametrize("case", ["named_index", "mixed_types", "three_d", "no_crs", "mixed_object",
                                  "local_time", "all_null", "no_rows"])
def test_special_frames_take_to_file(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gdf = _points().iloc[:8].copy()
    if case == "named_index":
        gdf.index = pd.Index([f"r{i}" for i in range(8)], name="row")
    elif case == "mixed_types":
        gdf.loc[0, "geometry"] = shapely.box(0, 0, 1, 1)
    elif case == "three_d":
        gdf.loc[0, "geometry"] = shapely.Point(1, 2, 3)
    elif case == "no_crs":
        gdf = gdf.set_crs(None, allow_override=True)
    elif case == "mixed_object":
        gdf["pcode"] = pd.Series([1, "a"] * 4, dtype=object)
    elif case == "local_time":
        gdf["stamp"] = gdf["stamp"].dt.tz_convert("Asia/Damascus")
    elif case == "all_null":
        gdf["nothing"] = pd.Series([None] * 8, dtype=object)
    elif case == "no_rows":
        gdf = gdf.iloc[:0]
    if case == "no_crs":
        with pytest.warns(UserWarning, match="crs"):
            fast, plain, used = _layers_by_both_paths(tmp_path, {"layer": gdf}, monkeypatch)
    else:
        fast, plain, used = _layers_by_both_paths(tmp_path, {"layer": gdf}, monkeypatch)
    assert used == [False]
    assert filecmp.cmp(fast, plain, shallow=False)


def test_point_wkb_is_shapely_wkb() -> None:
    pts = np.array([shapely.Point(36.123456789, -35.5), shapely.Point(-180, 90), shapely.Point(0, 0)],
                   dtype=object)
    wkb = io._point_wkb(pts)
    assert [wkb[i].as_py() for i in range(len(pts))] == list(shapely.to_wkb(pts))


def test_gdal_settings_are_restored() -> None:
    pyogrio.set_gdal_config_options({"OGR_SQLITE_CACHE": "7", "OGR_CURRENT_DATE": "2001-01-01T00:00:00Z"})
    try:
        with io.pyogrio_config():
            assert pyogrio.get_gdal_config_option("OGR_CURRENT_DATE") == io.FIXED_TIMESTAMP
            assert str(pyogrio.get_gdal_config_option("OGR_SQLITE_CACHE")) == "7"  # not ours: untouched
        assert pyogrio.get_gdal_config_option("OGR_CURRENT_DATE") == "2001-01-01T00:00:00Z"
        assert str(pyogrio.get_gdal_config_option("OGR_SQLITE_CACHE")) == "7"
    finally:
        pyogrio.set_gdal_config_options({"OGR_SQLITE_CACHE": None, "OGR_CURRENT_DATE": None})


def test_single_layer_with_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """write_layer's GeoPackage (layer metadata included) is the same through Arrow and to_file."""
    meta = {"source": "ACLED", "rows": 40, "fields": ["a", "b"]}
    fast = io.write_layer(_points(), tmp_path / "fast" / "incidents.gpkg", metadata=meta)
    monkeypatch.setattr(io, "_arrow_layer", lambda gdf: None)
    plain = io.write_layer(_points(), tmp_path / "plain" / "incidents.gpkg", metadata=meta)
    assert filecmp.cmp(fast, plain, shallow=False)
    assert pyogrio.read_info(fast)["layer_metadata"]["source"] == "ACLED"
