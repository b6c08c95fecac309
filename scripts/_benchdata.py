"""Deterministic benchmark data for scripts/bench.py: an ACLED-shaped export clustered like real
conflict data, with matching admin, control and front-line layers.

* admin: the 272 OCHA sub-districts of Syria from ../shared/data (~129k vertices) when present,
  else 272 synthetic detailed polygons (``bench_join.admin_layer``);
* control: 50 dated snapshots, 8 days apart from 2019-05-01: two controllers split by a wavy
  2,000-vertex line that moves north over time (``bench_join.make_control``);
* front lines: that line per snapshot, dated (``date``), as its own layer;
* incidents: 70 % in clusters around "villages" of north-west Syria (OCHA populated places when
  present, spread 0.5-5 km, heavier near the front), 30 % anywhere in the admin layer's extent;
  1 in 500 of the background points exactly on a cell edge (longitude 39.0: UTM zone 37's
  central meridian, x = 500000 on 1 km square and 5 km hex edges; a half-degree longitude or
  latitude: PRIO-GRID lines), drawn from their own random stream so the rest is unchanged;
  dates 2019-05-01..2020-06-04 (90 % day, 7 % week, 3 % month precision; ISO, ``08 June 2020`` and
  ``08-06-2020`` forms), ACLED's 31 columns, notes with commas and quotes, and 0.05 % bad rows of
  five kinds (quarantined by any reader) so the accounting is exercised.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_join as _bj  # noqa: E402 - its generators are reused, not copied

PLACES = HERE.parents[0].parent / "shared" / "data" / "syria-cod" / "syr_populated_places_ocha_20210113.csv"
from geoconflict.incidents import ACLED_COLUMNS as _ACLED_COLUMNS  # noqa: E402

ACLED_COLUMNS = list(_ACLED_COLUMNS)
ACTORS = ["Military Forces of Syria (2000-)", "Military Forces of Russia (2000-)",
          "Hayat Tahrir al Sham", "NLF: National Liberation Front", "Civilians (Syria)",
          "Unidentified Armed Group (Syria)", "Military Forces of Turkey (2016-)"]
SUBS = [("Explosions/Remote violence", "Air/drone strike"),
        ("Explosions/Remote violence", "Shelling/artillery/missile attack"),
        ("Battles", "Armed clash"), ("Violence against civilians", "Attack"),
        ("Strategic developments", "Looting/property destruction")]
SUB_P = [0.35, 0.35, 0.15, 0.1, 0.05]
SOURCES = ["Syrian Observatory for Human Rights", "SNHR", "Step News Agency", "Enab Baladi",
           "SANA", "Sham Network"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
DAY0 = np.datetime64("2019-05-01")
N_DAYS = 400  # 50 snapshots x 8 days
NW = (36.0, 35.3, 37.5, 36.4)  # the control layer's extent (north-west Syria)


def admin_layer():
    """(admin GeoDataFrame with ADM3_PCODE, ADM3_EN, geometry; description)."""
    return _bj.admin_layer()


def control_layer(n_snapshots: int = 50):
    """50 dated snapshots (controller, date, geometry)."""
    return _bj.make_control(n_snapshots)


def front_line_layer(n_snapshots: int = 50):
    """The line between the controllers of each snapshot (date, geometry), 2,000 vertices each."""
    import geopandas as gpd

    x = np.linspace(36.0, 37.5, 2000)
    dates = pd.date_range("2019-05-01", periods=n_snapshots, freq="8D")
    lines = []
    for t in range(n_snapshots):  # the same line as bench_join.make_control draws
        y = 35.45 + 0.6 * t / n_snapshots + 0.03 * np.sin(x * 40 + t) + 0.01 * np.sin(x * 173)
        lines.append(shapely.LineString(np.column_stack([x, y])))
    return gpd.GeoDataFrame({"date": dates}, geometry=lines, crs=4326)


def _villages(rng: np.random.Generator, k: int = 600) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lon, lat, name) of village centres in north-west Syria."""
    if PLACES.exists():
        pp = pd.read_csv(PLACES, usecols=["lon", "lat", "PP_NAME_EN"])
        pp = pp[(pp.lon > NW[0] + 0.02) & (pp.lon < NW[2] - 0.02) & (pp.lat > NW[1] + 0.02) & (pp.lat < NW[3] - 0.02)]
        pp = pp.sample(min(k, len(pp)), random_state=1).reset_index(drop=True)
        return pp["lon"].to_numpy(), pp["lat"].to_numpy(), pp["PP_NAME_EN"].astype(str).to_numpy(dtype=object)
    lon = rng.uniform(NW[0] + 0.05, NW[2] - 0.05, k)
    lat = rng.uniform(NW[1] + 0.05, NW[3] - 0.05, k)
    return lon, lat, np.array([f"Village {i}" for i in range(k)], dtype=object)


