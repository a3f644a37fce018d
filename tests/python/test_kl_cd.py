"""KL NMF by coordinate descent (``solver="cd"``): the kernels' and PyTorch's sweep against a
hand-written one, and what the solver must do as a fit."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import sigfactor
from sigfactor import datasets
from sigfactor.extract import resolve_reference
from sigfactor.matching import match_signatures
from sigfactor.models import _kl_cpu, nmf
from sigfactor.models._base import Streams, restart_seeds
from sigfactor.models._kl_cpu import Runs, fit_kl, kl_losses, kl_run

TOL = {"float32": 2e-4, "float64": 1e-9}


def reference_half(X, F, U, eps):
    """One sweep over ``U`` for ``X ~ F^T U``, written from Hsieh and Dhillon's description:
    column by column, entry by entry, each Newton step from ``W H`` computed afresh; no entry of
    ``W H`` with counts falls below 3/4 of itself in one step."""
    U = U.copy()
    for t in range(U.shape[1]):
        for c in range(U.shape[0]):
            P = np.maximum(F.T @ U[:, t], eps)
            g = F[c].sum() - F[c] @ (X[:, t] / P)
            h = (F[c] ** 2) @ (X[:, t] / P ** 2)
            new = U[c, t] - g / h if h > 0 else (0.0 if g > 0 else U[c, t])
            counted = X[:, t] > 0
            if counted.any() and (F[c, counted] > 0).any():
                new = max(new, U[c, t] - 0.25 / (F[c, counted] / P[counted]).max())
            U[c, t] = max(new, 0.0)
    return U


def reference_sweeps(V, W, H, sweeps, eps):
    for _ in range(sweeps):
        H = reference_half(V, W.T, H, eps)
        W = reference_half(V.T, H, W.T, eps).T
    return W, H


def cd_sweeps(V, W, H, sweeps, *, threads=2):
    """``sweeps`` kernel sweeps of every restart (tol 0: nothing stops early); ``V`` (B, m, n),
    ``W`` (R, m, k), ``H`` (R, k, n), numpy."""
    R = W.shape[0]
    cat = np.zeros(R, dtype=np.int64) if V.shape[0] == 1 else np.arange(R, dtype=np.int64)
    X, Xt = V.copy(), np.ascontiguousarray(V.transpose(0, 2, 1))
    Wt, H = np.array(W.transpose(0, 2, 1), order="C"), H.copy()
    eps = float(np.finfo(V.dtype).eps)
    runs = Runs(kl_losses(X, Xt, cat, Wt, H, eps, threads).astype(V.dtype), sweeps, sweeps)
    kl_run(X, Xt, cat, Wt, H, runs, eps=eps, tol=0.0, check_every=sweeps, max_iter=sweeps, max_checks=1,
           threads=threads, solver="cd")
    assert (runs.n_iter == sweeps).all()
    return Wt.transpose(0, 2, 1), H


def start(V: np.ndarray, rank: int, n_restarts: int, seed: int = 0):
    s = nmf.initialize(torch.from_numpy(V), rank, Streams(restart_seeds(seed, n_restarts)), "random")
    return s["W"].numpy(), s["H"].numpy()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rank", [1, 3, 9])
@pytest.mark.parametrize("tiles", [None, (3, 2)])
def test_cd_sweep_matches_a_hand_written_one(breast21_counts, dtype, rank, tiles, monkeypatch):
    """The kernels (with their default tiles and with tiles of 3 samples and 2 channels, which
    leave partial tiles at both edges) and :func:`nmf.kl_cd_step` against
    :func:`reference_half` in float64, 8 sweeps from the same start. Catches a wrong gradient,
    curvature or projection, ``W H`` not moved after a step (or moved by the wrong entry), a
    tile's edge lost, and ``H`` and ``W`` swapped."""
    if tiles is not None:
        monkeypatch.setattr(_kl_cpu, "CD_COLUMNS", tiles)
    V = np.ascontiguousarray(breast21_counts.T, dtype=dtype)[None]
    W0, H0 = start(V, rank, 2)
    W, H = cd_sweeps(V, W0, H0, 8)
    s = {"W": torch.from_numpy(W0), "H": torch.from_numpy(H0)}
    for _ in range(8):
        s = nmf.kl_cd_step(torch.from_numpy(V), s)
    eps = float(np.finfo(V.dtype).eps)
    for r in range(2):
        W_ref, H_ref = reference_sweeps(V[0].astype(np.float64), W0[r].astype(np.float64),
                                        H0[r].astype(np.float64), 8, eps)
        for got_W, got_H in ((W[r], H[r]), (s["W"][r].numpy(), s["H"][r].numpy())):
            np.testing.assert_allclose(got_W, W_ref, rtol=0, atol=TOL[dtype] * np.abs(W_ref).max())
            np.testing.assert_allclose(got_H, H_ref, rtol=0, atol=TOL[dtype] * np.abs(H_ref).max())


