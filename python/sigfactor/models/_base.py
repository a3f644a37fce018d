"""What every model shares and needs no PyTorch: names, seeds, initial draws, warnings, threads.

Kept free of PyTorch so that KL NMF on the CPU (sigfactor's compiled kernels,
:mod:`._kl_cpu`) and the extraction around it run without importing it (importing PyTorch
takes about a second, a fifth of a small extraction). The PyTorch solvers use the same
pieces, so a restart starts from the same values on every path and device.
"""
from __future__ import annotations

import os
import string
import sys
import warnings

import numpy as np

MODELS = ("nmf", "convex", "aenmf", "mvnmf")
LOSSES = ("frobenius", "kl")
MODEL_LOSSES = {"nmf": ("frobenius", "kl"), "convex": ("frobenius",), "aenmf": ("frobenius", "kl"),
                "mvnmf": ("kl", "frobenius")}
"""Losses each model accepts; the first is its default (minimum-volume NMF's is KL, :mod:`.mvnmf`)."""
INITS = ("random", "nndsvd", "linear", "uniform")
MODEL_INITS = {"nmf": ("random", "nndsvd"), "convex": ("random",), "aenmf": ("linear", "uniform"),
               "mvnmf": ("random", "nndsvd")}
"""Starting values each model accepts; the first is its default (AE-NMF's: :mod:`.aenmf`)."""
CONSTRAINTS = ("fpabs", "fppg", "pg", "abs")
"""AE-NMF's non-negativity schemes (:mod:`.aenmf`)."""
SOLVERS = ("mu", "cd")
"""KL NMF's algorithms: multiplicative updates or coordinate descent (:mod:`.nmf`)."""
CD_KEEP = 0.75
"""Least fraction of itself an entry of ``W H`` with counts keeps in one step of coordinate
descent (:func:`sigfactor.models._kl_cpu._cd_update` says why)."""
EXTRAPOLATION = (0.5, 1.5, 8.0, 0.5, 0.25)
"""Coordinate descent's extrapolation between checks (:func:`sigfactor.models._driver.extrapolate`):
the step's first factor ``beta``, the factor it grows by when a step is taken, its most, the
factor it shrinks by when one is refused, and its least."""


class ConvergenceWarning(UserWarning):
    """Some restarts reached ``max_iter`` before their relative loss change fell below ``tol``."""


def signature_names(k: int, prefix: str = "SBS96") -> list[str]:
    """De novo signature names in SigProfiler's style: ``SBS96A``, ``SBS96B``, ... ``SBS96AA``."""
    letters = string.ascii_uppercase
    names = []
    for i in range(k):
        label, j = "", i
        while True:
            label = letters[j % 26] + label
            j = j // 26 - 1
            if j < 0:
                break
        names.append(prefix + label)
    return names


def restart_seeds(seed, n_restarts: int) -> np.ndarray:
    """Per-restart seeds from one seed.

    An integer seed gives ``n_restarts`` 32-bit seeds from ``numpy.random.SeedSequence(seed)``;
    asking for more restarts extends the list (the first seeds stay the same). A sequence of
    integers is taken as the per-restart seeds themselves, so restart ``i`` of a batch can be
    rerun alone with ``seed=[seeds[i]]``.
    """
    if isinstance(seed, (list, tuple, np.ndarray)):
        seeds = np.asarray(seed)
        if seeds.ndim != 1 or seeds.size != n_restarts or not np.issubdtype(seeds.dtype, np.integer):
            raise ValueError(
                f"seed={list(seed)!r} is not valid; expected one integer or a list of "
                f"n_restarts={n_restarts} integers."
            )
        if (seeds < 0).any():
            raise ValueError(f"seed={list(seed)!r} is not valid; expected non-negative integers.")
        return seeds.astype(np.uint64)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} is not valid; expected a non-negative integer or a list of them.")
    return np.random.SeedSequence(int(seed)).generate_state(n_restarts).astype(np.uint64)


