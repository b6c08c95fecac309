"""The public surface: every name geoconflict re-exports resolves, and import stays light."""

from __future__ import annotations

import subprocess
import sys

import geoconflict


def test_every_public_name_resolves() -> None:
    for name in geoconflict.__all__:
        assert getattr(geoconflict, name) is not None, name


def test_errors_are_builtin_types() -> None:
    assert issubclass(geoconflict.InputError, ValueError)
    assert issubclass(geoconflict.CRSError, ValueError)
    assert issubclass(geoconflict.OutputExistsError, FileExistsError)
    assert issubclass(geoconflict.SchemaError, geoconflict.GeoconflictError)


def test_import_does_not_load_the_geospatial_stack() -> None:
    code = "import sys, geoconflict; print('geopandas' in sys.modules, 'folium' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
