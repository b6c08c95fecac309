"""The malformed-input corpus (tests/data/bad/, made by scripts/make_bad_corpus.py) through every
command: each case ends in exit status 2 with a short message naming the file, the place and the
fix, or in a quarantine with the reason and the good rows kept.  Never a traceback, never a
partial output file.

The large and binary cases (a 50 MB one-line file, random bytes) are generated at test time.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner, Result

from geoconflict.cli.main import cli

HERE = Path(__file__).resolve().parent
BAD = HERE / "data" / "bad"
ROOT = HERE.parent


def _corpus_module():
    spec = importlib.util.spec_from_file_location("make_bad_corpus", ROOT / "scripts" / "make_bad_corpus.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules.setdefault("make_bad_corpus", mod)
    spec.loader.exec_module(mod)
    return mod


corpus = _corpus_module()


# ----------------------------------------------------------------------------- helpers

@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def out(tmp_path: Path) -> Path:
    d = tmp_path / "out"
    d.mkdir()
    return d


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The large and binary cases, made once per module in a temporary folder."""
    d = tmp_path_factory.mktemp("big")
    corpus.make_big(d)
    return d


def invoke(runner: CliRunner, *args: object) -> Result:
    return runner.invoke(cli, [str(a) for a in args])


def files_in(folder: Path) -> list[str]:
    """Every file under ``folder`` (hidden temporary files included)."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def assert_clean_exit(result: Result) -> None:
    """No traceback, whatever the exit status."""
    text = result.output
    assert "Traceback" not in text, text
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), (
            f"uncaught {type(result.exception).__name__}: {result.exception}\n{text}"
        )


def assert_refused(result: Result, out_dir: Path | None, *words: str, any_of: tuple[str, ...] = ()) -> str:
    """Exit 2, a short message with ``words`` (case-insensitive) and one of ``any_of``, no output."""
    assert_clean_exit(result)
    text = result.output
    assert result.exit_code == 2, f"exit {result.exit_code}, expected 2:\n{text}"
    low = text.lower()
    for w in words:
        assert w.lower() in low, f"{w!r} not in the message:\n{text}"
    if any_of:
        assert any(w.lower() in low for w in any_of), f"none of {any_of} in the message:\n{text}"
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert 1 <= len(lines) <= 12, f"message of {len(lines)} lines:\n{text}"
    if out_dir is not None:
        assert files_in(out_dir) == [], f"output left behind: {files_in(out_dir)}"
    return text


def assert_ok(result: Result) -> str:
    assert_clean_exit(result)
    assert result.exit_code == 0, f"exit {result.exit_code}:\n{result.output}"
    return result.output


def read_out(path: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(path, engine="pyogrio")


def quarantine_of(output: Path) -> pd.DataFrame:
    q = output.with_name(output.name[: -len(output.suffix)] + ".quarantine.csv")
    assert q.exists(), f"no quarantine file beside {output.name}: {files_in(output.parent)}"
    return pd.read_csv(q, dtype=str, keep_default_na=False)


def test_corpus_is_large_enough_and_reproducible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At least 30 committed cases (the generated ones come on top), and the generator's text
    cases are what is committed (re-made into a temporary folder, compared byte for byte)."""
    cases = [p for p in BAD.rglob("*") if p.is_file() and p.name != "README.md"]
    assert len(cases) >= 30
    monkeypatch.setattr(corpus, "BAD", tmp_path)
    corpus.make_incident_cases()
    corpus.make_join_cases()
    corpus.make_flow_cases()
    corpus.make_scenario_cases()
    made = [p for p in tmp_path.iterdir() if p.suffix in (".csv", ".geojson", ".json", ".toml")]
    assert len(made) >= 30
    for p in made:
        assert p.read_bytes() == (BAD / p.name).read_bytes(), p.name


# ----------------------------------------------------------------------------- ingest: file level

@pytest.mark.parametrize(
    ("name", "any_of"),
    [
        ("empty.csv", ("empty", "0 bytes")),
        ("header_only.csv", ("no rows", "no data", "header only", "only a header", "0 rows")),
        ("blank_lines.csv", ("no rows", "no data", "blank", "empty", "no header")),
        ("generic_no_coordinates.csv", ("--lon", "longitude")),
        ("not_json.geojson", ("geojson", "json")),
        ("json_array.geojson", ("geojson", "featurecollection")),
        ("not_featurecollection.geojson", ("featurecollection",)),
        ("topojson.json", ("topojson",)),
        ("empty_collection.geojson", ("no features", "no rows", "empty", "0 features")),
        ("unknown_extension.docx", (".docx", "format", "extension")),
        ("not_a_shapefile.zip", ("shapefile", ".shp")),
    ],
)
def test_ingest_refuses_unreadable_file(runner: CliRunner, out: Path, name: str, any_of: tuple[str, ...]) -> None:
    result = invoke(runner, "ingest", BAD / name, "-o", out / "incidents.geojson")
    assert_refused(result, out, Path(name).name, any_of=any_of)


def test_ingest_no_coordinates_lists_columns_found(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "ingest", BAD / "generic_no_coordinates.csv", "-o", out / "i.geojson")
    text = assert_refused(result, out, "generic_no_coordinates.csv", "when", "where", any_of=("fix",))
    assert "--lon" in text or "longitude" in text.lower()


def test_ingest_missing_file(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "ingest", BAD / "no_such_file.csv", "-o", out / "i.geojson")
    assert_refused(result, out, "no_such_file.csv", any_of=("not found", "does not exist"))


def test_ingest_shapefile_without_dbf(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "ingest", BAD / "shp_no_dbf" / "points.shp", "-o", out / "i.geojson")
    assert_refused(result, out, "points.shp", ".dbf")


def test_ingest_shapefile_without_prj(runner: CliRunner, out: Path) -> None:
    """No .prj: the coordinates' CRS is unknown; say so rather than guess."""
    result = invoke(runner, "ingest", BAD / "shp_no_prj" / "points.shp", "-o", out / "i.geojson")
    assert_refused(result, out, "points.shp", any_of=(".prj", "crs"))


