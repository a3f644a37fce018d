""":func:`factorize` and :func:`fit` (exported by :mod:`sigfactor.models`) and their results."""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from .._meta import versions
from .._validation import (
    check_choice, check_counts, check_int, check_kl_exponent, check_orientation, check_positive_float, check_solver,
    resolve_device, resolve_dtype,
)
from ._base import (
    CONSTRAINTS, INITS, LOSSES, MODEL_INITS, MODEL_LOSSES, MODELS, ConvergenceWarning, Streams, restart_seeds,
    signature_names, warn_not_converged,
)
from ._driver import thread_count, torch_threads
from .aenmf import activation, fit_aenmf
from .convex import fit_convex
from .mvnmf import DEFAULT_DELTA, DEFAULT_LAMBDA, DEFAULT_WARMUP, data_loss, fit_mvnmf, log_volume
from .nmf import fit_nmf

DEFAULT_LR = 1e-3


class Solution(NamedTuple):
    """One restart's labelled result."""

    signatures: pd.DataFrame
    exposures: pd.DataFrame
    loss: float
    restart: int


@dataclass
class Factorization:
    """Batched result of one model at one rank.

    Attributes
    ----------
    signatures : torch.Tensor
        ``(restarts, channels, k)``, each column summing to 1.
    exposures : torch.Tensor
        ``(restarts, samples, k)``, scaled so ``signatures @ exposures.T`` is the reconstruction.
    loss : torch.Tensor
        ``(restarts,)`` final per-entry loss (mean squared error or mean generalized KL); for
        minimum-volume NMF the penalised objective it minimises (``extra`` splits it).
    n_iter, converged : torch.Tensor
        Iterations run and convergence flag per restart.
    loss_trace : torch.Tensor
        ``(restarts, checks)`` loss at each convergence check (NaN once a restart stopped);
        ``trace_iter`` holds the iteration of each check.
    seeds : numpy.ndarray
        Per-restart seeds; ``fit``/``factorize`` with ``seed=[seeds[i]]`` reruns restart ``i``.
    factors : dict
        The model's own parameters (NMF and minimum-volume NMF ``W``, ``H``; convex ``W``,
        ``G``; AE-NMF raw ``We``, ``Wd``), each with a leading restart dimension.
    channels, samples : pandas.Index or None
        Labels, when the input carried them.
    settings : dict
        Model, loss, constraint, init, tolerances, device, dtype, seeds, versions and timing.
    extra : dict
        Minimum-volume NMF: ``lambda`` (each restart's penalty weight), ``data_loss`` and
        ``log_volume`` (``(restarts,)``; ``loss = data_loss + lambda * log_volume``).
    """

    signatures: torch.Tensor
    exposures: torch.Tensor
    loss: torch.Tensor
    n_iter: torch.Tensor
    converged: torch.Tensor
    loss_trace: torch.Tensor
    trace_iter: torch.Tensor
    seeds: np.ndarray
    factors: dict
    settings: dict
    channels: pd.Index | None = None
    samples: pd.Index | None = None
    prefix: str = "SBS96"
    extra: dict = field(default_factory=dict)

    @property
    def n_restarts(self) -> int:
        return int(self.loss.shape[0])

    @property
    def rank(self) -> int:
        return int(self.signatures.shape[-1])

    @property
    def best_index(self) -> int:
        """Restart with the lowest final loss (non-finite losses never win)."""
        loss = self.loss.detach().to("cpu", torch.float64)
        loss = torch.where(torch.isfinite(loss), loss, torch.full_like(loss, float("inf")))
        return int(torch.argmin(loss))

    def solution(self, restart: int) -> Solution:
        """Labelled signatures (channels x k) and exposures (samples x k) of one restart."""
        names = signature_names(self.rank, self.prefix)
        sig = self.signatures[restart].detach().to("cpu", torch.float64).numpy()
        exp = self.exposures[restart].detach().to("cpu", torch.float64).numpy()
        channels = self.channels if self.channels is not None else pd.RangeIndex(sig.shape[0])
        samples = self.samples if self.samples is not None else pd.RangeIndex(exp.shape[0])
        return Solution(
            signatures=pd.DataFrame(sig, index=channels, columns=names),
            exposures=pd.DataFrame(exp, index=samples, columns=names),
            loss=float(self.loss[restart]),
            restart=int(restart),
        )

    def best(self) -> Solution:
        """The restart with the lowest final loss, labelled (see :meth:`solution`)."""
        return self.solution(self.best_index)


