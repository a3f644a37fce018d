"""compare_models learns from the training samples only and scores on the test samples only.

A signature planted only in one split's test samples must not be learned on that split, the
test samples' values must not change what is learned, and each run's training loss must be
what a fit on the training samples alone gives (each model, each split).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from sigfactor import datasets
from sigfactor.evaluate import PROTOCOLS, compare_models
from sigfactor.models import ConvergenceWarning, fit

MODELS = ["nmf", "convex", "aenmf"]
SETTINGS = dict(settings="fast", max_iter=200, progress=False, dtype="float64")
N_SAMPLES, N_SPLITS, SEED = 30, 2, 3
BLOCKS = {"A": slice(0, 32), "B": slice(32, 64), "C": slice(64, 96)}


@pytest.fixture(scope="module")
def channels(cosmic_frame):
    return cosmic_frame.index


@pytest.fixture(scope="module")
def test_samples(channels):
    """Positions of split 0's test samples. The splits depend on the number of samples, the
    number of splits, the training fraction and the seed only, so a short run on any
    catalogue of 30 samples gives them."""
    rng = np.random.default_rng(0)
    probe = pd.DataFrame(rng.poisson(10.0, (96, N_SAMPLES)) + 1, index=channels,
                         columns=[f"s{i:02d}" for i in range(N_SAMPLES)])
    run = compare_models(probe, 2, models=["nmf"], n_splits=N_SPLITS, seed=SEED, **{**SETTINGS, "max_iter": 1})
    names = run.splits.query("split == 0 and set == 'test'")["sample"]
    return sorted(int(s[1:]) for s in names)


def _planted(channels, test_samples) -> pd.DataFrame:
    """Samples mixing signatures A (channels 0-31) and B (32-63); split 0's test samples hold
    signature C (64-95) alone, 2,000 mutations on average."""
    rng = np.random.default_rng(1)
    profiles = {}
    for name, block in BLOCKS.items():
        p = np.zeros(96)
        p[block] = rng.dirichlet(np.ones(32))
        profiles[name] = p
    counts = np.empty((96, N_SAMPLES))
    for j in range(N_SAMPLES):
        if j in test_samples:
            mean = 2000.0 * profiles["C"]
        else:
            a, b = rng.uniform(200, 2000, 2)
            mean = a * profiles["A"] + b * profiles["B"]
        counts[:, j] = rng.poisson(mean)
    return pd.DataFrame(counts, index=channels, columns=[f"s{i:02d}" for i in range(N_SAMPLES)])


@pytest.fixture(scope="module")
def planted_run(channels, test_samples):
    data = _planted(channels, test_samples)
    return data, compare_models(data, 2, models=MODELS, n_splits=N_SPLITS, seed=SEED, **SETTINGS)


def _signatures(result, model, split) -> pd.DataFrame:
    return result.signatures.sort_index().loc[(model, split)].T


def test_a_signature_only_in_test_samples_is_not_learned(planted_run, test_samples):
    """Catches training on all samples (test samples included): every model's split-0
    signatures would then carry signature C's channels. With training samples alone they
    cannot (NMF's updates zero them, convex NMF and AE-NMF mix training samples), and the
    test samples, orthogonal to every signature, refit to zero exposures: their held-out
    error is the mean of their squared counts."""
    data, result = planted_run
    test = data.iloc[:, test_samples].to_numpy()
    assert set(result.splits.query("split == 0 and set == 'test'")["sample"]) == set(data.columns[test_samples])
    runs = result.runs.set_index(["model", "split"])
    for model in MODELS:
        S = _signatures(result, model, 0).loc[data.index].to_numpy()
        assert S[BLOCKS["C"]].sum() <= 1e-12, model
        assert S[BLOCKS["A"]].sum() > 0.1 and S[BLOCKS["B"]].sum() > 0.1, model
        assert runs.loc[(model, 0), "test_error"] == pytest.approx(np.mean(test ** 2), rel=1e-12)


def test_test_samples_do_not_change_what_is_learned(planted_run, test_samples):
    """Ten times larger test samples leave split 0's signatures and training loss unchanged
    bit for bit and change only its held-out error (catches any path from test counts into
    the fits, e.g. a shared normalisation or training on all samples)."""
    data, result = planted_run
    loud = data.copy()
    loud.iloc[:, test_samples] *= 10
    louder = compare_models(loud, 2, models=MODELS, n_splits=N_SPLITS, seed=SEED, **SETTINGS)
    before, after = result.runs.set_index(["model", "split"]), louder.runs.set_index(["model", "split"])
    for model in MODELS:
        pd.testing.assert_frame_equal(_signatures(result, model, 0), _signatures(louder, model, 0))
        assert before.loc[(model, 0), "train_loss"] == after.loc[(model, 0), "train_loss"]
        assert after.loc[(model, 0), "test_error"] > 50 * before.loc[(model, 0), "test_error"]


@pytest.fixture(scope="module")
def breast_run():
    return compare_models(datasets.breast21(), 3, models=MODELS, n_splits=2, seed=5, **SETTINGS)


@pytest.mark.parametrize("model", MODELS)
def test_training_loss_is_a_fit_on_the_training_samples_alone(breast_run, model):
    """Refit each split's training samples alone with the run's recorded seed and the
    protocol's options: the reported training loss equals that fit's mean squared error,
    computed here from its factors, and the signatures agree."""
    counts = datasets.breast21().to_frame()
    runs = breast_run.runs.set_index(["model", "split"])
    options = {**PROTOCOLS["fast"][model], "max_iter": SETTINGS["max_iter"]}
    for split in range(2):
        train = breast_run.splits.query("split == @split and set == 'train'")["sample"]
        V = counts[list(train)].to_numpy(np.float64)
        seed = int(runs.loc[(model, split), "seed"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            alone = fit(torch.tensor(V), 3, model=model, n_restarts=1, seed=[seed], **options)
        S = alone.signatures[0].numpy()
        E = alone.exposures[0].numpy()
        mse = float(np.mean((V - S @ E.T) ** 2))
        assert runs.loc[(model, split), "train_loss"] == pytest.approx(mse, rel=1e-6)
        np.testing.assert_allclose(_signatures(breast_run, model, split).loc[counts.index].to_numpy(), S,
                                   rtol=1e-6, atol=1e-9)
