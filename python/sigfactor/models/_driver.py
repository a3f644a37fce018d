"""Pieces every solver shares: seeds, initial values, losses and the batched iteration loop.

Solver orientation (private): ``V`` is channels x samples, the paper's X, with an optional
leading batch dimension that is either 1 (one catalogue for every restart) or the number of
restarts (one catalogue per restart, e.g. resampled or split data). Factors carry a leading
restart dimension.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Dict

import torch

from ._base import EXTRAPOLATION, Streams, default_threads, warn_not_converged

State = Dict[str, torch.Tensor]


def uniform(streams: Streams, shape: tuple, high, *, like: torch.Tensor) -> torch.Tensor:
    """Stack of ``U(0, high)`` draws, one per stream, on ``like``'s device and dtype.

    ``high`` is a float or a length-R sequence (one scale per restart). Draws are made on the
    CPU in float64 (:class:`._base.Streams`), then moved, so the initial values depend neither
    on the device or the working dtype nor on whether PyTorch runs the fit.
    """
    return torch.from_numpy(streams.uniform(shape, high)).to(device=like.device, dtype=like.dtype)


def tiny(dtype: torch.dtype) -> float:
    """The epsilon that keeps denominators and logarithms finite for ``dtype``."""
    return float(torch.finfo(dtype).eps)


def per_restart(values: torch.Tensor, n_restarts: int) -> torch.Tensor:
    """Broadcast a per-batch quantity of shape ``(1,)`` or ``(R,)`` to ``(R,)``."""
    return values.expand(n_restarts) if values.shape[0] == 1 else values


def shared_left(A: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """``A @ V`` for ``A`` ``(R, p, m)`` and ``V`` ``(B, m, n)``.

    When every restart shares one catalogue (``B == 1``) the restarts are folded into one
    matrix product ``(R p, m) @ (m, n)``, which BLAS runs far faster than R small products.
    """
    if V.shape[0] != 1:
        return A @ V
    R, p, m = A.shape
    return (A.reshape(R * p, m) @ V[0]).view(R, p, V.shape[-1])


def shared_right(V: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``V @ B`` for ``V`` ``(B, m, n)`` and ``B`` ``(R, n, q)``, folded like :func:`shared_left`."""
    if V.shape[0] != 1:
        return V @ B
    R, n, q = B.shape
    m = V.shape[-2]
    return (V[0] @ B.transpose(0, 1).reshape(n, R * q)).view(m, R, q).transpose(0, 1)


def frobenius(V: torch.Tensor, V_hat: torch.Tensor) -> torch.Tensor:
    """Per-entry mean squared error of each batch member (shape ``(R,)``)."""
    return (V - V_hat).pow(2).mean(dim=(-2, -1))


def kl(V: torch.Tensor, V_hat: torch.Tensor) -> torch.Tensor:
    """Per-entry generalized Kullback-Leibler divergence (Poisson deviance / 2)."""
    V_hat = V_hat.clamp_min(tiny(V_hat.dtype))
    return (torch.xlogy(V, V / V_hat) - V + V_hat).mean(dim=(-2, -1))


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "frobenius": frobenius,
    "kl": kl,
}


@dataclass
class RunResult:
    """What :func:`iterate` returns: final state, losses and convergence bookkeeping."""

    state: State
    loss: torch.Tensor
    n_iter: torch.Tensor
    converged: torch.Tensor
    trace: torch.Tensor
    trace_iter: torch.Tensor


