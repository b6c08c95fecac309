"""The layers model shared by every publisher (HTML map, PNG, GeoPackage): :class:`Layer`,
loading files into layers with their kind detected, the drawing order, control snapshots,
the date range of incidents and area per class.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from . import styles
from ._geometry import check_coordinates
from ._readers import check_text_lines
from .crs import equal_area_crs_for
from .errors import InputError
from .io import read_layer, require_file

#: Natural Earth country outlines (offline background of the HTML map, PNG inset)
COUNTRIES = Path(__file__).resolve().parent / "data" / "countries_ne110m.geojson"


@dataclass
class Layer:
    """A layer to publish: a display name, a kind (see :data:`geoconflict.styles.KINDS`) and
    its data (a GeoDataFrame, or a GeoTIFF path for ``kde``)."""

    name: str
    kind: str
    data: pd.DataFrame | Path
    #: switched on when the map opens (off: listed in the layer control, drawn when ticked)
    show: bool = True
    #: the file it was read from (named where a map leaves fields out), if any
    source: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in styles.KINDS:
            raise InputError(
                f"unknown layer kind {self.kind!r} for layer {self.name!r}",
                fix=f"use one of {', '.join(styles.KINDS)}",
            )


def _incidents_frame(path: Path) -> gpd.GeoDataFrame:
    try:
        from .incidents import read_incidents
    except ImportError:  # pragma: no cover - module of another stage missing in this build
        raise InputError("incident CSVs need geoconflict.incidents, absent in this build", path=path) from None
    result = read_incidents(path)
    for attr in ("incidents", "accepted", "table", "gdf"):
        gdf = getattr(result, attr, None)
        if isinstance(gdf, gpd.GeoDataFrame):
            return gdf
    if isinstance(result, gpd.GeoDataFrame):
        return result
    if isinstance(result, tuple) and result and isinstance(result[0], gpd.GeoDataFrame):
        return result[0]
    raise InputError("read_incidents gave no incident table", path=path)  # pragma: no cover


def _kind_of(gdf: gpd.GeoDataFrame, name: str, path: Path | None = None) -> str:
    geom_types = gdf.geometry.geom_type.dropna().unique() if gdf.geometry.name in gdf else ()
    try:
        return styles.detect_kind(gdf.columns, geom_types=geom_types, name=name)
    except ValueError:
        raise InputError(
            "cannot tell what kind of layer this is from its columns "
            f"({', '.join(map(str, gdf.columns[:12]))})",
            path=path, fix="name its kind, e.g. --kind NAME=admin (or Layer(name, kind, data))",
        ) from None


def load_layers(paths: Iterable[str | Path], *, kinds: Mapping[str, str] | None = None) -> list[Layer]:
    """Read files into :class:`Layer` objects, detecting each one's kind from its columns.

    Incident CSVs go through :func:`geoconflict.incidents.read_incidents`, GeoTIFFs become ``kde``
    layers, every layer of a GeoPackage is read. ``kinds`` maps a layer name (file stem or
    GeoPackage layer name) to a kind, overriding detection.
    """
    kinds = dict(kinds or {})
    out: list[Layer] = []
    for raw in paths:
        path = require_file(raw, "layer")
        ext = path.suffix.lower()
        stem = path.name[: -len(path.suffix)] if path.suffix else path.name
        if ext in (".tif", ".tiff"):
            out.append(Layer(stem, kinds.get(stem, "kde"), path, source=path.name))
            continue
        if ext == ".csv":
            check_text_lines(path, what="layer")  # a file with no line breaks is refused unread
            try:
                header = set(pd.read_csv(path, nrows=0).columns)
            except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
                raise InputError(f"cannot read as a CSV table: {str(exc).splitlines()[0][:200]}", path=path,
                                 fix="give a UTF-8 CSV with a header row, or a vector layer") from None
            if kinds.get(stem, "zones_summary" if {"controller", "area_km2"} <= header else "") == "zones_summary":
                out.append(Layer(stem, "zones_summary", pd.read_csv(path), source=path.name))  # labels the control legend
                continue
            gdf = _incidents_frame(path)
            out.append(Layer(stem, kinds.get(stem, "incidents"), gdf, source=path.name))
            continue
        names: list[str | None] = [None]
        if ext == ".gpkg":
            import pyogrio

            try:
                listed = pyogrio.list_layers(path)
            except Exception as exc:  # pyogrio raises DataSourceError and others
                raise InputError(f"cannot open as GeoPackage: {str(exc).splitlines()[0][:200]}", path=path,
                                 fix="check the file is a GeoPackage (.gpkg) and not damaged") from None
            names = []
            for lname, gtype in listed:
                if gtype is None:  # an attribute table: only an area-by-controller summary is drawn
                    table = pyogrio.read_dataframe(path, layer=str(lname), read_geometry=False)
                    kind = kinds.get(str(lname)) or ("zones_summary" if "area_km2" in table.columns else None)
                    if kind is not None:
                        out.append(Layer(str(lname), kind, table, source=path.name))
                    continue  # e.g. layer_styles has nothing to draw
                names.append(str(lname))
        for lname in names:
            gdf = read_layer(path, layer=lname, what="layer")
            check_coordinates(gdf.geometry.to_numpy(), gdf.crs, what="layer", path=str(path))
            name = lname or stem
            kind = kinds.get(name) or _kind_of(gdf, name, path)
            if kind == "control" and ({"valid_from", "valid_to", "date"} & set(gdf.columns)):
                from .control import read_control

                # dated snapshots: parsed (and refused, naming the feature) as every command does
                gdf = read_control(path, layer=lname, validate=False)
            out.append(Layer(name, kind, gdf, source=path.name if lname is None else f"{path.name}, layer {lname}"))
    for name in kinds:
        if not any(layer.name == name for layer in out):
            raise InputError(f"--kind names a layer {name!r} that was not read",
                             fix=f"layers read: {', '.join(layer.name for layer in out)}")
    return out


def areas_by(gdf: gpd.GeoDataFrame, column: str) -> dict[str, str]:
    """'1,234 km², 45%' per class, measured in an equal-area CRS."""
    if len(gdf) == 0:
        return {}
    ea = gdf.geometry.to_crs(equal_area_crs_for(gdf))
    km2 = pd.Series(ea.area.to_numpy() / 1e6, index=gdf.index)
    keys = pd.Series(styles.text_values(gdf[column]), index=gdf.index)
    total = km2.groupby(keys).sum()
    share = total / total.sum() * 100 if total.sum() > 0 else total * 0
    return {k: f"{total[k]:,.0f} km², {share[k]:.0f}%" for k in total.index}


def date_range(layers: Sequence[Layer]) -> str | None:
    dates = [pd.to_datetime(layer.data["date"]) for layer in layers
             if layer.kind == "incidents" and isinstance(layer.data, pd.DataFrame) and "date" in layer.data]
    dates = [d.dropna() for d in dates if d.notna().any()]
    if not dates:
        return None
    start = min(d.min() for d in dates)
    end = max(d.max() for d in dates)
    return f"{start:%d %b %Y}" + ("" if start.normalize() == end.normalize() else f" – {end:%d %b %Y}")


def ordered(layers: Sequence[Layer]) -> list[Layer]:
    rank = {k: i for i, k in enumerate(styles.DRAW_ORDER)}
    return sorted(layers, key=lambda layer: rank.get(layer.kind, len(rank)))


def split_snapshots(layer: Layer) -> list[tuple[str, gpd.GeoDataFrame, bool]]:
    """A dated control or front-line layer becomes one map layer per snapshot; only the latest
    is shown (the HTML map's day slider shows the one in force)."""
    gdf = layer.data
    assert isinstance(gdf, gpd.GeoDataFrame)
    if (layer.kind not in ("control", "front_line") or "valid_from" not in gdf
            or gdf["valid_from"].nunique(dropna=False) <= 1):
        return [(layer.name, gdf, True)]
    starts = pd.to_datetime(gdf["valid_from"])
    order = sorted(starts.dropna().unique())
    out = []
    for i, start in enumerate(order):
        part = gdf[starts == start]
        out.append((f"{layer.name} from {pd.Timestamp(start):%Y-%m-%d}", part, i == len(order) - 1))
    if starts.isna().any():
        out.insert(0, (f"{layer.name} (undated)", gdf[starts.isna()], False))
    return out
