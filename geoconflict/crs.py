"""CRS handling: normalise input, require agreement, choose metric and equal-area CRSs.

Every distance and area geoconflict reports is measured in a projected CRS suited to the data
(UTM for distances, Lambert azimuthal equal-area for areas), never in degrees.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import geopandas as gpd
import numpy as np
from pyproj import CRS, Transformer
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from pyproj.exceptions import CRSError as _PyprojCRSError

from .errors import CRSError

WGS84 = CRS.from_epsg(4326)

#: from this many points, coordinates are transformed in two threads (PROJ releases the GIL)
THREADED_TRANSFORM_FROM = 400_000


def transform_xy(x: Any, y: Any, source: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates from ``source`` to ``target`` CRS (float64 arrays, x/y = lon/lat order for
    geographic CRSs).  The same numbers as ``GeoSeries.to_crs`` without building geometries;
    large inputs in two threads (a Transformer per thread: they are not thread-safe)."""
    src, dst = to_crs(source), to_crs(target)
    x = np.array(x, dtype="float64", copy=True)
    y = np.array(y, dtype="float64", copy=True)
    n = len(x)
    if n < THREADED_TRANSFORM_FROM:
        Transformer.from_crs(src, dst, always_xy=True).transform(x, y, inplace=True)
        return x, y
    from concurrent.futures import ThreadPoolExecutor

    def run(sl: slice) -> None:
        Transformer.from_crs(src, dst, always_xy=True).transform(x[sl], y[sl], inplace=True)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(run, [slice(0, n // 2), slice(n // 2, n)]))
    return x, y


def to_crs(value: Any) -> CRS:
    """Normalise any CRS input (EPSG code, string, pyproj CRS) to a :class:`pyproj.CRS`."""
    if value is None:
        raise CRSError("no CRS given")
    try:
        return CRS.from_user_input(value)
    except _PyprojCRSError as exc:
        raise CRSError(f"unknown CRS {value!r}: {exc}") from None


def require_crs(gdf: gpd.GeoDataFrame, what: str) -> CRS:
    """Return the layer's CRS, or raise a :class:`CRSError` naming the layer and the fix."""
    if gdf.crs is None:
        raise CRSError(
            f"{what} has no CRS; fix: add a .prj / CRS to the file, or set one with "
            "GeoDataFrame.set_crs(...)"
        )
    return gdf.crs


def require_same_crs(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame, what_a: str, what_b: str) -> None:
    """Raise :class:`CRSError` unless both layers have the same CRS (both shown in the message)."""
    ca, cb = require_crs(a, what_a), require_crs(b, what_b)
    if not ca.equals(cb):
        raise CRSError(
            f"CRS mismatch: {what_a} is {ca.to_string()} but {what_b} is {cb.to_string()}.\n"
            f"  fix: reproject one of them, e.g. {what_b}.to_crs({what_a}.crs)"
        )


def align(gdf: gpd.GeoDataFrame, target: gpd.GeoDataFrame | CRS, what: str) -> gpd.GeoDataFrame:
    """Reproject ``gdf`` to the CRS of ``target`` explicitly (both must have a CRS)."""
    require_crs(gdf, what)
    crs = target.crs if isinstance(target, gpd.GeoDataFrame) else target
    if crs is None:
        raise CRSError("target layer has no CRS")
    if gdf.crs.equals(crs):
        return gdf
    return gdf.to_crs(crs)


def _lonlat_bounds(gdfs: tuple[gpd.GeoDataFrame, ...]) -> tuple[float, float, float, float]:
    boxes = []
    for gdf in gdfs:
        if len(gdf) == 0:
            continue
        g = gdf.geometry
        if gdf.crs is not None and not gdf.crs.equals(WGS84):
            g = g.to_crs(WGS84)
        b = g.total_bounds
        if np.all(np.isfinite(b)):
            boxes.append(b)
    if not boxes:
        raise CRSError("cannot choose a metric CRS: the layers have no finite geometry")
    arr = np.vstack(boxes)
    return float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 2].max()), float(arr[:, 3].max())


def metric_crs_for(*gdfs: gpd.GeoDataFrame) -> CRS:
    """The UTM zone (WGS84 datum) that covers the centre of the layers' extent.

    For north-west Syria this is EPSG:32637 (UTM 37N).
    """
    west, south, east, north = _lonlat_bounds(gdfs)
    return _utm_at(round((west + east) / 2, 4), round((south + north) / 2, 4))


@lru_cache(maxsize=256)
def _utm_at(lon: float, lat: float) -> CRS:
    """The UTM zone at a point.  Strictly inside a zone's 6° band (and off the equator and the
    poles' caps) it is the zone of the band, as PROJ's database answers; on a band's edge, the
    equator or beyond 84°N / 80°S, PROJ's database is asked (~0.1 s a query: cached)."""
    if -180 < lon < 180 and (lon + 180) % 6 != 0 and (0 < lat < 84 or -80 < lat < 0):
        return CRS.from_epsg((32600 if lat > 0 else 32700) + int((lon + 180) // 6) + 1)
    infos = query_utm_crs_info(
        datum_name="WGS 84",
        area_of_interest=AreaOfInterest(lon, lat, lon, lat),
    )
    if not infos:  # polar regions
        return CRS.from_epsg(3413 if lat > 0 else 3031)
    return CRS.from_authority(infos[0].auth_name, infos[0].code)


def equal_area_crs_for(*gdfs: gpd.GeoDataFrame) -> CRS:
    """A Lambert azimuthal equal-area CRS centred on the layers' extent (areas in m²)."""
    west, south, east, north = _lonlat_bounds(gdfs)
    lon, lat = (west + east) / 2, (south + north) / 2
    return CRS.from_proj4(
        f"+proj=laea +lat_0={lat:.4f} +lon_0={lon:.4f} +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
    )