def test_ingest_geopackage_with_two_layers_needs_layer(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "ingest", BAD / "two_layers.gpkg", "-o", out / "i.geojson")
    assert_refused(result, out, "two_layers.gpkg", "--layer", "incidents_june", "incidents_july")
    result = invoke(runner, "ingest", BAD / "two_layers.gpkg", "--layer", "incidents_july",
                    "-o", out / "i.geojson")
    assert_ok(result)
    assert len(read_out(out / "i.geojson")) == 1


def test_ingest_binary_garbage(runner: CliRunner, out: Path, big: Path) -> None:
    result = invoke(runner, "ingest", big / "garbage.csv", "-o", out / "i.geojson")
    assert_refused(result, out, "garbage.csv", any_of=("binary", "not text", "encoding", "utf-8"))


def test_ingest_garbage_geopackage(runner: CliRunner, out: Path, big: Path) -> None:
    result = invoke(runner, "ingest", big / "garbage.gpkg", "-o", out / "i.geojson")
    assert_refused(result, out, "garbage.gpkg", any_of=("geopackage", "cannot", "not"))


@pytest.mark.slow  # a 50 MB file, or a raster at its size limit
def test_ingest_one_line_of_50_mb(runner: CliRunner, out: Path, big: Path) -> None:
    """A header running into one endless field and no line break: no rows, a clear message."""
    result = invoke(runner, "ingest", big / "one_line_50mb.csv", "-o", out / "i.geojson")
    assert_refused(result, out, "one_line_50mb.csv",
                   any_of=("no rows", "no data", "line", "header", "too long", "size"))


def test_ingest_unsupported_output_extension(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "ingest", BAD / "incidents_good.csv", "-o", out / "i.txt")
    assert_refused(result, out, ".txt", any_of=(".geojson",))


def test_ingest_refuses_to_replace_output(runner: CliRunner, out: Path) -> None:
    target = out / "i.geojson"
    target.write_text("precious")
    result = invoke(runner, "ingest", BAD / "incidents_good.csv", "-o", target)
    assert_clean_exit(result)
    assert result.exit_code == 2
    assert "--overwrite" in result.output
    assert target.read_text() == "precious"
    assert files_in(out) == ["i.geojson"]


# ----------------------------------------------------------------------------- ingest: encodings, delimiters

def _accepted_ids(path: Path) -> list[str]:
    return sorted(read_out(path)["incident_id"].astype(str))


def test_ingest_utf8_bom(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "ingest", BAD / "acled_bom.csv", "-o", out / "i.geojson")
    assert_ok(result)
    gdf = read_out(out / "i.geojson")
    assert sorted(gdf["incident_id"]) == ["SYR1", "SYR2", "SYR3", "SYR4"]
    assert not any(c.startswith("\ufeff") for c in gdf.columns)


def test_ingest_semicolon_delimiter_is_read(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "ingest", BAD / "acled_semicolon.csv", "-o", out / "i.geojson")
    assert_ok(result)
    assert _accepted_ids(out / "i.geojson") == ["SYR1", "SYR2", "SYR3", "SYR4"]


def test_ingest_latin1_refused_naming_encoding_then_read_with_it(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "ingest", BAD / "acled_latin1.csv", "-o", out / "i.geojson")
    assert_refused(result, out, "acled_latin1.csv", "--encoding", any_of=("utf-8", "encoding"))
    result = invoke(runner, "ingest", BAD / "acled_latin1.csv", "--encoding", "latin-1",
                    "-o", out / "j.geojson")
    assert_ok(result)
    gdf = read_out(out / "j.geojson").set_index("incident_id")
    assert gdf.loc["SYR1", "notes"] == "Frappe a\u00e9rienne pr\u00e8s du caf\u00e9"


def test_ingest_ragged_rows_quarantined(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "ingest", BAD / "acled_ragged.csv", "-o", out / "i.geojson")
    assert_ok(result)
    assert _accepted_ids(out / "i.geojson") == ["SYR1", "SYR2", "SYR3", "SYR4"]
    q = quarantine_of(out / "i.geojson")
    assert len(q) == 2
    assert (q["reason"] != "").all()


def test_ingest_duplicate_column_names(runner: CliRunner, out: Path) -> None:
    """Two more 'notes' columns: the rows are all kept, the canonical notes are the first."""
    result = invoke(runner, "ingest", BAD / "acled_duplicate_columns.csv", "-o", out / "i.geojson")
    assert_ok(result)
    gdf = read_out(out / "i.geojson").set_index("incident_id").sort_index()
    assert list(gdf.index) == ["SYR1", "SYR2", "SYR3", "SYR4"]
    assert set(gdf["notes"]) == {"Shelling hit the town."}


def test_ingest_crlf_and_trailing_delimiter(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "ingest", BAD / "acled_crlf_trailing_comma.csv", "-o", out / "i.geojson")
    assert_ok(result)
    assert _accepted_ids(out / "i.geojson") == ["SYR1", "SYR2", "SYR3", "SYR4"]


def test_ingest_legacy_crs_member_is_honoured(runner: CliRunner, out: Path) -> None:
    """A pre-RFC 7946 GeoJSON in Web Mercator (a 'crs' member): reprojected, not read as degrees."""
    from pyproj import Transformer

    result = invoke(runner, "ingest", BAD / "legacy_crs_3857.geojson", "-o", out / "i.geojson")
    assert_ok(result)
    pt = read_out(out / "i.geojson").geometry.iloc[0]
    lon, lat = Transformer.from_crs(3857, 4326, always_xy=True).transform(4075000.0, 4273000.0)
    assert pt.x == pytest.approx(lon, abs=1e-6) and pt.y == pytest.approx(lat, abs=1e-6)


# ----------------------------------------------------------------------------- ingest: quarantine of rows

