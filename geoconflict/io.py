"""Read and write layers and tables.

Writers are atomic (a temporary file in the destination folder, then a rename) and refuse to
replace an existing output unless ``overwrite=True``.  GeoJSON follows RFC 7946 (WGS84
longitude/latitude, counter-clockwise exterior rings, no ``crs`` member, 6 decimals).
GeoPackages are written with a fixed timestamp so two runs give byte-identical files.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import shapely

from .errors import InputError, LayerError, OutputExistsError

#: extension -> (kind, pyogrio driver)
VECTOR_EXTENSIONS: dict[str, str] = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GPKG",
    ".shp": "ESRI Shapefile",
    ".zip": "ESRI Shapefile",
    ".fgb": "FlatGeobuf",
    ".parquet": "Parquet",
    ".geoparquet": "Parquet",
}
OUTPUT_EXTENSIONS = (".geojson", ".gpkg", ".parquet", ".csv")
COORDINATE_PRECISION = 6
#: a fixed timestamp for GeoPackage metadata, so outputs are byte-identical across runs
FIXED_TIMESTAMP = "2000-01-01T00:00:00Z"


def require_file(path: str | Path, what: str = "input") -> Path:
    """Return ``path`` as a Path, or raise :class:`InputError` if it is missing or empty."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} file not found", path=p, fix="check the path and its spelling")
    if p.is_dir() and p.suffix.lower() != ".gdb":
        raise InputError(f"{what} is a folder, not a file", path=p, fix="name a file")
    if p.is_file() and p.stat().st_size == 0:
        raise InputError(f"{what} file is empty (0 bytes)", path=p, fix="export the data again")
    return p


def output_format(path: str | Path, allowed: tuple[str, ...] = OUTPUT_EXTENSIONS) -> str:
    """The output's extension (lower case), checked against ``allowed``."""
    ext = Path(path).suffix.lower()
    if ext not in allowed:
        raise InputError(
            f"unsupported output extension {ext or '(none)'!r}",
            path=path,
            fix=f"use one of {', '.join(allowed)}",
        )
    return ext


