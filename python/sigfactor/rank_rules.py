"""Choosing the number of signatures by held-out error or likelihood, beside SigProfilerExtractor's rule.

:func:`sigfactor.extract` computes every rule's per-rank quantity and reports them side by side
in ``result.stats``; ``rank_rule`` says which one chooses (:data:`RANK_RULES`):

``"sigprofiler"`` (the default)
    SigProfilerExtractor's stability and Wilcoxon rule (:mod:`sigfactor.selection`).
``"bcv"``
    Bi-cross-validation of the factorisation (Owen & Perry 2009, "Bi-cross-validation of the
    SVD and the nonnegative matrix factorization", Ann. Appl. Stat. 3:564-594). The channels
    and the samples are each split at random into :data:`BCV_GROUPS` groups; every pair (a
    group of channels ``I``, a group of samples ``J``) is held out once, so every entry of the
    matrix is held out exactly once (9 folds). Writing the catalogue as the blocks
    ``A = X[I, J]``, ``B = X[I, ~J]``, ``C = X[~I, J]``, ``D = X[~I, ~J]``, a fold fits the
    model at rank ``k`` to ``D`` alone (:data:`BCV_RESTARTS` random restarts, the best kept),
    giving ``D ~ W_D H_D``; then ``W_I`` from ``B ~ W_I H_D`` with ``H_D`` fixed and ``H_J``
    from ``C ~ W_D H_J`` with ``W_D`` fixed (both by the fit's loss: KL refits, or NNLS for
    the Frobenius loss), and predicts ``A ~ W_I H_J``. A fold's error is the mean per entry
    of the held-out block's generalised KL divergence (``A log(A / Â) - A + Â``; squared error
    for the Frobenius loss); ``bcv_error`` is the mean over the folds and ``bcv_se`` its
    standard error. The rule takes the *smallest rank whose mean held-out error exceeds the
    minimum's by at most one standard error of the per-fold differences* (the one-standard-
    error rule, on paired differences because every rank is scored on the same folds): the
    minimum itself overfits by a rank when noise makes a higher rank's error a hair lower.
``"stable_bcv"``
    Bi-cross-validation among the stable ranks: the one-standard-error choice of ``"bcv"``
    made among the ranks that pass SigProfilerExtractor's stability thresholds
    (:func:`sigfactor.selection.stable_ranks`), or among all ranks when none does
    (:func:`choose_stable_bcv`). Stability asks that a rank's signatures come back from every
    resampled restart; held-out error asks that the extra signature predict counts it was not
    fitted to. Each check fails where the other holds. With few or very unequal samples the
    held-out error of one fold can favour a rank whose signatures do not reproduce (BCV alone
    chose 8 on the 21 breast genomes, where the minimum stability is below 0 from rank 7 on).
    SigProfilerExtractor's Wilcoxon walk can keep a stable but superfluous signature (the
    SBS1 + SBS5 clock mixture of ``benchmarks/bench_accuracy.py``) or drop a real one whose
    reconstruction gain is spread thinly over low-count samples (the low-count exomes). On
    that benchmark's ten sets (KL NMF, 20 restarts) it chose the true rank on 9, BCV on 8 and
    SigProfilerExtractor's rule on 6. It missed by one where the true rank is not stable (8
    signatures, 3 of them flat), which no rule that requires stability can choose.
``"bic"``
    The Bayesian information criterion of a Poisson model of the counts:
    ``bic = 2 * sum(X log(X / WH) - X + WH) + p log(N)`` with ``WH`` the consensus signatures
    and their exposures refitted by KL, ``p = (channels - 1) k + samples k`` free parameters
    (signatures on the simplex, exposures free) and ``N = channels x samples`` counts; the
    rank with the lowest value is chosen. The first term is the Poisson deviance, -2 log L up
    to a constant. Real catalogues are overdispersed relative to the Poisson model, so on them
    this criterion tends to keep too many signatures.

Reporting: with ``compare_rank_rules=True`` :func:`selection_reason` states the chosen rule's
reason and, for every other rule, the rank it would choose and why, in words;
:func:`rule_columns` gives the rules' evidence and choices as the columns the statistics table
(``All_solutions_stat.csv``) ends with; :func:`sigfactor.plotting.plot_rank_selection` marks
each rule's choice on its own curve.

Both new rules are computed on the catalogue the restarts fit, without resampling: the counts
with hypermutated samples normalised and entries floored as in
:func:`sigfactor.extract.fitted_catalogues`.

Cost: the BCV fits are 9 folds x 3 restarts per rank on 4/9 of the matrix, plus their KL
solves (:func:`sigfactor.refit.refit_kl`, to the Poisson optimum). On ``bench_accuracy.py``'s
``many`` set (400 samples, ranks 6-10, 20 restarts, Intel Xeon, 2 cores) an extraction with
every rule took 17.3 s, 1.4 s of it in the KL solves (``benchmarks/bench_refit.py``).

On the 21 breast genomes (ranks 1-10), with 7 samples per held-out block and two
hypermutated genomes, the folds' errors vary widely (standard errors half the means) and BCV
chose 8, the BIC 4, SigProfilerExtractor's rule 3.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import pandas as pd

from .refit import kl_terms, nnls, refit_kl

__all__ = ["RANK_RULES", "BCV_GROUPS", "BCV_RESTARTS", "BCVFold", "bcv_seed", "bcv_partition",
           "bcv_predict", "heldout_error", "bcv_rank", "choose_bcv", "poisson_bic", "choose_bic",
           "bic_parameters", "choose_stable_bcv", "selection_reason", "rule_columns"]

RANK_RULES = ("sigprofiler", "bcv", "bic", "stable_bcv")
"""Values of ``rank_rule`` (:func:`sigfactor.extract`)."""

BCV_GROUPS = 3
"""Channels and samples are each split into this many groups; 3 x 3 = 9 folds, each fitting 4/9
of the matrix."""

BCV_RESTARTS = 3
"""Random restarts of each fold's fit (the lowest loss kept)."""


