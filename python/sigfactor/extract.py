"""De novo signature extraction: SigProfilerExtractor's workflow on sigfactor's batched engine.

:func:`extract` is a thin orchestrator over small pure pieces:

1. resampling (:func:`resample_counts`, one multinomial draw per sample keeping its total) and
   normalisation of hypermutated samples (:mod:`sigfactor.normalize`);
2. the restarts of each rank fitted in batches (:func:`sigfactor.models._restarts.fit_restarts`:
   KL NMF on the CPU in sigfactor's compiled kernels without importing PyTorch, any other
   model, loss or device through :func:`sigfactor.models.fit`), by default all of a rank's
   restarts as one batch in this process, or in blocks on a Dask cluster
   (:mod:`sigfactor.parallel`);
3. consensus signatures and stability (:mod:`sigfactor.consensus`);
4. exposures refitted to the real counts (:mod:`sigfactor.refit`) and per-sample errors
   (:func:`sample_statistics`);
5. rank selection (:mod:`sigfactor.selection`, SigProfilerExtractor's rule, by default; or
   bi-cross-validation or the Poisson BIC, :mod:`sigfactor.rank_rules`; every rule's evidence is
   in the rank table);
6. COSMIC matching and decomposition (:mod:`sigfactor.matching`, :mod:`sigfactor.decompose`).

Choices, and where they differ from SigProfilerExtractor 1.4:

- Stopping: each restart stops when its loss changed by less than 1e-6 (relative) over 10
  iterations, or at 10,000 iterations (:data:`DEFAULTS`). SigProfilerExtractor runs at least
  10,000 and up to 1,000,000 iterations with a far smaller tolerance. Measured on the 21
  breast genomes (ranks 3 and 4, 20 restarts): float64 with ``tol=1e-10`` and up to 200,000
  iterations (13x more iterations at rank 3, 26x at rank 4, 40x the time) gave consensus
  signatures at cosine >= 0.995 to the defaults' and the same stabilities to +-0.013. In
  float32 a ``tol`` below about 1e-7 is below the loss's resolution. Restarts that hit the
  cap are counted in ``stats["converged_fraction"]``.
- Initial values: uniform random, one generator per restart, seeded from ``seed`` and the rank
  (:func:`rank_seed`); the resampled catalogues come from one generator seeded from ``seed``
  (:func:`resample_seed`) and serve every rank, as SigProfilerExtractor reuses its replicate
  seeds across ranks.
- Exposures: refitted to the real counts with the consensus signatures (NNLS, or KL with
  ``refit_loss="kl"``); this is the mapping back from normalised counts.
- Rank selection: :mod:`sigfactor.selection` (SigProfilerExtractor's thresholds and Wilcoxon
  rule; on the 21 breast genomes it chose 3 on ten seeds with 100 restarts, the decisive
  p-value of rank 3 against 4 lying between 0.051 and 0.064, which the result flags as a close
  call).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import channels as ch
from ._meta import plain, versions
from ._validation import (
    available_memory, check_choice, check_counts, check_int, check_kl_exponent, check_positive_float, check_seed,
    check_solver,
    device_name, dtype_name,
)
from .catalogue import Catalogue, _is_anndata, as_catalogue
from .consensus import consensus
from .decompose import decompose, describe
from .matching import match_signatures
from .models._base import MODELS, restart_seeds, signature_names, warn_not_converged
from .models._restarts import Restarts
from .normalize import NORMALIZATIONS, gmm_cutoff, normalize
from .parallel import block_length, blocks, check_scheduler, describe_scheduler, executor, fit_block, join_blocks
from .refit import nnls, refit_kl
from .rank_rules import (
    BCV_RESTARTS, RANK_RULES, bcv_partition, bcv_rank, bcv_seed, choose_bcv, choose_bic, choose_stable_bcv, poisson_bic,
    selection_reason,
)
from .selection import STABILITY_DECIMALS, select_rank, stable_ranks

__all__ = ["extract", "ExtractionResult", "RankSolution", "resample_counts", "sample_statistics",
           "parse_ranks", "resolve_reference", "DEFAULTS"]

DEFAULTS = {"max_iter": 10000, "tol": 1e-6, "check_every": 10}
"""Stopping rule of every restart: the relative change of the loss between two checks 10
iterations apart below 1e-6, or 10,000 iterations (KL multiplicative updates on the 21 breast
genomes converge in about 150-8,000 iterations by this rule, depending on the rank)."""


RESAMPLE_FLOOR = 1e-4
"""Entries of the fitted (resampled or raw) catalogues are floored at this value, as
SigProfilerExtractor's ``pnmf`` does before normalising."""


REFERENCES = {
    "COSMIC_v3.4_SBS96_GRCh37": dict(kind="SBS96", build="GRCh37"),
    "COSMIC_v3.4_SBS96_GRCh38": dict(kind="SBS96", build="GRCh38"),
    "COSMIC_v3.4_SBS96_GRCh37_exome": dict(kind="SBS96", build="GRCh37", exome=True),
    "COSMIC_v3.4_DBS78_GRCh37": dict(kind="DBS78", build="GRCh37"),
    "COSMIC_v3.4_ID83_GRCh37": dict(kind="ID83", build="GRCh37"),
}


# ---- results -----------------------------------------------------------------------------------

@dataclass
class RankSolution:
    """Everything computed at one rank."""

    rank: int
    signatures: pd.DataFrame
    """Channels x k consensus signatures (columns sum to 1)."""
    exposures: pd.DataFrame
    """Samples x k exposures refitted to the real counts."""
    stability: pd.Series
    """Mean cosine silhouette of each consensus signature."""
    sample_stats: pd.DataFrame
    """Per-sample fit: total, cosine, L1/L2 errors (absolute and %), KL, correlation."""
    restart_loss: np.ndarray
    restart_iterations: np.ndarray
    converged: float
    """Fraction of restarts that met the tolerance."""
    fit_seed: int
    seconds: float
    threads: int | None = None
    """CPU threads of the fits (None on a GPU)."""
    cosmic_matches: pd.DataFrame | None = None
    bcv_folds: list | None = None
    """Bi-cross-validation folds at this rank (:class:`sigfactor.rank_rules.BCVFold`)."""


