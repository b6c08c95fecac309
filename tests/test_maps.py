"""geoconflict.maps: offline, escaped HTML maps; loading layers; size control.

``sample_layers`` builds one small hand-made layer of every kind; the browser, PNG and publish
tests reuse it (``from test_maps import sample_layers``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import LineString, Polygon, box

from geoconflict._packed import unpack
from geoconflict.errors import InputError, OutputExistsError
from geoconflict.layers import Layer, load_layers
from geoconflict.maps import (
    make_map,
    render_html,
    round_coordinates,
    safe_json,
    simplify_layer,
    write_map,
)

#: rasterio 1.4's warp internals use affine's ``*`` (third-party PendingDeprecationWarning)
RASTERIO_AFFINE = "ignore:Use `@` matmul instead of `\\*` mul operator:PendingDeprecationWarning"
pytestmark = pytest.mark.filterwarnings(RASTERIO_AFFINE)

PAYLOADS = (
    '<img src=x onerror="window.__xss=1">',
    "</script><script>window.__xss=2</script>",
    "${window.__xss=3}",
    "`${window.__xss=4}` it's \"quoted\"",
    "<svg/onload=window.__xss=5> & </textarea><b>bold</b><!--",
)
DAYS = pd.to_datetime(["2020-06-03", "2020-06-03", "2020-06-08", "2020-06-08", "2020-06-08", "2020-06-09"])


def write_kde(path: Path) -> Path:
    import rasterio
    from affine import Affine

    yy, xx = np.mgrid[0:40, 0:40]
    data = np.exp(-((xx - 20) ** 2 + (yy - 18) ** 2) / 60.0).astype("float32")
    with rasterio.open(path, "w", driver="GTiff", width=40, height=40, count=1, dtype="float32",
                       crs="EPSG:32637", transform=Affine(1000, 0, 255_000, 0, -1000, 3_985_000)) as dst:
        dst.write(data, 1)
        dst.update_tags(units="incidents/km²")
    return path


def sample_layers(tmp_path: Path, *, payload: bool = False) -> list[Layer]:
    """One hand-made layer of every kind around Jabal al-Zawiya (EPSG:4326)."""
    def t(clean: str, i: int = 0) -> str:
        return PAYLOADS[i % len(PAYLOADS)] if payload else clean

    admin = gpd.GeoDataFrame(
        {"ADM3_EN": [t("Ariha", 0), t("Mhambal", 1)], "ADM3_PCODE": ["SY070500", "SY070501"]},
        geometry=[box(36.40, 35.60, 36.60, 35.90), box(36.60, 35.60, 36.80, 35.90)], crs=4326)
    control = gpd.GeoDataFrame(
        {"controller": [t("Government of Syria", 2), t("Opposition (HTS)", 3)]},
        geometry=[box(36.40, 35.60, 36.80, 35.72), box(36.40, 35.72, 36.80, 35.90)], crs=4326)
    front = gpd.GeoDataFrame({"controller_left": [t("Government of Syria", 4)],
                              "controller_right": ["Opposition (HTS)"]},
                             geometry=[LineString([(36.40, 35.72), (36.80, 35.72)])], crs=4326)
    corridor = gpd.GeoDataFrame({"name": [t("M4 corridor north", 0), "M4 corridor south"],
                                 "side": ["north", "south"]},
                                geometry=[box(36.40, 35.80, 36.80, 35.85), box(36.40, 35.75, 36.80, 35.80)],
                                crs=4326)
    areas = gpd.GeoDataFrame({"name": [t("Jabal al-Zawiya", 1)]},
                             geometry=[box(36.45, 35.62, 36.60, 35.71)], crs=4326)
    n = len(DAYS)
    incidents = gpd.GeoDataFrame(
        {"incident_id": [f"SYR{i}" for i in range(n)], "date": DAYS,
         "sub_event_type": ["Air/drone strike", "Shelling/artillery/missile attack", "Air/drone strike",
                            "Armed clash", "Air/drone strike", t("Attack", 2)],
         "actor1": [t("Military Forces of Russia", i) for i in range(n)],
         "actor2": [t("Civilians (Syria)", i + 1) for i in range(n)],
         "fatalities": [2.0, 0.0, 1.0, 16.0, 0.0, 3.0],
         "location": [t("Mozra", i + 2) for i in range(n)],
         "notes": [t("Airstrikes on Mozra; two civilians killed.", i + 3) for i in range(n)]},
        geometry=gpd.points_from_xy([36.4399, 36.5419, 36.4849, 36.3893, 36.4399, 36.6103],
                                    [35.6571, 35.6853, 35.6599, 35.6857, 35.6571, 35.8141]), crs=4326)
    grid = gpd.GeoDataFrame({"cell_id": ["a", "b", "c", "d"], "count": [0, 2, 5, 12]},
                            geometry=[box(36.40 + 0.05 * i, 35.62, 36.45 + 0.05 * i, 35.67) for i in range(4)],
                            crs=4326)
    hot = gpd.GeoDataFrame({"cell_id": ["a", "b", "c"], "gi_z": [3.1, 0.2, -2.0],
                            "hotspot": ["Hot spot, 99% confidence", "Not significant", t("Cold spot, 95% confidence", 4)]},
                           geometry=[box(36.40 + 0.05 * i, 35.67, 36.45 + 0.05 * i, 35.70) for i in range(3)],
                           crs=4326)
    flows = gpd.GeoDataFrame({"origin": [t("Saraqab", 0), "Ariha"], "destination": [t("Dana", 1), "Sarmada"],
                              "individuals": [185_364, 139_729]},
                             geometry=[LineString([(36.8061, 35.8611), (36.7697, 36.2137)]),
                                       LineString([(36.6103, 35.8141), (36.7239, 36.1867)])], crs=4326)
    arrows = gpd.GeoDataFrame({"origin": ["Saraqab"], "destination": ["Dana"], "individuals": [185_364]},
                              geometry=[Polygon([(36.76, 36.20), (36.78, 36.20), (36.7697, 36.2137)])],
                              crs=4326)
    kde = write_kde(tmp_path / "kde.tif")
    name = (lambda s: f"{s} {PAYLOADS[1]}") if payload else (lambda s: s)
    return [
        Layer(name("Admin"), "admin", admin), Layer(name("Control zones"), "control", control),
        Layer(name("Front line"), "front_line", front), Layer(name("M4 corridor"), "corridor", corridor),
        Layer(name("Areas"), "areas", areas), Layer(name("Incidents"), "incidents", incidents),
        Layer(name("Density grid"), "grid", grid), Layer(name("Hot spots"), "hotspots", hot),
        Layer(name("Flows"), "flows", flows), Layer(name("Arrows"), "arrows", arrows),
        Layer(name("KDE"), "kde", kde),
    ]


EXTERNAL = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//",
                      re.IGNORECASE)


def test_offline_page_has_no_external_resources(tmp_path: Path) -> None:
    report = write_map(sample_layers(tmp_path), tmp_path / "map.html", title="Idlib, June 2020")
    text = report.path.read_text(encoding="utf-8")
    assert not EXTERNAL.search(text)
    assert "cdn.jsdelivr" not in text and "code.jquery" not in text and "bootstrap" not in text.lower()
    assert "Leaflet 1.9.4" in text  # inline vendored copy
    assert "GC.timeline(" in text and "DecompressionStream" in text  # the canvas point layer and its slider
    assert "url(images/" not in text  # the CSS images are inline data: URIs
    assert report.size_bytes == len(text.encode("utf-8"))
    # every layer in the layer control, in drawing order (zones bottom, incidents top)
    assert report.layers == ["Control zones", "KDE", "Admin", "Density grid", "Hot spots", "M4 corridor",
                             "Areas", "Front line", "Flows", "Arrows", "Incidents"]
    assert report.features["Incidents"] == 6 and report.features["Density grid"] == 4


def test_tiles_only_when_asked(tmp_path: Path) -> None:
    layers = sample_layers(tmp_path)[:2]
    offline = render_html(make_map(layers, title="t"))
    online = render_html(make_map(layers, title="t", tiles="OpenStreetMap"))
    assert "tile.openstreetmap.org" not in offline and "L.tileLayer" not in offline
    assert "tile.openstreetmap.org" in online
    assert not EXTERNAL.search(online)  # the tile URL is a JS string, not a script/link
    with pytest.raises(InputError, match="tile"):
        make_map(layers, title="t", tiles="NoSuchProvider.Nope")


def _script_blocks(text: str) -> list[str]:
    return re.findall(r"<script\b[^>]*>(.*?)</script>", text, flags=re.DOTALL | re.IGNORECASE)


def test_untrusted_text_cannot_break_out(tmp_path: Path) -> None:
    clean = render_html(make_map(sample_layers(tmp_path), title="t"))
    dirty = render_html(make_map(sample_layers(tmp_path, payload=True),
                                 title=PAYLOADS[1], subtitle=PAYLOADS[0], sources=[PAYLOADS[4]],
                                 data_as_of=PAYLOADS[2]))
    # the same number of script elements: nothing in the data opened or closed one
    assert len(_script_blocks(dirty)) == len(_script_blocks(clean))
    assert dirty.lower().count("<script") == clean.lower().count("<script")
    for p in PAYLOADS:
        if "<" in p:
            assert p not in dirty  # never raw in the page
    # the data decode back to the exact untrusted text
    inc = unpack(_layer_data(dirty, f"Incidents {PAYLOADS[1]}"))
    assert set(inc["notes"]) == set(PAYLOADS)
    assert "<img src=x" not in dirty and "<svg/onload" not in dirty
    # HTML contexts: escaped entities
    assert html_escaped(PAYLOADS[1]) in dirty  # title
    # script contexts: JSON with < > & escaped, decoding back to the exact text (legend, names)
    assert "\\u003c/script\\u003e\\u003cscript\\u003ewindow.__xss=2" in dirty


def html_escaped(s: str) -> str:
    import html

    return html.escape(s)


def test_safe_json_round_trip() -> None:
    obj = {"notes": list(PAYLOADS) + ["\u2028line\u2029sep", "Ma'arrat An Nu'man", "حلب"]}
    text = safe_json(obj)
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == obj


def test_round_coordinates_six_decimals() -> None:
    g = round_coordinates([shapely.Point(36.12345678901, 35.98765432109)])[0]
    assert (g.x, g.y) == (36.123457, 35.987654)


def test_simplify_admin_coverage_keeps_shared_edges(ocha_adm3: Path) -> None:
    adm = gpd.read_file(ocha_adm3)
    adm = adm[adm["ADM1_PCODE"].isin(["SY07", "SY05"])].reset_index(drop=True)
    before = int(shapely.get_num_coordinates(adm.geometry.values).sum())
    out, msg = simplify_layer(adm, max_vertices=before // 5)
    after = int(shapely.get_num_coordinates(out.geometry.values).sum())
    assert after <= before // 5 and msg is not None and "shared edges kept" in msg
    assert f"{before:,}" in msg and f"{after:,}" in msg
    assert bool(shapely.coverage_is_valid(out.geometry.values))  # no gaps/overlaps introduced
    assert out.crs == adm.crs and len(out) == len(adm)
    # the outline of the whole stays within a few hundred metres (equal-area comparison)
    ea = "+proj=laea +lat_0=35.5 +lon_0=36.7 +datum=WGS84"
    a0 = adm.to_crs(ea).union_all().area
    a1 = out.to_crs(ea).union_all().area
    assert abs(a1 - a0) / a0 < 0.01
    small, none = simplify_layer(adm.iloc[:2], max_vertices=10**9)
    assert none is None and small is not None


def test_builtin_size_with_real_boundaries(tmp_path: Path, ocha_adm3: Path) -> None:
    """All Syria's sub-districts (129,000 vertices) plus 3,000 incidents stay far under 5 MB."""
    adm = gpd.read_file(ocha_adm3)
    rng = np.random.default_rng(7)
    n = 3000
    inc = gpd.GeoDataFrame(
        {"incident_id": [f"r{i}" for i in range(n)],
         "date": pd.Timestamp("2020-03-01") + pd.to_timedelta(rng.integers(0, 100, n), unit="D"),
         "sub_event_type": rng.choice(["Air/drone strike", "Armed clash"], n),
         "notes": ["x" * 300] * n, "fatalities": rng.integers(0, 5, n).astype(float)},
        geometry=gpd.points_from_xy(rng.uniform(36.2, 37.0, n), rng.uniform(35.4, 36.3, n)), crs=4326)
    report = write_map([Layer("Sub-districts", "admin", adm), Layer("Incidents", "incidents", inc)],
                       tmp_path / "m.html", title="size")
    assert report.size_bytes < 5_000_000
    assert any(m.startswith("Sub-districts: simplified") for m in report.messages)


