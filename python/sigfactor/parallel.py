"""Where the independent work runs: in this process (default) or on a Dask cluster.

:func:`sigfactor.extract` fans out over ranks x blocks of restarts. Each block is one call of
:func:`fit_block`, the same task function whichever executor runs it:

- in this process (``scheduler=None``, the default): each block runs when its result is
  first asked for, so ranks are fitted one after the other as before, and Dask is never
  imported;
- on Dask (``scheduler=`` a :class:`dask.distributed.Client`, a scheduler address such as
  ``"tcp://host:8786"``, a scheduler file written by ``dask scheduler --scheduler-file``, or
  ``"local"`` for a :class:`~dask.distributed.LocalCluster` of one single-threaded worker
  process per CPU on 127.0.0.1, closed afterwards): every block is submitted at once, the
  catalogues go to every worker once (:meth:`OnDask.share`), and a task lost with a worker
  that died is run again by Dask on another one.

Every restart starts from its own seed and, for KL NMF on the CPU (sigfactor's kernels), its
result depends only on its own catalogue and seed, so the result is identical bit for bit
whatever the executor, the number of threads and the split into blocks. The PyTorch models
(Frobenius NMF, convex NMF, AE-NMF, and every model on a GPU) give identical bits for the
same blocks and threads; a different split into blocks agrees to float rounding only,
because PyTorch's batched matrix products round differently for different batch sizes
(measured: up to 1e-5 in float32 signatures after 300 iterations).
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from typing import NamedTuple

import numpy as np

from ._validation import available_memory
from .models._base import ConvergenceWarning
from .models._restarts import Restarts, fit_restarts

__all__ = ["Block", "InProcess", "OnDask", "block_length", "blocks", "check_scheduler", "describe_scheduler",
           "executor", "fit_block", "fit_split_block", "fit_split_models", "join_blocks", "join_factorizations"]

SCHEDULER_EXPECTED = ("None (this process), 'local' (a LocalCluster on this machine), a scheduler address "
                      "such as 'tcp://host:8786', a scheduler file (.json) or a dask.distributed.Client")


# ---- the task ----------------------------------------------------------------------------------

class Block(NamedTuple):
    """What :func:`fit_block` returns."""

    restarts: Restarts
    seconds: float
    """Wall time of the fit where it ran."""


def fit_block(V: np.ndarray, rank: int, start: int, stop: int, seeds, engine: dict, progress=None) -> Block:
    """Fit restarts ``start:stop`` of one rank from their own seeds.

    Parameters
    ----------
    V : numpy.ndarray
        ``(B, channels, samples)``: one catalogue for every restart (``B == 1``) or one per
        restart of the rank (``B == n_restarts``, of which ``V[start:stop]`` is used).
    rank : int
    start, stop : int
        The block's restarts.
    seeds : sequence of int
        The seeds of restarts ``start:stop`` (``stop - start`` of them), as
        :func:`sigfactor.models._base.restart_seeds` gives them for the whole rank.
    engine : dict
        Keyword arguments of :func:`sigfactor.models._restarts.fit_restarts` (model, loss,
        device, dtype, threads, stopping rule).
    progress : callable, optional
        Called with the number of iterations done (in this process only).

    Returns
    -------
    Block
        The restarts, in order. Restarts that reach ``max_iter`` do not warn here: the caller
        warns once per rank (:func:`sigfactor.models._base.warn_not_converged`).
    """
    if len(seeds) != stop - start:
        raise ValueError(f"seeds has {len(seeds)} entries; expected stop - start = {stop - start}.")
    started = time.perf_counter()
    part = V if V.shape[0] == 1 else V[start:stop]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = fit_restarts(part, rank, n_restarts=stop - start, seed=[int(s) for s in seeds],
                              progress=progress, **engine)
    return Block(fitted, time.perf_counter() - started)


def join_blocks(parts: list[Restarts]) -> Restarts:
    """One :class:`~sigfactor.models._restarts.Restarts` from consecutive blocks, in order.

    The signatures come out C-contiguous whatever the blocks' layout (PyTorch hands back
    strided views; a block sent from a Dask worker arrives contiguous), so what follows
    (consensus) does the same arithmetic on the same bits.
    """
    return Restarts(
        signatures=np.ascontiguousarray(np.concatenate([p.signatures for p in parts])),
        loss=np.concatenate([p.loss for p in parts]),
        n_iter=np.concatenate([p.n_iter for p in parts]),
        converged=np.concatenate([p.converged for p in parts]),
        seeds=np.concatenate([p.seeds for p in parts]),
        threads=parts[0].threads,
    )


def blocks(n: int, size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of consecutive blocks of at most ``size`` out of ``n`` items."""
    return [(a, min(a + size, n)) for a in range(0, n, size)]


MEMORY_SHARE = 0.25
"""Share of the memory a task may use (:attr:`InProcess.memory`, :attr:`OnDask.memory`) that one
block's work is sized to; the rest is left for what the blocks share (the catalogues) and the
results."""


