"""The HTML map in headless Chromium with no network: no console errors, no requests, layers and
legends present, popups open, and script payloads in every text field run nothing.

Needs ``playwright`` (pip) and Debian's ``chromium`` (/usr/bin/chromium); skips cleanly without.
Screenshots are saved in the test's tmp folder, or in ``$GEOCONFLICT_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import unavailable
from test_maps import PAYLOADS, RASTERIO_AFFINE, sample_layers

from geoconflict.layers import Layer
from geoconflict.maps import write_map

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings(RASTERIO_AFFINE)]

CHROMIUM = os.environ.get("GEOCONFLICT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--host-resolver-rules=MAP * ~NOTFOUND"]


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright import sync_api
    except ImportError:
        unavailable("chromium", "playwright is not installed")
    if not Path(CHROMIUM).exists():
        unavailable("chromium", f"Chromium not found at {CHROMIUM}")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def open_page(browser, path: Path):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, offline=True)
    page = ctx.new_page()
    events: dict[str, list[str]] = {"errors": [], "requests": [], "failed": []}
    page.on("console", lambda m: events["errors"].append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: events["errors"].append(str(e)))
    page.on("request", lambda r: events["requests"].append(r.url))
    page.on("requestfailed", lambda r: events["failed"].append(r.url))
    page.goto(path.as_uri())
    page.wait_for_function("window.gcLayers && Object.keys(window.gcLayers).length > 0 && "
                           "Object.values(window.gcLayers).every(l => !l.gcPoints || l.lon)", timeout=60_000)
    page.wait_for_timeout(300)
    return ctx, page, events


OPEN_ALL_POPUPS = """
async () => {
  const texts = [];
  const map = Object.values(window).find(v => v && v instanceof L.Map);
  for (const [name, lyr] of Object.entries(window.gcLayers)) {
    if (!map.hasLayer(lyr)) map.addLayer(lyr);
    if (lyr.gcPoints) {           // the canvas point layer: every incident's popup
      await lyr.ready; await lyr.loadNotes();
      for (let i = 0; i < lyr.n; i++) {
        lyr.gcOpen(i);
        const el = map._popup && map._popup.isOpen() ? map._popup.getElement() : null;
        texts.push(el ? el.querySelector('.leaflet-popup-content').textContent : null);
        map.closePopup();
      }
      continue;
    }
    const members = lyr.eachLayer ? lyr.getLayers() : [];
    for (const m of members) {
      if (!m.getPopup || !m.getPopup()) continue;
      m.openPopup();
      const el = m.getPopup().isOpen() ? m.getPopup().getElement() : null;
      texts.push(el ? el.querySelector('.leaflet-popup-content').textContent : null);
      m.closePopup();
    }
  }
  return texts;
}
"""


def test_map_loads_offline_with_layers_and_legends(browser, tmp_path: Path) -> None:
    out = write_map(sample_layers(tmp_path), tmp_path / "map.html", title="Idlib, June 2020",
                    sources=["ACLED", "OCHA"], data_as_of="2020-06-10").path
    ctx, page, ev = open_page(browser, out)
    try:
        keep = os.environ.get("GEOCONFLICT_SCREENSHOTS")  # a folder to keep the screenshots in
        shot = (Path(keep) if keep else tmp_path) / "browser_map.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")
        assert ev["errors"] == []
        assert ev["failed"] == []
        assert [u for u in ev["requests"] if not u.startswith(("file:", "data:"))] == []
        control = page.inner_text(".leaflet-control-layers-overlays")
        for name in ("Admin", "Control zones", "Front line", "M4 corridor", "Areas", "Incidents",
                     "Density grid", "Hot spots", "Flows", "Arrows", "KDE", "Countries (Natural Earth)"):
            assert name in control
        legend = page.inner_text(".gc-legend")
        for text in ("Government of Syria", "Opposition (HTS)", "Air/drone strike", "Armed clash",
                     "Hot spot, 99% confidence", "Cold spot, 95% confidence", "1–2", "3–5", "6–12",
                     "line width ∝ √people", "100,000 people", "20,000 people", "incidents/km²"):
            assert text in legend
        title = page.inner_text("#gc-title")
        assert "Idlib, June 2020" in title and "Data as of 2020-06-10" in title and "ACLED; OCHA" in title
        assert "03 Jun 2020 – 09 Jun 2020" in title
        # the map frames the data, not the world
        zoom = page.evaluate("Object.values(window).find(v => v && v instanceof L.Map).getZoom()")
        assert zoom >= 8
        # the KDE image is an inline data: URL
        assert page.evaluate("document.querySelector('img.leaflet-image-layer').src.startsWith('data:image/png')")
        # switching a layer off hides its legend
        page.click(".leaflet-control-layers-overlays label:has-text('Hot spots') input")
        assert "Hot spot, 99% confidence" not in page.inner_text(".gc-legend")
        # the day slider: 8 June has 3 incidents, 5 up to that day (hand count of test_maps.DAYS)
        page.evaluate("""() => { const r = document.querySelector('.gc-slider input[type=range]');
                                 r.value = 5; r.dispatchEvent(new Event('input')); }""")
        assert page.inner_text(".gc-slider").startswith("Incidents to 2020-06-08: 5")
        assert page.evaluate("location.hash") == "#date=2020-06-08"
        page.select_option(".gc-slider select", "1")
        assert page.inner_text(".gc-slider").startswith("Incidents on 2020-06-08: 3")
        assert ev["errors"] == []
    finally:
        ctx.close()


def test_payloads_in_every_text_field_run_nothing(browser, tmp_path: Path) -> None:
    layers = sample_layers(tmp_path, payload=True)
    out = write_map(layers, tmp_path / "xss.html", title=PAYLOADS[1], subtitle=PAYLOADS[0],
                    sources=[PAYLOADS[3], PAYLOADS[4]], data_as_of=PAYLOADS[2]).path
    ctx, page, ev = open_page(browser, out)
    try:
        before = page.evaluate("document.querySelectorAll('script').length")
        texts = page.evaluate(OPEN_ALL_POPUPS)
        keep = os.environ.get("GEOCONFLICT_SCREENSHOTS")
        page.screenshot(path=str((Path(keep) if keep else tmp_path) / "browser_payloads.png"))
        assert len(texts) >= 20 and all(t is not None for t in texts)
        joined = "\n".join(texts)
        for p in PAYLOADS:
            assert p in joined  # shown as text, exactly
        assert page.evaluate("window.__xss") is None
        assert page.evaluate("document.querySelectorAll('script').length") == before
        assert page.evaluate("document.querySelectorAll('img[src=x], svg[onload], b').length") == 0
        # tooltips too
        page.evaluate("""() => { for (const l of Object.values(window.gcLayers)) {
            (l.getLayers ? l.getLayers() : []).forEach(m => {
              if (m.getTooltip && m.getTooltip()) { try { m.openTooltip(); m.closeTooltip(); } catch (e) {} } }); } }""")
        assert page.evaluate("window.__xss") is None
        # layer names, legend and title show the payloads as text
        assert PAYLOADS[1] in page.inner_text(".leaflet-control-layers-overlays")
        assert PAYLOADS[2] in page.inner_text(".gc-legend")
        title = page.inner_text("#gc-title")
        assert PAYLOADS[1] in title and PAYLOADS[0] in title and PAYLOADS[2] in title
        assert ev["errors"] == [] and ev["failed"] == []
    finally:
        ctx.close()


def _country_export(n: int, seed: int = 19) -> gpd.GeoDataFrame:
    """A country-size incident table: two years, five types, 300 actors, notes with payloads."""
    rng = np.random.default_rng(seed)
    types = np.array(["Air/drone strike", "Shelling/artillery/missile attack", "Armed clash", "Attack",
                      "Remote explosive/landmine/IED"], dtype=object)
    actors = np.array([f"Actor {i}" for i in range(300)] + [PAYLOADS[0]], dtype=object)
    day = rng.integers(0, 731, n)
    notes = np.array([f"note {i}" for i in range(50)] + list(PAYLOADS), dtype=object)
    return gpd.GeoDataFrame(
        {"incident_id": [f"SYR{i}" for i in range(n)],
         "date": pd.Timestamp("2019-01-01") + pd.to_timedelta(day, unit="D"),
         "sub_event_type": types[rng.integers(0, len(types), n)],
         "actor1": actors[rng.integers(0, len(actors), n)], "actor2": actors[rng.integers(0, 300, n)],
         "location": [f"Place {i % 5000}" for i in range(n)], "fatalities": rng.poisson(0.7, n).astype(float),
         "notes": notes[rng.integers(0, len(notes), n)]},
        geometry=gpd.points_from_xy(rng.uniform(35.8, 42.2, n), rng.uniform(32.4, 37.2, n)), crs=4326)


def test_200k_incidents_slider_type_filter_and_popup(browser, tmp_path: Path) -> None:
    """Issue #19: a country's export in one offline page, every incident, interactive."""
    inc = _country_export(200_000)
    report = write_map([Layer("Incidents", "incidents", inc, source="syria_2019_2020.csv")],
                       tmp_path / "big.html", title="Syria 2019-2020")
    assert report.size_bytes <= 6_000_000, report.size_bytes
    ctx, page, ev = open_page(browser, report.path)
    try:
        count = lambda: int(page.inner_text(".gc-slider .gc-count").rsplit(": ", 1)[1].replace(",", ""))  # noqa: E731
        assert count() == 200_000  # all days
        n_days = page.evaluate("+document.querySelector('.gc-slider input[type=range]').max") + 1
        assert n_days == (inc["date"].max() - inc["date"].min()).days + 1
        page.evaluate("""() => { const r = document.querySelector('.gc-slider input[type=range]');
                                 r.value = 364; r.dispatchEvent(new Event('input')); }""")
        day = (inc["date"].min() + pd.Timedelta(days=364)).normalize()
        assert count() == int((inc["date"] <= day).sum())
        page.select_option(".gc-slider select", "7")
        week = (inc["date"] > day - pd.Timedelta(days=7)) & (inc["date"] <= day)
        assert count() == int(week.sum())
        # the type filter: untick one type
        page.click(".gc-filter summary")
        page.click("input[data-gc-type='Armed clash']")
        assert count() == int((week & (inc["sub_event_type"] != "Armed clash")).sum())
        # an actor filter
        page.fill(".gc-filter input[type=search]", "actor 12")
        want = week & (inc["sub_event_type"] != "Armed clash") & (
            inc["actor1"].str.lower().str.contains("actor 12", regex=False)
            | inc["actor2"].str.lower().str.contains("actor 12", regex=False))
        assert count() == int(want.sum())
        # a click on an incident opens its popup, every field as text
        i = int(np.flatnonzero(want.to_numpy())[0])
        lat, lon = inc.geometry.y.iloc[i], inc.geometry.x.iloc[i]
        page.evaluate(f"""() => {{ const map = Object.values(window).find(v => v && v instanceof L.Map);
                                  map.setView([{lat}, {lon}], 13, {{animate: false}}); }}""")
        page.wait_for_timeout(300)
        map_id = page.evaluate("Object.values(window).find(v => v && v instanceof L.Map).getContainer().id")
        box = page.locator("#" + map_id).bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_selector(".leaflet-popup-content", timeout=5000)
        # the notes block is unpacked on the first popup, then the popup is filled again: wait for
        # that (a fixed pause was too short on a slow CI machine), and fail if it never comes
        note = str(inc["notes"].iloc[i])
        page.wait_for_function("t => { const e = document.querySelector('.leaflet-popup-content');"
                               " return e && e.textContent.includes(t); }", arg=note, timeout=60_000)
        text = page.inner_text(".leaflet-popup-content")
        assert inc["incident_id"].iloc[i] in text and str(inc["notes"].iloc[i]) in text
        assert page.evaluate("window.__xss") is None
        assert ev["errors"] == [] and ev["failed"] == []
    finally:
        ctx.close()


