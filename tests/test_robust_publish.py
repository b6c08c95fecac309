"""Robustness of map and run found by the fuzzer (issue #18): exit 0 or one line, never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from geoconflict.cli.main import cli
from geoconflict.pipeline import BUILTIN_SCENARIO


def _fc(features: list[dict]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": features})


def _feature(props: dict, geom: dict) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geom}


def test_map_of_incidents_that_are_polygons_draws_them_at_a_point(cli_runner, tmp_path: Path) -> None:
    src = tmp_path / "inc.geojson"
    src.write_text(_fc([
        _feature({"incident_id": "A", "date": "2020-06-08"}, {"type": "Point", "coordinates": [36.6, 35.8]}),
        _feature({"incident_id": "B", "date": "2020-06-09"},
                 {"type": "Polygon", "coordinates": [[[36.5, 35.6], [36.7, 35.6], [36.7, 35.7], [36.5, 35.6]]]}),
    ]))
    r = cli_runner.invoke(cli, ["map", str(src), "-o", str(tmp_path / "m.html")])
    assert r.exit_code == 0, r.output
    assert "1 incidents are not points; each is drawn at a point inside it" in r.output


def test_map_of_a_layer_off_the_earth_is_one_line(cli_runner, tmp_path: Path) -> None:
    src = tmp_path / "line.geojson"
    src.write_text(_fc([_feature({"name": "x"}, {"type": "LineString", "coordinates": [[36, 35], [36.5, 95]]})]))
    for out in ("m.html", "m.png"):
        r = cli_runner.invoke(cli, ["map", str(src), "-o", str(tmp_path / out)])
        assert r.exit_code == 2 and "line.geojson" in r.output and "latitude" in r.output, r.output
        assert "Traceback" not in r.output and not (tmp_path / out).exists()


def _scenario(tmp_path: Path, extra: str, admin: Path | None = None) -> Path:
    body = BUILTIN_SCENARIO.read_text(encoding="utf-8")
    for name in ("incidents.csv", "places.csv", "displacement_june2020.csv", "displacement_feb2020_matrix.csv"):
        shutil.copy(BUILTIN_SCENARIO.parent / name, tmp_path / name)
    if admin is not None:
        body = body.replace('admin = ["@boundaries/idlib2020_admin3.geojson"]', f'admin = ["{admin.name}"]')
    p = tmp_path / "s.toml"
    p.write_text(body + extra, encoding="utf-8")
    return p


def test_run_refuses_a_table_where_text_is_expected(cli_runner, tmp_path: Path) -> None:
    p = _scenario(tmp_path, "")
    p.write_text(p.read_text(encoding="utf-8").replace('name = "m4"', "name = {}"), encoding="utf-8")
    r = cli_runner.invoke(cli, ["run", str(p), "-o", str(tmp_path / "out")])
    assert r.exit_code == 2 and "corridor.name = {}: must be text" in r.output, r.output
    assert "Traceback" not in r.output


@pytest.mark.slow  # a whole run
def test_run_repairs_a_bow_tie_admin_unit(cli_runner, tmp_path: Path) -> None:
    import geopandas as gpd
    import shapely

    from geoconflict.pipeline import boundaries_dir

    adm = gpd.read_file(boundaries_dir() / "idlib2020_admin3.geojson")
    x0, y0, x1, y1 = adm.geometry.iloc[0].bounds
    adm.loc[adm.index[0], "geometry"] = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])
    path = tmp_path / "adm3_bowtie.geojson"
    adm.to_file(path, driver="GeoJSON")
    p = _scenario(tmp_path, "", admin=path)
    r = cli_runner.invoke(cli, ["run", str(p), "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "density_hex5km.geojson").exists()


def test_run_with_control_but_no_admin_is_refused_before_any_stage(cli_runner, tmp_path: Path) -> None:
    p = _scenario(tmp_path, "")
    body = p.read_text(encoding="utf-8").replace('admin = ["@boundaries/idlib2020_admin3.geojson"]\n', "")
    body = body.replace('admin = "@boundaries/idlib2020_admin2.geojson"\n', "")
    p.write_text(body, encoding="utf-8")
    r = cli_runner.invoke(cli, ["run", str(p), "-o", str(tmp_path / "out")])
    assert r.exit_code == 2 and "no admin layer" in r.output and "Traceback" not in r.output, r.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
