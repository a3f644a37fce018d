"""Hypermutator normalisation (SigProfiler's gmm and log2) and COSMIC decomposition."""
import numpy as np
import pandas as pd
import pytest

from sigfactor.decompose import ARTEFACTS, decompose_signature, describe
from sigfactor.normalize import gmm_cutoff, normalize


def test_gmm_cutoff_separates_hypermutators():
    rng = np.random.default_rng(0)
    totals = np.concatenate([rng.normal(2000, 200, 200), [60000, 80000, 75000]])
    cutoff = gmm_cutoff(totals, 0)
    main = totals[:200]
    assert main.mean() + 1.5 * main.std() < cutoff < main.mean() + 2.5 * main.std()
    # SigProfilerExtractor's manual cutoff is a floor (a cap would scale the main population
    # down to 2,100 whenever the mixture's bound exceeds it).
    assert gmm_cutoff(totals, 1e5) == 1e5
    assert gmm_cutoff(totals, 2100) == cutoff


def test_gmm_cutoff_follows_sigprofilerextractor_on_100_breast_genomes():
    """Catches min() in place of max(): SigProfilerExtractor 1.4.1 scales 15 of the 100 breast
    genomes down to 9,600 mutations (its get_normalization_cutoff floors the cutoff at 100 x 96);
    a cap scaled 41 down to 3,689."""
    from sigfactor import datasets

    totals = datasets.breast100().counts.sum(axis=1)
    cutoff = gmm_cutoff(totals, 9600)
    assert cutoff == 9600
    assert int((totals > cutoff).sum()) == 15


def test_gmm_cutoff_of_proportions_scales_nothing():
    """Catches a cutoff of 0 on a catalogue of proportions (every sample became zero, then NaN)."""
    rng = np.random.default_rng(3)
    V = rng.dirichlet(np.ones(96), size=12).T              # channels x samples, columns sum to 1
    cutoff = gmm_cutoff(V.sum(axis=0), 9600)
    out, f = normalize(V, "gmm", cutoff)
    np.testing.assert_array_equal(out, V)
    assert (f == 1).all()


def test_gmm_cutoff_of_one_population_is_mean_plus_two_sd():
    totals = np.random.default_rng(1).normal(5000, 300, 100)
    assert gmm_cutoff(totals, 0) == pytest.approx(np.floor(totals.mean() + 2 * totals.std()))


def test_gmm_scales_only_samples_above_the_cutoff():
    V = np.array([[10.0, 300.0], [30.0, 700.0]])     # channels x samples: totals 40 and 1000
    out, f = normalize(V, "gmm", 100.0)
    np.testing.assert_allclose(out[:, 0], V[:, 0])
    assert out[:, 1].sum() == pytest.approx(100.0)
    np.testing.assert_allclose(out[:, 1] / out[:, 1].sum(), V[:, 1] / V[:, 1].sum())
    np.testing.assert_allclose(out / f, V)              # the factors map back


def test_normalize_is_batched_over_leading_dimensions():
    V = np.array([[[10.0, 300.0], [30.0, 700.0]], [[1.0, 5.0], [1.0, 5.0]]])
    out, f = normalize(V, "log2")
    assert out.shape == V.shape and f.shape == (2, 2)
    np.testing.assert_allclose(out[1], normalize(V[1], "log2")[0])
    assert f[1, 0] == 0.5                                # totals of 2 or less become 1
    np.testing.assert_allclose(out.sum(axis=-2)[0], np.log2(V.sum(axis=-2)[0]))


def test_log2_and_none():
    V = np.array([[10.0, 300.0], [22.0, 724.0]])
    out, _ = normalize(V, "log2")
    np.testing.assert_allclose(out.sum(0), np.log2(V.sum(0)))
    np.testing.assert_allclose(normalize(V, "none")[0], V)
    with pytest.raises(ValueError, match="normalization='z'"):
        normalize(V, "z")
    with pytest.raises(ValueError, match="cutoff"):
        normalize(V, "gmm")


def test_decomposition_of_a_mixture_finds_its_parts(cosmic_frame):
    s = 0.6 * cosmic_frame["SBS2"] + 0.4 * cosmic_frame["SBS13"]
    dec = decompose_signature(s, cosmic_frame)
    assert set(dec.weights.index) == {"SBS2", "SBS13"}
    assert dec.weights["SBS2"] == pytest.approx(0.6, abs=0.02)
    assert dec.cosine > 0.999 and not dec.novel
    assert dec.weights.sum() == pytest.approx(1.0)


def test_decomposition_of_a_reference_signature_is_itself(cosmic_frame):
    dec = decompose_signature(cosmic_frame["SBS3"], cosmic_frame)
    assert list(dec.weights.index) == ["SBS3"]
    assert describe(dec.weights) == "SBS3 (100.00%)"


def test_linked_family_member_is_offered_back(cosmic_frame):
    # mostly SBS13 with a share of SBS2 small enough that elimination drops it
    s = 0.9 * cosmic_frame["SBS13"] + 0.1 * cosmic_frame["SBS2"]
    dec = decompose_signature(s, cosmic_frame)
    assert {"SBS2", "SBS13"} <= set(dec.weights.index)


def test_artefacts_excluded_and_novel_flagged(cosmic_frame):
    dec = decompose_signature(cosmic_frame["SBS50"], cosmic_frame)
    assert not set(dec.weights.index) & set(ARTEFACTS)
    flat = pd.Series(np.r_[np.ones(48), np.zeros(48)], index=cosmic_frame.index)
    assert decompose_signature(flat, cosmic_frame).cosine < decompose_signature(cosmic_frame["SBS1"], cosmic_frame).cosine
    dec = decompose_signature(cosmic_frame["SBS50"], cosmic_frame, novel_below=0.999)
    assert dec.novel
