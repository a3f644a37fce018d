"""Minimum-volume NMF: a KL or Frobenius fit plus a log-determinant volume penalty.

Minimises, for every restart,

.. math::

    F(W, H) = D(V \\mid W H) + \\lambda \\, \\log\\det(I + W^T W / \\delta)

subject to ``W >= 0`` with each column on the probability simplex (summing to 1) and
``H >= 0``. ``D`` is the per-entry mean generalized Kullback-Leibler divergence (Poisson,
beta = 1) or the per-entry mean squared error, as for :mod:`.nmf`. The penalty is
``log det(W^T W + delta I)`` of Leplat, Gillis & Ang (2020) less its floor ``k log delta``, so
both terms are non-negative (the constant changes neither the minimiser nor the updates, and
makes the relative-change stopping rule of :func:`._driver.iterate` meaningful).

Algorithm
---------
Block majorization-minimization as in Leplat, Gillis & Ang, "Blind audio source separation
with minimum-volume beta-divergence NMF", IEEE Trans. Signal Process. 68:3400-3410 (2020), and
Leplat, Ang & Gillis, "Minimum-volume rank-deficient NMF", ICASSP 2019 (written here from the
papers' derivation):

* ``H``: the standard multiplicative update of the loss (Lee & Seung; for KL,
  ``H <- H (W^T (V / W H)) / (W^T 1)``), which never increases ``D`` (the penalty does not
  involve ``H``).
* ``W``: the log-determinant is concave in ``W^T W``, so it lies below its tangent:
  ``logdet(Q) <= logdet(Q~) + <Y, Q - Q~>`` with ``Y = (W~^T W~ + delta I)^-1``, giving the
  convex quadratic ``tr(W Y W^T)``. Each quadratic term ``w M w^T`` of a row ``w`` of ``W``
  (``M = Y``, and for the Frobenius loss ``M = H H^T / (m n)``) is bounded above by the
  separable quadratic around ``W~`` with diagonal ``(W~ |M|) / W~`` (Lee & Seung's lemma
  gives ``diag((u |M|) / u) >= |M|`` for positive ``u``, and ``d^T M d <= |d|^T |M| |d|``), tangent
  at ``W~``. The KL data term is bounded by Jensen's inequality as in the multiplicative
  update. The result is a sum over entries of ``Q w^2 + L w`` (plus ``-a log w`` for KL) that
  has the objective's gradient at ``W~`` and, up to a constant, lies above it elsewhere.
* The surrogate is minimised exactly over the simplex: each column's entries solve a scalar
  stationarity condition given the column's Lagrange multiplier ``mu`` (for KL the positive
  root of ``2 Q w^2 + (L + mu) w - a = 0``; for Frobenius ``max(0, -(L + mu) / (2 Q))``), and
  ``mu`` is found by Newton's method on ``sum_i w_i(mu) = 1``. That sum is convex and
  decreasing in ``mu``, so Newton's method started where the sum is at most 1 overshoots once
  to the left of the root and then increases monotonically to it (quadratically for KL, in
  finitely many steps for Frobenius's piecewise-linear sum).

MuSiCal (Jin et al., Nat. Genet. 2024) uses this model to separate flat mutational
signatures. Each step never increases ``F`` (a test checks it on every restart for both losses,
and checks the surrogate's tangency against ``torch.autograd``). With ``lambda = 0`` the KL
``W`` step is the multiplicative update followed by dividing each column by its sum.

Regularisation weight
---------------------
Leplat et al.'s normalisation, per restart: ``lambda = mv_lambda * D(V | W0 H0) /
logdet(I + W0^T W0 / delta)``, where ``(W0, H0)`` is an unregularised start: NMF's start for
``init`` (the same draws as ``model='nmf'``; ``W0``'s columns scaled to sum to 1 and ``H0``'s
rows scaled back) after ``warmup`` updates with ``lambda = 0``. So ``mv_lambda`` is the ratio of
the penalty to the data term at a plain-NMF fit, whatever the scale of the counts. From the
random start itself (``warmup=0``) ``lambda`` comes out far too large: a random start fits
badly and its near-uniform columns have almost no volume (mean matched cosine 0.877 instead of
0.985 on the dense low-count sets below, 0.953 instead of 0.997 on the sparse ones, with
``bench_mvnmf.py --warmup 0``; 50, 200 or 1,000 warm-up updates give 0.981-0.985).
Each restart's ``lambda`` depends only on its own data and seed, so a restart rerun alone
(``seed=[seeds[i]]``) gets the same ``lambda``. The warm-up updates are not counted in
``n_iter`` or the loss trace, and ``max_iter`` caps the updates after them.

Defaults (``benchmarks/bench_mvnmf.py``): COSMIC SBS1 + SBS3 + SBS5 + SBS40a (three flat
signatures and a peaky one), 100 samples, Poisson counts, rank 4, KL, 8 restarts, 4 sets per
kind; mean / worst Hungarian-matched cosine of the best restart:

=============================  =============  =============  =============
method                         dense, 1,500   dense, 20,000  sparse, 3,000
=============================  =============  =============  =============
NMF                            0.976 / 0.926  0.986 / 0.956  0.992 / 0.982
mv_lambda 0.03, mv_delta 1     0.979 / 0.957  0.980 / 0.945  0.995 / 0.989
mv_lambda 0.1, mv_delta 1      0.985 / 0.976  0.983 / 0.965  0.997 / 0.994
mv_lambda 0.3, mv_delta 1      0.982 / 0.966  0.984 / 0.971  0.998 / 0.997
mv_lambda 0.1, mv_delta 0.01   0.971 / 0.922  0.981 / 0.945  0.999 / 0.998
=============================  =============  =============  =============

("dense": Dirichlet(2) exposures, every sample carries every signature; "sparse":
Dirichlet(0.5); the numbers are mutations per sample.) ``mv_delta = 1`` with ``mv_lambda =
0.1`` raises the worst match on every kind (on dense high-count data the mean falls by 0.003
while the worst rises by 0.009). A small ``delta`` makes the penalty the log-volume proper,
whose pull is strongest along the smallest singular direction of ``W``, the one that tells
similar flat signatures apart: it wins on sparse exposures but merges flat signatures on dense
ones. With ``delta >= 1`` and columns on the simplex (``W^T W`` has entries <= 1) the penalty
is close to ``sum_k ||w_k||^2 / delta``, which pulls every signature evenly towards the inside
of the simplex, undoing NMF's drift to over-sparse vertices; results change little for larger
``delta``. ``mv_lambda = 0.1`` is the smaller of the two best weights: 0.3 flattens the peaky
SBS1 more (its cosine 0.981 instead of 0.988 on the first dense set).
"""
from __future__ import annotations

