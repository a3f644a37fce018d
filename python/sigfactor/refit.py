"""Exposures for given signatures: batched non-negative least squares and KL (Poisson) refits.

Array functions take signatures ``(..., channels, k)`` and catalogues ``(..., channels, n)``
and return exposures ``(..., k, n)``; leading dimensions broadcast, so many catalogues (splits,
restarts) are refitted at once. :func:`refit` is the labelled public entry.

Refits run in float64 with numpy: their problems are k x n (a few signatures, the samples),
small next to the fits, and exact solutions need double precision. They run the same on every
device and need no PyTorch.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._validation import check_choice, check_counts

__all__ = ["nnls", "refit_kl", "kl_terms", "refit"]

_EPS = float(np.finfo(np.float64).eps)


def _exact_on_support(G: np.ndarray, B: np.ndarray, H: np.ndarray) -> np.ndarray:
    """Solve the normal equations restricted to each column's support ``H > 0``.

    Columns are independent problems: ``(G_PP) h_P = B_P`` with ``h`` zero off ``P``. Returns
    the solution for every column (callers keep it only where it is feasible and optimal).
    """
    P = np.swapaxes(H > 0, -1, -2).astype(G.dtype)[..., None]            # (..., n, k, 1)
    k = G.shape[-1]
    M = G[..., None, :, :] * P * np.swapaxes(P, -1, -2) + np.eye(k) * (1.0 - P)   # (..., n, k, k)
    rhs = np.swapaxes(B, -1, -2)[..., None] * P                           # (..., n, k, 1)
    sol = np.swapaxes(np.linalg.solve(M, rhs)[..., 0], -1, -2)            # (..., k, n)
    return sol * np.swapaxes(P[..., 0], -1, -2)


def nnls(S, Y, *, max_iter: int = 2000, tol: float = 1e-10) -> np.ndarray:
    """Non-negative least squares ``min_H ||Y - S H||_F, H >= 0``, batched, in float64.

    Coordinate descent on the normal equations (one sweep updates each of the ``k`` rows of
    ``H`` exactly, given the others) until the largest change is below ``tol`` times the largest
    entry, then an exact solve on each column's support, kept where it is feasible and meets
    the optimality (KKT) conditions. The result agrees with Lawson-Hanson
    (``scipy.optimize.nnls``) to solver precision.

    Parameters
    ----------
    S : array-like
        Signatures, ``(..., channels, k)``.
    Y : array-like
        Catalogues, ``(..., channels, n)``.

    Returns
    -------
    numpy.ndarray
        Exposures ``(..., k, n)``.
    """
    S = np.asarray(S, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    St = np.swapaxes(S, -1, -2)
    G = St @ S
    B = St @ Y
    k = G.shape[-1]
    diag = np.maximum(np.diagonal(G, axis1=-2, axis2=-1), _EPS)
    H = np.maximum(B / diag[..., None], 0.0) / k
    for _ in range(max_iter):
        change = 0.0
        for j in range(k):
            grad = B[..., j, :] - (G[..., j:j + 1, :] @ H)[..., 0, :]
            new = np.maximum(H[..., j, :] + grad / diag[..., j, None], 0.0)
            change = max(change, float(np.abs(new - H[..., j, :]).max()))
            H[..., j, :] = new
        if change <= tol * max(float(np.abs(H).max()), _EPS):
            break
    exact = _exact_on_support(G, B, H)
    grad = G @ exact - B                                # gradient of 1/2||Y - S H||^2
    scale = np.maximum(np.abs(B).max(axis=-2, keepdims=True), _EPS)
    optimal = ((exact >= 0) & ((exact > 0) | (grad >= -1e-6 * scale))).all(axis=-2, keepdims=True)
    return np.where(optimal, exact, H)


def kl_terms(Y: np.ndarray, Y_hat: np.ndarray) -> np.ndarray:
    """Entries of the generalized KL divergence ``Y log(Y / Y_hat) - Y + Y_hat`` (0 log 0 = 0),
    with ``Y_hat`` floored at machine epsilon; sum or average them as needed."""
    Y_hat = np.maximum(Y_hat, _EPS)
    positive = Y > 0
    return np.where(positive, Y * np.log(np.where(positive, Y, 1.0) / Y_hat), 0.0) - Y + Y_hat


def refit_kl(S, Y, *, max_iter: int = 5000, tol: float = 1e-8) -> np.ndarray:
    """Exposures minimising the generalized KL divergence (Poisson likelihood), batched, float64.

    Multiplicative updates of ``H`` with ``S`` fixed, started from the NNLS solution (floored
    so that every entry can move) and run until the relative change of the divergence is below
    ``tol``.
    """
    S = np.asarray(S, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    H = np.maximum(nnls(S, Y), _EPS) + _EPS
    denom = np.maximum(S.sum(axis=-2), _EPS)[..., None]
    St = np.swapaxes(S, -1, -2)

    def divergence(H_):
        return float(kl_terms(Y, S @ H_).sum())

    prev = divergence(H)
    for it in range(max_iter):
        H = H * (St @ (Y / np.maximum(S @ H, _EPS))) / denom
        if it % 10 == 9:
            cur = divergence(H)
            if abs(prev - cur) <= tol * max(abs(prev), _EPS):
                break
            prev = cur
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
