"""The model comparison of Egendal et al. (2025) as a feature: ``compare_models`` and ``sigfactor compare``.

Protocol, per split of the samples into a training and a test set (the same split for every
model):

1. fit each model on the training samples (all splits of one model are fitted as ONE batch,
   one restart per split, through :func:`sigfactor.models.fit`); record the training loss
   (per-entry mean squared error), the iterations and the wall time;
2. held-out error: refit the test samples to the learned signatures by NNLS and take the
   per-entry mean squared error; the KL variant refits by the Poisson likelihood and takes the
   per-entry generalized KL divergence;
3. run-to-run consistency of each model: mean Hungarian-matched cosine over every pair of splits;
4. per-run validation: Hungarian matching of each run's signatures to a reference (COSMIC v3.4);
5. consensus signatures of each model: k-medoids (PAM) on cosine distance over all runs'
   signatures, matched to the reference, and the agreement between the models' consensus sets.

Orientation follows the package: catalogues are samples x channels at the public boundary and
channels x samples inside; signatures are channels x k.
"""
from __future__ import annotations

import json
import os
import sys
import warnings
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from ._validation import (
    check_choice, check_counts, check_int, check_positive_float, resolve_device, resolve_dtype,
)
from ._meta import plain, versions
from .io.folder import atomic_folder, check_out_dir
from .kmedoids import pam
from .matching import cosine_matrix, hungarian, match_signatures, mean_matched_cosine
from .parallel import check_scheduler, describe_scheduler, fit_split_models

__all__ = ["compare_models", "Comparison", "write_comparison", "make_splits", "heldout_errors",
           "pairwise_consistency", "consensus_signatures", "add_compare_command", "PROTOCOLS"]

MODEL_LABELS = {"nmf": "NMF", "convex": "convex NMF", "aenmf": "AE-NMF"}

#: Iteration caps of ``settings="paper"``. The paper stops at a relative loss change of 1e-10;
#: in float32 AE-NMF with Adam (lr 1e-4) essentially never gets there, and NMF's
#: multiplicative updates take very long, so each model also has a cap. The caps were chosen
#: to keep 30 splits x 3 models on GEL Ovary (k = 4) within about ten minutes on two CPU cores
#: (see benchmarks/bench_compare.py and vignettes/paper-comparison.md); the number of runs that
#: stopped at the cap is reported in ``runs.csv`` (``converged``), ``summary.md`` and ``run.json``.
PAPER_MAX_ITER = {"nmf": 50000, "convex": 50000, "aenmf": 50000}

#: Two signatures of one run with a cosine above this are counted as duplicates in the summary.
DUPLICATE_COSINE = 0.99

#: Model settings of each protocol; ``fit`` keyword arguments per model.
PROTOCOLS = {
    "paper": {
        "nmf": {"loss": "frobenius", "init": "random", "tol": 1e-10, "max_iter": PAPER_MAX_ITER["nmf"],
                "check_every": 10},
        "convex": {"loss": "frobenius", "init": "random", "tol": 1e-10,
                   "max_iter": PAPER_MAX_ITER["convex"], "check_every": 10},
        "aenmf": {"loss": "frobenius", "init": "uniform", "constraint": "fpabs", "lr": 1e-4,
                  "tol": 1e-10, "max_iter": PAPER_MAX_ITER["aenmf"], "check_every": 10},
    },
    # Quicker, not the paper's: a looser tolerance, fewer iterations and AE-NMF at the engine's
    # default learning rate 1e-3 (ten times the paper's) from the engine's default start, so that
    # it gets close in fewer steps (from the paper's U(0, 1) start 5,000 steps are too few).
    "fast": {
        "nmf": {"loss": "frobenius", "init": "random", "tol": 1e-6, "max_iter": 5000, "check_every": 10},
        "convex": {"loss": "frobenius", "init": "random", "tol": 1e-6, "max_iter": 5000, "check_every": 10},
        "aenmf": {"loss": "frobenius", "init": "linear", "constraint": "fpabs", "lr": 1e-3,
                  "tol": 1e-6, "max_iter": 5000, "check_every": 10},
    },
}
#: The models compared (those with a protocol): the paper's three.
COMPARED_MODELS = tuple(PROTOCOLS["paper"])

# The paper's settings with AE-NMF from the engine's default start (nn.Linear magnitudes)
# instead of the paper's U(0, 1) weights: how much the start alone changes AE-NMF.
PROTOCOLS["paper-linear"] = {**PROTOCOLS["paper"],
                             "aenmf": {**PROTOCOLS["paper"]["aenmf"], "init": "linear"}}


# ---- result ----------------------------------------------------------------------------------

