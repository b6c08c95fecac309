"""Static maps for slides and print (matplotlib): PNG or SVG, no tiles needed.

Same symbology as the HTML map (:mod:`geoconflict.styles`); drawn in the data's UTM zone so the
scale bar is true; title, legend (beside the map, never over the data), scale bar, north arrow,
sources and an inset locator map (Natural Earth 110m countries, public domain).  Place names
(``labels=``) are placed greedily by rank, each at the first of eight positions around its point
where its box, measured by the renderer, overlaps no other label, marker, legend, title, scale bar
or north arrow, and stays inside the map frame.  Layers with ``show=False`` are left out (they are
the ones an HTML map leaves switched off).  Fonts scale with the figure's height, so a 16:9 slide
(``size=(1920, 1080)``) reads like the 11 × 7.5 in default.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import styles
from .crs import metric_crs_for
from .errors import InputError
from .io import atomic_path
from .layers import COUNTRIES, Layer, areas_by, date_range, ordered, split_snapshots

PX_TO_PT = 0.75


def mpl_text(text: object) -> str:
    """Untrusted text for matplotlib: ``$`` would start mathtext, so it is escaped."""
    return str(text).replace("\\", "\\\\").replace("$", r"\$")


def _nice_length(span_m: float) -> float:
    target = span_m / 5
    for v in (100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 25_000, 50_000, 100_000, 200_000,
              250_000, 500_000, 1_000_000, 2_000_000):
        if v >= target:
            return float(v)
    return 5_000_000.0


def _scale_bar(ax: Any, extent: tuple[float, float, float, float], *, scale: float = 1.0) -> float:
    """A black-and-white bar at the bottom left; its labels sit above the bar (offset in points,
    so they never touch it whatever the figure's size) with a white halo."""
    from matplotlib import patheffects

    x0, y0, x1, y1 = extent
    length = _nice_length(x1 - x0)
    bx, by = x0 + (x1 - x0) * 0.04, y0 + (y1 - y0) * 0.05
    h = (y1 - y0) * 0.008
    ax.add_patch(_rect(bx, by, length / 2, h, "#222222"))
    ax.add_patch(_rect(bx + length / 2, by, length / 2, h, "#ffffff"))
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    halo = [patheffects.withStroke(linewidth=3 * scale, foreground="white")]
    for x, t in ((bx, "0"), (bx + length, label)):
        ax.annotate(t, xy=(x, by + h), xytext=(0, 3 * scale), textcoords="offset points", ha="center",
                    va="bottom", fontsize=8.5 * scale, zorder=51, path_effects=halo, gid="scale-bar")
    return length


def _rect(x: float, y: float, w: float, h: float, fc: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, facecolor=fc, edgecolor="#222222", linewidth=0.6, zorder=50)


def _north_arrow(ax: Any, extent: tuple[float, float, float, float], crs: Any, *, scale: float = 1.0) -> float:
    """Arrow to true north (grid convergence from the CRS); returns its angle from grid north."""
    from matplotlib import patheffects
    from pyproj import Transformer

    x0, y0, x1, y1 = extent
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    to_ll = Transformer.from_crs(crs, 4326, always_xy=True)
    to_xy = Transformer.from_crs(4326, crs, always_xy=True)
    lon, lat = to_ll.transform(cx, cy)
    nx, ny = to_xy.transform(lon, min(lat + 0.05, 89.9))
    angle = math.atan2(nx - cx, ny - cy)
    ax_x, ax_y, size = 0.95, 0.86, 0.08
    dx, dy = math.sin(angle) * size, math.cos(angle) * size
    ax.annotate("", xy=(ax_x + dx / 2, ax_y + dy / 2), xytext=(ax_x - dx / 2, ax_y - dy / 2),
                xycoords="axes fraction", arrowprops={"arrowstyle": "-|>", "lw": 2, "color": "#222222",
                                                     "mutation_scale": 16 * scale}, zorder=60)
    ax.text(ax_x + dx * 0.75, ax_y + dy * 0.75, "N", transform=ax.transAxes, ha="center", va="center",
            fontsize=11 * scale, fontweight="bold", zorder=60,
            path_effects=[patheffects.withStroke(linewidth=3 * scale, foreground="white")])
    return math.degrees(angle)


def _plot_vector(ax: Any, gdf: gpd.GeoDataFrame, kind: str, sym: styles.Symbology) -> None:
    geom = styles.geometry_family(gdf.geometry.geom_type.dropna().unique())
    keys = pd.Series(sym.keys, index=gdf.index)
    widths = None
    if kind == "flows" and "individuals" in gdf:
        widths = pd.Series(styles.flow_widths(pd.to_numeric(gdf["individuals"], errors="coerce")),
                           index=gdf.index)
    z = styles.DRAW_ORDER.index(kind) + 2 if kind in styles.DRAW_ORDER else 10
    for key, s in sym.symbols.items():
        part = gdf[keys == key]
        if len(part) == 0:
            continue
        if geom == "point":
            ax.scatter(part.geometry.x, part.geometry.y, s=(s.radius * 2 * PX_TO_PT) ** 2 * 0.6,
                       c=s.fill or "#000000", edgecolors=s.stroke or "none", linewidths=0.5,
                       alpha=s.fill_opacity or 1.0, zorder=z)
        elif geom == "line":
            lw = (widths[part.index].to_numpy() * PX_TO_PT) if widths is not None else s.width * PX_TO_PT
            part.plot(ax=ax, color=s.stroke or "#000000", linewidth=lw, alpha=s.stroke_opacity,
                      linestyle="--" if s.dash else "-", zorder=z)
        else:
            part.plot(ax=ax, facecolor=s.fill if s.fill else "none",
                      alpha=None, edgecolor=s.stroke or "none", linewidth=s.width * PX_TO_PT,
                      linestyle="--" if s.dash else "-", zorder=z)
            if s.fill and s.fill_opacity < 1:  # alpha on the face only, edges stay crisp
                for coll in ax.collections[-1:]:
                    fc = coll.get_facecolor()
                    if len(fc):
                        fc[:, 3] = s.fill_opacity
                        coll.set_facecolor(fc)


def _legend_handles(title: str, sym: styles.Symbology, geom: str, extra: dict[str, str] | None) -> list[Any]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    single = sym.mode == "single" and len(sym.symbols) == 1
    handles: list[Any] = [] if single else [Patch(facecolor="none", edgecolor="none", label=mpl_text(title))]
    for key, s in sym.symbols.items():
        label = _wrap(title if single else sym.labels.get(key, key))
        if extra and key in extra:
            label = f"{label}\n{extra[key]}"
        label = mpl_text(label)
        if geom == "point":
            handles.append(Line2D([], [], marker="o", linestyle="none", markerfacecolor=s.fill,
                                  markeredgecolor=s.stroke or "none", markersize=7, label=label))
        elif geom == "line":
            handles.append(Line2D([], [], color=s.stroke, linewidth=max(1.0, min(s.width, 6)) * PX_TO_PT,
                                  linestyle="--" if s.dash else "-", label=label))
        else:
            fc = (*_rgb(s.fill), s.fill_opacity) if s.fill else "none"
            handles.append(Patch(facecolor=fc, edgecolor=s.stroke or "none", linewidth=0.8,
                                 linestyle="--" if s.dash else "-", label=label))
    return handles


def _wrap(label: str, width: int = 38, lines: int = 2) -> str:
    import textwrap

    parts = textwrap.wrap(label, width) or [""]
    if len(parts) > lines:
        parts = parts[:lines]
        parts[-1] = parts[-1][: width - 1] + "…"
    return "\n".join(parts)


def _rgb(colour: str) -> tuple[float, float, float]:
    c = colour.lstrip("#")
    return int(c[0:2], 16) / 255, int(c[2:4], 16) / 255, int(c[4:6], 16) / 255


def _plot_kde(ax: Any, path: Path, crs: Any) -> tuple[float, float, float, float]:
    import rasterio
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    with rasterio.open(path) as src:
        if src.crs is None:
            raise InputError("raster has no CRS", path=path)
        band = src.read(1, masked=True).astype("float64").filled(np.nan)
        transform, w, h = calculate_default_transform(src.crs, crs, src.width, src.height, *src.bounds)
        out = np.full((h, w), np.nan)
        reproject(band, out, src_transform=src.transform, src_crs=src.crs, dst_transform=transform,
                  dst_crs=crs, resampling=Resampling.bilinear, src_nodata=np.nan, dst_nodata=np.nan)
    vmax = float(np.nanmax(out)) if np.isfinite(out).any() else 0.0
    norm = np.clip(np.nan_to_num(out) / vmax, 0, 1) if vmax > 0 else np.zeros_like(out)
    rgba = styles.kde_rgba(norm)
    x0, y1 = transform @ (0, 0)
    x1, y0 = transform @ (w, h)
    z = styles.DRAW_ORDER.index("kde") + 2  # above zone fills, below everything else (as in the HTML)
    ax.imshow(rgba, extent=(x0, x1, y0, y1), origin="upper", zorder=z, interpolation="nearest")
    return x0, y0, x1, y1


def make_png(
    layers: Sequence[Layer],
    *,
    title: str,
    subtitle: str | None = None,
    sources: Sequence[str] | str | None = None,
    data_as_of: str | None = None,
    figsize: tuple[float, float] = (11.0, 7.5),
    labels: gpd.GeoDataFrame | None = None,
    max_labels: int = 40,
    frame: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
) -> Any:
    """A matplotlib Figure of ``layers`` (see the module doc); the caller saves or closes it.

    ``labels``: points to name on the map (a ``name`` column; optional ``rank``, lower first,
    and ``label_always``); at most ``max_labels`` besides the ``label_always`` ones.  ``frame``:
    geometries the view is fitted to (default: every layer but the admin units)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure


    vectors = [(layer, part_name, part, show)
               for layer in ordered(layers) if layer.kind != "kde"
               and isinstance(layer.data, gpd.GeoDataFrame) and layer.data.geometry.name in layer.data
               and not layer.data.geometry.isna().all()
               for part_name, part, show in split_snapshots(layer) if show and layer.show]
    rasters = [layer for layer in layers if layer.kind == "kde" and layer.show]
    # a layer of named points (a places file read as "areas") is drawn as place names
    named = [i for i, (layer, _n, part, _s) in enumerate(vectors) if layer.kind in ("areas", "places")
             and "name" in part
             and part.crs is not None and (part.geometry.geom_type == "Point").all()]
    if named and any(i not in named for i in range(len(vectors))) or named and rasters:
        places = [vectors[i][2].to_crs(4326) for i in named]
        if labels is not None:
            places.insert(0, labels.to_crs(4326))
        labels = gpd.GeoDataFrame(pd.concat(places, ignore_index=True), crs=4326)
        vectors = [v for i, v in enumerate(vectors) if i not in named]
    if not vectors and not rasters:
        raise InputError("no layers to draw", fix="give at least one vector layer or raster")
    for layer, _name, part, _show in vectors:
        if part.crs is None:
            raise InputError(f"layer {layer.name!r} has no CRS", fix="set one before drawing")
    crs = metric_crs_for(*[v[2] for v in vectors]) if vectors else None
    meta = []
    dr = date_range(layers)
    if dr:
        meta.append(f"Incidents: {dr}")
    if data_as_of:
        meta.append(f"Data as of {data_as_of}")
    if isinstance(sources, str):
        sources = [sources]
    if sources:
        meta.append("Sources: " + "; ".join(map(str, sources)))
    meta.append("Background and inset: Natural Earth")
    import textwrap

    scale = figsize[1] / 7.5  # fonts follow the figure's height
    foot_lines = textwrap.wrap(" · ".join(meta), width=int(figsize[0] * 0.68 * 17.5 / scale))[:5]
    bottom = 0.025 + 0.024 * len(foot_lines)
    map_h = 0.905 - bottom
    fig = Figure(figsize=figsize, dpi=100)
    ax = fig.add_axes((0.015, bottom, 0.68, map_h))
    ax.set_facecolor("#dce6ee")
    extents = []
    handles: list[Any] = []
    for layer in rasters:
        if crs is None:
            import rasterio

            with rasterio.open(layer.data) as src:
                crs = src.crs
        extents.append(_plot_kde(ax, Path(layer.data), crs))
        colours = styles.ramp(styles.KDE_CMAP, 5)
        from matplotlib.patches import Patch

        handles.append(Patch(facecolor="none", edgecolor="none", label=mpl_text(layer.name)))
        handles.append(Patch(facecolor=colours[1], label="lower density"))
        handles.append(Patch(facecolor=colours[-1], label="higher density"))
    focus: list[tuple[float, ...]] = []
    drawn_points: list[gpd.GeoDataFrame] = []  # incidents: the place labels keep clear of them
    for layer, name, part, _show in vectors:
        gdf = part.to_crs(crs)
        gdf = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
        if len(gdf) == 0:
            continue
        sym = styles.symbology_for(layer.kind, gdf)
        _plot_vector(ax, gdf, layer.kind, sym)
        if layer.kind == "incidents" and (gdf.geometry.geom_type == "Point").all():
            drawn_points.append(gdf)
        geom = styles.geometry_family(gdf.geometry.geom_type.unique())
        extra = areas_by(part, sym.attr) if layer.kind == "control" and sym.attr else None
        new = _legend_handles(name, sym, geom, extra)
        if layer.kind == "flows" and "individuals" in gdf:
            from matplotlib.lines import Line2D

            colour = next(iter(sym.symbols.values())).stroke or styles.FLOW_COLOUR
            new += [Line2D([], [], color=colour, linewidth=w * PX_TO_PT, label=f"{v:,.0f} people")
                    for v, w in styles.flow_width_legend(gdf["individuals"])]
        handles[:0] = new  # top layer first
        b = gdf.total_bounds
        (focus if layer.kind != "admin" else extents).append(tuple(b))
    if frame is not None and crs is not None:  # the caller frames the map (e.g. on the fighting)
        focus = [tuple(gpd.GeoSeries([shapely.box(*frame.total_bounds)], crs=frame.crs).to_crs(crs).total_bounds)]
    boxes = np.array(focus or extents, dtype=float)
    x0, y0 = boxes[:, 0].min(), boxes[:, 1].min()
    x1, y1 = boxes[:, 2].max(), boxes[:, 3].max()
    pad = max(x1 - x0, y1 - y0, 2000) * 0.06
    x0, x1, y0, y1 = x0 - pad, x1 + pad, y0 - pad, y1 + pad
    # fill the axes' aspect so the map is not squeezed
    box_w, box_h = 0.68 * figsize[0], map_h * figsize[1]
    want = box_w / box_h
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    if w / h < want:
        w = h * want
    else:
        h = w / want
    extent = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    if COUNTRIES.exists() and crs is not None:
        world = gpd.read_file(COUNTRIES, engine="pyogrio")
        view = gpd.GeoSeries.from_xy([extent[0], extent[2]], [extent[1], extent[3]], crs=crs).to_crs(4326)
        vb = view.total_bounds
        near = world.cx[vb[0] - 5: vb[2] + 5, vb[1] - 5: vb[3] + 5]
        if len(near):
            near.to_crs(crs).plot(ax=ax, facecolor="#f4f1ea", edgecolor="#b7bec4", linewidth=0.6, zorder=0)
    ax.set_xlim(extent[0], extent[2])
    ax.set_ylim(extent[1], extent[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    for sp in ax.spines.values():
        sp.set_edgecolor("#888888")
    _scale_bar(ax, extent, scale=scale)
    if crs is not None:
        _north_arrow(ax, extent, crs, scale=scale)
    fig.text(0.015, 0.965, mpl_text(title), fontsize=15 * scale, fontweight="bold", va="center")
    if subtitle:
        fig.text(0.015, 0.928, mpl_text(subtitle), fontsize=10.5 * scale, va="center", color="#333333")
    fig.text(0.015, bottom - 0.012, mpl_text("\n".join(foot_lines)), fontsize=8 * scale, color="#333333",
             va="top", linespacing=1.3)
    # inset locator
    if COUNTRIES.exists() and crs is not None:
        inset = fig.add_axes((0.72, 0.70, 0.26, 0.21))
        world = gpd.read_file(COUNTRIES, engine="pyogrio")
        view_ll = gpd.GeoSeries.from_xy([extent[0], extent[2]], [extent[1], extent[3]], crs=crs).to_crs(4326)
        fb = view_ll.total_bounds
        span = max(fb[2] - fb[0], fb[3] - fb[1], 1.0) * 5 + 6
        cxl, cyl = (fb[0] + fb[2]) / 2, (fb[1] + fb[3]) / 2
        world.plot(ax=inset, facecolor="#f4f1ea", edgecolor="#9aa5ad", linewidth=0.4)
        from matplotlib.patches import Rectangle

        inset.add_patch(Rectangle((fb[0], fb[1]), fb[2] - fb[0], fb[3] - fb[1], facecolor="none",
                                  edgecolor="#d62728", linewidth=1.5, zorder=5))
        inset.set_xlim(cxl - span / 2, cxl + span / 2)
        inset.set_ylim(cyl - span / 2 / 1.6, cyl + span / 2 / 1.6)
        inset.set_aspect(1 / math.cos(math.radians(cyl)))
        inset.set_facecolor("#dce6ee")
        inset.set_xticks([])
        inset.set_yticks([])
        inset.set_xlabel("")
        inset.set_ylabel("")
        inset.set_title("Location", fontsize=8 * scale, loc="left")
    if handles:
        rows = sum(1 + str(h.get_label()).count("\n") for h in handles)
        size = (7.5 if rows <= 34 else max(5.0, 7.5 * 34 / rows)) * scale
        leg = fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.715, 0.68), frameon=False,
                         fontsize=size, handlelength=1.8, borderaxespad=0, labelspacing=0.3)
        for text, h in zip(leg.get_texts(), handles, strict=False):
            if getattr(h, "get_facecolor", None) and h.get_label() and _is_title(h):
                text.set_fontweight("bold")
    if labels is not None and crs is not None and len(labels):
        points = [np.column_stack([g.geometry.x, g.geometry.y]) for g in drawn_points]
        place_labels(fig, ax, labels.to_crs(crs), max_labels=max_labels, scale=scale,
                     avoid=np.vstack(points) if points else None)
    return fig


LABEL_POSITIONS: tuple[tuple[float, float, str, str], ...] = (
    (1, 0, "left", "center"), (0.75, 0.75, "left", "bottom"), (0.75, -0.75, "left", "top"),
    (-1, 0, "right", "center"), (-0.75, 0.75, "right", "bottom"), (-0.75, -0.75, "right", "top"),
    (0, 1, "center", "bottom"), (0, -1, "center", "top"),
)
"""Candidate label positions around a point: (dx, dy) in units of the offset, and alignment;
tried in this order (right of the point first, as cartographers do)."""


def _label_table(labels: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if "name" not in labels:
        raise InputError("a labels layer needs a name column", fix="name the column with the place names 'name'")
    out = labels[labels.geometry.notna() & ~labels.geometry.is_empty].copy()
    out = out[out.geometry.geom_type == "Point"]
    out["name"] = out["name"].astype(str).str.strip()
    out = out[out["name"] != ""]
    out["rank"] = pd.to_numeric(out["rank"], errors="coerce").fillna(9) if "rank" in out else 9
    out["label_always"] = out["label_always"].fillna(False).astype(bool) if "label_always" in out else False
    out.loc[out["label_always"], "rank"] = out["rank"].clip(upper=0)
    return out.sort_values(["rank", "name"], kind="stable").drop_duplicates("name")


def _obstacles(fig: Any, ax: Any, renderer: Any) -> list[Any]:
    """Boxes (display pixels) no label may overlap: every figure text (title, subtitle, sources),
    legends, other axes (the inset), and the scale bar, north arrow and other texts in the map."""
    boxes = [t.get_window_extent(renderer) for t in fig.texts if t.get_text()]
    boxes += [leg.get_window_extent(renderer) for leg in fig.legends]
    boxes += [other.get_window_extent(renderer) for other in fig.axes if other is not ax]
    boxes += [t.get_window_extent(renderer) for t in ax.texts]
    boxes += [p.get_window_extent(renderer) for p in ax.patches if p.get_zorder() >= 50]
    return boxes


def _text_box(text: Any, renderer: Any) -> Any:
    """The box of a label's text alone (an annotation's own box includes its leader line)."""
    from matplotlib.text import Text

    text.update_positions(renderer)
    return Text.get_window_extent(text, renderer)


def place_labels(fig: Any, ax: Any, labels: gpd.GeoDataFrame, *, max_labels: int = 40,
                 scale: float = 1.0, avoid: np.ndarray | None = None) -> list[Any]:
    """Name places on ``ax`` (``labels`` in the axes' CRS) without overlaps; see the module doc.

    Returns the placed label artists (``gid="place-label"``); a place none of whose positions
    is free is left unnamed (its marker too), unless nothing else can be done for a
    ``label_always`` one: those go first, so they are the last to find no room.  ``avoid``:
    data points (x, y in the axes' CRS, e.g. incidents) the other labels keep clear of."""
    from matplotlib import patheffects
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.transforms import Bbox

    table = _label_table(labels)
    if fig.canvas is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer).padded(-4 * scale)
    taken = _obstacles(fig, ax, renderer)
    pad = 2.0 * scale
    xy = ax.transData.transform(np.column_stack([table.geometry.x, table.geometry.y]))
    halo = [patheffects.withStroke(linewidth=2.6 * scale, foreground="white")]
    marker_r = 3.2 * scale * fig.dpi / 72
    data_px = ax.transData.transform(np.asarray(avoid, dtype=float).reshape(-1, 2)) if avoid is not None \
        else np.empty((0, 2))

    def covers_data(box: Any) -> bool:
        r = marker_r * 1.5
        return bool(((data_px[:, 0] > box.x0 - r) & (data_px[:, 0] < box.x1 + r)
                     & (data_px[:, 1] > box.y0 - r) & (data_px[:, 1] < box.y1 + r)).any())

    inside = np.array([frame.contains(px, py) for px, py in xy], dtype=bool)

    def marker_box(px: float, py: float) -> Any:
        return Bbox.from_extents(px - marker_r, py - marker_r, px + marker_r, py + marker_r)

    # the markers of the places always named are reserved first: no other label covers them
    rows = list(table.itertuples())
    always = [i for i, row in enumerate(rows) if row.label_always and inside[i]]
    reserved = {i: marker_box(*xy[i]) for i in always}
    taken += list(reserved.values())
    leader = {"arrowstyle": "-", "lw": 0.7 * scale, "color": "#333333", "shrinkA": 1, "shrinkB": 3}

    def leader_clear(start: np.ndarray, box: Any, others: list[Any]) -> bool:
        """The leader from the point to the label's nearest side crosses no other box."""
        end = np.array([min(max(start[0], box.x0), box.x1), min(max(start[1], box.y0), box.y1)])
        pts = start + np.linspace(0.15, 1.0, 12)[:, None] * (end - start)
        return not any(((pts[:, 0] > b.x0) & (pts[:, 0] < b.x1) & (pts[:, 1] > b.y0) & (pts[:, 1] < b.y1)).any()
                       for b in others)

    def fit(i: int, taken: list[Any]) -> Any:
        """The first free position of place ``i``'s label (an artist on ``ax``), or None."""
        row = rows[i]
        major = row.rank <= 1
        own = reserved.get(i)
        # the places always named may move further out (with a leader line), shrink a little, and
        # at last cover data points, before giving up
        tries = [(1.0, 1.0, True)]
        if row.label_always:
            tries = [(d, f, avoid_data) for avoid_data in (True, False) for f in (1.0, 0.85)
                     for d in (1.0, 2.2, 3.4, 5.0)]
        for dist, shrink, avoid_data in tries:
            size = (9.5 if major else 8.0) * scale * shrink
            offset = 5.5 * scale * dist
            for dx, dy, ha, va in LABEL_POSITIONS:
                text = ax.annotate(mpl_text(row.name), xy=(row.geometry.x, row.geometry.y),
                                   xytext=(dx * offset, dy * offset), textcoords="offset points", ha=ha, va=va,
                                   fontsize=size, fontweight="bold" if major else "normal", color="#1a1a1a",
                                   path_effects=halo, zorder=71, gid="place-label", annotation_clip=False,
                                   arrowprops=leader if dist > 1 else None)
                box = _text_box(text, renderer).padded(pad)
                if frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1) \
                        and not any(box.overlaps(b) for b in taken if b is not own) \
                        and not (avoid_data and covers_data(box)) \
                        and (dist == 1 or leader_clear(xy[i], box, [b for b in taken if b is not own])):
                    return text
                text.remove()
        return None

    # the places always named: greedy, and if some find no room, again with those first (a few
    # times; the attempt that names the most is kept)
    best: tuple[dict[int, Any], list[int], list[Any]] | None = None
    order = list(always)
    for _attempt in range(4):
        trial_taken = list(taken)
        texts: dict[int, Any] = {}
        failed: list[int] = []
        for i in order:
            text = fit(i, trial_taken)
            if text is None:
                failed.append(i)
                continue
            texts[i] = text
            trial_taken.append(_text_box(text, renderer).padded(pad))
        if best is None or len(failed) < len(best[1]):
            if best is not None:
                for t in best[0].values():
                    t.remove()
            best = (texts, failed, trial_taken)
        else:
            for t in texts.values():
                t.remove()
        if not best[1]:
            break
        order = failed + [i for i in order if i not in failed]
    chosen: dict[int, Any] = dict(best[0]) if best else {}
    taken = best[2] if best else taken
    optional = 0
    for i, ((px, py), row) in enumerate(zip(xy, rows, strict=False)):
        if not inside[i] or row.label_always:
            continue
        if optional >= max_labels:
            break
        marker = marker_box(px, py)
        if any(marker.overlaps(b) for b in taken) or covers_data(marker):
            continue
        text = fit(i, taken + [marker])
        if text is None:
            continue
        chosen[i] = text
        taken += [_text_box(text, renderer).padded(pad), marker]
        optional += 1
    placed: list[Any] = []
    for i in sorted(chosen):  # in rank order
        row = rows[i]
        ax.plot([row.geometry.x], [row.geometry.y], marker="o", markersize=4.2 * scale, color="#1a1a1a",
                markeredgecolor="white", markeredgewidth=0.9 * scale, zorder=70, gid="place-marker")
        placed.append(chosen[i])
    return placed


