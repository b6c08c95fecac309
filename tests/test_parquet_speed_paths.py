"""GeoParquet as the speed work (#17) must keep it: a large layer is written without min/max
statistics on its text and binary columns (numbers and dates keep theirs), and still reads back
with the same values in geopandas and through GDAL, byte for byte the same from run to run;
a small layer stays exactly what ``GeoDataFrame.to_parquet`` writes.  And the ingest helpers
that replaced whole-column pyarrow comparisons answer as those did."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from geoconflict import _validate as V
from geoconflict import io
from geoconflict.incidents import date_window

N = 3000


def _incidents(n: int = N) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(17)
    return gpd.GeoDataFrame({
        "incident_id": [f"SYR{i}" for i in range(n)],
        "date": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
        "date_precision": pd.array(rng.integers(1, 4, n), dtype="Int8"),
        "event_type": rng.choice(["Battles", "Explosions/Remote violence", "Protests"], n),
        "fatalities": rng.integers(0, 5, n).astype(float),
        "notes": [f"note {i} with <b>markup</b> & 'quotes'" for i in range(n)],
        "controller": pd.array(rng.choice(["SDF", "SAA", None], n), dtype="string"),
        "ADM3_PCODE": np.array([f"SY{i % 40:04d}" if i % 7 else None for i in range(n)], dtype=object),
    }, geometry=gpd.points_from_xy(np.round(rng.uniform(36, 39.5, n), 4),
                                   np.round(rng.uniform(35, 37, n), 4)), crs=4326)


@pytest.fixture
def large_from_1000(monkeypatch: pytest.MonkeyPatch) -> None:
    """The large-layer writing from 1,000 rows (500,000 in use)."""
    monkeypatch.setattr(io, "PARQUET_TEXT_STATISTICS_MAX_ROWS", 1000)


def _statistics(path: Path) -> dict[str, bool]:
    group = pq.ParquetFile(path).metadata.row_group(0)
    return {group.column(i).path_in_schema: group.column(i).is_stats_set for i in range(group.num_columns)}


def test_large_layer_keeps_statistics_of_numbers_and_dates_only(large_from_1000: None,
                                                                 tmp_path: Path) -> None:
    path = io.write_layer(_incidents(), tmp_path / "inc.parquet", metadata={"source": "ACLED"})
    stats = _statistics(path)
    assert stats["date"] and stats["fatalities"] and stats["date_precision"]
    assert not any(stats[c] for c in ("incident_id", "event_type", "notes", "controller",
                                      "ADM3_PCODE", "geometry"))


def test_small_layer_keeps_every_statistic(tmp_path: Path) -> None:
    path = io.write_layer(_incidents(), tmp_path / "inc.parquet")
    assert all(_statistics(path).values())


def test_large_layer_reads_back_the_same_values(large_from_1000: None, tmp_path: Path) -> None:
    gdf = _incidents()
    path = io.write_layer(gdf, tmp_path / "inc.parquet", metadata={"source": "ACLED"})
    back = gpd.read_parquet(path)
    pd.testing.assert_frame_equal(pd.DataFrame(back.drop(columns="geometry")),
                                  pd.DataFrame(gdf.drop(columns="geometry")))
    assert back.geometry.geom_equals_exact(gdf.geometry, tolerance=0).all()
    assert back.crs == gdf.crs
    assert pq.read_schema(path).metadata[io.PARQUET_METADATA_KEY] == b'{"source": "ACLED"}'
    # GDAL's Parquet driver reads through Arrow's Parquet reader (pyogrio's wheel here has
    # no Parquet driver): the table as Arrow reads it, without pandas, holds the same values
    table = pq.read_table(path)
    assert table["notes"].to_pylist() == gdf["notes"].tolist()
    assert table["ADM3_PCODE"].to_pylist() == [None if pd.isna(v) else v for v in gdf["ADM3_PCODE"]]
    assert table["fatalities"].to_pylist() == gdf["fatalities"].tolist()


def test_large_layer_same_bytes_twice(large_from_1000: None, tmp_path: Path) -> None:
    a = io.write_layer(_incidents(), tmp_path / "a.parquet", metadata={"k": "v"})
    b = io.write_layer(_incidents(), tmp_path / "b.parquet", metadata={"k": "v"})
    assert a.read_bytes() == b.read_bytes()


def test_metadata_written_in_the_one_write(tmp_path: Path) -> None:
    gdf = _incidents(50)
    path = io.write_layer(gdf, tmp_path / "inc.parquet", metadata={"source": "ACLED", "n": 3})
    meta = pq.read_schema(path).metadata
    assert meta[io.PARQUET_METADATA_KEY] == b'{"n": "3", "source": "ACLED"}'
    assert b"geo" in meta and b"pandas" in meta  # geopandas' own keys kept beside it
    assert len(gpd.read_parquet(path)) == 50


# --- ingest helpers


@pytest.mark.parametrize("cells", [
    ["a", "b", None], ["a", "", "b"], ["", None], [None, None], [], ["x" * 40, " "],
])
def test_any_empty_agrees_with_comparing_every_cell(cells: list[str | None]) -> None:
    for typ in (pa.string(), pa.large_string()):
        arr = pa.chunked_array([pa.array(cells, type=typ), pa.array(["z"], type=typ)], type=typ)
        expected = bool(pc_any_empty(arr))
        assert V._any_empty(arr) is expected
        assert V._any_empty(arr.slice(1)) is bool(pc_any_empty(arr.slice(1)))


def pc_any_empty(arr: pa.ChunkedArray) -> bool:
    import pyarrow.compute as pc

    return bool(pc.any(pc.equal(arr, "")).as_py())


def test_null_cell_with_bytes_is_not_empty() -> None:
    # a null slot may span bytes or none: only valid zero-length cells are empty
    arr = pa.array(["ab", None, "c"], type=pa.string())
    assert V._any_empty(pa.chunked_array([arr])) is False
    cleaned = V.clean_text(pd.Series(["ab", "", None, " c "], dtype="str"), trim=True)
    assert cleaned.isna().tolist() == [False, True, True, False]
    assert cleaned[[0, 3]].tolist() == ["ab", "c"]


def test_date_window_per_precision() -> None:
    dates = pd.Series([pd.Timestamp(t) if t else pd.NaT for t in
                       ("2020-03-15", "2020-03-15", "2020-03-15 10:00", "2020-03-15", None,
                        "2019-12-31", "2020-02-10")], dtype="datetime64[ns]")
    prec = pd.array([1, 2, 3, 4, 3, 2, 9], dtype="Int8")
    start, end = date_window(pd.DataFrame({"date": dates, "date_precision": prec}))
    assert start.tolist()[:4] == [pd.Timestamp("2020-03-15"), pd.Timestamp("2020-03-12"),
                                  pd.Timestamp("2020-03-01"), pd.Timestamp("2020-01-01")]
    assert end.tolist()[:4] == [pd.Timestamp("2020-03-15"), pd.Timestamp("2020-03-18"),
                                pd.Timestamp("2020-03-31"), pd.Timestamp("2020-12-31")]
    assert pd.isna(start[4]) and pd.isna(end[4])
    assert (start[5], end[5]) == (pd.Timestamp("2019-12-28"), pd.Timestamp("2020-01-03"))
    assert (start[6], end[6]) == (pd.Timestamp("2020-01-01"), pd.Timestamp("2020-12-31"))  # past 4: a year


def test_precisions_in_place_leave_the_input_alone() -> None:
    from geoconflict.incidents import _date_precision, _geo_precision

    frame = pd.DataFrame({"date_prec": [1.0, 2.4, 5.0, 0.0, np.nan, np.inf],
                          "where_prec": [1.0, 2.0, 7.0, 0.0, np.nan, 9.6]})
    before = frame.copy()
    cols: dict[str, str | None] = {"date_precision": "date_prec", "geo_precision": "where_prec"}
    hint = V.small_ints(np.array([np.nan, np.nan, np.nan, 3, 3, np.nan]))
    assert _date_precision("ucdp", frame, cols, hint).tolist() == [1, 2, 4, 3, 3, 1]
    assert _date_precision("acled", frame, cols, hint).tolist() == [1, 2, 1, 3, 3, 1]  # 5: unknown, no hint: a day
    assert _geo_precision("ucdp", frame, cols).astype("float64").tolist()[:3] == [1, 2, 3]
    assert _geo_precision("acled", frame, cols).isna().tolist() == [False, False, False, True, True, True]
    pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize("case", ["renamed_geometry", "nan_coordinate", "one_point"])
def test_geo_metadata_from_corners_is_geopandas_own(case: str, tmp_path: Path) -> None:
    gdf = _incidents(40)
    if case == "renamed_geometry":
        gdf = gdf.rename_geometry("where")
    elif case == "nan_coordinate":  # a point, not empty: the metadata comes from the layer itself
        gdf.loc[5, "geometry"] = gpd.points_from_xy([np.nan], [35.5])[0]
    elif case == "one_point":
        gdf = gdf.iloc[:1]
    assert io._point_geoparquet(gdf) is not None
    ours = io.write_layer(gdf, tmp_path / "ours.parquet")
    gdf.to_parquet(tmp_path / "plain.parquet", index=False)
    assert ours.read_bytes() == (tmp_path / "plain.parquet").read_bytes()


def test_geopandas_private_helpers_changed_falls_back_to_its_public_writer(tmp_path, monkeypatch):
    """If geopandas' private helpers move or change signature, the public to_parquet writes the
    file, with the metadata still under geoconflict's key."""
    import geopandas as gpd
    import pyarrow.parquet as pq
    import shapely

    from geoconflict import io

    def changed(*args, **kwargs):
        raise TypeError("unexpected keyword argument")

    monkeypatch.setattr(io, "_point_geoparquet", changed)
    gdf = gpd.GeoDataFrame({"a": [1, 2]}, geometry=shapely.points([0.0, 1.0], [0.0, 1.0]), crs=4326)
    out = tmp_path / "x.parquet"
    io._write_geoparquet(gdf, out, metadata={"k": "v"})
    back = gpd.read_parquet(out)
    assert back["a"].tolist() == [1, 2] and back.crs.to_epsg() == 4326
    assert io.PARQUET_METADATA_KEY in pq.read_schema(out).metadata