def test_cd_results_do_not_depend_on_tiles_or_threads(breast21_counts, monkeypatch):
    """Columns are independent, so how they are tiled and which thread runs a restart change
    no bit (float32, 60 sweeps)."""
    V = np.ascontiguousarray(breast21_counts.T, dtype=np.float32)[None]
    W0, H0 = start(V, 4, 5)
    first = cd_sweeps(V, W0, H0, 60, threads=1)
    monkeypatch.setattr(_kl_cpu, "CD_COLUMNS", (5, 7))
    for threads in (1, 3):
        W, H = cd_sweeps(V, W0, H0, 60, threads=threads)
        assert np.array_equal(W, first[0]) and np.array_equal(H, first[1])


def test_cd_sweeps_refuses_an_update_that_shares_memory_with_its_data():
    """The compiled sweep assumes that no two of its arrays overlap (``_NoAliasCompiler``), so
    :func:`_kl_cpu.cd_sweeps` must refuse ``U`` that is a view of ``X`` or of ``Ft`` rather
    than return whatever the compiler made of it. Catches the guard dropped."""
    X = np.arange(1.0, 13.0).reshape(3, 4)
    Ft = np.ones((2, 3))
    with pytest.raises(ValueError, match="U shares memory with X or Ft"):
        _kl_cpu.cd_sweeps(Ft, X, X[:2], 1, 1e-12)
    with pytest.raises(ValueError, match="U shares memory with X or Ft"):
        buf = np.ones(12)
        _kl_cpu.cd_sweeps(buf[:6].reshape(2, 3), X, buf[4:].reshape(2, 4), 1, 1e-12)
    U = np.ones((2, 4))
    _kl_cpu.cd_sweeps(Ft, X, U, 1, 1e-12)
    assert np.isfinite(U).all() and not np.array_equal(U, np.ones((2, 4)))


@pytest.mark.parametrize("rank", [2, 4, 6])
def test_cd_divergence_falls_at_every_check(breast21_counts, rank):
    """From the random starts every fit uses, the divergence falls from check to check on the
    breast genomes (a sweep with the gradient's sign flipped, or the curvature left out,
    raises it), and the restarts stop by the stopping rule."""
    V = np.ascontiguousarray(breast21_counts.T, dtype=np.float64)[None]
    W0, H0 = start(V, rank, 4, seed=rank)
    run = fit_kl(V, W0, H0, max_iter=10000, tol=1e-6, check_every=10, solver="cd")
    trace = run.trace[:, : int(run.trace_iter.size)]
    for row in trace:
        row = row[np.isfinite(row)]
        assert row.size > 3 and (np.diff(row) <= 1e-12 * row[0]).all(), row
    assert run.converged.all()


def test_cd_recovers_a_planted_factorization():
    """Counts drawn as the rounded product of 4 COSMIC signatures and sparse exposures (60
    samples, about 200 mutations per channel and sample): the best of 5 restarts of
    ``factorize(solver="cd")`` gives back every signature (cosine > 0.995) and the product to
    0.5 %."""
    cosmic = resolve_reference(None, "SBS96")
    names = ["SBS1", "SBS2", "SBS13", "SBS18"]
    S = cosmic[names].to_numpy(np.float64)
    rng = np.random.default_rng(5)
    E = rng.gamma(0.6, 8000.0, (4, 60)) * (rng.random((4, 60)) < 0.7)
    X = pd.DataFrame(np.round(S @ E), index=cosmic.index, columns=[f"S{j}" for j in range(60)])
    fit = sigfactor.factorize(X, 4, loss="kl", solver="cd", n_restarts=5, seed=1, max_iter=3000, dtype="float64")
    best = fit.best()
    cos = match_signatures(best.signatures, cosmic[names])
    assert (cos["cosine"] > 0.995).all(), cos
    rec = best.signatures.to_numpy() @ best.exposures.to_numpy().T
    assert np.linalg.norm(rec - S @ E) <= 5e-3 * np.linalg.norm(S @ E)
    assert fit.settings["solver"] == "cd"