@dataclass
class ExtractionResult:
    """Result of :func:`extract`.

    Attributes
    ----------
    signatures : pandas.DataFrame
        Channels x k de novo signatures of the chosen rank (``SBS96A``, ...), columns sum to 1.
    exposures : pandas.DataFrame
        Samples x k exposures (mutation counts) refitted to the chosen signatures.
    rank : int
        The chosen rank.
    stats : pandas.DataFrame
        One row per rank fitted: stabilities, errors, selection columns (``stable``,
        ``considered``, ``p_value``; ``bcv_error``, ``bcv_se``, ``bic``; ``chosen_by_<rule>``
        for each of :data:`sigfactor.rank_rules.RANK_RULES`; ``chosen``, the choice of
        ``rank_rule``), convergence and timing, and the sweep's
        (``unstable_in_a_row``: unstable ranks in a row ending at this rank, counted once a rank
        was stable; ``sweep_stopped``: the rank after which ``stop_after_unstable`` stopped it).
    selection_reason : str
    solutions : dict of int to RankSolution
        Every rank's solution.
    cosmic_matches : pandas.DataFrame
        One-to-one (Hungarian) cosine match of each chosen signature to the reference.
    decompositions : dict of str to Decomposition
        Each chosen signature written as reference signatures.
    cosmic_signatures, cosmic_exposures : pandas.DataFrame
        The reference signatures used by the decompositions (plus any new signature kept under
        its de novo name) and the catalogue's exposures refitted to them.
    catalogue : Catalogue
        The input counts.
    settings : dict
        Arguments, seeds, versions, device and timings (JSON-serialisable).
    """

    signatures: pd.DataFrame
    exposures: pd.DataFrame
    rank: int
    stats: pd.DataFrame
    selection_reason: str
    solutions: dict
    cosmic_matches: pd.DataFrame
    decompositions: dict
    cosmic_signatures: pd.DataFrame
    cosmic_exposures: pd.DataFrame
    catalogue: Catalogue
    settings: dict = field(default_factory=dict)

    @property
    def reconstructed(self) -> pd.DataFrame:
        """Channels x samples reconstruction ``signatures @ exposures.T`` of the chosen rank."""
        return self.signatures @ self.exposures.T

    def decomposition_table(self) -> pd.DataFrame:
        """SigProfiler's ``De_Novo_map_to_COSMIC`` table for the chosen signatures."""
        return decomposition_table(self.signatures, self.decompositions, self.cosmic_signatures)

    def to_mutationalpatterns(self) -> dict:
        """MutationalPatterns-style results: ``signatures`` (channels x k), ``contribution``
        (k x samples), ``reconstructed`` (channels x samples), with MutationalPatterns
        channel labels (``A[C>A]A``), in MutationalPatterns' row order."""
        mp_order = ch.order(self.catalogue.kind, "mutationalpatterns") if self.catalogue.kind == "SBS96" else None

        def relabel(frame):
            frame = frame.copy()
            if mp_order is not None:
                frame.index = pd.Index(ch.to_mutationalpatterns(frame.index))
                frame = frame.loc[mp_order]
            return frame

        return {"signatures": relabel(self.signatures), "contribution": self.exposures.T.copy(),
                "reconstructed": relabel(self.reconstructed)}

    def __repr__(self) -> str:
        return (f"ExtractionResult(rank={self.rank}, signatures={list(self.signatures.columns)}, "
                f"samples={self.exposures.shape[0]}, ranks={list(self.stats.index)})")


# ---- pure pieces -----------------------------------------------------------------------------

def parse_ranks(ranks) -> list[int]:
    """Ranks from an int, a range/list of ints, or a string ``"1-10"``, ``"4"`` or ``"2,4,6"``.

    Ranks above the most channels of any catalogue kind (96) are refused before the list is
    built (``"1-1000000000000"`` would otherwise allocate it); :func:`extract` then bounds
    them by the catalogue's samples and channels.
    """
    most = max(len(labels) for labels in ch.KINDS.values())

    def refuse_above(high: int) -> None:
        if high > most:
            raise ValueError(f"ranks={ranks!r} reach {high}; a rank is at most the number of samples and of "
                             f"channels, and no catalogue has more than {most} channels. Expected ranks <= {most}.")

    if isinstance(ranks, str):
        text = ranks.strip()
        try:
            if "-" in text:
                lo, hi = (int(x) for x in text.split("-", 1))
                refuse_above(hi)
                values = list(range(lo, hi + 1))
            else:
                values = [int(x) for x in text.split(",")]
        except ValueError as err:
            if str(err).startswith("ranks="):
                raise
            raise ValueError(f"ranks={ranks!r} is not valid; expected e.g. '1-10', '4' or '2,4,6'.") from None
    elif isinstance(ranks, (int, np.integer)) and not isinstance(ranks, bool):
        values = [int(ranks)]
    elif isinstance(ranks, range):
        if len(ranks):
            refuse_above(max(ranks[0], ranks[-1]))
        values = list(ranks)
    else:
        try:
            iterator = iter(ranks)
        except TypeError:
            raise TypeError(f"ranks={ranks!r} is not valid; expected an int, a range or a list of ints.") from None
        values = []
        for v in iterator:
            refuse_above(check_int("ranks", v))
            values.append(int(v))
    if not values:
        raise ValueError(f"ranks={ranks!r} is empty; expected at least one rank.")
    if min(values) < 1:
        raise ValueError(f"ranks={ranks!r} is not valid; every rank must be >= 1.")
    refuse_above(max(values))
    return sorted(set(values))


def resolve_reference(reference, kind: str) -> pd.DataFrame:
    """Reference signatures from None (COSMIC v3.4 GRCh37 of the catalogue's kind), a name in
    :data:`REFERENCES`, a file or a DataFrame."""
    from . import reference as ref

    if reference is None:
        return ref.cosmic(kind=kind)
    if isinstance(reference, pd.DataFrame):
        table = ref.read_signatures(reference)
    elif isinstance(reference, str) and reference in REFERENCES:
        table = ref.cosmic(**REFERENCES[reference])
    elif isinstance(reference, (str, os.PathLike)):
        if not os.path.exists(reference):
            raise ValueError(f"reference={str(reference)!r} is neither a file nor a known name; expected a "
                             f"signature file or one of {', '.join(REFERENCES)}.")
        table = ref.read_signatures(reference)
    else:
        raise TypeError(f"reference={reference!r} is not valid; expected None, a name, a path or a DataFrame.")
    if list(table.index) != list(ch.KINDS[kind]):
        raise ValueError(f"reference holds {len(table.index)} channels of another kind; the catalogue is {kind}. "
                         "Expected reference signatures of the same kind.")
    return table