def _validate_options(model, loss, constraint, init, n_restarts, max_iter, tol, lr, check_every,
                      mv_lambda=None, mv_delta=None, mv_warmup=None, kl_exponent=1.0, solver="mu"):
    check_choice("model", model, MODELS)
    if loss is None:
        loss = MODEL_LOSSES[model][0]
    check_choice("loss", loss, LOSSES)
    if loss not in MODEL_LOSSES[model]:
        raise ValueError(
            f"loss={loss!r} is not available for model={model!r}; expected one of "
            f"{', '.join(repr(x) for x in MODEL_LOSSES[model])}."
        )
    if model == "aenmf":
        constraint = check_choice("constraint", "fpabs" if constraint is None else constraint, CONSTRAINTS)
    elif constraint is not None:
        raise ValueError(
            f"constraint={constraint!r} applies to model='aenmf' only; leave it as None for model={model!r}."
        )
    if init is None:
        init = MODEL_INITS[model][0]
    check_choice("init", init, INITS)
    if init not in MODEL_INITS[model]:
        raise ValueError(
            f"init={init!r} is not available for model={model!r}; expected one of "
            f"{', '.join(repr(x) for x in MODEL_INITS[model])}."
        )
    check_int("n_restarts", n_restarts, low=1)
    check_int("max_iter", max_iter, low=1)
    check_positive_float("tol", tol, allow_zero=True)
    check_int("check_every", check_every, low=1)
    kl_exponent = check_kl_exponent(kl_exponent, model, loss)
    check_solver(solver, model, loss, kl_exponent)
    if lr is not None:
        if model != "aenmf":
            raise ValueError(f"lr={lr!r} applies to model='aenmf' only; leave it as None for model={model!r}.")
        check_positive_float("lr", lr)
    mv = {"mv_lambda": mv_lambda, "mv_delta": mv_delta, "mv_warmup": mv_warmup}
    if model != "mvnmf":
        for name, value in mv.items():
            if value is not None:
                raise ValueError(f"{name}={value!r} applies to model='mvnmf' only; leave it as None "
                                 f"for model={model!r}.")
        return loss, constraint, init, mv
    mv = {"mv_lambda": check_positive_float("mv_lambda", DEFAULT_LAMBDA if mv_lambda is None else mv_lambda,
                                            allow_zero=True),
          "mv_delta": check_positive_float("mv_delta", DEFAULT_DELTA if mv_delta is None else mv_delta),
          "mv_warmup": check_int("mv_warmup", DEFAULT_WARMUP if mv_warmup is None else mv_warmup, low=0)}
    return loss, constraint, init, mv