def test_cd_meets_the_stopping_rule_in_fewer_iterations_than_mu(breast21_counts):
    """What the solver is for: on the breast genomes at rank 4 the restarts reach the default
    stopping rule in fewer sweeps than multiplicative updates take iterations, at divergences no
    higher (within 0.1 %). Catches ``solver`` ignored (the same iterations) and a sweep that
    updates only one factor (slower than the multiplicative update)."""
    V = np.ascontiguousarray(breast21_counts.T, dtype=np.float64)[None]
    W0, H0 = start(V, 4, 6, seed=11)
    mu = fit_kl(V, W0, H0, max_iter=10000, tol=1e-6, check_every=10)
    cd = fit_kl(V, W0, H0, max_iter=10000, tol=1e-6, check_every=10, solver="cd")
    assert np.median(cd.n_iter) * 2 < np.median(mu.n_iter), (cd.n_iter, mu.n_iter)
    assert cd.loss.min() <= mu.loss.min() * 1.001


@pytest.mark.parametrize("kwargs,message", [
    ({"solver": "newton"}, r"solver='newton' is not valid; expected one of 'mu', 'cd'"),
    ({"solver": "cd", "loss": "frobenius"}, r"solver='cd' applies to model='nmf' with loss='kl' only; leave it "
                                            r"as 'mu' for model='nmf', loss='frobenius'"),
    ({"solver": "cd", "model": "mvnmf"}, r"solver='cd' applies to model='nmf' with loss='kl' only"),
    ({"solver": "cd", "kl_exponent": 1.5}, r"solver='cd' takes no kl_exponent .*leave kl_exponent at 1, not 1.5"),
])
def test_bad_solver_is_refused_by_name(breast21_counts, kwargs, message):
    kw = {"loss": "kl", **kwargs}
    with pytest.raises(ValueError, match=message):
        sigfactor.factorize(breast21_counts, 2, n_restarts=2, max_iter=10, **kw)
    if kw.get("model", "nmf") == "nmf":
        with pytest.raises(ValueError, match=message):
            sigfactor.extract(datasets.breast21(), ranks=[2], n_restarts=2, max_iter=10, progress=False, **kw)


def test_gpu_path_through_the_driver_matches_the_kernels(breast21_counts):
    """What ``fit_nmf`` runs on a GPU (``nmf._fit_kl_torch``: :func:`nmf.kl_cd_step` in the
    driver, which drops restarts from the batch as they stop and extrapolates at every check),
    here on CPU tensors, against the kernels: the same iterations per restart and the same
    factors to rounding (float64, rank 3, default rule). Catches the driver's subsets
    mishandled by the step (a restart updated with another's catalogue or factors) and the GPU
    path left without the extrapolation."""
    V = np.ascontiguousarray(breast21_counts.T, dtype=np.float64)[None]
    V = np.concatenate([V, V[:, :, ::-1] * 2, V + 1, V])          # one catalogue per restart
    W0, H0 = start(V, 3, 4, seed=9)
    run = nmf._fit_kl_torch(torch.from_numpy(V), {"W": torch.from_numpy(W0), "H": torch.from_numpy(H0)},
                            max_iter=3000, tol=1e-6, check_every=10, progress=None, solver="cd")
    kernels = fit_kl(V, W0, H0, max_iter=3000, tol=1e-6, check_every=10, solver="cd")
    np.testing.assert_array_equal(run.n_iter.numpy(), kernels.n_iter)
    assert len(set(kernels.n_iter.tolist())) > 1                  # restarts stopped at different checks
    for got, want in ((run.state["W"].numpy(), kernels.W), (run.state["H"].numpy(), kernels.H)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-7 * np.abs(want).max())


