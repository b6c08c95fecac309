"""The stages of a scenario run, in order.  Each reads ``run.state`` and writes into the staging
folder through geoconflict.io (so formats, precision and atomicity are the same as the commands')."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from . import io
from ._geometry import checked_polygons
from .units import parse_distance_m

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
#: the folder of 16:9 slide figures a run writes (PNG and SVG of each of :data:`BRIEFING_FIGURES`)
BRIEFING = "briefing"
BRIEFING_FIGURES = ("1_situation", "2_strike_density", "3_displacement")
BRIEFING_SIZE = (1920, 1080)


def safe_name(name: str) -> str:
    """A scenario or layer name reduced to a safe file name (no separators, no '..')."""
    cleaned = re.sub(r"\.{2,}", ".", _SAFE_NAME.sub("-", str(name))).strip(".-") or "scenario"
    return cleaned[:80]


@dataclass
class Scenario:
    """A parsed, validated scenario file."""

    path: Path
    name: str
    config: dict[str, dict[str, Any]]

    def get(self, table: str, key: str, default: Any = None) -> Any:
        return self.config.get(table, {}).get(key, default)

    def input(self, key: str) -> Any:
        return self.config.get("inputs", {}).get(key)


class Run:
    """State of one run: the staging folder, stage timings, counts, summary lines."""

    def __init__(self, scenario: Scenario, staging: Path, progress: Callable[[str], None] | None) -> None:
        self.scenario = scenario
        self.staging = staging
        self.stages: dict[str, dict[str, Any]] = {}
        self.summary: list[str] = []
        self.progress = progress or (lambda _msg: None)
        self.state: dict[str, Any] = {}

    def out(self, name: str) -> Path:
        """A path inside the staging folder (names are fixed by the pipeline, never by input)."""
        assert "/" not in name and ".." not in name
        return self.staging / name

    @contextmanager
    def stage(self, name: str) -> Iterator[dict[str, Any]]:
        self.progress(name)
        record: dict[str, Any] = {}
        t0 = time.perf_counter()
        yield record
        record["seconds"] = round(time.perf_counter() - t0, 3)
        self.stages[name] = record


#: files a run writes only for some inputs: the incidents as GeoParquet beside the GeoPackage
#: past :data:`geoconflict.publish.INCIDENTS_IN_GPKG_MAX` rows.  Planned (one already in the folder
#: is refused before any stage runs); with ``overwrite``, one an earlier run left that this run
#: did not write is removed, so that the folder never holds a stale copy beside fresh files
SOMETIMES_WRITTEN = ("layers.incidents.parquet",)


def planned_outputs(sc: Scenario) -> list[str]:
    """The file names a run of ``sc`` writes or may write (:data:`SOMETIMES_WRITTEN`), checked
    against the output folder before any stage runs; :func:`geoconflict.pipeline.run_scenario`
    checks the staged files again."""
    names = ["incidents.geojson", "quarantine.csv", "incidents_joined.geojson", "map.html", "map.png",
             "layers.gpkg", *SOMETIMES_WRITTEN, BRIEFING]
    if sc.get("zones", "date") or sc.input("control"):
        names += ["control_zones.geojson", "zone_summary.csv"]
    if sc.get("zones", "change_from"):
        names += ["zone_change.geojson", "zone_change_summary.csv"]
    if sc.input("corridor_line"):
        names.append(f"corridor_{safe_name(sc.get('corridor', 'name', 'corridor'))}.geojson")
    if sc.get("ceasefire", "start"):
        names += ["ceasefire_incidents.geojson", "ceasefire_daily.csv", "ceasefire_report.md"]
    from .grids import DEFAULT_HEX_SIZE

    names += [f"density_hex{sc.get('grid', 'hex', DEFAULT_HEX_SIZE)}.geojson", "density_priogrid.geojson",
              "density_kde.tif", "density_kde.tif.qml", "hotspots.geojson"]
    if sc.input("displacement"):
        names += ["flows.geojson", "flow_arrows.geojson", "flows.html", "flows.quarantine.csv",
                  "flows.self_flows.csv", "flows.totals.csv"]
    return names


def _paths(value: Any) -> list[Path]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def ingest(run: Run) -> None:
    from .incidents import read_incidents

    sc = run.scenario
    with run.stage("ingest") as rec:
        result = read_incidents(
            sc.input("incidents"), format=sc.input("format") or "auto",
            lon=sc.input("lon"), lat=sc.input("lat"), date=sc.input("date"),
            places=_paths(sc.input("places")) or None,
        )
        io.write_layer(result.incidents, run.out("incidents.geojson"))
        io.write_table(result.quarantine, run.out("quarantine.csv"))
        rep = result.report
        rec.update(rows_read=rep.rows_read, accepted=rep.accepted, flagged=rep.flagged,
                   quarantined=dict(rep.quarantined_by_reason))
        run.summary.append(rep.summary())
    run.state["incidents"] = result.incidents


def join(run: Run) -> None:
    from .control import ControlSource, read_control
    from .join import join_all

    sc = run.scenario
    # checked once for every stage that uses them (join, grids' extent, the maps)
    admin = [checked_polygons(io.read_layer(p, what="admin layer"), what="admin layer", path=str(p))
             for p in _paths(sc.input("admin"))]
    control = read_control(ControlSource(
        paths=tuple(_paths(sc.input("control"))), controller=sc.input("controller"),
        extent=sc.input("control_extent"), remainder=sc.input("remainder"),
    )) if sc.input("control") else None
    front = io.read_layer(sc.input("front_line"), what="front-line layer") if sc.input("front_line") else None
    areas = io.read_layer(sc.input("areas"), what="areas layer") if sc.input("areas") else None
    with run.stage("join") as rec:
        joined, report = join_all(
            run.state["incidents"], admin=admin,
            snap_distance_m=parse_distance_m(sc.get("join", "snap_distance", "2km")),
            admin_fields=sc.get("join", "admin_fields"),
            control=control, front_line=front, areas=areas,
        )
        io.write_layer(joined, run.out("incidents_joined.geojson"))
        rec.update(rows=len(joined), **_counts(joined, ["admin_join", "control_status"]))
    run.state.update(joined=joined, control=control, admin=admin, areas=areas, front_line=front)


def _counts(df: pd.DataFrame, cols: list[str]) -> dict[str, dict[str, int]]:
    return {c: {str(k): int(v) for k, v in df[c].value_counts(dropna=False).sort_index().items()}
            for c in cols if c in df.columns}


def zones(run: Run) -> None:
    from .zones import area_by_controller, control_change

    sc = run.scenario
    control = run.state.get("control")
    if control is None:
        return
    zadmin_path = sc.get("zones", "admin")
    zadmin = io.read_layer(zadmin_path, what="zones admin layer") if zadmin_path else run.state["admin"][0]
    with run.stage("zones") as rec:
        layer, summary = area_by_controller(control, zadmin, date=sc.get("zones", "date"))
        io.write_layer(layer, run.out("control_zones.geojson"))
        io.write_table(summary, run.out("zone_summary.csv"))
        rec.update(features=len(layer))
        if sc.get("zones", "change_from") and sc.get("zones", "change_to"):
            change, change_summary = control_change(
                control, date_from=sc.get("zones", "change_from"), date_to=sc.get("zones", "change_to"),
                admin=zadmin)
            io.write_layer(change, run.out("zone_change.geojson"))
            io.write_table(change_summary, run.out("zone_change_summary.csv"))
            rec.update(change_features=len(change))
    run.state.update(control_zones=layer, zone_change=change if sc.get("zones", "change_from") else None)


def corridor(run: Run) -> None:
    from .corridor import corridor as make_corridor

    sc = run.scenario
    if not sc.input("corridor_line"):
        return
    line = io.read_layer(sc.input("corridor_line"), what="corridor line")
    name = sc.get("corridor", "name", "corridor")
    with run.stage("corridor") as rec:
        width = parse_distance_m(sc.get("corridor", "width", "6km"))
        layer = make_corridor(line, width_m=width, name=name.upper() if len(name) <= 3 else name)
        io.write_layer(layer, run.out(f"corridor_{safe_name(name)}.geojson"))
        rec.update(features=len(layer), width_m=width)
    run.state["corridor"] = layer


def ceasefire(run: Run) -> None:
    from .ceasefire import ceasefire_report

    sc = run.scenario
    if not sc.get("ceasefire", "start"):
        return
    cfg = sc.config.get("ceasefire", {})
    kwargs: dict[str, Any] = {k: cfg[k] for k in ("end", "types", "lull_days", "window_days") if k in cfg}
    with run.stage("ceasefire") as rec:
        zones_layer = run.state.get("corridor")
        result = ceasefire_report(run.state["incidents"], start=cfg["start"], control=run.state.get("control"),
                                  zones=zones_layer, **kwargs)
        io.write_layer(result.incidents, run.out("ceasefire_incidents.geojson"))
        io.write_table(result.daily, run.out("ceasefire_daily.csv"))
        io.write_text(result.markdown, run.out("ceasefire_report.md"))
        rec.update(strikes=len(result.incidents),
                   **_counts(result.incidents, ["ceasefire_status"]))
    run.state["ceasefire"] = result


def grids(run: Run) -> None:
    from .grids import DEFAULT_HEX_SIZE, count_by_cell
    from .hotspots import hot_spots_of
    from .kde import DEFAULT_BANDWIDTH_M, DEFAULT_KERNEL, DEFAULT_RESOLUTION_M, kde_raster

    sc = run.scenario
    incidents = run.state.get("joined", run.state["incidents"])
    hex_size = sc.get("grid", "hex", DEFAULT_HEX_SIZE)
    include_imprecise = bool(sc.get("grid", "include_imprecise", False))
    with run.stage("grids") as rec:
        hexes = count_by_cell(incidents, cells=f"hex:{hex_size}", include_imprecise=include_imprecise)
        io.write_layer(hexes.cells, run.out(f"density_hex{hex_size}.geojson"), metadata=hexes.metadata)
        prio = count_by_cell(incidents, cells="priogrid", include_imprecise=include_imprecise)
        io.write_layer(prio.cells, run.out("density_priogrid.geojson"), metadata=prio.metadata)
        kde = kde_raster(incidents, run.out("density_kde.tif"),
                         bandwidth_m=parse_distance_m(sc.get("grid", "kde_bandwidth", DEFAULT_BANDWIDTH_M)),
                         resolution_m=parse_distance_m(sc.get("grid", "kde_resolution", DEFAULT_RESOLUTION_M)),
                         kernel=sc.get("grid", "kde_kernel", DEFAULT_KERNEL), include_imprecise=include_imprecise)
        from .publish import write_raster_style

        write_raster_style(run.out("density_kde.tif"))  # density_kde.tif.qml: QGIS opens it styled
        spots, _meta = hot_spots_of(incidents, cells=f"hex:{hex_size}",
                                    extent=run.state["admin"][0] if run.state.get("admin") else None,
                                    include_imprecise=include_imprecise)
        io.write_layer(spots, run.out("hotspots.geojson"))
        rec.update(hex_cells=len(hexes.cells), priogrid_cells=len(prio.cells),
                   counted=int(hexes.cells["count"].sum()), hotspot_cells=len(spots))
        run.summary.extend(hexes.report.lines())
    run.state.update(grid=hexes.cells, hotspots=spots, kde=run.out("density_kde.tif"), kde_result=kde)


def flows(run: Run) -> None:
    from .flows import build_flows, write_flows

    sc = run.scenario
    sources = _paths(sc.input("displacement"))
    if not sources:
        return
    with run.stage("flows") as rec:
        layers = build_flows(sources, places=_paths(sc.input("places")) or None,
                             min_individuals=sc.get("flows", "min_individuals", 0), top=sc.get("flows", "top"))
        write_flows(layers, run.out("flows.geojson"), arrows=run.out("flow_arrows.geojson"))
        rep = layers.table.report
        rec.update(flows=len(layers.arcs), accounting=rep.as_dict())
    run.state.update(flows=layers.arcs, arrows=layers.arrows)


def corridor_title(sc: Scenario) -> str:
    """"M4 security corridor (6 km each side)": the name and the width the scenario sets."""
    name = str(sc.get("corridor", "name", "corridor"))
    width_km = parse_distance_m(sc.get("corridor", "width", "6km")) / 1000
    label = name.upper() if len(name) <= 3 else name
    return f"{label} security corridor ({width_km:g} km each side)"


def scenario_layers(run: Run) -> list[Any]:
    """The run's layers for the map, the PNG and the GeoPackage, bottom to top."""
    from .control import front_lines, snapshot_at
    from .layers import Layer

    st, sc = run.state, run.scenario
    layers: list[Layer] = []
    if st.get("admin"):
        layers.append(Layer("Admin units", "admin", st["admin"][0]))
    when = sc.get("zones", "date")
    if st.get("control") is not None and when:
        layers.append(Layer(f"Control zones on {when}", "control", st["control_zones"]))
        if st.get("zone_change") is not None and len(st["zone_change"]):
            span = f"{sc.get('zones', 'change_from')} to {sc.get('zones', 'change_to')}"
            layers.append(Layer(f"Changed hands, {span}", "change", st["zone_change"], show=False))
        front = front_lines(snapshot_at(st["control"], when))
        if len(front):
            layers.append(Layer(f"Front line on {when}", "front_line", front))
    if st.get("corridor") is not None:
        layers.append(Layer(corridor_title(sc), "corridor", st["corridor"]))
    if st.get("areas") is not None:
        layers.append(Layer("Named areas", "areas", st["areas"]))
    if st.get("kde") is not None and Path(st["kde"]).exists():
        layers.append(Layer("Incident density (KDE)", "kde", Path(st["kde"]), show=False))
    if st.get("grid") is not None:
        from .grids import DEFAULT_HEX_SIZE

        layers.append(Layer(f"Incidents per {sc.get('grid', 'hex', DEFAULT_HEX_SIZE)} hexagon", "grid", st["grid"],
                            show=False))
    if st.get("hotspots") is not None:
        spots = st["hotspots"]
        sig = spots[spots["hotspot"].astype(str) != "not significant"] if "hotspot" in spots else spots
        layers.append(Layer("Hot spots (Gi*, FDR)", "hotspots", sig if len(sig) else spots, show=False))
    if st.get("flows") is not None and len(st["flows"]):
        layers.append(Layer("Displacement flows", "flows", st["flows"]))
        layers.append(Layer("Flow arrows", "arrows", st["arrows"]))
    incidents = st.get("joined", st.get("incidents"))
    if incidents is not None:
        layers.append(Layer("Incidents", "incidents", incidents))
    return layers


