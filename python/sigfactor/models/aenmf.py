"""AE-NMF: the linear autoencoder of Egendal et al. (2025) with non-negative weights.

The batch axis is the 96 contexts: ``V_hat = V f(W_enc) f(W_dec)`` with ``V`` channels x
samples, ``W_enc`` samples x k and ``W_dec`` k x samples. Signatures are ``V f(W_enc)``, convex
combinations of sample profiles, and exposures ``f(W_dec)``: the model is convex NMF, fitted by
gradient descent (Adam) instead of multiplicative updates.

Non-negativity schemes (``constraint``):

``pg``     projected gradient: weights clamped at zero after each optimiser step, ``f`` = identity;
``abs``    absolute value of the weights after each optimiser step, ``f`` = identity;
``fppg``   ReLU in the forward pass, ``f(w) = max(w, 0)``;
``fpabs``  absolute value in the forward pass, ``f(w) = |w|`` (the paper's choice).

Gradients are computed in closed form, so each restart's update depends on its own data alone.
"""
from __future__ import annotations

import torch

from ._driver import (
    LOSSES, RunResult, State, cache_chunk, iterate, shared_left, shared_right, tiny, uniform,
)

BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


def activation(w: torch.Tensor, constraint: str) -> torch.Tensor:
    """The forward-pass map ``f`` of a constraint."""
    if constraint == "fpabs":
        return w.abs()
    if constraint == "fppg":
        return w.clamp_min(0)
    return w


def activation_grad(w: torch.Tensor, grad: torch.Tensor, constraint: str) -> torch.Tensor:
    """Chain rule through ``f``: the gradient with respect to the raw weights."""
    if constraint == "fpabs":
        return grad * torch.sign(w)
    if constraint == "fppg":
        return grad * (w > 0).to(grad.dtype)
    return grad


def project(w: torch.Tensor, constraint: str) -> torch.Tensor:
    """The after-step projection of ``pg`` and ``abs``; identity for the forward-pass schemes."""
    if constraint == "pg":
        return w.clamp_min(0)
    if constraint == "abs":
        return w.abs()
    return w


def reconstruct(V: torch.Tensor, s: State, constraint: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Signatures ``P = V f(W_enc)`` and the reconstruction ``P f(W_dec)``."""
    P = shared_right(V, activation(s["We"], constraint))
    return P, P @ activation(s["Wd"], constraint)


def loss_gradient(V: torch.Tensor, V_hat: torch.Tensor, loss: str) -> torch.Tensor:
    """d(per-entry loss)/d(V_hat)."""
    n_entries = V.shape[-1] * V.shape[-2]
    if loss == "frobenius":
        return 2.0 * (V_hat - V) / n_entries
    return (1.0 - V / V_hat.clamp_min(tiny(V.dtype))) / n_entries


def adam(w, g, m, v, t, lr):
    """One Adam update (Kingma & Ba 2015) of ``w`` with gradient ``g``; ``t`` is the step count."""
    b1, b2 = BETAS
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    m_hat = m / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    return w - lr * m_hat / (v_hat.sqrt() + ADAM_EPS), m, v


def gradients(V: torch.Tensor, We: torch.Tensor, Wd: torch.Tensor, loss: str,
              constraint: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form gradients of the per-entry loss with respect to the raw weights.

    For ``V_hat = V A B`` with ``A = f(W_enc)``, ``B = f(W_dec)`` and ``R = dL/dV_hat``
    (:func:`loss_gradient`): ``dL/dB = (V A)^T R`` and ``dL/dA = V^T R B^T``, then the chain
    rule through ``f`` (:func:`activation_grad`). Returns ``(dL/dW_enc, dL/dW_dec)``.
    """
    A, B = activation(We, constraint), activation(Wd, constraint)
    P = shared_right(V, A)
    R = loss_gradient(V, P @ B, loss)
    gB = P.transpose(-1, -2) @ R
    gA = shared_left((R @ B.transpose(-1, -2)).transpose(-1, -2), V).transpose(-1, -2)
    return activation_grad(We, gA, constraint), activation_grad(Wd, gB, constraint)


def make_step(loss: str, constraint: str, lr: float):
    """The per-iteration update for one loss, constraint and learning rate."""

    def step(V: torch.Tensor, s: State) -> State:
        We, Wd = s["We"], s["Wd"]
        gWe, gWd = gradients(V, We, Wd, loss, constraint)
        t = s["t"] + 1
        We, m_e, v_e = adam(We, gWe, s["m_e"], s["v_e"], t, lr)
        Wd, m_d, v_d = adam(Wd, gWd, s["m_d"], s["v_d"], t, lr)
        return {"We": project(We, constraint), "Wd": project(Wd, constraint),
                "m_e": m_e, "v_e": v_e, "m_d": m_d, "v_d": v_d, "t": t}

    return step


def initial_weights(V: torch.Tensor, rank: int, gens, init: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Starting ``W_enc`` (R, n, k) and ``W_dec`` (R, k, n), drawn from each restart's stream.

    ``"uniform"``
        Both matrices ``~ U(0, 1)``: ``torch.rand`` in the paper's code (``AENMF.py`` of
        Egendal et al.), encoder first.
    ``"linear"``
        The magnitudes of PyTorch's ``nn.Linear`` layers, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
        after the absolute value (the distribution ``f`` sees under ``fpabs``):
        ``W_enc ~ U(0, 1/sqrt(n))``, ``W_dec ~ U(0, 1/sqrt(k))``.

    Adam's steps have a fixed size whatever the scale of the weights, so the two starts lead
    to different solutions; ``vignettes/paper-comparison.md`` compares them on GEL Ovary.
    """
    n = V.shape[-1]
    high_e, high_d = (1.0, 1.0) if init == "uniform" else (n ** -0.5, rank ** -0.5)
    return uniform(gens, (n, rank), high_e, like=V), uniform(gens, (rank, n), high_d, like=V)


def fit_aenmf(V, rank, gens, *, loss="frobenius", constraint="fpabs", init="linear", lr=1e-3,
              max_iter=10000, tol=1e-6, check_every=10, progress=None) -> RunResult:
    """Fit AE-NMF to ``V`` (``(B, channels, samples)``) with Adam, from the start ``init``
    (:func:`initial_weights`).

    Returns the driver's :class:`RunResult` with state ``We`` (R, samples, k) and ``Wd``
    (R, k, samples), raw (before ``f``), plus Adam's moments.
    """
    We, Wd = initial_weights(V, rank, gens, init)
    t = torch.zeros(We.shape[0], 1, 1, dtype=V.dtype, device=V.device)
    state = {"We": We, "Wd": Wd, "m_e": torch.zeros_like(We), "v_e": torch.zeros_like(We),
             "m_d": torch.zeros_like(Wd), "v_d": torch.zeros_like(Wd), "t": t}
    loss_fn = LOSSES[loss]
    return iterate(V, state, make_step(loss, constraint, lr),
                   lambda V_, s: loss_fn(V_, reconstruct(V_, s, constraint)[1]),
                   max_iter=max_iter, tol=tol, check_every=check_every, progress=progress,
                   chunk_size=cache_chunk(V, len(gens)))