def test_ingest_bad_cells_quarantined_good_rows_kept(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "ingest", BAD / "acled_bad_cells.csv", "-o", out / "i.geojson")
    assert_ok(result)
    assert _accepted_ids(out / "i.geojson") == ["SYR1", "SYR2", "SYR3", "SYR4"]
    q = quarantine_of(out / "i.geojson")
    assert len(q) == 10  # 14 data rows = 4 accepted + 10 quarantined
    reasons = dict(zip(q["source_row"].astype(int), q["reason"], strict=True))
    coord = {"non_numeric_coordinate", "coordinate_out_of_range", "missing_coordinate"}
    # data rows 1-4 are good; 5.. are BAD1 BAD2 BAD3 BAD5 BAD6 BAD7 BAD8 SYR1(dup) BAD9 BAD10
    assert set(reasons) == set(range(5, 15))
    assert reasons[5] in coord  # lon inf
    assert reasons[6] in coord  # lat nan
    assert reasons[7] in coord  # lon 1e999
    assert reasons[8] == "non_numeric_fatalities"
    assert reasons[9] == "negative_fatalities"
    assert reasons[10] == "unparseable_date"  # 31 February
    assert reasons[11] == "missing_date"
    assert reasons[12] == "duplicate_id"
    assert reasons[13] == "null_island"
    assert reasons[14] == "coordinate_out_of_range"
    assert q.set_index(q["source_row"].astype(int)).loc[12, "event_id_cnty"] == "SYR1"
    summary = result.output.lower()
    assert "14" in summary and "quarantine" in summary


def test_ingest_mixed_geometries(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "ingest", BAD / "mixed_geometries.geojson", "-o", out / "i.geojson")
    assert_ok(result)
    assert _accepted_ids(out / "i.geojson") == ["P1", "P2", "P3"]
    q = quarantine_of(out / "i.geojson").set_index("event_id_cnty")
    assert q.loc["L1", "reason"] == "non_point_geometry"
    assert q.loc["A1", "reason"] == "non_point_geometry"
    assert q.loc["N1", "reason"] == "empty_geometry"


def test_ingest_3d_points_kept_in_place(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "ingest", BAD / "points_3d.geojson", "-o", out / "i.geojson")
    assert_ok(result)
    gdf = read_out(out / "i.geojson").set_index("incident_id").sort_index()
    assert list(gdf.index) == ["Z1", "Z2", "Z3"]
    assert gdf.geometry.x.round(4).tolist() == [36.6103, 36.6767, 36.5419]
    assert gdf.geometry.y.round(4).tolist() == [35.8141, 35.6477, 35.6853]


def test_ingest_non_finite_coordinates_quarantined(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "ingest", BAD / "nonfinite.geojson", "-o", out / "i.geojson")
    assert_ok(result)
    assert _accepted_ids(out / "i.geojson") == ["F1", "F4"]
    q = quarantine_of(out / "i.geojson")
    assert sorted(q["event_id_cnty"]) == ["F2", "F3"]
    assert (q["reason"] != "").all()


# ----------------------------------------------------------------------------- join: admin layers

def _join(runner: CliRunner, out: Path, *opts: object) -> Result:
    return invoke(runner, "join", BAD / "incidents_good.csv", *opts, "-o", out / "joined.geojson")


def _pcodes(out: Path) -> dict[str, str]:
    gdf = read_out(out / "joined.geojson")
    return dict(zip(gdf["incident_id"], gdf["ADM3_PCODE"].fillna(""), strict=True))


def test_join_admin_points_refused(runner: CliRunner, out: Path) -> None:
    result = _join(runner, out, "--admin", BAD / "admin_points.geojson")
    assert_refused(result, out, "admin_points.geojson", "polygon")


def test_join_admin_projected_crs_is_reprojected(runner: CliRunner, out: Path) -> None:
    """An admin layer in UTM 37N is fine: it is aligned explicitly, the answers are the same."""
    result = _join(runner, out, "--admin", BAD / "admin_projected.gpkg")
    assert_ok(result)
    # west box x < 36.5 (Kansafra 36.4849); east box x >= 36.5 (Ariha, Ma'arrat, Bara)
    assert _pcodes(out) == {"SYR1": "SY000002", "SYR2": "SY000002", "SYR3": "SY000002", "SYR4": "SY000001"}


def test_join_admin_without_crs_refused(runner: CliRunner, out: Path) -> None:
    result = _join(runner, out, "--admin", BAD / "admin_no_crs" / "admin.shp")
    assert_refused(result, out, "admin.shp", any_of=("crs", ".prj"))


def test_join_admin_empty_refused(runner: CliRunner, out: Path) -> None:
    result = _join(runner, out, "--admin", BAD / "admin_empty_collection.geojson")
    assert_refused(result, out, "admin_empty_collection.geojson", any_of=("no features", "empty", "0 features"))


def test_join_admin_self_intersecting_repaired(runner: CliRunner, out: Path) -> None:
    result = _join(runner, out, "--admin", BAD / "admin_bowtie.geojson")
    assert_ok(result)
    assert "repair" in result.output.lower()
    codes = _pcodes(out)
    # make_valid splits the bow-tie into two triangles; Ariha lies in the western one
    assert codes["SYR1"] == "SY000002"
    assert codes["SYR4"] == "SY000001"


@pytest.mark.filterwarnings("ignore:Non closed ring detected:RuntimeWarning")  # GDAL's own note
def test_join_admin_unclosed_ring_refused_naming_the_fix(runner: CliRunner, out: Path) -> None:
    result = _join(runner, out, "--admin", BAD / "admin_unclosed.geojson")
    assert_refused(result, out, "admin_unclosed.geojson", any_of=("ring", "closed", "feature"))


def test_join_admin_invalid_json_refused(runner: CliRunner, out: Path) -> None:
    result = _join(runner, out, "--admin", BAD / "not_json.geojson")
    assert_refused(result, out, "not_json.geojson")


# ----------------------------------------------------------------------------- join: control layers