def html_layers(run: Run, layers: list[Any]) -> list[Any]:
    """The HTML map's layers: the figures' layers, but control zones and front lines for every
    snapshot (the day slider shows the one in force), and the places named by zoom level."""
    import geopandas as gpd

    from .control import front_lines, snapshots
    from .layers import Layer

    control = run.state.get("control")
    out = list(layers)
    if control is not None and len(control) and control["valid_from"].nunique() > 1:
        out = [ly for ly in out if ly.kind not in ("control", "front_line")]
        out.append(Layer("Control zones", "control", control))
        fronts = [front_lines(part) for _start, _end, part in snapshots(control)]
        fronts = [f for f in fronts if len(f)]
        if fronts:
            out.append(Layer("Front line", "front_line",
                             gpd.GeoDataFrame(pd.concat(fronts, ignore_index=True), crs=fronts[0].crs)))
    labels = _labels(run)
    if labels is not None and len(labels):
        out.append(Layer("Place names", "places", labels))
    return out


def _labels(run: Run) -> Any:
    """The places to name on the figures (``inputs.labels``), or None."""
    path = run.scenario.input("labels")
    return io.read_layer(path, what="labels layer") if path else None


def _flow_ends(flows: Any) -> Any:
    """Origin and destination points of the flow arcs, named, all to be labelled."""
    import geopandas as gpd
    import shapely

    geoms = flows.geometry.to_numpy()
    firsts = shapely.get_point(shapely.get_geometry(geoms, 0), 0)
    lasts = shapely.get_point(shapely.get_geometry(geoms, -1), -1)
    names = list(flows.get("origin_name", flows.get("origin"))) + list(
        flows.get("destination_name", flows.get("destination")))
    ends = gpd.GeoDataFrame({"name": names, "rank": 0, "label_always": True},
                            geometry=list(firsts) + list(lasts), crs=flows.crs)
    return ends.dropna(subset=["name"]).drop_duplicates("name")


