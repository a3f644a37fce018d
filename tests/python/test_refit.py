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
