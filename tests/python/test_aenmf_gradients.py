"""AE-NMF against PyTorch's own machinery: closed-form gradients against ``torch.autograd``,
whole trajectories against ``torch.optim.Adam``, starts against ``torch.rand``.

sigfactor fits AE-NMF with hand-written gradients and a hand-written Adam so that restarts run
as one batch; the paper's code (Egendal et al., ``AENMF.py``) uses ``nn.Parameter``s, autograd
and ``torch.optim.Adam``. These tests rebuild the paper's training loop from PyTorch pieces and
require the same numbers, for both losses and all four non-negativity schemes.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from sigfactor.evaluate import PROTOCOLS, compare_models
from sigfactor.models import ConvergenceWarning, fit
from sigfactor.models.aenmf import gradients

LOSSES = ("frobenius", "kl")
CONSTRAINTS = ("fpabs", "fppg", "pg", "abs")


def forward_map(w: torch.Tensor, constraint: str) -> torch.Tensor:
    """The paper's forward pass: ReLU (fppg), |w| (fpabs), the raw weight otherwise."""
    if constraint == "fppg":
        return torch.relu(w)
    if constraint == "fpabs":
        return torch.abs(w)
    return w


def reference_loss(V: torch.Tensor, V_hat: torch.Tensor, loss: str) -> torch.Tensor:
    """Per-entry loss written from its definition: MSE (``nn.MSELoss``) or generalized KL."""
    if loss == "frobenius":
        return torch.nn.functional.mse_loss(V_hat, V)
    return (V * torch.log(V / V_hat) - V + V_hat).mean()


def _weights(rng: np.random.Generator, R: int, n: int, k: int, constraint: str):
    """Raw weights with both signs where the scheme maps them (fpabs, fppg), positive where the
    forward pass is the identity (pg, abs); one positive encoder column and decoder row keep
    every reconstructed entry positive, as KL needs."""
    low = -1.0 if constraint in ("fpabs", "fppg") else 0.05
    We = rng.uniform(low, 1.0, (R, n, k))
    Wd = rng.uniform(low, 1.0, (R, k, n))
    We[:, :, 0] = np.abs(We[:, :, 0]) + 0.05
    Wd[:, 0, :] = np.abs(Wd[:, 0, :]) + 0.05
    return torch.tensor(We), torch.tensor(Wd)


