"""Dated control layers: reading both dating models, snapshots, validation, front lines."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from geoconflict.control import (
    front_lines,
    read_control,
    snapshot_at,
    snapshots,
    validate_control,
)
from geoconflict.errors import LayerError

DATA = Path(__file__).resolve().parent / "data" / "join"
T = pd.Timestamp
NAT = pd.NaT


def _expected_dated() -> pd.DataFrame:
    return pd.DataFrame({
        "controller": ["Government", "Opposition", "Government", "Opposition"],
        "valid_from": [T("2020-02-01")] * 2 + [T("2020-03-02")] * 2,
        "valid_to": [T("2020-03-01")] * 2 + [NAT] * 2,
    }).astype({"valid_from": "datetime64[ns]", "valid_to": "datetime64[ns]"})


def _core(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    return pd.DataFrame(gdf[["controller", "valid_from", "valid_to"]]).reset_index(drop=True)


def test_date_model_becomes_validity_until_next_date() -> None:
    c = read_control(DATA / "control_dated.geojson")
    assert str(c["valid_from"].dtype) == "datetime64[ns]"
    assert str(c["valid_to"].dtype) == "datetime64[ns]"
    pd.testing.assert_frame_equal(_core(c), _expected_dated(), check_dtype=False)
    assert list(c["snapshot"]) == ["2020-02-01/2020-03-01"] * 2 + ["2020-03-02/.."] * 2
    assert list(c["source_feature"]) == [1, 2, 3, 4]


def test_valid_from_to_model_and_one_file_per_date_agree() -> None:
    a = read_control(DATA / "control_valid.geojson")
    b = read_control([DATA / "control_2020-02-01.geojson", DATA / "control_2020-03-02.geojson"])
    pd.testing.assert_frame_equal(_core(a), _expected_dated(), check_dtype=False)
    pd.testing.assert_frame_equal(_core(b), _expected_dated(), check_dtype=False)
    assert (shapely.equals(a.geometry.to_numpy(), b.geometry.to_numpy())).all()


def test_snapshots_and_inclusive_snapshot_at() -> None:
    c = read_control(DATA / "control_dated.geojson")
    states = snapshots(c)
    assert [(s, e) for s, e, _ in states] == [(T("2020-02-01"), T("2020-03-01")), (T("2020-03-02"), NAT)]
    assert [list(st["source_feature"]) for _, _, st in states] == [[1, 2], [3, 4]]
    # valid_to 2020-03-01 covers the whole of that day
    assert list(snapshot_at(c, "2020-03-01 23:59")["source_feature"]) == [1, 2]
    assert list(snapshot_at(c, "2020-03-02 00:00")["source_feature"]) == [3, 4]
    assert list(snapshot_at(c, "2030-01-01")["source_feature"]) == [3, 4]  # open end
    assert len(snapshot_at(c, "2020-01-31")) == 0


def test_per_feature_validity_cuts_states_where_any_feature_changes() -> None:
    g = gpd.GeoDataFrame(
        {"controller": ["A", "B", "C"], "valid_from": ["", "2020-01-10", "2020-01-20"],
         "valid_to": ["", "2020-01-19", ""]},
        geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1), shapely.box(1, 0, 2, 1)], crs=4326,
    )
    c = read_control(g)
    states = snapshots(c)
    assert [(s, e, sorted(st["controller"])) for s, e, st in states] == [
        (NAT, T("2020-01-09"), ["A"]),
        (T("2020-01-10"), T("2020-01-19"), ["A", "B"]),
        (T("2020-01-20"), NAT, ["A", "C"]),
    ]


def test_missing_controller_column_and_bad_date_name_the_problem() -> None:
    g = gpd.GeoDataFrame({"who": ["A"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326)
    with pytest.raises(LayerError, match="no controller column"):
        read_control(g)
    assert list(read_control(g, controller_col="who")["controller"]) == ["A"]
    g2 = gpd.GeoDataFrame({"controller": ["A", "B"], "valid_from": ["2020-01-01", "last tuesday"]},
                          geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)], crs=4326)
    with pytest.raises(LayerError) as err:
        read_control(g2)
    assert err.value.feature == 2 and err.value.column == "valid_from"


def test_several_files_without_dates_are_refused(tmp_path: Path) -> None:
    g = gpd.GeoDataFrame({"controller": ["A"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326)
    g.to_file(tmp_path / "one.geojson")
    g.to_file(tmp_path / "two.geojson")
    with pytest.raises(LayerError, match="carries no date"):
        read_control([tmp_path / "one.geojson", tmp_path / "two.geojson"])


def test_invalid_layer_refused_naming_the_feature() -> None:
    with pytest.raises(LayerError) as err:
        read_control(DATA / "control_invalid.geojson")
    assert "feature 2" in str(err.value) and "no controller" in str(err.value)
    report = validate_control(read_control(DATA / "control_invalid.geojson", validate=False), strict=False)
    kinds = {(p.kind, p.features) for p in report.errors}
    assert ("missing_controller", (2,)) in kinds
    assert ("dates_reversed", (3,)) in kinds
    assert not report.ok


def _utm_boxes(boxes: list[tuple[float, float, float, float]], names: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"controller": names, "valid_from": ["2020-01-01"] * len(names), "valid_to": [""] * len(names)},
        geometry=[shapely.box(*b) for b in boxes], crs=32637,
    )


def test_overlap_between_controllers_measured_in_km2() -> None:
    # two 10 km squares in UTM 37N overlapping by 2 km x 10 km = 20 km²
    x0, y0 = 300_000, 3_960_000
    g = _utm_boxes([(x0, y0, x0 + 10_000, y0 + 10_000), (x0 + 8_000, y0, x0 + 18_000, y0 + 10_000)],
                   ["A", "B"])
    report = validate_control(read_control(g, validate=False), strict=False)
    [ov] = [p for p in report.problems if p.kind == "overlap"]
    assert ov.features == (1, 2) and ov.severity == "error"
    # UTM scale factor near the zone's edge is within 0.2% of 1 (area: 0.4%)
    assert ov.area_km2 == pytest.approx(20.0, rel=0.005)
    with pytest.raises(LayerError, match="overlap by"):
        validate_control(read_control(g, validate=False))
    # the same controller overlapping itself is not a problem
    g.loc[1, "controller"] = "A"
    assert validate_control(read_control(g, validate=False)).problems == []


def test_gap_enclosed_by_zones_is_reported() -> None:
    x0, y0 = 300_000, 3_960_000
    # a 3 km x 3 km ring of zones around a 1 km x 1 km hole
    ring = [(x0, y0, x0 + 3000, y0 + 1000), (x0, y0 + 2000, x0 + 3000, y0 + 3000),
            (x0, y0 + 1000, x0 + 1000, y0 + 2000), (x0 + 2000, y0 + 1000, x0 + 3000, y0 + 2000)]
    report = validate_control(read_control(_utm_boxes(ring, ["A", "B", "A", "B"]), validate=False))
    [gap] = [p for p in report.problems if p.kind == "gap"]
    assert gap.severity == "warning"
    assert gap.area_km2 == pytest.approx(1.0, rel=0.005)
    assert set(gap.features) == {1, 2, 3, 4}


def test_invalid_geometry_is_repaired_and_reported() -> None:
    bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
    g = gpd.GeoDataFrame({"controller": ["A"]}, geometry=[bowtie], crs=4326)
    report = validate_control(read_control(g, validate=False))
    assert [p.kind for p in report.problems] == ["invalid_geometry"]
    fixed = report.control.geometry.iloc[0]
    assert fixed.is_valid and fixed.area == pytest.approx(0.5)


def test_front_lines_are_shared_boundaries_between_controllers() -> None:
    c = read_control(DATA / "control_dated.geojson")
    fl = front_lines(snapshot_at(c, "2020-02-15"))
    assert len(fl) == 1
    row = fl.iloc[0]
    assert (row["controller_left"], row["controller_right"]) == ("Government", "Opposition")
    assert row["pair"] == "Government | Opposition"
    assert (row["valid_from"], row["valid_to"]) == (T("2020-02-01"), T("2020-03-01"))
    xs, ys = shapely.get_coordinates(row.geometry).T
    assert np.allclose(ys, 35.8) and xs.min() == pytest.approx(36.5) and xs.max() == pytest.approx(37.0)
    geodesic = Geod(ellps="WGS84").line_length(np.sort(xs), np.full(len(xs), 35.8))
    assert row["length_m"] == pytest.approx(geodesic, rel=0.01)
    # one controller only: no front line
    assert len(front_lines(snapshot_at(c, "2020-02-15").iloc[:1])) == 0


def test_gap_in_zones_meeting_edge_to_edge_is_reported() -> None:
    """Zones that form a valid coverage (the fast path: no overlap to measure, union by
    stitching edges) still report the hole they enclose, and nothing else."""
    x0, y0 = 300_000, 3_960_000
    cells = [(x0 + 1000 * i, y0 + 1000 * j, x0 + 1000 * (i + 1), y0 + 1000 * (j + 1))
             for j in range(3) for i in range(3) if (i, j) != (1, 1)]
    g = _utm_boxes(cells, ["A", "B"] * 4)
    assert shapely.coverage_is_valid(g.geometry.to_numpy())
    report = validate_control(read_control(g, validate=False))
    assert [p.kind for p in report.problems] == ["gap"]
    assert report.problems[0].area_km2 == pytest.approx(1.0, rel=0.005)
