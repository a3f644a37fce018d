"""Exposure refits: NNLS against scipy's Lawson-Hanson, KL against NNLS."""
import numpy as np
import pytest
from scipy.optimize import nnls as scipy_nnls

import sigfactor
from sigfactor.refit import kl_terms, nnls, refit_kl


@pytest.mark.parametrize("names", [["SBS1", "SBS2", "SBS3", "SBS5", "SBS13"], slice(0, 30)])
def test_nnls_matches_scipy(breast21_counts, cosmic_frame, names):
    S = cosmic_frame.iloc[:, names] if isinstance(names, slice) else cosmic_frame[names]
    S = S.to_numpy()
    Y = breast21_counts.T.astype(float)
    H = nnls(S, Y)
    ref = np.stack([scipy_nnls(S, Y[:, i], maxiter=10000)[0] for i in range(Y.shape[1])], axis=1)
    np.testing.assert_allclose(H, ref, atol=1e-6 * ref.max())
    assert (H >= 0).all()


def test_nnls_is_batched_over_leading_dimensions(breast21_counts, cosmic_frame):
    S = cosmic_frame[["SBS1", "SBS2", "SBS3"]].to_numpy()
    Y = breast21_counts.T.astype(float)
    one = nnls(S, Y)
    both = nnls(np.stack([S, S]), np.stack([Y, 2 * Y]))
    np.testing.assert_allclose(both[0], one, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(both[1], 2 * one, rtol=1e-9, atol=1e-9)
    shared = nnls(S, np.stack([Y, 2 * Y]))             # one set of signatures for both batches
    np.testing.assert_allclose(shared, both, rtol=1e-12, atol=1e-12)


def test_kl_refit_lowers_the_divergence_below_nnls(breast21_counts, cosmic_frame):
    S = cosmic_frame[["SBS1", "SBS2", "SBS3", "SBS5", "SBS13"]].to_numpy()
    Y = breast21_counts.T.astype(float)

    def kl(H):
        Yh = np.maximum(S @ H, 1e-12)
        return float((np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1) / Yh), 0.0) - Y + Yh).sum())

    assert kl(refit_kl(S, Y)) < kl(np.maximum(nnls(S, Y), 1e-12))


def test_kl_terms_match_the_definition():
    from scipy.special import xlogy

    rng = np.random.default_rng(0)
    Y = rng.poisson(3.0, size=(2, 96, 5)).astype(float)
    Y_hat = rng.uniform(0.5, 6.0, size=Y.shape)
    np.testing.assert_allclose(kl_terms(Y, Y_hat), xlogy(Y, Y / Y_hat) - Y + Y_hat, rtol=1e-12, atol=1e-12)
    assert kl_terms(np.zeros(3), np.zeros(3)).max() < 1e-15          # 0 log 0 = 0, Y_hat floored


def test_public_refit_aligns_rows_by_label(cosmic_frame):
    cat = sigfactor.datasets.breast21()
    sigs = cosmic_frame[["SBS1", "SBS2", "SBS3", "SBS13"]]
    expected = sigfactor.refit(cat, sigs)
    shuffled = sigfactor.refit(cat, sigs.sample(frac=1.0, random_state=1))
    pd_testing = __import__("pandas").testing
    pd_testing.assert_frame_equal(expected, shuffled)
    assert list(expected.index) == list(cat.samples) and list(expected.columns) == list(sigs.columns)


def test_public_refit_names_missing_channels(cosmic_frame):
    with pytest.raises(ValueError, match="signatures"):
        sigfactor.refit(sigfactor.datasets.breast21(), cosmic_frame.iloc[:90, :3])


def _kkt_gap(S, y, h):
    """Largest violation of the NNLS optimality conditions (h >= 0, g >= 0, g = 0 where h > 0),
    with g = S^T (S h - y), relative to |S^T y|."""
    g = S.T @ (S @ h - y)
    scale = max(np.abs(S.T @ y).max(), 1e-300)
    return max(-h.min(), -g.min() / scale, np.abs(g[h > 1e-9 * h.max()]).max(initial=0.0) / scale)


def _near_collinear(seed, cosine_gap):
    """Signatures with two columns at cosine 1 - cosine_gap and samples mixing all of them."""
    rng = np.random.default_rng(seed)
    base = rng.dirichlet(np.ones(96), size=4).T
    twin = base[:, 0] * (1 + cosine_gap * rng.standard_normal(96))
    S = np.column_stack([base, np.abs(twin) / np.abs(twin).sum()])
    H = rng.gamma(1.0, 500.0, size=(5, 30))
    return S, rng.poisson(S @ H).astype(float)


@pytest.mark.parametrize("gap", [1e-2, 3e-4, 1e-5])
def test_nnls_is_optimal_on_near_collinear_signatures(gap):
    """Catches the coordinate-descent solver of the first landings, whose exposures were off by up
    to 47 % at cosine >= 0.9997: the answer must meet the KKT conditions and equal an independent
    bounded least-squares solver (scipy's BVLS) on this full-rank problem."""
    from scipy.optimize import lsq_linear

    S, Y = _near_collinear(0, gap)
    cos = S[:, 0] @ S[:, 4] / np.linalg.norm(S[:, 0]) / np.linalg.norm(S[:, 4])
    assert cos > 1 - 10 * gap
    H = nnls(S, Y)
    for j in range(Y.shape[1]):
        assert _kkt_gap(S, Y[:, j], H[:, j]) < 1e-7
        ref = lsq_linear(S, Y[:, j], bounds=(0, np.inf), method="bvls", tol=1e-14).x
        res, res_ref = np.linalg.norm(S @ H[:, j] - Y[:, j]), np.linalg.norm(S @ ref - Y[:, j])
        assert res <= res_ref * (1 + 1e-9) + 1e-9


