"""Engine tests: the three models on real and planted catalogues (CPU)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import sigfactor
from conftest import matched_cosines
from sigfactor.models import ConvergenceWarning, fit, signature_names

MU_CASES = [("nmf", "frobenius"), ("nmf", "kl"), ("convex", "frobenius")]
ALL_CASES = MU_CASES + [("aenmf", "frobenius"), ("aenmf", "kl")]


@pytest.fixture(scope="module")
def planted(cosmic_frame):
    """Noiseless X = E S^T from four COSMIC v3.4 signatures and 50 samples.

    Exposures are Dirichlet(0.3) mixtures with totals 500-5000: sparse enough that every
    signature has near-pure samples, which makes the NMF of X unique (separable data).
    """
    S = cosmic_frame[["SBS1", "SBS3", "SBS13", "SBS18"]].to_numpy()
    rng = np.random.default_rng(0)
    E = rng.dirichlet([0.3] * 4, size=50) * rng.uniform(500, 5000, size=(50, 1))
    return S, E @ S.T


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("model,loss", ALL_CASES)
def test_fit_shapes_and_normalisation(breast21_counts, model, loss, dtype):
    res = sigfactor.factorize(breast21_counts, 3, model=model, loss=loss, n_restarts=3,
                              max_iter=50, seed=1, dtype=dtype)
    n, m = breast21_counts.shape
    assert res.signatures.shape == (3, m, 3) and res.exposures.shape == (3, n, 3)
    assert res.signatures.dtype == getattr(torch, dtype)
    assert (res.signatures >= 0).all() and (res.exposures >= 0).all()
    sums = res.signatures.sum(dim=1).double()
    torch.testing.assert_close(sums, torch.ones_like(sums), rtol=1e-4, atol=1e-4)
    assert torch.isfinite(res.loss).all()
    best = res.best()
    assert list(best.signatures.columns) == signature_names(3, "Sig")
    assert best.signatures.shape == (m, 3) and best.exposures.shape == (n, 3)
    assert best.loss == pytest.approx(float(res.loss.min()))


@pytest.mark.parametrize("model,loss", MU_CASES)
def test_multiplicative_updates_never_increase_the_objective(breast21_counts, model, loss):
    res = sigfactor.factorize(breast21_counts, 4, model=model, loss=loss, n_restarts=4,
                              max_iter=300, tol=0.0, check_every=1, seed=3, dtype="float64")
    trace = res.loss_trace.numpy()
    assert trace.shape == (4, 301)
    steps = np.diff(trace, axis=1)
    # Allow only float64 rounding relative to the loss itself.
    assert (steps <= 1e-10 * trace[:, :-1]).all()
    assert (trace[:, -1] < 0.9 * trace[:, 0]).all()


@pytest.mark.parametrize("loss", ["frobenius", "kl"])
def test_nmf_recovers_planted_signatures(planted, loss):
    S, X = planted
    res = sigfactor.factorize(X, 4, model="nmf", loss=loss, n_restarts=5, max_iter=5000,
                              tol=1e-10, seed=0, dtype="float64")
    cosines = matched_cosines(S, res.best().signatures.to_numpy())
    assert cosines.min() >= 0.99, cosines


@pytest.mark.parametrize("model,kwargs", [("convex", {}), ("aenmf", {"lr": 1e-2})])
def test_convex_models_recover_planted_signatures(planted, model, kwargs):
    """Convex NMF and AE-NMF can only form signatures inside the cone of the sample profiles.

    A pure signature is reachable only through its purest samples; with Dirichlet(0.3)
    exposures these still carry a few per cent of other signatures, so the best attainable
    cosine is a little under 1. Measured: 0.98-0.9999 for convex NMF and AE-NMF; the bar is
    0.97, and the mean must still be high.
    """
    S, X = planted
    res = sigfactor.factorize(X, 4, model=model, n_restarts=5, max_iter=5000, tol=1e-10,
                              seed=0, dtype="float64", **kwargs)
    cosines = matched_cosines(S, res.best().signatures.to_numpy())
    assert cosines.min() >= 0.97, cosines
    assert cosines.mean() >= 0.985, cosines


def test_convex_nmf_and_aenmf_reach_the_same_objective(breast21_counts):
    """AE-NMF is convex NMF (Egendal et al. 2025), so their best objectives agree.

    Both minimise ||X - X W G^T||_F^2 over non-negative W, G; they differ only in the optimiser
    (multiplicative updates vs Adam), so on a small real catalogue the best of several restarts
    must agree up to optimisation error. Measured at rank 2 on the 21 breast genomes: a gap of
    about 0.05 %; the tolerance is 1 %. NMF optimises over a superset (any non-negative W, not
    only convex combinations of samples), so its best is never worse than either.
    """
    kw = dict(n_restarts=8, max_iter=20000, tol=1e-10, seed=11, dtype="float64")
    convex = sigfactor.factorize(breast21_counts, 2, model="convex", **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ae = sigfactor.factorize(breast21_counts, 2, model="aenmf", lr=1e-3, **kw)
        nmf = sigfactor.factorize(breast21_counts, 2, model="nmf", **kw)
    c, a, n = float(convex.loss.min()), float(ae.loss.min()), float(nmf.loss.min())
    assert abs(c - a) / min(c, a) < 0.01, (c, a)
    assert n <= min(c, a) * (1 + 1e-9), (n, c, a)


@pytest.mark.parametrize("model,loss", ALL_CASES)
def test_float32_and_float64_agree(breast21_counts, model, loss):
    kw = dict(model=model, loss=loss, n_restarts=2, max_iter=200, seed=5, tol=0.0)
    if model == "aenmf":
        kw["lr"] = 1e-3
    r32 = sigfactor.factorize(breast21_counts, 3, dtype="float32", **kw)
    r64 = sigfactor.factorize(breast21_counts, 3, dtype="float64", **kw)
    np.testing.assert_allclose(r32.loss.double().numpy(), r64.loss.numpy(), rtol=2e-3)
    s32 = r32.signatures.double().numpy()
    s64 = r64.signatures.numpy()
    assert np.abs(s32 - s64).max() < 2e-3


@pytest.mark.parametrize("model,loss", ALL_CASES)
def test_same_seed_is_bitwise_identical_and_other_seed_differs(breast21_counts, model, loss):
    kw = dict(model=model, loss=loss, n_restarts=3, max_iter=100, tol=0.0)
    a = sigfactor.factorize(breast21_counts, 3, seed=7, **kw)
    b = sigfactor.factorize(breast21_counts, 3, seed=7, **kw)
    c = sigfactor.factorize(breast21_counts, 3, seed=8, **kw)
    assert torch.equal(a.signatures, b.signatures) and torch.equal(a.exposures, b.exposures)
    assert not torch.equal(a.signatures, c.signatures)
    assert list(a.seeds) == a.settings["restart_seeds"]


@pytest.mark.parametrize("model,loss", ALL_CASES)
def test_restart_in_a_batch_equals_a_lone_run_with_its_seed(breast21_counts, model, loss):
    """Restart i of a batch is rerun alone with ``seed=[seeds[i]]``.

    Same initial values, same stopping iteration, same result up to rounding: PyTorch's CPU
    batched matmul rounds a batch member differently depending on the batch size (measured
    here: 1-ulp differences for even batch sizes), so equality is to float64 rounding for the
    multiplicative updates, which damp such differences, and to 1e-3 of the largest entry
    for AE-NMF, whose Adam steps and |w| can amplify them.
    """
    kw = dict(model=model, loss=loss, max_iter=400, tol=1e-5, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        batch = sigfactor.factorize(breast21_counts, 3, n_restarts=4, seed=21, **kw)
        for i in (0, 3):
            lone = sigfactor.factorize(breast21_counts, 3, n_restarts=1, seed=[int(batch.seeds[i])], **kw)
            assert int(lone.n_iter[0]) == int(batch.n_iter[i])
            rtol = 1e-8 if model != "aenmf" else 1e-3
            assert float(lone.loss[0]) == pytest.approx(float(batch.loss[i]), rel=1e-6 if model == "aenmf" else 1e-10)
            for name in ("signatures", "exposures"):
                a, b = getattr(lone, name)[0], getattr(batch, name)[i]
                assert (a - b).abs().max() <= rtol * b.abs().max(), name


def test_more_restarts_extend_the_seed_list(breast21_counts):
    a = sigfactor.factorize(breast21_counts, 2, n_restarts=2, max_iter=20, seed=4)
    b = sigfactor.factorize(breast21_counts, 2, n_restarts=5, max_iter=20, seed=4)
    assert list(b.seeds[:2]) == list(a.seeds)
    assert torch.equal(a.signatures, b.signatures[:2])


def test_converged_restarts_stop_while_others_continue(breast21_counts):
    res = sigfactor.factorize(breast21_counts, 3, model="nmf", loss="kl", n_restarts=6,
                              max_iter=20000, tol=1e-6, seed=2, dtype="float64")
    assert res.converged.all()
    iters = res.n_iter.numpy()
    assert len(set(iters.tolist())) > 1
    # A restart that stopped early has NaN in its trace after its last check.
    first = int(np.argmin(iters))
    last_check = int(np.searchsorted(res.trace_iter.numpy(), iters[first]))
    assert np.isnan(res.loss_trace[first, last_check + 1:].numpy()).all()


@pytest.mark.parametrize("loss", ["frobenius", "kl"])
def test_max_iter_warns_once_with_the_count_at_the_callers_line(breast21_counts, loss):
    with pytest.warns(ConvergenceWarning, match=r"3 of 3 restart\(s\) did not converge within max_iter=20") as rec:
        sigfactor.factorize(breast21_counts, 3, loss=loss, n_restarts=3, max_iter=20, tol=1e-12)
    caught = [w for w in rec if issubclass(w.category, ConvergenceWarning)]
    assert len(caught) == 1
    assert caught[0].filename == __file__  # the user's call, not a line inside sigfactor


@pytest.mark.parametrize("constraint", ["fpabs", "fppg", "pg", "abs"])
def test_aenmf_constraints_give_nonnegative_factors(breast21_counts, constraint):
    res = sigfactor.factorize(breast21_counts, 3, model="aenmf", constraint=constraint,
                              n_restarts=2, max_iter=200, seed=0, lr=1e-2, tol=0.0)
    assert res.settings["constraint"] == constraint
    We, Wd = res.factors["We"], res.factors["Wd"]
    if constraint in ("pg", "abs"):
        assert (We >= 0).all() and (Wd >= 0).all()
    if constraint == "abs":
        assert (We != 0).any()
    assert res.loss_trace[:, -1].lt(res.loss_trace[:, 0]).all()


def test_abs_constraint_is_not_a_no_op():
    """The paper's code applied ``abs`` to a copy; here a negative weight really flips."""
    from sigfactor.models.aenmf import project

    w = torch.tensor([-1.0, 2.0])
    assert torch.equal(project(w, "abs"), torch.tensor([1.0, 2.0]))
    assert torch.equal(project(w, "pg"), torch.tensor([0.0, 2.0]))


