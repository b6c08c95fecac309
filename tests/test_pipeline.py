"""The built-in Idlib 2020 scenario run end to end, and scenario files as data."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from geoconflict.cli.main import cli
from geoconflict.errors import InputError, OutputExistsError
from geoconflict.pipeline import BUILTIN_SCENARIO, load_scenario, run_scenario, safe_name

EXPECTED = {
    "incidents.geojson", "quarantine.csv", "incidents_joined.geojson", "control_zones.geojson",
    "zone_summary.csv", "zone_change.geojson", "corridor_m4.geojson", "ceasefire_report.md",
    "ceasefire_incidents.geojson", "ceasefire_daily.csv", "density_hex5km.geojson",
    "density_priogrid.geojson", "density_kde.tif", "hotspots.geojson", "flows.geojson",
    "flow_arrows.geojson", "flows.html", "map.html", "map.png", "layers.gpkg", "manifest.json", "briefing",
}


@pytest.fixture(scope="module")
def builtin_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("idlib") / "idlib-2020"
    result = run_scenario(None, outdir=out)
    assert result.outdir == out
    return out


def test_builtin_run_writes_every_output(builtin_run: Path) -> None:
    names = {p.name for p in builtin_run.iterdir()}
    assert EXPECTED <= names, sorted(EXPECTED - names)
    assert not [n for n in names if n.startswith(".")], "staging or temporary files left behind"


def test_builtin_rows_accounted_for(builtin_run: Path) -> None:
    raw = pd.read_csv(BUILTIN_SCENARIO.parent / "incidents.csv")
    accepted = gpd.read_file(builtin_run / "incidents.geojson")
    quarantine = pd.read_csv(builtin_run / "quarantine.csv")
    joined = gpd.read_file(builtin_run / "incidents_joined.geojson")
    assert len(accepted) + len(quarantine) == len(raw)
    assert set(quarantine["reason"]) == {"duplicate_id"}
    assert len(joined) == len(accepted)
    assert joined["incident_id"].tolist() == accepted["incident_id"].tolist()
    manifest = json.loads((builtin_run / "manifest.json").read_text())
    assert manifest["stages"]["ingest"]["rows_read"] == len(raw)
    assert manifest["stages"]["ingest"]["accepted"] == len(accepted)


def test_builtin_control_as_of_event_date(builtin_run: Path) -> None:
    joined = gpd.read_file(builtin_run / "incidents_joined.geojson")
    by_id = joined.set_index("incident_id")
    raw = pd.read_csv(BUILTIN_SCENARIO.parent / "incidents.csv").drop_duplicates("event_id_cnty")
    row = raw[(raw["location"] == "Mozra") & raw["event_date"].str.startswith("2020-06-08")].iloc[0]
    assert by_id.loc[row["event_id_cnty"], "controller"] == "Opposition (HTS and allied factions)"
    # Khan Shaykun, 12 August 2019: still opposition-held (taken later in August 2019)
    ks = raw[(raw["location"] == "Khan Shaykun") & (raw["event_date"] == "2019-08-12")].iloc[0]
    assert by_id.loc[ks["event_id_cnty"], "controller"] == "Opposition (HTS and allied factions)"
    # Kafr Nobol, 14 February 2020 opposition; government-held after 25 February 2020
    kn = raw[(raw["location"] == "Kafr Nobol")].set_index("event_date")["event_id_cnty"]
    assert by_id.loc[kn["2020-02-14"], "controller"] == "Opposition (HTS and allied factions)"
    assert by_id.loc[kn["2020-02-24"], "controller"] == "Opposition (HTS and allied factions)"
    assert set(joined["admin_join"]) <= {"within", "nearest", "none"}


def test_builtin_ceasefire_report_states_the_facts(builtin_run: Path) -> None:
    text = (builtin_run / "ceasefire_report.md").read_text()
    assert "3 June 2020" in text and "first strikes since early March" in text
    assert "second break within six days" in text
    assert "38 distinct locations" in text and "9 June 2020" in text


def test_builtin_flows_conserve_individuals(builtin_run: Path) -> None:
    flows = gpd.read_file(builtin_run / "flows.geojson")
    quarantine = pd.read_csv(builtin_run / "flows.quarantine.csv")
    june = pd.read_csv(BUILTIN_SCENARIO.parent / "displacement_june2020.csv")
    matrix = pd.read_csv(BUILTIN_SCENARIO.parent / "displacement_feb2020_matrix.csv", index_col=0)
    cells = matrix.drop(index="Grand Total", columns="Grand Total")
    total_in = june["individuals"].sum() + cells.to_numpy().sum()
    assert flows["individuals"].sum() + quarantine["individuals"].sum() == pytest.approx(total_in)
    zawiya = flows[flows["origin_name"] == "Jabal al-Zawiya"]
    assert zawiya["individuals"].sum() == 5834


def test_builtin_map_opens_with_the_briefing_layers(builtin_run: Path) -> None:
    """Zones, front line, corridor, flows and incidents are on when map.html opens; density,
    hot spots and changed hands are in the layer control, off, so they do not stack up."""
    import re

    text = (builtin_run / "map.html").read_text(encoding="utf-8")
    names = dict(re.findall(r'var (geoconflict_\w+) = GC.register\("([^"]+)"', text))
    on = {name for var, name in names.items() if f"{var}.addTo(" in text}
    assert {"Incidents", "Displacement flows", "M4 security corridor (6 km each side)"} <= on
    # the map follows the date: every control snapshot and front line is a layer, the one in force
    # on the last day is on (the day slider switches them)
    snaps = sorted(n for n in names.values() if n.startswith("Control zones from "))
    fronts = sorted(n for n in names.values() if n.startswith("Front line from "))
    assert snaps == [f"Control zones from {d}" for d in
                     ("2019-04-30", "2019-08-24", "2020-01-28", "2020-02-25", "2020-03-06")]
    assert len(fronts) == 5
    assert snaps[-1] in on and fronts[-1] in on and not (set(snaps[:-1]) | set(fronts[:-1])) & on
    assert "Place names" in on and "GC.timeline(" in text
    off = set(names.values()) - on
    assert {"Incident density (KDE)", "Hot spots (Gi*, FDR)"} <= off
    assert any(n.startswith("Changed hands") for n in off) and any(n.startswith("Incidents per") for n in off)


def test_builtin_briefing_set(builtin_run: Path) -> None:
    """briefing/: three 16:9 slides, PNG and SVG, 1920x1080; map.png is the situation slide
    (more in tests/test_briefing.py, marked slow as it makes its own run)."""
    from PIL import Image

    from geoconflict._stages import BRIEFING_FIGURES

    for stem in BRIEFING_FIGURES:
        with Image.open(builtin_run / "briefing" / f"{stem}.png") as im:
            assert im.size == (1920, 1080)
        assert (builtin_run / "briefing" / f"{stem}.svg").stat().st_size > 10_000
    assert (builtin_run / "map.png").read_bytes() == (builtin_run / "briefing" / "1_situation.png").read_bytes()


def test_builtin_manifest(builtin_run: Path) -> None:
    manifest = json.loads((builtin_run / "manifest.json").read_text())
    assert set(manifest["outputs"]) >= EXPECTED - {"manifest.json"}
    assert all(len(v["sha256"]) == 64 for v in manifest["inputs"].values())
    assert manifest["versions"]["geopandas"]
    assert manifest["parameters"]["ceasefire"]["start"] == "2020-03-06T00:01"


def test_rerun_refuses_without_overwrite(builtin_run: Path) -> None:
    before = (builtin_run / "incidents.geojson").stat().st_mtime_ns
    with pytest.raises(OutputExistsError):
        run_scenario(None, outdir=builtin_run)
    assert (builtin_run / "incidents.geojson").stat().st_mtime_ns == before
    assert not [p for p in builtin_run.iterdir() if p.name.startswith(".staging")]


def test_existing_output_refused_before_any_stage_runs(tmp_path: Path, monkeypatch) -> None:
    """One planned output in the folder: refused at once, no stage computed, nothing touched."""
    from geoconflict import _stages, pipeline

    out = tmp_path / "run"
    out.mkdir()
    (out / "map.png").write_bytes(b"an analyst's earlier map")
    ran: list[str] = []
    monkeypatch.setattr(pipeline, "STAGES", [lambda run: ran.append("stage")])
    with pytest.raises(OutputExistsError, match="map.png"):
        run_scenario(None, outdir=out)
    assert ran == [] and (out / "map.png").read_bytes() == b"an analyst's earlier map"
    assert sorted(p.name for p in out.iterdir()) == ["map.png"]
    assert "map.png" in _stages.planned_outputs(load_scenario(None))


def test_stale_staging_of_a_killed_run_is_removed(tmp_path: Path, monkeypatch) -> None:
    from geoconflict import pipeline

    out = tmp_path / "run"
    stale = out / ".staging-999999-abc123"
    stale.mkdir(parents=True)
    (stale / "incidents.geojson").write_text("{}")
    monkeypatch.setattr(pipeline, "STAGES", [])
    run_scenario(None, outdir=out)
    assert not stale.exists()
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]


def test_two_runs_into_one_folder_the_second_is_refused(tmp_path: Path, monkeypatch) -> None:
    """A run holds a lock on its folder: a second run at the same time is refused, not merged."""
    from geoconflict import pipeline
    from geoconflict.errors import OutputError

    out = tmp_path / "run"
    seen: list[str] = []

    def nested(run) -> None:
        with pytest.raises(OutputError, match="another geoconflict run"):
            run_scenario(None, outdir=out)
        seen.append("refused")

    monkeypatch.setattr(pipeline, "STAGES", [nested])
    run_scenario(None, outdir=out)
    assert seen == ["refused"]
    assert not (out / pipeline.LOCK_NAME).exists()
    monkeypatch.setattr(pipeline, "STAGES", [])
    run_scenario(None, outdir=out, overwrite=True)  # the lock was released


def test_run_locks_against_another_process(tmp_path: Path) -> None:
    import fcntl
    import subprocess
    import sys

    from geoconflict import pipeline

    out = tmp_path / "run"
    out.mkdir()
    with open(out / pipeline.LOCK_NAME, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = subprocess.run([sys.executable, "-c", "from geoconflict.cli.main import cli; cli()", "run",
                            "-o", str(out)],
                           capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "another geoconflict run" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p.name for p in out.iterdir()) == [pipeline.LOCK_NAME]


def _scenario(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(body, encoding="utf-8")
    return p


def test_scenario_missing_input_is_named(tmp_path: Path, cli_runner) -> None:
    p = _scenario(tmp_path, '[inputs]\nincidents = "nope.csv"\n')
    res = cli_runner.invoke(cli, ["run", str(p), "-o", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert "nope.csv" in res.output and "inputs.incidents" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_scenario_unknown_key_and_bad_toml(tmp_path: Path) -> None:
    p = _scenario(tmp_path, '[inputs]\nincidents = "x.csv"\n[grid]\nhexx = "5km"\n')
    with pytest.raises(InputError, match="grid.hexx"):
        load_scenario(p)
    p = _scenario(tmp_path, '[inputs\nincidents = 1')
    with pytest.raises(InputError, match="TOML"):
        load_scenario(p)


def test_scenario_is_data_not_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    p = _scenario(tmp_path, f'[scenario]\nname = "__import__(\'os\').system(\'touch {marker}\')"\n'
                            '[inputs]\nincidents = "x.csv"\n')
    (tmp_path / "x.csv").write_text("a\n1\n")
    sc = load_scenario(p)
    assert not marker.exists()
    assert "/" not in sc.name and ".." not in sc.name


@pytest.mark.parametrize("name", ["../../etc", "/abs/path", "..", "a/../../b", "x\\..\\y"])
def test_scenario_name_cannot_escape(name: str) -> None:
    cleaned = safe_name(name)
    assert "/" not in cleaned and "\\" not in cleaned and not cleaned.startswith(".")
    assert ".." not in cleaned


def test_relative_paths_resolve_against_scenario_folder(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "inc.csv").write_text("a\n1\n")
    p = _scenario(tmp_path, '[inputs]\nincidents = "data/inc.csv"\nadmin = ["@boundaries/idlib2020_admin3.geojson"]\n')
    sc = load_scenario(p)
    assert sc.input("incidents") == (tmp_path / "data" / "inc.csv").resolve()
    assert sc.input("admin")[0].name == "idlib2020_admin3.geojson"


def test_builtin_scenario_parses() -> None:
    sc = load_scenario(None)
    assert sc.name == "idlib-2020"
    assert sc.get("ceasefire", "start") == "2020-03-06T00:01"


def test_bad_parameters_are_reported_together_before_any_stage(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("a\n1\n")
    p = _scenario(tmp_path, '[inputs]\nincidents = "x.csv"\n[grid]\nhex = "five km"\n'
                            '[ceasefire]\nstart = "6th of March"\nlull_days = -1\n')
    with pytest.raises(InputError) as err:
        run_scenario(p, outdir=tmp_path / "out")
    text = str(err.value)
    assert "grid.hex" in text and "ceasefire.start" in text and "ceasefire.lull_days" in text
    assert not any((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True


def test_incidents_beside_the_gpkg_are_planned_and_never_left_stale(tmp_path: Path, monkeypatch) -> None:
    """layers.incidents.parquet (written past 500,000 incidents) is a planned output: one in the
    folder is refused before any stage runs; with overwrite, a run that does not write it removes
    the earlier run's copy (a stale file beside a fresh layers.gpkg would mislead)."""
    import geopandas as gpd
    import shapely
    from shapely.geometry import Point

    from geoconflict import _stages, pipeline
    from geoconflict.layers import Layer
    from geoconflict.publish import beside_gpkg

    # the name planned is the name publish writes for the scenario's incident layer
    big = gpd.GeoDataFrame({"incident_id": ["a", "b"]}, geometry=[Point(0, 0), Point(1, 1)], crs=4326)
    units = gpd.GeoDataFrame({"ADM3_PCODE": ["SY01"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326)
    layers = [Layer("Incidents", "incidents", big), Layer("Admin units", "admin", units)]
    side = beside_gpkg(layers, tmp_path / "layers.gpkg", incidents_max_rows=1)
    assert [p.name for p in side.values()] == list(_stages.SOMETIMES_WRITTEN)
    assert set(_stages.SOMETIMES_WRITTEN) <= set(_stages.planned_outputs(load_scenario(None)))

    out = tmp_path / "run"
    out.mkdir()
    stale = out / "layers.incidents.parquet"
    stale.write_bytes(b"an earlier run's incidents")
    ran: list[str] = []
    monkeypatch.setattr(pipeline, "STAGES", [lambda run: ran.append("stage")])
    with pytest.raises(OutputExistsError, match="layers.incidents.parquet"):
        run_scenario(None, outdir=out)
    assert ran == [] and stale.read_bytes() == b"an earlier run's incidents"

    def small_run(run) -> None:  # writes the GeoPackage only, as a run under 500,000 incidents does
        run.out("layers.gpkg").write_bytes(b"fresh")
        ran.append("stage")

    monkeypatch.setattr(pipeline, "STAGES", [small_run])
    run_scenario(None, outdir=out, overwrite=True)
    assert ran == ["stage"] and not stale.exists()
    assert sorted(p.name for p in out.iterdir()) == ["layers.gpkg", "manifest.json"]

    def big_run(run) -> None:  # writes both: the copy is replaced, not removed
        run.out("layers.gpkg").write_bytes(b"fresh")
        run.out("layers.incidents.parquet").write_bytes(b"this run's incidents")

    monkeypatch.setattr(pipeline, "STAGES", [big_run])
    run_scenario(None, outdir=out, overwrite=True)
    assert stale.read_bytes() == b"this run's incidents"
