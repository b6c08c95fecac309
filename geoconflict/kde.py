"""Kernel density of incidents as a Cloud Optimized GeoTIFF (events per km²).

Method: incidents (or a weight per incident) are binned to the centres of a raster in a metric
CRS (UTM for the data; pixels aligned to multiples of the resolution from the CRS's false
origin), then convolved (FFT) with the kernel discretised on the same pixels and normalised to sum
to 1.  The raster covers the events plus the kernel's reach, so the integral of the density over
the raster equals the number (or total weight) of incidents counted, up to float rounding.

Kernels (``bandwidth`` = h): ``quartic`` (biweight) ``3/(π h²) · (1 − d²/h²)²`` for d < h, reach h;
``gaussian`` with standard deviation h, truncated at 4 h (reach 4 h).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
from pyproj import CRS

from ._points import GridReport, numeric_column, prepare_points
from .crs import to_crs
from .errors import InputError, SchemaError, SizeLimitError
from .grids import metric_cell_indices
from .io import atomic_path

Kernel = Literal["quartic", "gaussian"]
KERNEL_REACH = {"quartic": 1.0, "gaussian": 4.0}
#: the KDE defaults, for the library, ``grid --kde`` and scenarios alike
DEFAULT_BANDWIDTH_M = 5000.0
DEFAULT_RESOLUTION_M = 500.0
DEFAULT_KERNEL: Kernel = "quartic"
#: largest raster (pixels) written
MAX_PIXELS = 100_000_000
NODATA = -9999.0


@dataclass
class KdeResult:
    path: Path
    crs: str
    transform: tuple[float, ...]
    width: int
    height: int
    resolution_m: float
    bandwidth_m: float
    kernel: str
    total: float  # events (or weight) counted
    integral: float  # sum of density × pixel area (km²)
    report: GridReport
    metadata: dict[str, Any] = field(default_factory=dict)


def kernel_weights(bandwidth_m: float, resolution_m: float, kernel: Kernel = DEFAULT_KERNEL) -> np.ndarray:
    """The kernel on a (2r+1)² pixel window, normalised to sum 1."""
    if kernel not in KERNEL_REACH:
        raise InputError(f"unknown kernel {kernel!r}", fix="use quartic or gaussian")
    reach = KERNEL_REACH[kernel] * bandwidth_m
    r = int(math.ceil(reach / resolution_m))
    off = np.arange(-r, r + 1) * resolution_m
    d2 = off[:, None] ** 2 + off[None, :] ** 2
    if kernel == "quartic":
        u = d2 / bandwidth_m**2
        k = np.where(u < 1.0, (1.0 - u) ** 2, 0.0)
    else:
        k = np.where(d2 <= reach**2, np.exp(-0.5 * d2 / bandwidth_m**2), 0.0)
    if k.sum() <= 0:  # bandwidth well under half a pixel: all mass in the pixel itself
        k = np.zeros_like(k)
        k[r, r] = 1.0
    return k / k.sum()


def density_grid(
    ix: np.ndarray,
    iy: np.ndarray,
    w: np.ndarray,
    *,
    bandwidth_m: float,
    resolution_m: float,
    kernel: Kernel = DEFAULT_KERNEL,
) -> tuple[np.ndarray, float, float]:
    """Density (per km²) on a north-up grid from events' pixel indices ``ix = floor(x / res)``,
    ``iy = floor(y / res)``; returns (array[rows, cols], west, north)."""
    k = kernel_weights(bandwidth_m, resolution_m, kernel)
    r = k.shape[0] // 2
    res = resolution_m
    # pixel (i, j) covers [i*res, (i+1)*res) x [j*res, (j+1)*res); its centre is (i + 0.5) * res
    c0, c1 = int(ix.min()) - r, int(ix.max()) + r
    r0, r1 = int(iy.min()) - r, int(iy.max()) + r
    width, height = c1 - c0 + 1, r1 - r0 + 1
    if width * height > MAX_PIXELS:
        raise SizeLimitError(
            f"the KDE raster would have {width:,} × {height:,} pixels (limit {MAX_PIXELS:,})",
            fix="use a coarser --resolution, or fewer / closer incidents",
        )
    row = r1 - iy  # north-up: row 0 is the northernmost
    col = ix - c0
    binned = np.bincount(row * width + col, weights=w, minlength=width * height).reshape(height, width)
    dens: np.ndarray
    if k.size == 1:
        dens = binned
    else:
        dens = _convolve_same(binned, k)
        # FFT noise: |d| below 1e-12 of the total, and any negative d, is 0 (one pass)
        dens[dens < 1e-12 * max(1.0, float(np.abs(w).sum()))] = 0.0
    dens /= res * res / 1e6
    west, north = c0 * res, (r1 + 1) * res
    return dens, west, north


def _convolve_same(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``a`` convolved with the odd-sized kernel ``k`` (FFT), cropped to ``a``'s shape.

    numpy's FFT (pocketfft, as scipy's; importing scipy.fft costs more than the transform) on
    sizes padded to 5-smooth lengths; the kernel's transform runs its last-axis pass on the
    kernel's own rows only (the padding rows are zeros)."""
    (h, w), (kh, kw) = a.shape, k.shape
    shape = (_fast_len(h + kh - 1), _fast_len(w + kw - 1))
    kernel = np.fft.fft(np.fft.rfft(k, n=shape[1], axis=1), n=shape[0], axis=0)
    full = np.fft.irfft2(np.fft.rfft2(a, shape) * kernel, shape)
    return full[kh // 2 : kh // 2 + h, kw // 2 : kw // 2 + w]


def _fast_len(n: int) -> int:
    """The smallest 5-smooth number (2^a·3^b·5^c) >= n: an FFT size pocketfft does fastest."""
    best = 1 << max(n - 1, 0).bit_length()  # the next power of two
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35 * (1 << max(0, (-(-n // p35) - 1).bit_length()))  # times the power of two reaching n
            if n <= m < best:
                best = m
            p35 *= 3
        p5 *= 5
    return best


def kde_raster(
    incidents: gpd.GeoDataFrame,
    path: str | Path,
    *,
    bandwidth_m: float = DEFAULT_BANDWIDTH_M,
    kernel: Kernel = DEFAULT_KERNEL,
    weight: str | None = None,
    resolution_m: float = DEFAULT_RESOLUTION_M,
    overwrite: bool = False,
    include_imprecise: bool = False,
    crs: Any = None,
) -> KdeResult:
    """Write a kernel density raster (Cloud Optimized GeoTIFF, float32, events per km²).

    ``weight`` names a column (e.g. ``fatalities``) to weight incidents by; the units then read
    ``<weight> per km2``.  Imprecise locations (``geo_precision`` ≥ 3) are left out unless
    ``include_imprecise``.  The raster is in the UTM zone of the data (or ``crs``).
    """
    import rasterio
    import rasterio.shutil
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.io import MemoryFile

    if not (bandwidth_m > 0 and math.isfinite(bandwidth_m)):
        raise InputError("bandwidth must be a positive distance", fix="e.g. --bandwidth 5km")
    if not (resolution_m > 0 and math.isfinite(resolution_m)):
        raise InputError("resolution must be a positive distance", fix="e.g. --resolution 500m")
    if kernel not in KERNEL_REACH:
        raise InputError(f"unknown kernel {kernel!r}", fix="use quartic or gaussian")
    if Path(path).suffix.lower() not in (".tif", ".tiff"):
        raise InputError("the KDE output must be a GeoTIFF", path=path, fix="name it *.tif")
    prep = prepare_points(incidents, include_imprecise=include_imprecise, need_date=False)
    report = prep.report
    report.cells_label = f"kde:{kernel}:{bandwidth_m:g}m"
    if len(prep.lon) == 0:
        raise InputError("no incidents left to estimate a density from",
                         fix="check the input, or pass --include-imprecise")
    if weight is not None:
        if weight not in prep.columns:
            raise SchemaError(f"no column {weight!r} to weight by", column=weight)
        w = numeric_column(prep, weight, report)
        if np.any(w < 0):
            raise InputError(f"negative values in {weight!r} cannot weight a density", column=weight)
    else:
        w = np.ones(len(prep.lon))
    out_crs: CRS = to_crs(crs) if crs is not None else prep.metric_crs()
    if not out_crs.is_projected:
        raise InputError(f"CRS {out_crs.to_string()} is not projected", fix="give a metric CRS")
    ix, iy = metric_cell_indices(prep.lon, prep.lat, out_crs, "square", resolution_m)
    dens, west, north = density_grid(ix, iy, w, bandwidth_m=bandwidth_m, resolution_m=resolution_m, kernel=kernel)
    height, width = dens.shape
    transform = Affine(resolution_m, 0.0, west, 0.0, -resolution_m, north)
    pixel_km2 = resolution_m * resolution_m / 1e6
    data = dens.astype("float32")
    integral = float(data.astype("float64").sum() * pixel_km2)
    total = float(w.sum())
    units = "events per km2" if weight is None else f"{weight} per km2"
    report.crs = out_crs.to_string()
    report.cells = width * height
    report.nonempty_cells = int((data > 0).sum())
    report.check()
    tags = {
        "units": units,
        "bandwidth_m": f"{bandwidth_m:g}",
        "kernel": kernel,
        "resolution_m": f"{resolution_m:g}",
        "weight": weight or "",
        "events_counted": str(report.counted),
        "total_weight": f"{total:.6g}",
        "method": "binned to pixel centres, FFT-convolved with the kernel discretised and normalised to sum 1",
        "imprecise_locations": "included" if include_imprecise else "excluded (geo_precision >= 3)",
    }
    overviews = _overview_count(width, height)
    with atomic_path(path, overwrite=overwrite) as tmp:
        profile = dict(driver="GTiff", width=width, height=height, count=1, dtype="float32",
                       crs=out_crs.to_wkt(), transform=transform, nodata=NODATA)
        with MemoryFile() as mem:
            with mem.open(**profile) as ds:
                ds.write(data, 1)
                ds.update_tags(**tags)
                ds.update_tags(1, units=units)
                ds.units = (units,)
                ds.set_band_description(1, f"kernel density ({units})")
                if overviews:  # averaged here, in memory: the COG driver would average and
                    # deflate them once more through a temporary file (a third of the write)
                    ds.build_overviews([2 ** (i + 1) for i in range(overviews)], Resampling.average)
            with mem.open() as src:
                rasterio.shutil.copy(
                    src, tmp, driver="COG", COMPRESS="DEFLATE", PREDICTOR="3", LEVEL="1", NUM_THREADS="2",
                    BLOCKSIZE="256", OVERVIEWS="FORCE_USE_EXISTING" if overviews else "NONE", BIGTIFF="IF_SAFER",
                )
    meta = {"crs": out_crs.to_string(), **tags, "width": width, "height": height,
            "integral": integral, "report": report.as_dict()}
    return KdeResult(path=Path(path), crs=out_crs.to_string(), transform=tuple(transform)[:6],
                     width=width, height=height, resolution_m=resolution_m, bandwidth_m=bandwidth_m,
                     kernel=kernel, total=total, integral=integral, report=report, metadata=meta)


def _overview_count(width: int, height: int) -> int:
    """Overview levels down to ~256 pixels (at least one when the raster is ≥ 2 pixels)."""
    big = max(width, height)
    if big < 2:
        return 0
    return max(1, int(math.ceil(math.log2(big / 256))) if big > 256 else 1)