def test_nndsvd_init_runs_and_differs_between_restarts(breast21_counts):
    res = sigfactor.factorize(breast21_counts, 3, init="nndsvd", n_restarts=2, max_iter=50, seed=0)
    assert not torch.equal(res.signatures[0], res.signatures[1])
    assert torch.isfinite(res.loss).all()


def test_fit_takes_one_catalogue_per_restart(breast21_counts):
    V = torch.as_tensor(breast21_counts.T, dtype=torch.float64)
    batch = torch.stack([V, V * 2])
    res = fit(batch, 2, n_restarts=2, max_iter=30, seed=[1, 1], tol=0.0)
    # Same seed, doubled data: same signatures (scale-free), doubled exposures.
    torch.testing.assert_close(res.signatures[0], res.signatures[1], rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(res.exposures[1], 2 * res.exposures[0], rtol=1e-6, atol=1e-6)


# --- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("mutate,message", [
    (lambda X: X.__setitem__((0, 0), -1.0), r"X contains 1 negative value\(s\).*position \(0, 0\)"),
    (lambda X: X.__setitem__((1, 2), np.nan), r"X contains 1 non-finite value\(s\).*position \(1, 2\)"),
    (lambda X: X.__setitem__((2, 3), np.inf), r"non-finite.*position \(2, 3\)"),
    (lambda X: X.__setitem__(4, 0.0), r"X has 1 sample\(s\) with zero mutations: 4"),
])
def test_bad_counts_are_rejected(breast21_counts, mutate, message):
    X = breast21_counts.astype(float).copy()
    mutate(X)
    with pytest.raises(ValueError, match=message):
        sigfactor.factorize(X, 2)


