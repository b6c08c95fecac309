"""The briefing set a run writes (briefing/: three 16:9 figures, PNG and SVG) and map.png."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from geoconflict import _stages, pipeline
from geoconflict.pipeline import load_scenario, run_scenario


@pytest.fixture(scope="module")
def builtin_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("brief") / "idlib-2020"
    run_scenario(None, outdir=out)
    return out


@pytest.mark.slow
def test_briefing_figures_are_1920x1080_png_and_svg(builtin_run: Path) -> None:
    folder = builtin_run / "briefing"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{stem}.{ext}" for stem in _stages.BRIEFING_FIGURES for ext in ("png", "svg"))
    for stem in _stages.BRIEFING_FIGURES:
        with Image.open(folder / f"{stem}.png") as im:
            assert im.size == (1920, 1080), stem
        root = ET.fromstring((folder / f"{stem}.svg").read_text(encoding="utf-8"))
        assert root.get("viewBox", "").split()[2:] and float(root.get("viewBox").split()[2]) / float(
            root.get("viewBox").split()[3]) == pytest.approx(16 / 9, rel=1e-3)
    # map.png is the situation figure
    assert (builtin_run / "map.png").read_bytes() == (folder / "1_situation.png").read_bytes()


@pytest.mark.slow
def test_briefing_is_listed_and_the_figures_name_the_case(builtin_run: Path) -> None:
    import json

    manifest = json.loads((builtin_run / "manifest.json").read_text())
    assert "briefing" in manifest["outputs"]
    assert manifest["stages"]["publish"]["briefing"] == list(_stages.BRIEFING_FIGURES)
    situation = (builtin_run / "briefing" / "1_situation.svg").read_text(encoding="utf-8")
    assert situation.count('id="place-label"') >= 10
    flows = (builtin_run / "briefing" / "3_displacement.svg").read_text(encoding="utf-8")
    # every origin and destination of the flows is named (Jabal al-Zawiya, Ariha, ... Azaz)
    import geopandas as gpd

    arcs = gpd.read_file(builtin_run / "flows.geojson")
    ends = set(arcs["origin_name"]) | set(arcs["destination_name"])
    assert flows.count('id="place-label"') == len(ends)


def test_briefing_is_planned_before_the_run() -> None:
    assert "briefing" in _stages.planned_outputs(load_scenario(None))


def test_corridor_title_follows_the_width(tmp_path: Path) -> None:
    sc = load_scenario(None)
    assert _stages.corridor_title(sc) == "M4 security corridor (6 km each side)"
    sc.config["corridor"]["width"] = "2500m"
    assert _stages.corridor_title(sc) == "M4 security corridor (2.5 km each side)"


def test_a_folder_output_moves_into_place_and_is_replaced_whole(tmp_path: Path, monkeypatch) -> None:
    """The run moves briefing/ from staging like a file; with --overwrite the old folder goes
    (its stale files with it); without, the folder is refused before any stage runs."""
    out = tmp_path / "run"

    def stage(files: list[str]):
        def write(run) -> None:
            folder = run.out("briefing")
            folder.mkdir()
            for name in files:
                (folder / name).write_text(name)
        return write

    monkeypatch.setattr(pipeline, "STAGES", [stage(["a.png", "b.png"])])
    run_scenario(None, outdir=out)
    assert sorted(p.name for p in (out / "briefing").iterdir()) == ["a.png", "b.png"]
    monkeypatch.setattr(pipeline, "STAGES", [stage(["c.png"])])
    with pytest.raises(pipeline.OutputExistsError):
        run_scenario(None, outdir=out)
    run_scenario(None, outdir=out, overwrite=True)
    assert sorted(p.name for p in (out / "briefing").iterdir()) == ["c.png"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")
                and p.name != pipeline.LOCK_NAME]