@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("control_to_before_from.geojson", ("feature", "valid_to")),
        ("control_null_controller.geojson", ("feature", "controller")),
        ("control_no_controller_column.geojson", ("controller",)),
        ("control_bad_date.geojson", ("feature", "valid_from", "early march")),
        ("control_lines.geojson", ("polygon",)),
    ],
)
def test_join_control_refused(runner: CliRunner, out: Path, name: str, words: tuple[str, ...]) -> None:
    result = _join(runner, out, "--admin", BAD / "admin_projected.gpkg", "--control", BAD / name)
    assert_refused(result, out, name, *words)


def test_join_control_self_intersecting_repaired(runner: CliRunner, out: Path) -> None:
    result = _join(runner, out, "--control", BAD / "control_bowtie.geojson")
    assert_ok(result)
    assert "repair" in result.output.lower()
    gdf = read_out(out / "joined.geojson").set_index("incident_id")
    assert gdf.loc["SYR1", "controller"] == "Opposition"
    assert gdf.loc["SYR4", "controller"] == "Government"


# ----------------------------------------------------------------------------- zones, corridor, grid, ceasefire

def test_zones_control_to_before_from(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "zones", BAD / "control_to_before_from.geojson", "--admin",
                    BAD / "admin_projected.gpkg", "--date", "2020-03-10", "-o", out / "z.geojson")
    assert_refused(result, out, "control_to_before_from.geojson", "feature", "valid_to")


def test_zones_admin_not_polygons(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "zones", BAD / "control_bowtie.geojson", "--admin",
                    BAD / "admin_points.geojson", "--date", "2020-03-10", "-o", out / "z.geojson")
    assert_refused(result, out, "admin_points.geojson", "polygon")


def test_zones_unreadable_date(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "zones", ROOT / "boundaries" / "idlib2020_control.geojson", "--admin",
                    BAD / "admin_projected.gpkg", "--date", "the day after", "-o", out / "z.geojson")
    assert_refused(result, out, "the day after", any_of=("--date", "date"))


def test_corridor_of_polygons_refused(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "corridor", BAD / "admin_bowtie.geojson", "--width", "6km", "-o", out / "c.geojson")
    assert_refused(result, out, "admin_bowtie.geojson", "line")


def test_corridor_empty_layer_refused(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "corridor", BAD / "empty_collection.geojson", "--width", "6km",
                    "-o", out / "c.geojson")
    assert_refused(result, out, "empty_collection.geojson", any_of=("no features", "empty", "no line"))


def test_corridor_negative_width_refused(runner: CliRunner, out: Path) -> None:
    line = BAD / "control_lines.geojson"
    result = invoke(runner, "corridor", line, "--width", "-6km", "-o", out / "c.geojson")
    assert_refused(result, out, "width")


def test_grid_unreadable_cell_spec(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "grid", BAD / "incidents_good.csv", "--cells", "hex:five", "-o", out / "g.geojson")
    assert_refused(result, out, "five", any_of=("cells", "hex:5km"))


def test_grid_header_only_incidents(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "grid", BAD / "header_only.csv", "--cells", "hex:5km", "-o", out / "g.geojson")
    assert_refused(result, out, "header_only.csv")


def test_grid_counts_only_accepted_rows(runner: CliRunner, out: Path) -> None:
    """The bad rows are quarantined by the reader; the grid counts the 4 good ones."""
    result = invoke(runner, "grid", BAD / "acled_bad_cells.csv", "--cells", "priogrid", "-o", out / "g.geojson")
    assert_ok(result)
    assert int(read_out(out / "g.geojson")["count"].sum()) == 4


def test_ceasefire_unreadable_start(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "ceasefire", BAD / "incidents_good.csv", "--start", "after the war",
                    "-o", out / "cf")
    assert_refused(result, out, "after the war", any_of=("--start", "start"))


def test_ceasefire_garbage_incidents(runner: CliRunner, out: Path, big: Path) -> None:
    result = invoke(runner, "ceasefire", big / "garbage.csv", "--start", "2020-03-06", "-o", out / "cf")
    assert_refused(result, out, "garbage.csv")


# ----------------------------------------------------------------------------- flows

def _flows(runner: CliRunner, out: Path, name: str | Path) -> Result:
    src = name if isinstance(name, Path) else BAD / name
    return invoke(runner, "flows", src, "--places", BAD / "places.csv", "-o", out / "flows.geojson")


def test_flows_matrix_text_cell_quarantined_with_its_row_and_column(runner: CliRunner, out: Path) -> None:
    """'about 300' is not a number: named (row Ariha, column Sarmada), or quarantined with the
    other cells kept."""
    result = _flows(runner, out, "matrix_text_cell.csv")
    assert_ok(result)
    flows = read_out(out / "flows.geojson")
    assert flows["individuals"].sum() == pytest.approx(1200 + 50 + 400 + 250 + 75)
    q = quarantine_of(out / "flows.geojson")
    assert len(q) == 1
    row = " ".join(q.astype(str).agg(" ".join, axis=1))
    assert "Ariha" in row and "Sarmada" in row  # the cell's origin and destination
    assert "numeric" in row or "about 300" in row


@pytest.mark.parametrize(("name", "word"), [("records_negative.csv", "negative"),
                                            ("records_non_numeric.csv", "numer")])
def test_flows_bad_individuals_quarantined(runner: CliRunner, out: Path, name: str, word: str) -> None:
    result = _flows(runner, out, name)
    assert_ok(result)
    flows = read_out(out / "flows.geojson")
    assert flows["individuals"].sum() == pytest.approx(1500)
    q = quarantine_of(out / "flows.geojson")
    assert len(q) == 1
    assert word in q["reason"].str.lower().iloc[0]


def test_flows_no_usable_columns(runner: CliRunner, out: Path) -> None:
    result = _flows(runner, out, "flows_no_usable_columns.csv")
    assert_refused(result, out, "flows_no_usable_columns.csv", "region", any_of=("origin",))


def test_flows_empty_file(runner: CliRunner, out: Path) -> None:
    result = _flows(runner, out, "empty.csv")
    assert_refused(result, out, "empty.csv", "empty")


def test_flows_garbage_workbook(runner: CliRunner, out: Path, big: Path) -> None:
    result = _flows(runner, out, big / "garbage.xlsx")
    assert_refused(result, out, "garbage.xlsx", any_of=("excel", "workbook", "xlsx"))


