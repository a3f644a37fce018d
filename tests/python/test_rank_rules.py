"""Rank rules beside SigProfilerExtractor's: bi-cross-validation and the Poisson BIC.

The planted catalogue: four COSMIC signatures (SBS1, SBS2, SBS7a, SBS13), 60 samples, gamma
exposures, Poisson counts. Held-out errors and BIC are recomputed here from the stored fold
factors with scipy (bounded L-BFGS-B of the Poisson likelihood, ``scipy.special.xlogy`` /
``gammaln``), not with sigfactor's refits.
"""
from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize, nnls
from scipy.special import gammaln, xlogy

from sigfactor import reference
from sigfactor.extract import extract
from sigfactor.rank_rules import RANK_RULES, bcv_partition, bic_parameters, choose_bcv

TRUE = ["SBS1", "SBS2", "SBS7a", "SBS13"]
FAST = dict(n_restarts=5, max_iter=1000, seed=0, progress=False, normalization="none")


@pytest.fixture(scope="module")
def planted():
    W = reference.cosmic()[TRUE]
    rng = np.random.default_rng(7)
    H = rng.gamma(0.7, 600.0, size=(len(TRUE), 60))
    counts = rng.poisson(W.to_numpy() @ H)
    return pd.DataFrame(counts, index=W.index, columns=[f"s{i}" for i in range(60)])


@pytest.fixture(scope="module")
def planted_bcv(planted):
    return extract(planted, ranks=range(2, 7), rank_rule="bcv", compare_rank_rules=True, **FAST)


def test_bcv_and_bic_pick_the_planted_rank(planted, planted_bcv):
    """Catches a rule that picks the error minimum blindly upward (overfits) or a held-out block
    predicted from factors fitted on it (the error would fall with every rank)."""
    assert planted_bcv.rank == 4, planted_bcv.stats[["bcv_error", "bcv_se"]]
    assert planted_bcv.stats["chosen_by_bcv"].sum() == 1 and planted_bcv.stats.loc[4, "chosen_by_bcv"]
    assert planted_bcv.stats.loc[4, "chosen_by_bic"], planted_bcv.stats["bic"]
    assert planted_bcv.stats.loc[4, "chosen"]
    assert "rank_rule='bcv'" in planted_bcv.selection_reason and "bi-cross-validation" in planted_bcv.selection_reason
    bic = extract(planted, ranks=range(2, 7), rank_rule="bic", **FAST)
    assert bic.rank == 4 and "Poisson BIC" in bic.selection_reason