class BCVFold(NamedTuple):
    """One held-out block and the fit that predicted it."""

    rows: np.ndarray
    """Held-out channels (indices, sorted)."""
    cols: np.ndarray
    """Held-out samples (indices, sorted)."""
    signatures: np.ndarray
    """``W_D``: the fit to the training block, kept channels x k (columns sum to 1)."""
    exposures: np.ndarray
    """``H_D``: k x kept samples, refitted to the training block with ``W_D`` fixed."""
    error: float
    """Mean per-entry held-out error (:func:`heldout_error`)."""


def bcv_seed(seed: int) -> int:
    """Seed of the BCV partition and fold fits (from extract's one ``seed``)."""
    return int(np.random.SeedSequence([seed, 0, 2]).generate_state(1)[0])


def fold_seed(seed: int, rank: int, fold: int) -> int:
    """Seed of one fold's restarts at one rank (depends on the seed, rank and fold only)."""
    return int(np.random.SeedSequence([bcv_seed(seed), rank, fold]).generate_state(1)[0])


def bcv_partition(n_channels: int, n_samples: int, seed: int, groups: int = BCV_GROUPS) -> list[tuple]:
    """The held-out blocks: every (channel group, sample group) pair of a random split of each axis.

    Returns
    -------
    list of (rows, cols)
        ``groups**2`` pairs of sorted index arrays; every entry is held out exactly once.
    """
    rng = np.random.default_rng(bcv_seed(seed))
    row_groups = np.array_split(rng.permutation(n_channels), groups)
    col_groups = np.array_split(rng.permutation(n_samples), groups)
    return [(np.sort(r), np.sort(c)) for r in row_groups for c in col_groups]


def _solve(S: np.ndarray, Y: np.ndarray, loss: str) -> np.ndarray:
    return refit_kl(S, Y) if loss == "kl" else nnls(S, Y)


def bcv_predict(X: np.ndarray, rows, cols, W_D: np.ndarray, H_D: np.ndarray, loss: str) -> np.ndarray:
    """Prediction of the held-out block ``X[rows][:, cols]`` from the training block's factors.

    ``W_I`` solves ``X[rows, ~cols] ~ W_I H_D`` and ``H_J`` solves ``X[~rows, cols] ~ W_D H_J``
    (non-negative, by KL or least squares as ``loss``); the prediction is ``W_I H_J``.
    """
    keep_r = np.setdiff1d(np.arange(X.shape[0]), rows)
    keep_c = np.setdiff1d(np.arange(X.shape[1]), cols)
    B = X[np.ix_(rows, keep_c)]
    C = X[np.ix_(keep_r, cols)]
    W_I = _solve(H_D.T, B.T, loss).T
    H_J = _solve(W_D, C, loss)
    return W_I @ H_J


def heldout_error(A: np.ndarray, A_hat: np.ndarray, loss: str) -> float:
    """Mean per entry of the generalised KL divergence of ``A`` from ``A_hat`` (``loss="kl"``) or
    of the squared error (``"frobenius"``)."""
    if loss == "kl":
        return float(kl_terms(A, A_hat).mean())
    return float(((A - A_hat) ** 2).mean())