import torch

from ._driver import LOSSES, RunResult, State, cache_chunk, iterate, tiny
from .nmf import frobenius_update, initialize as nmf_initialize

DEFAULT_LAMBDA = 0.1
"""Default ``mv_lambda``, the penalty-to-loss ratio at the unregularised start (module notes)."""
DEFAULT_DELTA = 1.0
"""Default ``mv_delta`` (module notes)."""
DEFAULT_WARMUP = 200
"""Default number of unregularised updates before ``lambda`` is set (module notes)."""
NEWTON_MAX_ITER = 50
"""Cap on Newton iterations for one column's multiplier (they usually stop after 3-8)."""


def log_volume(W: torch.Tensor, delta: float) -> torch.Tensor:
    """``logdet(I + W^T W / delta)`` per restart (``(R,)``), by a Cholesky factor in float64.

    Equals ``logdet(W^T W + delta I) - k log delta``; never negative.
    """
    W64 = W.double()
    k = W.shape[-1]
    G = W64.transpose(-1, -2) @ W64 / delta + torch.eye(k, dtype=torch.float64, device=W.device)
    chol = torch.linalg.cholesky(G)
    return (2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(dim=-1)).to(W.dtype)


def data_loss(V: torch.Tensor, W: torch.Tensor, H: torch.Tensor, loss: str) -> torch.Tensor:
    """Per-entry mean loss of ``V ~ W H`` per restart (:data:`._driver.LOSSES`)."""
    return LOSSES[loss](V, W @ H)


