"""Restarts fitted in memory-sized batches (``fit(memory=)``; on a GPU, half its free memory).

The GPU itself is exercised by ``benchmarks/gpu_check.py`` on a lent machine; here the same
code path runs on the CPU with an explicit ``memory`` budget.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sigfactor.models import factorize, fit
from sigfactor.models._api import RESTART_COPIES, restart_batch, restart_bytes

CASES = [("nmf", "kl", {}), ("nmf", "kl", {"solver": "cd"}), ("nmf", "frobenius", {}), ("convex", "frobenius", {}),
         ("aenmf", "frobenius", {}), ("mvnmf", "kl", {})]


def _budget(V_shape, rank, itemsize, per_batch):
    """Memory that holds exactly ``per_batch`` restarts by the estimate."""
    return per_batch * restart_bytes(V_shape, rank, itemsize) + 1


@pytest.mark.parametrize("model,loss,extra", CASES)
def test_batches_change_nothing_but_rounding(breast21_counts, model, loss, extra):
    # Catches: a batch that restarts its seeds at 0 (every batch's restarts equal the first
    # batch's), a memory option that is ignored (one batch), traces or factors joined out of order,
    # and (coordinate descent) extrapolation state that depends on the other restarts of a batch.
    X = breast21_counts.astype(float)
    whole = factorize(X, 3, model=model, loss=loss, n_restarts=5, max_iter=120, seed=4, device="cpu",
                      dtype="float64", **extra)
    split = factorize(X, 3, model=model, loss=loss, n_restarts=5, max_iter=120, seed=4, device="cpu",
                      dtype="float64", memory=_budget((1, 96, 21), 3, 8, 2), **extra)
    assert split.settings["batches"] == [2, 2, 1]
    assert whole.settings["batches"] == [5]
    np.testing.assert_allclose(split.signatures.numpy(), whole.signatures.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(split.loss.numpy(), whole.loss.numpy(), rtol=1e-10)
    assert torch.equal(split.n_iter, whole.n_iter)
    assert split.loss_trace.shape == whole.loss_trace.shape
    np.testing.assert_allclose(split.loss_trace.numpy(), whole.loss_trace.numpy(), rtol=1e-10, equal_nan=True)
    assert list(split.seeds) == list(whole.seeds) == split.settings["restart_seeds"]
    for key in whole.factors:
        np.testing.assert_allclose(split.factors[key].numpy(), whole.factors[key].numpy(), atol=1e-10)
    # restarts differ from each other, so a batch reusing the first batch's seeds would show
    assert not np.allclose(split.signatures[0].numpy(), split.signatures[2].numpy())


def test_per_restart_catalogues_are_sliced_with_their_restarts():
    # Catches: every batch fitted on the first batch's catalogues (V[:size] instead of V[a:b]).
    rng = np.random.default_rng(0)
    V = torch.from_numpy(rng.poisson(30.0, size=(4, 12, 9)).astype(np.float64))
    whole = fit(V, 2, model="nmf", loss="kl", n_restarts=4, max_iter=60, seed=[7, 7, 7, 7])
    split = fit(V, 2, model="nmf", loss="kl", n_restarts=4, max_iter=60, seed=[7, 7, 7, 7],
                memory=_budget(V.shape, 2, 8, 1))
    assert split.settings["batches"] == [1, 1, 1, 1]
    np.testing.assert_allclose(split.signatures.numpy(), whole.signatures.numpy(), atol=1e-12)
    # same seed, different catalogues: results differ between restarts
    assert not np.allclose(split.signatures[0].numpy(), split.signatures[3].numpy())


def test_batch_size_from_the_estimate():
    # Hand-derived: 96 x 2,780 float32 at rank 25 is 10 copies of 1,067,520 bytes plus
    # 8 x (96 + 2,780) x 25 float64 values.
    per = restart_bytes((1, 96, 2780), 25, 4)
    assert per == RESTART_COPIES * 96 * 2780 * 4 + 8 * (96 + 2780) * 25 * 8
    assert restart_batch(100, per, None) == 100
    assert restart_batch(100, per, 10 * per) == 10
    assert restart_batch(100, per, 10 * per - 1) == 9
    assert restart_batch(100, per, 1) == 1            # at least one restart per batch
    assert restart_batch(3, per, 10 * per) == 3


def test_one_convergence_warning_for_all_batches(breast21_counts):
    # Catches: a warning per batch, each counting only its own restarts.
    from sigfactor.models import ConvergenceWarning

    with pytest.warns(ConvergenceWarning) as record:
        factorize(breast21_counts, 3, n_restarts=4, max_iter=5, tol=0.0, device="cpu",
                  memory=_budget((1, 96, 21), 3, 4, 1))
    messages = [str(w.message) for w in record if issubclass(w.category, ConvergenceWarning)]
    assert len(messages) == 1 and messages[0].startswith("4 of 4 restart")


@pytest.mark.parametrize("bad", [0, -5, 2.5])
def test_memory_must_be_a_positive_integer(breast21_counts, bad):
    with pytest.raises((ValueError, TypeError), match="memory"):
        factorize(breast21_counts, 3, n_restarts=2, max_iter=5, device="cpu", memory=bad)