def test_past_max_features_every_incident_keeps_position_day_and_type(tmp_path: Path) -> None:
    """Over the limit, nothing is aggregated: every incident is in the page with its position,
    day and type, and the page says what it left out."""
    rng = np.random.default_rng(3)
    n = 500
    xs, ys = rng.uniform(36.4, 36.5, n), rng.uniform(35.6, 35.7, n)
    types = rng.choice(["Air/drone strike", "Armed clash"], n)
    inc = gpd.GeoDataFrame({"incident_id": [f"i{i}" for i in range(n)],
                            "date": pd.Timestamp("2020-06-01") + pd.to_timedelta(rng.integers(0, 9, n), unit="D"),
                            "sub_event_type": types, "fatalities": 1.0, "notes": "x"},
                           geometry=gpd.points_from_xy(xs, ys), crs=4326)
    m = make_map([Layer("Incidents", "incidents", inc, source="inc.csv")], title="t", max_features=100)
    assert any("500 incidents > 100: each keeps its position, day and type; fatalities, incident_id, notes "
               "left out of the page (they are in inc.csv)" in s for s in m.geoconflict_messages), m.geoconflict_messages
    got = unpack(_layer_data(render_html(m), "Incidents"))
    assert len(got) == n
    assert np.allclose(got["lon"], np.round(xs, 5)) and np.allclose(got["lat"], np.round(ys, 5))
    assert list(got["sub_event_type"]) == list(types)
    assert list(got["date"]) == list(inc["date"])
    assert "fatalities" not in got and "notes" not in got and "incident_id" not in got


