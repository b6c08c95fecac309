"""``geoconflict --help`` and ``--version`` answer without loading any command or the data stack."""

from __future__ import annotations

import json
import subprocess
import sys

from geoconflict.cli.main import COMMANDS

PROBE = """
import json, sys
from geoconflict.cli.main import cli
codes = []
for args in {calls!r}:
    sys.argv = ["geoconflict", *args]
    try:
        cli(obj={{}})
    except SystemExit as exc:
        codes.append(exc.code)
code = max(codes)
loaded = sorted(m for m in sys.modules
                if m in ("pandas", "geopandas", "numpy", "shapely", "pyogrio", "importlib.metadata")
                or m.startswith("geoconflict.cli.") and m not in ("geoconflict.cli.main",))
print(json.dumps({{"code": code, "loaded": loaded}}))
"""


def _probe(*calls: str | list[str]) -> tuple[str, dict]:
    argv = [[c] if isinstance(c, str) else c for c in calls]
    out = subprocess.run([sys.executable, "-c", PROBE.format(calls=argv)], capture_output=True, text=True,
                         check=True).stdout
    text, _, last = out.rstrip("\n").rpartition("\n")
    return text, json.loads(last)


def test_help_lists_every_command_without_importing_them():
    text, res = _probe("--help")
    assert res["code"] == 0
    for name, (_module, short) in COMMANDS.items():
        assert name in text
        assert short.split()[0] in text
    # click's own listing imported every command module (and pandas with them): 0.9 s, not 0.1 s
    assert res["loaded"] == [], res["loaded"]


def test_each_command_help_without_the_data_stack():
    """``geoconflict zones --help`` loads its command, not pandas or geopandas (0.6-0.9 s)."""
    text, res = _probe(*[[name, "--help"] for name in COMMANDS])
    assert res["code"] == 0
    assert text.count("Usage: geoconflict ") == len(COMMANDS)
    stack = [m for m in res["loaded"] if not m.startswith("geoconflict.")]
    assert stack == [], stack


def test_version_reads_the_installed_version_on_demand():
    import geoconflict

    text, res = _probe("--version")
    assert res["code"] == 0
    assert text.strip() == f"geoconflict, version {geoconflict.__version__}"
    assert "pandas" not in res["loaded"]


def test_a_command_still_loads_and_runs(cli_runner):
    from geoconflict.cli.main import cli

    res = cli_runner.invoke(cli, ["corridor", "--help"])
    assert res.exit_code == 0
    assert "--width" in res.output
