"""geoconflict.publish (layers.gpkg with QGIS styles) and RFC 7946 GeoJSON output."""

from __future__ import annotations

import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely.geometry import Polygon
from test_maps import PAYLOADS, RASTERIO_AFFINE, sample_layers, write_kde

from geoconflict import styles
from geoconflict.errors import InputError, OutputExistsError
from geoconflict.io import write_layer
from geoconflict.layers import Layer
from geoconflict.publish import table_name, write_gpkg, write_raster_style
from geoconflict.qml import qml_for

pytestmark = pytest.mark.filterwarnings(RASTERIO_AFFINE)


def _styles(path: Path) -> dict[str, tuple[str, int, str, str]]:
    con = sqlite3.connect(path)
    try:
        rows = con.execute("SELECT f_table_name, useAsDefault, styleQML, f_geometry_column, description "
                           "FROM layer_styles").fetchall()
        contents = {r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")}
        geoms = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
    finally:
        con.close()
    assert "layer_styles" in contents
    for r in rows:
        assert r[3] == geoms.get(r[0], "geometry")  # the style names the real geometry column
    return {r[0]: (r[2], r[1], r[3], r[4]) for r in rows}


def test_every_layer_styled_by_default(tmp_path: Path) -> None:
    layers = sample_layers(tmp_path)
    summary = pd.DataFrame({"controller": ["Government of Syria"], "area_km2": [481.7], "share": [0.4]})
    out = write_gpkg(layers + [Layer("Area by controller", "zones_summary", summary)], tmp_path / "layers.gpkg")
    tables = [str(n) for n in pyogrio.list_layers(out)[:, 0]]
    expected = ["admin", "control_zones", "front_line", "m4_corridor", "areas", "incidents", "density_grid",
                "hot_spots", "flows", "arrows", "area_by_controller"]
    assert [t for t in tables if t != "layer_styles"] == expected  # the kde raster is not in the GeoPackage
    st = _styles(out)
    assert sorted(st) == sorted(expected)
    for qml, default, geom_col, _desc in st.values():
        assert default == 1 and geom_col == "geom"
        root = ET.fromstring(qml.split("\n", 1)[1])
        assert root.tag == "qgis" and root.find("renderer-v2") is not None
    # features and attributes survive
    for layer in layers:
        if layer.kind == "kde":
            continue
        back = gpd.read_file(out, layer=table_name(layer.name, set()))
        assert len(back) == len(layer.data)
        assert back.crs.to_epsg() == 4326
    inc = gpd.read_file(out, layer="incidents")
    assert inc["fatalities"].sum() == layers[5].data["fatalities"].sum()
    # the control style has the HTML map's colours
    ctl = ET.fromstring(st["control_zones"][0].split("\n", 1)[1]).find("renderer-v2")
    assert ctl.get("attr") == "controller"
    colours = styles.controller_colours(layers[1].data["controller"])
    for cat in ctl.iter("category"):
        sym = next(s for s in ctl.iter("symbol") if s.get("name") == cat.get("symbol"))
        fill = next(o.get("value") for o in sym.iter("Option") if o.get("name") == "color")
        hexc = colours[cat.get("value")]
        assert fill.split(",")[:3] == [str(int(hexc[i:i + 2], 16)) for i in (1, 3, 5)]


def test_payload_names_and_values_stay_data(tmp_path: Path) -> None:
    layers = sample_layers(tmp_path, payload=True)
    out = write_gpkg(layers, tmp_path / "x.gpkg")
    st = _styles(out)
    ctl = next(q for t, (q, *_rest) in st.items() if t.startswith("control_zones"))
    values = {c.get("value") for c in ET.fromstring(ctl.split("\n", 1)[1]).iter("category")}
    assert values == set(layers[1].data["controller"])
    assert any(PAYLOADS[1] in desc for (_q, _d, _g, desc) in st.values())
    assert all(re.fullmatch(r"[a-z0-9_]+", t) for t in st)


def test_refuses_overwrite_and_bad_input(tmp_path: Path) -> None:
    layers = sample_layers(tmp_path)[:2]
    out = write_gpkg(layers, tmp_path / "l.gpkg")
    with pytest.raises(OutputExistsError):
        write_gpkg(layers, out)
    write_gpkg(layers, out, overwrite=True)
    with pytest.raises(InputError, match=".gpkg"):
        write_gpkg(layers, tmp_path / "l.geojson")
    with pytest.raises(InputError, match="no vector layers"):
        write_gpkg([Layer("KDE", "kde", write_kde(tmp_path / "k.tif"))], tmp_path / "k.gpkg")
    nocrs = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)])
    with pytest.raises(InputError, match="no CRS"):
        write_gpkg([Layer("A", "areas", nocrs)], tmp_path / "n.gpkg")


def test_table_names() -> None:
    taken: set[str] = set()
    assert table_name("Control zones", taken) == "control_zones"
    assert table_name("Control zones!", taken) == "control_zones_2"
    assert table_name("2020 front", taken) == "l_2020_front"
    assert table_name("<script>", taken) == "script"
    assert table_name("حلب", taken) == "layer"