def test_large_layers_get_a_density_layer_switched_off(tmp_path: Path) -> None:
    import geoconflict.maps as maps

    inc = sample_layers(tmp_path)[5].data
    m = make_map([Layer("Incidents", "incidents", inc)], title="t")
    assert list(m.geoconflict_layers) == ["Incidents"]
    old = maps.DENSITY_FROM
    try:
        maps.DENSITY_FROM = 5
        m = make_map([Layer("Incidents", "incidents", inc)], title="t")
    finally:
        maps.DENSITY_FROM = old
    names = list(m.geoconflict_layers)
    assert names[0] == "Incidents" and names[1].startswith("Incidents: incidents per ")
    assert m.geoconflict_layers[names[1]] >= 1


def _layer_data(text: str, name: str) -> dict:
    """The data (GeoJSON, or packed columns for incidents) embedded for the layer ``name``."""
    m = re.search(r"GC\.register\(" + re.escape(safe_json(name)) + r", \"gc-\d+\",\s*GC\.layer\([a-z_0-9]+, ",
                  text)
    assert m, name
    data, _ = json.JSONDecoder().raw_decode(text, m.end())
    return data


def test_incident_popups_days_and_styles(tmp_path: Path) -> None:
    layers = sample_layers(tmp_path)
    text = render_html(make_map(layers, title="t"))
    payload = _layer_data(text, "Incidents")
    got = unpack(payload)
    assert [f"{d:%Y-%m-%d}" for d in got["date"]] == [d.strftime("%Y-%m-%d") for d in DAYS]
    assert payload["day"]["day0"] == "2020-06-03"
    assert got["fatalities"][3] == 16 and got["location"][0] == "Mozra"
    assert (got["lon"][0], got["lat"][0]) == (36.4399, 35.6571)
    # one slider for the map, over every day of the incidents
    spec = re.search(r"GC\.timeline\([a-z_0-9]+, (\{.*?\})\);", text).group(1)
    assert json.loads(spec)["days"] == [f"2020-06-0{d}" for d in range(3, 10)]
    no_slider = render_html(make_map(layers, title="t", time_slider=False))
    assert "GC.timeline(" not in no_slider


