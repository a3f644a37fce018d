"""Run metadata recorded in every result."""
from __future__ import annotations

import platform


def versions() -> dict:
    """Versions of sigfactor and the libraries that shape its numbers, as strings."""
    import numpy
    import pandas
    import scipy
    import torch

    from . import __version__

    return {"sigfactor": str(__version__), "torch": str(torch.__version__), "numpy": str(numpy.__version__),
            "pandas": str(pandas.__version__), "scipy": str(scipy.__version__),
            "python": platform.python_version()}
