"""The HTML map in headless Chromium with no network: no console errors, no requests, layers and
legends present, popups open, and script payloads in every text field run nothing.

Needs ``playwright`` (pip) and Debian's ``chromium`` (/usr/bin/chromium); skips cleanly without.
Screenshots are saved in the test's tmp folder, or in ``$GEOCONFLICT_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import unavailable
from test_maps import PAYLOADS, RASTERIO_AFFINE, sample_layers

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
    page.wait_for_function("window.gcLayers && Object.keys(window.gcLayers).length > 0")
    page.wait_for_timeout(300)
    return ctx, page, events


OPEN_ALL_POPUPS = """
() => {
  const texts = [];
  const map = Object.values(window).find(v => v && v instanceof L.Map);
  for (const [name, lyr] of Object.entries(window.gcLayers)) {
    if (!map.hasLayer(lyr)) map.addLayer(lyr);
    const members = lyr.gcAll || (lyr.eachLayer ? lyr.getLayers() : []);
    for (const m of members) {
      if (!m.getPopup || !m.getPopup()) continue;
      if (lyr.gcAll) {            // clustered: show the marker on its own, then open it
        map.setView(m.getLatLng(), 16, {animate: false});
        lyr.refreshClusters();
      }
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
        # the day slider: 8 June has 3 incidents (hand count of test_maps.DAYS)
        page.evaluate("""() => { const r = document.querySelector('.gc-slider input[type=range]');
                                 r.value = 5; r.dispatchEvent(new Event('input')); }""")
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
            (l.gcAll || (l.getLayers ? l.getLayers() : [])).forEach(m => { if (m.getTooltip && m.getTooltip()) { try { m.openTooltip(); m.closeTooltip(); } catch (e) {} } }); } }""")
        assert page.evaluate("window.__xss") is None
        # layer names, legend and title show the payloads as text
        assert PAYLOADS[1] in page.inner_text(".leaflet-control-layers-overlays")
        assert PAYLOADS[2] in page.inner_text(".gc-legend")
        title = page.inner_text("#gc-title")
        assert PAYLOADS[1] in title and PAYLOADS[0] in title and PAYLOADS[2] in title
        assert ev["errors"] == [] and ev["failed"] == []
    finally:
        ctx.close()
