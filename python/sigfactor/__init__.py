"""sigfactor: mutational signature extraction with NMF, convex NMF and AE-NMF on PyTorch."""
from __future__ import annotations

__version__ = "0.1.0"

from . import channels, datasets, reference  # noqa: E402
from .catalogue import Catalogue, as_catalogue, read_catalogue, write_catalogue  # noqa: E402
from .models import ConvergenceWarning, Factorization, Solution, factorize  # noqa: E402
from .refit import refit  # noqa: E402
from .evaluate import compare_models  # noqa: E402
from .extract import ExtractionResult, extract  # noqa: E402

__all__ = [
    "__version__", "Catalogue", "ConvergenceWarning", "Factorization", "Solution", "as_catalogue",
    "ExtractionResult", "channels", "compare_models", "datasets", "extract", "factorize", "read_catalogue", "reference", "refit", "write_catalogue",
]
