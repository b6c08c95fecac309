"""#17: incident layers past INCIDENTS_IN_GPKG_MAX rows go to GeoParquet beside the GeoPackage
(the aggregated layers stay in it, styled); --incidents-in-gpkg keeps them in; all or none."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from click.testing import CliRunner

from geoconflict import publish
from geoconflict.cli.main import cli
from geoconflict.errors import OutputExistsError
from geoconflict.layers import Layer
from geoconflict.publish import beside_gpkg, write_gpkg


def _layers(n: int = 40) -> list[Layer]:
    rng = np.random.default_rng(3)
    inc = gpd.GeoDataFrame({"incident_id": [f"e{i}" for i in range(n)], "fatalities": rng.integers(0, 5, n),
                            "notes": ["{{ 7*7 }} <script>"] * n},
                           geometry=shapely.points(rng.uniform(36, 37, n), rng.uniform(35, 36, n)), crs=4326)
    hexes = gpd.GeoDataFrame({"cell_id": ["a", "b"], "count": [3, 4]},
                             geometry=[shapely.box(36, 35, 36.5, 35.5), shapely.box(36.5, 35, 37, 35.5)], crs=4326)
    return [Layer("Incidents", "incidents", inc), Layer("Hex 5 km", "grid", hexes)]


def test_large_incident_layer_goes_beside_as_geoparquet(tmp_path: Path) -> None:
    layers = _layers()
    out = tmp_path / "layers.gpkg"
    write_gpkg(layers, out, incidents_max_rows=10)
    side = tmp_path / "layers.incidents.parquet"
    assert beside_gpkg(layers, out, incidents_max_rows=10) == {"Incidents": side}
    names = set(pyogrio.list_layers(out)[:, 0])
    assert "incidents" not in names and "hex_5_km" in names
    back = gpd.read_parquet(side)
    assert back["incident_id"].tolist() == layers[0].data["incident_id"].tolist()
    assert back["notes"].iloc[0] == "{{ 7*7 }} <script>" and back.crs.to_epsg() == 4326


def test_small_or_forced_stays_inside(tmp_path: Path) -> None:
    layers = _layers()
    write_gpkg(layers, tmp_path / "a.gpkg")  # 40 rows: under the default limit
    write_gpkg(layers, tmp_path / "b.gpkg", incidents_max_rows=None)
    for name in ("a", "b"):
        assert "incidents" in set(pyogrio.list_layers(tmp_path / f"{name}.gpkg")[:, 0])
        assert not (tmp_path / f"{name}.incidents.parquet").exists()


def test_existing_sibling_refused_and_nothing_written(tmp_path: Path) -> None:
    (tmp_path / "layers.incidents.parquet").write_bytes(b"keep me")
    with pytest.raises(OutputExistsError):
        write_gpkg(_layers(), tmp_path / "layers.gpkg", incidents_max_rows=10)
    assert not (tmp_path / "layers.gpkg").exists()
    assert (tmp_path / "layers.incidents.parquet").read_bytes() == b"keep me"


def test_map_command_writes_beside_and_says_so(tmp_path: Path, monkeypatch) -> None:
    layers = _layers()
    src, grid = tmp_path / "incidents.gpkg", tmp_path / "hex.gpkg"
    layers[0].data.to_file(src, driver="GPKG")
    layers[1].data.to_file(grid, driver="GPKG")
    monkeypatch.setattr(publish, "INCIDENTS_IN_GPKG_MAX", 10)
    out = tmp_path / "layers.gpkg"
    kinds = ["--kind", "incidents=incidents", "--kind", "hex=grid"]
    res = CliRunner().invoke(cli, ["map", str(src), str(grid), *kinds, "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "as GeoParquet" in res.output and (tmp_path / "layers.incidents.parquet").exists()
    assert "incidents" not in set(pyogrio.list_layers(out)[:, 0])
    res = CliRunner().invoke(cli, ["map", str(src), str(grid), *kinds, "-o", str(tmp_path / "in.gpkg"),
                                   "--incidents-in-gpkg"])
    assert res.exit_code == 0, res.output
    assert "incidents" in set(pyogrio.list_layers(tmp_path / "in.gpkg")[:, 0])


def test_incidents_only_stay_in_the_geopackage_asked_for(tmp_path: Path) -> None:
    """With no other vector layer, the GeoPackage asked for holds the incidents (it would
    otherwise not be written at all)."""
    layers = _layers()[:1]
    out = tmp_path / "only.gpkg"
    assert beside_gpkg(layers, out, incidents_max_rows=10) == {}
    write_gpkg(layers, out, incidents_max_rows=10)
    assert "incidents" in set(pyogrio.list_layers(out)[:, 0])
    assert not (tmp_path / "only.incidents.parquet").exists()
