"""The styled GeoPackage as the speed work (#17) must keep it: the same content as the plain
``GeoDataFrame.to_file`` per layer, a complete and valid spatial index on every layer (QGIS needs
one), and byte-identical files from two runs; and the incidents' GeoParquet written through the
packed-WKB path byte for byte as ``GeoDataFrame.to_parquet`` writes it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from geoconflict import io
from geoconflict.layers import Layer
from geoconflict.publish import write_gpkg

N_POINTS = 2000


def _incidents(n: int = N_POINTS) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(17)
    lon = np.round(rng.uniform(36.0, 39.5, n), 4)
    lon[:50] = 39.0  # points sharing an x: ties in the R-tree's sort
    lat = np.round(rng.uniform(35.0, 37.0, n), 4)
    return gpd.GeoDataFrame({
        "incident_id": [f"SYR{i}" for i in range(n)],
        "date": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
        "has_time": rng.random(n) < 0.1,
        "date_precision": pd.array(rng.integers(1, 4, n), dtype="Int8"),
        "event_type": rng.choice(["Battles", "Explosions/Remote violence", "Protests"], n),
        "sub_event_type": rng.choice(["Armed clash", "Shelling/artillery/missile attack", "Peaceful protest"], n),
        "fatalities": rng.integers(0, 5, n).astype(float),
        "notes": [f"note {i} with <b>markup</b> & 'quotes'" for i in range(n)],
        "controller": pd.array(rng.choice(["SDF", "SAA", None], n), dtype="string"),
    }, geometry=gpd.points_from_xy(lon, lat), crs=4326)


def _grid() -> gpd.GeoDataFrame:
    cells = [shapely.box(x, y, x + 5000, y + 5000) for x in range(300000, 350000, 5000)
             for y in range(3900000, 3950000, 5000)]
    return gpd.GeoDataFrame({"cell_id": [f"c{i}" for i in range(len(cells))],
                             "count": np.arange(len(cells), dtype=np.int64)}, geometry=cells, crs=32637)


def _layers() -> list[Layer]:
    return [Layer("Incidents", "incidents", _incidents()), Layer("Hex 5 km", "grid", _grid())]


def _rtree_rows(path: Path, table: str) -> tuple[int, int, str, np.ndarray]:
    con = sqlite3.connect(path)
    try:
        features = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        boxes = np.array(con.execute(f'SELECT id, minx, maxx, miny, maxy FROM "rtree_{table}_geom" ORDER BY id')
                         .fetchall())
        check = con.execute(f"SELECT rtreecheck('rtree_{table}_geom')").fetchone()[0]
    finally:
        con.close()
    return features, len(boxes), check, boxes


def test_every_layer_has_a_complete_valid_spatial_index(tmp_path: Path) -> None:
    out = write_gpkg(_layers(), tmp_path / "layers.gpkg")
    for table, frame in (("incidents", _incidents()), ("hex_5_km", _grid())):
        features, indexed, check, boxes = _rtree_rows(out, table)
        assert features == indexed == len(frame)
        assert check == "ok"
        # each feature's box holds its geometry (float32, rounded outwards)
        bounds = frame.geometry.bounds.to_numpy()
        assert (boxes[:, 0] == np.arange(1, len(frame) + 1)).all()
        assert (boxes[:, 1] <= bounds[:, 0]).all() and (boxes[:, 2] >= bounds[:, 2]).all()
        assert (boxes[:, 3] <= bounds[:, 1]).all() and (boxes[:, 4] >= bounds[:, 3]).all()


def test_same_content_as_plain_to_file(tmp_path: Path) -> None:
    out = write_gpkg(_layers(), tmp_path / "layers.gpkg")
    for table, frame in (("incidents", _incidents()), ("hex_5_km", _grid())):
        plain = tmp_path / f"{table}.gpkg"
        frame.to_file(plain, driver="GPKG", engine="pyogrio", layer=table)
        ours = pyogrio.read_dataframe(out, layer=table)
        theirs = pyogrio.read_dataframe(plain, layer=table)
        pd.testing.assert_frame_equal(pd.DataFrame(ours.drop(columns="geometry")),
                                      pd.DataFrame(theirs.drop(columns="geometry")))
        assert ours.geometry.geom_equals_exact(theirs.geometry, tolerance=0).all()
        assert ours.crs == theirs.crs
        assert pyogrio.read_info(out, layer=table)["geometry_type"] == \
            pyogrio.read_info(plain, layer=table)["geometry_type"]


def test_two_runs_give_the_same_bytes(tmp_path: Path) -> None:
    a = write_gpkg(_layers(), tmp_path / "a.gpkg")
    b = write_gpkg(_layers(), tmp_path / "b.gpkg")
    assert a.read_bytes() == b.read_bytes()


def _parquet_both_ways(gdf: gpd.GeoDataFrame, tmp_path: Path) -> tuple[bytes, bytes]:
    ours = io.write_layer(gdf, tmp_path / "ours.parquet")
    plain = tmp_path / "plain.parquet"
    gdf.to_parquet(plain, index=False)
    return ours.read_bytes(), plain.read_bytes()


def test_point_geoparquet_is_to_parquet_byte_for_byte(tmp_path: Path) -> None:
    gdf = _incidents()
    gdf.attrs["source"] = "ACLED"
    assert io._point_geoparquet(gdf) is not None  # the packed path is the one taken
    ours, plain = _parquet_both_ways(gdf, tmp_path)
    assert ours == plain
    back = gpd.read_parquet(tmp_path / "ours.parquet")
    assert back.geometry.geom_equals_exact(gdf.geometry, tolerance=0).all()
    assert back.crs == gdf.crs


@pytest.mark.parametrize("case", ["polygons", "empty_point", "missing_point", "three_d", "no_rows"])
def test_other_layers_take_to_parquet(case: str, tmp_path: Path) -> None:
    gdf = _incidents(20)
    if case == "polygons":
        gdf = _grid()
    elif case == "empty_point":
        gdf.loc[3, "geometry"] = shapely.Point()
    elif case == "missing_point":
        gdf.loc[3, "geometry"] = None
    elif case == "three_d":
        gdf.loc[3, "geometry"] = shapely.Point(36, 35, 10)
    elif case == "no_rows":
        gdf = gdf.iloc[:0]
    assert io._point_geoparquet(gdf) is None
    ours, plain = _parquet_both_ways(gdf, tmp_path)
    assert ours == plain