def briefing_figures(run: Run, layers: list[Any]) -> list[tuple[str, list[Any], dict[str, Any]]]:
    """The briefing set: (file stem, layers, keywords of :func:`geoconflict.png.write_png`)."""
    from .ceasefire import DEFAULT_TYPES
    from .layers import Layer

    st, sc = run.state, run.scenario
    by_kind = {ly.kind: ly for ly in layers}
    labels = _labels(run)
    when = sc.get("zones", "date") or sc.get("scenario", "data_as_of")
    incidents = st.get("joined", st.get("incidents"))
    figures: list[tuple[str, list[Any], dict[str, Any]]] = []
    day = pd.Timestamp(str(when)) if when else (pd.to_datetime(incidents["date"]).max()
                                                if incidents is not None and len(incidents) else None)
    context = [ly for k, ly in by_kind.items() if k in ("admin",)]
    # 1 situation: zones on the day, front line, corridor, strikes of the last 7 days by type, places
    situation = [by_kind[k] for k in ("admin", "control", "front_line", "corridor") if k in by_kind]
    subtitle = f"Situation on {day:%-d %B %Y}" if day is not None else "Situation"
    if incidents is not None and day is not None and len(incidents):
        types = sc.get("ceasefire", "types") or list(DEFAULT_TYPES)
        dates = pd.to_datetime(incidents["date"]).dt.normalize()
        start = day - pd.Timedelta(days=6)
        is_strike = pd.Series(False, index=incidents.index)
        for col in ("event_type", "sub_event_type"):  # ACLED names strikes in its sub-event types
            if col in incidents:
                is_strike |= incidents[col].isin(types)
        recent = incidents[(dates >= start) & (dates <= day) & is_strike]
        if len(recent):
            situation.append(Layer(f"Strikes, {start:%-d %b} – {day:%-d %b %Y}", "incidents", recent))
            subtitle += f" · strikes of the last 7 days ({start:%-d}–{day:%-d %B %Y}) by type"
    # framed on the corridor and the week's strikes (the inset shows where that is)
    focus = [ly.data for ly in situation if ly.kind in ("corridor", "incidents")]
    frame = pd.concat([f.to_crs(4326)[["geometry"]] for f in focus], ignore_index=True) if focus else None
    figures.append(("1_situation", situation, {"subtitle": subtitle, "labels": labels, "frame": frame}))
    # 2 strike density: KDE with hot spots, the line of contact as the control outline
    density = context + [Layer(ly.name, ly.kind, ly.data) for ly in layers if ly.kind in ("kde", "hotspots")]
    density += [by_kind[k] for k in ("front_line",) if k in by_kind]
    period = None
    if incidents is not None and len(incidents):
        d = pd.to_datetime(incidents["date"])
        period = f"{d.min():%-d %b %Y} – {d.max():%-d %b %Y}"
    if any(ly.kind in ("kde", "hotspots") for ly in density):
        from .kde import DEFAULT_BANDWIDTH_M

        spots = next((ly.data for ly in density if ly.kind == "hotspots"), None)
        bandwidth = sc.get("grid", "kde_bandwidth", f"{DEFAULT_BANDWIDTH_M / 1000:g}km")
        figures.append(("2_strike_density", density,
                        {"subtitle": "Incident density (kernel, " + str(bandwidth)
                                     + " bandwidth) and hot spots (Gi*)" + (f", {period}" if period else ""),
                         "labels": labels, "max_labels": 25,
                         # framed on the hot spots (the density fades out around them)
                         "frame": spots if spots is not None and len(spots) else None}))
    # 3 displacement: flows with arrowheads, origins and destinations named
    flows = st.get("flows")
    if flows is not None and len(flows):
        disp = context + [by_kind[k] for k in ("front_line", "flows", "arrows") if k in by_kind]
        figures.append(("3_displacement", disp,
                        {"subtitle": "Displacement flows: origin to destination, people (OCHA/HNAP, SRCT)",
                         "labels": _flow_ends(flows), "frame": flows}))
    return figures


