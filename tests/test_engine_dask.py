"""The dask engine gives the in-process engine's answers, on a 2-worker LocalCluster."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import click
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

pytest.importorskip("distributed")
pytest.importorskip("dask_geopandas")

from geoconflict import engine_dask as E  # noqa: E402
from geoconflict.errors import InputError, OutputExistsError  # noqa: E402
from geoconflict.grids import count_by_cell  # noqa: E402
from geoconflict.incidents import read_incidents  # noqa: E402
from geoconflict.io import table_for_csv  # noqa: E402
from geoconflict.join import join_all  # noqa: E402

ACLED = ["event_id_cnty", "event_date", "time_precision", "event_type", "sub_event_type", "actor1",
         "actor2", "country", "location", "latitude", "longitude", "geo_precision", "notes",
         "fatalities"]


@pytest.fixture(scope="module")
def client():
    c = E.get_client(n_workers=2, threads_per_worker=1, processes=True, memory_limit="1GB")
    try:
        yield c
    finally:
        c.close()


def _acled_rows(n: int, seed: int = 7) -> list[dict[str, str]]:
    """ACLED-shaped rows with every kind of trouble a block boundary can meet."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        lon, lat = 36.6 + rng.random() * 0.7, 35.2 + rng.random() * 0.6  # > 25 km from borders
        day = pd.Timestamp("2020-01-01") + pd.Timedelta(days=int(rng.integers(0, 180)))
        fmt = i % 3
        date = (day.strftime("%Y-%m-%d") if fmt == 0 else day.strftime("%d %B %Y") if fmt == 1
                else day.strftime("%d-%m-%Y"))
        note = f'Shelling on "village {i % 17}", Idleb, 2 killed'
        if i % 11 == 0:
            note += "\nupdated: figures revised, \"per SOHR\""
        rows.append({
            "event_id_cnty": f"SYR{i}", "event_date": date, "time_precision": str(1 + (i % 7 == 0)),
            "event_type": ["Battles", "Explosions/Remote violence"][i % 2],
            "sub_event_type": ["Armed clash", "Shelling/artillery/missile attack"][i % 2],
            "actor1": "Military Forces of Syria (2000-)", "actor2": "Civilians (Syria)",
            "country": "Syria", "location": f"village {i % 17}", "latitude": f"{lat:.4f}",
            "longitude": f"{lon:.4f}", "geo_precision": str(1 + i % 3), "notes": note,
            "fatalities": str(int(rng.integers(0, 4))),
        })
    # duplicates far apart (other blocks), one of them after an invalid first copy
    rows[700]["event_id_cnty"] = rows[5]["event_id_cnty"]
    rows[1500]["event_id_cnty"] = rows[1200]["event_id_cnty"]
    rows[40]["latitude"] = ""  # invalid: its id stays available ...
    rows[1800]["event_id_cnty"] = rows[40]["event_id_cnty"]  # ... so this later copy is kept
    rows[900]["event_id_cnty"] = ""  # an id made from the row number
    rows[1600]["event_id_cnty"] = ""
    rows[300]["longitude"] = "36.5x"
    rows[1100]["event_date"] = "2020-13-45"
    rows[1300]["fatalities"] = "-2"
    return rows


def _write_csv(path: Path, rows: list[dict[str, str]], *, ragged_after: int | None = None) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=ACLED, lineterminator="\n")
    w.writeheader()
    for i, r in enumerate(rows):
        w.writerow(r)
        if ragged_after is not None and i == ragged_after:
            buf.write("SYRX,2020-02-02,1,too,few,fields\n")
    path.write_text(buf.getvalue(), encoding="utf-8")


def _roundtrip(gdf: gpd.GeoDataFrame, tmp: Path) -> gpd.GeoDataFrame:
    """The in-process answer as GeoParquet stores it (the dask engine's output format)."""
    p = tmp / "_ref.parquet"
    gdf.to_parquet(p, index=False)
    return gpd.read_parquet(p)


def _quarantine_text(q: pd.DataFrame) -> pd.DataFrame:
    buf = io.StringIO()
    table_for_csv(q).to_csv(buf, index=False, lineterminator="\n")
    return pd.read_csv(io.StringIO(buf.getvalue()), dtype=str, keep_default_na=False)


# --------------------------------------------------------------------------------------------
# ingest