def bcv_rank(X: np.ndarray, rank: int, folds: list, fit: Callable, loss: str, seed: int) -> list[BCVFold]:
    """Every fold's fit and held-out error at one rank.

    Parameters
    ----------
    X : numpy.ndarray
        Channels x samples, float64.
    folds : list of (rows, cols)
        From :func:`bcv_partition`.
    fit : callable
        ``fit(D, rank, seed) -> W`` with ``W`` (kept channels x rank): the model's best restart
        on the training block ``D``.
    loss : {'kl', 'frobenius'}
    seed : int
        Extract's seed (each fold's restarts are seeded by :func:`fold_seed`).
    """
    out = []
    for f, (rows, cols) in enumerate(folds):
        keep_r = np.setdiff1d(np.arange(X.shape[0]), rows)
        keep_c = np.setdiff1d(np.arange(X.shape[1]), cols)
        if rank > min(keep_r.size, keep_c.size):
            out.append(BCVFold(rows, cols, np.full((keep_r.size, rank), np.nan),
                               np.full((rank, keep_c.size), np.nan), np.nan))
            continue
        D = X[np.ix_(keep_r, keep_c)]
        W_D = np.asarray(fit(D, rank, fold_seed(seed, rank, f)), dtype=np.float64)
        H_D = _solve(W_D, D, loss)
        A_hat = bcv_predict(X, rows, cols, W_D, H_D, loss)
        out.append(BCVFold(rows, cols, W_D, H_D, heldout_error(X[np.ix_(rows, cols)], A_hat, loss)))
    return out


def choose_bcv(fold_errors: dict) -> tuple[int, pd.DataFrame, str]:
    """The one-standard-error choice from per-fold held-out errors.

    Parameters
    ----------
    fold_errors : dict of int to array
        Per-fold errors of each rank (the same folds at every rank; NaN where a rank could not
        be fitted on a fold).

    Returns
    -------
    rank : int or None
        None when no rank was fitted on every fold.
    table : pandas.DataFrame
        ``bcv_error`` (mean over folds), ``bcv_se`` (its standard error) and ``bcv_diff_se``
        (standard error of the per-fold differences from the minimising rank), by rank.
    reason : str
    """
    ranks = sorted(fold_errors)
    E = pd.DataFrame({k: np.asarray(fold_errors[k], dtype=float) for k in ranks})
    n = E.notna().sum()
    mean = E.mean()
    se = E.std(ddof=1) / np.sqrt(n)
    complete = [k for k in ranks if n[k] == len(E)]
    if not complete:
        return None, pd.DataFrame({"bcv_error": mean, "bcv_se": se, "bcv_diff_se": np.nan}).rename_axis("rank"), (
            "bi-cross-validation chose nothing: no rank could be fitted on every fold (each fold fits 2/3 "
            "of the samples and channels).")
    best = min(complete, key=lambda k: mean[k])
    diff = E[complete].sub(E[best], axis=0)
    diff_se = diff.std(ddof=1) / np.sqrt(len(E))
    within = [k for k in complete if diff[k].mean() <= diff_se[k]]
    chosen = min(within)
    table = pd.DataFrame({"bcv_error": mean, "bcv_se": se,
                          "bcv_diff_se": diff_se.reindex(ranks)}).rename_axis("rank")
    reason = (f"bi-cross-validation ({len(E)} held-out blocks): the lowest mean held-out error is at rank {best} "
              f"({mean[best]:.4g})")
    if chosen == best:
        reason += (f", and no lower rank is within one standard error of it; chosen: {chosen}.")
    else:
        reason += (f"; rank {chosen} is the smallest within one standard error of it ({mean[chosen]:.4g}, "
                   f"difference {diff[chosen].mean():.3g} <= SE {diff_se[chosen]:.3g}); chosen: {chosen}.")
    return chosen, table, reason


def choose_stable_bcv(fold_errors: dict, stable: pd.Series) -> tuple[int | None, str]:
    """The one-standard-error BCV choice (:func:`choose_bcv`) among the stable ranks.

    Parameters
    ----------
    fold_errors : dict of int to array
        Per-fold held-out errors of each rank, as for :func:`choose_bcv`.
    stable : pandas.Series of bool
        Which ranks pass SigProfilerExtractor's stability thresholds (index: rank).

    Returns
    -------
    rank : int or None
        None when no candidate rank was fitted on every fold.
    reason : str
    """
    ok = [k for k in sorted(fold_errors) if bool(stable.get(k, False))]
    pool = ok or sorted(fold_errors)
    chosen, _, why = choose_bcv({k: fold_errors[k] for k in pool})
    if ok:
        lead = f"among the stable ranks ({', '.join(map(str, ok))}), "
    else:
        lead = "no rank is stable, so among all ranks, "
    return chosen, lead + why