def _poisson_fit(S: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative x minimising the Poisson negative log-likelihood of y ~ S x (scipy L-BFGS-B)."""
    def f(x):
        mu = np.maximum(S @ x, EPS)
        return (mu - xlogy(y, mu)).sum(), S.T @ (1.0 - y / mu)

    scale = S.sum(axis=0)            # solved for x * scale (columns of S summing to 1: well scaled)
    S = S / scale
    x = nnls(S, y)[0] + 1.0
    for _ in range(3):          # restarted from its own result: a line search can stop early
        x = minimize(f, x, jac=True, method="L-BFGS-B", bounds=[(0, None)] * S.shape[1],
                     options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 5000}).x
    return x / scale


EPS = np.finfo(np.float64).eps


def _gkl(A, A_hat):
    """Generalized KL entries, the prediction floored at machine epsilon (as documented)."""
    A_hat = np.maximum(A_hat, EPS)
    return xlogy(A, A) - xlogy(A, A_hat) - A + A_hat


def test_heldout_error_matches_an_independent_poisson_fit(planted, planted_bcv):
    """The table's bcv_error at rank 4 recomputed from each fold's stored training factors: W_I
    and H_J by scipy's Poisson fit, the generalized KL of the held-out block averaged per entry,
    then over folds. Catches a prediction that uses the held-out block (or the wrong blocks:
    rows and columns swapped), an error summed instead of averaged, or a table that reports
    another rank's or the minimum fold's error."""
    X = np.maximum(planted.to_numpy(float), 1e-4)      # the fitted catalogue: no normalisation, floored
    folds = planted_bcv.solutions[4].bcv_folds
    assert len(folds) == 9
    covered = np.zeros(X.shape, int)
    errors = []
    for f in folds:
        covered[np.ix_(f.rows, f.cols)] += 1
        keep_r = np.setdiff1d(np.arange(X.shape[0]), f.rows)
        keep_c = np.setdiff1d(np.arange(X.shape[1]), f.cols)
        B, C, A = X[np.ix_(f.rows, keep_c)], X[np.ix_(keep_r, f.cols)], X[np.ix_(f.rows, f.cols)]
        W_I = np.stack([_poisson_fit(f.exposures.T, b) for b in B])
        H_J = np.stack([_poisson_fit(f.signatures, c) for c in C.T], axis=1)
        errors.append(_gkl(A, W_I @ H_J).mean())
        # H_D is the Poisson fit of the training block given W_D (its divergence, not its entries:
        # near-collinear signatures leave the optimum flat)
        D = X[np.ix_(keep_r, keep_c)]
        D = D[:, :10]
        H_D = np.stack([_poisson_fit(f.signatures, d) for d in D.T], axis=1)
        ours, optimum = _gkl(D, f.signatures @ f.exposures[:, :10]).sum(), _gkl(D, f.signatures @ H_D).sum()
        assert -1e-4 <= ours / optimum - 1 <= 1e-3       # multiplicative updates only: within 1e-3
    assert (covered == 1).all()                          # every entry held out exactly once
    # the multiplicative updates never reach exact zeros, the exact optimum sometimes predicts 0
    # where a count was held out (a large KL term): within 5 %, folds within 10 %
    np.testing.assert_allclose([f.error for f in folds], errors, rtol=0.1)
    np.testing.assert_allclose(planted_bcv.stats.loc[4, "bcv_error"], np.mean(errors), rtol=0.05)


def test_heldout_squared_error_matches_scipy_nnls(planted):
    """With the Frobenius loss every solve is NNLS, so scipy.optimize.nnls gives the table's
    bcv_error exactly: catches swapped blocks, a prediction from the held-out block, an error
    summed instead of averaged or a standard error of the wrong spread."""
    result = extract(planted, ranks=[4], loss="frobenius", rank_rule="bcv", **FAST)
    X = np.maximum(planted.to_numpy(float), 1e-4)
    errors = []
    for f in result.solutions[4].bcv_folds:
        keep_r = np.setdiff1d(np.arange(X.shape[0]), f.rows)
        keep_c = np.setdiff1d(np.arange(X.shape[1]), f.cols)
        B, C, A = X[np.ix_(f.rows, keep_c)], X[np.ix_(keep_r, f.cols)], X[np.ix_(f.rows, f.cols)]
        D = X[np.ix_(keep_r, keep_c)]
        np.testing.assert_allclose(f.exposures, np.stack([nnls(f.signatures, d)[0] for d in D.T], 1),
                                   rtol=1e-6, atol=1e-6)
        W_I = np.stack([nnls(f.exposures.T, b)[0] for b in B])
        H_J = np.stack([nnls(f.signatures, c)[0] for c in C.T], axis=1)
        errors.append(((A - W_I @ H_J) ** 2).mean())
    np.testing.assert_allclose(result.stats.loc[4, "bcv_error"], np.mean(errors), rtol=1e-6)
    np.testing.assert_allclose(result.stats.loc[4, "bcv_se"], np.std(errors, ddof=1) / 3, rtol=1e-6)


def test_bic_matches_the_poisson_likelihood(planted, planted_bcv):
    """BIC at rank 4 from scipy's Poisson fit of the exposures and the log-likelihood with
    gammaln, shifted by the saturated model's: catches a wrong parameter count, log of the wrong
    N, or the deviance without its factor 2."""
    X = np.maximum(planted.to_numpy(float), 1e-4)
    W = planted_bcv.solutions[4].signatures.to_numpy()
    H = np.stack([_poisson_fit(W, x) for x in X.T], axis=1)

    def loglik(mu):
        return (xlogy(X, mu) - mu - gammaln(X + 1)).sum()

    p = (X.shape[0] - 1) * 4 + X.shape[1] * 4
    assert bic_parameters(*X.shape, 4) == p
    expected = -2 * loglik(W @ H) + 2 * loglik(X) + p * np.log(X.size)
    np.testing.assert_allclose(planted_bcv.stats.loc[4, "bic"], expected, rtol=1e-6)


def test_one_standard_error_rule_on_paired_folds():
    """Hand-made fold errors: rank 3 has the lowest mean (25), rank 2 is higher by 0.05 (paired
    differences 0.2, 0.2, 0.2, -0.4: SE 0.15), rank 1 by 3 on every fold (SE 0). The rule picks
    2; the raw minimum would pick 3, and an unpaired SE (rank 3's fold spread: 6.45) would let
    rank 1 in."""
    errors = {1: [13.0, 23.0, 33.0, 43.0], 2: [10.2, 20.2, 30.2, 39.6], 3: [10.0, 20.0, 30.0, 40.0]}
    rank, table, reason = choose_bcv(errors)
    assert rank == 2
    assert table.loc[3, "bcv_error"] == 25.0
    np.testing.assert_allclose(table.loc[2, "bcv_se"], np.std(errors[2], ddof=1) / 2)
    assert "rank 3" in reason and "chosen: 2" in reason
    errors[2] = [10.5, 20.5, 30.5, 40.6]         # now clearly worse than 3 on every fold
    assert choose_bcv(errors)[0] == 3


def test_partition_is_seeded_and_covers_every_entry():
    """Catches overlapping or missing blocks and a partition that ignores the seed."""
    a, b = bcv_partition(96, 21, 0), bcv_partition(96, 21, 1)
    cover = np.zeros((96, 21), int)
    for rows, cols in a:
        cover[np.ix_(rows, cols)] += 1
    assert (cover == 1).all() and len(a) == 9
    assert all(np.array_equal(r1, r2) for (r1, _), (r2, _) in zip(a, bcv_partition(96, 21, 0)))
    assert not all(np.array_equal(r1, r2) for (r1, _), (r2, _) in zip(a, b))


def test_default_rule_is_sigprofilers(planted, planted_bcv):
    """Catches a changed default: extract's and the CLI's default is 'sigprofiler', and the
    default result's rank is the one SigProfilerExtractor's rule marks."""
    from sigfactor.cli import _extract_kwargs, build_parser

    assert inspect.signature(extract).parameters["rank_rule"].default == "sigprofiler"
    args = build_parser().parse_args(["extract", "x.txt", "--out", "o"])
    assert _extract_kwargs(args)["rank_rule"] == "sigprofiler"
    args = build_parser().parse_args(["extract", "x.txt", "--out", "o", "--rank-rule", "bcv"])
    assert _extract_kwargs(args)["rank_rule"] == "bcv"
    default = extract(planted, ranks=range(2, 7), **FAST)
    assert default.settings["arguments"]["rank_rule"] == "sigprofiler"
    assert default.stats.loc[default.rank, "chosen_by_sigprofiler"]
    assert default.selection_reason.startswith("Chosen by rank_rule='sigprofiler'")
    # The other rules' evidence is computed only when asked (it costs BCV fits): catches it
    # being computed, or the default's fits changing, behind the user's back.
    assert not {"bcv_error", "bic", "chosen_by_bcv"} & set(default.stats.columns)
    compared = extract(planted, ranks=range(2, 7), compare_rank_rules=True, **FAST)
    assert compared.rank == default.rank
    # the same fits, another rule: identical evidence columns
    pd.testing.assert_frame_equal(compared.stats[["bcv_error", "bic"]], planted_bcv.stats[["bcv_error", "bic"]])
    args = build_parser().parse_args(["extract", "x.txt", "--out", "o", "--compare-rank-rules"])
    assert _extract_kwargs(args)["compare_rank_rules"] is True


@pytest.mark.parametrize("bad", ["BCV", "aic", 3, None])
def test_bad_rank_rule_is_named(planted, bad):
    with pytest.raises(ValueError, match=r"rank_rule=.*not valid; expected one of 'sigprofiler', 'bcv', 'bic'"):
        extract(planted, ranks=[2], rank_rule=bad, **FAST)


def test_rank_plot_shows_every_rules_evidence(planted_bcv):
    """Catches a plot that drops the new quantities or names another rule's choice."""
    from sigfactor.plotting import plot_rank_selection

    fig = plot_rank_selection(planted_bcv.stats, planted_bcv.rank)
    bcv_axes, bic_axes = fig.axes[2], fig.axes[3]
    np.testing.assert_allclose(np.asarray(bcv_axes.get_lines()[0].get_ydata(), float), planted_bcv.stats["bcv_error"])
    np.testing.assert_allclose(np.asarray(bic_axes.get_lines()[0].get_ydata(), float), planted_bcv.stats["bic"])
    picks = {r: int(planted_bcv.stats.index[planted_bcv.stats[f"chosen_by_{r}"]][0]) for r in RANK_RULES}
    assert bcv_axes.get_title() == "Each rule's choice: " + ", ".join(f"{r} {k}" for r, k in picks.items())
