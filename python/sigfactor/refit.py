"""Exposures for given signatures: batched non-negative least squares and KL (Poisson) refits.

Array functions take signatures ``(..., channels, k)`` and catalogues ``(..., channels, n)``
and return exposures ``(..., k, n)``; leading dimensions broadcast, so many catalogues (splits,
restarts) are refitted at once. :func:`refit` is the labelled public entry.

Refits run in float64 on the CPU (scipy's NNLS; the Poisson refit in sigfactor's compiled
coordinate descent): their problems are k x n (a few signatures, the samples), small next to
the fits, and exact solutions need double precision. They run the same on every device and
need no PyTorch.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._validation import check_choice, check_counts

__all__ = ["nnls", "refit_kl", "kl_gradient", "kl_terms", "refit"]

_EPS = float(np.finfo(np.float64).eps)
_CHECK = 5
"""Sweeps of :func:`refit_kl`'s coordinate descent between checks of its stopping rule."""
_NEWTON_RTOL = 1e-14
"""A sample's Poisson fit is done when its Newton decrement is at most this fraction of its
divergence (:func:`_newton_finish`)."""
_NEWTON_BYTES = 64 * 2**20
"""Most memory the per-sample Hessians of one group of samples take in :func:`_newton_finish`
(``k x k`` float64 each: 64 MB is 20,000 samples at 20 signatures)."""


def nnls(S, Y) -> np.ndarray:
    """Non-negative least squares ``min_H ||Y - S H||_F, H >= 0``, batched, in float64.

    Every column of every catalogue is solved by :func:`scipy.optimize.nnls` (Lawson-Hanson
    active set), which reaches the optimum for any signatures: near-collinear or duplicated
    profiles and more signatures than channels included. About 20 us per sample at rank 15
    (2,780 samples in 0.05 s), so a loop over columns costs nothing next to the fits.

    Parameters
    ----------
    S : array-like
        Signatures, ``(..., channels, k)``.
    Y : array-like
        Catalogues, ``(..., channels, n)``; leading dimensions broadcast with ``S``'s.

    Returns
    -------
    numpy.ndarray
        Exposures ``(..., k, n)``.
    """
    from scipy.optimize import nnls as _scipy_nnls

    S = np.asarray(S, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    lead = np.broadcast_shapes(S.shape[:-2], Y.shape[:-2])
    S = np.broadcast_to(S, lead + S.shape[-2:])
    Y = np.broadcast_to(Y, lead + Y.shape[-2:])
    k, n = S.shape[-1], Y.shape[-1]
    H = np.zeros(lead + (k, n))
    maxiter = 50 * max(k, S.shape[-2]) + 100
    for idx in np.ndindex(*lead):
        A = np.ascontiguousarray(S[idx])
        for j in range(n):
            H[idx + (slice(None), j)] = _scipy_nnls(A, Y[idx + (slice(None), j)], maxiter=maxiter)[0]
    return H


def kl_terms(Y: np.ndarray, Y_hat: np.ndarray) -> np.ndarray:
    """Entries of the generalized KL divergence ``Y log(Y / Y_hat) - Y + Y_hat`` (0 log 0 = 0),
    with ``Y_hat`` floored at machine epsilon; sum or average them as needed."""
    Y_hat = np.maximum(Y_hat, _EPS)
    positive = Y > 0
    return np.where(positive, Y * np.log(np.where(positive, Y, 1.0) / Y_hat), 0.0) - Y + Y_hat


def kl_gradient(S: np.ndarray, Y: np.ndarray, H: np.ndarray) -> np.ndarray:
    """Gradient ``S^T (1 - Y / (S H))`` of the summed KL divergence in ``H`` (``(..., k, n)``).

    At the Poisson optimum it is ``>= 0`` everywhere and ``0`` wherever ``H > 0`` (KKT).
    """
    Y_hat = np.maximum(S @ H, _EPS)
    return np.swapaxes(S, -1, -2) @ (1.0 - Y / Y_hat)


def _kl_polish(s_mat: np.ndarray, y: np.ndarray, h: np.ndarray) -> np.ndarray:
    """One sample's Poisson fit by L-BFGS-B with bounds ``h >= 0``, from ``h``."""
    from scipy.optimize import minimize

    def objective(x):
        y_hat = np.maximum(s_mat @ x, _EPS)
        value = float(y_hat.sum() - y @ np.log(y_hat))
        return value, s_mat.T @ (1.0 - y / y_hat)

    res = minimize(objective, h, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * h.size,
                   options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 5000})
    return res.x if objective(res.x)[0] <= objective(h)[0] else h