# ----------------------------------------------------------------------------- geocode, map

def test_geocode_places_without_name_column(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "geocode", BAD / "incidents_good.csv", "--places", BAD / "places_no_name_column.csv",
                    "-o", out / "g.csv")
    assert_refused(result, out, "places_no_name_column.csv", "name")


def test_geocode_missing_places_file(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "geocode", BAD / "incidents_good.csv", "--places", BAD / "nowhere.csv",
                    "-o", out / "g.csv")
    assert_refused(result, out, "nowhere.csv")


def test_map_of_invalid_json(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "map", BAD / "not_json.geojson", "-o", out / "map.html")
    assert_refused(result, out, "not_json.geojson")


def test_map_of_topojson(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "map", BAD / "topojson.json", "-o", out / "map.html")
    assert_refused(result, out, "topojson.json", "topojson")


# ----------------------------------------------------------------------------- scenario files

def test_run_scenario_missing_input(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "run", BAD / "scenario_missing_input.toml", "-o", out)
    assert_refused(result, out, "scenario_missing_input.toml", "inputs.incidents", "no_such_incidents.csv")


def test_run_scenario_bad_toml(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "run", BAD / "scenario_bad_toml.toml", "-o", out)
    assert_refused(result, out, "scenario_bad_toml.toml", "toml", any_of=("line 2", "line"))


def test_run_scenario_unknown_key(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "run", BAD / "scenario_unknown_key.toml", "-o", out)
    assert_refused(result, out, "scenario_unknown_key.toml", "incidnets")


def test_run_scenario_garbage_incidents_leaves_nothing(runner: CliRunner, tmp_path: Path, big: Path) -> None:
    sc = tmp_path / "garbage.toml"
    sc.write_text(f'[scenario]\nname = "g"\n[inputs]\nincidents = {json.dumps(str(big / "garbage.csv"))}\n')
    out = tmp_path / "out"
    result = invoke(runner, "run", sc, "-o", out)
    assert_refused(result, out, "garbage.csv")


def test_run_scenario_invalid_control_leaves_nothing(runner: CliRunner, tmp_path: Path) -> None:
    """Ingest succeeds, the control layer is refused: the run writes nothing at all (no
    incidents.geojson from the first stage, no staging folder)."""
    sc = tmp_path / "control.toml"
    sc.write_text(
        "[scenario]\nname = \"c\"\n[inputs]\n"
        f"incidents = {json.dumps(str(BAD / 'incidents_good.csv'))}\n"
        f"admin = [{json.dumps(str(BAD / 'admin_projected.gpkg'))}]\n"
        f"control = {json.dumps(str(BAD / 'control_to_before_from.geojson'))}\n"
    )
    out = tmp_path / "out"
    result = invoke(runner, "run", sc, "-o", out)
    assert_refused(result, out, "control_to_before_from.geojson", "valid_to")


# ----------------------------------------------------------------------------- size limits

def test_grid_all_cells_size_limit(runner: CliRunner, out: Path) -> None:
    """1 m squares over ~30 x 20 km would be 6e8 cells: refused before anything is allocated."""
    result = invoke(runner, "grid", BAD / "incidents_good.csv", "--cells", "square:1m", "--all-cells",
                    "-o", out / "g.geojson")
    assert_refused(result, out, "limit", any_of=("cells",))


def test_grid_h3_all_cells_size_limit(tmp_path: Path) -> None:
    """H3 resolution 15 over the same extent (~6e8 cells): refused, not computed.  Run in a child
    process with a memory cap and a timeout, so a missing limit cannot take the machine down."""
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 * 1024**3, 3 * 1024**3))\n"
        "from click.testing import CliRunner\n"
        "from geoconflict.cli.main import cli\n"
        f"r = CliRunner().invoke(cli, ['grid', {str(BAD / 'incidents_good.csv')!r}, '--cells', 'h3:15',"
        f" '--all-cells', '-o', {str(tmp_path / 'g.geojson')!r}])\n"
        "print(r.exit_code); print(r.output); print(type(r.exception).__name__)\n"
    )
    import subprocess

    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("h3:15 --all-cells ran for more than 90 s instead of refusing")
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and lines, proc.stderr[-2000:]
    assert lines[0] == "2", proc.stdout
    assert "limit" in proc.stdout.lower()
    assert not (tmp_path / "g.geojson").exists()


@pytest.mark.slow  # a 50 MB file, or a raster at its size limit
def test_kde_raster_size_limit(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "grid", BAD / "incidents_good.csv", "--cells", "hex:5km", "-o", out / "g.geojson",
                    "--kde", out / "k.tif", "--resolution", "1m")
    assert_refused(result, out, "limit", any_of=("pixels", "resolution"))


