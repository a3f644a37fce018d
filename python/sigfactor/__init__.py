"""sigfactor: mutational signature extraction with NMF, convex NMF and AE-NMF on PyTorch.

The names that need PyTorch (:func:`factorize`, :func:`compare_models` and their results)
load on first use (:mod:`sigfactor._lazy`), so extraction with KL NMF on the CPU, refits and
format conversion run without importing PyTorch (about a second of start-up).
"""
from __future__ import annotations

__version__ = "0.1.0"

from . import channels, datasets, reference  # noqa: E402
from ._lazy import exports  # noqa: E402
from .catalogue import Catalogue, as_catalogue, read_catalogue, write_catalogue  # noqa: E402
from .extract import ExtractionResult, extract  # noqa: E402
from .models import ConvergenceWarning  # noqa: E402
from .refit import refit  # noqa: E402

__all__ = [
    "__version__", "Catalogue", "ConvergenceWarning", "Factorization", "Solution", "as_catalogue",
    "ExtractionResult", "channels", "compare_models", "datasets", "extract", "factorize", "read_catalogue",
    "reference", "refit", "write_catalogue",
]

__getattr__, __dir__ = exports(__name__, {
    "Factorization": ".models", "Solution": ".models", "factorize": ".models", "compare_models": ".evaluate",
})