@dataclass
class Comparison:
    """Everything :func:`compare_models` measured; :meth:`write` saves it as a folder.

    Attributes
    ----------
    runs : pandas.DataFrame
        One row per split and model: ``split, model, train_loss, test_error, test_error_kl,
        seconds, n_iter, converged, seed, max_within_cosine`` (the largest cosine between two
        signatures of the run). ``seconds`` is the model's batch wall time divided
        by the number of splits (all splits are fitted together).
    consistency : pandas.DataFrame
        Per model: ``mean, median, min`` of the Hungarian-matched cosine over pairs of splits,
        and ``n_pairs``.
    pairwise : pandas.DataFrame
        ``model, split_a, split_b, cosine``: every pair behind ``consistency``.
    cosmic_per_run : pandas.DataFrame
        ``split, model, signature, match, cosine, best, best_cosine``: each run's signatures
        matched one-to-one to the reference.
    consensus : pandas.DataFrame
        Per model and consensus signature: the medoid (``medoid_split``, ``medoid_signature``),
        ``cluster_size``, ``splits_in_cluster``, ``mean_cosine_to_medoid``, and the reference
        ``match`` / ``cosine`` (Hungarian) and ``best`` / ``best_cosine``.
    agreement : pandas.DataFrame
        For each pair of models, their consensus signatures matched one-to-one:
        ``model_a, signature_a, match_a, model_b, signature_b, match_b, cosine``.
    splits : pandas.DataFrame
        ``split, sample, set`` (``train`` or ``test``) for every split and sample.
    signatures : pandas.DataFrame
        Every run's signatures, one row per ``model, split, signature`` and one column per channel.
    consensus_signatures : pandas.DataFrame
        The consensus signatures, one row per ``model, signature``, one column per channel.
    settings : dict
        Parameters, per-model fit settings, seeds, sizes, timings and versions (``run.json``).
    """

    runs: pd.DataFrame
    consistency: pd.DataFrame
    pairwise: pd.DataFrame
    cosmic_per_run: pd.DataFrame
    consensus: pd.DataFrame
    agreement: pd.DataFrame
    splits: pd.DataFrame
    signatures: pd.DataFrame
    consensus_signatures: pd.DataFrame
    settings: dict

    def summary(self) -> str:
        """The tables of ``summary.md`` (Markdown)."""
        return _summary_markdown(self)

    def write(self, out, *, plots: bool = True, force: bool = False) -> Path:
        """Write the result folder (see :func:`write_comparison`)."""
        return write_comparison(self, out, plots=plots, force=force)


# ---- argument checks -------------------------------------------------------------------------

def _check_models(models) -> list[str]:
    if isinstance(models, str):
        models = [models]
    try:
        models = list(models)
    except TypeError:
        raise TypeError(f"models={models!r} is not valid; expected a list of names from "
                        f"{', '.join(repr(m) for m in COMPARED_MODELS)}.") from None
    if not models:
        raise ValueError("models=[] is empty; expected one or more of "
                         f"{', '.join(repr(m) for m in COMPARED_MODELS)}.")
    for m in models:
        check_choice("models", m, COMPARED_MODELS)
    duplicated = sorted({m for m in models if models.count(m) > 1})
    if duplicated:
        raise ValueError(f"models={models!r} names {duplicated} more than once; expected distinct models.")
    return models


def _check_fraction(train_fraction) -> float:
    value = check_positive_float("train_fraction", train_fraction)
    if not 0 < value < 1:
        raise ValueError(f"train_fraction={train_fraction!r} is out of range; expected a number "
                         "strictly between 0 and 1.")
    return value


def _split_sizes(n_samples: int, train_fraction: float, rank: int) -> tuple[int, int]:
    n_train = int(round(train_fraction * n_samples))
    n_test = n_samples - n_train
    if n_train < max(rank, 1) or n_test < 1:
        raise ValueError(
            f"train_fraction={train_fraction!r} of {n_samples} samples gives {n_train} training and "
            f"{n_test} test samples; expected at least rank={rank} training samples and one test sample."
        )
    return n_train, n_test


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} is not valid; expected a non-negative integer.")
    return int(seed)


def _reference(reference, kind: str, channels: pd.Index) -> tuple[pd.DataFrame, str]:
    """The reference signatures (channels in the catalogue's order) and a description."""
    from .reference import cosmic, read_signatures

    if reference is None:
        ref, described = cosmic(kind=kind), f"COSMIC v3.4 {kind} GRCh37 (bundled)"
    elif isinstance(reference, (pd.DataFrame, str, os.PathLike)):
        ref = read_signatures(reference)
        described = str(reference) if not isinstance(reference, pd.DataFrame) else "user DataFrame"
    else:
        raise TypeError(f"reference is a {type(reference).__name__}; expected None (COSMIC v3.4), a "
                        "DataFrame of signatures or a path to a signature table.")
    missing = channels.difference(ref.index)
    if len(missing):
        raise ValueError(f"reference lacks {len(missing)} of the catalogue's {kind} channels, e.g. "
                         f"{list(missing[:3])}; expected signatures of the same kind as the data.")
    return ref.loc[channels], described


# ---- building blocks -------------------------------------------------------------------------

