"""One quarantine writer and naming rule (#16): every command writes <output stem>.quarantine.csv
beside its output (a folder output: <folder>/quarantine.csv), header only when nothing was
quarantined, with its other outputs or not at all."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from geoconflict.cli.main import cli
from geoconflict.errors import OutputExistsError
from geoconflict.io import output_set, quarantine_path, write_quarantine

ZONES = Path(__file__).resolve().parent / "data" / "zones"
JOIN = Path(__file__).resolve().parent / "data" / "join"


def test_paths_beside_a_file_and_inside_a_folder(tmp_path: Path) -> None:
    assert quarantine_path(tmp_path / "cells.geojson") == tmp_path / "cells.quarantine.csv"
    assert quarantine_path(tmp_path / "cf", folder=True) == tmp_path / "cf" / "quarantine.csv"


def test_empty_quarantine_is_a_header_and_never_replaced_silently(tmp_path: Path) -> None:
    out = tmp_path / "x.geojson"
    q = write_quarantine(pd.DataFrame(), out)
    assert q.read_text(encoding="utf-8") == "reason\n"
    with pytest.raises(OutputExistsError):
        write_quarantine(pd.DataFrame({"reason": ["null_island"]}), out)
    with pytest.raises(RuntimeError), output_set(overwrite=True):  # all or none
        write_quarantine(pd.DataFrame({"reason": ["null_island"]}), out, overwrite=True)
        raise RuntimeError("a later output failed")
    assert q.read_text(encoding="utf-8") == "reason\n"


def test_grid_and_ceasefire_write_their_quarantine_always(cli_runner, tmp_path: Path) -> None:
    src = str(ZONES / "incidents.csv")
    res = cli_runner.invoke(cli, ["grid", src, "--cells", "hex:5km", "-o", str(tmp_path / "g.geojson")])
    assert res.exit_code == 0, res.output
    q = pd.read_csv(tmp_path / "g.quarantine.csv")
    assert list(q.columns)[:2] == ["event_id_cnty", "event_date"]  # the source's header
    assert list(q.columns)[-2:] == ["reason", "source_row"] and len(q) == 0
    res = cli_runner.invoke(cli, ["ceasefire", src, "--start", "2020-03-06T00:01", "--control",
                                  str(ZONES / "control.geojson"), "-o", str(tmp_path / "cf")])
    assert res.exit_code == 0, res.output
    q = pd.read_csv(tmp_path / "cf" / "quarantine.csv")
    assert list(q.columns)[-2:] == ["reason", "source_row"] and len(q) == 0
    assert not (tmp_path / "cf" / "ceasefire_quarantine.csv").exists()