@pytest.mark.parametrize("kwargs,error,message", [
    ({"rank": 0}, ValueError, r"rank=0 is out of range; expected an integer >= 1"),
    ({"rank": 22}, ValueError, r"rank=22 is out of range; expected an integer <= 21"),
    ({"rank": 2.5}, TypeError, r"rank=2.5 is not valid; expected an integer"),
    ({"model": "pca"}, ValueError, r"model='pca' is not valid; expected one of 'nmf', 'convex', 'aenmf'"),
    ({"loss": "l1"}, ValueError, r"loss='l1' is not valid; expected one of 'frobenius', 'kl'"),
    ({"model": "convex", "loss": "kl"}, ValueError, r"loss='kl' is not available for model='convex'"),
    ({"model": "aenmf", "constraint": "relu"}, ValueError, r"constraint='relu' is not valid; expected one of 'fpabs'"),
    ({"constraint": "pg"}, ValueError, r"constraint='pg' applies to model='aenmf' only"),
    ({"init": "svd"}, ValueError, r"init='svd' is not valid; expected one of 'random', 'nndsvd'"),
    ({"n_restarts": 0}, ValueError, r"n_restarts=0 is out of range; expected an integer >= 1"),
    ({"dtype": "float16"}, ValueError, r"dtype='float16' is not valid"),
    ({"device": "tpu"}, ValueError, r"device='tpu' is not valid"),
    ({"seed": -1}, ValueError, r"seed=-1 is not valid"),
    ({"tol": -1.0}, ValueError, r"tol=-1.0 is out of range"),
    ({"lr": 0.1}, ValueError, r"lr=0.1 applies to model='aenmf' only"),
])
def test_bad_arguments_are_rejected(breast21_counts, kwargs, error, message):
    kwargs = {"rank": 2, **kwargs}
    rank = kwargs.pop("rank")
    with pytest.raises(error, match=message):
        sigfactor.factorize(breast21_counts, rank, max_iter=5, **kwargs)


