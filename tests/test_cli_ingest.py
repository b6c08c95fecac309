"""``geoconflict ingest``: exit codes, the summary line, outputs and one-line errors."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from geoconflict import __version__
from geoconflict.cli.main import cli

DATA = Path(__file__).resolve().parent / "data" / "incidents"


def run(cli_runner, *args: str):
    return cli_runner.invoke(cli, list(args), catch_exceptions=False)


def assert_user_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("Error: ")
    for f in fragments:
        assert f in result.stderr


def test_ingest_writes_output_and_quarantine_and_one_summary_line(cli_runner, tmp_path):
    out = tmp_path / "inc.geojson"
    res = run(cli_runner, "ingest", str(DATA / "acled_quarantine.csv"), "-o", str(out))
    assert res.exit_code == 0, res.output
    assert res.stdout == ""
    assert res.stderr == (
        "ingest: 12 rows read, 2 accepted (0 flagged), 10 quarantined (missing_coordinate 1, "
        "non_numeric_coordinate 1, coordinate_out_of_range 1, null_island 1, missing_date 1, "
        "unparseable_date 1, non_numeric_fatalities 1, negative_fatalities 1, duplicate_id 1, "
        f"malformed_row 1) -> {out}\n"
    )
    assert list(gpd.read_file(out)["incident_id"]) == ["SYR1", "SYR12"]
    q = pd.read_csv(tmp_path / "inc.quarantine.csv", dtype=str)
    assert len(q) == 10 and q["reason"].nunique() == 10


@pytest.mark.parametrize("ext", [".geojson", ".gpkg", ".parquet", ".csv"])
def test_output_format_from_extension(cli_runner, tmp_path, ext):
    out = tmp_path / f"ged{ext}"
    res = run(cli_runner, "ingest", str(DATA / "ucdp_ged_headerless.csv"), "-o", str(out))
    assert res.exit_code == 0, res.output
    if ext == ".parquet":
        back = gpd.read_parquet(out)
    elif ext == ".csv":
        back = pd.read_csv(out)
        assert list(back["longitude"]) == [36.4399, 36.6339, 36.3893]
    else:
        back = gpd.read_file(out)
    assert list(back["incident_id"].astype(str)) == ["330001", "330002", "330003"]
    assert (tmp_path / "ged.quarantine.csv").exists()


def test_existing_output_is_not_replaced_without_overwrite(cli_runner, tmp_path):
    out = tmp_path / "inc.gpkg"
    assert run(cli_runner, "ingest", str(DATA / "acled_2023.csv"), "-o", str(out)).exit_code == 0
    before = out.read_bytes()
    res = run(cli_runner, "ingest", str(DATA / "acled_pre2023.csv"), "-o", str(out))
    assert_user_error(res, str(out), "already exists", "--overwrite")
    assert out.read_bytes() == before
    res = run(cli_runner, "ingest", str(DATA / "acled_pre2023.csv"), "-o", str(out), "--overwrite")
    assert res.exit_code == 0 and len(gpd.read_file(out)) == 2


def test_existing_quarantine_blocks_before_anything_is_written(cli_runner, tmp_path):
    (tmp_path / "inc.quarantine.csv").write_text("old\n")
    out = tmp_path / "inc.geojson"
    res = run(cli_runner, "ingest", str(DATA / "acled_2023.csv"), "-o", str(out))
    assert_user_error(res, "inc.quarantine.csv", "already exists")
    assert not out.exists()


@pytest.mark.parametrize(
    ("setup", "fragments"),
    [
        ("missing", ["missing.csv", "not found"]),
        ("empty", ["empty.csv", "empty"]),
        ("latin1", ["latin1.csv", "not UTF-8", "--encoding latin-1"]),
        ("nocoords", ["nocoords.csv", "no longitude/latitude columns", "found: name, when",
                      "--lon COL --lat COL"]),
    ],
)
def test_file_level_errors_exit_2_without_output(cli_runner, tmp_path, setup, fragments):
    src = tmp_path / f"{setup}.csv"
    if setup == "empty":
        src.write_bytes(b"")
    elif setup == "latin1":
        src.write_bytes("lon,lat,place\n36.6,35.9,Kafr Nöbol\n".encode("latin-1"))
    elif setup == "nocoords":
        src.write_text("name,when\nAriha,2020-06-08\n")
    out = tmp_path / "out.geojson"
    res = run(cli_runner, "ingest", str(src), "-o", str(out))
    assert_user_error(res, *fragments)
    assert not out.exists() and not (tmp_path / "out.quarantine.csv").exists()


def test_encoding_option(cli_runner, tmp_path):
    src = tmp_path / "latin1.csv"
    src.write_bytes("lon,lat,place\n36.6,35.9,Kafr Nöbol\n".encode("latin-1"))
    out = tmp_path / "out.csv"
    res = run(cli_runner, "ingest", str(src), "-o", str(out), "--encoding", "latin-1")
    assert res.exit_code == 0, res.output
    assert pd.read_csv(out)["place"].tolist() == ["Kafr Nöbol"]


def test_format_and_column_options(cli_runner, tmp_path):
    out = tmp_path / "g.geojson"
    res = run(cli_runner, "ingest", str(DATA / "generic.csv"), "-o", str(out), "--format", "csv",
              "--lon", "X", "--lat", "Y", "--date", "when")
    assert res.exit_code == 0, res.output
    assert "4 rows read, 4 accepted (0 flagged), 0 quarantined ->" in res.stderr
    res = run(cli_runner, "ingest", str(DATA / "generic.csv"), "-o", str(tmp_path / "h.geojson"),
              "--format", "acled")
    assert_user_error(res, "required ACLED column(s) absent", "found: ref, when, X, Y, place, deaths")
    res = run(cli_runner, "ingest", str(DATA / "generic.csv"), "-o", str(tmp_path / "i.geojson"),
              "--lon", "Xx", "--lat", "Y")
    assert_user_error(res, "no column named 'Xx'", "did you mean X")


def test_bad_choices_and_extensions(cli_runner, tmp_path):
    res = run(cli_runner, "ingest", str(DATA / "generic.csv"), "-o", str(tmp_path / "o.geojson"),
              "--format", "gdelt")
    assert res.exit_code == 2 and "gdelt" in res.stderr
    res = run(cli_runner, "ingest", str(DATA / "generic.csv"), "-o", str(tmp_path / "o.shp"))
    assert_user_error(res, "unsupported output extension '.shp'")


def test_quiet_and_version(cli_runner, tmp_path):
    res = run(cli_runner, "-q", "ingest", str(DATA / "acled_2023.csv"), "-o", str(tmp_path / "o.csv"))
    assert res.exit_code == 0 and res.stderr == ""
    res = run(cli_runner, "--version")
    assert res.exit_code == 0 and __version__ in res.stdout


def test_places_option(cli_runner, tmp_path):
    out = tmp_path / "o.geojson"
    res = run(cli_runner, "ingest", str(DATA / "acled_no_coords.csv"), "-o", str(out),
              "--places", str(DATA / "places.csv"))
    assert res.exit_code == 0, res.output
    assert "5 rows read, 3 accepted (2 flagged), 2 quarantined (missing_coordinate 2)" in res.stderr
    assert sorted(gpd.read_file(out)["flags"]) == ["", "geocoded:exact", "geocoded:fuzzy"]