def _on_cell_edges(lon: np.ndarray, lat: np.ndarray, first: int, rng: np.random.Generator) -> None:
    """Move 1 in 500 of the background points (from ``first`` on) onto cell edges, in place:
    half of them to longitude 39.0, a quarter to a half-degree longitude, a quarter to a
    half-degree latitude (each inside the extent the other coordinate already has)."""
    n = len(lon) - first
    pick = first + rng.choice(n, size=n // 500, replace=False)
    kind = rng.integers(0, 4, len(pick))
    lon[pick[kind < 2]] = 39.0
    sel = pick[kind == 2]
    lon[sel] = np.clip(np.round(lon[sel] * 2) / 2, np.ceil(lon.min() * 2) / 2, np.floor(lon.max() * 2) / 2)
    sel = pick[kind == 3]
    lat[sel] = np.clip(np.round(lat[sel] * 2) / 2, np.ceil(lat.min() * 2) / 2, np.floor(lat.max() * 2) / 2)


def _s(values) -> pa.Array:
    return pa.array(values, type=pa.string())


def incidents_table(n: int, *, seed: int = 2020, bounds: np.ndarray | None = None,
                    id_offset: int = 0, bad: bool = True) -> tuple[pa.Table, dict[str, int]]:
    """The ACLED export as an Arrow table (all text, like a CSV), and the bad rows planted."""
    rng = np.random.default_rng(seed)
    if bounds is None:
        bounds = np.array([35.7, 32.3, 42.4, 37.3])
    vlon, vlat, vname = _villages(np.random.default_rng(1))
    # heavier near the front: weight villages by closeness to the line's mean latitude
    w = np.exp(-((vlat - 35.75) / 0.25) ** 2) + 0.2
    w /= w.sum()
    k = int(n * 0.7)
    v = rng.choice(len(vlon), k, p=w)
    spread = rng.uniform(0.005, 0.045, len(vlon))[v]
    lon = np.r_[vlon[v] + rng.normal(0, 1, k) * spread, rng.uniform(bounds[0], bounds[2], n - k)]
    lat = np.r_[vlat[v] + rng.normal(0, 1, k) * spread, rng.uniform(bounds[1], bounds[3], n - k)]
    where = np.r_[vname[v], np.full(n - k, "", dtype=object)]
    _on_cell_edges(lon, lat, k, np.random.default_rng([seed, 17]))
    perm = rng.permutation(n)
    lon, lat, where = lon[perm], lat[perm], where[perm]
    where = np.where(where == "", "Unnamed place", where).astype(object)
    days = rng.integers(0, N_DAYS, n)
    day = DAY0 + days.astype("timedelta64[D]")
    dt = pd.DatetimeIndex(day)
    iso = dt.strftime("%Y-%m-%d")
    fmt = rng.random(n)
    long_form = dt.strftime("%d ") + pd.Index(np.array(MONTHS, dtype=object)[dt.month - 1]) + dt.strftime(" %Y")
    dates = np.where(fmt < 0.7, iso, np.where(fmt < 0.9, long_form, dt.strftime("%d-%m-%Y"))).astype(object)
    prec = rng.choice([1, 2, 3], n, p=[0.9, 0.07, 0.03])
    sub = rng.choice(len(SUBS), n, p=SUB_P)
    a1 = rng.integers(0, len(ACTORS), n)
    a2 = rng.integers(0, len(ACTORS), n)
    fat = rng.poisson(0.7, n)
    geo = rng.choice([1, 2, 3], n, p=[0.75, 0.22, 0.03])
    ids = pc.binary_join_element_wise("SYR", pa.array((np.arange(n) + 1 + id_offset).astype(str)), "")
    actors = np.array(ACTORS, dtype=object)
    notes = pc.binary_join_element_wise(
        "On ", pa.array(iso.to_numpy(dtype=object), pa.string()), ", ", _s(actors[a1]), " ",
        _s(np.array(["struck", "shelled", "clashed with fighters near", "raided", "targeted"], dtype=object)[sub]),
        ' "', _s(where), '" and nearby villages in Idleb; ', pa.array(fat.astype(str)),
        " reported killed, several wounded (per ", _s(np.array(SOURCES, dtype=object)[rng.integers(0, len(SOURCES), n)]),
        ', "local sources"). Families fled north toward camps near Atma and Sarmada.', "")
    lat_s = np.round(lat, 4).astype(str).astype(object)
    lon_s = np.round(lon, 4).astype(str).astype(object)
    fat_s = fat.astype(str).astype(object)
    id_s = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object)
    planted: dict[str, int] = {}
    if bad:
        kb = max(1, n // 10000)
        sel = rng.choice(n // 2, size=5 * kb, replace=False) * 2  # even rows; odd neighbours clean
        lat_s[sel[:kb]] = ""
        lon_s[sel[kb:2 * kb]] = "36.6x"
        dates[sel[2 * kb:3 * kb]] = "2020-13-45"
        fat_s[sel[3 * kb:4 * kb]] = "-1"
        dup = sel[4 * kb:5 * kb]
        id_s[dup] = id_s[(dup + 1) % n]
        planted = {"missing_coordinate": kb, "non_numeric_coordinate": kb, "unparseable_date": kb,
                   "negative_fatalities": kb, "duplicate_id": kb}
    subs_e = np.array([s[0] for s in SUBS], dtype=object)
    subs_s = np.array([s[1] for s in SUBS], dtype=object)
    const = lambda v: pa.array(np.full(n, v, dtype=object), pa.string())  # noqa: E731
    cols = {
        "event_id_cnty": _s(id_s), "event_date": _s(dates), "year": pa.array(dt.year.astype(str), pa.string()),
        "time_precision": pa.array(prec.astype(str), pa.string()), "disorder_type": const("Political violence"),
        "event_type": _s(subs_e[sub]), "sub_event_type": _s(subs_s[sub]), "actor1": _s(actors[a1]),
        "assoc_actor_1": const(""), "inter1": const("1"), "actor2": _s(actors[a2]), "assoc_actor_2": const(""),
        "inter2": const("7"), "interaction": const("17"), "civilian_targeting": const(""), "iso": const("760"),
        "region": const("Middle East"), "country": const("Syria"), "admin1": const("Idleb"),
        "admin2": const(""), "admin3": const(""), "location": _s(where), "latitude": _s(lat_s),
        "longitude": _s(lon_s), "geo_precision": pa.array(geo.astype(str), pa.string()),
        "source": _s(np.array(SOURCES, dtype=object)[rng.integers(0, len(SOURCES), n)]),
        "source_scale": const("National"), "notes": notes, "fatalities": _s(fat_s), "tags": const(""),
        "timestamp": const("1700000000"),
    }
    return pa.table({c: cols[c] for c in ACLED_COLUMNS}), planted


def write_csv(table: pa.Table, path: Path, *, append: bool = False) -> None:
    """The export as CSV (quotes only where needed, as ACLED's own files)."""
    import pyarrow.csv as pacsv

    opts = pacsv.WriteOptions(quoting_style="needed", include_header=not append)
    if append:
        with open(path, "ab") as fh:
            pacsv.write_csv(table, fh, write_options=opts)
    else:
        pacsv.write_csv(table, path, write_options=opts)


def write_geoparquet(table: pa.Table, path: Path) -> None:
    """The export as GeoParquet: text columns as given, point geometry where the coordinates read
    (rows with bad coordinates get no geometry)."""
    import geopandas as gpd

    df = table.to_pandas()
    lon = pd.to_numeric(df["longitude"], errors="coerce").to_numpy()
    lat = pd.to_numeric(df["latitude"], errors="coerce").to_numpy()
    ok = np.isfinite(lon) & np.isfinite(lat)
    geom = np.full(len(df), None, dtype=object)
    geom[ok] = shapely.points(lon[ok], lat[ok])
    gpd.GeoDataFrame(df, geometry=geom, crs=4326).to_parquet(path, index=False, row_group_size=250_000)
