"""Paths of the data files shipped inside the package (see data/PROVENANCE.md)."""
from __future__ import annotations

from importlib import resources
from pathlib import Path


def bundled_path(relative: str) -> Path:
    """Return the path of ``data/<relative>`` inside the installed package.

    Raises
    ------
    FileNotFoundError
        If the file is not in the package (an incomplete installation).
    """
    path = Path(str(resources.files("sigfactor").joinpath("data", *relative.split("/"))))
    if not path.is_file():
        raise FileNotFoundError(
            f"bundled data file '{relative}' is missing from {path.parent}; the sigfactor installation "
            "is incomplete (package data not installed). Reinstall sigfactor."
        )
    return path
