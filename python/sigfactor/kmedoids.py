"""k-medoids clustering by PAM (Kaufman & Rousseeuw 1990) on a precomputed distance matrix.

Used to summarise many runs' signatures into consensus signatures, as Egendal et al. (2025)
did: the medoids are actual signatures of some run, the most central ones of their cluster.
Deterministic: BUILD picks the medoids greedily and SWAP takes the best improving exchange
until none is left; ties go to the lowest index.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._validation import check_int

__all__ = ["pam", "PAMResult"]


class PAMResult(NamedTuple):
    """Medoid indices (sorted), each point's cluster (index into ``medoids``), the total
    distance of points to their medoid, and the number of SWAP steps taken."""

    medoids: np.ndarray
    labels: np.ndarray
    cost: float
    n_swaps: int


def _check_distances(D) -> np.ndarray:
    D = np.asarray(D, dtype=np.float64)
    if D.ndim != 2 or D.shape[0] != D.shape[1] or D.shape[0] == 0:
        raise ValueError(f"D has shape {D.shape}; expected a non-empty square distance matrix.")
    if not np.isfinite(D).all() or (D < 0).any():
        raise ValueError("D holds negative or non-finite values; expected finite distances >= 0.")
    if not np.allclose(D, D.T, rtol=1e-10, atol=1e-12):
        raise ValueError("D is not symmetric; expected a symmetric distance matrix.")
    return D


def _build(D: np.ndarray, k: int) -> list[int]:
    """Greedy start: the most central point, then each point that lowers the cost most."""
    medoids = [int(np.argmin(D.sum(axis=0)))]
    nearest = D[:, medoids[0]].copy()
    for _ in range(1, k):
        gain = np.maximum(nearest[:, None] - D, 0.0).sum(axis=0)
        gain[medoids] = -np.inf
        best = int(np.argmax(gain))
        medoids.append(best)
        nearest = np.minimum(nearest, D[:, best])
    return medoids


def pam(D, k: int, *, max_swaps: int = 1000) -> PAMResult:
    """Partition points into ``k`` clusters around medoids, minimising total distance.

    Parameters
    ----------
    D : array-like
        ``n x n`` symmetric matrix of non-negative distances (e.g. ``1 - cosine``).
    k : int
        Number of clusters, ``1 <= k <= n``.
    max_swaps : int
        Upper bound on SWAP steps (each strictly lowers the cost, so PAM always stops; the
        bound only guards against pathological inputs).

    Returns
    -------
    PAMResult
        ``medoids`` (sorted indices into ``D``), ``labels`` (for each point the position of its
        medoid in ``medoids``), ``cost`` and ``n_swaps``.
    """
    D = _check_distances(D)
    n = D.shape[0]
    k = check_int("k", k, low=1, high=n)
    check_int("max_swaps", max_swaps, low=0)
    medoids = _build(D, k)
    n_swaps = 0
    cost = float(D[:, medoids].min(axis=1).sum())
    tol = 1e-12 * max(cost, 1.0)
    while n_swaps < max_swaps:
        best = (cost - tol, None, None)
        for i in range(k):
            others = [m for j, m in enumerate(medoids) if j != i]
            without = D[:, others].min(axis=1) if others else np.full(n, np.inf)
            candidate = np.minimum(without[:, None], D).sum(axis=0)
            candidate[medoids] = np.inf
            o = int(np.argmin(candidate))
            if candidate[o] < best[0]:
                best = (float(candidate[o]), i, o)
        if best[1] is None:
            break
        medoids[best[1]] = best[2]
        cost = best[0]
        n_swaps += 1
    medoids = np.array(sorted(medoids), dtype=np.int64)
    labels = np.argmin(D[:, medoids], axis=1)
    return PAMResult(medoids=medoids, labels=labels, cost=float(D[np.arange(n), medoids[labels]].sum()),
                     n_swaps=n_swaps)