@pytest.mark.parametrize("loss, constraint", list(itertools.product(LOSSES, CONSTRAINTS)))
@pytest.mark.parametrize("shared", [True, False], ids=["one catalogue", "one per restart"])
def test_closed_form_gradients_equal_autograd(loss, constraint, shared):
    """Catches a gradient of the wrong loss (KL computing the Frobenius one), a missing chain
    rule through |w| or ReLU, and a transposed or mis-batched product (both batch layouts)."""
    rng = np.random.default_rng(3)
    R, m, n, k = 3, 6, 9, 2
    V = torch.tensor(rng.uniform(0.5, 5.0, (1 if shared else R, m, n)))
    We, Wd = _weights(rng, R, n, k, constraint)
    gWe, gWd = gradients(V, We, Wd, loss, constraint)

    We_ = We.clone().requires_grad_(True)
    Wd_ = Wd.clone().requires_grad_(True)
    V_hat = V @ forward_map(We_, constraint) @ forward_map(Wd_, constraint)
    assert bool((V_hat > 0).all())
    total = sum(reference_loss(V[0 if shared else r], V_hat[r], loss) for r in range(R))
    aWe, aWd = torch.autograd.grad(total, (We_, Wd_))
    torch.testing.assert_close(gWe, aWe, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(gWd, aWd, rtol=1e-10, atol=1e-14)


def _paper_loop(V: torch.Tensor, We0: torch.Tensor, Wd0: torch.Tensor, *, loss: str,
                constraint: str, lr: float, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's training loop (``train_AENMF_tol``) from PyTorch pieces: parameters, autograd,
    ``torch.optim.Adam``, then the after-step projection of pg (clamp) and abs (|w|)."""
    We = torch.nn.Parameter(We0.clone())
    Wd = torch.nn.Parameter(Wd0.clone())
    opt = torch.optim.Adam([We, Wd], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        reference_loss(V, V @ forward_map(We, constraint) @ forward_map(Wd, constraint), loss).backward()
        opt.step()
        with torch.no_grad():
            for p in (We, Wd):
                if constraint == "pg":
                    p.clamp_(min=0)
                elif constraint == "abs":
                    p.abs_()
    return We.detach(), Wd.detach()


def _torch_start(seed: int, n: int, k: int, init: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A restart's documented start from ``torch.rand`` on a generator seeded with its seed:
    encoder first; U(0, 1) for 'uniform', U(0, 1/sqrt(n)) and U(0, 1/sqrt(k)) for 'linear'."""
    g = torch.Generator().manual_seed(int(seed))
    We = torch.rand((n, k), generator=g, dtype=torch.float64)
    Wd = torch.rand((k, n), generator=g, dtype=torch.float64)
    if init == "linear":
        We, Wd = We * n ** -0.5, Wd * k ** -0.5
    return We, Wd


def _fit_steps(V, k, seeds, steps, **kwargs):
    with pytest.warns(ConvergenceWarning):
        return fit(V, k, model="aenmf", n_restarts=len(seeds), seed=seeds, max_iter=steps, tol=0.0,
                   check_every=1, **kwargs)


@pytest.mark.parametrize("loss, constraint", list(itertools.product(LOSSES, CONSTRAINTS)))
def test_trajectory_equals_torch_adam_from_the_papers_start(loss, constraint):
    """Six steps of sigfactor's batched AE-NMF equal the paper's loop run restart by restart
    from ``torch.rand``: catches a wrong gradient, Adam (moments, bias correction, epsilon), a
    projection applied or skipped, a start that is not U(0, 1) or not drawn from the restart's
    own seed, and restarts that leak into each other."""
    rng = np.random.default_rng(5)
    m, n, k, steps, lr = 6, 8, 2, 6, 0.05
    V = torch.tensor(rng.uniform(0.5, 5.0, (m, n)))
    seeds = [3, 11, 2024]
    res = _fit_steps(V, k, seeds, steps, loss=loss, constraint=constraint, init="uniform", lr=lr)
    assert res.settings["init"] == "uniform"
    for r, seed in enumerate(seeds):
        We, Wd = _paper_loop(V, *_torch_start(seed, n, k, "uniform"), loss=loss, constraint=constraint,
                             lr=lr, steps=steps)
        torch.testing.assert_close(res.factors["We"][r], We, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(res.factors["Wd"][r], Wd, rtol=1e-9, atol=1e-12)
        V_hat = V @ forward_map(We, constraint) @ forward_map(Wd, constraint)
        assert float(res.loss[r]) == pytest.approx(float(reference_loss(V, V_hat, loss)), rel=1e-9)


def test_linear_start_is_nn_linear_magnitudes_and_the_default():
    """init='linear' (the engine's default for AE-NMF) starts from U(0, 1/sqrt(n)) and
    U(0, 1/sqrt(k)): catches the two starts swapped or scaled alike."""
    rng = np.random.default_rng(6)
    m, n, k = 5, 7, 3
    V = torch.tensor(rng.uniform(0.5, 5.0, (m, n)))
    default = _fit_steps(V, k, [8, 9], 3, lr=0.01)
    linear = _fit_steps(V, k, [8, 9], 3, lr=0.01, init="linear")
    assert default.settings["init"] == "linear"
    for r, seed in enumerate([8, 9]):
        We, Wd = _paper_loop(V, *_torch_start(seed, n, k, "linear"), loss="frobenius", constraint="fpabs",
                             lr=0.01, steps=3)
        for res in (default, linear):
            torch.testing.assert_close(res.factors["We"][r], We, rtol=1e-9, atol=1e-12)
            torch.testing.assert_close(res.factors["Wd"][r], Wd, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("settings, init", [("paper", "uniform"), ("paper-linear", "linear")])
def test_paper_settings_start_aenmf_as_the_papers_code(settings, init):
    """compare_models(settings='paper') fits AE-NMF on each split's training samples from the
    paper's U(0, 1) start with Adam at lr 1e-4 ('paper-linear': from nn.Linear magnitudes):
    three steps of a run equal the paper's loop from torch.rand with the run's recorded seed.
    Catches the paper protocol starting AE-NMF from nn.Linear magnitudes (or any other start)
    or at another learning rate."""
    from sigfactor import datasets

    cat = datasets.breast21()
    assert PROTOCOLS[settings]["aenmf"]["init"] == init
    result = compare_models(cat, 2, models=["aenmf"], n_splits=2, seed=4, settings=settings, max_iter=3,
                            progress=False, dtype="float64")
    counts = cat.to_frame()                                       # channels x samples
    for split in range(2):
        train = result.splits.query("split == @split and set == 'train'")["sample"]
        V = torch.tensor(counts[list(train)].to_numpy(np.float64))
        seed = int(result.runs.query("split == @split")["seed"].iloc[0])
        We, Wd = _paper_loop(V, *_torch_start(seed, V.shape[1], 2, init), loss="frobenius",
                             constraint="fpabs", lr=1e-4, steps=3)
        S = (V @ We.abs()).numpy()
        S = S / S.sum(axis=0)
        found = result.signatures.sort_index().loc[("aenmf", split)].T.loc[counts.index].to_numpy()
        np.testing.assert_allclose(found, S, rtol=1e-9, atol=1e-15)