def test_points_round_trip_every_field_exactly() -> None:
    """The packed columns decode to the incidents' own values (dictionaries, text, numbers, days)."""
    from geoconflict._packed import pack_incidents

    rng = np.random.default_rng(11)
    n = 3000
    df = pd.DataFrame({
        "sub_event_type": rng.choice(["Air/drone strike", "Armed clash", None], n),
        "actor1": rng.choice([f"actor {i}" for i in range(400)], n),  # past 255: two-byte codes
        "notes": [f"note {i} \u062d\u0644\u0628 <b>&" for i in range(n)],
        "incident_id": [f"SYR{i}" for i in range(n)],
        "fatalities": rng.integers(0, 50, n).astype(float),
        "date": pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D"),
    })
    df.loc[5, "fatalities"] = np.nan
    df.loc[6, "date"] = pd.NaT
    lon, lat = rng.uniform(35.7, 42.4, n), rng.uniform(32.3, 37.3, n)
    pk = pack_incidents(df, lon, lat, columns=["sub_event_type", "actor1", "notes", "incident_id", "fatalities"],
                        type_col="sub_event_type", dates=df["date"])
    assert pk.notes == "all" and pk.left_out == []
    got = unpack(pk.payload)
    assert np.abs(got["lon"] - lon).max() <= 5e-6 and np.abs(got["lat"] - lat).max() <= 5e-6
    def values(col: pd.Series) -> list:
        return [None if pd.isna(v) else v for v in col.tolist()]

    for c in ("sub_event_type", "actor1", "notes", "incident_id"):
        assert values(got[c]) == values(df[c]), c
    assert got["fatalities"].isna().tolist() == df["fatalities"].isna().tolist()
    assert (got["fatalities"].fillna(-1) == df["fatalities"].fillna(-1)).all()
    assert got["date"].isna().tolist() == df["date"].isna().tolist()
    assert (got["date"].dropna() == df["date"].dropna()).all()
    # a small budget: the notes are cut, then left out, then columns go in the documented order
    cut = pack_incidents(df, lon, lat, columns=["sub_event_type", "actor1", "notes", "incident_id", "fatalities"],
                         type_col="sub_event_type", dates=df["date"], budget_bytes=pk.size_bytes - 1)
    assert cut.notes in ("left out", "cut to 160 characters") and cut.size_bytes <= pk.size_bytes - 1
    tiny = pack_incidents(df, lon, lat, columns=["sub_event_type", "actor1", "notes", "incident_id"],
                          type_col="sub_event_type", dates=df["date"], budget_bytes=10)
    assert tiny.notes == "left out" and set(tiny.left_out) == {"notes", "actor1", "incident_id"}
    assert values(unpack(tiny.payload)["sub_event_type"]) == values(df["sub_event_type"])


