"""compare_models and sigfactor compare: splits, held-out refits, consistency, consensus, outputs."""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import nnls as scipy_nnls

from sigfactor import datasets
from sigfactor.evaluate import (
    add_compare_command, compare_models, consensus_signatures, heldout_errors, make_splits,
    pairwise_consistency, write_comparison,
)
from sigfactor.kmedoids import pam

FAST = dict(settings="fast", max_iter=60, progress=False)


@pytest.fixture(scope="module")
def breast21():
    return datasets.breast21()


@pytest.fixture(scope="module")
def small_run(breast21):
    """Two models, three splits of the 21 breast genomes, few iterations."""
    return compare_models(breast21, 3, models=["nmf", "aenmf"], n_splits=3, seed=7, **FAST)


def _signatures(result, model, split):
    """Channels x k signatures of one run, from the long table."""
    return result.signatures.sort_index().loc[(model, split)].T


def _parser():
    parser = argparse.ArgumentParser(prog="sigfactor")
    add_compare_command(parser.add_subparsers(dest="command"))
    return parser


# ---- splits ---------------------------------------------------------------------------------

def test_make_splits_partition_and_reproducible():
    train, test = make_splits(21, 5, 17, 3)
    assert train.shape == (5, 17) and test.shape == (5, 4)
    for tr, te in zip(train, test):
        assert sorted(np.concatenate([tr, te]).tolist()) == list(range(21))
        assert np.all(np.diff(tr) > 0) and np.all(np.diff(te) > 0)
    again = make_splits(21, 5, 17, 3)
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])
    other = make_splits(21, 5, 17, 4)
    assert not np.array_equal(train, other[0])
    assert len({tuple(t) for t in test}) > 1  # splits differ from each other


def test_splits_reproducible_by_seed(breast21, small_run):
    again = compare_models(breast21, 3, models=["nmf", "aenmf"], n_splits=3, seed=7, **FAST)
    pd.testing.assert_frame_equal(small_run.splits, again.splits)
    cols = ["split", "model", "train_loss", "test_error", "test_error_kl", "n_iter", "seed"]
    pd.testing.assert_frame_equal(small_run.runs[cols], again.runs[cols])
    other = compare_models(breast21, 3, models=["nmf"], n_splits=3, seed=8, **FAST)
    assert not small_run.splits.equals(other.splits)


def test_splits_shared_across_models_and_nnls_matches_scipy(breast21, small_run):
    """Recompute each model's held-out error from its saved signatures and the split's test
    samples with scipy's Lawson-Hanson NNLS: it must equal runs.csv, for every model."""
    counts = breast21.to_frame()
    runs = small_run.runs.set_index(["model", "split"])
    assert small_run.settings["n_train"] == 17 and small_run.settings["n_test"] == 4
    for model, split in itertools.product(["nmf", "aenmf"], range(3)):
        test = small_run.splits.query("split == @split and set == 'test'")["sample"]
        assert len(test) == 4
        S = _signatures(small_run, model, split).loc[counts.index].to_numpy()
        Y = counts[list(test)].to_numpy(np.float64)
        H = np.column_stack([scipy_nnls(S, y)[0] for y in Y.T])
        expected = np.mean((Y - S @ H) ** 2)
        assert runs.loc[(model, split), "test_error"] == pytest.approx(expected, rel=1e-7)
    # the same seeds initialise every model on a split
    seeds = small_run.runs.pivot(index="split", columns="model", values="seed")
    assert (seeds["nmf"] == seeds["aenmf"]).all()


def test_heldout_errors_batched_nnls_and_kl(breast21):
    rng = np.random.default_rng(0)
    S = rng.random((2, 96, 3))
    S /= S.sum(axis=1, keepdims=True)
    Y = breast21.counts[:6].T.astype(np.float64)
    mse, kl = heldout_errors(S, np.stack([Y, Y]))
    for b in range(2):
        H = np.column_stack([scipy_nnls(S[b], y)[0] for y in Y.T])
        assert float(mse[b]) == pytest.approx(np.mean((Y - S[b] @ H) ** 2), rel=1e-7)
        Y_hat = np.maximum(S[b] @ H, 1e-12)            # the Poisson refit beats the NNLS one in KL
        kl_nnls = np.mean(np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1) / Y_hat), 0) - Y + Y_hat)
        assert 0 < kl[b] <= kl_nnls


