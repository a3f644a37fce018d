"""NMF's ``init="nndsvd"`` against scikit-learn's NNDSVD (``sklearn.decomposition._nmf._initialize_nmf``).

sigfactor's start is NNDSVD (Boutsidis & Gallopoulos 2008) whose zero entries are filled with
``U(0, mean(V) / 100)`` draws from each restart's stream (so restarts differ). Its
deterministic part must be scikit-learn's ``init="nndsvd"`` (and the entries scikit-learn's
``"nndsvdar"`` keeps), and its fill must be exactly those draws: ``torch.rand`` on a generator
seeded with the restart's seed, ``W``'s block first.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition._nmf import _initialize_nmf

from sigfactor.models import ConvergenceWarning, fit
from sigfactor.models._base import Streams
from sigfactor.models.nmf import initialize


@pytest.fixture(scope="module")
def counts():
    """96 channels x 12 samples: with at most k + 10 columns, scikit-learn's randomized SVD
    spans the whole column space and equals the exact SVD to rounding."""
    return np.random.default_rng(0).poisson(20.0, (96, 12)).astype(np.float64)


def _fill(seed: int, m: int, n: int, k: int, high: float) -> tuple[np.ndarray, np.ndarray]:
    """The documented fill of one restart: U(0, high) blocks for W (m x k) then H (k x n)."""
    g = torch.Generator().manual_seed(seed)
    W = torch.rand((m, k), generator=g, dtype=torch.float64) * high
    H = torch.rand((k, n), generator=g, dtype=torch.float64) * high
    return W.numpy(), H.numpy()


def _expected_start(X: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's NNDSVD with its zeros replaced by the restart's documented fill."""
    W, H = _initialize_nmf(X, k, init="nndsvd", random_state=0)
    fill_W, fill_H = _fill(seed, *X.shape, k, X.mean() / 100.0)
    return np.where(W > 0, W, fill_W), np.where(H > 0, H, fill_H)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_nndsvd_start_is_sklearns_with_the_documented_fill(counts, k):
    """Catches init='nndsvd' falling back to the random start, a wrong singular pair or sign
    choice, a missing sqrt of the singular value, and a fill that is not the restart's own
    U(0, mean/100) draws."""
    seeds = [5, 17]
    start = initialize(torch.tensor(counts)[None], k, Streams(seeds), "nndsvd")
    W_sk, H_sk = _initialize_nmf(counts, k, init="nndsvd", random_state=0)
    if k > 1:
        assert (W_sk == 0).any() and (H_sk == 0).any()          # the fill is exercised
    for r, seed in enumerate(seeds):
        W, H = _expected_start(counts, k, seed)
        np.testing.assert_allclose(start["W"][r].numpy(), W, rtol=1e-9, atol=0)
        np.testing.assert_allclose(start["H"][r].numpy(), H, rtol=1e-9, atol=0)


def test_nndsvd_keeps_the_entries_sklearns_nndsvdar_keeps(counts):
    """scikit-learn's nndsvdar fills the same zero set (with |N(0, 1)| mean/100 draws where
    sigfactor draws U(0, mean/100)); every other entry must agree with it."""
    k = 4
    W_ar, H_ar = _initialize_nmf(counts, k, init="nndsvdar", random_state=1)
    W_sk, H_sk = _initialize_nmf(counts, k, init="nndsvd", random_state=0)
    start = initialize(torch.tensor(counts)[None], k, Streams([9]), "nndsvd")
    W, H = start["W"][0].numpy(), start["H"][0].numpy()
    np.testing.assert_allclose(W[W_sk > 0], W_ar[W_sk > 0], rtol=1e-9)
    np.testing.assert_allclose(H[H_sk > 0], H_ar[H_sk > 0], rtol=1e-9)
    high = counts.mean() / 100.0
    assert (W[W_sk == 0] < high).all() and (H[H_sk == 0] < high).all()
    assert (W[W_sk == 0] > 0).all() and (H[H_sk == 0] > 0).all()


def test_nndsvd_on_a_real_catalogue_matches_sklearn_to_its_svd_accuracy():
    """On the 21 breast genomes (randomized SVD in scikit-learn, exact SVD here) the SVD part
    agrees to scikit-learn's approximation, about 1e-6."""
    from sigfactor import datasets

    X = datasets.breast21().counts.T.astype(np.float64)
    k = 4
    start = initialize(torch.tensor(X)[None], k, Streams([3]), "nndsvd")
    W, H = _expected_start(X, k, 3)
    np.testing.assert_allclose(start["W"][0].numpy(), W, rtol=1e-4)
    np.testing.assert_allclose(start["H"][0].numpy(), H, rtol=1e-4)


def test_fit_with_nndsvd_takes_its_first_step_from_sklearns_start(counts):
    """One Lee-Seung step written in numpy from scikit-learn's NNDSVD (plus the fill) equals
    fit(init='nndsvd', max_iter=1): catches fit ignoring init and a start built elsewhere
    than :func:`initialize`."""
    k, seed = 3, 21
    with pytest.warns(ConvergenceWarning):
        res = fit(torch.tensor(counts), k, n_restarts=1, seed=[seed], init="nndsvd", max_iter=1,
                  tol=0.0, check_every=1)
    W, H = _expected_start(counts, k, seed)
    H = H * (W.T @ counts) / (W.T @ W @ H)
    W = W * (counts @ H.T) / (W @ H @ H.T)
    np.testing.assert_allclose(res.factors["W"][0].numpy(), W, rtol=1e-9)
    np.testing.assert_allclose(res.factors["H"][0].numpy(), H, rtol=1e-9)
    assert res.settings["init"] == "nndsvd"