def test_control_legend_areas_match_geod(tmp_path: Path) -> None:
    layers = sample_layers(tmp_path)
    text = render_html(make_map([layers[1]], title="t"))
    geod = Geod(ellps="WGS84")
    gdf = layers[1].data
    areas = [abs(geod.geometry_area_perimeter(g)[0]) / 1e6 for g in gdf.geometry]
    total = sum(areas)
    for a in areas:
        assert f"{a:,.0f} km², {a / total * 100:.0f}%" in text.replace("\\u0026", "&")


def test_dated_control_splits_into_snapshots(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"controller": ["Gov", "Opp", "Gov"],
                            "valid_from": pd.to_datetime(["2020-01-01", "2020-01-01", "2020-03-06"])},
                           geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(0, 0, 2, 1)], crs=4326)
    m = make_map([Layer("Control", "control", gdf)], title="t")
    assert list(m.geoconflict_layers) == ["Control from 2020-01-01", "Control from 2020-03-06"]
    text = render_html(m)
    # only the latest snapshot is switched on
    first = re.search(r"var (geoconflict_layer_\w+) = GC.register\(\"Control from 2020-01-01\"", text).group(1)
    last = re.search(r"var (geoconflict_layer_\w+) = GC.register\(\"Control from 2020-03-06\"", text).group(1)
    assert f"{last}.addTo(" in text and f"{first}.addTo(" not in text