def bic_parameters(n_channels: int, n_samples: int, rank: int) -> int:
    """Free parameters of a rank-``rank`` factorisation with signatures on the simplex."""
    return (n_channels - 1) * rank + n_samples * rank


def poisson_bic(X: np.ndarray, W: np.ndarray, H: np.ndarray) -> float:
    """BIC of the Poisson model ``X ~ Poisson(W H)`` up to a constant: the deviance
    ``2 sum(X log(X / WH) - X + WH)`` plus ``p log(N)`` (:func:`bic_parameters`, ``N`` the entries)."""
    X = np.asarray(X, dtype=np.float64)
    deviance = 2.0 * float(kl_terms(X, np.asarray(W) @ np.asarray(H)).sum())
    return deviance + bic_parameters(X.shape[0], X.shape[1], W.shape[1]) * np.log(X.size)


def choose_bic(bic: pd.Series) -> tuple[int, str]:
    """The rank of lowest BIC and a sentence saying so."""
    chosen = int(bic.idxmin())
    others = bic.drop(chosen)
    nxt = f"; next best rank {int(others.idxmin())} ({others.min():.6g})" if len(others) else ""
    return chosen, (f"Poisson BIC (deviance + ((channels - 1) k + samples k) log N) is lowest at rank "
                    f"{chosen} ({bic[chosen]:.6g}{nxt}); chosen: {chosen}.")


def selection_reason(rule: str, choices: dict, reasons: dict) -> str:
    """The selection's reason in words: the chosen rule's, then each other rule's choice and why.

    Parameters
    ----------
    rule : str
        The rule that chose (``rank_rule``).
    choices : dict of str to int or None
        The rank each rule computed chose (None: it could choose none), keyed by rule in
        :data:`RANK_RULES` order.
    reasons : dict of str to str
        Each rule's sentence (:func:`choose_bcv`, :func:`choose_bic`,
        :func:`sigfactor.selection.select_rank`).

    Returns
    -------
    str
        ``"Chosen by rank_rule='bcv'. <its reason>"``, and when other rules were computed
        ``" Other rules: sigprofiler would choose 3; bic would choose 4."`` followed, for each, by
        ``" sigprofiler's reason: <its reason>"``, and whether all the rules agree.
    """
    text = f"Chosen by rank_rule={rule!r}. {reasons[rule]}"
    others = [name for name in choices if name != rule]
    if not others:
        return text

    def said(k):
        return "nothing" if k is None else str(k)

    text += " Other rules: " + "; ".join(f"{name} would choose {said(choices[name])}" for name in others) + "."
    text += "".join(f" {name}'s reason: {reasons[name]}" for name in others)
    if len(set(choices.values())) == 1:
        text += f" All {len(choices)} rules agree on rank {said(choices[rule])}."
    else:
        text += " The rules disagree: " + ", ".join(f"{name} {said(k)}" for name, k in choices.items()) + "."
    return text


def rule_columns(stats: pd.DataFrame) -> pd.DataFrame:
    """The rank rules' evidence and choices as statistics-table columns (one row per rank).

    Parameters
    ----------
    stats : pandas.DataFrame
        :attr:`sigfactor.extract.ExtractionResult.stats` (index: rank).

    Returns
    -------
    pandas.DataFrame
        Same index; ``BCV Held-out Error`` and ``BCV SE`` (when ``bcv_error`` is in ``stats``),
        ``Poisson BIC`` (when ``bic`` is) and ``Chosen By``: the rules, among those computed,
        that chose the rank (``"sigprofiler, bic"``; empty where none did). With no
        alternative rule computed, no columns.
    """
    present = [rule for rule in RANK_RULES if f"chosen_by_{rule}" in stats.columns]
    columns = {}
    if "bcv_error" in stats.columns:
        columns["BCV Held-out Error"] = stats["bcv_error"].round(5)
        columns["BCV SE"] = stats["bcv_se"].round(5)
    if "bic" in stats.columns:
        columns["Poisson BIC"] = stats["bic"].round(1)
    if not columns:
        return pd.DataFrame(index=stats.index)
    columns["Chosen By"] = pd.Series([", ".join(r for r in present if stats.loc[k, f"chosen_by_{r}"])
                                      for k in stats.index], index=stats.index)
    return pd.DataFrame(columns, index=stats.index)
