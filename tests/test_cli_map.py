"""``geoconflict map``: exit codes, messages, outputs."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from PIL import Image
from test_maps import RASTERIO_AFFINE, sample_layers

from geoconflict import styles
from geoconflict.cli.main import cli

pytestmark = pytest.mark.filterwarnings(RASTERIO_AFFINE)


def _files(tmp_path: Path) -> list[Path]:
    layers = {lyr.name: lyr for lyr in sample_layers(tmp_path)}
    out = []
    for name, fname in [("Control zones", "control.geojson"), ("Incidents", "incidents.geojson"),
                        ("Density grid", "grid.geojson"), ("Areas", "areas.geojson")]:
        p = tmp_path / fname
        layers[name].data.to_file(p)
        out.append(p)
    out.append(layers["KDE"].data)
    return out


def test_html_png_svg_gpkg_in_one_run(cli_runner, tmp_path: Path) -> None:
    files = _files(tmp_path)
    outs = [tmp_path / "out" / n for n in ("map.html", "map.png", "layers.gpkg")]
    args = ["map", *map(str, files), "--title", "Idlib, June 2020", "--source", "ACLED", "--source", "OCHA",
            "--data-as-of", "2020-06-10", "--dpi", "72", "--svg"]
    for o in outs:
        args += ["-o", str(o)]
    r = cli_runner.invoke(cli, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert all(o.exists() for o in outs) and (tmp_path / "out" / "map.svg").exists()
    assert re.search(r"wrote .*map\.html \(\d+\.\d\d MB, 5 layers: control, kde, grid, areas, incidents\)", r.output)
    assert "styled layers" in r.output
    html = outs[0].read_text(encoding="utf-8")
    assert "Idlib, June 2020" in html and "ACLED; OCHA" in html and "Data as of 2020-06-10" in html
    with Image.open(outs[1]) as im:
        assert im.size == (792, 540)  # 11 × 7.5 in at 72 dpi
    tables = [str(t) for t in pyogrio.list_layers(outs[2])[:, 0]]
    assert set(tables) >= {"control", "incidents", "grid", "areas", "layer_styles"}


def test_existing_output_is_refused_before_work(cli_runner, tmp_path: Path) -> None:
    files = _files(tmp_path)[:1]
    out = tmp_path / "m.html"
    out.write_text("keep me")
    r = cli_runner.invoke(cli, ["map", str(files[0]), "-o", str(out)])
    assert r.exit_code == 2
    assert "already exists" in r.output and "--overwrite" in r.output and "Traceback" not in r.output
    assert out.read_text() == "keep me"
    r = cli_runner.invoke(cli, ["map", str(files[0]), "-o", str(out), "--overwrite"])
    assert r.exit_code == 0 and out.read_text() != "keep me"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-o", "m.txt"], "unsupported output extension '.txt'"),
        (["-o", "m.html", "--kind", "control=nonsense"], "NAME=KIND"),
        (["-o", "m.html", "--kind", "nosuch=admin"], "--kind names a layer 'nosuch'"),
        (["-o", "m.html", "--tiles", "No.Such.Tiles"], "unknown tile base map"),
    ],
)
def test_user_errors_exit_2(cli_runner, tmp_path: Path, extra: list[str], message: str) -> None:
    files = _files(tmp_path)[:1]
    extra = [str(tmp_path / e) if e.startswith("m.") else e for e in extra]
    r = cli_runner.invoke(cli, ["map", str(files[0]), *extra])
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output


def test_missing_input_exit_2(cli_runner, tmp_path: Path) -> None:
    r = cli_runner.invoke(cli, ["map", str(tmp_path / "nope.geojson"), "-o", str(tmp_path / "m.html")])
    assert r.exit_code == 2 and "not found" in r.output


def test_kind_override_and_tiles(cli_runner, tmp_path: Path) -> None:
    files = _files(tmp_path)
    areas = files[3]
    out = tmp_path / "m.html"
    r = cli_runner.invoke(cli, ["map", str(areas), "--kind", "areas=admin", "--tiles", "OpenStreetMap",
                                "-o", str(out)])
    assert r.exit_code == 0, r.output
    html = out.read_text(encoding="utf-8")
    admin = styles.symbology_for("admin", gpd.read_file(areas)).symbols["all"]
    assert f'"color": "{admin.stroke}"' in html and '"fillOpacity": 0.0' in html  # drawn as admin
    assert "tile.openstreetmap.org" in html


def test_incident_csv_goes_through_read_incidents(cli_runner, tmp_path: Path) -> None:
    pytest.importorskip("geoconflict.incidents")
    csv = tmp_path / "acled.csv"
    csv.write_text(
        "event_id_cnty,event_date,year,time_precision,event_type,sub_event_type,actor1,actor2,location,"
        "latitude,longitude,geo_precision,source,notes,fatalities\n"
        'SYR1,2020-06-09,2020,1,Explosions/Remote violence,Air/drone strike,Military Forces of Russia,'
        'Civilians (Syria),Mozra,35.6571,36.4399,1,SRCT,"</script><script>window.__xss=2</script>",2\n'
        "SYR2,2020-06-08,2020,1,Explosions/Remote violence,Shelling/artillery/missile attack,"
        "Military Forces of Syria,,Qastun,35.6857,36.3893,1,SOHR,shelling,0\n",
        encoding="utf-8",
    )
    out = tmp_path / "m.html"
    r = cli_runner.invoke(cli, ["map", str(csv), "-o", str(out)])
    assert r.exit_code == 0, r.output
    html = out.read_text(encoding="utf-8")
    assert "</script><script>window.__xss=2" not in html
    from geoconflict._packed import payloads_in_page, unpack

    (payload,) = payloads_in_page(html)
    got = unpack(payload)
    assert got["notes"].tolist() == ["</script><script>window.__xss=2</script>", "shelling"]
    assert got["incident_id"].tolist() == ["SYR1", "SYR2"]
    assert "08 Jun 2020 – 09 Jun 2020" in html


def test_a_csv_without_line_breaks_is_refused_before_reading(cli_runner, tmp_path: Path, monkeypatch) -> None:
    """Issue #18: a huge file with no line break is refused by its line length, not parsed."""
    monkeypatch.setenv("GEOCONFLICT_MAX_LINE_MB", "1")
    csv = tmp_path / "one_line.csv"
    csv.write_bytes(b"a," * 700_000)  # 1.4 MB, no line break
    r = cli_runner.invoke(cli, ["map", str(csv), "-o", str(tmp_path / "m.html")])
    assert r.exit_code == 2 and "one_line.csv" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "m.html").exists()


def test_map_window_days_option_reaches_the_page(cli_runner, tmp_path: Path) -> None:
    import json
    import re

    csv = tmp_path / "acled.csv"
    csv.write_text(
        "event_id_cnty,event_date,year,time_precision,event_type,sub_event_type,actor1,location,"
        "latitude,longitude,geo_precision,source,notes,fatalities\n"
        "SYR1,2020-06-09,2020,1,Battles,Armed clash,A,Mozra,35.6571,36.4399,1,S,n,2\n"
        "SYR2,2020-06-01,2020,1,Battles,Armed clash,B,Qastun,35.6857,36.3893,1,S,n,0\n", encoding="utf-8")
    out = tmp_path / "m.html"
    r = cli_runner.invoke(cli, ["map", str(csv), "-o", str(out), "--window-days", "14"])
    assert r.exit_code == 0, r.output
    spec = json.loads(re.search(r"GC\.timeline\([a-z_0-9]+, (\{.*?\})\);", out.read_text(encoding="utf-8")).group(1))
    assert spec["window"] == 14 and spec["days"][0] == "2020-06-01" and spec["days"][-1] == "2020-06-09"