def _newton_finish(S: np.ndarray, Y: np.ndarray, H: np.ndarray, *, rtol: float = _NEWTON_RTOL,
                   max_iter: int = 50) -> np.ndarray:
    """Projected Newton steps (after Bertsekas 1982, SIAM J. Control Optim.) on the Poisson fit
    of every sample, from ``H``.

    For each sample the exposures at 0 whose gradient is positive are held at 0; the others
    take the Newton step ``d = -B^{-1} g`` of the divergence restricted to them (``B``: the
    Hessian ``S^T diag(Y / (S H)^2) S``), projected onto ``H >= 0`` and halved until the
    divergence falls; a step that does not lower it is not taken, so no sample ends worse than
    it started. A sample is done when its Newton decrement ``-g . d`` is at most ``rtol``
    times its divergence, or when no step lowers it. Newton's step does not depend on how the
    exposures are scaled or mixed, so it crosses the long flat valley of two nearly collinear
    signatures in a few steps, where the gradient (what the KKT test reads) is too small to
    notice that the sweeps stopped short of the optimum. ``S`` ``(p, k)``, ``Y`` ``(p, n)``,
    ``H`` ``(k, n)``, float64; returns a new ``H``. The samples are taken in groups whose
    Hessians fill at most :data:`_NEWTON_BYTES`.
    """
    H = H.copy()
    pairs = (S[:, :, None] * S[:, None, :]).reshape(S.shape[0], -1)
    group = max(1, _NEWTON_BYTES // (8 * pairs.shape[1]))
    for a in range(0, Y.shape[1], group):
        _newton_steps(S, Y[:, a:a + group], H[:, a:a + group], pairs, rtol, max_iter)
    return H


def _newton_steps(S, Y, H, pairs, rtol, max_iter) -> None:
    """:func:`_newton_finish` on one group of samples, ``H`` updated in place."""
    k = S.shape[1]
    diagonal = np.arange(k)
    todo = np.arange(Y.shape[1])
    f = kl_terms(Y, S @ H).sum(axis=0)
    for _ in range(max_iter):
        if todo.size == 0:
            break
        h, y = H[:, todo], Y[:, todo]
        y_hat = np.maximum(S @ h, _EPS)
        ratio = y / y_hat
        g = S.T @ (1.0 - ratio)
        free = ((h > 0) | (g < 0)).T                                        # (m, k)
        B = ((ratio / y_hat).T @ pairs).reshape(-1, k, k)
        B = np.where(free[:, :, None] & free[:, None, :], B, 0.0)
        d_B = B[:, diagonal, diagonal]
        ridge = 1e-13 * np.maximum(d_B.max(axis=1, keepdims=True), _EPS)    # duplicated signatures
        B[:, diagonal, diagonal] = np.where(free, d_B + ridge, 1.0)
        d = np.linalg.solve(B, np.where(free, -g.T, 0.0)[:, :, None])[:, :, 0].T
        going = -(g * d).sum(axis=0) > rtol * f[todo]
        todo, h, d = todo[going], h[:, going], d[:, going]
        step = np.ones(todo.size)
        searching = np.ones(todo.size, dtype=bool)
        for _ in range(60):
            if not searching.any():
                break
            cols = np.flatnonzero(searching)
            trial = np.maximum(h[:, cols] + step[cols] * d[:, cols], 0.0)
            f_trial = kl_terms(Y[:, todo[cols]], S @ trial).sum(axis=0)
            better = f_trial < f[todo[cols]]
            H[:, todo[cols[better]]] = trial[:, better]
            f[todo[cols[better]]] = f_trial[better]
            searching[cols[better]] = False
            step[cols[~better]] /= 2
        todo = todo[~searching]                                             # no lower point: done


def refit_kl(S, Y, *, max_iter: int = 1000, tol: float = 1e-12, kkt_tol: float = 1e-6,
             newton: bool = True) -> np.ndarray:
    """Exposures minimising the generalized KL divergence (Poisson likelihood), batched, float64.

    Coordinate descent on ``H`` with ``S`` fixed (Hsieh and Dhillon 2011: each exposure in turn
    takes a bounded Newton step, :func:`sigfactor.models._kl_cpu.cd_sweeps`, the sweep that
    ``solver="cd"`` fits ``H`` with), started from the NNLS solution and run until the relative
    change of the divergence over five sweeps is at most ``tol``. Every sample then takes
    projected Newton steps (:func:`_newton_finish`) until its Newton decrement is at most
    1e-14 of its divergence. Every sample whose KKT conditions (:func:`kl_gradient`, divided
    by the signatures' column sums) are still violated by more than ``kkt_tol`` is then solved
    by L-BFGS-B with bounds (:func:`scipy.optimize.minimize`) from there.

    Measured (``benchmarks/bench_refit.py``: PCAWG's 2,780 genomes on the 5, 10 and 20 COSMIC
    signatures that carry most of their mutations; Intel Xeon, one thread): 0.14, 0.16 and
    0.68 s, against 2.6, 4.8 and 11.1 s for the refit of earlier versions (multiplicative
    updates of ``H``, up to 5,000, with the same L-BFGS-B finish) and 1.5, 2.8 and 5.9 s for
    scipy's L-BFGS-B sample by sample. No sample's divergence exceeds L-BFGS-B's by more than
    6.5e-15 (relative; 2.2e-10 without the Newton finish); the multiplicative updates left
    12, 28 and 65 samples more than 1e-9 above it (up to 8e-7). An exposure whose optimum is
    0 becomes exactly 0.

    Where two signatures are nearly collinear the optimum is at the end of a long flat valley,
    where the gradient is too small for the KKT test: with two signatures at cosine 0.9997
    (``tests/python/test_refit.py``'s ``_near_collinear``) the sweeps left two samples of 30
    2.6e-5 and 3.6e-5 (relative) above L-BFGS-B's optimum. The Newton finish brings every
    sample to within 3e-15 of it, there and at cosine 0.99999.

    Parameters
    ----------
    S : array-like
        Signatures, ``(..., channels, k)``.
    Y : array-like
        Catalogues, ``(..., channels, n)``; leading dimensions broadcast with ``S``'s.
    max_iter : int
        Most sweeps of coordinate descent per catalogue.
    tol : float
        Relative change of the divergence (summed over the catalogue) that ends the sweeps.
    kkt_tol : float
        Largest KKT violation left to the sweeps; ``numpy.inf`` skips the L-BFGS-B finish.
    newton : bool
        Finish every sample with projected Newton steps (:func:`_newton_finish`) before the
        KKT test; False leaves the sweeps' exposures to that test alone.

    Returns
    -------
    numpy.ndarray
        Exposures ``(..., k, n)``.
    """
    from .models._kl_cpu import cd_sweeps

    S = np.asarray(S, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    lead = np.broadcast_shapes(S.shape[:-2], Y.shape[:-2])
    S_b = np.broadcast_to(S, lead + S.shape[-2:])
    Y_b = np.broadcast_to(Y, lead + Y.shape[-2:])
    H = nnls(S_b, Y_b)
    for idx in np.ndindex(*lead):
        s_mat, y = S_b[idx], Y_b[idx]
        Ft, X, h = np.ascontiguousarray(s_mat.T), np.ascontiguousarray(y), np.ascontiguousarray(H[idx])
        prev = float(kl_terms(y, s_mat @ h).sum())
        done = 0
        while done < max_iter:
            sweeps = min(_CHECK, max_iter - done)
            cd_sweeps(Ft, X, h, sweeps, _EPS)
            done += sweeps
            cur = float(kl_terms(y, s_mat @ h).sum())
            if abs(prev - cur) <= tol * max(abs(prev), _EPS):
                break
            prev = cur
        H[idx] = _newton_finish(s_mat, y, h) if newton else h
    colsum = np.maximum(S.sum(axis=-2), _EPS)[..., None]
    G = kl_gradient(S, Y, H) / colsum
    scale = np.maximum(H.max(axis=-2, keepdims=True), 1.0)
    violation = np.maximum(-G, np.where(H > kkt_tol * scale, np.abs(G), 0.0)).max(axis=-2)   # (..., n)
    for idx in zip(*np.nonzero(np.broadcast_to(violation, lead + violation.shape[-1:]) > kkt_tol)):
        *batch, j = idx
        batch = tuple(batch)
        H[batch + (slice(None), j)] = _kl_polish(S_b[batch], Y_b[batch + (slice(None), j)],
                                                 H[batch + (slice(None), j)])
    return H


def refit(X, signatures: pd.DataFrame, *, loss: str = "frobenius") -> pd.DataFrame:
    """Exposures of each sample to the given signatures.

    Parameters
    ----------
    X : DataFrame, AnnData, Catalogue or path
        The catalogue (any layout :func:`sigfactor.read_catalogue` reads).
    signatures : pandas.DataFrame
        Channels x signatures, indexed by mutation-type labels; rows are matched to the
        catalogue's channels by label.
    loss : {'frobenius', 'kl'}
        NNLS or the Poisson (generalized KL) fit.

    Returns
    -------
    pandas.DataFrame
        Samples x signatures.
    """
    from .catalogue import as_catalogue
    from .reference import read_signatures

    check_choice("loss", loss, ("frobenius", "kl"))
    cat = as_catalogue(X, name="X")
    sigs = read_signatures(signatures)
    missing = [c for c in cat.channels if c not in sigs.index]
    if missing:
        raise ValueError(
            f"signatures lack {len(missing)} of the catalogue's channels, e.g. {missing[:3]}; "
            "expected a row for every mutation type of the catalogue."
        )
    counts = np.asarray(cat.counts, dtype=np.float64)
    check_counts("X", counts, sample_names=list(cat.samples), samples_axis=0)
    S = sigs.loc[list(cat.channels)].to_numpy(np.float64)
    H = nnls(S, counts.T) if loss == "frobenius" else refit_kl(S, counts.T)
    return pd.DataFrame(H.T, index=pd.Index(cat.samples), columns=sigs.columns)