def check_output(path: str | Path, *, overwrite: bool) -> Path:
    """Refuse to replace an existing output without ``overwrite``; create the parent folder."""
    p = Path(path)
    if p.exists() and not overwrite:
        raise OutputExistsError(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


@contextlib.contextmanager
def atomic_path(path: str | Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success."""
    target = check_output(path, overwrite=overwrite)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.unlink()  # writers (GDAL) want to create the file themselves
    try:
        yield tmp_path
        if target.exists() and not overwrite:  # raced by another writer
            raise OutputExistsError(target)
        os.replace(tmp_path, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


GEOMETRY_FAMILIES: dict[str, tuple[str, ...]] = {
    "polygon": ("Polygon", "MultiPolygon"),
    "line": ("LineString", "MultiLineString"),
    "point": ("Point", "MultiPoint"),
}


def _sniff_text(p: Path, n: int = 4096) -> str:
    with open(p, "rb") as fh:
        return fh.read(n).decode("utf-8", errors="replace")


def _check_shapefile_parts(p: Path) -> None:
    """A shapefile needs its .shx and .dbf (and a .prj for its CRS): name what is missing."""
    import zipfile

    if p.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(p) as zf:
                members = [m.lower() for m in zf.namelist()]
        except zipfile.BadZipFile:
            raise InputError("not a zip archive", path=p, fix="re-export it, or unzip it and name the .shp") from None
        shps = [m for m in members if m.endswith(".shp")]
        if not shps:
            raise InputError("the zip holds no shapefile (.shp)", path=p,
                             fix="zip the .shp with its .shx, .dbf and .prj, or name the layer file itself")
        stems = [m[:-4] for m in shps]
        present = {Path(m).suffix for m in members}
        for stem in stems:
            for part in (".shx", ".dbf", ".prj"):
                if stem + part not in members:
                    raise InputError(f"the shapefile {Path(stem).name}.shp in the zip has no {part} part",
                                     path=p, fix=f"add {Path(stem).name}{part} to the zip (export all parts)")
        del present
        return
    for part in (".shx", ".dbf", ".prj"):
        if not any(p.with_suffix(s).exists() for s in (part, part.upper())):
            raise InputError(f"the shapefile has no {part} part ({p.with_suffix(part).name} is missing)",
                             path=p, fix=f"copy {p.with_suffix(part).name} beside it (a shapefile is several files)")


def read_layer(
    path: str | Path,
    *,
    layer: str | int | None = None,
    what: str = "layer",
    geometry: str | None = None,
    allow_empty: bool = True,
) -> gpd.GeoDataFrame:
    """Read a vector layer (GeoJSON, GeoPackage, Shapefile or zipped Shapefile, FlatGeobuf,
    GeoParquet) with clear errors for the usual problems.

    ``geometry`` (``"polygon"``, ``"line"``, ``"point"``) requires that family; ``allow_empty=False``
    refuses a layer without features. Every refusal names the file and the fix.
    """
    import shapely

    p = require_file(path, what)
    ext = p.suffix.lower()
    if ext in (".parquet", ".geoparquet"):
        try:
            gdf = gpd.read_parquet(p)
        except Exception as exc:  # pyarrow raises many types
            raise InputError(
                f"cannot read as GeoParquet: {_short(exc)}", path=p, fix="write it with GeoDataFrame.to_parquet"
            ) from None
        return check_layer(gdf, p, what=what, geometry=geometry, allow_empty=allow_empty)
    if ext in (".geojson", ".json", ".topojson"):
        head = _sniff_text(p)
        if '"Topology"' in head.replace(" ", "") or ext == ".topojson":
            raise InputError("this is TopoJSON, not GeoJSON", path=p,
                             fix="convert it first, e.g. ogr2ogr -f GeoJSON out.geojson in.json")
    if ext in (".csv", ".tsv", ".txt", ".xlsx", ".xls"):
        raise InputError(f"the {what} must be a vector layer, not a table ({ext})", path=p,
                         fix="give a GeoJSON, GeoPackage, Shapefile, FlatGeobuf or GeoParquet file here")
    if ext in (".shp", ".zip"):
        _check_shapefile_parts(p)
    if ext == ".gpkg" and layer is None:
        try:
            layers = pyogrio.list_layers(p)
        except Exception as exc:
            raise InputError(f"cannot open as GeoPackage: {_short(exc)}", path=p,
                             fix="check the file is a GeoPackage (.gpkg) and not damaged") from None
        if len(layers) > 1:
            names = ", ".join(str(n) for n in layers[:, 0])
            raise InputError(
                f"the GeoPackage has {len(layers)} layers ({names})",
                path=p,
                fix="name one with --layer NAME",
            )
    try:
        with warnings.catch_warnings():
            # a GeoJSON property holding text in one feature and a number in another comes back
            # as text: pyogrio says so in a warning; the readers downstream check the values
            warnings.filterwarnings("ignore", message="Could not parse column", category=UserWarning)
            gdf = gpd.read_file(p, layer=layer, engine="pyogrio", on_invalid="raise")
    except pyogrio.errors.DataLayerError as exc:
        raise InputError(f"cannot read layer: {_short(exc)}", path=p,
                         fix="list the layers with ogrinfo and name one with --layer") from None
    except shapely.errors.GEOSException as exc:
        raise InputError(f"invalid geometry: {_short(exc)}", path=p,
                         fix="close every polygon ring (last point = first point) and re-export") from None
    except (pyogrio.errors.DataSourceError, pyogrio.errors.FieldError, ValueError, TypeError) as exc:
        hint = "check the file is a valid GeoJSON/GeoPackage/Shapefile/FlatGeobuf"
        if ext == ".zip":
            hint = "the zip must contain a shapefile (.shp, .shx, .dbf and .prj)"
        if ext in (".geojson", ".json"):
            hint = "it must be a GeoJSON FeatureCollection"
        raise InputError(f"cannot read as a vector layer: {_short(exc)}", path=p, fix=hint) from None
    return check_layer(gdf, p, what=what, geometry=geometry, allow_empty=allow_empty)


def check_layer(gdf: gpd.GeoDataFrame, p: Path | str | None, *, what: str, geometry: str | None,
                 allow_empty: bool) -> gpd.GeoDataFrame:
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        raise InputError(f"the {what} has no geometry (a plain table?)", path=p,
                         fix="give a vector layer here: GeoJSON, GeoPackage, Shapefile, FlatGeobuf or GeoParquet")
    if not allow_empty and len(gdf) == 0:
        raise LayerError(f"the {what} has no features", path=p, fix="check the export: it wrote an empty layer")
    if geometry is not None and len(gdf):
        wanted = GEOMETRY_FAMILIES[geometry]
        types = gdf.geometry.geom_type
        bad = types.notna() & ~types.isin(wanted)
        if bad.any():
            i = int(bad.to_numpy().argmax())
            raise LayerError(
                f"the {what} must be {geometry}s, but feature {i + 1} is a {types.iloc[i]}",
                path=p, feature=i + 1, fix=f"give a {geometry} layer here")
    if p is not None:
        gdf.attrs[SOURCE_ATTR] = str(p)
    return gdf


#: key of ``GeoDataFrame.attrs`` naming the file a layer was read from (for messages)
SOURCE_ATTR = "geoconflict_source"


def source_of(gdf: Any) -> str | None:
    """The file a layer was read from by :func:`read_layer`, else None (messages name it)."""
    return getattr(gdf, "attrs", {}).get(SOURCE_ATTR)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _prepare_geojson(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = gdf
    if out.crs is not None and out.crs.to_epsg() != 4326:
        out = out.to_crs(4326)
    elif out.crs is None:
        out = out.set_crs(4326)
    return _plain_columns(out)


def _plain_columns(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Columns GDAL can write: lists/dicts as JSON text, categories as text."""
    out = gdf.copy(deep=False)  # copy-on-write: only the columns changed below are copied
    for col in out.columns:
        if col == out.geometry.name:
            continue
        s = out[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[col] = s.astype(object).where(s.notna(), None)
        elif (s.dtype == object and pd.api.types.infer_dtype(s, skipna=True).startswith("mixed")
              and s.map(lambda v: isinstance(v, (list, dict, tuple))).any()):
            out[col] = s.map(lambda v: json.dumps(v) if isinstance(v, (list, dict, tuple)) else v)
    return out


def write_layer(
    gdf: gpd.GeoDataFrame,
    path: str | Path,
    *,
    overwrite: bool = False,
    layer: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write a layer atomically; the extension picks the format (.geojson, .gpkg, .parquet, .csv).

    ``metadata`` goes into GeoPackage layer metadata, GeoParquet schema metadata, or a
    ``<name>.meta.json`` sidecar for GeoJSON and CSV (RFC 7946 has no place for it).
    """
    ext = output_format(path)
    target = Path(path)
    with atomic_path(target, overwrite=overwrite) as tmp:
        if ext == ".geojson":
            _prepare_geojson(gdf).to_file(
                tmp,
                driver="GeoJSON",
                engine="pyogrio",
                layer=target.stem,
                RFC7946="YES",
                COORDINATE_PRECISION=COORDINATE_PRECISION,
                WRITE_BBOX="NO",
            )
        elif ext == ".gpkg":
            with pyogrio_config():
                _write_gpkg_layer(_plain_columns(gdf), tmp, layer or target.stem, metadata=_text_metadata(metadata))
        elif ext == ".parquet":
            gdf.to_parquet(tmp, index=False)
        elif ext == ".csv":
            table_for_csv(gdf).to_csv(tmp, index=False, lineterminator="\n")
    if metadata and ext in (".geojson", ".csv"):
        sidecar = target.with_suffix(".meta.json")
        write_json(dict(metadata), sidecar, overwrite=True)
    return target


def _text_metadata(metadata: Mapping[str, Any] | None) -> dict[str, str] | None:
    """GDAL layer metadata takes text only: other values as JSON."""
    if not metadata:
        return None
    return {str(k): v if isinstance(v, str) else json.dumps(v, default=str, sort_keys=True)
            for k, v in metadata.items()}


def write_layers(
    layers: Mapping[str, gpd.GeoDataFrame], path: str | Path, *, overwrite: bool = False
) -> Path:
    """Write several layers into one GeoPackage atomically (layer order as given).

    Layers go to GDAL as Arrow tables built here (:func:`_arrow_layer`) rather than by
    ``GeoDataFrame.to_file``, which spends seconds on a 2.5M-point layer finding its geometry type
    and encoding WKB point by point; the file is the same. Layers needing pyogrio's special
    handling take ``to_file`` (:func:`_write_gpkg_layer`).
    """
    output_format(path, (".gpkg",))
    with atomic_path(path, overwrite=overwrite) as tmp, pyogrio_config():
        for name, gdf in layers.items():
            _write_gpkg_layer(_plain_columns(gdf), tmp, name)
    return Path(path)


def _write_gpkg_layer(gdf: gpd.GeoDataFrame, path: Path, name: str, *,
                      metadata: dict[str, str] | None = None) -> None:
    """Add layer ``name`` to the GeoPackage ``path`` (created if missing), through Arrow."""
    arrow = _arrow_layer(gdf)
    if arrow is None:
        gdf.to_file(path, driver="GPKG", engine="pyogrio", layer=name, append=path.exists(), VERSION="1.2",
                    use_arrow=True, metadata=metadata)
    else:
        pyogrio.write_arrow(arrow.table, path, driver="GPKG", layer=name, append=path.exists(), VERSION="1.2",
                            geometry_name=arrow.geometry, geometry_type=arrow.geometry_type, crs=arrow.crs,
                            metadata=metadata)


@dataclass(frozen=True)
class _ArrowLayer:
    """A layer as pyogrio hands it to GDAL: attributes and WKB geometry, the layer's geometry
    type and its CRS (``EPSG:n`` or WKT)."""

    table: pa.Table
    geometry: str
    geometry_type: str
    crs: str


#: shapely type id -> GDAL layer geometry type, for layers of one geometry type
_LAYER_TYPES: dict[int, str] = {0: "Point", 1: "LineString", 3: "Polygon", 4: "MultiPoint",
                                5: "MultiLineString", 6: "MultiPolygon"}


def _arrow_layer(gdf: gpd.GeoDataFrame) -> _ArrowLayer | None:
    """The Arrow table, geometry type and CRS ``to_file(engine="pyogrio", use_arrow=True)`` gives
    GDAL for ``gdf``, or None when pyogrio would treat the frame specially: the index written as
    a column, no CRS, no rows, more than one geometry column or type, 3D geometries, object columns
    holding other things than text, datetimes with a local time zone, all-null columns."""
    geom = gdf.geometry
    index = gdf.index
    if (gdf.crs is None or list(index.names) != [None] or not pd.api.types.is_integer_dtype(index.dtype)
            or not gdf.columns.is_unique or (gdf.dtypes == "geometry").sum() != 1):
        return None
    geoms = np.asarray(geom.values, dtype=object)
    type_ids = shapely.get_type_id(geoms)
    types = np.flatnonzero(np.bincount(type_ids + 1)[1:])  # -1: missing geometry
    if len(types) != 1 or int(types[0]) not in _LAYER_TYPES or shapely.has_z(geoms).any():
        return None
    attrs = pd.DataFrame(gdf.drop(columns=geom.name))
    for name, dtype in attrs.dtypes.items():
        if dtype == object and pd.api.types.infer_dtype(attrs[name]) != "string":
            return None
        if isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) != "UTC":
            return None
    table = pa.Table.from_pandas(attrs, preserve_index=False)
    if any(pa.types.is_null(f.type) or pa.types.is_dictionary(f.type) for f in table.schema):
        return None
    points = bool((type_ids == 0).all() and not shapely.is_empty(geoms).any())
    wkb = _point_wkb(geoms) if points else pa.array(shapely.to_wkb(geoms), type=pa.binary())
    table = table.add_column(list(gdf.columns).index(geom.name), pa.field(geom.name, wkb.type), wkb)
    epsg = gdf.crs.to_epsg()
    crs = f"EPSG:{epsg}" if epsg else gdf.crs.to_wkt("WKT1_GDAL")
    return _ArrowLayer(table, geom.name, _LAYER_TYPES[int(types[0])], crs)


def _point_wkb(points: np.ndarray) -> pa.Array:
    """Well-known binary of (non-empty, 2D) points as shapely writes it (little-endian), packed
    with numpy at 21 bytes a point: many times faster than shapely."""
    xy = shapely.get_coordinates(points)
    packed = np.empty(len(points), dtype=[("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])
    packed["order"], packed["type"] = 1, 1
    packed["x"], packed["y"] = xy[:, 0], xy[:, 1]
    large = packed.nbytes >= 2**31  # beyond 32-bit offsets
    offsets = np.arange(len(packed) + 1, dtype=np.int64 if large else np.int32) * packed.itemsize
    return pa.Array.from_buffers(pa.large_binary() if large else pa.binary(), len(packed),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(packed.view(np.uint8))])


#: GDAL settings while writing GeoPackages, restored afterwards
GPKG_CONFIG: dict[str, str] = {
    # a fixed timestamp in the metadata tables: two runs give byte-identical files
    "OGR_CURRENT_DATE": FIXED_TIMESTAMP,
    # SQLite page cache (MB) instead of SQLite's 2 MB: with 2 MB, a million-row layer spills
    # and re-reads pages (half a million extra reads and writes); the file is the same
    "OGR_SQLITE_CACHE": "128",
}


@contextlib.contextmanager
def pyogrio_config() -> Iterator[None]:
    """GDAL settings for reproducible (and fast) GeoPackages; the previous values are restored."""
    old = {key: pyogrio.get_gdal_config_option(key) for key in GPKG_CONFIG}
    pyogrio.set_gdal_config_options(GPKG_CONFIG)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(old)


def table_for_csv(df: pd.DataFrame) -> pd.DataFrame:
    """A DataFrame for CSV: point geometry as ``longitude``/``latitude`` (WGS84), other
    geometry as WKT in ``geometry``."""
    if not isinstance(df, gpd.GeoDataFrame) or df.geometry.name not in df.columns:
        return pd.DataFrame(df)
    g = df.geometry
    if df.crs is not None and df.crs.to_epsg() != 4326:
        g = g.to_crs(4326)
    out = pd.DataFrame(df.drop(columns=[df.geometry.name]))
    types = set(g.geom_type.dropna().unique())
    if types <= {"Point"}:
        if "longitude" not in out.columns:
            out["longitude"] = g.x.round(COORDINATE_PRECISION)
        if "latitude" not in out.columns:
            out["latitude"] = g.y.round(COORDINATE_PRECISION)
    else:
        out["geometry"] = g.to_wkt(rounding_precision=COORDINATE_PRECISION)
    return out


def write_table(df: pd.DataFrame, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a CSV atomically (geometry as lon/lat or WKT)."""
    output_format(path, (".csv",))
    with atomic_path(path, overwrite=overwrite) as tmp:
        table_for_csv(df).to_csv(tmp, index=False, lineterminator="\n")
    return Path(path)


def write_text(text: str, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a text file (UTF-8) atomically."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(obj: Any, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write JSON (sorted keys, 2-space indent) atomically."""
    return write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", path, overwrite=overwrite)


def sibling(path: str | Path, suffix: str) -> Path:
    """``out/incidents.geojson`` + ``.quarantine.csv`` -> ``out/incidents.quarantine.csv``."""
    p = Path(path)
    return p.with_name(p.name[: -len(p.suffix)] + suffix if p.suffix else p.name + suffix)
