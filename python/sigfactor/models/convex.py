"""Convex NMF (Ding, Li & Jordan 2010): ``V ~ V W G^T`` with ``W, G >= 0``.

``V`` is channels x samples; ``W`` (samples x k) mixes sample profiles into signatures
``V W``; ``G`` (samples x k) holds the exposures. For non-negative data ``A = V^T V >= 0``, so
the paper's updates reduce to
``G <- G sqrt(A W / (G W^T A W))`` and ``W <- W sqrt(A G / (A W G^T G))``, which never increase
``||V - V W G^T||_F^2``. Everything is computed through the Gram matrix ``A``.
"""
from __future__ import annotations

import torch

from ._driver import RunResult, State, iterate, tiny, uniform


def random_init(V: torch.Tensor, rank: int, gens) -> State:
    """Uniform ``W`` and ``G`` with balanced scales and ``mean(V W G^T) = mean(V)``.

    ``V W`` is about ``c`` times the mean profile for ``W ~ U(0, 2c/n)``; ``G ~ U(0, 2/(c k))``
    then gives the right mean. ``c = sqrt(n / k)`` puts both factors on the same scale, which
    matters for AE-NMF's Adam steps and does no harm here.
    """
    n_restarts = len(gens)
    n = V.shape[-1]
    c = (n / rank) ** 0.5
    ones = torch.ones(n_restarts, dtype=torch.float64)
    W = uniform(gens, (n, rank), ones * 2.0 * c / n, like=V)
    G = uniform(gens, (n, rank), ones * 2.0 / (c * rank), like=V)
    return {"W": W, "G": G}


def gram(V: torch.Tensor) -> torch.Tensor:
    """``A = V^T V`` per batch member (samples x samples)."""
    return V.transpose(-1, -2) @ V


def objective(A: torch.Tensor, s: State, n_entries: int) -> torch.Tensor:
    """Per-entry squared error ``||V - V W G^T||_F^2 / (m n)`` from the Gram matrix."""
    W, G = s["W"], s["G"]
    AW = A @ W
    trace_A = A.diagonal(dim1=-2, dim2=-1).sum(-1)
    cross = (G * AW).sum(dim=(-2, -1))
    quad = ((W.transpose(-1, -2) @ AW) * (G.transpose(-1, -2) @ G)).sum(dim=(-2, -1))
    return (trace_A - 2.0 * cross + quad).clamp_min(0) / n_entries


def step(A: torch.Tensor, s: State) -> State:
    """One Ding-Li-Jordan update of ``G`` then ``W``."""
    W, G = s["W"], s["G"]
    eps = tiny(A.dtype)
    AW = A @ W
    G = G * torch.sqrt(AW / (G @ (W.transpose(-1, -2) @ AW)).clamp_min(eps))
    AG = A @ G
    W = W * torch.sqrt(AG / (AW @ (G.transpose(-1, -2) @ G)).clamp_min(eps))
    return {"W": W, "G": G}


def fit_convex(V, rank, gens, *, max_iter=10000, tol=1e-6, check_every=10, progress=None,
               state: State | None = None) -> RunResult:
    """Fit convex NMF to ``V`` (``(B, channels, samples)``).

    Returns the driver's :class:`RunResult` with state ``W`` and ``G`` (R, samples, k);
    signatures are ``V W``, exposures ``G``.
    """
    m, n = V.shape[-2:]
    A = gram(V)
    state = random_init(V, rank, gens) if state is None else state
    return iterate(A, state, step, lambda A_, s: objective(A_, s, m * n),
                   max_iter=max_iter, tol=tol, check_every=check_every, progress=progress)