def make_splits(n_samples: int, n_splits: int, n_train: int, seed) -> tuple[np.ndarray, np.ndarray]:
    """Random train/test splits of ``n_samples`` samples.

    Parameters
    ----------
    n_samples, n_splits, n_train : int
    seed : int or numpy.random.SeedSequence

    Returns
    -------
    train, test : numpy.ndarray
        ``(n_splits, n_train)`` and ``(n_splits, n_samples - n_train)`` sample positions, sorted
        within each split. The same seed gives the same splits.
    """
    rng = np.random.default_rng(seed)
    train, test = [], []
    for _ in range(n_splits):
        perm = rng.permutation(n_samples)
        train.append(np.sort(perm[:n_train]))
        test.append(np.sort(perm[n_train:]))
    return np.stack(train), np.stack(test)


def heldout_errors(S: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-entry held-out errors of signatures ``S`` on test catalogues ``Y``, batched, float64.

    Parameters
    ----------
    S : numpy.ndarray
        ``(B, channels, k)`` signatures.
    Y : numpy.ndarray
        ``(B, channels, n_test)`` test catalogues.

    Returns
    -------
    mse, kl : numpy.ndarray
        ``(B,)``: mean squared error after an NNLS refit of ``Y`` to ``S``, and mean generalized
        KL divergence (as the KL fits' loss) after a Poisson (KL) refit.
    """
    from .refit import kl_terms, nnls, refit_kl

    S = np.asarray(S, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    mse = ((Y - S @ nnls(S, Y)) ** 2).mean(axis=(-2, -1))
    return mse, kl_terms(Y, S @ refit_kl(S, Y)).mean(axis=(-2, -1))


def pairwise_consistency(signatures: list[np.ndarray]) -> list[tuple[int, int, float]]:
    """Mean Hungarian-matched cosine of every pair of signature sets ``(i, j, cosine)``, ``i < j``."""
    return [(i, j, mean_matched_cosine(signatures[i], signatures[j]))
            for i, j in combinations(range(len(signatures)), 2)]


def consensus_signatures(signatures: np.ndarray, k: int) -> dict:
    """k-medoids (PAM) on cosine distance over many runs' signatures.

    Parameters
    ----------
    signatures : numpy.ndarray
        ``(runs, channels, k)``.
    k : int
        Number of consensus signatures.

    Returns
    -------
    dict
        ``medoids`` (list of ``(run, column)``), ``profiles`` (channels x k, columns summing to
        1, ordered by cluster size, largest first), ``sizes``, ``runs_in_cluster`` (distinct
        runs contributing to each cluster) and ``mean_cosine`` (mean cosine of the members to
        their medoid).
    """
    n_runs, n_channels, rank = signatures.shape
    pooled = signatures.transpose(1, 0, 2).reshape(n_channels, n_runs * rank)   # run-major columns
    cos = cosine_matrix(pooled, pooled)
    D = np.clip(1.0 - (cos + cos.T) / 2.0, 0.0, None)
    np.fill_diagonal(D, 0.0)
    result = pam(D, k)
    sizes = np.bincount(result.labels, minlength=k)
    order = sorted(range(k), key=lambda c: (-sizes[c], result.medoids[c]))
    runs_of = np.repeat(np.arange(n_runs), rank)
    out = {"medoids": [], "profiles": [], "sizes": [], "runs_in_cluster": [], "mean_cosine": []}
    for c in order:
        m = int(result.medoids[c])
        members = np.flatnonzero(result.labels == c)
        profile = pooled[:, m] / max(pooled[:, m].sum(), np.finfo(float).tiny)
        out["medoids"].append((m // rank, m % rank))
        out["profiles"].append(profile)
        out["sizes"].append(int(members.size))
        out["runs_in_cluster"].append(int(np.unique(runs_of[members]).size))
        out["mean_cosine"].append(float(cos[members, m].mean()))
    out["profiles"] = np.stack(out["profiles"], axis=1)
    return out


def _max_within_cosine(S: np.ndarray) -> float:
    """Largest cosine between two signatures of one run (near 1: the run found a duplicate)."""
    if S.shape[1] < 2 or not np.isfinite(S).all():
        return float("nan")
    cos = cosine_matrix(S, S)
    return float(cos[~np.eye(S.shape[1], dtype=bool)].max())


def _seeds(seed: int, n_splits: int) -> tuple[np.random.SeedSequence, list[int]]:
    """The seed of the splits and one initialisation seed per split, all from ``seed``."""
    split_seq, init_seq = np.random.SeedSequence(seed).spawn(2)
    return split_seq, [int(s) for s in init_seq.generate_state(n_splits)]


def _fit_batch(V, rank: int, model: str, options: dict, seeds: list[int], progress: bool):
    """One model on every split at once (one restart per split); ConvergenceWarnings are
    silenced here because the caps are part of the protocol and reported per run."""
    from .models import ConvergenceWarning, fit

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=options["max_iter"], desc=f"{MODEL_LABELS[model]} ({V.shape[0]} splits)",
                   unit="it", leave=False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return fit(V, rank, model=model, n_restarts=V.shape[0], seed=seeds,
                       progress=None if bar is None else bar.update, **options)
    finally:
        if bar is not None:
            bar.close()


# ---- the protocol ----------------------------------------------------------------------------

def compare_models(data, rank: int, *, models=("nmf", "convex", "aenmf"), n_splits: int = 30,
                   train_fraction: float = 0.8, seed: int = 0, reference=None,
                   settings: str = "paper", progress: bool = True, max_iter: int | None = None,
                   device="auto", dtype="float32", scheduler=None) -> Comparison:
    """Compare NMF, convex NMF and AE-NMF on one cohort as Egendal et al. (2025) did.

    Parameters
    ----------
    data : DataFrame, AnnData, Catalogue or path
        The catalogue (anything :func:`sigfactor.read_catalogue` reads); channels are matched
        by label.
    rank : int
        Number of signatures.
    models : sequence of {'nmf', 'convex', 'aenmf'}
        Models to compare, each fitted on the same splits with the same initialisation seeds.
    n_splits : int
        Random train/test splits (at least 2, for the pairwise consistency).
    train_fraction : float
        Share of the samples used for training, strictly between 0 and 1 (rounded to whole
        samples).
    seed : int
        Seeds the splits and the per-split initialisation seeds (recorded in ``settings``).
    reference : None, DataFrame or path
        Reference signatures for the per-run and consensus matching; None is the bundled
        COSMIC v3.4 set of the catalogue's kind (GRCh37).
    settings : {'paper', 'paper-linear', 'fast'}
        ``'paper'``: the paper's settings (NMF Frobenius multiplicative updates and convex NMF
        from uniform random starts; AE-NMF ``fpabs`` with Adam lr 1e-4 from both weight
        matrices ``U(0, 1)``, as the paper's code starts it; MSE loss, relative tolerance
        1e-10), each with an iteration cap (:data:`PAPER_MAX_ITER`). ``'fast'``: tolerance
        1e-6, at most 5000 iterations and AE-NMF at lr 1e-3 from ``nn.Linear`` magnitudes.
        ``'paper-linear'``: ``'paper'`` with AE-NMF from ``nn.Linear`` magnitudes (see
        :data:`PROTOCOLS` and :func:`sigfactor.models.aenmf.initial_weights`).
    progress : bool
        Show a progress bar over each model's iterations.
    max_iter : int, optional
        Overrides every model's iteration cap.
    device : {'auto', 'cpu', 'cuda'} or torch.device
    dtype : {'float32', 'float64'}
        Working precision of the fits (the held-out refits are always float64).
    scheduler : None, 'local', str or dask.distributed.Client
        Where the fits run, as in :func:`sigfactor.extract` (:mod:`sigfactor.parallel`): in
        this process (each model's splits as one batch), or on Dask in blocks of splits per
        model (the device must exist on the workers). The same blocks give the same bits on
        every executor; another split into blocks agrees to float rounding.

    Returns
    -------
    Comparison
        Tables of runs, consistency, reference matches and consensus, plus settings;
        ``.write(out)`` saves them (see :func:`write_comparison`).
    """
    import torch

    from .catalogue import as_catalogue

    cat = as_catalogue(data, name="data")
    counts = np.asarray(cat.counts, dtype=np.float64)
    check_counts("data", counts, sample_names=list(cat.samples), samples_axis=0)
    models = _check_models(models)
    settings = check_choice("settings", settings, tuple(PROTOCOLS))
    n_splits = check_int("n_splits", n_splits, low=2)
    train_fraction = _check_fraction(train_fraction)
    seed = _check_seed(seed)
    rank = check_int("rank", rank, low=1, high=min(cat.n_samples, cat.n_channels))
    n_train, n_test = _split_sizes(cat.n_samples, train_fraction, rank)
    if max_iter is not None:
        max_iter = check_int("max_iter", max_iter, low=1)
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress={progress!r} is not valid; expected True or False.")
    ref, ref_described = _reference(reference, cat.kind, cat.channels)
    scheduler = check_scheduler(scheduler)
    dev, dt = resolve_device(device), resolve_dtype(dtype)

    split_seq, init_seeds = _seeds(seed, n_splits)
    train_idx, test_idx = make_splits(cat.n_samples, n_splits, n_train, split_seq)
    V = torch.as_tensor(counts[train_idx].transpose(0, 2, 1).copy(), dtype=dt, device=dev)
    Y = counts[test_idx].transpose(0, 2, 1)

    from .models import signature_names

    names = signature_names(rank, cat.kind)
    options = {m: {**PROTOCOLS[settings][m], **({} if max_iter is None else {"max_iter": max_iter})} for m in models}
    fits = fit_split_models(V, rank, options, init_seeds, progress=progress, scheduler=scheduler)
    runs, sig_rows, model_settings, fitted_sigs = [], [], {}, {}
    for model in models:
        fitted = fits[model]
        S_np = fitted.signatures.detach().to("cpu", torch.float64).numpy()
        mse, kl = heldout_errors(S_np, Y)
        fitted_sigs[model] = S_np
        seconds = fitted.settings["seconds"]
        for i in range(n_splits):
            runs.append({
                "split": i, "model": model, "train_loss": float(fitted.loss[i]),
                "test_error": float(mse[i]), "test_error_kl": float(kl[i]),
                "seconds": seconds / n_splits, "n_iter": int(fitted.n_iter[i]),
                "converged": bool(fitted.converged[i]), "seed": init_seeds[i],
                "max_within_cosine": _max_within_cosine(S_np[i]),
            })
            for j, name in enumerate(names):
                sig_rows.append(((model, i, name), S_np[i, :, j]))
        model_settings[model] = {
            **{k: v for k, v in fitted.settings.items() if k not in ("restart_seeds", "versions", "seed")},
            "batch_seconds": seconds,
            "runs_at_cap": int((~fitted.converged).sum()),
        }

    runs = pd.DataFrame(runs)
    signatures = pd.DataFrame(np.stack([r[1] for r in sig_rows]), columns=cat.channels,
                              index=pd.MultiIndex.from_tuples([r[0] for r in sig_rows],
                                                              names=["model", "split", "signature"]))
    finite = {m: np.isfinite(fitted_sigs[m]).all(axis=(1, 2)) for m in models}

    pairwise = pd.DataFrame(
        [{"model": m, "split_a": i, "split_b": j, "cosine": c}
         for m in models
         for i, j, c in pairwise_consistency([s if ok else np.full_like(s, np.nan)
                                              for s, ok in zip(fitted_sigs[m], finite[m])])],
        columns=["model", "split_a", "split_b", "cosine"])
    consistency = (pairwise.dropna(subset=["cosine"]).groupby("model", sort=False)["cosine"]
                   .agg(["mean", "median", "min", "size"]).rename(columns={"size": "n_pairs"})
                   .reindex(models).reset_index())

    cosmic_rows = []
    for m in models:
        for i in range(n_splits):
            if not finite[m][i]:
                continue
            found = pd.DataFrame(fitted_sigs[m][i], index=cat.channels, columns=names)
            table = match_signatures(found, ref)
            table.insert(0, "model", m)
            table.insert(0, "split", i)
            cosmic_rows.append(table)
    cosmic_per_run = pd.concat(cosmic_rows, ignore_index=True)

    consensus, cons_rows, cons_frames = [], [], {}
    for m in models:
        ok = finite[m]
        if not ok.any():
            warnings.warn(f"every run of model {m!r} has non-finite signatures; it has no consensus "
                          "signatures.", RuntimeWarning, stacklevel=2)
            continue
        cons = consensus_signatures(fitted_sigs[m][ok], rank)
        kept = np.flatnonzero(ok)
        frame = pd.DataFrame(cons["profiles"], index=cat.channels, columns=names)
        cons_frames[m] = frame
        matches = match_signatures(frame, ref)
        for j, name in enumerate(names):
            consensus.append({
                "model": m, "signature": name, "medoid_split": int(kept[cons["medoids"][j][0]]),
                "medoid_signature": names[cons["medoids"][j][1]], "cluster_size": cons["sizes"][j],
                "splits_in_cluster": cons["runs_in_cluster"][j],
                "mean_cosine_to_medoid": cons["mean_cosine"][j],
                **matches.iloc[j][["match", "cosine", "best", "best_cosine"]].to_dict(),
            })
            cons_rows.append(((m, name), frame[name].to_numpy()))
    consensus = pd.DataFrame(consensus)
    consensus_sigs = pd.DataFrame(np.stack([r[1] for r in cons_rows]), columns=cat.channels,
                                  index=pd.MultiIndex.from_tuples([r[0] for r in cons_rows],
                                                                  names=["model", "signature"]))
    agreement = _agreement(cons_frames, consensus, [m for m in models if m in cons_frames])

    splits = pd.DataFrame(
        [{"split": i, "sample": cat.samples[p], "set": part}
         for i in range(n_splits)
         for part, idx in (("train", train_idx[i]), ("test", test_idx[i])) for p in idx])

    info = {
        "command": "compare_models",
        "settings": settings, "rank": rank, "models": models, "n_splits": n_splits,
        "train_fraction": train_fraction, "n_samples": cat.n_samples, "n_train": n_train,
        "n_test": n_test, "kind": cat.kind, "source": cat.source, "seed": seed,
        "split_seed_entropy": str(split_seq.entropy), "init_seeds": init_seeds,
        "reference": ref_described, "reference_signatures": int(ref.shape[1]),
        "max_iter_override": max_iter, "device": str(dev), "dtype": str(dt).replace("torch.", ""),
        "scheduler": describe_scheduler(scheduler),
        "model_settings": model_settings,
        "seconds_note": ("all splits of a model are fitted as one batch (on Dask in blocks, their times "
                         "summed); 'seconds' in runs.csv is the batch wall time divided by the number of splits"),
        "heldout": ("NNLS refit of the test samples to the learned signatures, per-entry mean "
                    "squared error; test_error_kl: Poisson (KL) refit, per-entry generalized KL"),
        "versions": versions(),
    }
    return Comparison(runs=runs, consistency=consistency, pairwise=pairwise,
                      cosmic_per_run=cosmic_per_run, consensus=consensus, agreement=agreement,
                      splits=splits, signatures=signatures, consensus_signatures=consensus_sigs,
                      settings=info)


def _agreement(frames: dict, consensus: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Consensus signatures of each pair of models matched one-to-one by cosine."""
    match_of = consensus.set_index(["model", "signature"])["match"]
    rows = []
    for a, b in combinations(models, 2):
        sim = cosine_matrix(frames[a].to_numpy(), frames[b].to_numpy())
        for r, c in zip(*hungarian(sim)):
            sa, sb = frames[a].columns[r], frames[b].columns[c]
            rows.append({"model_a": a, "signature_a": sa, "match_a": match_of[(a, sa)],
                         "model_b": b, "signature_b": sb, "match_b": match_of[(b, sb)],
                         "cosine": float(sim[r, c])})
    return pd.DataFrame(rows, columns=["model_a", "signature_a", "match_a", "model_b",
                                       "signature_b", "match_b", "cosine"])


# ---- summary ---------------------------------------------------------------------------------

def _fmt(value, digits: int) -> str:
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "NA"
        if abs(value) >= 1e5:
            return f"{value:.4g}"
        if value != 0 and abs(value) < 10 ** -digits:
            return f"{value:.3g}"
        return f"{value:.{digits}f}"
    return str(value)


def _md_table(frame: pd.DataFrame, digits: int = 3) -> str:
    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_fmt(v, digits) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _model_table(result: Comparison) -> pd.DataFrame:
    runs = result.runs
    models = result.settings["models"]
    best = runs.loc[runs.groupby("split")["test_error"].idxmin(), "model"].value_counts()
    rows = []
    for m in models:
        r = runs[runs["model"] == m]
        rows.append({
            "model": MODEL_LABELS[m], "train MSE (mean)": r["train_loss"].mean(),
            "held-out MSE (median)": r["test_error"].median(), "held-out MSE (mean)": r["test_error"].mean(),
            "held-out KL (median)": r["test_error_kl"].median(),
            "lowest held-out MSE (splits)": f"{int(best.get(m, 0))}/{len(r)}",
            "iterations (mean / max)": f"{r['n_iter'].mean():.0f} / {r['n_iter'].max()}",
            "runs at cap": f"{int((~r['converged']).sum())}/{len(r)}",
            "runs with duplicated signatures": f"{int((r['max_within_cosine'] > DUPLICATE_COSINE).sum())}/{len(r)}",
            "seconds per split": f"{r['seconds'].mean():.2f}",
        })
    return pd.DataFrame(rows)


def _wins_table(result: Comparison) -> pd.DataFrame:
    wide = result.runs.pivot(index="split", columns="model", values="test_error")
    rows = []
    for a, b in combinations(result.settings["models"], 2):
        n = int(wide[[a, b]].dropna().shape[0])
        rows.append({"comparison": f"{MODEL_LABELS[a]} vs {MODEL_LABELS[b]}",
                     "splits where first is lower": f"{int((wide[a] < wide[b]).sum())}/{n}",
                     "median ratio first/second": float((wide[a] / wide[b]).median())})
    return pd.DataFrame(rows)


def _cosmic_table(result: Comparison) -> pd.DataFrame:
    per_run = result.cosmic_per_run.groupby(["model", "split"], sort=False)
    mean_cos = per_run["cosine"].mean()
    sets = per_run["match"].apply(lambda s: ", ".join(sorted(s)))
    rows = []
    for m in result.settings["models"]:
        if m not in mean_cos.index.get_level_values(0):
            continue
        counts = sets.loc[m].value_counts()
        rows.append({"model": MODEL_LABELS[m], "mean matched cosine (mean over runs)": mean_cos.loc[m].mean(),
                     "min over runs": mean_cos.loc[m].min(),
                     "most frequent matched set": f"{counts.index[0]} ({counts.iloc[0]}/{counts.sum()} runs)"})
    return pd.DataFrame(rows)


def _summary_markdown(result: Comparison) -> str:
    s = result.settings
    lines = [
        "# sigfactor compare",
        "",
        f"Data: {s['source']} ({s['n_samples']} samples, {s['kind']}); rank {s['rank']}; "
        f"{s['n_splits']} splits of {s['n_train']} training / {s['n_test']} test samples "
        f"(train_fraction {s['train_fraction']}); settings `{s['settings']}`; seed {s['seed']}; "
        f"reference {s['reference']}.",
        "",
        "## Fit and held-out error",
        "",
        "Held-out error: test samples refitted to each run's signatures by NNLS, per-entry mean "
        "squared error (KL: Poisson refit, per-entry generalized KL). A few hypermutated samples "
        "dominate the mean of any split whose test set holds them; the median and the per-split "
        "comparison are the robust summaries. Seconds per split: the batch wall time of all "
        "splits divided by the number of splits. Runs with duplicated signatures: two of a run's "
        f"signatures have a cosine above {DUPLICATE_COSINE} (`max_within_cosine` in runs.csv).",
        "",
        _md_table(_model_table(result), 2),
        "",
    ]
    if len(s["models"]) > 1:
        lines += [_md_table(_wins_table(result), 3), ""]
    lines += ["## Run-to-run consistency", "",
              "Mean Hungarian-matched cosine between the signatures of every pair of splits.", "",
              _md_table(result.consistency.assign(model=result.consistency["model"].map(MODEL_LABELS)), 3), "",
              "## Per-run reference matches", "",
              "Each run's signatures matched one-to-one (Hungarian) to the reference by cosine.", "",
              _md_table(_cosmic_table(result), 3), "",
              "## Consensus signatures", "",
              "k-medoids (PAM) on cosine distance over all runs' signatures of a model; the medoids "
              "are matched one-to-one to the reference.", "",
              _md_table(result.consensus.assign(model=result.consensus["model"].map(MODEL_LABELS))[
                  ["model", "signature", "match", "cosine", "best", "best_cosine", "cluster_size",
                   "splits_in_cluster", "mean_cosine_to_medoid"]], 3), ""]
    if len(result.agreement):
        agree = result.agreement.groupby(["model_a", "model_b"], sort=False)["cosine"].agg(["mean", "min"])
        agree = agree.reset_index()
        agree["model_a"] = agree["model_a"].map(MODEL_LABELS)
        agree["model_b"] = agree["model_b"].map(MODEL_LABELS)
        lines += ["Agreement between the models' consensus signatures (Hungarian-matched cosine):", "",
                  _md_table(agree, 3), ""]
    caps = {MODEL_LABELS[m]: v["max_iter"] for m, v in s["model_settings"].items()}
    lines += ["## Settings", "",
              "Per-model fit settings (tolerance is relative loss change between checks; the cap "
              "is `max_iter`): " + "; ".join(
                  f"{MODEL_LABELS[m]}: " + ", ".join(f"{k}={v[k]}" for k in
                                                     ("loss", "init", "tol", "max_iter", "lr", "constraint", "dtype")
                                                     if v.get(k) is not None)
                  for m, v in s["model_settings"].items()) + ".",
              f"Iteration caps: {caps}. Versions: {s['versions']}.", ""]
    return "\n".join(lines)


# ---- plots -----------------------------------------------------------------------------------

def _plots(result: Comparison, folder: Path) -> list[str]:
    from matplotlib.figure import Figure

    def axes(size):
        fig = Figure(figsize=size, dpi=100)       # no pyplot: no global figure registry
        return fig, fig.add_subplot()

    def save(fig, name: str) -> str:
        fig.tight_layout()
        fig.savefig(folder / name)
        return name

    models = result.settings["models"]
    labels = [MODEL_LABELS[m] for m in models]
    written = []

    fig, ax = axes((7, 3.2))
    wide = result.runs.pivot(index="split", columns="model", values="test_error")
    for m in models:
        ax.plot(wide.index, wide[m], marker="o", ms=3, lw=1, label=MODEL_LABELS[m])
    ax.set_xlabel("split")
    ax.set_yscale("log")
    ax.set_ylabel("held-out MSE (NNLS refit)")
    ax.set_title("Held-out error per split")
    ax.legend(frameon=False, fontsize=8)
    written.append(save(fig, "heldout_error.png"))

    fig, ax = axes((4.5, 3.2))
    data = [result.pairwise.loc[result.pairwise["model"] == m, "cosine"].dropna().to_numpy() for m in models]
    ax.boxplot(data)
    ax.set_xticks(np.arange(1, len(labels) + 1))
    ax.set_xticklabels(labels)
    ax.set_ylabel("matched cosine, pairs of splits")
    ax.set_title("Run-to-run consistency")
    written.append(save(fig, "consistency.png"))

    counts = (result.cosmic_per_run.groupby(["match", "model"]).size().unstack("model", fill_value=0)
              .reindex(columns=models, fill_value=0))
    counts = counts.loc[counts.sum(axis=1).sort_values(ascending=False).index]
    fig, ax = axes((max(4.5, 0.45 * len(counts) + 2), 3.2))
    width = 0.8 / len(models)
    x = np.arange(len(counts))
    for i, m in enumerate(models):
        ax.bar(x + i * width - 0.4 + width / 2, counts[m], width, label=MODEL_LABELS[m])
    ax.set_xticks(x)
    ax.set_xticklabels(counts.index, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("runs")
    ax.set_title("Reference signatures matched per run")
    ax.legend(frameon=False, fontsize=8)
    written.append(save(fig, "cosmic_matches.png"))
    return written


# ---- output folder ---------------------------------------------------------------------------

def write_comparison(result: Comparison, out, *, plots: bool = True, force: bool = False) -> Path:
    """Write a comparison as a folder, atomically (a temporary folder renamed at the end).

    Files: ``runs.csv``, ``consistency.csv``, ``pairwise_consistency.csv``,
    ``cosmic_per_run.csv``, ``consensus.csv``, ``consensus_agreement.csv``, ``splits.csv``,
    ``signatures.csv`` (every run's signatures, one row per model, split and signature),
    ``consensus_signatures.csv``, ``summary.md``, ``run.json`` and, with ``plots``,
    ``heldout_error.png``, ``consistency.png``, ``cosmic_matches.png``.

    Parameters
    ----------
    result : Comparison
    out : str or path
        A folder that does not exist yet (or, with ``force``, one to replace once the new one is
        complete); its parent must exist.
    force : bool
        Replace an existing folder.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    with atomic_folder(out, force=force) as tmp:
        result.runs.to_csv(tmp / "runs.csv", index=False)
        result.consistency.to_csv(tmp / "consistency.csv", index=False)
        result.pairwise.to_csv(tmp / "pairwise_consistency.csv", index=False)
        result.cosmic_per_run.to_csv(tmp / "cosmic_per_run.csv", index=False)
        result.consensus.to_csv(tmp / "consensus.csv", index=False)
        result.agreement.to_csv(tmp / "consensus_agreement.csv", index=False)
        result.splits.to_csv(tmp / "splits.csv", index=False)
        result.signatures.to_csv(tmp / "signatures.csv")
        result.consensus_signatures.to_csv(tmp / "consensus_signatures.csv")
        (tmp / "summary.md").write_text(result.summary())
        if plots:
            _plots(result, tmp)
        info = dict(result.settings, files=sorted([p.name for p in tmp.iterdir()] + ["run.json"]))
        (tmp / "run.json").write_text(json.dumps(plain(info), indent=2) + "\n")
    return Path(out)


# ---- command line ----------------------------------------------------------------------------

def add_compare_command(subparsers):
    """Register ``sigfactor compare`` on an ``argparse`` subparsers object; returns the parser."""
    p = subparsers.add_parser(
        "compare", help="compare NMF, convex NMF and AE-NMF on train/test splits (Egendal et al.)",
        description="Fit each model on the same random train/test splits, measure held-out error, "
                    "run-to-run consistency, COSMIC matches and consensus signatures, and write "
                    "the tables, plots and summary.md to a new folder.")
    p.add_argument("input", metavar="INPUT", help="catalogue file (any format sigfactor reads)")
    p.add_argument("--rank", type=int, required=True, metavar="K", help="number of signatures")
    p.add_argument("--out", required=True, metavar="DIR", help="new output folder")
    p.add_argument("--models", nargs="+", default=list(COMPARED_MODELS), metavar="MODEL",
                   help=f"models to compare, from {', '.join(COMPARED_MODELS)} (default: all)")
    p.add_argument("--splits", type=int, default=30, metavar="N", help="train/test splits (default 30)")
    p.add_argument("--train-fraction", type=float, default=0.8, metavar="F",
                   help="share of samples used for training (default 0.8)")
    p.add_argument("--settings", default="paper", metavar="{" + ",".join(PROTOCOLS) + "}",
                   help="'paper' (the paper's settings with iteration caps), 'paper-linear' (the same "
                        "with AE-NMF from nn.Linear magnitudes) or 'fast' (default paper)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="seed of splits and initialisations")
    p.add_argument("--reference", default=None, metavar="FILE",
                   help="reference signature table (default: bundled COSMIC v3.4)")
    p.add_argument("--max-iter", type=int, default=None, metavar="N",
                   help="override every model's iteration cap")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="fit the splits x models on Dask: 'local', a scheduler address (tcp://host:8786) or a "
                        "scheduler file (.json) (default: in this process)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.set_defaults(func=run_compare)
    return p


def run_compare(args) -> int:
    """Handler of ``sigfactor compare``: 0 on success; one line on stderr and 2 on bad input."""
    from .cli import option_scheduler

    try:
        scheduler = option_scheduler(args.scheduler)
        out = check_out_dir(args.out, args.force)
        result = compare_models(
            args.input, args.rank, models=args.models, n_splits=args.splits,
            train_fraction=args.train_fraction, seed=args.seed, reference=args.reference,
            settings=args.settings, progress=not args.quiet, max_iter=args.max_iter,
            device=args.device, scheduler=scheduler)
        write_comparison(result, out, force=args.force)
    except (ValueError, TypeError, OSError, KeyError) as err:
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"sigfactor compare: error: {message}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"sigfactor compare: wrote {out}")
    return 0
