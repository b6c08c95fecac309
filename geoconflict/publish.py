"""``layers.gpkg``: every vector layer of a run in one GeoPackage, each styled for QGIS.

Each layer gets a QML style (:func:`geoconflict.qml.qml_for`, the same colours as the HTML map
and the PNG) in the GeoPackage's ``layer_styles`` table, marked default (``useAsDefault = 1``),
so QGIS opens the layers styled. Rasters (``kde``) are not stored in the GeoPackage: the stage
that made them writes them beside it as a Cloud-Optimised GeoTIFF; :func:`write_raster_style`
puts a ``.qml`` next to such a raster (QGIS loads it as the default style).

Incident layers larger than :data:`INCIDENTS_IN_GPKG_MAX` rows are written as GeoParquet beside
the GeoPackage (``layers.incidents.parquet`` next to ``layers.gpkg``) instead of into it: GDAL
inserts rows into a GeoPackage one by one with its R-tree (about 100,000 rows a second with 45
columns, 27-31 s of CPU for 2.5 million incidents), where GeoParquet takes about 7 s and a tenth
of the space.  Every aggregated layer (grids, zones, lines, flows) stays in the styled GeoPackage.
``incidents_max_rows=None`` (``--incidents-in-gpkg``) keeps every layer in it.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import styles
from .errors import InputError
from .io import FIXED_TIMESTAMP, atomic_path, output_format, output_set, write_layer, write_layers, write_text
from .layers import Layer
from .qml import qml_for, raster_qml

log = logging.getLogger(__name__)

_LAYER_STYLES_SQL = """
CREATE TABLE IF NOT EXISTS layer_styles (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  f_table_catalog TEXT(256),
  f_table_schema TEXT(256),
  f_table_name TEXT(256),
  f_geometry_column TEXT(256),
  styleName TEXT(30),
  styleQML TEXT,
  styleSLD TEXT,
  useAsDefault BOOLEAN,
  description TEXT,
  owner TEXT(30),
  ui TEXT(30),
  update_time DATETIME DEFAULT CURRENT_TIMESTAMP
)
"""


def table_name(name: str, taken: set[str]) -> str:
    """A GeoPackage table name from a display name (letters, digits, ``_``; unique)."""
    base = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_").lower() or "layer"
    if base[0].isdigit() or base.startswith("gpkg"):
        base = "l_" + base
    out, i = base, 2
    while out in taken:
        out, i = f"{base}_{i}", i + 1
    taken.add(out)
    return out


#: incident layers with more rows than this are written as GeoParquet beside the GeoPackage
INCIDENTS_IN_GPKG_MAX = 500_000


def beside_gpkg(layers: Sequence[Layer], path: str | Path, *,
                incidents_max_rows: int | None = INCIDENTS_IN_GPKG_MAX) -> dict[str, Path]:
    """Layer name -> the GeoParquet file :func:`write_gpkg` writes it to instead of the
    GeoPackage (incident layers over ``incidents_max_rows`` rows).  None when no other vector
    layer would be left in the GeoPackage: asked for a GeoPackage of incidents only, one gets it."""
    out: dict[str, Path] = {}
    taken: set[str] = set()
    target = Path(path)
    vectors = [layer for layer in layers if layer.kind != "kde"]
    for layer in vectors:
        name = table_name(layer.name, taken)
        if (layer.kind == "incidents" and incidents_max_rows is not None
                and isinstance(layer.data, pd.DataFrame) and len(layer.data) > incidents_max_rows):
            out[layer.name] = target.with_name(f"{target.stem}.{name}.parquet")
    return out if len(out) < len(vectors) else {}


def write_gpkg(layers: Sequence[Layer], path: str | Path, *, overwrite: bool = False,
               incidents_max_rows: int | None = INCIDENTS_IN_GPKG_MAX) -> Path:
    """Write every vector layer into one GeoPackage with a default QGIS style per layer.

    Table names are the layer names made safe (``Control zones`` → ``control_zones``); the
    original name is the style's description. ``kde`` rasters are skipped (see the module doc).
    Incident layers over ``incidents_max_rows`` rows go to GeoParquet beside it
    (:func:`beside_gpkg` names the files; logged); ``None`` keeps every layer in the GeoPackage.
    The GeoPackage and those files are written all or none.
    """
    output_format(path, (".gpkg",))
    parquet = beside_gpkg(layers, path, incidents_max_rows=incidents_max_rows)
    frames: dict[str, gpd.GeoDataFrame] = {}
    qmls: dict[str, tuple[str, str, str]] = {}
    taken: set[str] = set()
    for layer in layers:
        if layer.kind == "kde":
            continue
        gdf = layer.data
        if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf:
            if isinstance(gdf, pd.DataFrame):  # an attribute table (e.g. area by controller)
                gdf = gpd.GeoDataFrame(gdf, geometry=gpd.GeoSeries([None] * len(gdf), index=gdf.index), crs=4326)
            else:
                raise InputError(f"layer {layer.name!r} is not a table or vector layer")
        if gdf.crs is None:
            raise InputError(f"layer {layer.name!r} has no CRS", fix="set one before publishing")
        name = table_name(layer.name, taken)
        if layer.name in parquet:
            continue
        out = gdf.copy(deep=False)  # copy-on-write: the caller's frame is never changed
        if out.geometry.name != "geometry":
            out = out.rename_geometry("geometry")
        # flows/arrows/change carry their own columns; the symbology reads the frame as written
        sym = styles.symbology_for(layer.kind, _style_rows(layer.kind, out))
        geom = styles.geometry_family(_geometry_types(out))
        frames[name] = out
        qmls[name] = (qml_for(sym, geom, columns=list(out.columns)), layer.name, layer.kind)
    if not frames:
        raise InputError("no vector layers to write", path=path)
    target = Path(path)
    with output_set([target, *parquet.values()], overwrite=overwrite):
        for layer in layers:
            if layer.name in parquet and isinstance(layer.data, pd.DataFrame):
                log.warning("layer %r (%s rows) written to %s, not into the GeoPackage (over %s rows; "
                            "keep it in with incidents_max_rows=None, --incidents-in-gpkg)", layer.name,
                            f"{len(layer.data):,}", parquet[layer.name], f"{incidents_max_rows:,}")
                write_layer(layer.data, parquet[layer.name], overwrite=overwrite)
        with atomic_path(target, overwrite=overwrite) as tmp:
            write_layers(frames, tmp, overwrite=True)
            _add_styles(tmp, qmls)
    return target


#: kinds whose style is one class per distinct value of these columns: how often a value occurs
#: does not change the QML, so the classes are computed on one row per distinct value
_CATEGORIZED_BY: dict[str, tuple[str, ...]] = {
    "incidents": ("sub_event_type", "event_type"),
    "control": ("controller",),
    "change": ("to_controller",),
    "zones_summary": ("controller",),
}


def _style_rows(kind: str, gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    """The rows :func:`styles.symbology_for` needs for the QML: all of them, except for
    categorized kinds, where one row per distinct class value gives the same classes (for 2.5M
    incidents, classifying every row took seconds)."""
    columns = [c for c in _CATEGORIZED_BY.get(kind, ()) if c in gdf.columns]
    if not columns:
        return gdf
    return pd.DataFrame(gdf[columns]).drop_duplicates()


def _geometry_types(gdf: gpd.GeoDataFrame) -> list[str]:
    """The distinct geometry type names of a layer (its QGIS symbol family)."""
    ids = shapely.get_type_id(np.asarray(gdf.geometry.values, dtype=object))
    present = np.flatnonzero(np.bincount(ids + 1, minlength=len(_GEOMETRY_NAMES) + 1)[1:])
    return [_GEOMETRY_NAMES[int(i)] for i in present]


_GEOMETRY_NAMES = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
                   5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}


def _add_styles(path: Path, qmls: dict[str, tuple[str, str, str]]) -> None:
    con = sqlite3.connect(path)
    try:
        with con:
            con.execute(_LAYER_STYLES_SQL)
            geom_cols = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
            for table, (qml, display, kind) in qmls.items():
                con.execute(
                    "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                    "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
                    "owner, ui, update_time) VALUES ('', '', ?, ?, ?, ?, '', 1, ?, '', NULL, ?)",
                    (table, geom_cols.get(table, "geometry"), table, qml,
                     f"{display} ({kind}); geoconflict symbology", FIXED_TIMESTAMP),
                )
            con.execute(
                "INSERT OR REPLACE INTO gpkg_contents (table_name, data_type, identifier, description, "
                "last_change) VALUES ('layer_styles', 'attributes', 'layer_styles', "
                "'QGIS styles (geoconflict)', ?)", (FIXED_TIMESTAMP,),
            )
    finally:
        con.close()


def write_raster_style(raster: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``<raster>.qml`` beside a density GeoTIFF: the HTML map's colour ramp, 0 transparent."""
    import numpy as np
    import rasterio

    src_path = Path(raster)
    with rasterio.open(src_path) as src:
        band = src.read(1, masked=True)
    vmax = float(np.ma.max(band)) if band.count() else 1.0
    qml = raster_qml(0.0, vmax if vmax > 0 else 1.0)
    return write_text(qml, src_path.with_suffix(".qml"), overwrite=overwrite)
