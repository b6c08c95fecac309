"""Issue #18, the output side: odd columns (fid), output paths, all-or-nothing outputs, sidecars
and inputs never replaced, temporaries after SIGTERM / SIGKILL, library warnings kept off stderr."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
import test_cli_flows

from geoconflict import io
from geoconflict.cli.main import cli
from geoconflict.errors import GeoconflictError, OutputError, OutputExistsError

ROOT = Path(__file__).resolve().parents[1]
FLOWS = Path(__file__).resolve().parent / "data" / "flows"
admin_file = test_cli_flows.admin_file  # the fixture: governorates with OCHA column names

INCIDENTS = {
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "properties": {"fid": "a1", "event_date": "2020-01-02", "fatalities": 1},
         "geometry": {"type": "Point", "coordinates": [36.6, 35.9]}},
        {"type": "Feature", "properties": {"fid": "b2", "event_date": "2020-01-03", "fatalities": 0},
         "geometry": {"type": "Point", "coordinates": [36.7, 35.8]}},
        {"type": "Feature", "properties": {"fid": "c3", "event_date": "2020-01-04", "fatalities": 2},
         "geometry": {"type": "Point", "coordinates": [36.65, 35.85]}},
    ],
}


def run(cli_runner, *args: object):
    return cli_runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def incidents(tmp_path: Path) -> Path:
    p = tmp_path / "in" / "incidents.geojson"
    p.parent.mkdir()
    p.write_text(json.dumps(INCIDENTS), encoding="utf-8")
    return p


# -- 4. a text `fid` property ---------------------------------------------------------------------
def test_ingest_and_join_to_gpkg_keep_a_text_fid_as_fid_source(cli_runner, tmp_path, incidents, admin_file):
    out = tmp_path / "out" / "x.gpkg"
    r = run(cli_runner, "ingest", incidents, "-o", out)
    assert r.exit_code == 0, r.output
    assert gpd.read_file(out)["fid_source"].tolist() == ["a1", "b2", "c3"]
    joined = tmp_path / "out" / "j.gpkg"
    r = run(cli_runner, "join", incidents, "--admin", admin_file, "-o", joined)
    assert r.exit_code == 0, r.output
    back = gpd.read_file(joined)
    assert back["fid_source"].tolist() == ["a1", "b2", "c3"] and set(back["ADM1_PCODE"]) == {"SY07"}


def test_write_layer_and_layers_rename_fid_columns_whatever_their_type(tmp_path):
    gdf = gpd.GeoDataFrame({"fid": ["x", "y"], "FID_SOURCE": [1, 2], "v": [1.5, 2.5]},
                           geometry=shapely.points([[36, 35], [37, 36]]), crs=4326)
    io.write_layer(gdf, tmp_path / "a.gpkg")
    back = gpd.read_file(tmp_path / "a.gpkg")
    # fid_source is taken (case-insensitively, as GeoPackage columns are): the next free name
    assert back[["fid_source_2", "FID_SOURCE", "v"]].to_dict("list") == {
        "fid_source_2": ["x", "y"], "FID_SOURCE": [1, 2], "v": [1.5, 2.5]}
    ints = gdf.drop(columns="FID_SOURCE").assign(fid=[7, 7])  # not unique: GDAL would refuse it as FID
    io.write_layers({"one": ints, "two": gdf.drop(columns="FID_SOURCE")}, tmp_path / "b.gpkg")
    assert gpd.read_file(tmp_path / "b.gpkg", layer="one")["fid_source"].tolist() == [7, 7]
    assert gpd.read_file(tmp_path / "b.gpkg", layer="two")["fid_source"].tolist() == ["x", "y"]


# -- 6. output paths -----------------------------------------------------------------------------------
@pytest.fixture
def no_reading(monkeypatch):
    """The output must be refused before the input is read."""
    import geoconflict.incidents as incidents_module

    def refuse(*a, **k):
        raise AssertionError("the input was read before the output was checked")

    monkeypatch.setattr(incidents_module, "read_incidents", refuse)


def test_output_under_a_file_is_one_line_before_any_work(cli_runner, tmp_path, incidents, no_reading):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    r = run(cli_runner, "ingest", incidents, "-o", blocker / "sub" / "x.csv")
    assert_one_line_error(r, "afile is a file, not a folder", "fix:")
    r = run(cli_runner, "grid", incidents, "-o", blocker / "x.geojson")
    assert_one_line_error(r, "afile is a file, not a folder")


def test_output_that_is_a_folder_is_refused_even_with_overwrite(cli_runner, tmp_path, incidents, no_reading):
    folder = tmp_path / "cells.geojson"
    folder.mkdir()
    r = run(cli_runner, "ingest", incidents, "-o", folder, "--overwrite")
    assert_one_line_error(r, "is a folder, not a file")
    r = run(cli_runner, "join", incidents, "--admin", incidents, "-o", folder, "--overwrite")
    assert_one_line_error(r, "is a folder, not a file")


def test_unwritable_folder_sysfs(cli_runner, tmp_path, incidents, no_reading):
    """/sys takes no new files, even from root: a real permission refusal by the kernel."""
    try:
        probe = Path("/sys") / f".probe{os.getpid()}"
        probe.touch()
    except OSError:
        pass
    else:  # pragma: no cover - not Linux sysfs
        probe.unlink()
        pytest.skip("/sys is writable here")
    r = run(cli_runner, "ingest", incidents, "-o", "/sys/x.csv")
    assert_one_line_error(r, "cannot write in the folder /sys", "Permission denied")


def test_unwritable_folder_permission_error_is_an_output_error(tmp_path, monkeypatch):
    """Root ignores chmod, so the refusal is simulated where the probe file is created."""
    import tempfile

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(OutputError, match="Permission denied") as info:
        io.check_output(tmp_path / "x.csv", overwrite=False)
    assert isinstance(info.value, OSError) and isinstance(info.value, GeoconflictError)
    assert not (tmp_path / "x.csv").exists()


# -- 10. all outputs or none ---------------------------------------------------------------------------
def test_flows_html_nothing_to_draw_leaves_nothing_and_rerun_gives_the_same_error(cli_runner, tmp_path,
                                                                                  admin_file):
    out = tmp_path / "out"
    args = ["flows", FLOWS / "matrix_governorates.csv", "-o", out / "f.geojson", "--admin", admin_file,
            "--arrows", out / "a.geojson", "--html", out / "f.html", "--min", "1e12"]
    for _ in range(2):
        r = run(cli_runner, *args)
        assert r.exit_code == 2 and "Traceback" not in r.output
        # our own warning about the matrix's Grand Total, then the one-line error
        assert r.stderr.splitlines()[-1].startswith("Error: nothing to draw")
        assert all(line.startswith(("WARNING: flows:", "Error: ")) for line in r.stderr.splitlines())
        assert files_in(out) == []


def test_ingest_interrupted_while_writing_leaves_no_output(cli_runner, tmp_path, incidents, monkeypatch):
    import geoconflict.io as io_module

    def interrupted(*a, **k):  # Ctrl-C after the main layer, before the quarantine
        raise KeyboardInterrupt

    monkeypatch.setattr(io_module, "write_quarantine", interrupted)
    out = tmp_path / "out"
    r = run(cli_runner, "ingest", incidents, "-o", out / "x.gpkg")
    assert_one_line_error(r, "interrupted; no output was written")
    assert files_in(out) == []


def test_join_failure_after_the_layer_writes_nothing(cli_runner, tmp_path, incidents, admin_file, monkeypatch):
    bad = dict(INCIDENTS)
    bad["features"] = INCIDENTS["features"] + [
        {"type": "Feature", "properties": {"event_date": "2020-01-05"}, "geometry": None}]
    src = tmp_path / "in" / "with_quarantine.geojson"
    src.write_text(json.dumps(bad))

    def disk_full(*a, **k):  # the quarantine (written after the layer) meets a full disk
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io, "table_for_csv", disk_full)
    out = tmp_path / "out"
    r = run(cli_runner, "join", src, "--admin", admin_file, "-o", out / "j.geojson")
    assert_one_line_error(r, "j.quarantine.csv: could not be written (No space left on device)")
    assert files_in(out) == []


def test_output_set_moves_all_or_restores_the_old_files(tmp_path, monkeypatch):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    df = pd.DataFrame({"x": [1]})
    with io.output_set([a, b]):
        io.write_table(df, a)
        assert not a.exists()  # waits for the whole set
        io.write_table(df, b)
    assert pd.read_csv(a)["x"].tolist() == [1] and pd.read_csv(b)["x"].tolist() == [1]
    # a failure while moving the second file puts the first one's old content back
    real_replace = os.replace
    moves: list[str] = []

    def flaky(src, dst):
        if str(dst) == str(b) and not moves.count("failed"):
            moves.append("failed")
            raise OSError(5, "Input/output error")
        moves.append(str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(OutputError, match="nothing was written"), io.output_set(overwrite=True):
        io.write_table(pd.DataFrame({"x": [2]}), a, overwrite=True)
        io.write_table(pd.DataFrame({"x": [2]}), b, overwrite=True)
    assert str(a) in moves  # the new a was in place before b failed
    assert pd.read_csv(a)["x"].tolist() == [1] and pd.read_csv(b)["x"].tolist() == [1]
    assert files_in(tmp_path) == ["a.csv", "b.csv"]


# -- 11. sidecars and inputs ---------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["grid", "join", "flows"])
def test_existing_meta_json_is_not_replaced_without_overwrite(cli_runner, tmp_path, incidents, admin_file,
                                                              command, no_reading):
    out = tmp_path / "out" / "result.geojson"
    out.parent.mkdir()
    sidecar = out.with_suffix(".meta.json")
    sidecar.write_text("precious")
    args = {"grid": ["grid", incidents, "-o", out],
            "join": ["join", incidents, "--admin", admin_file, "-o", out],
            "flows": ["flows", FLOWS / "matrix_governorates.csv", "--admin", admin_file, "-o", out]}[command]
    r = run(cli_runner, *args)
    assert_one_line_error(r, "result.meta.json: already exists")
    assert sidecar.read_text() == "precious" and files_in(out.parent) == ["result.meta.json"]


def test_write_layer_checks_the_sidecar_before_writing_the_layer(tmp_path):
    gdf = gpd.GeoDataFrame({"v": [1]}, geometry=shapely.points([[36, 35]]), crs=4326)
    (tmp_path / "c.meta.json").write_text("{}")
    with pytest.raises(OutputExistsError, match="c.meta.json"):
        io.write_layer(gdf, tmp_path / "c.geojson", metadata={"k": 1})
    assert files_in(tmp_path) == ["c.meta.json"]
    io.write_layer(gdf, tmp_path / "c.geojson", metadata={"k": 1}, overwrite=True)
    assert json.loads((tmp_path / "c.meta.json").read_text()) == {"k": 1}


@pytest.mark.parametrize("command", ["ingest", "grid", "join", "corridor", "map"])
def test_an_output_equal_to_an_input_is_refused(cli_runner, tmp_path, incidents, admin_file, command):
    before = incidents.read_bytes()
    args = {"ingest": ["ingest", incidents, "-o", incidents],
            "grid": ["grid", incidents, "-o", incidents.parent / ".." / "in" / incidents.name],
            "join": ["join", incidents, "--admin", admin_file, "-o", admin_file],
            "corridor": ["corridor", admin_file, "--width", "1km", "-o", admin_file],
            "map": ["map", incidents, "-o", incidents.with_suffix(".png"), "-o", incidents]}[command]
    r = run(cli_runner, *args, "--overwrite")
    assert_one_line_error(r, "is also an input of this command")
    assert incidents.read_bytes() == before


def test_same_file_by_hard_link_and_side_outputs_are_refused(cli_runner, tmp_path, incidents):
    link = tmp_path / "in" / "link.geojson"
    os.link(incidents, link)
    r = run(cli_runner, "grid", incidents, "-o", link, "--overwrite")
    assert_one_line_error(r, "is also an input of this command")
    # the quarantine beside the output would be the input: refused, and nothing written
    src = tmp_path / "in" / "x.quarantine.csv"
    src.write_text("event_date,latitude,longitude\n2020-01-02,35.9,36.6\n")
    r = run(cli_runner, "ingest", src, "-o", tmp_path / "in" / "x.csv", "--overwrite")
    assert_one_line_error(r, "x.quarantine.csv: is also an input")
    assert not (tmp_path / "in" / "x.csv").exists()


# -- 12. temporaries ---------------------------------------------------------------------------------
DRIVER = textwrap.dedent("""
    import sys, time
    import geoconflict.io as io
    from geoconflict.cli.main import cli

    def stalled(*a, **k):  # the main layer is written to its temporary; stop here
        print("STAGED", flush=True)
        time.sleep(60)

    io.write_quarantine = stalled  # write_ingest writes the layer, then the quarantine
    cli(sys.argv[1:])
