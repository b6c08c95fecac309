"""Static maps for slides and print (matplotlib): PNG or SVG, no tiles needed.

Same symbology as the HTML map (:mod:`geoconflict.styles`); drawn in the data's UTM zone so the
scale bar is true; title, legend (beside the map, never over the data), scale bar, north arrow,
sources and an inset locator map (Natural Earth 110m countries, public domain).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

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


def _scale_bar(ax: Any, extent: tuple[float, float, float, float]) -> float:
    x0, y0, x1, y1 = extent
    length = _nice_length(x1 - x0)
    bx, by = x0 + (x1 - x0) * 0.04, y0 + (y1 - y0) * 0.05
    h = (y1 - y0) * 0.008
    ax.add_patch(_rect(bx, by, length / 2, h, "#222222"))
    ax.add_patch(_rect(bx + length / 2, by, length / 2, h, "#ffffff"))
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    for x, t in ((bx, "0"), (bx + length, label)):
        ax.text(x, by + h * 2.2, t, ha="center", va="bottom", fontsize=8,
                bbox={"fc": "white", "ec": "none", "alpha": 0.7, "pad": 0.5})
    return length


def _rect(x: float, y: float, w: float, h: float, fc: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, facecolor=fc, edgecolor="#222222", linewidth=0.6, zorder=50)


def _north_arrow(ax: Any, extent: tuple[float, float, float, float], crs: Any) -> float:
    """Arrow to true north (grid convergence from the CRS); returns its angle from grid north."""
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
                                                     "mutation_scale": 16}, zorder=60)
    ax.text(ax_x + dx * 0.75, ax_y + dy * 0.75, "N", transform=ax.transAxes, ha="center", va="center",
            fontsize=11, fontweight="bold", zorder=60)
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
    import matplotlib
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
    rgba = matplotlib.colormaps[styles.KDE_CMAP](norm)
    rgba[..., 3] = np.where(norm > 0.02, 0.25 + 0.6 * norm, 0.0)
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
) -> Any:
    """A matplotlib Figure of ``layers`` (see the module doc); the caller saves or closes it."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure


    vectors = [(layer, part_name, part, show)
               for layer in ordered(layers) if layer.kind != "kde"
               and isinstance(layer.data, gpd.GeoDataFrame) and layer.data.geometry.name in layer.data
               and not layer.data.geometry.isna().all()
               for part_name, part, show in split_snapshots(layer) if show]
    rasters = [layer for layer in layers if layer.kind == "kde"]
    if not vectors and not rasters:
        raise InputError("no layers to draw", fix="give at least one vector layer or raster")
    for layer, *_ in vectors:
        if layer.data.crs is None:
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

    foot_lines = textwrap.wrap(" · ".join(meta), width=int(figsize[0] * 0.68 * 17.5))[:5]
    bottom = 0.025 + 0.024 * len(foot_lines) * 7.5 / figsize[1]
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
    focus = []
    for layer, name, part, _show in vectors:
        gdf = part.to_crs(crs)
        gdf = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
        if len(gdf) == 0:
            continue
        sym = styles.symbology_for(layer.kind, gdf)
        _plot_vector(ax, gdf, layer.kind, sym)
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
    _scale_bar(ax, extent)
    if crs is not None:
        _north_arrow(ax, extent, crs)
    fig.text(0.015, 0.965, mpl_text(title), fontsize=15, fontweight="bold", va="center")
    if subtitle:
        fig.text(0.015, 0.928, mpl_text(subtitle), fontsize=10.5, va="center", color="#333333")
    fig.text(0.015, bottom - 0.012, mpl_text("\n".join(foot_lines)), fontsize=8, color="#333333", va="top",
             linespacing=1.3)
    # inset locator
    if COUNTRIES.exists() and crs is not None:
        inset = fig.add_axes((0.72, 0.70, 0.26, 0.21))
        world = gpd.read_file(COUNTRIES, engine="pyogrio")
        frame = gpd.GeoSeries.from_xy([extent[0], extent[2]], [extent[1], extent[3]], crs=crs).to_crs(4326)
        fb = frame.total_bounds
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
        inset.set_title("Location", fontsize=8, loc="left")
    if handles:
        rows = sum(1 + str(h.get_label()).count("\n") for h in handles)
        size = 7.5 if rows <= 34 else max(5.0, 7.5 * 34 / rows)
        leg = fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.715, 0.68), frameon=False,
                         fontsize=size, handlelength=1.8, borderaxespad=0, labelspacing=0.3)
        for text, h in zip(leg.get_texts(), handles):
            if getattr(h, "get_facecolor", None) and h.get_label() and _is_title(h):
                text.set_fontweight("bold")
    return fig


def _is_title(handle: Any) -> bool:
    from matplotlib.patches import Patch

    return isinstance(handle, Patch) and handle.get_facecolor()[3] == 0 and handle.get_edgecolor()[3] == 0


def write_png(
    layers: Sequence[Layer],
    path: str | Path,
    *,
    title: str,
    dpi: int = 150,
    svg: bool = False,
    overwrite: bool = False,
    **kw: Any,
) -> Path:
    """Write the static map as PNG (``.png``) or SVG (``.svg``); ``svg=True`` with a ``.png``
    path also writes the SVG beside it. Atomic; refuses to replace files without ``overwrite``."""
    target = Path(path)
    ext = target.suffix.lower()
    if ext not in (".png", ".svg"):
        raise InputError("the static map must be a .png or .svg file", path=target,
                         fix="name it e.g. map.png")
    if dpi < 30 or dpi > 1200:
        raise InputError(f"dpi {dpi} is out of range", fix="use 72-600 (300 for print)")
    fig = make_png(layers, title=title, **kw)
    outputs = [target] + ([target.with_suffix(".svg")] if svg and ext == ".png" else [])
    for out in outputs:
        with atomic_path(out, overwrite=overwrite) as tmp:
            fig.savefig(tmp, format=out.suffix.lstrip(".").lower(), dpi=dpi, facecolor="white",
                        metadata={"Software": "geoconflict"} if out.suffix.lower() == ".png" else None)
    return target