def test_load_layers_detects_kinds(tmp_path: Path) -> None:
    layers = {lyr.name: lyr for lyr in sample_layers(tmp_path)}
    paths = []
    for name, fname in [("Admin", "adm3.geojson"), ("Control zones", "control.geojson"),
                        ("Front line", "front.geojson"), ("M4 corridor", "m4.geojson"),
                        ("Areas", "areas.geojson"), ("Incidents", "incidents.geojson"),
                        ("Density grid", "grid.geojson"), ("Hot spots", "hot.geojson"),
                        ("Flows", "flows.geojson"), ("Arrows", "arrows.geojson")]:
        p = tmp_path / fname
        layers[name].data.to_file(p)
        paths.append(p)
    paths.append(layers["KDE"].data)
    got = {lyr.name: lyr.kind for lyr in load_layers(paths)}
    assert got == {"adm3": "admin", "control": "control", "front": "front_line", "m4": "corridor",
                   "areas": "areas", "incidents": "incidents", "grid": "grid", "hot": "hotspots",
                   "flows": "flows", "arrows": "arrows", "kde": "kde"}
    over = load_layers([tmp_path / "areas.geojson"], kinds={"areas": "admin"})
    assert over[0].kind == "admin"
    with pytest.raises(InputError, match="not read"):
        load_layers([tmp_path / "areas.geojson"], kinds={"nope": "admin"})
    odd = gpd.GeoDataFrame({"x": [1]}, geometry=[shapely.Point(0, 0)], crs=4326)
    odd.to_file(tmp_path / "odd.geojson")
    with pytest.raises(InputError, match="--kind"):
        load_layers([tmp_path / "odd.geojson"])
    with pytest.raises(InputError, match="not found"):
        load_layers([tmp_path / "missing.geojson"])


def test_load_layers_reads_every_gpkg_layer(tmp_path: Path) -> None:
    from geoconflict.io import write_layers

    layers = sample_layers(tmp_path)
    write_layers({"admin": layers[0].data, "grid": layers[6].data}, tmp_path / "two.gpkg")
    got = [(lyr.name, lyr.kind, len(lyr.data)) for lyr in load_layers([tmp_path / "two.gpkg"])]
    assert got == [("admin", "admin", 2), ("grid", "grid", 4)]


def test_write_map_refuses_overwrite_and_bad_extension(tmp_path: Path) -> None:
    layers = sample_layers(tmp_path)[:1]
    out = tmp_path / "m.html"
    write_map(layers, out, title="t")
    before = out.read_bytes()
    with pytest.raises(OutputExistsError):
        write_map(layers, out, title="other")
    assert out.read_bytes() == before
    write_map(layers, out, title="other", overwrite=True)
    assert b"other" in out.read_bytes()
    with pytest.raises(InputError, match=".html"):
        write_map(layers, tmp_path / "m.png", title="t")
    with pytest.raises(InputError, match="no layers"):
        make_map([], title="t")
    with pytest.raises(InputError, match="unknown layer kind"):
        Layer("x", "nonsense", layers[0].data)


