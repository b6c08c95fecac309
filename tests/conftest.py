"""Shared fixtures: real reference data from ../shared/data (skipped cleanly when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"


#: clients that must be there (comma list of ``chromium``, ``qgis``, ``shared``): set by .ci/run, so
#: CI fails where a browser, QGIS or ../shared/data should be and a test could not use it
REQUIRED = {w.strip() for w in os.environ.get("GEOCONFLICT_REQUIRE", "").split(",") if w.strip()}


def unavailable(what: str, message: str) -> None:
    """Skip the test (a developer's machine without ``what``), or fail it when ``what`` is required."""
    if what in REQUIRED:
        pytest.fail(f"{message} (GEOCONFLICT_REQUIRE names {what!r}: it must be available here)")
    pytest.skip(message)


def shared_file(*parts: str) -> Path:
    """A file under ../shared/data, or skip the test with a message naming it."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        unavailable("shared", f"needs {path} (../shared/data is absent)")
    return path


@pytest.fixture
def ocha_adm3() -> Path:
    return shared_file("syria-cod", "syr_adm3_ocha_20201217.geojson")


@pytest.fixture
def ocha_adm2() -> Path:
    return shared_file("syria-cod", "syr_adm2_from_adm3.geojson")


@pytest.fixture
def ocha_adm1() -> Path:
    return shared_file("syria-cod", "syr_adm1_from_adm3.geojson")


@pytest.fixture
def ocha_places() -> Path:
    return shared_file("syria-cod", "syr_populated_places_ocha_20210113.csv")


@pytest.fixture
def ne_admin1() -> Path:
    return shared_file("naturalearth", "ne10m_admin1_syria_and_neighbours.geojson")


@pytest.fixture
def cli_runner():
    from click.testing import CliRunner

    return CliRunner()
