"""One call (build_flows: read, resolve, aggregate, draw) and the writers: the flow layer with its
side files (quarantine, self-flows, totals), arrowheads and the HTML map, all or none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from ..errors import InputError
from .aggregate import FlowTable, aggregate_flows
from .arcs import arrowheads, flow_arcs, width_scale
from .places import resolve_places
from .read import (
    FlowRecords,
    read_flows,
)
from .report import format_count

# ============================================================================================
# HTML (through geoconflict.maps: offline, escaped)
# ============================================================================================

def flows_html(arcs: gpd.GeoDataFrame, arrows: gpd.GeoDataFrame | None, path: str | Path, *,
               scale: Mapping[str, Any] | None = None, title: str = "Displacement flows",
               overwrite: bool = False) -> Path:
    """An offline HTML map of the flows via :func:`geoconflict.maps.write_map`: widths scaled to
    volume (the same scale as :func:`width_scale`), arrowheads, largest flows drawn last (on
    top), tooltips with the numbers; untrusted names are escaped by the map builder.  The width
    scale's legend values go into the subtitle."""
    from ..layers import Layer
    from ..maps import write_map

    sc = dict(scale) if scale is not None else width_scale(arcs["individuals"] if len(arcs) else [])
    order = arcs.sort_values("individuals", kind="stable").reset_index(drop=True)
    layers = [Layer("Displacement flows", "flows", order)]
    if arrows is not None and len(arrows):
        layers.append(Layer("Flow arrows", "arrows",
                            arrows.sort_values("individuals", kind="stable").reset_index(drop=True)))
    legend = ", ".join(f"{format_count(e['value'])} people = {e['width']:.1f} px" for e in sc.get("legend", []))
    subtitle = f"Line width: {legend}" if legend else "No flows to draw"
    report = write_map(layers, path, overwrite=overwrite, title=title, subtitle=subtitle)
    return report.path


# ============================================================================================
# one call: files in, layers out (used by the CLI and the pipeline)
# ============================================================================================

@dataclass
class FlowLayers:
    """Everything :func:`build_flows` makes: arcs, arrowheads, the flow table, the quarantine,
    the width scale and the metadata for the outputs."""

    arcs: gpd.GeoDataFrame
    arrows: gpd.GeoDataFrame
    table: FlowTable
    quarantine: pd.DataFrame
    scale: dict[str, Any]
    metadata: dict[str, Any]


def build_flows(
    inputs: str | Path | FlowRecords | Sequence[str | Path | FlowRecords],
    *,
    admin: Any = None,
    places: Any = None,
    period: str | None = None,
    level: int | None = None,
    min_individuals: float = 0,
    top: int | None = None,
    net: bool = False,
    bend: float = 0.2,
    read_options: Mapping[str, Any] | None = None,
) -> FlowLayers:
    """Read (each input with ``read_options``), resolve, aggregate and draw in one call."""
    # one input, or a sequence of them (any sequence, not only a list or a tuple)
    items = [inputs] if isinstance(inputs, (str, Path, FlowRecords)) else list(inputs)
    recs = [i if isinstance(i, FlowRecords) else read_flows(i, **dict(read_options or {})) for i in items]
    resolved, quarantine = resolve_places(recs if len(recs) > 1 else recs[0], admin=admin, places=places)
    table = aggregate_flows(resolved, period=period, level=level, min_individuals=min_individuals,
                            top=top, net=net)
    scale = width_scale(table.flows["individuals"])
    arcs = flow_arcs(table, bend=bend, scale=scale)
    arrows = arrowheads(arcs)
    metadata = {
        "layer": "displacement flows (curved arcs, origin -> destination, bending right of travel)",
        "width_scale": scale,
        "accounting": table.report.as_dict(),
        "inputs": [r.as_dict() for r in resolved.reports],
        "period": period, "level": level, "net": net, "min_individuals": min_individuals,
        "top": top, "bend": bend, "construction_crs": arcs.attrs.get("metric_crs"),
        "note": "HNAP-style counts are movements, not unique persons",
    }
    return FlowLayers(arcs=arcs, arrows=arrows, table=table, quarantine=quarantine, scale=scale,
                      metadata=metadata)


def flow_outputs(output: str | Path) -> dict[str, Path]:
    """The side files written next to ``output``: quarantine, self-flows and totals (CSV)."""
    from ..io import quarantine_path, sibling

    return {"quarantine": quarantine_path(output),
            "self_flows": sibling(output, ".self_flows.csv"),
            "totals": sibling(output, ".totals.csv")}


def check_flow_outputs(output: str | Path, *, arrows: str | Path | None = None,
                       html_path: str | Path | None = None, overwrite: bool = False) -> list[Path]:
    """Every file :func:`write_flows` would write, checked (formats, distinct names, not there
    unless ``overwrite``) before any work is done."""
    from ..io import check_output, output_format

    targets = [Path(output), *flow_outputs(output).values(), *(Path(p) for p in (arrows, html_path) if p)]
    output_format(output)
    if arrows:
        output_format(arrows)
    if html_path and Path(html_path).suffix.lower() not in (".html", ".htm"):
        raise InputError("the HTML map needs an .html file name", path=html_path,
                         fix="e.g. --html flows.html")
    if len({str(p.resolve()) for p in targets}) != len(targets):
        raise InputError("two outputs share one file name", fix="choose distinct --output/--arrows/--html")
    for p in targets:
        check_output(p, overwrite=overwrite)
    return targets


def write_flows(layers: FlowLayers, output: str | Path, *, arrows: str | Path | None = None,
                html_path: str | Path | None = None, overwrite: bool = False) -> list[Path]:
    """Write the arcs (with the width scale and accounting as metadata), the quarantine,
    self-flows and totals next to them, and optionally the arrowheads and an HTML map.
    Every output is checked before anything is written."""
    from ..io import output_set, write_layer, write_quarantine, write_table

    check_flow_outputs(output, arrows=arrows, html_path=html_path, overwrite=overwrite)
    side = flow_outputs(output)
    meta: dict[str, Any] = layers.metadata
    if Path(output).suffix.lower() == ".gpkg":  # GeoPackage metadata values must be strings
        meta = {k: v if isinstance(v, str) else json.dumps(v, default=str) for k, v in meta.items()}
    with output_set(overwrite=overwrite):  # every output or none (io.output_set)
        written = [write_layer(layers.arcs, output, overwrite=overwrite, metadata=meta)]
        written.append(write_quarantine(layers.quarantine, output, overwrite=overwrite))
        written.append(write_table(layers.table.self_flows, side["self_flows"], overwrite=overwrite))
        written.append(write_table(layers.table.totals, side["totals"], overwrite=overwrite))
        if arrows:
            arrow_meta: dict[str, Any] = {"layer": "arrowheads (tip at the destination)",
                                          "width_scale": layers.scale}
            if Path(arrows).suffix.lower() == ".gpkg":
                arrow_meta["width_scale"] = json.dumps(layers.scale)
            written.append(write_layer(layers.arrows, arrows, overwrite=overwrite, metadata=arrow_meta))
        if html_path:
            written.append(flows_html(layers.arcs, layers.arrows, html_path, scale=layers.scale,
                                      overwrite=overwrite))
    return written
