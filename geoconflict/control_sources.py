"""Control data as analysts receive it: where the files are, what date each carries, who holds
the ground a single-actor layer does not name.

* :func:`expand_sources`: one file, several files, a folder (every vector file in it) or a glob
  pattern (``archive/*.geojson``), expanded in name order (``read_control`` then orders the
  snapshots by date).
* :func:`name_date`: the date in a file name, in any of the forms ``YYYY-MM-DD``, ``YYYYMMDD``
  or ``YYYY_MM_DD`` anywhere in the stem (``occupied_20240801.geojson``).
* :class:`ControlSource`: the files plus the options of a single-actor archive (``controller``:
  who holds features that name no one; ``extent`` and ``remainder``: the part of the extent no
  one holds is held by ``remainder`` on every date).  The command line builds one; everything
  that reads control (:func:`geoconflict.control.read_control`) accepts it.
* :func:`apply_extent`: the remainder features, and the pieces of a layer outside the extent
  (kept, and reported in km²).
* :func:`merge_identical_snapshots`: consecutive snapshots with the same zones become one.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import InputError, LayerError

log = logging.getLogger(__name__)

__all__ = [
    "ControlSource",
    "VECTOR_SUFFIXES",
    "expand_sources",
    "name_date",
    "read_extent",
    "apply_extent",
    "merge_identical_snapshots",
]

#: the file suffixes a folder of control files is searched for
VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".parquet", ".geoparquet", ".fgb",
                   ".topojson", ".kml", ".gml")
#: a date in a file stem: YYYY-MM-DD, YYYYMMDD or YYYY_MM_DD (one separator throughout), not
#: part of a longer run of digits
_NAME_DATE = re.compile(r"(?<!\d)(\d{4})([-_]?)(\d{2})\2(\d{2})(?!\d)")
_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class ControlSource:
    """Control files and how to read them (the command line's ``--control`` and its options).

    ``paths``: files, folders or glob patterns; ``controller``: the holder of features with no
    controller column or an empty value; ``extent``: a study-area polygon layer (any CRS);
    ``remainder``: the holder of the part of the extent no controller holds on each date (needs
    ``extent``); ``layer``: the layer of a multi-layer GeoPackage.
    """

    paths: tuple[str | Path, ...]
    controller: str | None = None
    extent: str | Path | gpd.GeoDataFrame | None = None
    remainder: str | None = None
    layer: str | int | None = None

    def __post_init__(self) -> None:
        if self.remainder is not None and self.extent is None:
            raise InputError("--remainder needs --extent (the area whose uncovered part it holds)",
                             fix="add --extent FILE (a country or study-area polygon), or drop --remainder")
        for what, value in (("--controller", self.controller), ("--remainder", self.remainder)):
            if value is not None and not str(value).strip():
                raise InputError(f"{what} is empty", fix=f"give {what} a name, e.g. {what} Russia")


def _is_glob(text: str) -> bool:
    return bool(_GLOB_CHARS.search(text))


def expand_sources(sources: str | Path | Sequence[str | Path]) -> list[Path]:
    """Files from files, folders and glob patterns (each folder and pattern in name order).

    Raises :class:`~geoconflict.errors.InputError` for a pattern that matches nothing, a folder
    with no vector file, or a path that does not exist.
    """
    items = [sources] if isinstance(sources, (str, Path)) else list(sources)
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in VECTOR_SUFFIXES)
            if not found:
                raise InputError("the folder holds no control file",
                                 path=str(p), fix=f"put the dated files ({', '.join(VECTOR_SUFFIXES[:4])}, ...) "
                                                  "in it, or name the files")
            out.extend(found)
        elif p.exists():
            out.append(p)
        elif _is_glob(str(item)):
            found = sorted(Path(f) for f in glob.glob(str(item)) if Path(f).is_file())
            if not found:
                raise InputError("the pattern matches no file", path=str(item),
                                 fix="check the folder and the pattern (quote it: --control 'archive/*.geojson')")
            out.extend(found)
        else:
            raise InputError("file or folder not found", path=str(item),
                             fix="check the path (a pattern needs * or ?, quoted)")
    seen: set[Path] = set()
    unique = []
    for f in out:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def name_date(path: str | Path) -> pd.Timestamp | None:
    """The date in a file's stem (``YYYY-MM-DD``, ``YYYYMMDD`` or ``YYYY_MM_DD``), or ``None``
    when it carries none; a date-shaped run that is not a real day (``20241399``) raises
    :class:`~geoconflict.errors.LayerError` naming the file."""
    from ._dates import DAY_RANGE_TEXT, parse_day

    stem = Path(path).stem
    m = _NAME_DATE.search(stem)
    if m is None:
        return None
    try:
        return parse_day(f"{m.group(1)}-{m.group(3)}-{m.group(4)}", what="date in the file name")
    except InputError:
        raise LayerError(
            f"the date {m.group(0)} in the file name is not a day in {DAY_RANGE_TEXT}",
            path=str(path),
            fix="rename the file with its date as YYYY-MM-DD, YYYYMMDD or YYYY_MM_DD, or add a 'date' column",
        ) from None


def read_extent(extent: str | Path | gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The extent polygon layer, checked (CRS, coordinates, repairs) and dissolved to one
    feature; anything but polygons is refused."""
    from ._geometry import POLYGON_TYPES, checked_polygons
    from .io import read_layer

    if isinstance(extent, gpd.GeoDataFrame):
        gdf, path = extent, None
    else:
        path = str(extent)
        gdf = read_layer(extent, what="extent")
    geoms = gdf.geometry.to_numpy()
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not present.any():
        raise LayerError("the extent has no polygon", path=path,
                         fix="give a country or study-area polygon layer as --extent")
    types = shapely.get_type_id(geoms[present])
    if not np.isin(types, POLYGON_TYPES).all():
        i = int(np.flatnonzero(present)[np.flatnonzero(~np.isin(types, POLYGON_TYPES))[0]])
        raise LayerError("the extent is not a polygon layer", path=path, feature=i + 1,
                         fix="give a country or study-area polygon as --extent (not points or lines)")
    gdf = checked_polygons(gdf[present], what="extent", path=path)
    union = shapely.union_all(gdf.geometry.to_numpy())
    return gpd.GeoDataFrame({"name": ["extent"]}, geometry=[union], crs=gdf.crs)


def _state_key(names: np.ndarray, wkb: np.ndarray) -> str:
    """A digest of a snapshot's zones: (controller, geometry) pairs in any order."""
    pairs = sorted(zip(names, wkb, strict=True), key=lambda p: (p[0], b"" if p[1] is None else bytes(p[1])))
    h = hashlib.blake2b(digest_size=16)
    for n, w in pairs:
        h.update(n.encode())
        h.update(b"\0")
        h.update(b"" if w is None else w if isinstance(w, bytes) else bytes(w))  # no geometry: refused later
    return h.hexdigest()


def merge_identical_snapshots(control: gpd.GeoDataFrame, *, date_col: str = "_date"
                              ) -> tuple[gpd.GeoDataFrame, list[pd.Timestamp]]:
    """Drop every dated snapshot identical (same controllers, same geometry) to the one before
    it, so the earlier one stays in force until the next change.  Returns the layer and the
    dates dropped.  Rows without a date are left alone."""
    dates = control[date_col]
    dated = dates.notna().to_numpy()
    if dated.sum() == 0:
        return control, []
    order = np.sort(dates[dated].unique())
    if len(order) < 2:
        return control, []
    rows = np.flatnonzero(dated)
    # every row's geometry and controller once (not a frame per snapshot)
    wkb = shapely.to_wkb(control.geometry.to_numpy()[rows])
    names = control["controller"].astype(str).to_numpy()[rows]
    groups = pd.Series(np.arange(len(rows))).groupby(dates.to_numpy()[rows], sort=True).indices
    prev = None
    dropped: list[pd.Timestamp] = []
    for d in order:
        g = groups[d]
        key = _state_key(names[g], wkb[g])
        if key == prev:
            dropped.append(pd.Timestamp(d))
        prev = key
    if not dropped:
        return control, []
    keep = ~control[date_col].isin(dropped).to_numpy()
    return control[keep], dropped


def apply_extent(control: gpd.GeoDataFrame, extent: gpd.GeoDataFrame, *,
                 remainder: str | None) -> tuple[gpd.GeoDataFrame, list[str]]:
    """The layer with, on every state in time, a ``remainder`` feature for the part of the
    extent no controller holds (when ``remainder`` is given), and the notes on pieces outside
    the extent (kept as they are)."""
    from ._snapshots import snapshot_labels, snapshots
    from .crs import align, equal_area_crs_for

    ext = align(extent, control, "extent")
    ext_geom = shapely.union_all(ext.geometry.to_numpy())
    shapely.prepare(ext_geom)
    ea = equal_area_crs_for(ext)
    notes: list[str] = []
    outside_km2: list[tuple[str, float]] = []
    extra: list[dict[str, Any]] = []
    geom_name = control.geometry.name
    for start, end, state in snapshots(control):
        held = shapely.union_all(state.geometry.to_numpy())
        label = f"{'..' if pd.isna(start) else f'{start:%Y-%m-%d}'}/{'..' if pd.isna(end) else f'{end:%Y-%m-%d}'}"
        if not shapely.covers(ext_geom, held):
            out_part = shapely.difference(held, ext_geom)
            km2 = float(gpd.GeoSeries([out_part], crs=control.crs).to_crs(ea).area.iloc[0]) / 1e6
            if km2 > 1e-3:
                outside_km2.append((label, km2))
        if remainder is not None:
            rest = shapely.difference(ext_geom, held)
            if not shapely.is_empty(rest) and shapely.area(rest) > 0:
                from ._geometry import polygonal

                rest = polygonal(np.array([rest], dtype=object))[0]
                extra.append({"controller": remainder, "valid_from": start, "valid_to": end,
                              "source_feature": 0, "source_path": "(remainder)", geom_name: rest})
    if outside_km2:
        total = max(k for _, k in outside_km2)
        first = outside_km2[0][0]
        notes.append(f"{len(outside_km2)} snapshot(s) hold ground outside the extent (up to "
                     f"{total:,.1f} km², first in {first}): kept as they are")
    if not extra:
        return control, notes
    add = gpd.GeoDataFrame(extra, geometry=geom_name, crs=control.crs)
    add["valid_from"] = pd.to_datetime(add["valid_from"]).astype("datetime64[ns]")
    add["valid_to"] = pd.to_datetime(add["valid_to"]).astype("datetime64[ns]")
    add["snapshot"] = snapshot_labels(add["valid_from"], add["valid_to"])
    out = pd.concat([control, add], ignore_index=True)
    out = gpd.GeoDataFrame(out, geometry=geom_name, crs=control.crs)
    order = np.lexsort((np.arange(len(out)), out["valid_from"].to_numpy("datetime64[ns]").astype(np.int64)))
    return out.iloc[order].reset_index(drop=True), notes
