"""geoconflict.incidents: readers, validation, quarantine, flags, date windows, writing."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from geoconflict import incidents as inc
from geoconflict._readers import GED_COLUMNS, _count_lines
from geoconflict.errors import InputError, OutputExistsError, SchemaError
from geoconflict.incidents import (
    CANONICAL_COLUMNS,
    date_window,
    incidents_from_frame,
    read_incidents,
    write_ingest,
)

DATA = Path(__file__).resolve().parent / "data" / "incidents"
TS = pd.Timestamp


def by_id(result: inc.IngestResult) -> pd.DataFrame:
    return result.incidents.set_index("incident_id")


def accounted(result: inc.IngestResult) -> None:
    r = result.report
    assert r.accepted == len(result.incidents)
    assert r.quarantined == len(result.quarantine)
    assert r.accepted + r.quarantined == r.rows_read


# ------------------------------------------------------------------------------------ ACLED


def test_acled_2023_maps_every_canonical_column():
    res = read_incidents(DATA / "acled_2023.csv")
    accounted(res)
    df = res.incidents
    assert res.report.source_format == "acled" and res.report.rows_read == 7
    assert list(df.columns[: len(CANONICAL_COLUMNS)]) == list(CANONICAL_COLUMNS)
    assert df.crs.to_epsg() == 4326
    row = by_id(res).loc["SYR100"]
    assert row["date"] == TS("2020-06-08") and row["date_precision"] == 1
    assert row["event_type"] == "Explosions/Remote violence"
    assert row["sub_event_type"] == "Air/drone strike"
    assert row["actor1"] == "Military Forces of Russia (2000-)"
    assert row["actor2"] == "Civilians (Syria)"
    assert row["fatalities"] == 2.0 and row["location"] == "Mozra" and row["geo_precision"] == 1
    assert row["source"] == "Syrian Observatory for Human Rights"
    assert row["notes"].startswith('On 8 June 2020, Russian warplanes struck "al-Maourzeh" (Mozra),')
    assert row["source_format"] == "acled" and row["flags"] == ""
    assert (row["geometry"].x, row["geometry"].y) == (36.4399, 35.6571)
    # the source's other columns are kept, the ones mapped into the canonical table are not repeated
    for col in ("year", "disorder_type", "inter1", "admin1", "country", "timestamp", "tags"):
        assert col in df.columns
    for col in ("event_id_cnty", "event_date", "latitude", "longitude", "time_precision"):
        assert col not in df.columns
    assert df["date"].dtype == "datetime64[ns]" and df["date_end"].dtype == "datetime64[ns]"
    assert str(df["date_precision"].dtype) == "Int8" and str(df["geo_precision"].dtype) == "Int8"


def test_quoted_newline_and_doubled_quotes_survive():
    row = by_id(read_incidents(DATA / "acled_2023.csv")).loc["SYR106"]
    assert row["notes"] == 'Strikes on Kansafra; "heavy" damage.\nUpdate: 3 killed, per White Helmets.'
    assert row["fatalities"] == 3.0


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("acled_2023.csv", {"SYR100": "2020-06-08", "SYR102": "2020-06-03"}),  # 2020-06-08
        ("acled_pre2023.csv", {"SYR200": "2020-06-08", "SYR201": "2020-06-03"}),  # 08 June 2020
        ("acled_dmy.csv", {"SYR300": "2020-06-08", "SYR301": "2020-06-09"}),  # 08-06-2020
    ],
)
def test_acled_three_date_formats(name, expected):
    res = read_incidents(DATA / name)
    assert res.report.source_format == "acled" and res.report.quarantined == 0
    got = by_id(res)["date"]
    assert {k: got[k] for k in expected} == {k: TS(v) for k, v in expected.items()}


def test_acled_pre2023_keeps_old_columns():
    df = read_incidents(DATA / "acled_pre2023.csv").incidents
    assert {"data_id", "event_id_no_cnty", "iso3"} <= set(df.columns)
    assert list(df["data_id"]) == ["7001", "7002"]


def test_bom_and_crlf():
    df = read_incidents(DATA / "acled_dmy.csv").incidents
    assert list(df["incident_id"]) == ["SYR300", "SYR301"]  # no BOM glued to the first name
    assert df["timestamp"].tolist() == ["1592000000", "1592000000"]  # no trailing \r


def test_time_of_day_and_precision_windows():
    res = read_incidents(DATA / "acled_2023.csv")
    df = by_id(res)
    assert df.loc["SYR103", "has_time"] and df.loc["SYR103", "date"] == TS("2020-06-09 14:30")
    assert not df.loc["SYR100", "has_time"]
    assert df.loc["SYR101", "date_precision"] == 2 and df.loc["SYR101", "date_end"] == TS("2020-06-11")
    assert df.loc["SYR102", "date_precision"] == 3 and df.loc["SYR102", "date_end"] == TS("2020-06-30")
    start, end = date_window(res.incidents)
    start.index = end.index = res.incidents["incident_id"]
    assert (start["SYR101"], end["SYR101"]) == (TS("2020-06-05"), TS("2020-06-11"))
    assert (start["SYR102"], end["SYR102"]) == (TS("2020-06-01"), TS("2020-06-30"))


def test_date_window_rules():
    df = pd.DataFrame({
        "date": pd.to_datetime(["2020-06-08", "2020-06-08", "2020-02-10", "2020-06-08", "2020-06-03",
                                "2020-06-08 14:30"], format="ISO8601"),
        "date_precision": pd.array([1, 2, 3, 4, 2, 1], dtype="Int8"),
        "date_end": pd.to_datetime([None, None, None, None, "2020-06-05", None]),
    })
    start, end = date_window(df)
    assert list(start) == [TS("2020-06-08"), TS("2020-06-05"), TS("2020-02-01"), TS("2020-01-01"),
                           TS("2020-06-03"), TS("2020-06-08 14:30")]
    assert list(end) == [TS("2020-06-08"), TS("2020-06-11"), TS("2020-02-29"), TS("2020-12-31"),
                         TS("2020-06-05"), TS("2020-06-08 14:30")]
    # a UCDP row's date_end is its source's even when it equals the precision's end
    ucdp = df.iloc[[4]].assign(date_end=TS("2020-06-06"), source_format="ucdp")
    assert [x.item() for x in date_window(ucdp)] == [TS("2020-06-03"), TS("2020-06-06")]
    assert [x.item() for x in date_window(ucdp.assign(source_format="acled"))] == [
        TS("2020-05-31"), TS("2020-06-06")]
    # without date_end or date_precision columns: days
    s2, e2 = date_window(df[["date"]])
    assert list(s2) == list(df["date"]) and list(e2) == list(df["date"])


# ------------------------------------------------------------------------------------ UCDP


def test_ucdp_headerless_equals_ucdp_with_header():
    a = read_incidents(DATA / "ucdp_ged_headerless.csv")
    b = read_incidents(DATA / "ucdp_ged.csv")
    assert a.report.source_format == b.report.source_format == "ucdp"
    assert a.report.rows_read == b.report.rows_read == 3  # the first data row is not a header
    pd.testing.assert_frame_equal(a.incidents, b.incidents)


def test_ucdp_mapping():
    res = read_incidents(DATA / "ucdp_ged_headerless.csv")
    df = by_id(res)
    r1, r2, r3 = df.loc["330001"], df.loc["330002"], df.loc["330003"]
    assert r1["event_type"] == "One-sided violence" and r2["event_type"] == "State-based armed conflict"
    assert r3["event_type"] == "Non-state conflict"
    assert r1["type_of_violence"] == "3"  # the code stays too
    assert r1["actor1"] == "Government of Russia (Soviet Union)" and r1["actor2"] == "Civilians"
    assert (r1["fatalities"], r1["low"], r1["high"]) == (2.0, 2.0, 3.0)
    assert r2["fatalities"] == 17.0 and r2["geo_precision"] == 3 and "imprecise_location" in r2["flags"]
    assert r3["geo_precision"] == 2 and r1["location"] == "Mozra village"
    assert r1["date"] == TS("2020-06-08") and not r1["has_time"]  # 00:00:00.000 is a plain day
    assert r2["date_precision"] == 3 and r2["date_end"] == TS("2020-06-30")
    start, end = date_window(res.incidents)
    i3 = int(np.flatnonzero(res.incidents["incident_id"] == "330003")[0])
    assert (start[i3], end[i3]) == (TS("2020-06-03"), TS("2020-06-06"))  # the source's window wins
    assert "geom_wkt" in df.columns and "where_prec" not in df.columns


def test_ucdp_date_prec_5_is_year():
    df = pd.read_csv(DATA / "ucdp_ged.csv", dtype=str, keep_default_na=False)
    df.loc[0, "date_prec"] = "5"
    df.loc[0, "date_end"] = ""
    out = incidents_from_frame(df).incidents
    assert out.loc[0, "date_precision"] == 4 and out.loc[0, "date_end"] == TS("2020-12-31")


def test_ged_column_list():
    assert len(GED_COLUMNS) == 49 and len(set(GED_COLUMNS)) == 49
    assert GED_COLUMNS.index("latitude") == 29 and GED_COLUMNS[-5:] == ("best", "high", "low", "gwnoa", "gwnob")


# ------------------------------------------------------------------------------------ generic CSV


def test_generic_csv_named_columns_and_precision_from_the_text():
    res = read_incidents(DATA / "generic.csv", lon="X", lat="Y", date="when")
    assert res.report.source_format == "csv" and res.report.accepted == 4
    df = res.incidents
    assert list(df["date"]) == [TS("2020-06-08"), TS("2020-06-01"), TS("2020-01-01"), TS("2020-06-08")]
    assert list(df["date_precision"]) == [1, 3, 4, 1]
    assert list(df["date_end"]) == [TS("2020-06-08"), TS("2020-06-30"), TS("2020-12-31"), TS("2020-06-08")]
    assert list(df["incident_id"]) == ["row-1", "row-2", "row-3", "row-4"]
    assert {"ref", "place", "deaths"} <= set(df.columns) and "X" not in df.columns
    assert df.geometry.x.tolist() == [36.6103, 36.8061, 36.7697, 36.3149]


def test_generic_csv_without_a_date_column_is_allowed():
    res = read_incidents(DATA / "generic.csv", lon="X", lat="Y")
    assert res.report.accepted == 4 and res.report.quarantined == 0
    assert res.incidents["date"].isna().all() and res.report.columns["date"] is None


def test_generic_csv_guesses_lon_lat_and_date_names(tmp_path):
    p = tmp_path / "pts.csv"
    p.write_text("Longitude,Latitude,Date\n36.6,35.9,2020-06-08\n36.7,35.8,\n")
    res = read_incidents(p)
    assert res.report.columns["lon"] == "Longitude" and res.report.columns["date"] == "Date"
    assert res.report.accepted == 1 and res.report.quarantined_by_reason == {"missing_date": 1}


def test_format_override(tmp_path):
    # ACLED-looking columns, read as generic: event_date is still the date (generic names)
    res = read_incidents(DATA / "acled_pre2023.csv", format="csv", lon="longitude", lat="latitude")
    assert res.report.source_format == "csv" and res.report.columns["date"] == "event_date"
    assert "time_precision" not in res.incidents.columns or res.report.columns["date_precision"]


# ------------------------------------------------------------------------------------ quarantine


def test_every_quarantine_reason_once():
    res = read_incidents(DATA / "acled_quarantine.csv")
    accounted(res)
    assert res.report.rows_read == 12 and res.report.accepted == 2
    q = res.quarantine
    assert dict(zip(q["source_row"], q["reason"], strict=True)) == {
        2: "missing_coordinate", 3: "non_numeric_coordinate", 4: "coordinate_out_of_range",
        5: "null_island", 6: "missing_date", 7: "unparseable_date", 8: "negative_fatalities",
        9: "non_numeric_fatalities", 10: "duplicate_id", 11: "malformed_row",
    }
    # original columns, as text, untouched
    assert q.loc[q["source_row"] == 4, "latitude"].item() == "95.81"
    assert q.loc[q["source_row"] == 9, "fatalities"].item() == "many"
    assert q.loc[q["source_row"] == 11, "raw_line"].item().startswith("SYR11,2020-06-09,2020,1,extra")
    assert list(res.incidents["incident_id"]) == ["SYR1", "SYR12"]
    assert res.incidents.loc[0, "date"] == TS("2020-06-08")  # the first SYR1 stays
    assert np.isnan(res.incidents.loc[1, "fatalities"])  # empty fatalities: kept, unknown
    assert res.report.summary() == (
        "12 rows read, 2 accepted (0 flagged), 10 quarantined (missing_coordinate 1, "
        "non_numeric_coordinate 1, coordinate_out_of_range 1, null_island 1, missing_date 1, "
        "unparseable_date 1, non_numeric_fatalities 1, negative_fatalities 1, duplicate_id 1, "
        "malformed_row 1)"
    )


def test_duplicate_keeps_the_first_valid_row():
    df = pd.DataFrame({"event_id_cnty": ["A", "A", "A", "B"], "event_date": ["", "2020-06-08", "2020-06-09", "2020-06-08"],
                       "sub_event_type": "Air/drone strike", "latitude": "35.9", "longitude": "36.6"})
    res = incidents_from_frame(df)
    assert list(res.incidents["incident_id"]) == ["A", "B"]
    assert res.incidents.loc[0, "date"] == TS("2020-06-08")
    assert dict(zip(res.quarantine["source_row"], res.quarantine["reason"], strict=True)) == {
        1: "missing_date", 3: "duplicate_id"}


def test_vector_geometry_reasons():
    geoms = [shapely.Point(36.6, 35.9), shapely.box(36, 35, 37, 36), shapely.Point(), None,
             shapely.MultiPoint([(36.5, 35.7)]), shapely.MultiPoint([(36.5, 35.7), (36.6, 35.8)]),
             shapely.Point(0, 0)]
    gdf = gpd.GeoDataFrame({"date": ["2020-06-08"] * 7}, geometry=geoms, crs=4326)
    res = incidents_from_frame(gdf)
    accounted(res)
    assert res.report.source_format == "vector" and res.report.accepted == 2
    assert res.incidents.geometry.geom_type.tolist() == ["Point", "Point"]
    assert (res.incidents.geometry.x[1], res.incidents.geometry.y[1]) == (36.5, 35.7)
    assert dict(zip(res.quarantine["source_row"], res.quarantine["reason"], strict=True)) == {
        2: "non_point_geometry", 3: "empty_geometry", 4: "empty_geometry",
        6: "non_point_geometry", 7: "null_island"}
    assert res.quarantine.loc[0, "geometry"].startswith("POLYGON")


def test_accounting_holds_on_random_dirt():
    rng = np.random.default_rng(7)
    n = 3000
    cells = {
        "lon": rng.choice(["36.6", "", "x", "200", "0", "36,61", " 36.7 "], n),
        "lat": rng.choice(["35.9", "", "NaN", "0", "-91", "35.8"], n),
        "date": rng.choice(["2020-06-08", "", "2020-02-30", "08 June 2020", "8-6-2020", "June 8, 2020"], n),
        "fatalities": rng.choice(["1", "", "-1", "two", "0", "3.0"], n),
        "id": rng.choice([f"E{i}" for i in range(1500)], n),
    }
    res = incidents_from_frame(pd.DataFrame(cells))
    accounted(res)
    # independent count of the rows that must be accepted
    lon = pd.to_numeric(pd.Series(cells["lon"]).str.strip().str.replace(",", "."), errors="coerce")
    lat = pd.to_numeric(pd.Series(cells["lat"]).replace("NaN", ""), errors="coerce")
    d = pd.Series(cells["date"])
    good_date = d.isin(["2020-06-08", "08 June 2020", "8-6-2020", "June 8, 2020"])
    fat = pd.Series(cells["fatalities"])
    good_fat = fat.isin(["1", "", "0", "3.0"])
    ok = (lon.abs() <= 180) & (lat.abs() <= 90) & ~((lon == 0) & (lat == 0)) & good_date & good_fat
    ok &= ~(pd.Series(cells["id"]).where(ok).duplicated() & ok)
    assert res.report.accepted == int(ok.sum())
    assert set(res.incidents["date"].unique()) == {TS("2020-06-08")}


# ------------------------------------------------------------------------------------ flags


def test_flags_precision_swapped_future():
    df = by_id(read_incidents(DATA / "acled_2023.csv"))
    assert df.loc["SYR101", "flags"] == "imprecise_location"
    assert df.loc["SYR104", "flags"] == "outside_country"
    assert df.loc["SYR105", "flags"] == "future_date"
    assert df.loc["SYR100", "flags"] == ""


def _syria() -> shapely.Geometry:
    countries = gpd.read_file(Path(inc.__file__).parent / "data" / "countries_ne110m.geojson")
    return countries.loc[countries["name"] == "Syria"].geometry.item()


def test_outside_country_tolerance_measured_in_metres():
    syria = _syria()
    rng = np.random.default_rng(3)
    # points around the north-west border of Syria (Idlib / Hatay)
    lon = rng.uniform(35.5, 37.5, 400)
    lat = rng.uniform(35.5, 37.2, 400)
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326)
    # independent measure: geodesic distance to the nearest point of the border (pyproj.Geod)
    inside = pts.within(syria).to_numpy()
    near = shapely.shortest_line(pts.values, syria.boundary)
    c = shapely.get_coordinates(near).reshape(-1, 2, 2)
    dist = Geod(ellps="WGS84").inv(c[:, 0, 0], c[:, 0, 1], c[:, 1, 0], c[:, 1, 1])[2]
    dist[inside] = 0
    clear = np.abs(dist - 25_000) > 3_000  # leave out the knife edge
    frame = pd.DataFrame({"lon": lon, "lat": lat, "country": "Syrian Arab Republic"})
    flags = incidents_from_frame(frame).incidents["flags"].to_numpy()
    flagged = flags == "outside_country"
    assert (flagged[clear] == (dist[clear] > 25_000)).all()
    assert flagged.sum() > 50 and (~flagged & ~inside).sum() > 5  # both sides are exercised


def test_unknown_or_missing_country_is_not_flagged():
    frame = pd.DataFrame({"lon": [2.35, 2.35, 2.35, 36.6], "lat": [48.85, 48.85, 48.85, 35.9],
                          "country": ["Atlantis", "", "Russia (Soviet Union)", "Syria"]})
    flags = incidents_from_frame(frame).incidents["flags"].tolist()
    assert flags == ["", "", "outside_country", ""]


# ------------------------------------------------------------------------------------ vector files


def _points_layer() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"date": ["2020-06-08", "2020-06-09", "2020-06-09"], "fatalities": [2, 0, 1],
         "location": ["Mozra", "Qastun", "Bara"]},
        geometry=gpd.points_from_xy([36.4399, 36.3893, 36.5419], [35.6571, 35.6857, 35.6853]),
        crs=4326,
    )


@pytest.mark.parametrize("ext", [".geojson", ".gpkg", ".fgb", ".parquet", ".shp", ".zip"])
def test_point_layers(tmp_path, ext):
    gdf = _points_layer()
    path = tmp_path / f"pts{ext}"
    if ext == ".parquet":
        gdf.to_parquet(path)
    elif ext == ".zip":
        shp = tmp_path / "shp"
        shp.mkdir()
        gdf.to_file(shp / "pts.shp")
        with zipfile.ZipFile(path, "w") as zf:
            for f in shp.iterdir():
                zf.write(f, f.name)
    else:
        gdf.to_file(path)
    res = read_incidents(path)
    accounted(res)
    assert res.report.source_format == "vector" and res.report.accepted == 3
    df = res.incidents.sort_values("location").reset_index(drop=True)  # FlatGeobuf reorders
    assert list(df["location"]) == ["Bara", "Mozra", "Qastun"]
    assert list(df["fatalities"]) == [1.0, 2.0, 0.0]
    assert list(df["date"]) == [TS("2020-06-09"), TS("2020-06-08"), TS("2020-06-09")]
    np.testing.assert_allclose(df.geometry.x, [36.5419, 36.4399, 36.3893])


def test_projected_layer_is_reprojected(tmp_path):
    gdf = _points_layer().to_crs(32637)
    path = tmp_path / "utm.gpkg"
    gdf.to_file(path)
    df = read_incidents(path).incidents
    assert df.crs.to_epsg() == 4326
    np.testing.assert_allclose(df.geometry.x, [36.4399, 36.3893, 36.5419], atol=1e-7)


# ------------------------------------------------------------------------------------ real-world text quirks


def _acled_text() -> str:
    return (DATA / "acled_pre2023.csv").read_text(encoding="utf-8")


def _acled_rows() -> list[list[str]]:
    with (DATA / "acled_pre2023.csv").open(newline="") as fh:
        return list(csv.reader(fh))


def test_semicolon_with_decimal_commas(tmp_path):
    rows = _acled_rows()
    lat = rows[0].index("latitude")
    for r in rows[1:]:
        r[lat] = r[lat].replace(".", ",")
    p = tmp_path / "semi.csv"
    with p.open("w", newline="") as fh:
        csv.writer(fh, delimiter=";").writerows(rows)
    df = read_incidents(p).incidents
    assert df.geometry.y.tolist() == [35.6147, 35.3619]


def test_tab_blank_lines_and_excel_sep_hint(tmp_path):
    rows = _acled_rows()
    p = tmp_path / "tab.tsv"
    text = "\n".join("\t".join(r) for r in rows)
    p.write_text("\n\n" + text.replace("\n", "\n\n") + "\n\n")
    res = read_incidents(p)
    assert res.report.rows_read == 2 and res.report.accepted == 2
    q = tmp_path / "sep.csv"
    q.write_text("sep=;\n" + "\n".join(";".join(r) for r in rows) + "\n")
    assert read_incidents(q).report.accepted == 2


def test_latin1_needs_encoding(tmp_path):
    p = tmp_path / "latin1.csv"
    p.write_bytes(_acled_text().replace("Kafr Nobol", "Kafr Nöbol").encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8") as err:
        read_incidents(p)
    assert "--encoding latin-1" in str(err.value) and str(p) in str(err.value)
    df = read_incidents(p, encoding="latin-1").incidents
    assert df.loc[0, "location"] == "Kafr Nöbol"


def test_fast_path_line_count(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes(b"a,b\n1,2\n3,4")
    assert _count_lines(p) == 3
    p.write_bytes(b"a,b\r\n1,2\r\n\r\n3,4\r\n")
    assert _count_lines(p) == 4  # the blank line counts: 2 rows + header != 4, careful path
    res = read_incidents(DATA / "generic.csv", lon="X", lat="Y")
    assert res.report.rows_read == 4


@pytest.mark.parametrize("name", ["acled_quarantine.csv", "acled_pre2023.csv"])  # careful / fast path
def test_progress_bar_reading_gives_the_same_tables(monkeypatch, name):
    plain = read_incidents(DATA / name)
    monkeypatch.setattr(inc, "PROGRESS_MIN_BYTES", 0)
    streamed = read_incidents(DATA / name, progress=True)
    pd.testing.assert_frame_equal(plain.incidents, streamed.incidents)
    pd.testing.assert_frame_equal(plain.quarantine, streamed.quarantine)


# ------------------------------------------------------------------------------------ file-level errors


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (None, "missing.csv", "not found"),
        (b"", "empty.csv", "empty"),
        (b"event_id_cnty,event_date,latitude,longitude\n", "header.csv", "no data rows"),
        (b"PK\x03\x04\x00\x00binary", "book.xlsx", "cannot open as a workbook"),
        (b"\x00\x01\x02\x03", "blob.bin", "unknown input format"),
        (b"\n\n\n", "blank.csv", "only blank lines"),
    ],
)
def test_file_level_errors(tmp_path, content, name, message):
    p = tmp_path / name
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        read_incidents(p)
    assert str(p) in str(err.value) and "fix:" in str(err.value)


def test_required_columns_absent_lists_found_and_expected(tmp_path):
    with pytest.raises(SchemaError) as err:
        read_incidents(DATA / "generic.csv", format="ucdp")
    text = str(err.value)
    assert "date_start, longitude, latitude" in text and "found: ref, when, X, Y, place, deaths" in text
    p = tmp_path / "nocoords.csv"
    p.write_text("name,when\nAriha,2020-06-08\n")
    with pytest.raises(SchemaError, match="no longitude/latitude columns") as err:
        read_incidents(p)
    assert "--lon COL --lat COL" in str(err.value)
    with pytest.raises(SchemaError, match="did you mean X"):
        read_incidents(DATA / "generic.csv", lon="x_", lat="Y")


def test_unknown_format_name():
    with pytest.raises(InputError, match="unknown format"):
        read_incidents(DATA / "generic.csv", format="gdelt")


# ------------------------------------------------------------------------------------ writing


def test_write_ingest_outputs_and_refusals(tmp_path):
    res = read_incidents(DATA / "acled_quarantine.csv")
    out = tmp_path / "inc.gpkg"
    paths = write_ingest(res, out)
    assert paths == (out, tmp_path / "inc.quarantine.csv")
    back = gpd.read_file(out)
    assert list(back["incident_id"]) == ["SYR1", "SYR12"]
    q = pd.read_csv(paths[1], dtype=str)
    assert len(q) == 10 and list(q.columns[-3:]) == ["reason", "source_row", "raw_line"]
    # the quarantine file alone blocks a second run, and nothing is written
    out2 = tmp_path / "inc.geojson"
    with pytest.raises(OutputExistsError):
        write_ingest(res, out2)
    assert not out2.exists()
    write_ingest(res, out2, overwrite=True)
    assert len(gpd.read_file(out2)) == 2


def test_quarantine_written_with_header_only_when_empty(tmp_path):
    res = read_incidents(DATA / "acled_pre2023.csv")
    _, q = write_ingest(res, tmp_path / "o.parquet")
    header = q.read_text().splitlines()
    assert len(header) == 1 and header[0].endswith("reason,source_row")


# ------------------------------------------------------------------------------------ real data


def test_ocha_populated_places_as_generic_csv(ocha_places):
    res = read_incidents(ocha_places, lon="lon", lat="lat")
    accounted(res)
    assert res.report.rows_read == 7580
    raw = pd.read_csv(ocha_places, dtype=str, keep_default_na=False)
    lon = pd.to_numeric(raw["lon"], errors="coerce")
    lat = pd.to_numeric(raw["lat"], errors="coerce")
    expected_ok = lon.between(-180, 180) & lat.between(-90, 90) & ~((lon == 0) & (lat == 0))
    assert res.report.accepted == int(expected_ok.sum())
    assert res.incidents["date"].isna().all()
    assert set(res.incidents["PP_PCODE"]) == set(raw.loc[expected_ok, "PP_PCODE"])
    mozra = res.incidents.loc[res.incidents["PP_PCODE"] == "C4298"].geometry.item()
    assert (round(mozra.x, 4), round(mozra.y, 4)) == (36.4399, 35.6571)


# ------------------------------------------------------------------------------------ --places


def test_places_geocode_rows_without_coordinates():
    res = read_incidents(DATA / "acled_no_coords.csv", places=[DATA / "places.csv"])
    accounted(res)
    df = by_id(res)
    # Kansfra -> Kansafra (fuzzy), Tal Salhab -> one place in Hama (exact with the admin1 context)
    assert df.loc["SYR401", "flags"] == "geocoded:fuzzy"
    assert (df.loc["SYR401", "geometry"].x, df.loc["SYR401", "geometry"].y) == (36.4849, 35.6599)
    assert df.loc["SYR402", "flags"] == "geocoded:exact"
    assert df.loc["SYR401", "geo_precision"] == df.loc["SYR402", "geo_precision"] == 2
    # a row with coordinates is untouched
    assert df.loc["SYR404", "flags"] == "" and df.loc["SYR404", "geo_precision"] == 1
    q = res.quarantine.set_index("event_id_cnty")
    assert q.loc["SYR400", "reason"] == q.loc["SYR403", "reason"] == "missing_coordinate"
    assert q.loc["SYR400", "geocode_candidates"].startswith("Mozra (C4298")
    assert res.report.flags_by_name == {"geocoded:exact": 1, "geocoded:fuzzy": 1}


def test_without_places_rows_without_coordinates_are_quarantined():
    res = read_incidents(DATA / "acled_no_coords.csv")
    assert res.report.quarantined_by_reason == {"missing_coordinate": 4}
    assert "geocode_candidates" not in res.quarantine.columns


def test_encoding_error_after_the_sniffed_sample(tmp_path):
    p = tmp_path / "late.csv"
    body = "".join(f"{36 + i / 1e5:.5f},35.9,place {i}\n" for i in range(5000))  # > 64 KiB
    p.write_bytes(("lon,lat,name\n" + body).encode() + "36.6,35.9,Kafr Nöbol\n".encode("latin-1"))
    # issue #18 item 5: the one bad row is quarantined, the others kept (see test_robust_ingest)
    res = read_incidents(p)
    assert res.report.quarantined_by_reason == {"bad_encoding": 1}
    assert res.report.accepted == 5000
    assert read_incidents(p, encoding="latin-1").report.accepted == 5001


def test_geocode_candidates_stay_on_their_rows_next_to_malformed_rows(tmp_path):
    lines = (DATA / "acled_no_coords.csv").read_text().splitlines()
    lines.insert(2, "SYR999,2020-06-09,too,few")  # a malformed row between two quarantined ones
    p = tmp_path / "mixed.csv"
    p.write_text("\n".join(lines) + "\n")
    res = read_incidents(p, places=[DATA / "places.csv"])
    accounted(res)
    q = res.quarantine
    assert list(q["reason"]) == ["missing_coordinate", "malformed_row", "missing_coordinate"]
    assert list(q["source_row"]) == [1, 2, 5]
    assert q.loc[0, "event_id_cnty"] == "SYR400" and q.loc[0, "geocode_candidates"].startswith("Mozra")
    assert q.loc[2, "event_id_cnty"] == "SYR403"


@pytest.mark.parametrize("many", [False, True])  # True: the distinct-text path (> 1000 rows)
def test_date_forms(many):
    from geoconflict._dates import parse_date_column as parse_dates

    cells = {
        "2020-06-08": "2020-06-08", "2020-06-08 14:30": "2020-06-08 14:30",
        "2020-06-08T14:30:05": "2020-06-08 14:30:05", "2020-06-08T16:30+02:00": "2020-06-08 14:30",
        "2020-06-08 00:00:00.000": "2020-06-08", "08 June 2020": "2020-06-08",
        "8 Jun 2020": "2020-06-08", "08-Jun-2020": "2020-06-08", "June 8, 2020": "2020-06-08",
        "08-06-2020": "2020-06-08", "08/06/2020": "2020-06-08", " 2020-06-08 ": "2020-06-08",
        "29-02-2020": "2020-02-29",
    }
    bad = ["2020-02-30", "31-04-2020", "2021-02-29", "2020-13-01", "yesterday", "32 June 2020"]
    texts = list(cells) + bad + ["", "NA"]
    reps = 100 if many else 1
    s = pd.Series(texts * reps, dtype="str")
    dates, missing, invalid, _ = parse_dates(s)
    n = len(texts)
    got = dates[:n]
    assert [got[i] for i in range(len(cells))] == [TS(v) for v in cells.values()]
    assert invalid[:n].tolist() == [False] * len(cells) + [True] * len(bad) + [False, False]
    assert missing[:n].tolist() == [False] * (len(cells) + len(bad)) + [True, True]
    assert (dates[n:].to_numpy() == np.tile(got.to_numpy(), reps - 1)).sum() == (reps - 1) * len(cells)


def test_reading_a_geoconflict_output_again_keeps_columns_unique_and_flags(tmp_path):
    """ingest -> write -> read again (as join/grid/ceasefire do with a join output)."""
    import pandas as pd

    from geoconflict.incidents import incidents_from_frame, read_incidents
    from geoconflict.io import write_layer

    df = pd.DataFrame({
        "event_id_cnty": ["A1", "A2"], "event_date": ["2020-06-08", "2020-06-09"],
        "time_precision": [1, 1], "event_type": ["Explosions/Remote violence"] * 2,
        "sub_event_type": ["Air/drone strike"] * 2, "actor1": ["X", "Y"], "actor2": ["", ""],
        "country": ["Syria", "Syria"], "location": ["Idleb", "Bara"],
        "latitude": [35.9306, 35.6853], "longitude": [36.6339, 36.5419],
        "geo_precision": [3, 1], "fatalities": [0, 2], "notes": ["a", "b"], "source": ["s", "s"],
    })
    first = incidents_from_frame(df, format="acled").incidents
    assert "imprecise_location" in first.loc[0, "flags"]
    first["controller"] = ["Opposition", "Opposition"]
    path = tmp_path / "joined.gpkg"
    for _ in range(2):  # twice round the loop: no column may multiply
        write_layer(first, path, overwrite=True)
        again = read_incidents(path)
        cols = list(again.incidents.columns)
        assert len(cols) == len(set(cols)), sorted(c for c in cols if cols.count(c) > 1)
        assert again.incidents["incident_id"].tolist() == ["A1", "A2"]
        assert "imprecise_location" in again.incidents.loc[0, "flags"]
        assert again.incidents.loc[0, "flags"].count("imprecise_location") == 1
        assert again.incidents["controller"].tolist() == ["Opposition", "Opposition"]
        first = again.incidents


def test_country_grid_test_equals_exact_intersects():
    """The cell pre-classification used on large inputs gives shapely's exact answer."""
    import numpy as np
    import shapely

    from geoconflict._validate import _contains_xy, _countries, fold_country

    geoms, index = _countries()
    syria = geoms[index[fold_country("Syria")]]
    rng = np.random.default_rng(7)
    x = rng.uniform(35.0, 43.0, 60_000)
    y = rng.uniform(32.0, 38.0, 60_000)
    # points exactly on the border too
    border = shapely.get_coordinates(syria.boundary)
    x = np.r_[x, border[:, 0]]
    y = np.r_[y, border[:, 1]]
    np.testing.assert_array_equal(_contains_xy(syria, x, y), shapely.intersects_xy(syria, x, y))


def test_outside_country_does_not_depend_on_other_rows():
    """A point ~20 km outside Syria is within the 25 km tolerance whatever else the file holds."""
    import numpy as np
    import pandas as pd

    from geoconflict._validate import outside_country

    near = (37.10, 36.83)   # in Turkey, north of Kilis: within 25 km of Syria's (110m) border
    far = (44.8, 37.9)      # far to the east, in Iran: another UTM zone
    alone = outside_country(np.array([near[0]]), np.array([near[1]]), pd.Series(["Syria"]))
    mixed = outside_country(np.array([near[0], far[0]]), np.array([near[1], far[1]]),
                            pd.Series(["Syria", "Syria"]))
    assert not alone[0] and not mixed[0]
    assert bool(mixed[1]) is True
