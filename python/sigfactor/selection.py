"""Choosing the number of signatures: SigProfilerExtractor's rule, stated and tested.

A rank is *stable* when its average stability (mean cosine silhouette of its consensus
clusters) is at least ``avg_min`` (0.8), its least stable signature at least ``min_min`` (0.2),
and the two together at least ``sum_min`` (1.0). Starting from the highest stable rank, the
rule steps down to the next lower stable rank as long as that rank's per-sample
reconstruction errors (relative L2 error of the refitted exposures, in %) are not
significantly worse than those of the highest stable rank: a one-sided reading of the
Wilcoxon rank-sum test, "worse" meaning ``p < alpha`` (0.05) *and* a larger median error. It
stops at the first lower rank that is significantly worse and keeps the rank above it. Like
SigProfilerExtractor, lower stable ranks whose average stability is below that of the highest
stable rank are skipped. When a p-value of the walk lies within a factor 2 of ``alpha``, the
reason says the choice is a close call and names the neighbouring rank. When no rank is stable, the lowest rank is chosen and the table says
so.

Differences from SigProfilerExtractor 1.1's code, which stops one rank early when the walk
reaches the lowest rank of the range and can wrap around the candidate list: here the walk
ends at the lowest stable candidate, which is chosen when no step was significantly worse.
"""
from __future__ import annotations

import math
from typing import Mapping, NamedTuple

import numpy as np
import pandas as pd

__all__ = ["Selection", "stable_ranks", "select_rank"]

AVG_MIN, MIN_MIN, SUM_MIN, ALPHA = 0.8, 0.2, 1.0, 0.05


def ranksums(x, y) -> float:
    """Two-sided p-value of the Wilcoxon rank-sum test, as :func:`scipy.stats.ranksums`.

    The normal approximation without a tie correction (SciPy's and SigProfilerExtractor's
    test): ``z = (R_x - n_x (n_x + n_y + 1) / 2) / sqrt(n_x n_y (n_x + n_y + 1) / 12)`` with
    ``R_x`` the sum of ``x``'s ranks in the pooled sample (ties get their average rank), and
    ``p = erfc(|z| / sqrt(2))``. Written out here because importing ``scipy.stats`` costs
    half a second of every run.
    """
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    pooled = np.concatenate([x, y])
    order = np.argsort(pooled, kind="mergesort")
    ranks = np.empty(pooled.size)
    ranks[order] = np.arange(1, pooled.size + 1)
    # Ties: every member of a run of equal values gets the run's mean rank.
    _, inverse, counts = np.unique(pooled, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]
    n1, n2 = x.size, y.size
    z = (ranks[:n1].sum() - n1 * (n1 + n2 + 1) / 2.0) / math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12.0)
    return math.erfc(abs(z) / math.sqrt(2.0))


class Selection(NamedTuple):
    """Result of :func:`select_rank`."""

    rank: int
    """The chosen rank."""
    table: pd.DataFrame
    """One row per rank: stabilities, ``stable``, ``considered``, ``p_value``, ``chosen``."""
    reason: str
    """One sentence saying how the rank was chosen."""


def stable_ranks(avg: pd.Series, minimum: pd.Series, *, avg_min: float = AVG_MIN,
                 min_min: float = MIN_MIN, sum_min: float = SUM_MIN) -> pd.Series:
    """Boolean Series (indexed by rank): which ranks pass the three stability thresholds."""
    return (avg >= avg_min) & (minimum >= min_min) & ((avg + minimum) >= sum_min)


def select_rank(avg_stability: pd.Series, min_stability: pd.Series,
                sample_errors: Mapping[int, np.ndarray], *, avg_min: float = AVG_MIN,
                min_min: float = MIN_MIN, sum_min: float = SUM_MIN, alpha: float = ALPHA) -> Selection:
    """Choose a rank by SigProfilerExtractor's stability and error rule (module docstring).

    Parameters
    ----------
    avg_stability, min_stability : pandas.Series
        Indexed by rank.
    sample_errors : mapping of int to array
        Per-sample reconstruction errors at each rank (same samples, same order).
    avg_min, min_min, sum_min, alpha : float
        Thresholds; the defaults are SigProfilerExtractor's.

    Returns
    -------
    Selection
    """
    ranks = pd.Index(sorted(int(r) for r in avg_stability.index), name="rank")
    avg = avg_stability.reindex(ranks).astype(float)
    minimum = min_stability.reindex(ranks).astype(float)
    stable = stable_ranks(avg, minimum, avg_min=avg_min, min_min=min_min, sum_min=sum_min)
    table = pd.DataFrame({"avg_stability": avg, "min_stability": minimum, "stable": stable,
                          "considered": False, "p_value": np.nan, "chosen": False}, index=ranks)
    if not stable.any():
        chosen = int(ranks[0])
        reason = (f"no rank met average stability >= {avg_min}, minimum >= {min_min} and sum >= {sum_min}; "
                  f"the lowest rank tried ({chosen}) is reported, which may be wrong.")
        table.loc[chosen, "chosen"] = True
        return Selection(chosen, table, reason)
    highest = int(ranks[stable.to_numpy()][-1])
    candidates = [int(r) for r in ranks[stable.to_numpy()]
                  if r == highest or avg[r] >= avg[highest]]
    table.loc[candidates, "considered"] = True
    reference = np.asarray(sample_errors[highest], dtype=float)
    chosen = highest
    reason = f"highest stable rank {highest}"
    for r in reversed(candidates[:-1]):
        current = np.asarray(sample_errors[r], dtype=float)
        p = ranksums(reference, current)
        table.loc[r, "p_value"] = p
        if p < alpha and np.median(current) > np.median(reference):
            reason += (f"; rank {r} fits significantly worse (Wilcoxon rank-sum p = {p:.2g}), "
                       f"so {chosen} is kept")
            break
        chosen = r
        reason += f"; rank {r} is not significantly worse (p = {p:.2g})"
    table.loc[chosen, "chosen"] = True
    reason += f"; chosen: {chosen}."
    close = [(int(r), float(p)) for r, p in table["p_value"].items() if alpha / 2 <= p <= 2 * alpha]
    if close:
        listed = ", ".join(f"rank {r} (p = {p:.2g})" for r, p in close)
        reason += (f" Close call: {listed} near alpha = {alpha}; another data set, seed or number of "
                   "restarts could tip the choice, so weigh the neighbouring rank too.")
    return Selection(chosen, table, reason)
