"""Exposures for given signatures: batched non-negative least squares and KL (Poisson) refits.

Tensor functions take signatures ``(..., channels, k)`` and catalogues ``(..., channels, n)``
and return exposures ``(..., k, n)``; leading dimensions broadcast, so many catalogues (splits,
restarts) are refitted at once. :func:`refit` is the labelled public entry.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ._validation import check_choice, check_counts, resolve_device, resolve_dtype
from .models._driver import tiny

__all__ = ["nnls", "refit_kl", "refit"]


def _exact_on_support(G: torch.Tensor, B: torch.Tensor, H: torch.Tensor) -> torch.Tensor:
    """Solve the normal equations restricted to each column's support ``H > 0``.

    Columns are independent problems: ``(G_PP) h_P = B_P`` with ``h`` zero off ``P``. Returns
    the solution for every column (callers keep it only where it is feasible and optimal).
    """
    P = (H > 0).to(G.dtype).transpose(-1, -2).unsqueeze(-1)            # (..., n, k, 1)
    Gb = G.unsqueeze(-3)                                                  # (..., 1, k, k)
    M = Gb * P * P.transpose(-1, -2) + torch.diag_embed(1.0 - P.squeeze(-1))
    rhs = B.transpose(-1, -2).unsqueeze(-1) * P                           # (..., n, k, 1)
    sol = torch.linalg.solve(M, rhs).squeeze(-1).transpose(-1, -2)      # (..., k, n)
    return sol * P.squeeze(-1).transpose(-1, -2)


def nnls(S: torch.Tensor, Y: torch.Tensor, *, max_iter: int = 2000, tol: float | None = None) -> torch.Tensor:
    """Non-negative least squares ``min_H ||Y - S H||_F, H >= 0``, batched.

    Coordinate descent on the normal equations (one sweep updates each of the ``k`` rows of
    ``H`` exactly, given the others) until the largest change is below ``tol`` times the largest
    entry, then an exact solve on each column's support, kept where it is feasible and meets
    the optimality (KKT) conditions. The result agrees with Lawson-Hanson
    (``scipy.optimize.nnls``) to solver precision.

    Parameters
    ----------
    S : torch.Tensor
        Signatures, ``(..., channels, k)``.
    Y : torch.Tensor
        Catalogues, ``(..., channels, n)``, same dtype and device.

    Returns
    -------
    torch.Tensor
        Exposures ``(..., k, n)``.
    """
    if tol is None:
        tol = 1e-10 if S.dtype == torch.float64 else 1e-6
    St = S.transpose(-1, -2)
    G = St @ S
    B = St @ Y
    k = G.shape[-1]
    diag = G.diagonal(dim1=-2, dim2=-1).clamp_min(tiny(G.dtype))
    H = (B / diag.unsqueeze(-1)).clamp_min(0) / k
    for _ in range(max_iter):
        change = torch.zeros((), dtype=G.dtype, device=G.device)
        for j in range(k):
            grad = B[..., j, :] - (G[..., j, :].unsqueeze(-2) @ H).squeeze(-2)
            new = (H[..., j, :] + grad / diag[..., j].unsqueeze(-1)).clamp_min(0)
            change = torch.maximum(change, (new - H[..., j, :]).abs().max())
            H[..., j, :] = new
        if change <= tol * H.abs().max().clamp_min(tiny(G.dtype)):
            break
    exact = _exact_on_support(G, B, H)
    grad = G @ exact - B                                # gradient of 1/2||Y - S H||^2
    scale = B.abs().amax(dim=-2, keepdim=True).clamp_min(tiny(G.dtype))
    slack = 1e-6 if G.dtype == torch.float64 else 1e-3
    optimal = ((exact >= 0) & ((exact > 0) | (grad >= -slack * scale))).all(dim=-2, keepdim=True)
    return torch.where(optimal, exact, H)


def refit_kl(S: torch.Tensor, Y: torch.Tensor, *, max_iter: int = 5000, tol: float = 1e-8) -> torch.Tensor:
    """Exposures minimising the generalized KL divergence (Poisson likelihood), batched.

    Multiplicative updates of ``H`` with ``S`` fixed, started from the NNLS solution (floored
    so that every entry can move) and run until the relative change of the divergence is below
    ``tol``.
    """
    eps = tiny(S.dtype)
    H = nnls(S, Y).clamp_min(eps) + eps
    denom = S.sum(dim=-2).unsqueeze(-1).clamp_min(eps)
    St = S.transpose(-1, -2)

    def divergence(H_):
        Y_hat = (S @ H_).clamp_min(eps)
        return (torch.where(Y > 0, Y * torch.log(Y.clamp_min(eps) / Y_hat), torch.zeros_like(Y_hat)) - Y + Y_hat).sum()

    prev = divergence(H)
    for it in range(max_iter):
        H = H * (St @ (Y / (S @ H).clamp_min(eps))) / denom
        if it % 10 == 9:
            cur = divergence(H)
            if (prev - cur).abs() <= tol * prev.abs().clamp_min(eps):
                break
            prev = cur
    return H


def refit(X, signatures: pd.DataFrame, *, loss: str = "frobenius", device="auto",
          dtype="float64") -> pd.DataFrame:
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
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    S = torch.as_tensor(sigs.loc[list(cat.channels)].to_numpy(np.float64), dtype=dt, device=dev)
    Y = torch.as_tensor(counts.T.copy(), dtype=dt, device=dev)
    H = nnls(S, Y) if loss == "frobenius" else refit_kl(S, Y)
    return pd.DataFrame(H.T.cpu().numpy().astype(np.float64), index=pd.Index(cat.samples),
                        columns=sigs.columns)
