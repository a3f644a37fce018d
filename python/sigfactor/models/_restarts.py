"""Restarts of one model at one rank as numpy arrays: what extraction consumes.

KL NMF on the CPU runs in the compiled kernels of :mod:`._kl_cpu` from numpy arrays, without
importing PyTorch; every other model, loss or device goes through :func:`sigfactor.models.fit`.
Both paths start each restart from the same draws (:class:`._base.Streams`) and run the same
updates, so a restart's result is the same whichever path ran it (a test checks it bitwise).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._base import Streams, batch_means, default_threads, nmf_random_init, restart_seeds

__all__ = ["Restarts", "uses_kernels", "fit_restarts"]


class Restarts(NamedTuple):
    """Every restart's signatures and convergence record."""

    signatures: np.ndarray
    """``(restarts, channels, k)`` float64, columns summing to 1."""
    loss: np.ndarray
    """``(restarts,)`` final per-entry loss, float64."""
    n_iter: np.ndarray
    converged: np.ndarray
    seeds: np.ndarray
    threads: int | None
    """CPU threads the fit used (None on a GPU)."""

    @property
    def best_index(self) -> int:
        """Restart with the lowest final loss (non-finite losses never win)."""
        return int(np.argmin(np.where(np.isfinite(self.loss), self.loss, np.inf)))


def uses_kernels(model: str, loss: str, device: str) -> bool:
    """Whether a fit runs in sigfactor's CPU kernels (KL NMF on the CPU) rather than PyTorch."""
    return model == "nmf" and loss == "kl" and device == "cpu"


def _unit_columns(S: np.ndarray) -> np.ndarray:
    scale = S.sum(axis=-2, keepdims=True)
    return S / np.where(scale > 0, scale, 1.0)


def fit_restarts(V: np.ndarray, rank: int, *, model: str, loss: str, n_restarts: int, seed,
                 device: str, dtype: str, max_iter: int, tol: float, check_every: int,
                 threads: int | None = None, progress=None, kl_exponent: float = 1.0,
                 solver: str = "mu") -> Restarts:
    """Fit ``n_restarts`` restarts of ``model`` at ``rank`` with random starts.

    Parameters
    ----------
    V : numpy.ndarray
        ``(B, channels, samples)`` with ``B`` 1 or ``n_restarts``; cast to ``dtype``.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (already checked).
    dtype : {'float32', 'float64'}
        Working precision of the fit.
    threads : int, optional
        CPU threads (default: :func:`._base.default_threads` for the kernels, the engine's
        rule for PyTorch, see :func:`sigfactor.models.fit`).
    progress : callable, optional
        Called with the number of iterations done.
    Other parameters as in :func:`sigfactor.models.fit`.
    """
    V = np.ascontiguousarray(V, dtype=dtype)
    seeds = restart_seeds(seed, n_restarts)
    if uses_kernels(model, loss, device):
        from ._kl_cpu import fit_kl

        threads = default_threads() if threads is None else threads
        W, H = nmf_random_init(batch_means(V), V.shape[-2:], rank, Streams(seeds))
        run = fit_kl(V, W.astype(V.dtype), H.astype(V.dtype), max_iter=max_iter, tol=tol,
                     check_every=check_every, progress=progress, threads=threads, gamma=kl_exponent,
                     solver=solver)
        return Restarts(signatures=_unit_columns(run.W.astype(np.float64)), loss=run.loss.astype(np.float64),
                        n_iter=run.n_iter, converged=run.converged, seeds=seeds, threads=threads)
    import torch

    from ._api import fit

    fitted = fit(torch.as_tensor(V, device=device), rank, model=model, loss=loss, n_restarts=n_restarts,
                 seed=[int(s) for s in seeds], max_iter=max_iter, tol=tol, check_every=check_every,
                 progress=progress, threads=threads, kl_exponent=kl_exponent, solver=solver)
    return Restarts(signatures=fitted.signatures.detach().to("cpu", torch.float64).numpy(),
                    loss=fitted.loss.detach().to("cpu", torch.float64).numpy(),
                    n_iter=fitted.n_iter.cpu().numpy(), converged=fitted.converged.cpu().numpy(),
                    seeds=seeds, threads=fitted.settings["threads"])
