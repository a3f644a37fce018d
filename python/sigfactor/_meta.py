"""Run metadata recorded in every result."""
from __future__ import annotations

import platform
import sys
from importlib import metadata

import numpy as np

_LIBRARIES = ("torch", "numpy", "numba", "pandas", "scipy")


def _version(name: str) -> str:
    """A library's version, from the loaded module or else its installed metadata (recording
    a version must not import PyTorch into a run that does not use it)."""
    module = sys.modules.get(name)
    if module is not None and hasattr(module, "__version__"):
        return str(module.__version__)
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict:
    """Versions of sigfactor and the libraries that shape its numbers, as strings."""
    from . import __version__

    return {"sigfactor": str(__version__), **{name: _version(name) for name in _LIBRARIES},
            "python": platform.python_version()}


def plain(value, *, none=None):
    """A copy of run settings made of dicts, lists, strings, numbers and booleans only.

    For ``run.json`` (``none=None``, JSON's null) and for ``.h5ad`` ``uns`` (``none="None"``:
    HDF5 has no null). Tuples become lists, numpy scalars Python ones, anything else its string.
    """
    if isinstance(value, dict):
        return {str(k): plain(v, none=none) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, none=none) for v in value]
    if value is None:
        return none
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
