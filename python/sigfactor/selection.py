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

from typing import Mapping, NamedTuple

import numpy as np
import pandas as pd

__all__ = ["Selection", "stable_ranks", "select_rank"]

AVG_MIN, MIN_MIN, SUM_MIN, ALPHA = 0.8, 0.2, 1.0, 0.05
STABILITY_DECIMALS, ERROR_DECIMALS = 2, 3
"""SigProfilerExtractor rounds average and minimum stability to two decimals and per-sample
errors (L2 %) to three before its thresholds, candidate list and Wilcoxon test."""


def ranksums(x, y) -> float:
    """Two-sided p-value of the Wilcoxon rank-sum test (:func:`scipy.stats.ranksums`, the normal
    approximation without a tie correction, as SigProfilerExtractor uses it)."""
    from scipy.stats import ranksums as _ranksums

    return float(_ranksums(np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()).pvalue)


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
    # SigProfilerExtractor rounds both stabilities to two decimals before every comparison.
    avg = avg_stability.reindex(ranks).astype(float).round(STABILITY_DECIMALS)
    minimum = min_stability.reindex(ranks).astype(float).round(STABILITY_DECIMALS)
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
    def errors(r):      # per-sample L2 %, rounded as SigProfilerExtractor writes them
        return np.round(np.asarray(sample_errors[r], dtype=float), ERROR_DECIMALS)

    reference = errors(highest)
    chosen = highest
    reason = f"highest stable rank {highest}"
    for r in reversed(candidates[:-1]):
        current = errors(r)
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