def test_layer_without_crs_is_an_error(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"name": ["a"]}, geometry=[box(0, 0, 1, 1)])
    with pytest.raises(InputError, match="no CRS"):
        make_map([Layer("A", "areas", gdf)], title="t")


def test_projected_input_is_drawn_in_wgs84(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"name": ["a"]}, geometry=[box(36.5, 35.6, 36.6, 35.7)], crs=4326)
    utm = gdf.to_crs(32637)
    data = _layer_data(render_html(make_map([Layer("A", "areas", utm)], title="t")), "A")
    xs = [c[0] for c in data["features"][0]["geometry"]["coordinates"][0]]
    assert min(xs) == pytest.approx(36.5, abs=1e-6) and max(xs) == pytest.approx(36.6, abs=1e-6)


def test_zone_summary_csv_labels_control_legend(tmp_path: Path) -> None:
    csv = tmp_path / "zone_summary.csv"
    csv.write_text("controller,area_km2,share\nGovernment of Syria,9156.4,0.654\n", encoding="utf-8")
    control = sample_layers(tmp_path)[1]
    control.data.to_file(tmp_path / "control.geojson")
    layers = load_layers([tmp_path / "control.geojson", csv])
    assert [(lyr.name, lyr.kind) for lyr in layers] == [("control", "control"), ("zone_summary", "zones_summary")]
    text = render_html(make_map(layers, title="t"))
    assert "9,156 km², 65%" in text.replace("\\u0026", "&")  # the summary's figure wins
    with pytest.raises(InputError, match="nothing to draw"):
        make_map(layers[1:], title="t")


def test_notes_are_cut_to_fit_the_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from geoconflict import _packed

    monkeypatch.setattr(_packed, "NOTES_MAX_CHARS", 200)
    inc = sample_layers(tmp_path)[5].data.copy()
    inc["notes"] = ["n" * 500, "short", None, "m" * 200, "x" * 201, "y"]
    m = make_map([Layer("Incidents", "incidents", inc)], title="t")
    notes = unpack(_layer_data(render_html(m), "Incidents"))["notes"].tolist()
    assert notes == ["n" * 200 + "…", "short", None, "m" * 200, "x" * 200 + "…", "y"]


def test_notes_left_out_past_the_budget_and_the_popup_says_where(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from geoconflict import _packed

    inc = sample_layers(tmp_path)[5].data.copy()
    monkeypatch.setattr(_packed, "PAGE_BUDGET_BYTES", 200)
    m = make_map([Layer("Incidents", "incidents", inc, source="acled_2020.csv")], title="t")
    text = render_html(m)
    payload = _layer_data(text, "Incidents")
    assert "notes" not in payload
    assert any("notes left out of the page (page size); they are in acled_2020.csv" in s
               for s in m.geoconflict_messages)
    assert "not in this page (page size): see acled_2020.csv" in text


def test_layers_can_start_switched_off(tmp_path: Path) -> None:
    """``Layer(show=False)``: in the layer control, not drawn until ticked (vector and raster)."""
    pts = gpd.GeoDataFrame({"name": ["a"]}, geometry=gpd.points_from_xy([36.6], [35.8]), crs=4326)
    areas = gpd.GeoDataFrame({"name": ["z"]}, geometry=[box(36.5, 35.7, 36.7, 35.9)], crs=4326)
    text = render_html(make_map([Layer("Zone", "areas", areas, show=False), Layer("Points", "incidents", pts)],
                                title="t"))
    hidden = re.search(r"var (geoconflict_layer_\w+) = GC.register\(\"Zone\"", text).group(1)
    shown = re.search(r"var (geoconflict_layer_\w+) = GC.register\(\"Points\"", text).group(1)
    assert f"{shown}.addTo(" in text and f"{hidden}.addTo(" not in text
    assert f'"Zone" : {hidden}' in text  # still offered in the layer control