def objective(V: torch.Tensor, s: State, loss: str, delta: float) -> torch.Tensor:
    """``D(V | W H) + lambda logdet(I + W^T W / delta)`` per restart (state ``W``, ``H``, ``lam``)."""
    return data_loss(V, s["W"], s["H"], loss) + s["lam"] * log_volume(s["W"], delta)


def update_h(V: torch.Tensor, W: torch.Tensor, H: torch.Tensor, loss: str) -> torch.Tensor:
    """The multiplicative update of ``H`` for the loss (the penalty does not involve ``H``)."""
    if loss == "frobenius":
        return frobenius_update(H, W.transpose(-1, -2).contiguous(), V)
    eps = tiny(V.dtype)
    ratio = V / (W @ H).clamp_min(eps)
    return H * (W.transpose(-1, -2) @ ratio) / W.sum(dim=-2).unsqueeze(-1).clamp_min(eps)


def surrogate(V: torch.Tensor, W: torch.Tensor, H: torch.Tensor, lam: torch.Tensor, delta: float,
              loss: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Coefficients of the separable majorizer of ``F(., H)`` at ``W`` (the ``W~`` of the notes).

    Returns ``(Q, L, a)``, each ``(R, channels, k)``: up to a constant, the surrogate is
    ``sum(-a log(X) + Q X^2 + L X)`` over the entries of the new ``X`` (``a`` is None for the
    Frobenius loss, whose surrogate has no logarithm). It equals ``F(X, H)`` at ``X = W`` up to
    that constant, has the same gradient there, and lies above it for every ``X >= 0``.
    """
    m, n = V.shape[-2:]
    scale = 1.0 / (m * n)
    eps = tiny(W.dtype)
    U = W.clamp_min(eps)                     # the diagonal bound needs a positive point
    lam = lam.view(-1, 1, 1)
    W64 = W.double()
    k = W.shape[-1]
    Y = torch.linalg.inv(W64.transpose(-1, -2) @ W64 + delta * torch.eye(k, dtype=torch.float64,
                                                                          device=W.device))
    Y = Y.to(W.dtype)
    Q = lam * (U @ Y.abs()) / U
    grad = 2.0 * lam * (W @ Y)               # gradient of lam * logdet at W
    if loss == "frobenius":
        G = H @ H.transpose(-1, -2)
        Q = Q + scale * (U @ G) / U
        grad = grad + 2.0 * scale * (W @ G - V @ H.transpose(-1, -2))
        a = None
    else:
        ratio = V / (W @ H).clamp_min(eps)
        a = scale * W * (ratio @ H.transpose(-1, -2))
        grad = grad + scale * H.sum(dim=-1).unsqueeze(-2)   # the linear part of KL; -a log X is the rest
    Q = Q.clamp_min(eps)
    return Q, grad - 2.0 * Q * W, a


def _entries(Q, L, a, mu):
    """Minimiser of each entry's surrogate for multiplier ``mu`` (R, 1, k), and its derivative in ``mu``."""
    C = L + mu
    if a is None:
        w = (-C / (2.0 * Q)).clamp_min(0.0)
        dw = torch.where(C <= 0, -1.0 / (2.0 * Q), torch.zeros_like(C))
        return w, dw
    root = torch.sqrt(C * C + 8.0 * Q * a)
    eps = tiny(Q.dtype)
    w = torch.where(C >= 0, 2.0 * a / (C + root).clamp_min(eps), (root - C) / (4.0 * Q))
    return w, -w / root.clamp_min(eps)


def simplex_minimizer(Q: torch.Tensor, L: torch.Tensor, a: torch.Tensor | None) -> torch.Tensor:
    """Minimise the separable surrogate over ``W >= 0`` with columns summing to 1.

    Newton's method on each column's Lagrange multiplier ``mu`` (see the module notes), all
    restarts and columns at once, started at a ``mu`` where the column sum is at most 1; then
    each column is divided by its sum (a correction at rounding level).
    """
    eps = tiny(Q.dtype)
    mu = (-L).amax(dim=-2, keepdim=True)
    if a is not None:
        mu = mu + a.sum(dim=-2, keepdim=True)
    for _ in range(NEWTON_MAX_ITER):
        w, dw = _entries(Q, L, a, mu)
        g = w.sum(dim=-2, keepdim=True) - 1.0
        if float(g.abs().max()) <= 16 * eps:
            break
        mu = mu - g / dw.sum(dim=-2, keepdim=True).clamp_max(-eps)
    else:
        w, _ = _entries(Q, L, a, mu)
    return w / w.sum(dim=-2, keepdim=True).clamp_min(eps)


def make_step(loss: str, delta: float):
    """One update of ``H`` (multiplicative) then ``W`` (surrogate minimised on the simplex)."""

    def step(V: torch.Tensor, s: State) -> State:
        H = update_h(V, s["W"], s["H"], loss)
        W = simplex_minimizer(*surrogate(V, s["W"], H, s["lam"], delta, loss))
        return {"W": W, "H": H, "lam": s["lam"]}

    return step


def initialize(V: torch.Tensor, rank: int, gens, init: str, loss: str, mv_lambda: float,
               delta: float, warmup: int) -> State:
    """NMF's start for ``init`` (the same draws as ``model='nmf'``), ``W``'s columns scaled to
    sum to 1 (``H``'s rows scaled back, so ``W H`` is unchanged), ``warmup`` unregularised
    updates, and each restart's ``lambda`` by Leplat et al.'s normalisation (module notes)."""
    s = nmf_initialize(V, rank, gens, init)
    scale = s["W"].sum(dim=-2, keepdim=True).clamp_min(tiny(V.dtype))
    s = {"W": s["W"] / scale, "H": s["H"] * scale.transpose(-1, -2),
         "lam": torch.zeros(scale.shape[0], dtype=V.dtype, device=V.device)}
    step = make_step(loss, delta)
    for _ in range(warmup):
        s = step(V, s)
    W, H = s["W"], s["H"]
    lam = mv_lambda * data_loss(V, W, H, loss) / log_volume(W, delta).clamp_min(tiny(V.dtype))
    return {"W": W, "H": H, "lam": lam}


def fit_mvnmf(V, rank, gens, *, loss="kl", init="random", mv_lambda=DEFAULT_LAMBDA,
              mv_delta=DEFAULT_DELTA, warmup=DEFAULT_WARMUP, max_iter=10000, tol=1e-6, check_every=10,
              progress=None) -> RunResult:
    """Fit minimum-volume NMF to ``V`` (``(B, channels, samples)``, ``B`` 1 or the number of restarts).

    Parameters
    ----------
    V : torch.Tensor
        Catalogue(s), channels x samples, with a leading batch dimension.
    rank : int
    gens : Streams
        One random stream per restart (the start's draws).
    loss : {'kl', 'frobenius'}
    init : {'random', 'nndsvd'}
        NMF's starts (:func:`.nmf.initialize`).
    mv_lambda : float
        ``lambda~ >= 0``, the penalty's weight relative to the data term at the unregularised
        start (module notes); 0 fits NMF with ``W`` on the simplex.
    mv_delta : float
        ``delta > 0`` in ``logdet(W^T W + delta I)``.
    warmup : int
        Updates with ``lambda = 0`` before ``lambda`` is set (not counted in ``n_iter``).
    max_iter, tol, check_every, progress
        As in :func:`._driver.iterate`, for the updates after the warm-up; the loss checked is
        the penalised objective.

    Returns
    -------
    RunResult
        State ``W`` (R, channels, k) with columns summing to 1, ``H`` (R, k, samples) and
        ``lam`` (R,), each restart's ``lambda``; ``loss`` and ``trace`` hold the penalised
        objective.
    """
    state = initialize(V, rank, gens, init, loss, mv_lambda, mv_delta, warmup)
    return iterate(V, state, make_step(loss, mv_delta), lambda V_, s: objective(V_, s, loss, mv_delta),
                   max_iter=max_iter, tol=tol, check_every=check_every, progress=progress,
                   chunk_size=cache_chunk(V, len(gens)))
