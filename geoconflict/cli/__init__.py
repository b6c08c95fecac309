"""The ``geoconflict`` command: a thin layer over the library API."""