class Streams:
    """One random stream per restart: a Mersenne Twister seeded with the restart's seed.

    :meth:`uniform` gives, bit for bit, what ``torch.rand(shape, generator=g,
    dtype=torch.float64)`` gives for ``g = torch.Generator().manual_seed(seed)`` (the same
    MT19937 with the same seeding; each double takes two 32-bit outputs, first as the high
    word, keeping the low 53 bits), successive calls continuing the stream as PyTorch's
    generator does. A test checks the equality against PyTorch. Seeds must be below 2**32.
    """

    def __init__(self, seeds):
        seeds = np.asarray(seeds, dtype=np.uint64)
        if (seeds >= 2 ** 32).any():
            raise ValueError(f"seeds={seeds.tolist()!r} are not valid; expected integers below 2**32.")
        self.seeds = seeds
        self._engines = []
        for s in seeds:
            engine = np.random.MT19937()
            engine._legacy_seeding(int(s))
            self._engines.append(engine)

    def __len__(self) -> int:
        return len(self._engines)

    def uniform(self, shape: tuple, high) -> np.ndarray:
        """``(R, *shape)`` float64 draws from ``U(0, high)``, one block per stream.

        ``high`` is a float or a length-R sequence (one scale per restart).
        """
        size = int(np.prod(shape, dtype=np.int64))
        out = np.empty((len(self._engines), size), dtype=np.float64)
        mask = np.uint64((1 << 53) - 1)
        for r, engine in enumerate(self._engines):
            raw = engine.random_raw(2 * size).astype(np.uint64)
            out[r] = ((raw[0::2] << np.uint64(32)) | raw[1::2]) & mask
        out *= 2.0 ** -53
        out *= np.asarray(high, dtype=np.float64).reshape(-1, 1)
        return out.reshape(len(self._engines), *shape)


def batch_means(V: np.ndarray) -> np.ndarray:
    """Mean entry of each catalogue of ``(B, channels, samples)`` ``V``, in float64 (``(B,)``).

    Each catalogue is converted to float64 on its own, so the temporary copy is one catalogue,
    not the batch (the same sums as converting the batch at once).
    """
    return np.array([np.asarray(v, dtype=np.float64).mean() for v in V], dtype=np.float64)


def nmf_random_init(means: np.ndarray, shape: tuple, rank: int, streams: Streams) -> tuple[np.ndarray, np.ndarray]:
    """NMF's uniform start, float64: ``W, H ~ U(0, 2 sqrt(mean(V) / k))`` so ``E[(W H)_ij] = mean(V)``.

    ``means`` holds each catalogue's mean entry (:func:`batch_means`, one per restart or one for
    all); ``shape`` is (channels, samples). Returns ``W`` ``(R, channels, k)``, ``H`` ``(R, k, samples)``.
    """
    m, n = shape
    means = np.broadcast_to(np.asarray(means, dtype=np.float64), (len(streams),))
    high = 2.0 * np.sqrt(means / rank)
    return streams.uniform((m, rank), high), streams.uniform((rank, n), high)


def default_threads() -> int:
    """CPU threads a fit uses unless told otherwise: PyTorch's setting once PyTorch is loaded,
    else ``OMP_NUM_THREADS`` if set, else the CPUs this process may run on."""
    if "torch" in sys.modules:
        return int(sys.modules["torch"].get_num_threads())
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                  # not on Linux
        return os.cpu_count() or 1


def warn_not_converged(not_converged: int, n_restarts: int, max_iter: int, tol: float) -> None:
    """One :class:`ConvergenceWarning` with the count of restarts that hit ``max_iter``,
    reported at the user's call (the first frame outside sigfactor), whichever entry point
    (``factorize``, ``fit``, ``extract``, ``compare_models``) led here."""
    if not_converged:
        warnings.warn(
            f"{not_converged} of {n_restarts} restart(s) did not converge within max_iter={max_iter} "
            f"iterations (tol={tol:g}); increase max_iter or loosen tol.",
            ConvergenceWarning,
            stacklevel=_user_stacklevel(),
        )


def _user_stacklevel() -> int:
    """``stacklevel`` for :func:`warnings.warn`, called from here, that points past sigfactor."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "sigfactor":
        frame, level = frame.f_back, level + 1
    return level