""")


def _stalled_ingest(tmp_path: Path, incidents: Path, out: Path) -> subprocess.Popen[str]:
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    proc = subprocess.Popen([sys.executable, str(driver), "ingest", str(incidents), "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "STAGED"
    return proc


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_removes_temporaries(tmp_path, incidents):
    out = tmp_path / "out" / "x.gpkg"
    proc = _stalled_ingest(tmp_path, incidents, out)
    assert any(n.startswith(".x.gpkg.") for n in files_in(out.parent))  # the temporary is there
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err == "Error: stopped by SIGTERM; no output was written\n"
    assert files_in(out.parent) == []


@pytest.mark.slow
def test_sigkill_leaves_a_temporary_that_the_next_write_removes(tmp_path, incidents, cli_runner):
    out = tmp_path / "out" / "x.gpkg"
    proc = _stalled_ingest(tmp_path, incidents, out)
    proc.kill()
    proc.communicate(timeout=30)
    left = files_in(out.parent)
    assert len(left) == 1 and left[0].startswith(f".x.gpkg.{proc.pid}.") and left[0].endswith(".tmp.gpkg")
    # GDAL's journal and R-tree files beside it go too
    (out.parent / (left[0] + "-journal")).write_text("")
    (out.parent / (left[0] + ".tmp_rtree_x.db")).write_text("")
    r = run(cli_runner, "ingest", incidents, "-o", out.parent / "other.csv")
    assert r.exit_code == 0, r.output
    assert files_in(out.parent) == ["other.csv", "other.quarantine.csv"]


def test_clean_stale_temporaries_removes_only_our_stale_names(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = int(done.stdout)
    live = os.getppid()
    names = {
        f".a.gpkg.{dead}.abcd1234.tmp.gpkg": True,  # its process is gone
        f".a.gpkg.{dead}.abcd1234.tmp.gpkg-journal": True,
        f".a.gpkg.{live}.abcd1235.tmp.gpkg": False,  # a live process is writing it
        f".b.csv.{os.getpid()}.abcd1236.tmp.csv": False,  # ours, now
        ".c.csv.k2j4h5g6.tmp.csv": False,  # no pid (older versions), recent
        ".d.csv.k2j4h5g7.tmp.csv": True,  # no pid, two hours old
        ".notes.tmp.txt": False,  # not our pattern
        f".e.gpkg.{dead}.abcd1237.tmp.csv": False,  # extension does not match the name's
        "report.csv": False,
    }
    for name in names:
        (tmp_path / name).write_text("x")
    old = time.time() - 7200
    os.utime(tmp_path / ".d.csv.k2j4h5g7.tmp.csv", (old, old))
    removed = io.clean_stale_temporaries(tmp_path)
    assert sorted(p.name for p in removed) == sorted(n for n, stale in names.items() if stale)
    assert files_in(tmp_path) == sorted(n for n, stale in names.items() if not stale)
    # a live process's temporary older than a day is taken as left over (its pid reused)
    assert [p.name for p in io.clean_stale_temporaries(tmp_path, now=time.time() + 2 * 86400)
            if str(live) in p.name] == [f".a.gpkg.{live}.abcd1235.tmp.gpkg"]


# -- 14. library warnings -------------------------------------------------------------------------------
def _noisy_read(monkeypatch):
    import numpy as np

    import geoconflict.incidents as incidents_module

    real = incidents_module.read_incidents

    def noisy(*a, **k):
        pd.to_datetime(pd.Series(["13 jan 2020", "2020-01-02 10:00"]), errors="coerce")  # pandas: format
        np.log(np.array([0.0]))  # numpy: divide by zero
        warnings.warn("an odd thing in the library", FutureWarning, stacklevel=1)
        logging.getLogger("pyogrio._io").warning("GDAL said something")
        return real(*a, **k)

    monkeypatch.setattr(incidents_module, "read_incidents", noisy)


def test_library_warnings_stay_off_stderr_by_default(cli_runner, tmp_path, incidents, monkeypatch):
    _noisy_read(monkeypatch)
    out = tmp_path / "out" / "x.csv"
    r = run(cli_runner, "ingest", incidents, "-o", out)
    assert r.exit_code == 0, r.output
    assert r.stderr == f"ingest: 3 rows read, 3 accepted (0 flagged), 0 quarantined -> {out}\n"


def test_library_warnings_are_said_in_our_words_with_verbose(cli_runner, tmp_path, incidents, monkeypatch):
    _noisy_read(monkeypatch)
    r = run(cli_runner, "-v", "ingest", incidents, "-o", tmp_path / "x.csv")
    assert r.exit_code == 0, r.output
    notes = [line for line in r.stderr.splitlines() if "library note" in line or "GDAL said" in line]
    # -v: the unknown warning and the library's log record; the known-harmless ones only with -vv
    assert sorted(notes) == ["INFO: library note (FutureWarning): an odd thing in the library",
                             "WARNING: GDAL said something"]
    r = run(cli_runner, "-vv", "ingest", incidents, "-o", tmp_path / "y.csv")
    assert sum("known harmless" in line for line in r.stderr.splitlines()) == 2
    assert "Warning:" not in r.stderr and "warnings.warn" not in r.stderr