def test_map_follows_the_date_control_front_and_fragment(browser, tmp_path: Path) -> None:
    """Issue #15: the slider moves the control zones to the snapshot in force; #date= opens a day."""
    from shapely.geometry import box

    gov, opp = "Government of Syria", "Opposition"
    control = gpd.GeoDataFrame(
        {"controller": [opp, gov, opp, gov],
         "valid_from": pd.to_datetime(["2019-04-30", "2019-04-30", "2020-03-06", "2020-03-06"]),
         "valid_to": pd.to_datetime(["2020-03-05", "2020-03-05", None, None])},
        geometry=[box(36.2, 35.4, 36.7, 36.2), box(36.7, 35.4, 37.2, 36.2),
                  box(36.2, 35.4, 36.5, 36.2), box(36.5, 35.4, 37.2, 36.2)], crs=4326)
    inc = _country_export(2000).cx[36.2:37.2, 35.4:36.2]
    inc = inc[(inc["date"] >= "2019-05-01") & (inc["date"] <= "2020-06-30")]
    page_path = write_map([Layer("Control", "control", control), Layer("Incidents", "incidents", inc)],
                          tmp_path / "dated.html", title="t").path
    for day, start in (("2019-06-01", "2019-04-30"), ("2020-04-01", "2020-03-06")):
        ctx = browser.new_context(viewport={"width": 1400, "height": 900}, offline=True)
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e, seen=errors: seen.append(str(e)))
        page.goto(page_path.as_uri() + f"#date={day}")
        page.wait_for_function("Object.values(window.gcLayers).every(l => !l.gcPoints || l.lon)")
        page.wait_for_timeout(300)
        try:
            assert f"Control on {day} (snapshot from {start})" in page.inner_text(".gc-legend")
            assert f"Control on {day} (snapshot from {start})" in page.inner_text(".gc-slider")
            on = page.evaluate("""() => { const map = Object.values(window).find(v => v && v instanceof L.Map);
                return Object.entries(window.gcLayers).filter(([k, l]) => map.hasLayer(l)).map(([k]) => k); }""")
            assert f"Control from {start}" in on and len([k for k in on if k.startswith("Control from")]) == 1
            assert page.inner_text(".gc-slider .gc-count").startswith(f"Incidents to {day}: ")
            assert int(page.inner_text(".gc-slider .gc-count").rsplit(": ", 1)[1].replace(",", "")) == \
                int((inc["date"] <= day).sum())
            # km² per controller of that snapshot in the legend
            geod_km2 = control[control["valid_from"] == start].to_crs("+proj=laea +lat_0=35.8 +lon_0=36.7").area / 1e6
            legend = page.inner_text(".gc-legend [data-gc-layer] >> nth=0")
            assert legend  # the legend renders
            assert f"{geod_km2.iloc[0]:,.0f} km²" in page.inner_text(".gc-legend")
            # moving the slider updates the fragment
            page.evaluate("""() => { const r = document.querySelector('.gc-slider input[type=range]');
                                     r.value = 0; r.dispatchEvent(new Event('input')); }""")
            assert page.evaluate("location.hash").startswith("#date=2019-04-30")
            assert errors == []
        finally:
            ctx.close()


