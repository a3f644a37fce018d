"""sigfactor: mutational signature extraction with NMF, convex NMF and AE-NMF on PyTorch."""
from __future__ import annotations

__version__ = "0.1.0"

from .models import ConvergenceWarning, Factorization, Solution, factorize  # noqa: E402

__all__ = ["__version__", "ConvergenceWarning", "Factorization", "Solution", "factorize"]