def _check_sizes(cat, counts: np.ndarray, rank_list: list, *, n_restarts: int, seed: int, resample: bool,
                 dtype: str = "float32") -> None:
    """Refuse, before anything large is allocated, what cannot be done.

    - ``seed`` beyond the signed 64-bit integers in which results record it;
    - with ``resample``, a sample of 2**63 or more mutations (numpy draws multinomial counts as
      64-bit integers; beyond that it fails with "n < 0");
    - ``n_restarts`` and ``ranks`` that need more memory than is available. The estimate is a
      floor: the fitted catalogues in the working ``dtype`` (``n_restarts x channels x samples``
      entries with resampling, one catalogue without) plus one block of resampling
      intermediates (:data:`RESAMPLE_BLOCK_BYTES`), and ``(n_restarts x highest rank)**2 x 8``
      bytes (the consensus clustering's distance matrix, :func:`sigfactor.consensus.consensus`).
    """
    check_seed("seed", seed)
    if resample:
        totals = counts.sum(axis=1)
        over = np.flatnonzero(totals >= 2.0**63)
        if over.size:
            raise ValueError(
                f"data: sample {cat.samples[over[0]]!r} has {totals[over[0]]:.3g} mutations ({over.size} sample(s) "
                f"with 2**63 or more); resampling (resample=True) draws counts as 64-bit integers, which hold "
                f"less. Expected smaller counts, or resample=False (--no-resample).")
    entries = (n_restarts if resample else 1) * cat.n_channels * cat.n_samples
    needed = (entries * np.dtype(dtype).itemsize + (RESAMPLE_BLOCK_BYTES if resample else 0)
              + (n_restarts * max(rank_list)) ** 2 * 8)
    available = available_memory()
    if available is not None and needed > available:
        def size(n):
            return f"{n / 2**30:.3g} GiB" if n < 2**60 else f"{n / 2**60:.3g} EiB"

        raise ValueError(
            f"n_restarts={n_restarts} (--restarts) with ranks up to {max(rank_list)} needs at least {size(needed)} "
            f"of memory (resampled catalogues of {cat.n_channels} channels x {cat.n_samples} samples per restart, "
            f"and the consensus of {n_restarts} x {max(rank_list)} signatures), but {size(available)} is "
            f"available. Expected fewer restarts or lower ranks.")