def test_wrong_dimensions_are_rejected():
    with pytest.raises(ValueError, match=r"X has shape \(5,\); expected a 2-D matrix of samples x channels"):
        sigfactor.factorize(np.ones(5), 1)


def test_small_fits_run_on_one_thread_and_restore_the_setting(breast21_counts):
    before = torch.get_num_threads()
    res = sigfactor.factorize(breast21_counts, 2, n_restarts=2, max_iter=10)
    assert res.settings["threads"] == 1
    assert torch.get_num_threads() == before
    res = sigfactor.factorize(breast21_counts, 2, n_restarts=2, max_iter=10, threads=2)
    assert res.settings["threads"] == 2
    assert torch.get_num_threads() == before
    # KL NMF on the CPU runs in sigfactor's kernels, whose threads block instead of spinning.
    res = sigfactor.factorize(breast21_counts, 2, loss="kl", n_restarts=2, max_iter=10)
    assert res.settings["threads"] == before
    with pytest.raises(ValueError, match=r"threads=0 is out of range"):
        sigfactor.factorize(breast21_counts, 2, threads=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cpu_fits_flush_subnormal_factors(dtype):
    # Catches a driver that lets multiplicative updates work on subnormal entries on the CPU
    # (Frobenius NMF on PCAWG at rank 20 took 4.8 times as long) and a flush that is not
    # applied before the steps, or that touches normal numbers.
    from sigfactor.models._driver import flush_subnormal, iterate, kl
    from sigfactor.models.nmf import kl_step

    gen = torch.Generator().manual_seed(0)
    V = torch.rand(1, 12, 7, generator=gen, dtype=dtype) * 50
    W = torch.rand(2, 12, 3, generator=gen, dtype=dtype)
    H = torch.rand(2, 3, 7, generator=gen, dtype=dtype)
    small = torch.finfo(dtype).tiny
    H[:, 0, ::2] = small / 100                     # subnormal
    H[:, 1, 1] = small                              # the smallest normal number stays
    flushed = flush_subnormal({"W": W, "H": H, "steps": torch.tensor([3])})
    assert torch.equal(flushed["W"], W) and flushed["steps"].item() == 3
    assert (flushed["H"][:, 0, ::2] == 0).all() and (flushed["H"][:, 1, 1] == small).all()
    mask = H != flushed["H"]
    assert mask.sum() == 2 * 4 and (H[:, 0, ::2] > 0).all()      # the input is not changed

    run = iterate(V, {"W": W, "H": H}, kl_step, lambda V_, s: kl(V_, s["W"] @ s["H"]),
                  max_iter=1, tol=0.0, check_every=1)
    assert (run.state["H"][:, 0, ::2] == 0).all()
    assert (run.state["H"][:, 1, 1] > 0).all()