def test_extrapolation_is_the_rule_written_out_by_hand(breast21_counts):
    """Coordinate descent tries an extrapolated point at every check after the first. Written
    out here from the rule (Ang and Gillis 2019, once per check): plain sweeps between checks
    (``extrapolate=False``), then ``max(U + beta (U - U_prev), 0)`` for ``W`` and ``H``, taken
    only if scipy's KL divergence there is lower; ``beta`` starts at 1/2, grows by 1.5 up to 8
    when taken, halves down to 1/4 when not. The kernels and the driver (the GPU path) must
    follow it to rounding over 12 checks in which points are both taken and refused. Catches a
    point taken whatever its loss, never taken, ``U_prev`` kept from an older check or taken
    after the jump, and ``beta``'s schedule changed."""
    from scipy.special import kl_div

    from sigfactor.models._driver import LOSSES, iterate

    V = np.ascontiguousarray(breast21_counts.T, dtype=np.float64)[None]
    eps = float(np.finfo(np.float64).eps)
    W0, H0 = start(V, 3, 2, seed=4)
    every, checks = 5, 12
    for r in range(2):
        W, H, beta, prev, taken = W0[r:r + 1], H0[r:r + 1], 0.5, None, []
        for _ in range(checks):
            plain = fit_kl(V, W, H, max_iter=every, tol=0.0, check_every=every, solver="cd", extrapolate=False)
            W, H = plain.W, plain.H
            if prev is not None:
                Wx, Hx = np.maximum(W + beta * (W - prev[0]), 0), np.maximum(H + beta * (H - prev[1]), 0)
                prev = (W, H)
                if kl_div(V[0], np.maximum(Wx[0] @ Hx[0], eps)).sum() < kl_div(V[0], np.maximum(W[0] @ H[0], eps)).sum():
                    W, H, beta = Wx, Hx, min(beta * 1.5, 8.0)
                    taken.append(True)
                else:
                    beta = max(beta * 0.5, 0.25)
                    taken.append(False)
            else:
                prev = (W, H)
        assert any(taken) and not all(taken), taken
        kernels = fit_kl(V, W0[r:r + 1], H0[r:r + 1], max_iter=every * checks, tol=0.0, check_every=every,
                         solver="cd")
        driver = iterate(torch.from_numpy(V), {"W": torch.from_numpy(W0[r:r + 1]), "H": torch.from_numpy(H0[r:r + 1])},
                         nmf.kl_cd_step, lambda V_, s: LOSSES["kl"](V_, s["W"] @ s["H"]), max_iter=every * checks,
                         tol=0.0, check_every=every, extrapolate_keys=("W", "H"))
        for got_W, got_H in ((kernels.W, kernels.H), (driver.state["W"].numpy(), driver.state["H"].numpy())):
            np.testing.assert_allclose(got_W, W, rtol=0, atol=1e-10 * np.abs(W).max())
            np.testing.assert_allclose(got_H, H, rtol=0, atol=1e-10 * np.abs(H).max())


def test_extrapolation_reaches_the_rule_in_fewer_sweeps_at_no_higher_loss(breast21_counts):
    """What the extrapolation is for: on the breast genomes at rank 5 (6 restarts, default
    rule) coordinate descent with it stops in well under two thirds of the sweeps it takes
    without, each restart at a divergence no higher (within 1e-5). Measured: 340-610 sweeps
    against 790-2,210, every divergence lower. Catches the extrapolated point never taken and
    a ``beta`` that does not grow."""
    V = np.ascontiguousarray(breast21_counts.T, dtype=np.float64)[None]
    W0, H0 = start(V, 5, 6, seed=5)
    plain = fit_kl(V, W0, H0, max_iter=10000, tol=1e-6, check_every=10, solver="cd", extrapolate=False)
    fast = fit_kl(V, W0, H0, max_iter=10000, tol=1e-6, check_every=10, solver="cd")
    assert np.median(fast.n_iter) < 0.6 * np.median(plain.n_iter), (fast.n_iter, plain.n_iter)
    assert (fast.loss <= plain.loss * (1 + 1e-5)).all(), (fast.loss, plain.loss)
    assert fast.converged.all()


def test_multiplicative_updates_are_not_extrapolated(breast21_counts):
    """The extrapolation's projection sets entries to 0, where a multiplicative update can never
    move them again, so ``solver="mu"`` runs without it: its fit is bitwise the fit with
    ``extrapolate=False`` and differs from the one with it. Catches the default applied to
    every solver."""
    V = np.ascontiguousarray(breast21_counts.T, dtype=np.float64)[None]
    W0, H0 = start(V, 4, 2, seed=6)
    kw = dict(max_iter=300, tol=0.0, check_every=10)
    with pytest.warns(sigfactor.ConvergenceWarning):
        mu, off, on = (fit_kl(V, W0, H0, extrapolate=ex, **kw) for ex in (None, False, True))
    assert np.array_equal(mu.W, off.W) and np.array_equal(mu.H, off.H)
    assert not np.allclose(mu.W, on.W)