# ---- consistency and consensus --------------------------------------------------------------

def test_consistency_of_identical_runs_is_one(small_run):
    S = _signatures(small_run, "nmf", 0).to_numpy()
    permuted = S[:, ::-1]  # same signatures in another order
    pairs = pairwise_consistency([S, S, permuted])
    assert [(i, j) for i, j, _ in pairs] == [(0, 1), (0, 2), (1, 2)]
    assert all(c == pytest.approx(1.0, abs=1e-12) for _, _, c in pairs)
    different = pairwise_consistency([S, _signatures(small_run, "aenmf", 0).to_numpy()])
    assert different[0][2] < 1.0


def test_consistency_table_matches_pairs(small_run):
    table = small_run.consistency.set_index("model")
    for model in ["nmf", "aenmf"]:
        pairs = small_run.pairwise.query("model == @model")["cosine"]
        assert len(pairs) == 3
        assert table.loc[model, "mean"] == pytest.approx(pairs.mean())
        assert table.loc[model, "min"] == pytest.approx(pairs.min())
        assert 0 < table.loc[model, "min"] <= table.loc[model, "mean"] <= 1


def test_consensus_of_identical_runs_recovers_the_signatures(small_run):
    S = _signatures(small_run, "nmf", 1).to_numpy()
    cons = consensus_signatures(np.stack([S] * 4), 3)
    assert sorted(cons["sizes"]) == [4, 4, 4]
    assert cons["runs_in_cluster"] == [4, 4, 4]
    sim = S.T @ cons["profiles"] / np.outer(np.linalg.norm(S, axis=0), np.linalg.norm(cons["profiles"], axis=0))
    assert np.allclose(np.sort(sim.max(axis=0)), 1.0)
    assert np.allclose(cons["profiles"].sum(axis=0), 1.0)


def test_pam_finds_the_optimal_medoids():
    rng = np.random.default_rng(1)
    points = np.concatenate([rng.normal(c, 0.3, size=(4, 2)) for c in (0, 3, 6)])
    D = np.linalg.norm(points[:, None] - points[None], axis=-1)
    result = pam(D, 3)
    best = min(itertools.combinations(range(len(D)), 3), key=lambda m: D[:, list(m)].min(axis=1).sum())
    assert result.cost == pytest.approx(D[:, list(best)].min(axis=1).sum())
    assert sorted(np.bincount(result.labels).tolist()) == [4, 4, 4]
    with pytest.raises(ValueError, match="k=13 is out of range"):
        pam(D, 13)
    with pytest.raises(ValueError, match="not symmetric"):
        pam(D + np.triu(np.ones_like(D)), 2)


def test_consensus_and_reference_tables(small_run):
    cons = small_run.consensus
    assert list(cons["model"]) == ["nmf"] * 3 + ["aenmf"] * 3
    assert (cons.groupby("model")["cluster_size"].sum() == 9).all()  # 3 runs x 3 signatures
    cosmic = small_run.cosmic_per_run
    assert len(cosmic) == 2 * 3 * 3 and cosmic["match"].str.startswith("SBS").all()
    assert cosmic.groupby(["model", "split"])["match"].nunique().eq(3).all()  # one-to-one
    assert len(small_run.agreement) == 3 and small_run.agreement["cosine"].between(0, 1).all()
    S = _signatures(small_run, "aenmf", 2).to_numpy()
    cos = (S / np.linalg.norm(S, axis=0)).T @ (S / np.linalg.norm(S, axis=0))
    within = small_run.runs.set_index(["model", "split"]).loc[("aenmf", 2), "max_within_cosine"]
    assert within == pytest.approx(cos[~np.eye(3, dtype=bool)].max())


# ---- outputs and command line ----------------------------------------------------------------

