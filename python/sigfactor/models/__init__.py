"""The three models of Egendal et al. (2025), batched over restarts: one public entry point.

:func:`factorize` validates and labels; :func:`fit` runs a model on a tensor catalogue with a
leading batch dimension (used by extraction and model comparison, which batch resampled or
split catalogues). Both live in :mod:`._api`; the solvers in :mod:`.nmf`, :mod:`.convex` and
:mod:`.aenmf` (PyTorch) and :mod:`._kl_cpu` (KL NMF on the CPU, compiled). Names load on first
use, so code that needs only :mod:`._base` does not import PyTorch.
"""
from __future__ import annotations

from .._lazy import exports
from ._base import CONSTRAINTS, INITS, LOSSES, MODELS, ConvergenceWarning, signature_names

__all__ = ["factorize", "fit", "Factorization", "Solution", "ConvergenceWarning",
           "MODELS", "LOSSES", "CONSTRAINTS", "INITS", "signature_names"]

__getattr__, __dir__ = exports(__name__, {name: "._api" for name in (
    "factorize", "fit", "Factorization", "Solution", "MODEL_LOSSES", "DEFAULT_LR")})