def fit(V: torch.Tensor, rank: int, *, model: str = "nmf", loss: str | None = None,
        constraint: str | None = None, n_restarts: int = 10, max_iter: int = 10000,
        tol: float = 1e-6, init: str | None = None, seed=0, lr: float | None = None,
        check_every: int = 10, progress=None, threads: int | None = None,
        mv_lambda: float | None = None, mv_delta: float | None = None,
        mv_warmup: int | None = None, memory: int | None = None,
        kl_exponent: float = 1.0, solver: str = "mu") -> Factorization:
    """Fit one model on a tensor catalogue, restarts batched.

    Parameters
    ----------
    V : torch.Tensor
        Channels x samples, or ``(B, channels, samples)`` with ``B`` 1 or ``n_restarts``
        (one catalogue per restart). Its device and dtype are used throughout. Not validated
        for negative or empty entries: :func:`factorize` does that.
    rank, model, loss, constraint, n_restarts, max_iter, tol, init, seed, lr, check_every
        As in :func:`factorize`; also ``mv_lambda``, ``mv_delta``, ``mv_warmup``, ``kl_exponent``,
        ``solver``.
    progress : callable, optional
        Called with the number of iterations done at each check.
    threads : int, optional
        CPU threads for the fit (restored afterwards); by default PyTorch's setting, but one
        for small batches of the PyTorch updates (see
        :func:`sigfactor.models._driver.thread_count`).
    memory : int, optional
        Bytes the batch may take on its device. The restarts are fitted in consecutive batches
        of as many as fit (:func:`restart_batch`; each restart from its own seed, so the
        batches change nothing but rounding). Default: half of the free memory of a GPU
        (``torch.cuda.mem_get_info``) and no limit on a CPU.

    Returns
    -------
    Factorization
        Unlabelled (``channels`` and ``samples`` are None). ``settings["batches"]`` lists the
        batch sizes.
    """
    loss, constraint, init, mv = _validate_options(model, loss, constraint, init, n_restarts, max_iter, tol,
                                                   lr, check_every, mv_lambda, mv_delta, mv_warmup, kl_exponent,
                                                   solver)
    if V.dim() == 2:
        V = V.unsqueeze(0)
    if V.dim() != 3 or V.shape[0] not in (1, n_restarts):
        raise ValueError(
            f"V has shape {tuple(V.shape)}; expected (channels, samples) or (B, channels, samples) "
            f"with B = 1 or n_restarts = {n_restarts}."
        )
    rank = check_int("rank", rank, low=1, high=min(V.shape[-2:]))
    seeds = restart_seeds(seed, n_restarts)
    if threads is not None:
        check_int("threads", threads, low=1)
    n_threads = thread_count(V, n_restarts, threads, model=model, loss=loss)
    if memory is not None:
        check_int("memory", memory, low=1)
    elif V.device.type == "cuda":
        memory = torch.cuda.mem_get_info(V.device)[0] // 2
    size = restart_batch(n_restarts, restart_bytes(V.shape, rank, V.element_size()), memory)
    parts = []
    with torch_threads(n_threads), warnings.catch_warnings():
        if size < n_restarts:                   # one warning for the whole fit, below
            warnings.simplefilter("ignore", ConvergenceWarning)
        for a in range(0, n_restarts, size):
            b = min(a + size, n_restarts)
            parts.append(_fit(V if V.shape[0] == 1 else V[a:b], rank, model=model, loss=loss,
                              constraint=constraint, n_restarts=b - a, max_iter=max_iter, tol=tol, init=init,
                              seed=seed, seeds=seeds[a:b], lr=lr, check_every=check_every, progress=progress,
                              n_threads=n_threads, mv=mv, kl_exponent=float(kl_exponent), solver=solver))
    result = _join(parts, seeds)
    if size < n_restarts:
        warn_not_converged(int((~result.converged).sum()), n_restarts, max_iter, tol)
    return result


RESTART_COPIES = 10
"""Catalogue-sized arrays one restart holds at its peak, counted in :func:`restart_bytes`. The
updates and losses of every model make a few channels x samples temporaries per restart (KL:
``W H``, the ratio, and the loss's clamped, divided and logarithm terms; convex NMF's
objective a float64 copy of the catalogue), and a restart with its own catalogue holds that
too."""


def restart_bytes(shape, rank: int, itemsize: int) -> int:
    """Estimated peak bytes of one restart of any model on a ``(B, channels, samples)`` catalogue:
    :data:`RESTART_COPIES` catalogue-sized arrays in the working precision plus the factors and
    their update temporaries (a few ``(channels + samples) x rank`` arrays in float64)."""
    channels, samples = shape[-2:]
    return RESTART_COPIES * channels * samples * itemsize + 8 * (channels + samples) * rank * 8