@pytest.mark.parametrize("blocksize", [25_000, 100_000])
def test_ingest_equals_in_process(client, tmp_path: Path, blocksize: int) -> None:
    src = tmp_path / "acled.csv"
    _write_csv(src, _acled_rows(2000), ragged_after=1000)
    ref = read_incidents(src)
    rep = E.ingest_partitioned(src, tmp_path / "inc.parquet", client=client, blocksize=blocksize)
    assert rep.partitions > 2  # the duplicates really are in other blocks
    got = rep.read()
    pd.testing.assert_frame_equal(got, _roundtrip(ref.incidents, tmp_path))
    q = pd.read_csv(rep.quarantine_path, dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(q, _quarantine_text(ref.quarantine))
    assert rep.quarantined_by_reason == ref.report.quarantined_by_reason
    assert rep.flags_by_name == ref.report.flags_by_name
    assert (rep.rows_read, rep.accepted, rep.flagged) == (ref.report.rows_read, ref.report.accepted,
                                                          ref.report.flagged)
    # the facts, independently of the in-process reader
    assert rep.rows_read == 2001 and rep.accepted + rep.quarantined == rep.rows_read
    assert rep.quarantined_by_reason["duplicate_id"] == 2
    dups = q[q["reason"] == "duplicate_id"]
    assert dups["source_row"].astype(int).tolist() == [701, 1502]  # the ragged line is row 1002
    assert "SYR40" in set(got["incident_id"])  # first valid copy is row 1801
    assert {"row-901", "row-1601"} <= set(got["incident_id"])
    malformed = q[q["reason"] == "malformed_row"]
    assert malformed["source_row"].astype(int).tolist() == [1002]
    with_breaks = ref.incidents["notes"].str.contains("\n", regex=False).sum()
    assert got["notes"].str.contains("\n", regex=False).sum() == with_breaks > 100


def test_blocks_end_at_record_boundaries(tmp_path: Path) -> None:
    text = 'a,b\n1,"x\ny"\n2,"""q"",\n"\n3,z\n4,"\n\n"\n'
    p = tmp_path / "q.csv"
    p.write_bytes(text.encode())
    start = text.index("\n") + 1
    for size in range(1, 12):
        blocks = E._record_blocks(p, start, len(text), size)
        assert blocks[0][0] == start and blocks[-1][1] == len(text)
        assert all(a[1] == b[0] for a, b in zip(blocks[:-1], blocks[1:], strict=False))
        rows = []
        for a, b in blocks:
            chunk = text[a:b]
            assert chunk.endswith("\n")
            rows += list(csv.reader(io.StringIO(chunk)))
        assert [r[0] for r in rows] == ["1", "2", "3", "4"]
        assert rows[1][1] == '"q",\n' and rows[3][1] == "\n\n"


def test_ingest_refuses_existing_output(client, tmp_path: Path) -> None:
    src = tmp_path / "acled.csv"
    _write_csv(src, _acled_rows(2000)[:50])
    out = tmp_path / "inc.parquet"
    E.ingest_partitioned(src, out, client=client)
    with pytest.raises(OutputExistsError):
        E.ingest_partitioned(src, out, client=client)
    rep = E.ingest_partitioned(src, out, client=client, overwrite=True)
    assert rep.accepted == 49 and len(rep.parts) == 1  # row 41 has no latitude


def test_parse_bytes_and_scheduler_errors() -> None:
    assert E.parse_bytes("64MB") == 64_000_000
    assert E.parse_bytes("2GiB") == 2 << 30
    assert E.parse_bytes("1.5kb") == 1500
    for bad in ("lots", "-1MB", "0"):
        with pytest.raises(InputError):
            E.parse_bytes(bad)
    with pytest.raises(InputError, match="not a URL"):
        E.get_client("localhost:8786")


# --------------------------------------------------------------------------------------------
# joins and grids


def _layers() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    # 12 admin squares of 0.1 degree with a jagged shared edge, and 3 control snapshots
    polys, codes = [], []
    for i in range(4):
        for j in range(3):
            x0, y0 = 36.2 + 0.3 * i, 35.3 + 0.33 * j
            polys.append(shapely.segmentize(shapely.box(x0, y0, x0 + 0.3, y0 + 0.33), 0.01))
            codes.append(f"SY{i}{j}")
    admin = gpd.GeoDataFrame({"ADM3_PCODE": codes, "ADM3_EN": [f"unit {c}" for c in codes]},
                             geometry=polys, crs=4326)
    rows = []
    for t, d in enumerate(["2020-01-01", "2020-02-15", "2020-04-01"]):
        y = 35.7 + 0.1 * t
        rows += [("Government", d, shapely.box(36.0, 35.0, 37.6, y)),
                 ("Opposition", d, shapely.box(36.0, y, 37.6, 36.5))]
    control = gpd.GeoDataFrame({"controller": [r[0] for r in rows], "date": [r[1] for r in rows]},
                               geometry=[r[2] for r in rows], crs=4326)
    return admin, control


@pytest.fixture(scope="module")
def parts(tmp_path_factory, client) -> tuple[Path, gpd.GeoDataFrame]:
    tmp = tmp_path_factory.mktemp("parts")
    src = tmp / "acled.csv"
    _write_csv(src, _acled_rows(2000, seed=3))
    rep = E.ingest_partitioned(src, tmp / "inc.parquet", client=client, blocksize=150_000)
    return rep.out_dir, rep.read()


def test_join_equals_in_process(client, parts, tmp_path: Path) -> None:
    folder, incidents = parts
    admin, control = _layers()
    admin_path = tmp_path / "syr_adm3.geojson"
    admin.to_file(admin_path)
    ref, ref_report = join_all(incidents, admin=[admin_path], control=control)
    res = E.join_partitioned(folder, tmp_path / "joined.parquet", admin=[admin_path], control=control,
                             client=client)
    assert res.partitions == len(E.parts_of(folder)) > 1
    pd.testing.assert_frame_equal(res.read(), _roundtrip(ref, tmp_path))
    assert res.report.to_dict() == ref_report.to_dict()
    # independent check of the admin answer: geopandas sjoin (lowest index polygon)
    sj = gpd.sjoin(incidents[["geometry"]], admin[["ADM3_PCODE", "geometry"]], predicate="intersects")
    first = sj.sort_values("index_right").groupby(level=0)["ADM3_PCODE"].first()
    got = res.read()["ADM3_PCODE"]
    inside = got.index.isin(first.index)
    assert (got[inside] == first.reindex(got.index[inside])).all()
    assert res.frame().npartitions == res.partitions


@pytest.mark.parametrize("cells,kw", [
    ("hex:5km", {}),
    ("square:2km", {"by": "event_type", "period": "month"}),
    ("h3:6", {"by": "event_type"}),
    ("priogrid", {"period": "month", "long": True}),
    ("hex:10km", {"include_imprecise": True, "period": "week"}),
])
def test_count_equals_in_process(client, parts, cells: str, kw: dict) -> None:
    folder, incidents = parts
    ref = count_by_cell(incidents, cells=cells, **kw)
    got = E.count_partitioned(folder, cells=cells, client=client, **kw)
    pd.testing.assert_frame_equal(got.cells, ref.cells)
    assert got.report.as_dict() == ref.report.as_dict()
    assert got.metadata == ref.metadata
    # conservation, independently: every precise incident counted once
    precise = incidents if kw.get("include_imprecise") else incidents[incidents["geo_precision"] < 3]
    assert int(got.cells["count"].sum()) == len(precise) == got.report.counted


# --------------------------------------------------------------------------------------------
# the CLI options


def _command():
    from geoconflict.cli._engine import engine_options

    @click.command()
    @engine_options
    def cmd(engine) -> None:
        click.echo(f"{engine.name} {engine.scheduler} {engine.memory_limit} {engine.workers} {engine.blocksize}")

    return cmd


def test_engine_options(cli_runner) -> None:
    cmd = _command()
    r = cli_runner.invoke(cmd, [])
    assert r.exit_code == 0 and r.output.strip() == f"inprocess None None 2 {64 << 20}"
    r = cli_runner.invoke(cmd, ["--engine", "dask", "--memory-limit", "1GB", "--workers", "3",
                                "--blocksize", "16MB"])
    assert r.exit_code == 0 and r.output.strip() == "dask None 1000000000 3 16000000"
    r = cli_runner.invoke(cmd, ["--engine", "dask", "--scheduler", "tcp://10.0.0.5:8786"])
    assert r.exit_code == 0 and r.output.startswith("dask tcp://10.0.0.5:8786")
    r = cli_runner.invoke(cmd, ["--scheduler", "tcp://10.0.0.5:8786"])
    assert r.exit_code == 2 and "only apply with --engine dask" in r.output
    r = cli_runner.invoke(cmd, ["--engine", "dask", "--memory-limit", "lots"])
    assert r.exit_code == 2 and "not a size" in r.output
    r = cli_runner.invoke(cmd, ["--engine", "dask", "--scheduler", "tcp://h:1", "--memory-limit", "1GB"])
    assert r.exit_code == 2 and "local cluster" in r.output


def test_command_paths(client, tmp_path: Path) -> None:
    """The functions the ingest / join / grid commands call with --engine dask (on the test's
    cluster; without client= they start a LocalCluster from the engine options)."""
    from geoconflict.cli._engine import Engine, grid_dask, ingest_dask, join_dask

    src = tmp_path / "acled.csv"
    _write_csv(src, _acled_rows(2000)[:300])
    engine = Engine(name="dask", workers=1, blocksize=20_000)
    with pytest.raises(click.UsageError, match="partitioned GeoParquet"):
        ingest_dask(None, engine, src, tmp_path / "inc.gpkg")
    rep = ingest_dask(None, engine, src, tmp_path / "inc.parquet", client=client)
    assert rep.partitions > 1 and rep.accepted == 299
    assert (tmp_path / "inc.quarantine.csv").exists()
    admin, _control = _layers()
    admin_path = tmp_path / "adm.geojson"
    admin.to_file(admin_path)
    res = join_dask(None, engine, tmp_path / "inc.parquet", tmp_path / "joined.parquet", admin=[admin_path],
                    client=client)
    assert res.report.rows_out == 299
    grid = grid_dask(None, engine, tmp_path / "joined.parquet", cells="h3:6", client=client)
    precise = res.read()
    assert int(grid.cells["count"].sum()) == int((precise["geo_precision"] < 3).sum())
    with pytest.raises(click.UsageError, match="partitioned GeoParquet"):
        grid_dask(None, engine, src, cells="h3:6")


def test_cli_engine_dask_equals_in_process(client, tmp_path: Path, cli_runner) -> None:
    """ingest -> join -> grid from the command line with --engine dask on the test cluster
    (--scheduler) give the in-process commands' answers."""
    import geopandas as gpd

    from geoconflict.cli.main import cli

    src = tmp_path / "acled.csv"
    _write_csv(src, _acled_rows(2000)[:400])
    admin, _control = _layers()
    admin_path = tmp_path / "adm.geojson"
    admin.to_file(admin_path)
    sched = ["--engine", "dask", "--scheduler", client.scheduler.address, "--blocksize", "20KB"]
    steps = {
        "dask": [["ingest", src, "-o", tmp_path / "d_inc.parquet", *sched],
                 ["join", tmp_path / "d_inc.parquet", "--admin", admin_path, "-o", tmp_path / "d_join.parquet", *sched],
                 ["grid", tmp_path / "d_join.parquet", "--cells", "hex:5km", "-o", tmp_path / "d_hex.geojson", *sched]],
        "inprocess": [["ingest", src, "-o", tmp_path / "p_inc.parquet"],
                      ["join", tmp_path / "p_inc.parquet", "--admin", admin_path, "-o", tmp_path / "p_join.parquet"],
                      ["grid", tmp_path / "p_join.parquet", "--cells", "hex:5km", "-o", tmp_path / "p_hex.geojson"]],
    }
    for args_list in steps.values():
        for args in args_list:
            res = cli_runner.invoke(cli, [str(a) for a in args])
            assert res.exit_code == 0, res.output
    d = gpd.read_file(tmp_path / "d_hex.geojson").sort_values("cell_id").reset_index(drop=True)
    p = gpd.read_file(tmp_path / "p_hex.geojson").sort_values("cell_id").reset_index(drop=True)
    assert d["cell_id"].tolist() == p["cell_id"].tolist()
    assert d["count"].tolist() == p["count"].tolist()
    assert (tmp_path / "d_join.parquet").is_dir()


def test_parts_send_counts_not_polygons(parts) -> None:
    """Each part returns its counts as a plain table (no polygons pickled back per part); the
    merged cells get their polygons once, equal to in-process ones (test above)."""
    folder, _ = parts
    table, report, meta = E._count_part(E.parts_of(folder)[0], {"cells": "hex:5km"})
    assert not isinstance(table, gpd.GeoDataFrame) and "geometry" not in table.columns
    assert int(table["count"].sum()) == report.counted > 0 and meta["crs"]