def test_raster_style_sidecar(tmp_path: Path) -> None:
    tif = write_kde(tmp_path / "kde.tif")
    qml = write_raster_style(tif)
    assert qml == tmp_path / "kde.qml"
    root = ET.fromstring(qml.read_text().split("\n", 1)[1])
    assert float(root.find("pipe/rasterrenderer").get("classificationMax")) == pytest.approx(1.0, rel=1e-3)
    with pytest.raises(OutputExistsError):
        write_raster_style(tif)


# --------------------------------------------------------------------------- RFC 7946 GeoJSON


def _signed_area(ring: list[list[float]]) -> float:
    return 0.5 * sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False))


def test_geojson_output_follows_rfc7946(tmp_path: Path) -> None:
    """geoconflict.io.write_layer: WGS84 lon/lat, CCW exterior / CW holes, no crs, 6 decimals."""
    # clockwise exterior, counter-clockwise hole, in UTM 37N with sub-millimetre coordinates
    shell = [(250_000.123456789, 3_950_000.987654321), (250_000.123456789, 3_960_000.5),
             (260_000.333333333, 3_960_000.5), (260_000.333333333, 3_950_000.987654321)]
    hole = [(252_000.1, 3_952_000.1), (254_000.1, 3_952_000.1), (254_000.1, 3_954_000.1), (252_000.1, 3_954_000.1)]
    poly = Polygon(shell, [hole])
    assert not shapely.is_ccw(poly.exterior)
    gdf = gpd.GeoDataFrame({"name": ["Jabal al-Zawiya </script>"]}, geometry=[poly], crs=32637)
    out = write_layer(gdf, tmp_path / "areas.geojson")
    raw = out.read_text(encoding="utf-8")
    doc = json.loads(raw)
    assert "crs" not in doc and doc["type"] == "FeatureCollection"
    rings = doc["features"][0]["geometry"]["coordinates"]
    assert _signed_area(rings[0]) > 0 and _signed_area(rings[1]) < 0  # CCW exterior, CW hole
    coords = [c for ring in rings for c in ring]
    assert all(33 < x < 40 and 34 < y < 37 for x, y in coords)  # lon, lat order, degrees
    numbers = re.findall(r"-?\d+\.(\d+)", raw.split('"coordinates"', 1)[1])
    assert numbers and max(len(d) for d in numbers) <= 6
    # the same points as an independent pyproj transform, to 6 decimals
    from pyproj import Transformer

    tr = Transformer.from_crs(32637, 4326, always_xy=True)
    x, y = tr.transform(*shell[0])
    assert any(abs(cx - x) <= 5e-7 and abs(cy - y) <= 5e-7 for cx, cy in rings[0])
    assert doc["features"][0]["properties"]["name"] == "Jabal al-Zawiya </script>"


def test_styles_classify_every_row(tmp_path: Path) -> None:
    """The styles are classified on one row per distinct class value: the QML is the one computed
    on every row, also with repeated values, missing ones and an event_type-only incidents layer."""
    layers = sample_layers(tmp_path)
    incidents = layers[5].data
    many = pd.concat([incidents] * 50, ignore_index=True)
    many.loc[::7, "sub_event_type"] = None
    many.loc[::11, "sub_event_type"] = ""
    events = many.drop(columns="sub_event_type").assign(event_type=["Battles", "Riots", None] * 100)
    control = layers[1].data
    change = control.assign(from_controller=["Opposition (HTS)", None],
                            to_controller=["Government of Syria", "Government of Syria"])
    summary = pd.DataFrame({"controller": ["Government of Syria", "Opposition (HTS)", None] * 3,
                            "area_km2": range(9)})
    layers = [*layers, Layer("Many incidents", "incidents", many), Layer("Events", "incidents", events),
              Layer("Control twice", "control", pd.concat([control, control], ignore_index=True)),
              Layer("Changed hands", "change", change), Layer("Summary", "zones_summary", summary)]
    before = [layer.data.copy() for layer in layers if layer.kind != "kde"]
    out = write_gpkg(layers, tmp_path / "layers.gpkg")
    for old, layer in zip(before, [layer for layer in layers if layer.kind != "kde"], strict=False):
        pd.testing.assert_frame_equal(layer.data, old)  # the caller's frames are left as they were
    stored = {t: qml for t, (qml, *_rest) in _styles(out).items()}
    taken: set[str] = set()
    for layer in layers:
        if layer.kind == "kde":
            continue
        gdf = layer.data
        if isinstance(gdf, gpd.GeoDataFrame) and gdf.geometry.name != "geometry":
            gdf = gdf.rename_geometry("geometry")
        sym = styles.symbology_for(layer.kind, gdf)
        types = gdf.geometry.geom_type.dropna().unique() if isinstance(gdf, gpd.GeoDataFrame) else []
        geom = styles.geometry_family(types)
        assert stored[table_name(layer.name, taken)] == qml_for(sym, geom, columns=list(gdf.columns))