def restart_batch(n_restarts: int, per_restart: int, memory: int | None) -> int:
    """Restarts per batch: all of them without a ``memory`` limit, else as many restarts of
    ``per_restart`` bytes as fit in ``memory`` (at least one)."""
    if memory is None:
        return n_restarts
    return max(1, min(n_restarts, memory // per_restart))


def _join(parts: list[Factorization], seeds: np.ndarray) -> Factorization:
    """One :class:`Factorization` from consecutive batches of restarts (their order kept).

    Loss traces are padded with NaN to the longest batch's checks (a restart's trace is NaN
    once it stopped, as within a batch)."""
    first = parts[0]
    if len(parts) == 1:
        first.settings["batches"] = [first.n_restarts]
        return first
    def cat(name):
        return torch.cat([getattr(p, name) for p in parts])

    longest = max(parts, key=lambda p: p.loss_trace.shape[1])
    width = longest.loss_trace.shape[1]
    trace = torch.cat([torch.nn.functional.pad(p.loss_trace, (0, width - p.loss_trace.shape[1]),
                                               value=float("nan")) for p in parts])
    settings = {**first.settings, "n_restarts": int(sum(p.n_restarts for p in parts)),
                "restart_seeds": [int(s) for s in seeds], "seconds": sum(p.settings["seconds"] for p in parts),
                "batches": [p.n_restarts for p in parts]}
    return Factorization(
        signatures=cat("signatures"), exposures=cat("exposures"), loss=cat("loss"), n_iter=cat("n_iter"),
        converged=cat("converged"), loss_trace=trace, trace_iter=longest.trace_iter, seeds=seeds,
        factors={k: torch.cat([p.factors[k] for p in parts]) for k in first.factors},
        settings=settings, extra={k: torch.cat([p.extra[k] for p in parts]) for k in first.extra},
    )


def _fit(V, rank, *, model, loss, constraint, n_restarts, max_iter, tol, init, seed, seeds, lr,
         check_every, progress, n_threads, mv, kl_exponent=1.0, solver="mu") -> Factorization:
    gens = Streams(seeds)
    common = dict(max_iter=max_iter, tol=tol, check_every=check_every, progress=progress)
    started = time.perf_counter()
    extra = {}
    if model == "nmf":
        run = fit_nmf(V, rank, gens, loss=loss, init=init, kl_exponent=kl_exponent, solver=solver, **common)
        W, H = run.state["W"], run.state["H"]
        sig, exp, factors = W, H.transpose(-1, -2), {"W": W, "H": H}
    elif model == "convex":
        run = fit_convex(V, rank, gens, **common)
        W, G = run.state["W"], run.state["G"]
        sig, exp, factors = V @ W, G, {"W": W, "G": G}
    elif model == "mvnmf":
        run = fit_mvnmf(V, rank, gens, loss=loss, init=init, mv_lambda=mv["mv_lambda"], mv_delta=mv["mv_delta"],
                        warmup=mv["mv_warmup"], **common)
        W, H = run.state["W"], run.state["H"]
        sig, exp, factors = W, H.transpose(-1, -2), {"W": W, "H": H}
        extra = {"lambda": run.state["lam"], "data_loss": data_loss(V, W, H, loss),
                 "log_volume": log_volume(W, mv["mv_delta"])}
    else:
        lr = DEFAULT_LR if lr is None else lr
        run = fit_aenmf(V, rank, gens, loss=loss, constraint=constraint, init=init, lr=lr, **common)
        We, Wd = run.state["We"], run.state["Wd"]
        sig = V @ activation(We, constraint)
        exp = activation(Wd, constraint).transpose(-1, -2)
        factors = {"We": We, "Wd": Wd}
    seconds = time.perf_counter() - started
    scale = sig.sum(dim=-2, keepdim=True)
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    settings = {
        "model": model, "loss": loss, "constraint": constraint, "init": init, "rank": rank,
        "n_restarts": n_restarts, "max_iter": max_iter, "tol": tol, "check_every": check_every,
        "lr": lr, **mv, "kl_exponent": kl_exponent, "solver": solver, "device": str(V.device),
        "dtype": str(V.dtype).replace("torch.", ""),
        "threads": n_threads if V.device.type == "cpu" else None,
        "seed": seed if isinstance(seed, (int, np.integer)) else None,
        "restart_seeds": [int(s) for s in seeds], "seconds": seconds,
        "versions": versions(),
    }
    return Factorization(
        signatures=sig / safe, exposures=exp * safe, loss=run.loss, n_iter=run.n_iter,
        converged=run.converged, loss_trace=run.trace, trace_iter=run.trace_iter, seeds=seeds,
        factors=factors, settings=settings, extra=extra,
    )


def _as_matrix(X, name: str = "X"):
    """Samples x channels float64 array plus labels (or None) and a signature-name prefix."""
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    if isinstance(X, np.ndarray):
        if X.ndim != 2:
            raise ValueError(f"{name} has shape {X.shape}; expected a 2-D matrix of samples x channels.")
        if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
            raise TypeError(f"{name} has dtype {X.dtype}; expected real numeric mutation counts.")
        check_orientation(name, X.shape)
        counts = X.astype(np.float64)
        check_counts(name, counts, samples_axis=0)
        return counts, None, None, "Sig"
    from ..catalogue import as_catalogue

    cat = as_catalogue(X, name=name)
    counts = np.asarray(cat.counts, dtype=np.float64)
    check_counts(name, counts, sample_names=list(cat.samples), samples_axis=0)
    return counts, pd.Index(cat.channels), pd.Index(cat.samples), cat.kind


def factorize(X, rank: int, *, model: str = "nmf", loss: str | None = None,
              constraint: str | None = None, n_restarts: int = 10, max_iter: int = 10000,
              tol: float = 1e-6, init: str | None = None, seed=0, device="auto", dtype="float32",
              lr: float | None = None, check_every: int = 10, progress: bool = False,
              threads: int | None = None, mv_lambda: float | None = None, mv_delta: float | None = None,
              mv_warmup: int | None = None, memory: int | None = None,
              kl_exponent: float = 1.0, solver: str = "mu") -> Factorization:
    """Factorize a mutational catalogue with NMF, convex NMF, AE-NMF or minimum-volume NMF, restarts batched.

    Parameters
    ----------
    X : array-like, DataFrame, AnnData, Catalogue or path
        Counts. A numpy array or tensor is samples x channels; one whose first axis alone has a
        channel count of a kind (e.g. 96 x 21) is refused as transposed, and a square 96 x 96
        one is taken as samples x channels. A DataFrame may be in either
        orientation when its index or columns hold mutation-type labels (SBS96, DBS78, ID83);
        rows are matched by label. An ambiguous frame is an error.
    rank : int
        Number of signatures, ``1 <= rank <= min(samples, channels)``.
    model : {'nmf', 'convex', 'aenmf', 'mvnmf'}
        NMF (multiplicative updates), convex NMF (Ding, Li & Jordan 2010), the linear
        autoencoder AE-NMF (Egendal et al. 2025) or minimum-volume NMF (Leplat, Gillis & Ang
        2020; :mod:`sigfactor.models.mvnmf`), which adds ``lambda logdet(W^T W + delta I)`` to
        the loss with each signature on the simplex (on planted mixtures it told apart flat
        signatures that NMF blurred).
    loss : {'frobenius', 'kl'}, optional
        Squared error or generalized Kullback-Leibler (Poisson). Default: Frobenius, but KL for
        minimum-volume NMF. Convex NMF: Frobenius only.
    constraint : {'fpabs', 'fppg', 'pg', 'abs'}, optional
        AE-NMF's non-negativity scheme (default ``'fpabs'``, the paper's); None for others.
    n_restarts : int
        Independent restarts, fitted as one batch.
    max_iter, tol, check_every : int, float, int
        Each restart stops when its loss changed by less than ``tol`` (relative) between two
        checks ``check_every`` iterations apart, or after ``max_iter`` iterations (a
        :class:`ConvergenceWarning` says how many restarts did not converge).
    init : {'random', 'nndsvd', 'linear', 'uniform'}, optional
        Starting values. NMF: ``'random'`` (default; uniform, scaled to the data) or
        ``'nndsvd'`` (NNDSVD with random fill). Convex NMF: ``'random'``. AE-NMF: ``'linear'``
        (default; the magnitudes of PyTorch's ``nn.Linear`` layers) or ``'uniform'`` (both
        weight matrices ``U(0, 1)``, as the paper's code starts them); see
        :func:`sigfactor.models.aenmf.initial_weights`.
    seed : int or sequence of int
        One integer gives reproducible per-restart seeds (recorded in the result); a list
        gives the per-restart seeds directly.
    device : {'auto', 'cpu', 'cuda'} or torch.device
    dtype : {'float32', 'float64'}
    lr : float, optional
        Adam learning rate for AE-NMF (default 1e-3; the paper used 1e-4).
    mv_lambda, mv_delta, mv_warmup : float, float, int, optional
        Minimum-volume NMF only. ``mv_lambda >= 0`` is the penalty's weight relative to the
        data term after ``mv_warmup`` unregularised updates (per restart,
        ``lambda = mv_lambda * D(X | W0 H0) / logdet(I + W0^T W0 / mv_delta)``); ``mv_delta > 0``.
        Defaults 0.1, 1 and 200 (:mod:`sigfactor.models.mvnmf` says why). ``n_iter``,
        ``max_iter`` and the loss trace count the regularised updates after the warm-up.
    progress : bool
        Show a progress bar over iterations.
    kl_exponent : float
        KL NMF only: the power ``gamma`` of the multiplicative factor, ``1 <= gamma < 2``
        (:func:`sigfactor.models.nmf.kl_step`). 1 (default) is Lee and Seung's update, whose
        divergence never rises; above 1 the over-relaxed update (Badeau, Bertin and Vincent
        2010) takes longer steps. On PCAWG, ``1.9`` took 9-62 % less time per rank (ranks
        5-25); on small or noiseless catalogues it can take longer, and its restarts stop at
        slightly different fits, which can move a rank across the stability threshold
        (``benchmarks/README.md``, ``bench_overrelaxed.py``).
    solver : {'mu', 'cd'}
        KL NMF's algorithm. ``'mu'`` (default): multiplicative updates (Lee and Seung), an
        iteration updating ``H`` then ``W``. ``'cd'``: coordinate descent (Hsieh and Dhillon
        2011), an iteration being one sweep of projected Newton steps over every entry of ``H``
        then ``W`` (:func:`sigfactor.models.nmf.kl_cd_step`), and at every check of the
        stopping rule after the first an extrapolated point is tried and taken where its loss
        is lower (:func:`sigfactor.models._driver.extrapolate`; about half the sweeps at PCAWG
        ranks 20-25). A sweep costs several
        multiplicative updates but can take an entry to 0 in one step. On PCAWG (ranks 5-25, 8
        restarts) its restarts met the stopping rule in 71-84 % less time, at lower median
        divergences, and it fitted the larger simulated sets of ``bench_accuracy.py`` in less
        time (``benchmarks/README.md``). ``kl_exponent`` stays 1 with it.
    threads : int, optional
        CPU threads (default: one for small batches, else PyTorch's setting); restored after.
    memory : int, optional
        Bytes the restarts may take on the device; they are fitted in batches that fit
        (default: half of a GPU's free memory, no limit on a CPU; see :func:`fit`).

    Returns
    -------
    Factorization
        Batched tensors with a leading restart dimension; ``.best()`` gives labelled frames.
    """
    dev = resolve_device(device)
    dt = resolve_dtype(dtype)
    counts, channels, samples, kind = _as_matrix(X)
    V = torch.as_tensor(counts.T.copy(), dtype=dt, device=dev)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_iter, desc=f"{model} rank {rank}", unit="it", leave=False)
    try:
        result = fit(V, rank, model=model, loss=loss, constraint=constraint, n_restarts=n_restarts,
                     max_iter=max_iter, tol=tol, init=init, seed=seed, lr=lr,
                     check_every=check_every, progress=None if bar is None else bar.update,
                     threads=threads, mv_lambda=mv_lambda, mv_delta=mv_delta, mv_warmup=mv_warmup,
                     memory=memory, kl_exponent=kl_exponent, solver=solver)
    finally:
        if bar is not None:
            bar.close()
    result.channels, result.samples, result.prefix = channels, samples, kind
    return result