def publish(run: Run) -> None:
    from .maps import write_map
    from .png import write_png
    from .publish import write_gpkg

    sc = run.scenario
    layers = scenario_layers(run)
    title = sc.get("scenario", "title", sc.name)
    common: dict[str, Any] = dict(sources=sc.get("scenario", "sources"),
                                  data_as_of=sc.get("scenario", "data_as_of"))
    with run.stage("publish") as rec:
        report = write_map(html_layers(run, layers), run.out("map.html"), title=title, tiles=sc.get("map", "tiles"),
                           **common)
        flow_layers = [ly for ly in layers if ly.kind in ("admin", "flows", "arrows")]
        if any(ly.kind == "flows" for ly in flow_layers):
            write_map(flow_layers, run.out("flows.html"), title=f"{title}: displacement flows",
                      time_slider=False, **common)
        # the briefing set: three 16:9 slides; map.png is the first of them (the situation)
        folder = run.out(BRIEFING)
        folder.mkdir()
        dpi = int(sc.get("map", "dpi", 150))
        written = []
        for stem, fig_layers, kw in briefing_figures(run, layers):
            write_png(fig_layers, folder / f"{stem}.png", title=title, dpi=dpi, svg=True, size=BRIEFING_SIZE,
                      **common, **kw)
            written.append(stem)
            if stem == "1_situation":  # map.png is the situation figure (the README's first picture)
                shutil.copyfile(folder / f"{stem}.png", run.out("map.png"))
        write_gpkg(layers, run.out("layers.gpkg"))
        rec.update(layers=[ly.name for ly in layers], html_bytes=run.out("map.html").stat().st_size,
                   briefing=written)
        for msg in getattr(report, "messages", []) or []:
            run.summary.append(f"map: {msg}")


STAGES = [ingest, join, zones, corridor, ceasefire, grids, flows, publish]
