"""Defects the fuzzer (scripts/fuzz.py) found, each pinned (issue #18): exit 0 or one line."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely

from geoconflict.cli.main import cli
from geoconflict.errors import InputError
from geoconflict.io import GPKG_MAX_COLUMNS, PARQUET_METADATA_KEY, gpkg_layer_name, write_layer


def _points(n: int = 3) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"a": range(n)}, geometry=gpd.points_from_xy([36.6] * n, [35.8] * n), crs=4326)


@pytest.mark.parametrize(("name", "want"), [("my file (2020)", "my_file_2020"), ("{{x}}", "x"),
                                            ("2020-06-09", "layer_2020_06_09"), ("ok_name", "ok_name"),
                                            ("...", "layer")])
def test_gpkg_layer_names_are_what_gdal_takes(tmp_path: Path, name: str, want: str) -> None:
    assert gpkg_layer_name(name) == want
    out = tmp_path / f"{name}.gpkg"
    write_layer(_points(), out)
    import pyogrio

    assert [str(n) for n, _ in pyogrio.list_layers(out)] == [want]


def test_too_many_columns_for_a_geopackage_is_one_line(tmp_path: Path) -> None:
    extra = pd.DataFrame({f"c{i}": [1, 2, 3] for i in range(GPKG_MAX_COLUMNS + 1)})
    wide = gpd.GeoDataFrame(pd.concat([_points(), extra], axis=1), geometry="geometry", crs=4326)
    with pytest.raises(InputError, match="at most 1,999") as err:
        write_layer(wide, tmp_path / "w.gpkg")
    assert ".parquet" in str(err.value) and not (tmp_path / "w.gpkg").exists()
    write_layer(wide, tmp_path / "w.parquet")  # the format named in the fix takes it


def test_geoparquet_keeps_the_metadata_and_numbers_past_64_bits_as_text(tmp_path: Path) -> None:
    gdf = _points().assign(big=[1, 10**30, None])
    out = write_layer(gdf, tmp_path / "m.parquet", metadata={"cells": "hex:5km", "n": 3})
    meta = pq.read_schema(out).metadata
    assert json.loads(meta[PARQUET_METADATA_KEY]) == {"cells": "hex:5km", "n": "3"}
    back = gpd.read_parquet(out)
    assert back["big"].tolist()[:2] == ["1", str(10**30)] and pd.isna(back["big"].iloc[2])


def test_ucdp_without_date_start_is_refused(cli_runner, tmp_path: Path) -> None:
    csv = tmp_path / "ged.csv"
    csv.write_text("id,year,type_of_violence,side_a,side_b,where_prec,date_prec,latitude,longitude,best\n"
                   "1,2020,1,Gov,Opp,1,1,35.8,36.6,2\n", encoding="utf-8")
    r = cli_runner.invoke(cli, ["ingest", str(csv), "-o", str(tmp_path / "i.geojson")])
    assert r.exit_code == 2 and "date_start" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "i.geojson").exists()


@pytest.mark.parametrize("day", ["0000-00-00", "2020-03-06T25:00", "1600-01-01"])
def test_flows_matrix_date_unreadable_or_out_of_range(cli_runner, tmp_path: Path, day: str) -> None:
    data = Path(__file__).resolve().parent / "data" / "flows"
    admin = tmp_path / "adm1.geojson"
    gpd.GeoDataFrame({"ADM1_PCODE": ["SY07", "SY02"], "ADM1_EN": ["Idleb", "Aleppo"]},
                     geometry=[shapely.box(36.0, 35.5, 37.0, 36.5), shapely.box(37.0, 36.0, 38.0, 36.8)],
                     crs=4326).to_file(admin, driver="GeoJSON")
    r = cli_runner.invoke(cli, ["flows", str(data / "matrix_governorates.csv"), "--admin", str(admin),
                                "--matrix-date", day, "-o", str(tmp_path / "f.geojson")])
    assert r.exit_code == 2 and "--matrix-date" in r.output and "Traceback" not in r.output, r.output


def test_flows_admin_units_that_overlap_are_dissolved(tmp_path: Path) -> None:
    """Overlapping admin polygons of one unit: the coverage union refuses them, the general union not."""
    from geoconflict.flows import build_flows
    from geoconflict.flows.places import resolve_places  # noqa: F401 (the module under test)

    admin = tmp_path / "adm.geojson"
    gpd.GeoDataFrame({"ADM1_PCODE": ["SY07", "SY07", "SY02"], "ADM1_EN": ["Idleb", "Idleb", "Aleppo"],
                      "ADM2_PCODE": ["SY0701", "SY0702", "SY0201"], "ADM2_EN": ["A", "B", "C"]},
                     geometry=[shapely.box(36.0, 35.5, 36.7, 36.5), shapely.box(36.5, 35.5, 37.0, 36.5),
                               shapely.box(37.0, 36.0, 38.0, 36.8)], crs=4326).to_file(admin, driver="GeoJSON")
    records = tmp_path / "r.csv"
    pd.DataFrame({"date": ["2020-02-03"], "origin": ["Idleb"], "destination": ["Aleppo"],
                  "individuals": [100]}).to_csv(records, index=False)
    layers = build_flows([records], admin=[admin])
    assert layers.arcs["individuals"].sum() == 100


def test_dates_past_the_datetime64_range_are_unreadable_not_wrapped() -> None:
    """Year 9999 or 1066 in any form: unreadable (quarantined or refused), never a wrapped date
    or an OutOfBoundsDatetime traceback."""
    import numpy as np

    from geoconflict._dates import parse_date_column, to_ns

    got = to_ns(np.array(["2020-06-08", "9999-12-31", "1066-10-14", "NaT"], dtype="datetime64[s]"))
    assert str(got[0])[:10] == "2020-06-08" and np.isnat(got[1:]).all()
    for lenient in (False, True):
        res = parse_date_column(pd.Series(["2020-06-08", "9999-12-31", "31/12/9999 10:00", None]), lenient=lenient)
        assert res.dates.iloc[0] == pd.Timestamp("2020-06-08")
        assert res.dates.iloc[1:].isna().all()
        assert res.invalid.tolist()[1:3] == [True, True] and res.missing.tolist()[3]


def test_ingest_quarantines_dates_past_the_datetime64_range(cli_runner, tmp_path: Path) -> None:
    csv = tmp_path / "acled.csv"
    csv.write_text("event_id_cnty,event_date,year,time_precision,event_type,sub_event_type,latitude,longitude,"
                   "geo_precision,fatalities\n"
                   "A1,2020-06-08,2020,1,Battles,Armed clash,35.8,36.6,1,0\n"
                   "A2,9999-06-08,2020,1,Battles,Armed clash,35.8,36.6,1,0\n", encoding="utf-8")
    r = cli_runner.invoke(cli, ["ingest", str(csv), "-o", str(tmp_path / "i.geojson")])
    assert r.exit_code == 0, r.output
    q = pd.read_csv(tmp_path / "i.quarantine.csv")
    assert q["event_id_cnty"].tolist() == ["A2"] and q["reason"].tolist() == ["unparseable_date"]


def test_control_feature_without_geometry_is_named_not_a_traceback(cli_runner, tmp_path: Path) -> None:
    """Fuzz seed 5: a dated control layer with a null geometry crashed the snapshot merge."""
    feats = [{"type": "Feature", "properties": {"controller": "Gov", "date": "2020-01-01"},
              "geometry": {"type": "Polygon", "coordinates": [[[36, 35], [37, 35], [37, 36], [36, 35]]]}},
             {"type": "Feature", "properties": {"controller": "Opp", "date": "2020-01-01"}, "geometry": None}]
    ctl = tmp_path / "control.geojson"
    ctl.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")
    csv = tmp_path / "inc.csv"
    csv.write_text("id,lon,lat,day\n1,36.6,35.3,2020-06-08\n", encoding="utf-8")
    r = cli_runner.invoke(cli, ["join", str(csv), "--lon", "lon", "--lat", "lat", "--date", "day",
                                "--control", str(ctl), "-o", str(tmp_path / "j.geojson")])
    assert r.exit_code == 2 and "feature 2" in r.output and "geometry" in r.output, r.output