def test_nnls_handles_duplicated_signatures_and_more_signatures_than_channels(cosmic_frame):
    """Catches an exact solve on the normal equations (LinAlgError: Singular matrix) for a
    duplicated profile or more than 96 signatures: the fit must be optimal by the KKT conditions."""
    Y = sigfactor.datasets.breast21().counts.T.astype(float)[:, :6]
    dup = cosmic_frame[["SBS1", "SBS2", "SBS3", "SBS13", "SBS1"]].to_numpy()
    wide = np.hstack([cosmic_frame.to_numpy(), cosmic_frame.to_numpy()[:, :20]])
    assert wide.shape[1] > 96
    for S in (dup, wide):
        H = nnls(S, Y)
        assert H.shape == (S.shape[1], Y.shape[1])
        for j in range(Y.shape[1]):
            assert _kkt_gap(S, Y[:, j], H[:, j]) < 1e-7


def test_kl_refit_is_batched_over_leading_dimensions(breast21_counts, cosmic_frame):
    """Each batch entry is solved with its own signatures and catalogue, and a shared set of
    signatures broadcasts. Catches a loop that refits every entry with the first entry's
    signatures or catalogue, or writes the result to the wrong entry."""
    S1 = cosmic_frame[["SBS1", "SBS2", "SBS3", "SBS13"]].to_numpy()
    S2 = cosmic_frame[["SBS1", "SBS5", "SBS8", "SBS18"]].to_numpy()
    Y = breast21_counts.T.astype(float)
    both = refit_kl(np.stack([S1, S2]), np.stack([Y, 2 * Y]))
    np.testing.assert_array_equal(both[0], refit_kl(S1, Y))
    np.testing.assert_array_equal(both[1], refit_kl(S2, 2 * Y))
    shared = refit_kl(S1, np.stack([Y, 2 * Y]))
    np.testing.assert_array_equal(shared[0], both[0])
    np.testing.assert_array_equal(shared[1], refit_kl(S1, 2 * Y))


def test_kl_refit_finish_repairs_what_the_sweeps_leave_on_near_collinear_signatures():
    """Two signatures at cosine 0.99: coordinate descent alone stalls 1e-3 (relative) above the
    optimum on some samples (measured: 1.1e-3); the L-BFGS-B finish (here without the Newton
    finish, which would do it first) must bring every sample to within 1e-9 of scipy's optimum
    (measured: 1.8e-15). Catches a finish that is skipped or whose result is dropped."""
    from test_refit_kkt import _divergence, _scipy_optimum

    S, Y = _near_collinear(0, 1e-2)
    H = refit_kl(S, Y, newton=False)
    sweeps_only = refit_kl(S, Y, kkt_tol=np.inf, newton=False)
    worst, worst_sweeps = 0.0, 0.0
    for j in range(Y.shape[1]):
        best = _divergence(Y[:, j], S @ _scipy_optimum(S, Y[:, j]))
        worst = max(worst, _divergence(Y[:, j], S @ H[:, j]) / best - 1)
        worst_sweeps = max(worst_sweeps, _divergence(Y[:, j], S @ sweeps_only[:, j]) / best - 1)
    assert worst <= 1e-9
    assert worst_sweeps > 1e-4                      # the case does need the finish


@pytest.mark.parametrize("gap", [3e-4, 1e-5])
def test_kl_refit_newton_finish_reaches_the_optimum_where_the_gradient_is_too_small_to_see(gap):
    """Two signatures at cosine 0.9997 and 0.99999: the sweeps stop short of the optimum in the
    long flat valley between them (measured: 3.6e-5 and 1.2e-6 relative, above scipy's
    L-BFGS-B optimum), where the gradient is below the KKT test's threshold, so the L-BFGS-B
    finish is not called. The Newton finish must bring every sample to within 1e-9 of scipy's
    optimum (measured: 3e-15) and, with it off, the same refit must show the gap (so the case
    needs it). Catches the Newton finish skipped, its result dropped, or a step taken that
    raises the divergence (a sample would then end above the sweeps' result)."""
    from test_refit_kkt import _divergence, _scipy_optimum

    S, Y = _near_collinear(0, gap)
    H, without = refit_kl(S, Y), refit_kl(S, Y, newton=False)
    excess = []
    for j in range(Y.shape[1]):
        best = _divergence(Y[:, j], S @ _scipy_optimum(S, Y[:, j]))
        excess.append((_divergence(Y[:, j], S @ H[:, j]) / best - 1,
                       _divergence(Y[:, j], S @ without[:, j]) / best - 1))
    excess = np.array(excess)
    assert excess[:, 0].max() <= 1e-9
    assert excess[:, 1].max() > 1e-7                                # the sweeps alone fall short
    assert (excess[:, 0] <= excess[:, 1] + 1e-12).all()             # never worse than the sweeps


def test_kl_refit_newton_finish_in_groups_of_samples_is_the_finish_on_all(monkeypatch):
    """The Newton finish takes the samples in groups sized by memory; groups of 7 of the 30
    samples must give what one group gives. Catches a group written to a copy (its steps
    lost) and group bounds that skip or repeat samples."""
    import importlib

    refit_module = importlib.import_module("sigfactor.refit")      # the package's `refit` is the function

    S, Y = _near_collinear(0, 3e-4)
    whole = refit_kl(S, Y)
    monkeypatch.setattr(refit_module, "_NEWTON_BYTES", 8 * S.shape[1] ** 2 * 7)
    grouped = refit_kl(S, Y)
    np.testing.assert_allclose(grouped, whole, rtol=1e-12, atol=1e-9)
    assert not np.allclose(refit_kl(S, Y, newton=False), whole, rtol=1e-6)
