"""Issue #18, the ingest side: huge numbers, bad UTF-8 late in a file, GeoJSON elements that are
not Features, list properties, long headers, ACLED without dates, and size limits checked before
reading.  Every case ends in accepted + quarantined rows (counted) or one-line refusal."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoconflict._readers import check_text_lines
from geoconflict.cli.main import cli
from geoconflict.errors import InputError, SchemaError, SizeLimitError
from geoconflict.incidents import (
    QUARANTINE_REASONS,
    IngestResult,
    incidents_from_frame,
    read_incidents,
)

HEADER = "event_id_cnty,event_date,time_precision,event_type,sub_event_type,actor1,latitude,longitude,fatalities,country\n"


def row(i: int, *, fat: str = "1", lat: str = "36.2", lon: str = "37.1", actor: str = "A") -> str:
    return f"SYR{i},2020-06-08,1,Battles,Armed clash,{actor},{lat},{lon},{fat},Syria\n"


def accounted(res: IngestResult) -> IngestResult:
    r = res.report
    assert r.accepted + r.quarantined == r.rows_read
    assert len(res.incidents) == r.accepted and len(res.quarantine) == r.quarantined
    return res


def reasons(res: IngestResult) -> dict[int, str]:
    q = res.quarantine
    return dict(zip(q["source_row"].astype(int), q["reason"], strict=True))


def run(cli_runner, *args: str):
    return cli_runner.invoke(cli, list(args), catch_exceptions=False)


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    for f in fragments:
        assert f in result.stderr


# ------------------------------------------------------------------------ 2. huge numbers


def test_infinite_fatalities_and_coordinates_quarantined_1e308_kept(tmp_path):
    p = tmp_path / "inf.csv"
    p.write_text(HEADER + row(1) + row(2, fat="1e400") + row(3, lat="1e400") + row(4, fat="1e308")
                 + row(5, lon="-1e999") + row(6, fat="-1e400"))
    res = accounted(read_incidents(p))
    assert reasons(res) == {2: "non_finite_fatalities", 3: "non_numeric_coordinate",
                            5: "non_numeric_coordinate", 6: "non_finite_fatalities"}
    kept = res.incidents.set_index("incident_id")["fatalities"]
    assert kept["SYR4"] == 1e308 and kept["SYR1"] == 1.0
    assert np.isfinite(res.incidents["fatalities"]).all()
    assert "non_finite_fatalities" in QUARANTINE_REASONS


def test_infinite_numbers_in_typed_columns_quarantined():
    df = pd.DataFrame({"lon": [37.1, np.inf, 37.1, 37.1], "lat": [36.2, 36.2, 36.2, 36.2],
                       "date": ["2020-06-08"] * 4, "fatalities": [1.0, 1.0, np.inf, 1e308]})
    res = accounted(incidents_from_frame(df))
    assert reasons(res) == {2: "non_numeric_coordinate", 3: "non_finite_fatalities"}
    assert list(res.incidents["fatalities"]) == [1.0, 1e308]


# ------------------------------------------------------------------------ 5. bad UTF-8 late


def late_bad_csv(tmp_path: Path, bad_line: bytes, name: str = "late.csv") -> Path:
    good = "".join(row(i) for i in range(1, 1501)).encode()  # > 64 KiB before the bad row
    assert len(good) > 1 << 16
    p = tmp_path / name
    p.write_bytes(HEADER.encode() + good + bad_line + "".join(row(i) for i in range(2000, 2005)).encode())
    return p


def test_bad_utf8_after_64kb_quarantines_only_that_row(tmp_path, capfd):
    p = late_bad_csv(tmp_path, row(9999, actor="A\udcff").encode("utf-8", "surrogateescape"))
    res = accounted(read_incidents(p))
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception ignored" not in err
    assert reasons(res) == {1501: "bad_encoding"}
    assert res.quarantine.loc[0, "actor1"] == "A\\xff"  # the byte shown, not lost
    assert res.report.accepted == 1505
    assert "SYR2004" in set(res.incidents["incident_id"])


def test_bad_utf8_in_a_malformed_row_no_traceback_text(tmp_path, capfd):
    p = late_bad_csv(tmp_path, b"SYR9999,2020-06-08,1,Battles\xff,x\n")
    res = accounted(read_incidents(p))
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception ignored" not in err
    assert reasons(res) == {1501: "malformed_row"}
    assert res.quarantine.loc[0, "raw_line"] == "SYR9999,2020-06-08,1,Battles\\xff,x"


def test_bad_utf8_cli_exit_0_without_traceback(cli_runner, tmp_path):
    p = late_bad_csv(tmp_path, row(9999, actor="\udce9t\udce9").encode("utf-8", "surrogateescape"))
    out = tmp_path / "o.csv"
    result = run(cli_runner, "ingest", str(p), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stderr.count("\n") == 1 and "bad_encoding 1" in result.stderr
    q = pd.read_csv(tmp_path / "o.quarantine.csv")
    assert list(q["reason"]) == ["bad_encoding"] and list(q["source_row"]) == [1501]


def test_many_bad_rows_refused_naming_encoding(cli_runner, tmp_path):
    good = "".join(row(i) for i in range(1, 1501))
    bad = "".join(row(i, actor="Kafr Nöbol") for i in range(2000, 2100))
    p = tmp_path / "latin.csv"
    p.write_bytes((HEADER + good).encode() + bad.encode("latin-1"))
    with pytest.raises(InputError, match="100 rows are not UTF-8") as err:
        read_incidents(p)
    assert "--encoding" in str(err.value)
    assert accounted(read_incidents(p, encoding="latin-1")).report.accepted == 1600
    assert_one_line_error(run(cli_runner, "ingest", str(p), "-o", str(tmp_path / "o.csv")),
                          "--encoding")


# ------------------------------------------------------------------------ 7. not Features


def feature(fat: object = 1, *, kind: str | None = "Feature") -> dict:
    f = {"geometry": {"type": "Point", "coordinates": [37.1, 36.2]},
         "properties": {"event_date": "2020-06-08", "fatalities": fat}}
    if kind is not None:
        f["type"] = kind
    return f


def collection(features: list, **extra: object) -> dict:
    return {"type": "FeatureCollection", **extra, "features": features}


def test_every_element_of_features_is_a_row(tmp_path):
    p = tmp_path / "odd.geojson"
    p.write_text(json.dumps(collection([feature(), feature(kind="Featere"), feature(kind=None), 42,
                                        None, feature(2)])))
    res = accounted(read_incidents(p))
    assert res.report.rows_read == 6
    assert reasons(res) == {2: "not_a_feature", 3: "not_a_feature", 4: "not_a_feature",
                            5: "not_a_feature"}
    q = res.quarantine.set_index("source_row")
    assert json.loads(q.loc[2, "raw_line"])["type"] == "Featere"
    assert q.loc[4, "raw_line"] == "42"
    assert list(res.incidents["fatalities"]) == [1.0, 2.0]


def test_bare_feature_and_legacy_crs_member_read(tmp_path):
    bare = tmp_path / "bare.geojson"
    bare.write_text(json.dumps(feature(3)))
    res = accounted(read_incidents(bare))
    assert res.report.accepted == 1 and res.incidents["fatalities"].tolist() == [3.0]
    legacy = tmp_path / "legacy.geojson"
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    legacy.write_text(json.dumps(collection([feature(), feature(kind="Featere")], crs=crs)))
    res = accounted(read_incidents(legacy))
    assert res.report.accepted == 1 and reasons(res) == {2: "not_a_feature"}
    assert res.incidents.geometry.iloc[0].equals(shapely.Point(37.1, 36.2))


def test_not_a_feature_cli_counts_every_element(cli_runner, tmp_path):
    p = tmp_path / "three.geojson"
    p.write_text(json.dumps(collection([feature(), feature(kind="Featere"), feature(kind=None)])))
    result = run(cli_runner, "ingest", str(p), "-o", str(tmp_path / "o.geojson"))
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("ingest: 3 rows read, 1 accepted (0 flagged), 2 quarantined "
                                    "(not_a_feature 2)")


# ------------------------------------------------------------------------ 8. judged one by one


@pytest.mark.parametrize("others", [[], ["x"]], ids=["list-column", "text-column"])
def test_a_list_property_quarantines_only_its_row(tmp_path, others):
    # GDAL makes every value a list ([1] for 1) when one feature holds a list and the rest numbers
    p = tmp_path / "list.geojson"
    p.write_text(json.dumps(collection([feature(1), feature([1, 2]), feature(4),
                                        *(feature(v) for v in others)])))
    res = accounted(read_incidents(p))
    assert reasons(res) == {2: "non_numeric_fatalities", **{4 + i: "non_numeric_fatalities"
                                                          for i in range(len(others))}}
    assert list(res.incidents["fatalities"]) == [1.0, 4.0]
    assert json.loads(res.quarantine.set_index("source_row").loc[2, "fatalities"]) == [1, 2]


def test_header_longer_than_64kb_read_whole(tmp_path):
    names = [f"a_rather_long_attribute_column_name_{i:05d}" for i in range(1700)]  # 71 KB
    p = tmp_path / "wide.csv"
    p.write_text(",".join(["lon", "lat", *names]) + "\n"
                 + "".join(",".join(["37.1", "36.2", *(["v"] * len(names))]) + "\n" for _ in range(3)))
    assert len(p.read_text().splitlines()[0]) > 1 << 16
    res = accounted(read_incidents(p))
    assert res.report.accepted == 3 and res.report.quarantined == 0
    assert names[-1] in res.incidents.columns and (res.incidents[names[-1]] == "v").all()


# ------------------------------------------------------------------------ 9. ACLED without dates


def test_acled_without_event_date_refused(cli_runner, tmp_path):
    p = tmp_path / "nodate.csv"
    p.write_text(HEADER.replace("event_date,", "") + "SYR1,1,Battles,Armed clash,A,36.2,37.1,1,Syria\n")
    with pytest.raises(SchemaError, match="event_date") as err:
        read_incidents(p)
    assert "--date COLUMN" in str(err.value)
    assert_one_line_error(run(cli_runner, "ingest", str(p), "-o", str(tmp_path / "o.csv")),
                          "event_date", "--date COLUMN")
    assert not (tmp_path / "o.csv").exists()


def test_acled_with_its_date_under_another_name_reads_with_date_option(tmp_path):
    p = tmp_path / "renamed.csv"
    p.write_text(HEADER.replace("event_date", "day") + row(1))
    res = accounted(read_incidents(p, date="day"))
    assert res.report.source_format == "acled"
    assert res.incidents["date"].tolist() == [pd.Timestamp("2020-06-08")]


# ------------------------------------------------------------------------ 13. size limits


@pytest.fixture
def shapefile(tmp_path) -> Path:
    gdf = gpd.GeoDataFrame({"event_date": ["2020-06-08"] * 50, "fatalities": [1] * 50},
                           geometry=shapely.points(np.full((50, 2), [37.1, 36.2])), crs=4326)
    folder = tmp_path / "shp"
    folder.mkdir()
    gdf.to_file(folder / "pts.shp")
    return folder / "pts.shp"


def zip_of(shp: Path, target: Path, *, prj_padding: int = 0) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in sorted(shp.parent.iterdir()):
            data = part.read_bytes()
            if part.suffix == ".prj":
                data += b" " * prj_padding
            zf.writestr(part.name, data)
    return target


def test_zip_over_the_input_limit_refused_before_reading(cli_runner, shapefile, tmp_path, monkeypatch):
    z = zip_of(shapefile, tmp_path / "pts.zip")
    unzipped = sum(i.file_size for i in zipfile.ZipFile(z).infolist())
    assert accounted(read_incidents(z)).report.accepted == 50
    with pytest.raises(SizeLimitError, match="unzips to") as err:
        read_incidents(z, max_input_mb=(unzipped - 1) / 1e6)
    assert "--max-input-mb" in str(err.value) and "GEOCONFLICT_MAX_INPUT_MB" in str(err.value)
    assert read_incidents(z, max_input_mb=unzipped / 1e6).report.accepted == 50  # at the limit
    monkeypatch.setenv("GEOCONFLICT_MAX_INPUT_MB", "0.001")
    with pytest.raises(SizeLimitError):
        read_incidents(shapefile)
    assert_one_line_error(run(cli_runner, "ingest", str(z), "-o", str(tmp_path / "o.csv")),
                          "over the input limit", "--max-input-mb")
    result = run(cli_runner, "ingest", str(z), "-o", str(tmp_path / "o.csv"), "--max-input-mb", "5")
    assert result.exit_code == 0, result.output


def test_huge_prj_refused_in_a_zip_and_beside_a_shp(shapefile, tmp_path):
    z = zip_of(shapefile, tmp_path / "bigprj.zip", prj_padding=(1 << 20) + 1)
    assert z.stat().st_size < 100_000  # the zip is small, its .prj is not
    with pytest.raises(SizeLimitError, match=r"sidecar pts\.prj in the zip"):
        read_incidents(z, max_input_mb=10_000)
    prj = shapefile.with_suffix(".prj")
    prj.write_bytes(prj.read_bytes() + b" " * (1 << 20))
    with pytest.raises(SizeLimitError, match=r"sidecar pts\.prj beside"):
        read_incidents(shapefile)


def test_geojson_over_the_input_limit_refused(tmp_path, monkeypatch):
    p = tmp_path / "big.geojson"
    p.write_text(json.dumps(collection([feature()] * 20)))
    monkeypatch.setenv("GEOCONFLICT_MAX_INPUT_MB", str(p.stat().st_size / 1e6 / 2))
    with pytest.raises(SizeLimitError, match="over the input limit"):
        read_incidents(p)


def test_check_text_lines_counts_and_refuses_long_lines(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOCONFLICT_MAX_LINE_MB", "0.0001")  # 100 bytes
    p = tmp_path / "t.csv"
    p.write_bytes(b"a,b\n" + b"x" * 100 + b"\n" + b"y")
    assert check_text_lines(p) == 3  # a line of exactly the limit; a last line without an end
    p.write_bytes(b"a,b\n" + b"x" * 100 + b"\n" + b"y" * 101)
    with pytest.raises(SizeLimitError, match="line 3 is longer"):
        check_text_lines(p)
    p.write_bytes(b"a,b\n" + b"x" * 101 + b"\n")
    with pytest.raises(SizeLimitError, match="line 2 is longer"):
        check_text_lines(p)
    big = tmp_path / "blocks.csv"  # lines across the 4 MiB read blocks
    with open(big, "wb") as fh:
        fh.write((b"z" * 99 + b"\n") * 50_000)
    assert check_text_lines(big) == 50_000


def test_file_without_line_breaks_refused_before_reading(cli_runner, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOCONFLICT_MAX_LINE_MB", "0.01")
    p = tmp_path / "noline.csv"
    p.write_text("lon,lat," * 5000)
    with pytest.raises(SizeLimitError, match="line 1 is longer"):
        read_incidents(p)
    q = tmp_path / "longrow.csv"
    q.write_text("lon,lat,date\n" + "37.1,36.2," + "9" * 20_000 + "\n")
    assert_one_line_error(run(cli_runner, "ingest", str(q), "-o", str(tmp_path / "o.csv")),
                          "line 2 is longer", "GEOCONFLICT_MAX_LINE_MB")


def test_too_many_columns_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOCONFLICT_MAX_COLUMNS", "10")
    p = tmp_path / "cols.csv"
    p.write_text(",".join(["lon", "lat", *(f"c{i}" for i in range(9))]) + "\n"
                 + ",".join(["37.1", "36.2", *("1" * 9)]) + "\n")
    with pytest.raises(SizeLimitError, match="11 fields, over the limit of 10") as err:
        read_incidents(p)
    assert "GEOCONFLICT_MAX_COLUMNS" in str(err.value)
    monkeypatch.setenv("GEOCONFLICT_MAX_COLUMNS", "11")
    assert accounted(read_incidents(p)).report.accepted == 1


def test_bad_limit_setting_is_a_user_error(tmp_path, monkeypatch):
    p = tmp_path / "a.csv"
    p.write_text("lon,lat\n37.1,36.2\n")
    monkeypatch.setenv("GEOCONFLICT_MAX_LINE_MB", "lots")
    with pytest.raises(InputError, match="GEOCONFLICT_MAX_LINE_MB"):
        read_incidents(p)