def cache_chunk(V: torch.Tensor, n_restarts: int) -> int | None:
    """How many restarts to step together so one restart-chunk's matrices stay in cache.

    On a GPU every restart runs together (None). On a CPU a chunk holds about 1 MiB per
    channels x samples matrix: five restarts of a 96 x 523 catalogue in float32, all of a
    small one. Measured on GEL Ovary (one thread, 32 restarts), AE-NMF: 166 us per restart
    and iteration in chunks of 4, 463 in chunks of 1, 182 unchunked (KL NMF, which gained
    the same way, now runs in the fused kernels of :mod:`._kl_cpu` on the CPU).
    """
    if V.device.type != "cpu":
        return None
    per_restart = V.shape[-1] * V.shape[-2] * V.element_size()
    return max(1, min(n_restarts, (1024 * 1024) // per_restart))


SMALL_BATCH = 2_000_000
"""Batches (catalogues x channels x samples, counted over all restarts) below this size are
fitted with one CPU thread."""


def thread_count(V: torch.Tensor, n_restarts: int, threads: int | None = None, *,
                 model: str = "nmf", loss: str = "frobenius") -> int:
    """CPU threads for a fit: ``threads`` if given, else one thread for small batches.

    On small matrices extra intra-op threads gain nothing on an idle machine, and when other
    processes share the cores OpenMP's waiting threads make each iteration many times slower
    (measured on a busy 2-core machine: ranks 1-5 x 10 restarts of the 21 breast genomes took
    2 s with one thread and 66-80 s with two). Fits that run in sigfactor's own compiled
    kernels (KL NMF on the CPU) split whole restarts over threads that block rather than
    spin, and use every thread PyTorch is set to.
    """
    if threads is not None:
        return threads
    if V.device.type != "cpu" or (model == "nmf" and loss == "kl"):
        return default_threads()
    size = n_restarts * V.shape[-1] * V.shape[-2]
    return 1 if size < SMALL_BATCH else default_threads()


@contextlib.contextmanager
def torch_threads(n: int):
    """Run a block with ``n`` PyTorch CPU threads, restoring the previous number after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def flush_subnormal(state: State) -> State:
    """``state`` with every floating-point entry below the dtype's smallest normal number set to 0.

    On a CPU the fits flush subnormal numbers: multiplicative updates drive entries of the
    factors towards 0 without reaching it, and on Intel cores each operation on a subnormal
    float takes a microcode assist of about a hundred cycles. The kernels of KL NMF set the
    thread's flush-to-zero mode instead (:func:`._kl_cpu._mxcsr`); PyTorch's worker threads
    cannot be set from here, so the driver flushes the factors before every ``check_every``
    iterations (after every iteration, the flush itself cost a third of an iteration of
    Frobenius NMF at PCAWG's shape). An entry below 1.2e-38 (float32) or 2.2e-308 (float64) is
    0 to every digit a result reports. GPUs compute with subnormals at full speed; there the
    state is left as it is.

    Measured on an Intel Xeon (AVX-512), PCAWG at rank 20, float32, 2 restarts, one thread,
    1,500 iterations: Frobenius NMF 6.28 s unflushed, 1.32 s with this flush (1.43 s with
    ``torch.set_flush_denormal``, every operation of the thread flushed); convex NMF 11.39 s,
    3.56 s (2.83 s: products of small normal entries still make subnormals inside an
    iteration).
    """
    out = {}
    for key, value in state.items():
        if value.is_floating_point():
            value = torch.where(value.abs() < torch.finfo(value.dtype).tiny, 0.0, value)
        out[key] = value
    return out


def _advance(V, state, step, objective, n_steps):
    if V.device.type == "cpu":
        state = flush_subnormal(state)
    for _ in range(n_steps):
        state = step(V, state)
    return state, objective(V, state)


def extrapolate(V: torch.Tensor, state: State, loss: torch.Tensor, prev: State, beta: torch.Tensor,
                objective: Callable[[torch.Tensor, State], torch.Tensor], keys: tuple[str, ...]):
    """One extrapolation of every restart between checks of the stopping rule.

    Each factor named in ``keys`` is tried at ``max(U + beta (U - U_prev), 0)``, ``U_prev``
    being where the previous check's iterations ended (``prev``) and ``U`` where this check's
    ended (``state``, whose loss is ``loss``). A restart takes the tried point only if its
    loss is lower, so the loss never rises; its ``beta`` then grows by 1.5 up to 8, else
    shrinks by half down to 1/4 (:data:`~._base.EXTRAPOLATION`; it starts at 1/2). This is
    the extrapolation Ang and Gillis (2019, "Accelerating nonnegative matrix factorization
    algorithms using extrapolation", Neural Computation 31) add to alternating NMF solvers,
    taken once per check, where the loss is computed anyway, rather than after every
    iteration. :func:`sigfactor.models._kl_cpu._runs` does the same in the CPU kernels.

    Measured on PCAWG (2,780 genomes, gmm-normalised, float32, coordinate descent, extract's
    stopping rule, Intel Xeon, 2 threads): rank 20, 4 restarts, 3,430 sweeps to the rule
    without it and 1,770 with it (5.9 s and 3.3 s), every restart's loss lower; rank 25, 8
    restarts, 13,890 and 6,020 sweeps (27.2 s and 13.7 s), 7 of 8 losses lower. With
    multiplicative updates an entry set to 0 stays 0 for good, and the same rule stopped 4
    restarts at rank 20 with a mean loss 7 % higher, so it is used with coordinate descent only.

    Returns the new state, loss, ``prev`` (this call's ``state`` for the keys) and ``beta``.
    """
    grow, most, shrink, least = EXTRAPOLATION[1:]
    tried = dict(state)
    for key in keys:
        U = state[key]
        b = beta.view((-1,) + (1,) * (U.dim() - 1))
        tried[key] = torch.addcmul(U, b, U - prev[key]).clamp_min_(0)
    new = objective(V, tried)
    take = new < loss
    out = {}
    for key, value in state.items():
        out[key] = torch.where(take.view((-1,) + (1,) * (value.dim() - 1)), tried[key], value) if key in keys else value
    beta = torch.where(take, (beta * grow).clamp_max(most), (beta * shrink).clamp_min(least))
    return out, torch.where(take, new, loss), {key: state[key] for key in keys}, beta


def _take(V: torch.Tensor, idx: torch.Tensor, full: int) -> torch.Tensor:
    if V.shape[0] == 1 or idx.numel() == full:
        return V
    return V.index_select(0, idx)


def iterate(
    V: torch.Tensor,
    state: State,
    step: Callable[[torch.Tensor, State], State],
    objective: Callable[[torch.Tensor, State], torch.Tensor],
    *,
    max_iter: int,
    tol: float,
    check_every: int,
    progress=None,
    chunk_size: int | None = None,
    extrapolate_keys: tuple[str, ...] = (),
) -> RunResult:
    """Run ``step`` on every restart until its relative loss change is below ``tol``.

    The loss is checked every ``check_every`` iterations. A restart whose relative change
    ``|L_prev - L| / L_prev`` falls below ``tol`` is converged: it is set aside and no longer
    updated, while the others go on; the batch shrinks as restarts converge. Each restart's
    arithmetic depends only on its own data and seed.

    ``progress`` is an optional callable taking the number of iterations just done.

    ``chunk_size`` restarts are stepped together (all of them when None). Steps that
    materialise a full channels x samples matrix per restart are limited by memory bandwidth
    on a CPU; running a few restarts at a time for ``check_every`` iterations keeps their data
    in cache (see :func:`cache_chunk`).

    With ``extrapolate_keys`` (the factors to move), every check after the first tries an
    extrapolated point first (:func:`extrapolate`).
    """
    n_restarts = next(iter(state.values())).shape[0]
    device = V.device
    loss = objective(V, state)
    prev = loss.clone()
    n_iter = torch.zeros(n_restarts, dtype=torch.long, device=device)
    converged = torch.zeros(n_restarts, dtype=torch.bool, device=device)
    trace = [loss.detach().clone()]
    trace_iter = [0]
    active = torch.arange(n_restarts, device=device)
    done_iter = 0
    beta = torch.full((n_restarts,), EXTRAPOLATION[0], dtype=loss.dtype, device=device)
    prev_state = {key: state[key].clone() for key in extrapolate_keys}

    def advance(V_, sub, idx):
        sub, part = _advance(V_, sub, step, objective, n_steps)
        if not extrapolate_keys:
            return sub, part
        if len(trace) == 1:              # the first check: nothing to extrapolate from yet
            return sub, part, {key: sub[key] for key in extrapolate_keys}, beta[idx]
        before = {key: prev_state[key].index_select(0, idx) for key in extrapolate_keys}
        return extrapolate(V_, sub, part, before, beta[idx], objective, extrapolate_keys)

    while done_iter < max_iter and active.numel() > 0:
        n_steps = min(check_every, max_iter - done_iter)
        size = active.numel() if chunk_size is None else chunk_size
        parts = []
        for start in range(0, active.numel(), size):
            idx = active[start:start + size]
            whole = idx.numel() == n_restarts
            sub = state if whole else {k: v.index_select(0, idx) for k, v in state.items()}
            sub, part, *ex = advance(_take(V, idx, n_restarts), sub, idx)
            if whole:
                state = sub
            else:
                for key, value in sub.items():
                    state[key] = state[key].index_copy(0, idx, value)
            if ex:
                for key, value in ex[0].items():
                    prev_state[key] = prev_state[key].index_copy(0, idx, value)
                beta = beta.index_copy(0, idx, ex[1])
            parts.append(part)
        cur = torch.cat(parts)
        done_iter += n_steps
        n_iter[active] = done_iter
        before = prev[active]
        rel = (before - cur).abs() / before.clamp_min(tiny(cur.dtype))
        finished = (rel < tol) | ~torch.isfinite(cur)
        loss[active] = cur
        prev[active] = cur
        converged[active] = rel < tol
        row = torch.full((n_restarts,), float("nan"), dtype=loss.dtype, device=device)
        row[active] = cur
        trace.append(row)
        trace_iter.append(done_iter)
        active = active[~finished]
        if progress is not None:
            progress(n_steps)
    warn_not_converged(int((~converged).sum()), n_restarts, max_iter, tol)
    return RunResult(
        state=state,
        loss=loss,
        n_iter=n_iter,
        converged=converged,
        trace=torch.stack(trace, dim=1),
        trace_iter=torch.tensor(trace_iter),
    )