def _is_title(handle: Any) -> bool:
    from matplotlib.patches import Patch

    if not isinstance(handle, Patch):
        return False
    face, edge = tuple(handle.get_facecolor()), tuple(handle.get_edgecolor())
    return len(face) == 4 and len(edge) == 4 and face[3] == 0 and edge[3] == 0


def write_png(
    layers: Sequence[Layer],
    path: str | Path,
    *,
    title: str,
    dpi: int = 150,
    svg: bool = False,
    overwrite: bool = False,
    size: tuple[int, int] | None = None,
    **kw: Any,
) -> Path:
    """Write the static map as PNG (``.png``) or SVG (``.svg``); ``svg=True`` with a ``.png``
    path also writes the SVG beside it. ``size=(width, height)`` in pixels (e.g. 1920 × 1080
    for a 16:9 slide) sets the figure to exactly that at ``dpi``. Atomic; refuses to replace
    files without ``overwrite``."""
    target = Path(path)
    ext = target.suffix.lower()
    if ext not in (".png", ".svg"):
        raise InputError("the static map must be a .png or .svg file", path=target,
                         fix="name it e.g. map.png")
    if dpi < 30 or dpi > 1200:
        raise InputError(f"dpi {dpi} is out of range", fix="use 72-600 (300 for print)")
    if size is not None:
        width, height = size
        if not (100 <= width <= 20_000 and 100 <= height <= 20_000):
            raise InputError(f"size {width}x{height} is out of range", fix="give e.g. 1920x1080 (pixels)")
        # a hair over, so width / dpi * dpi never rounds down a pixel
        kw["figsize"] = ((width + 1e-6) / dpi, (height + 1e-6) / dpi)
    fig = make_png(layers, title=title, **kw)
    outputs = [target] + ([target.with_suffix(".svg")] if svg and ext == ".png" else [])
    import matplotlib

    for out in outputs:
        is_png = out.suffix.lower() == ".png"
        # same inputs, same bytes: no date in an SVG's metadata, its element ids from a fixed salt
        with atomic_path(out, overwrite=overwrite) as tmp, matplotlib.rc_context({"svg.hashsalt": "geoconflict"}):
            fig.savefig(tmp, format=out.suffix.lstrip(".").lower(), dpi=dpi, facecolor="white",
                        metadata={"Software": "geoconflict"} if is_png else {"Date": None, "Creator": "geoconflict"})
    return target