def test_place_names_are_text_by_zoom_and_never_overlap(browser, tmp_path: Path) -> None:
    """Issue #15: place names in the HTML map: text nodes (escaped), more as you zoom in, no two
    overlapping and none under the title or legend."""
    rng = np.random.default_rng(5)
    n = 120
    names = [f"Town {i}" for i in range(n - 2)] + [PAYLOADS[0], "Idleb"]
    places = gpd.GeoDataFrame(
        {"name": names, "rank": [3] * (n - 2) + [2, 1], "label_always": [False] * (n - 1) + [True]},
        geometry=gpd.points_from_xy(rng.uniform(36.3, 37.0, n), rng.uniform(35.5, 36.2, n)), crs=4326)
    inc = _country_export(300).cx[36.3:37.0, 35.5:36.2]
    out = write_map([Layer("Incidents", "incidents", inc), Layer("Places", "places", places)],
                    tmp_path / "places.html", title="Places").path
    ctx, page, ev = open_page(browser, out)
    try:
        boxes_js = """() => Array.from(document.querySelectorAll('.gc-place')).map(e => {
            const r = e.getBoundingClientRect(); return [e.textContent, r.left, r.top, r.right, r.bottom]; })"""
        panels_js = """() => Array.from(document.querySelectorAll('.gc-title, .gc-legend, .gc-slider, .leaflet-control-layers'))
            .map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })"""

        def check() -> list[str]:
            boxes, panels = page.evaluate(boxes_js), page.evaluate(panels_js)
            for i, a in enumerate(boxes):
                for b in boxes[i + 1:]:
                    assert not (a[1] < b[3] and a[3] > b[1] and a[2] < b[4] and a[4] > b[2]), (a, b)
                for p in panels:
                    assert not (a[1] < p[2] and a[3] > p[0] and a[2] < p[3] and a[4] > p[1]), (a, p)
            return [b[0] for b in boxes]

        assert all(t in names for t in check())
        page.evaluate("""() => { const map = Object.values(window).find(v => v && v instanceof L.Map);
                                 map.setView([35.85, 36.65], 7, {animate: false}); }""")
        page.wait_for_timeout(300)
        assert check() == ["Idleb"]  # zoomed out: only the always-named place (rank 1 from zoom 7)
        page.evaluate("""() => { const map = Object.values(window).find(v => v && v instanceof L.Map);
                                 map.setView([35.85, 36.65], 10, {animate: false}); }""")
        page.wait_for_timeout(300)
        high = check()
        assert "Idleb" in high and len(high) > 20  # the towns appear from zoom 10
        lat, lon = places.geometry.y.iloc[-2], places.geometry.x.iloc[-2]
        page.evaluate(f"""() => {{ const map = Object.values(window).find(v => v && v instanceof L.Map);
                                  map.setView([{lat}, {lon}], 14, {{animate: false}}); }}""")
        page.wait_for_timeout(300)
        assert PAYLOADS[0] in check()  # shown as text, exactly
        assert page.evaluate("window.__xss") is None
        assert ev["errors"] == []
    finally:
        ctx.close()
