"""What extract fits: the catalogue floored at 1e-4 and normalised as SigProfilerExtractor does.

SigProfilerExtractor's ``pnmf`` floors every entry of the (resampled or raw) catalogue at 1e-4,
then normalises: ``gmm`` scales samples whose total exceeds the cutoff down to the cutoff, the
cutoff never below 100 x the number of channels (9,600 for SBS96); ``log2`` rescales every
sample to a total of ``log2(total)``; ``none`` leaves it. The matrix is built here by hand and
fitted directly with :func:`sigfactor.models.fit` from the seed extract uses at that rank
(:func:`sigfactor.extract.rank_seed`); extract's restarts must be those fits.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from sigfactor.extract import extract, rank_seed, resample_counts, resample_seed
from sigfactor.models import ConvergenceWarning, fit

SEED, RANK = 7, 2
ENGINE = dict(model="nmf", loss="kl", max_iter=60, dtype="float64", progress=False)


@pytest.fixture(scope="module")
def catalogue(cosmic_frame):
    """24 samples of 1,000-3,000 mutations and three hypermutated ones (20,000 to 200,000),
    channels x samples, with many zero entries (so the 1e-4 floor matters). The mixtures'
    bound lies far below 9,600, so the cutoff is SigProfilerExtractor's floor of 9,600."""
    rng = np.random.default_rng(2)
    S = cosmic_frame[["SBS1", "SBS3", "SBS13"]].to_numpy()
    totals = np.concatenate([rng.uniform(1000, 3000, 24), [20000, 50000, 200000]])
    weights = rng.dirichlet(np.full(3, 0.3), size=totals.size).T
    counts = rng.poisson(S @ weights * totals).astype(np.float64)
    assert (counts == 0).mean() > 0.1 and (counts.sum(axis=0) > 9600).sum() == 3
    return pd.DataFrame(counts, index=cosmic_frame.index, columns=[f"s{j:02d}" for j in range(totals.size)])


def _by_hand(V: np.ndarray, normalization: str) -> np.ndarray:
    """Floor at 1e-4, then SigProfilerExtractor's normalisation of ``(..., channels, samples)``."""
    V = np.maximum(V, 1e-4)
    totals = V.sum(axis=-2, keepdims=True)
    if normalization == "gmm":
        return np.where(totals > 9600, V / totals * 9600, V)
    if normalization == "log2":
        return V / totals * np.log2(totals)
    return V


def _direct(V: np.ndarray, n_restarts: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit(torch.tensor(V), RANK, model="nmf", loss="kl", n_restarts=n_restarts,
                   seed=rank_seed(SEED, RANK), max_iter=ENGINE["max_iter"])


def _extract(catalogue, normalization: str, resample: bool, n_restarts: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return extract(catalogue, ranks=[RANK], n_restarts=n_restarts, resample=resample,
                       normalization=normalization, seed=SEED, **ENGINE)


def _assert_same_columns(found: np.ndarray, expected: np.ndarray) -> None:
    """Equal up to the order of the columns (consensus may reorder a restart's signatures)."""
    rows, cols = linear_sum_assignment(-found.T @ expected)
    np.testing.assert_allclose(found[:, rows], expected[:, cols], rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("normalization", ["gmm", "log2", "none"])
def test_the_raw_catalogue_is_fitted_floored_and_normalised(catalogue, normalization):
    """resample=False, one restart: extract's restart is a direct fit of the hand-built
    matrix (same loss, same signatures). Catches extract ignoring ``normalization``, a cutoff
    capped at 100 x channels instead of floored there (it would scale the 2,000-mutation
    samples too), a missing or misplaced 1e-4 floor, and log2 of the wrong totals."""
    res = _extract(catalogue, normalization, resample=False, n_restarts=1)
    if normalization == "gmm":
        assert res.settings["normalization_cutoff"] == 9600
    direct = _direct(_by_hand(catalogue.to_numpy(), normalization), 1)
    sol = res.solutions[RANK]
    assert sol.restart_loss[0] == pytest.approx(float(direct.loss[0]), rel=1e-9)
    _assert_same_columns(sol.signatures.to_numpy(), direct.signatures[0].numpy())


def test_resampled_catalogues_are_floored_and_capped_with_the_real_totals_cutoff(catalogue):
    """resample=True: each restart fits its own multinomial resample (extract's resampling
    seed), floored and scaled to the 9,600 cutoff computed from the real totals."""
    n_restarts = 3
    res = _extract(catalogue, "gmm", resample=True, n_restarts=n_restarts)
    V = resample_counts(catalogue.to_numpy().T, n_restarts, np.random.default_rng(resample_seed(SEED)))
    direct = _direct(_by_hand(V, "gmm"), n_restarts)
    np.testing.assert_allclose(res.solutions[RANK].restart_loss, direct.loss.numpy(), rtol=1e-9)
