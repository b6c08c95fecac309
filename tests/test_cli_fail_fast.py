"""A command that would replace an earlier run's quarantine file says so before it reads anything
(at 2.5 million rows the read and the join take a minute: the refusal must not come after them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from geoconflict.cli.main import cli

INCIDENTS = str(Path(__file__).resolve().parent / "data" / "zones" / "incidents.csv")


def _never_read(*args: object, **kwargs: object) -> None:
    raise AssertionError("the incidents were read before the stale quarantine was refused")


@pytest.mark.parametrize(
    ("args", "quarantine"),
    [
        (["join", INCIDENTS, "--areas", "{data}/areas.geojson", "-o", "{tmp}/joined.gpkg"], "joined.quarantine.csv"),
        (["grid", INCIDENTS, "--cells", "hex:5km", "-o", "{tmp}/hex.geojson"], "hex.quarantine.csv"),
        (["ceasefire", INCIDENTS, "--start", "2020-03-06T00:01", "-o", "{tmp}/cf"], "cf/quarantine.csv"),
    ],
    ids=["join", "grid", "ceasefire"],
)
def test_a_stale_quarantine_is_refused_before_reading(cli_runner, tmp_path: Path, monkeypatch, args, quarantine):
    data = Path(__file__).resolve().parent / "data" / "join"
    stale = tmp_path / quarantine
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("an earlier run's quarantine\n", encoding="utf-8")
    monkeypatch.setattr("geoconflict.incidents.read_incidents", _never_read)
    res = cli_runner.invoke(cli, [a.format(tmp=tmp_path, data=data) for a in args])
    assert res.exit_code == 2, res.output
    assert str(stale) in res.output and "--overwrite" in res.output
    assert "Traceback" not in res.output
    assert stale.read_text(encoding="utf-8") == "an earlier run's quarantine\n"  # untouched


def test_with_overwrite_the_run_replaces_it(cli_runner, tmp_path: Path) -> None:
    stale = tmp_path / "hex.quarantine.csv"
    stale.write_text("an earlier run's quarantine\n", encoding="utf-8")
    res = cli_runner.invoke(cli, ["grid", INCIDENTS, "--cells", "hex:5km", "-o", str(tmp_path / "hex.geojson"),
                                  "--overwrite"])
    assert res.exit_code == 0, res.output
    header = stale.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert "reason" in header  # this run's quarantine (its rows, or only the header)
