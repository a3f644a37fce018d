"""Rank selection compares every lower rank with the highest stable rank (not with its
neighbour), and the per-sample statistics it reads are the textbook ones (scipy).

SigProfilerExtractor walks down from the highest stable rank and tests each lower stable rank's
per-sample L2 errors against the highest stable rank's with a Wilcoxon rank-sum test. A rule
that tested each rank against the next higher one picks other ranks on the two catalogues of
errors built here; both directions are covered.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import distance
from scipy.stats import entropy, pearsonr, ranksums

from sigfactor.extract import sample_statistics
from sigfactor.selection import ALPHA, select_rank

STABILITY = (pd.Series({2: 0.95, 3: 0.95, 4: 0.90, 5: 0.50}), pd.Series({2: 0.80, 3: 0.80, 4: 0.80, 5: 0.10}))
"""Ranks 2-4 stable (4 the highest; 2 and 3 at least as stable, so both are candidates), 5 not."""


def _errors(shift_3: float, shift_2: float) -> dict:
    """Per-sample L2 % of 40 samples, already rounded to three decimals: rank 4's, rank 3's
    shifted by ``shift_3`` and rank 2's by ``shift_2``; rank 5 fits best of all."""
    base = np.random.default_rng(0).normal(10.0, 1.0, 40)
    return {2: np.round(base + shift_2, 3), 3: np.round(base + shift_3, 3), 4: np.round(base, 3),
            5: np.round(base - 1.0, 3)}


def _p(a, b) -> float:
    return float(ranksums(a, b).pvalue)


def test_each_lower_rank_is_tested_against_the_highest_stable_rank():
    """Rank 3 is a little worse than 4, rank 2 a little worse than 3 but clearly worse than
    4. Against the highest stable rank the walk keeps 3 (a neighbour rule would go on to 2);
    every p-value in the table is scipy's rank-sum test of that rank against rank 4."""
    errors = _errors(shift_3=0.3, shift_2=0.6)
    assert _p(errors[4], errors[3]) > ALPHA                       # 3 vs 4: not significant
    assert _p(errors[3], errors[2]) > ALPHA                       # 2 vs 3: not significant
    assert _p(errors[4], errors[2]) < ALPHA                       # 2 vs 4: significant
    sel = select_rank(*STABILITY, errors)
    assert sel.rank == 3
    assert sel.table.loc[3, "p_value"] == pytest.approx(_p(errors[4], errors[3]), rel=1e-12)
    assert sel.table.loc[2, "p_value"] == pytest.approx(_p(errors[4], errors[2]), rel=1e-12)
    assert list(sel.table.index[sel.table["considered"]]) == [2, 3, 4]
    assert not sel.table.loc[5, "stable"]


def test_a_lower_rank_close_to_the_highest_is_chosen_even_if_its_neighbour_fits_better():
    """Rank 3 fits better than 4 and rank 2 a little worse than 4, clearly worse than 3:
    against rank 4 neither step is significant, so 2 is chosen (a neighbour rule stops at 3)."""
    errors = _errors(shift_3=-0.3, shift_2=0.3)
    assert _p(errors[4], errors[2]) > ALPHA
    assert _p(errors[3], errors[2]) < ALPHA
    sel = select_rank(*STABILITY, errors)
    assert sel.rank == 2
    assert sel.table.loc[2, "p_value"] == pytest.approx(_p(errors[4], errors[2]), rel=1e-12)


@pytest.fixture(scope="module")
def profiles():
    """Ten samples (some zero counts) and positive reconstructions, channels x samples."""
    rng = np.random.default_rng(4)
    X = rng.poisson(rng.gamma(0.6, 30.0, (96, 10))).astype(np.float64)
    X_hat = X * rng.uniform(0.5, 1.5, X.shape) + rng.uniform(0.01, 3.0, X.shape)
    assert (X == 0).any() and (X.sum(axis=0) > 0).all()
    return X, X_hat


def test_sample_statistics_columns_equal_scipy(profiles):
    """Each column against scipy on random data: catches a swapped KL direction, a KL of
    unnormalised profiles, an uncentred correlation, a relative error over the wrong norm
    and an error of the wrong sample."""
    X, X_hat = profiles
    names = [f"s{j}" for j in range(X.shape[1])]
    stats = sample_statistics(X, X_hat, names)
    assert list(stats.index) == names
    for j, name in enumerate(names):
        x, y = X[:, j], X_hat[:, j]
        row = stats.loc[name]
        assert row["Total Mutations"] == pytest.approx(x.sum(), rel=1e-12)
        assert row["Cosine Similarity"] == pytest.approx(1.0 - distance.cosine(x, y), rel=1e-12)
        assert row["L1 Norm"] == pytest.approx(distance.cityblock(x, y), rel=1e-12)
        assert row["L1_Norm_%"] == pytest.approx(100.0 * distance.cityblock(x, y) / np.abs(x).sum(), rel=1e-12)
        assert row["L2 Norm"] == pytest.approx(distance.euclidean(x, y), rel=1e-12)
        assert row["L2_Norm_%"] == pytest.approx(100.0 * distance.euclidean(x, y) / np.linalg.norm(x), rel=1e-12)
        assert row["KL Divergence"] == pytest.approx(entropy(x, y), rel=1e-10)
        assert row["Correlation"] == pytest.approx(pearsonr(x, y).statistic, rel=1e-10)
