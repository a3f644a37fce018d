"""Convex NMF (Ding, Li & Jordan 2010): ``V ~ V W G^T`` with ``W, G >= 0``.

``V`` is channels x samples; ``W`` (samples x k) mixes sample profiles into signatures
``V W``; ``G`` (samples x k) holds the exposures. For non-negative data ``A = V^T V >= 0``, so
the paper's updates reduce to
``G <- G sqrt(A W / (G W^T A W))`` and ``W <- W sqrt(A G / (A W G^T G))``, which never increase
``||V - V W G^T||_F^2``. Products with ``A`` are formed as ``V^T (V W)`` (``2 m n k`` work
instead of ``n^2 k``), with the restarts folded into one matrix product.
"""
from __future__ import annotations

import torch

from ._driver import RunResult, State, iterate, shared_left, shared_right, tiny, uniform


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


def gram_times(V: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """``A W = V^T (V W)`` for every restart, without forming ``A``."""
    return shared_left(shared_right(V, W).transpose(-1, -2), V).transpose(-1, -2)


def objective(V: torch.Tensor, s: State) -> torch.Tensor:
    """Per-entry squared error ``||V - V W G^T||_F^2 / (m n)``, in float64 from k-wide products.

    ``||V||^2 - 2 <V^T V W, G> + <W^T V^T V W, G^T G>``: no channels x samples matrix per
    restart (which, allocated afresh at every check as the batch of unconverged restarts
    shrank, let the allocator's footprint grow to gigabytes). The terms nearly cancel at a
    good fit, so everything is in float64: in float32 this formula stopped runs early.
    """
    V64 = V.double()
    W, G = s["W"].double(), s["G"].double()
    VW = shared_right(V64, W)                               # (R, m, k): the signatures, unscaled
    cross = (shared_left(VW.transpose(-1, -2), V64) * G.transpose(-1, -2)).sum(dim=(-2, -1))
    quad = ((VW.transpose(-1, -2) @ VW) * (G.transpose(-1, -2) @ G)).sum(dim=(-2, -1))
    total = V64.pow(2).sum(dim=(-2, -1)) - 2.0 * cross + quad
    return (total.clamp_min(0) / (V.shape[-1] * V.shape[-2])).to(V.dtype)


def step(V: torch.Tensor, s: State) -> State:
    """One Ding-Li-Jordan update of ``G`` then ``W``."""
    W, G = s["W"], s["G"]
    eps = tiny(V.dtype)
    AW = gram_times(V, W)
    G = G * torch.sqrt(AW / (G @ (W.transpose(-1, -2) @ AW)).clamp_min(eps))
    AG = gram_times(V, G)
    W = W * torch.sqrt(AG / (AW @ (G.transpose(-1, -2) @ G)).clamp_min(eps))
    return {"W": W, "G": G}


def fit_convex(V, rank, gens, *, max_iter=10000, tol=1e-6, check_every=10, progress=None) -> RunResult:
    """Fit convex NMF to ``V`` (``(B, channels, samples)``).

    Returns the driver's :class:`RunResult` with state ``W`` and ``G`` (R, samples, k);
    signatures are ``V W``, exposures ``G``.
    """
    state = random_init(V, rank, gens)
    return iterate(V, state, step, objective,
                   max_iter=max_iter, tol=tol, check_every=check_every, progress=progress)