def test_run_input_size_limit(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inputs over the pipeline's size limit are refused by name (the limit lowered for the test)."""
    import geoconflict.pipeline as pipeline

    monkeypatch.setattr(pipeline, "MAX_INPUT_BYTES", 1000)
    sc = tmp_path / "big.toml"
    sc.write_text(f'[scenario]\nname = "big"\n[inputs]\nincidents = {json.dumps(str(BAD / "incidents_good.csv"))}\n')
    out = tmp_path / "out"
    result = invoke(runner, "run", sc, "-o", out)
    text = assert_refused(result, out, "incidents_good.csv", "larger than")
    assert "0 GB" not in text  # the limit is stated in a unit that shows it


# ----------------------------------------------------------------------------- safety: HTML, paths, TOML

PAYLOADS = [
    '<img src=x onerror="window.__xss=1">',
    "</script><script>window.__xss=2</script>",
    "${window.__xss=3}",
    "`;window.__xss=4;`",
    '"><svg onload=window.__xss=5>',
    "'-alert(6)-'",
    "<!-- </style><iframe src=javascript:alert(7)>",
]


def _tag_counts(html_text: str) -> dict[str, int]:
    from collections import Counter
    from html.parser import HTMLParser

    class Tags(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: Counter[str] = Counter()

        def handle_starttag(self, tag: str, attrs: list) -> None:  # type: ignore[override]
            self.tags[tag] += 1
            for name, _ in attrs:
                if name.startswith("on"):
                    self.tags[f"@{name}"] += 1

    p = Tags()
    p.feed(html_text)
    return dict(p.tags)


def _assert_inert(html_text: str, benign_text: str) -> None:
    """The page built from payloads has exactly the elements of the page built from plain text,
    and no payload appears raw."""
    for p in PAYLOADS:
        if "<" in p:
            assert p not in html_text, f"raw payload in the page: {p}"
    assert "window.__xss=2</script>" not in html_text
    assert _tag_counts(html_text) == _tag_counts(benign_text)


def _map_inputs(folder: Path, texts: list[str]) -> list[Path]:
    """An incident CSV, a control layer and an admin layer whose every text field carries
    ``texts``, in files whose names carry them too (as far as a file name can)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, t in enumerate(texts):
        r = corpus.acled_row(f"X{i}", lat=f"{35.6 + i * 0.03:.4f}", lon=f"{36.55 + i * 0.02:.4f}",
                             location=t, notes=t, admin3=t)
        cols = corpus.ACLED_HEADER.split(",")
        for c in ("actor1", "actor2", "assoc_actor_1", "source", "admin1", "admin2", "sub_event_type"):
            r[cols.index(c)] = t
        rows.append(r)
    stem = texts[0].replace("/", "_")
    inc = folder / f"{stem}.csv"
    inc.write_text(corpus.acled_text(rows), encoding="utf-8")
    feats = [corpus.control_feature(t, "2020-01-01", None, (36.0 + 0.1 * i, 35.5, 36.1 + 0.1 * i, 36.0))
             for i, t in enumerate(texts)]
    ctrl = folder / f"control {stem}.geojson"
    ctrl.write_text(json.dumps(corpus._fc(feats)), encoding="utf-8")
    admin = folder / f"admin {stem}.geojson"
    admin.write_text(json.dumps(corpus._fc([
        corpus._feat({"ADM3_EN": t, "ADM3_PCODE": f"SY{i:06d}"}, corpus._box(36.0 + 0.1 * i, 35.5, 36.1 + 0.1 * i, 36.0))
        for i, t in enumerate(texts)])), encoding="utf-8")
    return [admin, ctrl, inc]


def test_map_escapes_payloads_in_every_field_and_layer_name(runner: CliRunner, tmp_path: Path) -> None:
    benign = [f"plain text {i}" for i in range(len(PAYLOADS))]
    pages = {}
    for label, texts in (("payload", PAYLOADS), ("benign", benign)):
        files = _map_inputs(tmp_path / label, texts)
        out = tmp_path / label / "map.html"
        result = invoke(runner, "map", *files, "-o", out, "--title", texts[0], "--subtitle", texts[1],
                        "--source", texts[2], "--source", texts[3], "--data-as-of", texts[4])
        assert_ok(result)
        pages[label] = out.read_text(encoding="utf-8")
    _assert_inert(pages["payload"], pages["benign"])


def test_flows_html_escapes_place_names(runner: CliRunner, tmp_path: Path) -> None:
    pages = {}
    for label, texts in (("payload", PAYLOADS[:4]), ("benign", [f"place {i}" for i in range(4)])):
        folder = tmp_path / label
        folder.mkdir()
        src = folder / "records.csv"
        coords = [(36.61, 35.81), (36.77, 36.21), (36.81, 35.86), (36.72, 36.19)]
        lines = ["date,origin,destination,individuals,origin_lon,origin_lat,destination_lon,destination_lat"]
        for i in range(4):
            (ox, oy), (dx, dy) = coords[i], coords[(i + 1) % 4]
            o, d = texts[i], texts[(i + 1) % 4]
            lines.append(corpus._csv_line(["2020-06-09", o, d, str(100 * (i + 1)), str(ox), str(oy), str(dx), str(dy)]))
        src.write_text("\n".join(lines) + "\n", encoding="utf-8")
        result = invoke(runner, "flows", src, "--origin-lon", "origin_lon", "--origin-lat", "origin_lat",
                        "--destination-lon", "destination_lon", "--destination-lat", "destination_lat",
                        "-o", folder / "flows.geojson", "--html", folder / "flows.html")
        assert_ok(result)
        pages[label] = (folder / "flows.html").read_text(encoding="utf-8")
    _assert_inert(pages["payload"], pages["benign"])


def _minimal_scenario(folder: Path, *, name: str, title: str, corridor_name: str, sources: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    sc = folder / "scenario.toml"
    sc.write_text(
        "[scenario]\n"
        f"name = {json.dumps(name)}\ntitle = {json.dumps(title)}\nsources = {json.dumps(sources)}\n"
        "data_as_of = \"2020-06-09\"\n"
        "[inputs]\n"
        f"incidents = {json.dumps(str(BAD / 'incidents_good.csv'))}\n"
        f"corridor_line = {json.dumps(str(ROOT / 'boundaries' / 'idlib2020_m4.geojson'))}\n"
        "[corridor]\n"
        f"name = {json.dumps(corridor_name)}\nwidth = \"6km\"\n",
        encoding="utf-8",
    )
    return sc


def test_run_names_cannot_escape_the_output_folder(runner: CliRunner, tmp_path: Path) -> None:
    """A scenario and corridor named '../../…' write only inside the chosen output folder, and the
    scenario's title and sources reach map.html as text."""
    work = tmp_path / "deep" / "er"
    sc = _minimal_scenario(work, name="../../../escape", title=PAYLOADS[0], corridor_name="../../../../escape",
                           sources=PAYLOADS[1:5])
    before = set(files_in(tmp_path))
    out = work / "out"
    result = invoke(runner, "run", sc, "-o", out)
    assert_ok(result)
    created = set(files_in(tmp_path)) - before
    assert created and all(f.startswith("deep/er/out/") for f in created), sorted(created)
    assert not any(".." in f for f in files_in(out))
    html_text = (out / "map.html").read_text(encoding="utf-8")
    for p in PAYLOADS[:5]:
        if "<" in p:
            assert p not in html_text
    assert "window.__xss=2</script>" not in html_text


def test_default_output_folder_stays_under_outputs(tmp_path: Path) -> None:
    from geoconflict.pipeline import default_outdir, load_scenario

    for evil in ("../../../etc", "/etc/cron.d/x", "..", "a/../../b", "C:\\\\Windows\\\\x", "\u2024\u2024/x", ""):
        sc = _minimal_scenario(tmp_path / "s", name=evil, title="t", corridor_name="m4", sources=["s"])
        scenario = load_scenario(sc)
        target = (tmp_path / default_outdir(scenario)).resolve()
        assert target.is_relative_to((tmp_path / "outputs").resolve()), (evil, target)
        assert target != (tmp_path / "outputs").resolve()
        assert "/" not in scenario.name and ".." not in scenario.name and "\\" not in scenario.name


def test_scenario_is_data_never_evaluated(runner: CliRunner, tmp_path: Path) -> None:
    """Values that look like code stay text: nothing runs while a scenario is loaded or run."""
    from geoconflict.pipeline import load_scenario

    marker = tmp_path / "PWNED"
    code = f"__import__('os').system('touch {marker}')"
    body = (f"[scenario]\nname = {json.dumps(code)}\ntitle = {json.dumps('{{7*7}} ${7*7} ' + code)}\n"
            f"[inputs]\nincidents = {json.dumps(str(BAD / 'incidents_good.csv'))}\n")
    sc = tmp_path / "code.toml"
    sc.write_text(body, encoding="utf-8")
    scenario = load_scenario(sc)
    assert scenario.get("scenario", "title").startswith("{{7*7}} ${7*7} __import__")
    assert not marker.exists()
    bad = tmp_path / "code_distance.toml"
    bad.write_text(body + f"[join]\nsnap_distance = {json.dumps(code)}\n", encoding="utf-8")
    result = invoke(runner, "run", bad, "-o", tmp_path / "out")
    assert_refused(result, tmp_path / "out", "code_distance.toml", "snap_distance", any_of=("distance",))
    assert not marker.exists()


def test_package_never_evaluates_text() -> None:
    """No eval/exec/pickle of anything in the package (scenario values, cells, layer names)."""
    import re

    pattern = re.compile(r"\b(eval|exec)\s*\(|pickle\.loads?\(|yaml\.load\(|DataFrame\.eval|\.query\(")
    offenders = []
    for p in (ROOT / "geoconflict").rglob("*.py"):
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if pattern.search(code) and "tree.query(" not in code and "STRtree" not in code:
                offenders.append(f"{p.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


# ----------------------------------------------------------------------------- multi-output commands: all or nothing

def test_ingest_existing_quarantine_blocks_before_writing(runner: CliRunner, out: Path) -> None:
    (out / "i.quarantine.csv").write_text("keep me")
    result = invoke(runner, "ingest", BAD / "acled_bad_cells.csv", "-o", out / "i.geojson")
    assert_clean_exit(result)
    assert result.exit_code == 2 and "i.quarantine.csv" in result.output
    assert files_in(out) == ["i.quarantine.csv"]
    assert (out / "i.quarantine.csv").read_text() == "keep me"


def test_grid_bad_second_output_blocks_first(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "grid", BAD / "incidents_good.csv", "--cells", "hex:5km", "-o", out / "g.geojson",
                    "--hotspots", out / "h.txt")
    assert_refused(result, out, ".txt")


def test_grid_existing_kde_blocks_grid(runner: CliRunner, out: Path) -> None:
    (out / "k.tif").write_bytes(b"old raster")
    result = invoke(runner, "grid", BAD / "incidents_good.csv", "--cells", "hex:5km", "-o", out / "g.geojson",
                    "--kde", out / "k.tif")
    assert_clean_exit(result)
    assert result.exit_code == 2 and "k.tif" in result.output and "--overwrite" in result.output
    assert files_in(out) == ["k.tif"]


def test_flows_bad_arrows_path_blocks_flows(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "flows", BAD / "records_negative.csv", "--places", BAD / "places.csv",
                    "-o", out / "flows.geojson", "--arrows", out / "arrows.txt")
    assert_refused(result, out, ".txt")


def test_ceasefire_existing_report_blocks_all(runner: CliRunner, out: Path) -> None:
    cf = out / "cf"
    cf.mkdir()
    (cf / "ceasefire_report.md").write_text("old report")
    result = invoke(runner, "ceasefire", BAD / "incidents_good.csv", "--start", "2020-03-06", "-o", cf)
    assert_clean_exit(result)
    assert result.exit_code == 2 and "ceasefire_report.md" in result.output
    assert files_in(cf) == ["ceasefire_report.md"]


# ----------------------------------------------------------------------------- more readers and commands

def test_control_numeric_date_is_not_1970(runner: CliRunner, out: Path) -> None:
    """valid_from = 43896 (an Excel serial day) must not become 1970-01-01: refused by feature and
    column, or read as the Excel day it is (2020-03-06)."""
    from geoconflict.control import read_control
    from geoconflict.errors import InputError

    numbers = gpd.GeoDataFrame({"controller": ["A", "B"], "valid_from": [43896, 43900]},
                               geometry=[shapely.box(36, 35, 36.5, 36), shapely.box(36.5, 35, 37, 36)], crs=4326)
    try:
        got = read_control(numbers)
    except InputError as exc:
        assert "valid_from" in str(exc) and "feature 1" in str(exc)
    else:
        assert list(got["valid_from"]) == [pd.Timestamp("2020-03-06"), pd.Timestamp("2020-03-10")]
    try:
        control = read_control(BAD / "control_numeric_date.geojson")
    except InputError as exc:
        assert "valid_from" in str(exc) and "feature 2" in str(exc)
    else:
        assert control.loc[control["controller"] == "Opposition", "valid_from"].iloc[0] == pd.Timestamp("2020-03-06")
    result = _join(runner, out, "--control", BAD / "control_numeric_date.geojson")
    assert_clean_exit(result)
    if result.exit_code == 2:
        assert_refused(result, out, "control_numeric_date.geojson", "feature", "valid_from")


def test_ingest_garbage_workbook(runner: CliRunner, out: Path, big: Path) -> None:
    result = invoke(runner, "ingest", big / "garbage.xlsx", "-o", out / "i.geojson")
    assert_refused(result, out, "garbage.xlsx", any_of=("spreadsheet", "excel", "workbook", "csv"))


@pytest.mark.slow  # a 50 MB file, or a raster at its size limit
def test_flows_one_line_of_50_mb(runner: CliRunner, out: Path, big: Path) -> None:
    result = _flows(runner, out, big / "one_line_50mb.csv")
    assert_refused(result, out, "one_line_50mb.csv")


def test_geocode_one_line_of_50_mb(runner: CliRunner, out: Path, big: Path) -> None:
    """A header and no rows: nothing to geocode is an error, not an empty output."""
    result = invoke(runner, "geocode", big / "one_line_50mb.csv", "--places", BAD / "places.csv", "-o", out / "g.csv")
    assert_refused(result, out, "one_line_50mb.csv", any_of=("no rows", "no data", "empty", "header"))


def test_map_of_garbage_geopackage(runner: CliRunner, out: Path, big: Path) -> None:
    result = invoke(runner, "map", big / "garbage.gpkg", "-o", out / "map.html")
    assert_refused(result, out, "garbage.gpkg")


def test_map_of_shapefile_without_dbf(runner: CliRunner, out: Path) -> None:
    result = invoke(runner, "map", BAD / "shp_no_dbf" / "points.shp", "-o", out / "map.html")
    assert_refused(result, out, "points.shp", ".dbf")


# ----------------------------------------------------------------------------- the crash matrix

_MATRIX_ADMIN = ROOT / "boundaries" / "idlib2020_admin2.geojson"
_MATRIX_CONTROL = ROOT / "boundaries" / "idlib2020_control.geojson"
MATRIX = {
    "ingest": lambda f, o: ["ingest", f, "-o", o / "x.geojson"],
    "join incidents": lambda f, o: ["join", f, "--admin", _MATRIX_ADMIN, "-o", o / "x.geojson"],
    "join --admin": lambda f, o: ["join", BAD / "incidents_good.csv", "--admin", f, "-o", o / "x.geojson"],
    "join --control": lambda f, o: ["join", BAD / "incidents_good.csv", "--control", f, "-o", o / "x.geojson"],
    "join --front-line": lambda f, o: ["join", BAD / "incidents_good.csv", "--front-line", f, "-o", o / "x.geojson"],
    "join --areas": lambda f, o: ["join", BAD / "incidents_good.csv", "--areas", f, "-o", o / "x.geojson"],
    "zones control": lambda f, o: ["zones", f, "--admin", _MATRIX_ADMIN, "--date", "2020-03-10", "-o", o / "x.geojson"],
    "zones --admin": lambda f, o: ["zones", _MATRIX_CONTROL, "--admin", f, "--date", "2020-03-10", "-o", o / "x.geojson"],
    "corridor": lambda f, o: ["corridor", f, "--width", "6km", "-o", o / "x.geojson"],
    "grid": lambda f, o: ["grid", f, "--cells", "hex:5km", "-o", o / "x.geojson"],
    "ceasefire": lambda f, o: ["ceasefire", f, "--start", "2020-03-06", "-o", o / "cf"],
    "flows": lambda f, o: ["flows", f, "--places", BAD / "places.csv", "-o", o / "x.geojson"],
    "geocode": lambda f, o: ["geocode", f, "--places", BAD / "places.csv", "-o", o / "x.csv"],
    "geocode --places": lambda f, o: ["geocode", BAD / "incidents_good.csv", "--places", f, "-o", o / "x.csv"],
    "map": lambda f, o: ["map", f, "-o", o / "x.html"],
}


def _matrix_files(big: Path) -> list[Path]:
    sidecars = {".dbf", ".shx", ".prj", ".cpg", ".md"}
    files = [p for p in sorted(BAD.rglob("*")) if p.is_file() and p.suffix not in sidecars]
    return files + [big / "garbage.csv", big / "garbage.gpkg", big / "garbage.xlsx"]


@pytest.mark.slow
@pytest.mark.parametrize("command", list(MATRIX))
def test_no_command_crashes_on_any_corpus_file(runner: CliRunner, tmp_path: Path, big: Path, command: str) -> None:
    """Every corpus file in every input slot of every command: exit 0 or 2, never a traceback,
    and nothing left in the output folder after a refusal."""
    import warnings

    problems = []
    for i, f in enumerate(_matrix_files(big)):
        out = tmp_path / f"o{i}"
        out.mkdir()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # GDAL/pandas warnings are not the point here
            result = invoke(runner, *MATRIX[command](f, out))
        crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
        if crashed or result.exit_code not in (0, 2) or "Traceback" in result.output:
            problems.append(f"{f.name}: exit {result.exit_code}, {type(result.exception).__name__}: "
                            f"{str(result.exception)[:120]}")
        elif result.exit_code == 2 and files_in(out):
            problems.append(f"{f.name}: refused but left {files_in(out)}")
    assert not problems, f"{command}:\n" + "\n".join(problems)


def test_zones_admin_self_intersecting_repaired_and_named(runner: CliRunner, out: Path) -> None:
    """The bow-tie admin unit is repaired with make_valid, and the report names the feature."""
    result = invoke(runner, "zones", ROOT / "boundaries" / "idlib2020_control.geojson", "--admin",
                    BAD / "admin_bowtie.geojson", "--date", "2020-03-10", "-o", out / "z.geojson")
    text = assert_ok(result).lower()
    assert "repaired" in text and "feature 2" in text
    z = read_out(out / "z.geojson")
    assert set(z["ADM3_PCODE"]) <= {"SY000001", "SY000002"}