def block_length(n: int, threads: int | None, block_size: int | None = None, *, item_bytes: int = 0,
                 memory: int | None = None) -> int:
    """Items (restarts, splits) per task.

    ``block_size`` if given; else all ``n`` in this process (``threads`` None) and an equal share
    per worker thread on Dask (``threads`` of them), in both cases at most as many items of
    ``item_bytes`` each as fit in :data:`MEMORY_SHARE` of ``memory`` (at least one), so the
    memory of the work grows with one block, not with ``n``.
    """
    if block_size is not None:
        return min(block_size, n)
    size = n if threads is None else -(-n // threads)
    if memory and item_bytes:
        size = min(size, max(1, int(memory * MEMORY_SHARE) // item_bytes))
    return size


# ---- compare_models: splits x models -----------------------------------------------------------

def fit_split_block(V, start: int, stop: int, rank: int, model: str, options: dict, seeds, progress=False):
    """Task of :func:`sigfactor.compare_models`: ``model`` on the training sets ``start:stop``
    (``V`` ``(splits, channels, samples)``, a tensor), one restart per split from its seed
    (:func:`sigfactor.evaluate._fit_batch`). Returns a :class:`~sigfactor.models.Factorization`."""
    from .evaluate import _fit_batch

    return _fit_batch(V[start:stop], rank, model, options, [int(s) for s in seeds], progress)


def join_factorizations(parts: list):
    """One :class:`~sigfactor.models.Factorization` from consecutive blocks of restarts, in order.

    Loss traces are padded with NaN to the longest block's checks; ``settings`` are the first
    block's with the restart count, seeds and seconds of all of them.
    """
    if len(parts) == 1:
        return parts[0]
    import dataclasses

    import torch

    checks = max(p.loss_trace.shape[1] for p in parts)
    trace = torch.cat([torch.nn.functional.pad(p.loss_trace, (0, checks - p.loss_trace.shape[1]), value=float("nan"))
                       for p in parts])
    first = parts[0]
    cat = lambda name: torch.cat([getattr(p, name) for p in parts])          # noqa: E731
    settings = dict(first.settings, n_restarts=sum(p.n_restarts for p in parts),
                    restart_seeds=[s for p in parts for s in p.settings["restart_seeds"]],
                    seconds=sum(p.settings["seconds"] for p in parts))
    return dataclasses.replace(
        first, signatures=cat("signatures"), exposures=cat("exposures"), loss=cat("loss"), n_iter=cat("n_iter"),
        converged=cat("converged"), loss_trace=trace,
        trace_iter=max((p.trace_iter for p in parts), key=len),
        seeds=np.concatenate([p.seeds for p in parts]),
        factors={k: torch.cat([p.factors[k] for p in parts]) for k in first.factors}, settings=settings)


def fit_split_models(V, rank: int, options: dict, seeds, *, progress: bool = False, scheduler=None,
                     block_size: int | None = None) -> dict:
    """Every model of ``options`` (model -> keyword arguments of the fit) on every training set.

    Each model's splits are fitted in blocks (:func:`block_length`), one
    :func:`fit_split_block` task each, on ``scheduler``'s executor; returns model ->
    :class:`~sigfactor.models.Factorization` with the splits in order. In this process (the
    default) each model's splits form one batch, as one call of the fit.
    """
    with executor(scheduler) as ex:
        spans = blocks(len(seeds), block_length(len(seeds), ex.threads, block_size))
        shared = ex.share(V)
        jobs = {m: [ex.submit(fit_split_block, shared, a, b, rank, m, opts, list(seeds[a:b]), progress and ex.local)
                    for a, b in spans]
                for m, opts in options.items()}
        return {m: join_factorizations([j.result() for j in js]) for m, js in jobs.items()}


# ---- executors ---------------------------------------------------------------------------------

class Deferred:
    """A call made in this process the first time its result is asked for."""

    def __init__(self, fn, args: tuple, kwargs: dict):
        self._call = (fn, args, kwargs)
        self._value = None

    def result(self):
        if self._call is not None:
            fn, args, kwargs = self._call
            self._value, self._call = fn(*args, **kwargs), None
        return self._value


class InProcess:
    """Runs tasks in this process, lazily and in the order their results are asked for."""

    local = True
    threads = None
    """Tasks use the threads the caller asks for (None: the engine's rule)."""

    @property
    def memory(self) -> int | None:
        """Bytes this process can still use (:func:`sigfactor._validation.available_memory`)."""
        return available_memory()

    def share(self, data):
        return data

    def submit(self, fn, *args, **kwargs) -> Deferred:
        return Deferred(fn, args, kwargs)

    def cancel(self, futures) -> None:
        for f in futures:
            f._call = None


class OnDask:
    """Runs tasks on the workers of a :class:`dask.distributed.Client`."""

    local = False

    def __init__(self, client):
        self.client = client

    @property
    def threads(self) -> int:
        """Worker threads of the cluster (at least 1)."""
        return max(1, sum(self.client.nthreads().values()))

    @property
    def memory(self) -> int | None:
        """The least memory limit per thread of any worker (None when no worker has a limit)."""
        limits = [limit / max(1, threads) for limit, threads in self.client.run_on_scheduler(_worker_limits)
                  if limit]
        return int(min(limits)) if limits else None

    def share(self, data):
        """Send ``data`` to every worker once; tasks take the returned future as an argument."""
        return self.client.scatter(data, broadcast=True)

    def submit(self, fn, *args, **kwargs):
        return self.client.submit(fn, *args, pure=False, **kwargs)

    def cancel(self, futures) -> None:
        futures = list(futures)
        if futures:
            self.client.cancel(futures)


def _worker_limits(dask_scheduler) -> list[tuple[int, int]]:
    """``(memory_limit, nthreads)`` of every worker, read on the scheduler."""
    return [(int(w.memory_limit or 0), int(w.nthreads)) for w in dask_scheduler.workers.values()]


def _is_client(value) -> bool:
    dist = sys.modules.get("distributed")
    return dist is not None and isinstance(value, dist.Client)


def check_scheduler(scheduler):
    """Return ``scheduler`` if it names an executor (see the module's docstring), else raise."""
    if scheduler is None or _is_client(scheduler):
        return scheduler
    if isinstance(scheduler, os.PathLike):
        scheduler = os.fspath(scheduler)
    if isinstance(scheduler, str) and scheduler.strip():
        text = scheduler.strip()
        if text == "local" or text.endswith(".json") or ":" in text:
            if text.endswith(".json") and not os.path.isfile(text):
                raise FileNotFoundError(f"scheduler={scheduler!r}: no such scheduler file.")
            return text
    raise ValueError(f"scheduler={scheduler!r} is not valid; expected {SCHEDULER_EXPECTED}.")


def describe_scheduler(scheduler) -> str:
    """How ``scheduler`` is recorded in a result's settings."""
    if scheduler is None:
        return "in-process"
    if _is_client(scheduler):
        return f"dask client of {scheduler.scheduler.address}"
    return str(scheduler)


def local_workers() -> int:
    """Worker processes of ``scheduler="local"``: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                  # not on Linux
        return os.cpu_count() or 1


def worker_library_path(value: str | None) -> str | None:
    """``LD_LIBRARY_PATH`` for worker processes started from this one: ``value`` without the
    folders that hold another copy of this interpreter's shared libpython.

    Under R (reticulate), ``LD_LIBRARY_PATH`` starts with R's library folders, which include
    the system's ``/usr/lib/x86_64-linux-gnu`` and its ``libpython3.X.so.1.0``. A Python built
    with a shared libpython then loads the system's copy before its own in a new process (the
    variable comes before RUNPATH), and its extension modules fail (``import ssl``: undefined
    symbol), so a ``LocalCluster`` started from R never gets a worker. Folders without such a
    file, and the interpreter's own ``LIBDIR``, are kept.
    """
    import sysconfig

    soname = sysconfig.get_config_var("INSTSONAME")
    if not value or not soname or not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        return value
    own = os.path.realpath(sysconfig.get_config_var("LIBDIR") or "")
    keep = [d for d in value.split(os.pathsep)
            if not d or os.path.realpath(d) == own or not os.path.exists(os.path.join(d, soname))]
    return os.pathsep.join(keep)


@contextlib.contextmanager
def _worker_environment():
    """This process's ``LD_LIBRARY_PATH`` cleaned by :func:`worker_library_path` while worker
    processes are started (they inherit it), restored afterwards."""
    saved = os.environ.get("LD_LIBRARY_PATH")
    cleaned = worker_library_path(saved)
    if cleaned == saved:
        yield
        return
    os.environ["LD_LIBRARY_PATH"] = cleaned
    try:
        yield
    finally:
        os.environ["LD_LIBRARY_PATH"] = saved


@contextlib.contextmanager
def executor(scheduler=None):
    """The executor for ``scheduler`` (checked by :func:`check_scheduler`), as a context.

    A cluster or client this function starts (``"local"``, an address, a scheduler file) is
    closed on leaving; a :class:`~dask.distributed.Client` passed in is left open.
    """
    scheduler = check_scheduler(scheduler)
    if scheduler is None:
        yield InProcess()
        return
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ImportError(f"scheduler={describe_scheduler(scheduler)!r} needs Dask; install it with "
                          "pip install 'sigfactor[dask]' (dask[distributed]).") from None
    if _is_client(scheduler):
        yield OnDask(scheduler)
    elif scheduler == "local":
        with _worker_environment(), \
                LocalCluster(n_workers=local_workers(), threads_per_worker=1, processes=True, host="127.0.0.1",
                             dashboard_address=None) as cluster, Client(cluster) as client:
            yield OnDask(client)
    elif scheduler.endswith(".json"):
        with Client(scheduler_file=scheduler) as client:
            yield OnDask(client)
    else:
        with Client(scheduler) as client:
            yield OnDask(client)
