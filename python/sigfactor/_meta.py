"""Run metadata recorded in every result."""
from __future__ import annotations

import platform

import numpy as np


def versions() -> dict:
    """Versions of sigfactor and the libraries that shape its numbers, as strings."""
    import numba
    import numpy
    import pandas
    import scipy
    import torch

    from . import __version__

    return {"sigfactor": str(__version__), "torch": str(torch.__version__), "numpy": str(numpy.__version__),
            "numba": str(numba.__version__),
            "pandas": str(pandas.__version__), "scipy": str(scipy.__version__),
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