def test_write_comparison_folder(small_run, tmp_path):
    out = write_comparison(small_run, tmp_path / "cmp")
    names = {p.name for p in out.iterdir()}
    assert {"runs.csv", "consistency.csv", "cosmic_per_run.csv", "consensus.csv", "summary.md",
            "run.json", "heldout_error.png", "consistency.png", "cosmic_matches.png"} <= names
    runs = pd.read_csv(out / "runs.csv")
    assert list(runs.columns[:7]) == ["split", "model", "train_loss", "test_error", "test_error_kl",
                                      "seconds", "n_iter"]
    info = json.loads((out / "run.json").read_text())
    assert info["seed"] == 7 and len(info["init_seeds"]) == 3 and "torch" in info["versions"]
    assert "NMF vs AE-NMF" in (out / "summary.md").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["cmp"]  # no temporary folder left
    with pytest.raises(FileExistsError, match="already exists"):
        write_comparison(small_run, out)


class _Unprintable:
    def __str__(self):
        raise RuntimeError("this setting cannot be written")


def test_failed_write_leaves_nothing(small_run, tmp_path):
    # run.json is written after the tables: its failure must take them away too.
    broken = dataclasses.replace(small_run, settings={**small_run.settings, "note": _Unprintable()})
    with pytest.raises(RuntimeError, match="this setting cannot be written"):
        write_comparison(broken, tmp_path / "cmp")
    assert list(tmp_path.iterdir()) == []


def test_cli_compare_writes_folder(tmp_path, capsys):
    path = tmp_path / "breast21.tsv"
    datasets.breast21().to_frame().to_csv(path, sep="\t", index_label="MutationType")
    args = _parser().parse_args(["compare", str(path), "--rank", "2", "--out", str(tmp_path / "res"),
                                 "--models", "nmf", "convex", "--splits", "2", "--settings", "fast",
                                 "--max-iter", "30", "--quiet"])
    assert args.func(args) == 0
    assert pd.read_csv(tmp_path / "res" / "runs.csv")["model"].tolist() == ["nmf", "nmf", "convex", "convex"]


@pytest.mark.parametrize("argv, message", [
    (["--rank", "0"], "rank=0 is out of range"),
    (["--rank", "2", "--models", "nmf", "lda"], "models='lda' is not valid"),
    (["--rank", "2", "--train-fraction", "1"], "strictly between 0 and 1"),
    (["--rank", "2", "--splits", "1"], "n_splits=1 is out of range"),
    (["--rank", "2", "--settings", "slow"], "settings='slow' is not valid"),
])
def test_cli_compare_bad_input(tmp_path, capsys, argv, message):
    path = tmp_path / "breast21.tsv"
    datasets.breast21().to_frame().to_csv(path, sep="\t", index_label="MutationType")
    args = _parser().parse_args(["compare", str(path), "--out", str(tmp_path / "res"), "--quiet", *argv])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "res").exists()


def test_cli_compare_refuses_existing_folder(tmp_path, capsys):
    path = tmp_path / "breast21.tsv"
    datasets.breast21().to_frame().to_csv(path, sep="\t", index_label="MutationType")
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "keep.txt").write_text("earlier result")
    args = _parser().parse_args(["compare", str(path), "--rank", "2", "--out", str(tmp_path / "res"), "--quiet"])
    assert args.func(args) == 2
    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "res").iterdir()] == ["keep.txt"]


def test_bad_arguments(breast21, cosmic_frame):
    with pytest.raises(TypeError, match="expected a Catalogue"):
        compare_models(breast21.counts, 2, **FAST)
    with pytest.raises(ValueError, match="names \\['nmf'\\] more than once"):
        compare_models(breast21, 2, models=["nmf", "nmf"], **FAST)
    with pytest.raises(ValueError, match="at least rank=20 training samples"):
        compare_models(breast21, 20, train_fraction=0.5, **FAST)
    from sigfactor import reference

    with pytest.raises(ValueError, match="reference lacks 96"):
        compare_models(breast21, 2, reference=reference.cosmic(kind="DBS78"), **FAST)
