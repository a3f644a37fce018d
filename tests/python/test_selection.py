"""SigProfilerExtractor's rank rule: stability thresholds, then a Wilcoxon walk down."""
import numpy as np
import pytest
import pandas as pd

from sigfactor.selection import select_rank, stable_ranks


def _errors(medians, n=30, seed=0):
    rng = np.random.default_rng(seed)
    return {k: m + rng.normal(0, 1.0, n) for k, m in medians.items()}


def test_stability_thresholds():
    avg = pd.Series({1: 0.9, 2: 0.79, 3: 0.85, 4: 0.81})
    mn = pd.Series({1: 0.9, 2: 0.7, 3: 0.1, 4: 0.19})
    assert stable_ranks(avg, mn).tolist() == [True, False, False, False]
    assert stable_ranks(pd.Series({5: 0.8}), pd.Series({5: 0.2})).tolist() == [True]      # inclusive
    assert stable_ranks(pd.Series({5: 0.79}), pd.Series({5: 0.21})).tolist() == [False]   # sum 1.0 but avg low


def test_highest_stable_rank_kept_when_lower_ranks_fit_worse():
    avg = pd.Series({2: 0.99, 3: 0.95, 4: 0.9, 5: 0.5})
    mn = pd.Series({2: 0.98, 3: 0.9, 4: 0.85, 5: 0.1})
    sel = select_rank(avg, mn, _errors({2: 30, 3: 20, 4: 10, 5: 9}))
    assert sel.rank == 4
    assert sel.table.loc[3, "p_value"] < 0.05
    assert np.isnan(sel.table.loc[2, "p_value"])          # the walk stopped at 3
    assert sel.table["chosen"].sum() == 1 and sel.table.loc[4, "chosen"]
    assert not sel.table.loc[5, "stable"]


def test_walk_steps_down_while_not_significantly_worse():
    avg = pd.Series({2: 0.99, 3: 0.95, 4: 0.9})
    mn = pd.Series({2: 0.98, 3: 0.9, 4: 0.85})
    sel = select_rank(avg, mn, _errors({2: 30, 3: 10.1, 4: 10}))
    assert sel.rank == 3
    assert "rank 3 is not significantly worse" in sel.reason


def test_lower_rank_that_fits_better_does_not_stop_the_walk():
    avg = pd.Series({2: 0.99, 3: 0.95})
    mn = pd.Series({2: 0.98, 3: 0.9})
    sel = select_rank(avg, mn, _errors({2: 5, 3: 10}))
    assert sel.rank == 2


def test_lower_ranks_less_stable_than_the_highest_are_skipped():
    avg = pd.Series({2: 0.82, 3: 0.9})
    mn = pd.Series({2: 0.5, 3: 0.85})
    sel = select_rank(avg, mn, _errors({2: 10, 3: 10}))
    assert sel.rank == 3
    assert not sel.table.loc[2, "considered"]


def test_no_stable_rank_gives_the_lowest_and_says_so():
    avg = pd.Series({3: 0.5, 4: 0.4})
    mn = pd.Series({3: 0.1, 4: 0.0})
    sel = select_rank(avg, mn, _errors({3: 1, 4: 1}))
    assert sel.rank == 3
    assert "no rank met" in sel.reason


def test_close_call_is_reported():
    avg = pd.Series({3: 0.98, 4: 0.88})
    mn = pd.Series({3: 0.97, 4: 0.78})
    rng = np.random.default_rng(0)
    base = rng.normal(10, 3, 21)
    errors = {4: base, 3: base + 1.5}
    sel = select_rank(avg, mn, errors)
    p = sel.table.loc[3, "p_value"]
    assert 0.025 <= p <= 0.1
    assert "Close call" in sel.reason
    far = select_rank(avg, mn, {4: base, 3: base + 0.1})
    assert "Close call" not in far.reason


def test_stabilities_are_rounded_to_two_decimals_before_the_thresholds():
    """Catches thresholds on unrounded stabilities: SigProfilerExtractor rounds the average and
    minimum stability to two decimals, so 0.796 counts as 0.80 (stable) and 0.1951 as 0.20."""
    avg = pd.Series({2: 0.95, 3: 0.796, 4: 0.85})
    mn = pd.Series({2: 0.9, 3: 0.5, 4: 0.1951})
    errors = {k: np.full(20, 10.0) for k in avg.index}
    sel = select_rank(avg, mn, errors)
    assert sel.table["stable"].tolist() == [True, True, True]
    assert sel.rank == 2          # no rank fits worse, so the walk goes down to the lowest candidate


def test_errors_are_rounded_to_three_decimals_before_the_wilcoxon_test():
    """Catches a Wilcoxon test on unrounded L2 %: errors that differ only in the fourth decimal
    are equal as SigProfilerExtractor writes them (p = 1, so the lower rank is chosen), though
    every sample is worse at the lower rank unrounded (p < 1e-6 here)."""
    from scipy import stats

    high_tied = np.full(40, 12.0)
    low_tied = high_tied + np.linspace(1e-4, 4e-4, 40)
    assert stats.ranksums(high_tied, low_tied).pvalue < 1e-6
    avg = pd.Series({3: 0.95, 4: 0.9})
    mn = pd.Series({3: 0.9, 4: 0.85})
    sel = select_rank(avg, mn, {3: low_tied, 4: high_tied})
    assert sel.table.loc[3, "p_value"] == pytest.approx(1.0)
    assert sel.rank == 3