def resample_counts(counts: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` multinomial resamples of a samples x channels catalogue, each sample keeping its total.

    Returns
    -------
    numpy.ndarray
        ``(n, channels, samples)`` float64, the engine's orientation.
    """
    counts = np.asarray(counts, dtype=np.float64)
    totals = np.rint(counts.sum(axis=1)).astype(np.int64)
    probs = counts / counts.sum(axis=1, keepdims=True)
    draws = rng.multinomial(totals, probs, size=(n, counts.shape[0]))    # (n, samples, channels)
    return draws.transpose(0, 2, 1).astype(np.float64)


RESAMPLE_BLOCK_BYTES = 64 * 2**20
"""Memory of the float64 intermediates of one block of resamples (:func:`fitted_catalogues`)."""


def fitted_catalogues(counts: np.ndarray, n: int, rng: np.random.Generator | None, *, normalization: str,
                      cutoff: float | None, dtype: str) -> np.ndarray:
    """The catalogues the restarts fit, ``(n, channels, samples)`` in ``dtype``.

    ``n`` resamples drawn from ``rng`` (:func:`resample_counts`), or the catalogue itself
    (``(1, channels, samples)``) when ``rng`` is None; every entry floored at
    :data:`RESAMPLE_FLOOR`, as SigProfilerExtractor's pnmf does before normalising (so no sample
    or channel is exactly zero in a fit), then normalised (:func:`sigfactor.normalize.normalize`;
    exposures are refitted to the real counts later). Resamples are made a block at a time
    (:data:`RESAMPLE_BLOCK_BYTES`) straight into the result, so only one block's float64
    intermediates exist at once; the draws continue one generator, so the result is the same,
    bit for bit, as drawing all ``n`` at once.
    """
    channels, samples = counts.shape[1], counts.shape[0]
    if rng is None:
        V = np.maximum(np.asarray(counts, dtype=np.float64).T[None], RESAMPLE_FLOOR)
        return np.ascontiguousarray(normalize(V, normalization, cutoff)[0], dtype=dtype)
    out = np.empty((n, channels, samples), dtype=dtype)
    size = max(1, RESAMPLE_BLOCK_BYTES // (32 * channels * samples))     # int64 draws and three float64 arrays
    for a, b in blocks(n, size):
        V = np.maximum(resample_counts(counts, b - a, rng), RESAMPLE_FLOOR)
        out[a:b] = normalize(V, normalization, cutoff)[0]
    return out


def fit_bytes(channels: int, samples: int, rank: int, dtype: str) -> int:
    """Estimated memory of one restart's fit beyond the catalogues it shares: four catalogue-sized
    arrays in the working precision (the kernels' padded and transposed copies; PyTorch's
    reconstruction, ratio and update temporaries), the factors with their float64 draws, and two
    factor-sized arrays in the working precision (where coordinate descent's previous check
    ended, :func:`sigfactor.models._driver.extrapolate`)."""
    size = np.dtype(dtype).itemsize
    return 4 * channels * samples * size + 4 * (channels + samples) * rank * 8 + 2 * (channels + samples) * rank * size


def sample_statistics(X: np.ndarray, X_hat: np.ndarray, samples) -> pd.DataFrame:
    """Per-sample agreement of a catalogue and its reconstruction, both channels x samples.

    Columns as SigProfilerExtractor's ``Samples_stats``: ``Total Mutations``, ``Cosine
    Similarity``, ``L1 Norm``, ``L1_Norm_%``, ``L2 Norm``, ``L2_Norm_%``, ``KL Divergence``
    (of the two profiles as distributions) and ``Correlation`` (Pearson).
    """
    X = np.asarray(X, dtype=np.float64)
    X_hat = np.asarray(X_hat, dtype=np.float64)
    total = X.sum(axis=0)
    diff = X - X_hat
    l1 = np.abs(diff).sum(axis=0)
    l2 = np.linalg.norm(diff, axis=0)
    nx, nh = np.linalg.norm(X, axis=0), np.linalg.norm(X_hat, axis=0)
    cos = np.where(nx * nh > 0, (X * X_hat).sum(axis=0) / np.where(nx * nh > 0, nx * nh, 1), 0.0)
    tiny = np.finfo(np.float64).tiny
    p = X / np.maximum(total, tiny)
    q = X_hat / np.maximum(X_hat.sum(axis=0), tiny)
    kl = np.where(p > 0, p * np.log(np.maximum(p, tiny) / np.maximum(q, tiny)), 0.0).sum(axis=0)
    xc, hc = X - X.mean(axis=0), X_hat - X_hat.mean(axis=0)
    den = np.linalg.norm(xc, axis=0) * np.linalg.norm(hc, axis=0)
    corr = np.where(den > 0, (xc * hc).sum(axis=0) / np.where(den > 0, den, 1), 0.0)
    return pd.DataFrame({
        "Total Mutations": total, "Cosine Similarity": cos, "L1 Norm": l1,
        "L1_Norm_%": 100 * l1 / np.maximum(np.abs(X).sum(axis=0), tiny), "L2 Norm": l2,
        "L2_Norm_%": 100 * l2 / np.maximum(nx, tiny), "KL Divergence": kl, "Correlation": corr,
    }, index=pd.Index(samples, name="Sample Names"))


def refit_exposures(signatures: np.ndarray, counts_cs: np.ndarray, loss: str) -> np.ndarray:
    """Exposures (k x samples) of channels x samples counts to channels x k signatures, float64."""
    return nnls(signatures, counts_cs) if loss == "frobenius" else refit_kl(signatures, counts_cs)


def rank_seed(seed: int, rank: int) -> int:
    """Seed of the restarts at ``rank``: depends on the seed and the rank only, not on the
    other ranks asked for."""
    return int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


def consensus_seed(rank_seed_: int) -> int:
    """Seed of the consensus clustering's random starts at one rank (from that rank's seed)."""
    return int(np.random.SeedSequence([rank_seed_, 1]).generate_state(1)[0])


def resample_seed(seed: int) -> int:
    """Seed of the resampling generator (the same resampled catalogues serve every rank)."""
    return int(np.random.SeedSequence([seed, 0]).generate_state(1)[0])


def decomposition_table(signatures: pd.DataFrame, decompositions: dict, reference: pd.DataFrame) -> pd.DataFrame:
    """One row per de novo signature, SigProfiler's ``De_Novo_map_to_COSMIC`` columns."""
    rows = []
    for name in signatures.columns:
        dec = decompositions[name]
        s = signatures[name].to_numpy(np.float64)
        s = s / s.sum()
        if dec.novel:
            recon = s.copy()
        else:
            recon = reference.loc[signatures.index, dec.weights.index].to_numpy(np.float64)
            recon = recon / recon.sum(axis=0) @ dec.weights.to_numpy()
        stats = sample_statistics(s[:, None], recon[:, None], [name]).iloc[0]
        rows.append({
            "De novo extracted": name,
            "Global NMF Signatures": name if dec.novel else describe(dec.weights),
            "L1 Error %": round(stats["L1_Norm_%"], 2), "L2 Error %": round(stats["L2_Norm_%"], 2),
            "KL Divergence": round(stats["KL Divergence"], 5),
            "Cosine Similarity": round(dec.cosine, 3), "Correlation": round(stats["Correlation"], 3),
        })
    return pd.DataFrame(rows)


def cosmic_solution(signatures: pd.DataFrame, decompositions: dict, reference: pd.DataFrame) -> pd.DataFrame:
    """Signatures of the COSMIC-decomposed solution: every reference signature any decomposition
    uses (in the reference's order), then new signatures under their de novo names."""
    used = {n for d in decompositions.values() if not d.novel for n in d.weights.index}
    names = [c for c in reference.columns if c in used]
    table = reference.loc[signatures.index, names]
    table = table / table.sum(axis=0)
    novel = [n for n, d in decompositions.items() if d.novel]
    if novel:
        table = pd.concat([table, signatures[novel]], axis=1)
    return table


# ---- orchestration -----------------------------------------------------------------------------

def _progress_bar(enabled: bool, total: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="extract", unit="restart", dynamic_ncols=True)


def _iteration_hook(bar, rank: int):
    """Progress callback for :func:`sigfactor.models.fit`: shows the rank and iteration count."""
    done = {"it": 0}

    def hook(n: int) -> None:
        done["it"] += n
        bar.set_postfix_str(f"rank {rank}, iteration {done['it']}", refresh=False)

    return hook


def _fit_rank(fitted: Restarts, counts_cs: np.ndarray, rank: int, *, seed: int, refit_loss: str,
              names: list[str], channels: pd.Index, samples: pd.Index, fit_seconds: float) -> RankSolution:
    """Consensus, refit and errors at one rank from its fitted restarts (``fit_seconds``: the
    time the fits took, added to the rank's ``seconds``)."""
    started = time.perf_counter()
    cons = consensus(fitted.signatures, start=fitted.best_index, seed=consensus_seed(seed))
    H = refit_exposures(cons.signatures, counts_cs, refit_loss)
    stats = sample_statistics(counts_cs, cons.signatures @ H, samples)
    return RankSolution(
        rank=rank,
        signatures=pd.DataFrame(cons.signatures, index=channels, columns=names),
        exposures=pd.DataFrame(H.T, index=samples, columns=names),
        stability=pd.Series(cons.stability, index=names, name="stability"),
        sample_stats=stats,
        restart_loss=fitted.loss,
        restart_iterations=fitted.n_iter,
        converged=float(fitted.converged.mean()),
        fit_seed=seed,
        threads=fitted.threads,
        seconds=fit_seconds + time.perf_counter() - started,
    )


def _fit_ranks(V, counts_cs, rank_list, cat, *, seed, n_restarts, refit_loss, engine, progress,
               scheduler=None, block_size=None, stop_after_unstable=None) -> tuple[dict, dict]:
    """Every rank's :class:`RankSolution`, with a progress bar over ranks x restarts, and the
    sweep's record (:func:`_sweep_record`).

    The restarts of each rank are fitted in blocks sized by the threads and the memory available
    (:func:`sigfactor.parallel.block_length`, :func:`fit_bytes`), one
    :func:`sigfactor.parallel.fit_block` task each, on ``scheduler``'s executor; each
    rank's blocks are joined in restart order, and consensus, refit and errors run here, rank
    after rank. With ``stop_after_unstable=N`` the ranks after the N-th unstable rank in a row
    (counted once a rank was stable) are not fitted (their tasks are cancelled).
    """
    bar = _progress_bar(progress, len(rank_list) * n_restarts)
    solutions, streaks, skipped = {}, {}, []
    try:
        with executor(scheduler) as ex:
            spans = blocks(n_restarts, block_length(
                n_restarts, ex.threads, block_size, memory=ex.memory,
                item_bytes=fit_bytes(cat.n_channels, cat.n_samples, max(rank_list), engine["dtype"])))
            if not ex.local and engine["threads"] is None:
                engine = {**engine, "threads": 1}       # parallelism comes from the workers' threads
            shared = ex.share(V)
            pending = {}
            for k in rank_list:
                seeds = restart_seeds(rank_seed(seed, k), n_restarts)
                hook = _iteration_hook(bar, k) if bar is not None and ex.local else None
                pending[k] = [ex.submit(fit_block, shared, k, a, b, seeds[a:b], engine, progress=hook)
                              for a, b in spans]
            streak, seen_stable = 0, False
            for i, k in enumerate(rank_list):
                parts = []
                for (a, b), job in zip(spans, pending.pop(k)):
                    parts.append(job.result())
                    if bar is not None:
                        bar.update(b - a)
                fitted = join_blocks([p.restarts for p in parts])
                warn_not_converged(int((~fitted.converged).sum()), n_restarts, engine["max_iter"], engine["tol"])
                solutions[k] = _fit_rank(fitted, counts_cs, k, seed=rank_seed(seed, k), refit_loss=refit_loss,
                                         names=signature_names(k, cat.kind), channels=cat.channels,
                                         samples=cat.samples, fit_seconds=sum(p.seconds for p in parts))
                stable = rank_is_stable(solutions[k].stability)
                seen_stable = seen_stable or stable
                streak = streak + 1 if seen_stable and not stable else 0
                streaks[k] = streak
                if stop_after_unstable is not None and streak >= stop_after_unstable:
                    skipped = rank_list[i + 1:]
                    for r in skipped:
                        ex.cancel(pending.pop(r))
                    break
    finally:
        if bar is not None:
            if skipped:
                bar.total = bar.n
            bar.close()
    return solutions, _sweep_record(streaks, skipped, stop_after_unstable)


def rank_is_stable(stability: pd.Series) -> bool:
    """Whether a rank's signature stabilities pass :mod:`sigfactor.selection`'s thresholds
    (rounded as :func:`~sigfactor.selection.select_rank` rounds them)."""
    avg = pd.Series([float(stability.mean())]).round(STABILITY_DECIMALS)
    low = pd.Series([float(stability.min())]).round(STABILITY_DECIMALS)
    return bool(stable_ranks(avg, low).iloc[0])


def _sweep_record(streaks: dict, skipped: list, stop_after_unstable) -> dict:
    """Consecutive unstable ranks at each rank, where the sweep stopped and why."""
    record = {"stop_after_unstable": stop_after_unstable, "unstable_in_a_row": streaks,
              "stopped_after": None, "not_fitted": list(skipped), "reason": None}
    if skipped:
        last = list(streaks)[-1]
        unstable = list(streaks)[-stop_after_unstable:]
        record["stopped_after"] = last
        failed = (f"rank {unstable[0]} failed the stability thresholds" if len(unstable) == 1 else
                  f"ranks {', '.join(map(str, unstable))} failed the stability thresholds in a row")
        not_fitted = f"rank {skipped[0]} was" if len(skipped) == 1 else f"ranks {', '.join(map(str, skipped))} were"
        record["reason"] = (f"The sweep stopped after rank {last}: {failed} (stop_after_unstable="
                            f"{stop_after_unstable}), so {not_fitted} not fitted.")
    return record


def _rank_table(solutions: dict, counts_cs: np.ndarray) -> pd.DataFrame:
    rows = {}
    norm = np.linalg.norm(counts_cs)
    for k, sol in solutions.items():
        st = sol.sample_stats
        recon = sol.signatures.to_numpy() @ sol.exposures.to_numpy().T
        cos_dist = 1.0 - st["Cosine Similarity"]
        rows[k] = {
            "avg_stability": float(sol.stability.mean()), "min_stability": float(sol.stability.min()),
            "matrix_frobenius_pct": float(100 * np.linalg.norm(counts_cs - recon) / norm),
            "median_sample_l1_pct": float(st["L1_Norm_%"].median()), "max_sample_l1_pct": float(st["L1_Norm_%"].max()),
            "median_sample_l2_pct": float(st["L2_Norm_%"].median()), "max_sample_l2_pct": float(st["L2_Norm_%"].max()),
            "mean_sample_kl": float(st["KL Divergence"].mean()), "max_sample_kl": float(st["KL Divergence"].max()),
            "mean_cosine_distance": float(cos_dist.mean()), "max_cosine_distance": float(cos_dist.max()),
            "mean_correlation": float(st["Correlation"].mean()), "min_correlation": float(st["Correlation"].min()),
            "restart_loss_min": float(np.nanmin(sol.restart_loss)),
            "restart_loss_median": float(np.nanmedian(sol.restart_loss)),
            "converged_fraction": sol.converged, "seconds": sol.seconds,
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("rank")


def _bcv_fitter(engine: dict):
    """``fit(D, rank, seed) -> W``: the best of :data:`sigfactor.rank_rules.BCV_RESTARTS`
    restarts of the extraction's model on a training block, in this process, with the
    extraction's stopping rule (restarts that reach ``max_iter`` are not warned about: the
    warnings are the extraction's)."""
    import warnings

    from .models._base import ConvergenceWarning
    from .models._restarts import fit_restarts

    def fit(D, rank, seed):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fitted = fit_restarts(D[None], rank, n_restarts=BCV_RESTARTS, seed=seed, **engine)
        return fitted.signatures[fitted.best_index]

    return fit


def _select(rule: str, table: pd.DataFrame, solutions: dict, X_fit: np.ndarray, *, seed: int,
            engine: dict, rules=()) -> tuple[pd.DataFrame, int, str, dict]:
    """Every rule's per-rank evidence beside the rank table, the rank ``rule`` chooses and why.

    Adds SigProfilerExtractor's columns (``stable``, ``considered``, ``p_value``), the BCV and
    BIC columns of :mod:`sigfactor.rank_rules` for the rules in ``rules`` (and ``rule``),
    ``chosen_by_<rule>`` for each rule computed and ``chosen`` (the rule's choice); stores each
    rank's BCV folds in its solution when BCV is computed.
    """
    rules = set(rules) | {rule}
    spe = select_rank(table["avg_stability"], table["min_stability"],
                      {k: s.sample_stats["L2_Norm_%"].to_numpy() for k, s in solutions.items()})
    choices = {"sigprofiler": spe.rank}
    reasons = {"sigprofiler": "SigProfilerExtractor's rule: " + spe.reason}
    table = table.join(spe.table[["stable", "considered", "p_value"]])
    if rules & {"bcv", "stable_bcv"}:
        folds = bcv_partition(*X_fit.shape, seed)
        fit = _bcv_fitter(engine)
        for k, sol in solutions.items():
            sol.bcv_folds = bcv_rank(X_fit, k, folds, fit, engine["loss"], seed)
        errors = {k: [f.error for f in s.bcv_folds] for k, s in solutions.items()}
        bcv_choice, bcv_table, bcv_reason = choose_bcv(errors)
        if "bcv" in rules:
            choices["bcv"], reasons["bcv"] = bcv_choice, bcv_reason
        if "stable_bcv" in rules:
            choices["stable_bcv"], reasons["stable_bcv"] = choose_stable_bcv(errors, spe.table["stable"])
        if rule in ("bcv", "stable_bcv") and choices[rule] is None:
            raise ValueError(f"rank_rule={rule!r} cannot choose: {reasons[rule]} Expected ranks up to 2/3 of the "
                             f"samples ({X_fit.shape[1]}) and channels.")
        table = table.join(bcv_table[["bcv_error", "bcv_se"]])
    if "bic" in rules:
        table["bic"] = pd.Series({k: poisson_bic(X_fit, s.signatures.to_numpy(np.float64),
                                                 refit_kl(s.signatures.to_numpy(np.float64), X_fit))
                                  for k, s in solutions.items()}, name="bic")
        choices["bic"], reasons["bic"] = choose_bic(table["bic"])
    choices = {name: choices[name] for name in RANK_RULES if name in choices}
    for name, k in choices.items():
        table[f"chosen_by_{name}"] = table.index == k
    table["chosen"] = table.index == choices[rule]
    reason = selection_reason(rule, choices, reasons)
    return table, int(choices[rule]), reason, {k: s.bcv_folds for k, s in solutions.items()}


def extract(data, ranks=range(1, 11), *, model: str = "nmf", loss: str = "kl", n_restarts: int = 100,
            resample: bool = True, normalization: str = "gmm", seed: int = 0, device="auto",
            reference=None, progress: bool = True, refit_loss: str = "frobenius",
            max_iter: int = DEFAULTS["max_iter"], tol: float = DEFAULTS["tol"],
            check_every: int = DEFAULTS["check_every"], kl_exponent: float = 1.0, solver: str = "mu",
            dtype="float32",
            threads: int | None = None, scheduler=None, block_size: int | None = None,
            stop_after_unstable: int | None = None,
            rank_rule: str = "sigprofiler", compare_rank_rules: bool = False,
            key_added: str = "sigfactor") -> ExtractionResult:
    """Extract mutational signatures de novo, choosing the number of signatures.

    Parameters
    ----------
    data : DataFrame, AnnData, Catalogue or path
        Mutation counts (any layout :func:`sigfactor.read_catalogue` reads; rows matched by label).
    ranks : int, range, list of int or str
        Ranks to try (``"1-10"`` works too); each at most the number of samples and channels.
    model : {'nmf', 'convex', 'aenmf'}
    loss : {'kl', 'frobenius'}
        Loss of the fits (KL, SigProfilerExtractor's default; convex NMF is Frobenius only).
    n_restarts : int
        Restarts per rank (SigProfilerExtractor's "NMF replicates"), fitted as one batch.
    resample : bool
        Fit each restart to its own multinomial resample of the catalogue (each sample keeps its
        total), as SigProfilerExtractor does. The same resamples serve every rank.
    normalization : {'gmm', 'log2', 'none'}
        Normalisation of hypermutated samples before fitting (:mod:`sigfactor.normalize`).
    seed : int
        The one seed every random draw flows from (resampling, initial values); recorded.
    device : {'auto', 'cpu', 'cuda'}
    reference : None, str, path or DataFrame
        Reference signatures for matching and decomposition: default COSMIC v3.4 GRCh37 of the
        catalogue's kind; a name (``COSMIC_v3.4_SBS96_GRCh38``, ...), a file or a DataFrame.
    progress : bool
        Progress bar over ranks x restarts.
    refit_loss : {'frobenius', 'kl'}
        Final exposures by NNLS (default) or by the Poisson/KL fit.
    max_iter, tol, check_every : int, float, int
        Stopping rule of every restart (see :data:`DEFAULTS`).
    kl_exponent : float
        KL NMF only: 1 (default) fits by Lee and Seung's updates; ``1 < x < 2`` by the
        over-relaxed update (:func:`sigfactor.factorize`, :func:`sigfactor.models.nmf.kl_step`):
        on PCAWG ``1.9`` took 9-62 % less time per rank, but not on every catalogue, and it
        chose rank 15 where 1 chose 17 (rank 17's minimum stability fell from 0.22 to 0.18;
        ``benchmarks/README.md`` has the measurements, time and accuracy).
    solver : {'mu', 'cd'}
        KL NMF only: multiplicative updates (default) or coordinate descent
        (:func:`sigfactor.factorize`; Hsieh and Dhillon 2011), whose restarts meet the same
        stopping rule in fewer, costlier iterations (``max_iter`` then counts sweeps), with an
        extrapolated point tried at every check: on PCAWG 71-84 % less time per rank (8
        restarts, ranks 5-25), the whole sweep of ranks 1-25 x 100 in 27.5 minutes on 2 cores;
        on ``bench_accuracy``'s ten sets the same ranks, mean F1 0.923 against 0.903
        (``benchmarks/README.md``).
    dtype : {'float32', 'float64'}
        Working precision of the fits (consensus, refits and statistics use float64).
    threads : int, optional
        CPU threads for the fits (restored afterwards). By default every CPU the process may
        use (:func:`sigfactor.models._base.default_threads`: PyTorch's setting once PyTorch
        is loaded, else ``OMP_NUM_THREADS`` or the CPU count). The PyTorch updates
        (Frobenius, convex NMF, AE-NMF) get one thread when the batch of resampled catalogues
        is small (under :data:`sigfactor.models._driver.SMALL_BATCH`
        entries, e.g. 100 x 96 x 21 for the 21 breast genomes): on such small matrices extra
        threads gain nothing on an idle machine and, when other processes share the cores,
        OpenMP's spinning makes each iteration many times slower (measured: ranks 1-5 x 10
        restarts of the 21 breast genomes took 2 s with one thread and 66-80 s with two on a
        busy 2-core machine). KL NMF on the CPU runs in sigfactor's kernels, whose threads
        block instead of spinning, and always gets the default; it runs without importing
        PyTorch (:mod:`sigfactor.models._restarts`). On Dask each task uses one thread unless
        ``threads`` is given.
    scheduler : None, 'local', str or dask.distributed.Client
        Where the fits run (:mod:`sigfactor.parallel`): in this process (None), on a
        ``LocalCluster`` of one worker process per CPU on 127.0.0.1 started for this call
        (``'local'``), on an existing cluster by scheduler address (``'tcp://host:8786'``) or
        scheduler file (``.json``), or through a ``Client``; the workers need sigfactor and
        ``device``. Consensus, refits and selection run in this process. KL NMF on the CPU
        gives identical bits on every executor; see :mod:`sigfactor.parallel` for the PyTorch
        models.
    block_size : int, optional
        Restarts fitted together in one task. By default all of a rank's restarts in this
        process, and an equal share per worker thread on Dask; in both cases no more than
        fit in a quarter of the memory available (of a worker thread's share on Dask; see
        :func:`fit_bytes`), so the fits' memory grows with one block, not with ``n_restarts``.
    stop_after_unstable : int, optional
        Opt-in early stop of the sweep: once a rank met the stability thresholds of
        :mod:`sigfactor.selection`, stop trying higher ranks after this many ranks in a row
        failed them. Selection only ever starts from the highest stable rank, so the answer
        changes only if a higher rank would have been stable again. ``stats`` says how many
        unstable ranks in a row each rank ends (``unstable_in_a_row``) and where the sweep
        stopped (``sweep_stopped``); the reason is added to ``selection_reason`` and
        ``settings["sweep"]``. Default: every rank is fitted.
    rank_rule : {'sigprofiler', 'bcv', 'bic', 'stable_bcv'}
        Which rule chooses the rank (:mod:`sigfactor.rank_rules`): SigProfilerExtractor's
        stability and Wilcoxon rule (default), bi-cross-validation of held-out error (smallest
        rank within one standard error of the minimum), the Poisson BIC, or bi-cross-validation
        among the ranks that pass the stability thresholds. The chosen rule's
        per-rank quantity is in ``stats`` (``bcv_error`` and ``bcv_se``, or ``bic``) with
        ``chosen_by_<rule>``; SigProfilerExtractor's columns are always there.
    compare_rank_rules : bool
        Compute every rule's evidence, whichever chooses, side by side in ``stats`` and in the
        rank-selection plot, with what each rule would choose and why in ``selection_reason``. Off by
        default because the bi-cross-validation fits add about a third to a run (ranks 1-10 of
        the 21 breast genomes, 100 restarts: 5.5 s on 15.2 s, Intel Xeon, 2 cores;
        :mod:`sigfactor.rank_rules`).
    key_added : str
        With AnnData input, where results are written: ``adata.varm[f"{key_added}_signatures"]``
        (channels x k), ``adata.obsm[f"{key_added}_exposures"]`` (samples x k) and
        ``adata.uns[key_added]`` (rank, signature names, rank table, COSMIC matches and
        decompositions, settings). The AnnData is modified in place.

    Returns
    -------
    ExtractionResult

    Notes
    -----
    Rank selection follows SigProfilerExtractor (:mod:`sigfactor.selection`) unless
    ``rank_rule`` names another rule (:mod:`sigfactor.rank_rules`); the table ``result.stats``
    shows every rule's evidence. For a fixed seed the result is reproducible on one
    device; exposures are refitted to the real (not normalised) counts.
    """
    started = time.perf_counter()
    check_choice("model", model, MODELS)
    check_choice("loss", loss, ("kl", "frobenius"))
    check_choice("normalization", normalization, NORMALIZATIONS)
    check_choice("refit_loss", refit_loss, ("frobenius", "kl"))
    check_choice("rank_rule", rank_rule, RANK_RULES)
    if not isinstance(compare_rank_rules, (bool, np.bool_)):
        raise TypeError(f"compare_rank_rules={compare_rank_rules!r} is not valid; expected True or False.")
    check_int("n_restarts", n_restarts, low=1)
    check_int("seed", seed, low=0)
    check_int("max_iter", max_iter, low=1)
    check_int("check_every", check_every, low=1)
    check_positive_float("tol", tol, allow_zero=True)
    kl_exponent = check_kl_exponent(kl_exponent, model, loss)
    solver = check_solver(solver, model, loss, kl_exponent)
    if not isinstance(resample, (bool, np.bool_)):
        raise TypeError(f"resample={resample!r} is not valid; expected True or False.")
    if threads is not None:
        check_int("threads", threads, low=1)
    if block_size is not None:
        check_int("block_size", block_size, low=1)
    if stop_after_unstable is not None:
        check_int("stop_after_unstable", stop_after_unstable, low=1)
    scheduler = check_scheduler(scheduler)
    if not isinstance(key_added, str) or not key_added:
        raise ValueError(f"key_added={key_added!r} is not valid; expected a non-empty string.")
    rank_list = parse_ranks(ranks)
    dt, dev = dtype_name(dtype), device_name(device)
    cat = as_catalogue(data, name="data")
    counts = np.asarray(cat.counts, dtype=np.float64)
    check_counts("data", counts, sample_names=list(cat.samples), samples_axis=0)
    limit = min(cat.n_samples, cat.n_channels)
    if max(rank_list) > limit:
        raise ValueError(f"ranks={ranks!r} reach {max(rank_list)}, beyond the {cat.n_samples} samples x "
                         f"{cat.n_channels} channels of the catalogue; expected ranks <= {limit}.")
    _check_sizes(cat, counts, rank_list, n_restarts=n_restarts, seed=seed, resample=resample, dtype=dt)
    ref = resolve_reference(reference, cat.kind)
    counts_cs = counts.T.copy()

    # 1. resampling and normalisation, once for every rank (the gmm cutoff from the real totals)
    r_seed = resample_seed(seed)
    cutoff = (gmm_cutoff(counts.sum(axis=1), 100 * cat.n_channels, seed=r_seed)
              if normalization == "gmm" else None)
    V = fitted_catalogues(counts, n_restarts, np.random.default_rng(r_seed) if resample else None,
                          normalization=normalization, cutoff=cutoff, dtype=dt)

    # 2-4. restarts (in the CPU kernels or PyTorch: models._restarts), consensus, refit, per rank
    engine = {"model": model, "loss": loss, "device": dev, "dtype": dt, "threads": threads,
              "max_iter": max_iter, "tol": tol, "check_every": check_every, "kl_exponent": kl_exponent,
              "solver": solver}
    solutions, sweep = _fit_ranks(V, counts_cs, rank_list, cat, seed=seed, n_restarts=n_restarts,
                                  refit_loss=refit_loss, engine=engine, progress=progress, scheduler=scheduler,
                                  block_size=block_size, stop_after_unstable=stop_after_unstable)

    # 5. rank selection: every rule's evidence, the chosen rule's rank
    rules_started = time.perf_counter()
    X_fit = fitted_catalogues(counts, 1, None, normalization=normalization, cutoff=cutoff, dtype="float64")[0]
    evidence = set(RANK_RULES) if compare_rank_rules else {rank_rule}
    table, chosen_rank, reason, bcv = _select(rank_rule, _rank_table(solutions, counts_cs), solutions, X_fit,
                                              seed=seed, engine=engine, rules=evidence)
    rules_seconds = time.perf_counter() - rules_started
    table["unstable_in_a_row"] = pd.Series(sweep["unstable_in_a_row"])
    table["sweep_stopped"] = table.index == sweep["stopped_after"]
    reason = reason if sweep["reason"] is None else f"{reason} {sweep['reason']}"
    chosen = solutions[chosen_rank]

    # 6. COSMIC
    for sol in solutions.values():
        sol.cosmic_matches = match_signatures(sol.signatures, ref)
    decompositions = decompose(chosen.signatures, ref)
    cosmic_sigs = cosmic_solution(chosen.signatures, decompositions, ref)
    cosmic_exp = refit_exposures(cosmic_sigs.to_numpy(np.float64), counts_cs, refit_loss)

    settings = {
        "arguments": {"ranks": rank_list, "model": model, "loss": loss, "n_restarts": n_restarts,
                      "resample": bool(resample), "normalization": normalization, "seed": seed,
                      "device": str(device), "refit_loss": refit_loss, "max_iter": max_iter, "tol": tol,
                      "check_every": check_every, "kl_exponent": kl_exponent, "solver": solver, "dtype": dt,
                      "block_size": block_size,
                      "scheduler": describe_scheduler(scheduler), "stop_after_unstable": stop_after_unstable,
                      "rank_rule": rank_rule, "compare_rank_rules": bool(compare_rank_rules),
                      "reference": reference if isinstance(reference, (str, type(None))) else
                      (str(reference) if isinstance(reference, os.PathLike) else "DataFrame")},
        "device": dev, "threads": solutions[rank_list[0]].threads,
        "normalization_cutoff": cutoff,
        "sweep": {k: v for k, v in sweep.items() if k != "unstable_in_a_row"},
        "seeds": {"seed": seed, "resample_seed": r_seed, "bcv_seed": bcv_seed(seed),
                  "rank_seeds": {str(k): s.fit_seed for k, s in solutions.items()}},
        "versions": versions(),
        "timings": {"total_s": time.perf_counter() - started,
                    "per_rank_s": {str(k): s.seconds for k, s in solutions.items()},
                    "rank_rules_s": rules_seconds},
        "source": cat.source, "kind": cat.kind, "n_samples": cat.n_samples,
    }
    result = ExtractionResult(
        signatures=chosen.signatures, exposures=chosen.exposures, rank=chosen_rank, stats=table,
        selection_reason=reason, solutions=solutions, cosmic_matches=chosen.cosmic_matches,
        decompositions=decompositions, cosmic_signatures=cosmic_sigs,
        cosmic_exposures=pd.DataFrame(cosmic_exp.T, index=cat.samples, columns=cosmic_sigs.columns),
        catalogue=cat, settings=settings,
    )
    if _is_anndata(data):
        write_anndata(data, result, key_added)
    return result


# ---- AnnData -----------------------------------------------------------------------------------

def write_anndata(adata, result: ExtractionResult, key: str) -> None:
    """Write a result into an AnnData (obs = samples, var = channels), matched by label.

    Writes ``varm[f"{key}_signatures"]``, ``obsm[f"{key}_exposures"]`` and ``uns[key]``.
    """
    kind = result.catalogue.kind
    var_labels = ch.to_canonical([str(v) for v in adata.var_names], kind)
    obs_labels = [str(o) for o in adata.obs_names]
    adata.varm[f"{key}_signatures"] = result.signatures.loc[var_labels].to_numpy()
    adata.obsm[f"{key}_exposures"] = result.exposures.loc[obs_labels].to_numpy()
    stats = result.stats.reset_index()
    stats["p_value"] = stats["p_value"].astype(float)
    adata.uns[key] = {
        "rank": int(result.rank),
        "signature_names": list(result.signatures.columns),
        "selection_reason": result.selection_reason,
        "stats": stats,
        "cosmic_matches": result.cosmic_matches.astype({"match": str}),
        "decompositions": result.decomposition_table(),
        "settings": plain(result.settings, none="None"),
    }
