"""Minimum-volume NMF (``model="mvnmf"``): its updates, its constraint, its weight, its routes."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.special import kl_div

import sigfactor
from conftest import matched_cosines
from sigfactor.cli import build_parser
from sigfactor.models import ConvergenceWarning, fit
from sigfactor.models._restarts import fit_restarts
from sigfactor.models.mvnmf import make_step, simplex_minimizer, surrogate

LOSSES = ["kl", "frobenius"]


def reference_objective(V, W, H, lam, delta, loss):
    """``D(V | W H) + lam logdet(W^T W + delta I)`` written independently: scipy's ``kl_div`` or
    numpy squares, numpy's ``slogdet`` (not the module's Cholesky, and without its constant)."""
    Vh = W @ H
    data = kl_div(V, Vh).mean() if loss == "kl" else ((V - Vh) ** 2).mean()
    return data + lam * np.linalg.slogdet(W.T @ W + delta * np.eye(W.shape[1]))[1]


def small_case(seed=0, m=12, n=9, k=3, R=2):
    """A random count matrix, ``W`` on the simplex and positive ``H`` (float64 tensors)."""
    rng = np.random.default_rng(seed)
    V = torch.as_tensor(rng.poisson(20, size=(1, m, n)).astype(float))
    W = torch.as_tensor(rng.dirichlet(np.ones(m), size=(R, k)).transpose(0, 2, 1).copy())
    H = torch.as_tensor(rng.uniform(1, 40, size=(R, k, n)))
    lam = torch.tensor([0.3, 2.0][:R], dtype=torch.float64)
    return V, W, H, lam


def planted_flat(cosmic_frame, seed):
    """SBS1 + SBS3 + SBS5 + SBS40a, 100 samples, Dirichlet(2) exposures (every sample carries
    every signature, so the flat three are hard to tell apart), about 1,500 mutations per
    sample, Poisson noise."""
    S = cosmic_frame[["SBS1", "SBS3", "SBS5", "SBS40a"]].to_numpy()
    rng = np.random.default_rng(seed)
    E = rng.dirichlet([2.0] * 4, size=100) * rng.lognormal(np.log(1500), 0.5, size=(100, 1))
    return S, rng.poisson(E @ S.T).astype(float)


# ---- the objective never increases ----------------------------------------------------------

@pytest.mark.parametrize("loss", LOSSES)
def test_objective_never_increases_and_matches_an_independent_computation(breast21_counts, loss):
    # Catches a W step that is not the minimiser of a true majorizer (a wrong sign on Y's
    # negative part, Y in place of |Y|, an unconverged multiplier), a wrong H update, and an
    # objective that is not D + lambda logdet (checked against scipy/numpy on the result).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = sigfactor.factorize(breast21_counts, 3, model="mvnmf", loss=loss, n_restarts=4, max_iter=60,
                                  tol=0, check_every=1, seed=3, dtype="float64", mv_lambda=0.5, mv_warmup=5)
    trace = res.loss_trace.numpy()
    assert np.isfinite(trace).all()
    assert (np.diff(trace, axis=1) <= 1e-12 * np.abs(trace[:, :-1])).all()
    assert (trace[:, -1] < trace[:, 0]).all()
    V = breast21_counts.T.astype(float)
    delta = res.settings["mv_delta"]
    for r in range(4):
        W, H, lam = (res.factors["W"][r].numpy(), res.factors["H"][r].numpy(), float(res.extra["lambda"][r]))
        expected = reference_objective(V, W, H, lam, delta, loss) - lam * 3 * np.log(delta)
        assert float(res.loss[r]) == pytest.approx(expected, rel=1e-10)
        assert float(res.extra["data_loss"][r]) == pytest.approx(reference_objective(V, W, H, 0, delta, loss),
                                                                 rel=1e-10)
        assert lam > 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", LOSSES)
def test_signatures_on_the_simplex(breast21_counts, loss, dtype):
    # Catches a W step that leaves the simplex (a multiplier that does not solve sum = 1,
    # a negative Frobenius entry) and exposures not matching the returned W and H.
    res = sigfactor.factorize(breast21_counts, 4, model="mvnmf", loss=loss, n_restarts=3, max_iter=30,
                              tol=0, seed=1, dtype=dtype, mv_warmup=5)
    W = res.factors["W"].double()
    tol = 1e-12 if dtype == "float64" else 1e-5
    assert (W >= 0).all()
    torch.testing.assert_close(W.sum(dim=1), torch.ones(3, 4, dtype=torch.float64), rtol=0, atol=tol)
    torch.testing.assert_close(res.signatures.double(), W, rtol=0, atol=tol)
    torch.testing.assert_close(res.exposures.double(), res.factors["H"].double().transpose(-1, -2),
                               rtol=1e-5, atol=tol)


# ---- the W step against independent computations ------------------------------------------

def surrogate_value(Q, L, a, X):
    """The separable surrogate at ``X`` (up to its constant)."""
    value = (Q * X ** 2 + L * X).sum(dim=(-2, -1))
    return value if a is None else value - (a * torch.log(X)).sum(dim=(-2, -1))


def autograd_objective(V, W, H, lam, delta, loss):
    """``F`` in torch, written out here (torch.logdet, the plain loss formulas)."""
    Vh = W @ H
    data = (V * torch.log(V / Vh) - V + Vh).mean(dim=(-2, -1)) if loss == "kl" else ((V - Vh) ** 2).mean(dim=(-2, -1))
    eye = torch.eye(W.shape[-1], dtype=W.dtype)
    return data + lam * torch.logdet(W.transpose(-1, -2) @ W + delta * eye)


@pytest.mark.parametrize("delta,collinear", [(0.5, False), (1e-3, True)])
@pytest.mark.parametrize("loss", LOSSES)
def test_surrogate_is_tangent_to_the_objective_and_lies_above_it(loss, delta, collinear):
    # Tangency against torch.autograd catches any wrong coefficient (a missing 1/(m n), a
    # factor 2 in the log-det gradient, the KL linear term); the majorization check catches
    # bounds that are tangent but not above. Nearly collinear signatures with a small delta make
    # Y = (W^T W + delta I)^-1 large with negative off-diagonal entries: there the bound built
    # from Y instead of |Y| falls below the objective (by up to 4 in this case).
    V, W, H, lam = small_case(seed=4)
    rng = np.random.default_rng(5)
    if collinear:
        W = torch.as_tensor(rng.dirichlet(200 * rng.dirichlet(np.ones(12)), size=(2, 3)).transpose(0, 2, 1).copy())
    Q, L, a = surrogate(V, W, H, lam, delta, loss)
    Wg = W.clone().requires_grad_(True)
    autograd_objective(V, Wg, H, lam, delta, loss).sum().backward()
    X = W.clone().requires_grad_(True)
    surrogate_value(Q, L, a, X).sum().backward()
    torch.testing.assert_close(X.grad, Wg.grad, rtol=1e-9, atol=1e-12 * float(Wg.grad.abs().max()))
    F0 = autograd_objective(V, W, H, lam, delta, loss)
    S0 = surrogate_value(Q, L, a, W)
    for step in (1e-3, 1e-2, 1e-1, 1.0):
        for _ in range(30):
            D = torch.as_tensor(rng.normal(size=W.shape))
            Xr = (W * (1 + step * D)).clamp_min(1e-12)
            Xr = Xr / Xr.sum(dim=1, keepdim=True)
            gap = (surrogate_value(Q, L, a, Xr) - S0) - (autograd_objective(V, Xr, H, lam, delta, loss) - F0)
            assert (gap >= -1e-9 * F0.abs()).all()


@pytest.mark.parametrize("loss", LOSSES)
def test_w_step_minimises_the_surrogate_on_the_simplex_as_scipy_does(loss):
    # Catches a Newton iteration that stops at the wrong multiplier (a wrong derivative, the
    # wrong root of the quadratic), compared with SLSQP on each column.
    V, W, H, lam = small_case(seed=6)
    Q, L, a = surrogate(V, W, H, lam, 0.5, loss)
    ours = simplex_minimizer(Q, L, a)
    for r in range(Q.shape[0]):
        for j in range(Q.shape[2]):
            q, l = Q[r, :, j].numpy(), L[r, :, j].numpy()
            aj = np.zeros_like(q) if a is None else a[r, :, j].numpy()

            def f(x):
                return float((q * x ** 2 + l * x).sum() - (aj * np.log(np.maximum(x, 1e-300))).sum())

            def grad(x):
                return 2 * q * x + l - aj / np.maximum(x, 1e-300)

            x0 = np.full(q.size, 1.0 / q.size)
            sp = minimize(f, x0, jac=grad, method="SLSQP", bounds=[(1e-12, 1.0)] * q.size,
                          constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1, "jac": lambda x: np.ones_like(x)}],
                          options={"ftol": 1e-15, "maxiter": 1000})
            w = ours[r, :, j].numpy()
            assert f(w) <= f(sp.x) + 1e-9 * abs(f(sp.x))
            np.testing.assert_allclose(w, sp.x, atol=1e-5)


def test_lambda_zero_step_is_the_multiplicative_update_with_columns_normalised():
    # With lambda = 0 the KL W step must be Lee-Seung's update followed by dividing each column
    # by its sum (the exact minimiser on the simplex), after Lee-Seung's H update: catches a
    # penalty applied when lambda = 0 and any change to the plain NMF path.
    V, W, H, _ = small_case(seed=7)
    lam = torch.zeros(2, dtype=torch.float64)
    out = make_step("kl", 1.0)(V, {"W": W, "H": H, "lam": lam})
    Vn, Wn, Hn = V.numpy()[0], W.numpy(), H.numpy()
    for r in range(2):
        H1 = Hn[r] * (Wn[r].T @ (Vn / (Wn[r] @ Hn[r]))) / Wn[r].sum(axis=0)[:, None]
        W1 = Wn[r] * ((Vn / (Wn[r] @ H1)) @ H1.T)
        W1 /= W1.sum(axis=0)
        np.testing.assert_allclose(out["H"][r].numpy(), H1, rtol=1e-13)
        np.testing.assert_allclose(out["W"][r].numpy(), W1, rtol=1e-12)


@pytest.mark.parametrize("loss,rtol", [("kl", 1e-4), ("frobenius", 1e-3)])
def test_lambda_zero_reaches_what_nmf_reaches(cosmic_frame, loss, rtol):
    # On near-separable data (one NMF optimum) with Poisson noise, mvnmf with mv_lambda=0 from
    # the same starts reaches NMF's loss and signatures: catches lambda > 0 leaking in, or a W
    # step that is not a descent step for the plain loss. (Frobenius multiplicative updates
    # converge slowly, hence its looser tolerance after 3,000 iterations; measured 3e-4.)
    S = cosmic_frame[["SBS1", "SBS13", "SBS18"]].to_numpy()
    rng = np.random.default_rng(0)
    X = rng.poisson(rng.dirichlet([0.3] * 3, size=40) * rng.uniform(500, 5000, size=(40, 1)) @ S.T).astype(float)
    kw = dict(loss=loss, n_restarts=2, max_iter=3000, tol=1e-9, seed=2, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        nmf = sigfactor.factorize(X, 3, model="nmf", **kw)
        mv = sigfactor.factorize(X, 3, model="mvnmf", mv_lambda=0, mv_warmup=0, **kw)
    np.testing.assert_allclose(mv.loss.numpy(), nmf.loss.numpy(), rtol=rtol)
    assert (mv.extra["lambda"] == 0).all()
    for r in range(2):
        assert matched_cosines(nmf.signatures[r].numpy(), mv.signatures[r].numpy()).min() > 0.999


# ---- the planted flat mixture ---------------------------------------------------------------

def test_mvnmf_separates_flat_signatures_that_nmf_merges(cosmic_frame):
    # Catches lambda being ignored (mvnmf then equals NMF: mean 0.965, SBS5 at 0.885) or far
    # too strong (SBS1 flattened); measured: NMF 0.965 / 0.885 (mean / worst matched cosine),
    # mvnmf at the defaults 0.982 / 0.971 (benchmarks/bench_mvnmf.py has more seeds).
    S, X = planted_flat(cosmic_frame, seed=0)
    kw = dict(loss="kl", n_restarts=4, max_iter=3000, tol=1e-8, seed=1, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        nmf = sigfactor.factorize(X, 4, model="nmf", **kw).best()
        mv = sigfactor.factorize(X, 4, model="mvnmf", **kw).best()
    c_nmf = matched_cosines(S, nmf.signatures.to_numpy())
    c_mv = matched_cosines(S, mv.signatures.to_numpy())
    assert c_mv.mean() >= c_nmf.mean() + 0.01
    assert c_mv.min() >= 0.95


# ---- routes: fit_restarts (extraction), extract, CLI -------------------------------------------

def test_fit_restarts_routes_mvnmf_to_the_model(breast21_counts):
    # Extraction calls fit_restarts: catches it fitting plain NMF (or the CPU kernels) instead.
    V = np.ascontiguousarray(breast21_counts.T[None], dtype=np.float64)
    kw = dict(n_restarts=2, seed=4, max_iter=40, tol=0, check_every=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        routed = fit_restarts(V, 3, model="mvnmf", loss="kl", device="cpu", dtype="float64", **kw)
        direct = fit(torch.as_tensor(V), 3, model="mvnmf", loss="kl", **kw)
        plain = fit_restarts(V, 3, model="nmf", loss="kl", device="cpu", dtype="float64", **kw)
    np.testing.assert_array_equal(routed.signatures, direct.signatures.numpy())
    np.testing.assert_array_equal(routed.loss, direct.loss.numpy())
    assert np.abs(routed.signatures - plain.signatures).max() > 1e-3


def test_extract_and_cli_accept_mvnmf(breast21_counts):
    # Catches extract or the CLI refusing the model, or extract passing it an option it refuses.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = sigfactor.extract(sigfactor.datasets.breast21(), ranks=[2], n_restarts=3, max_iter=50,
                                progress=False)
    assert res.signatures.shape == (96, 2)
    args = build_parser().parse_args(["extract", "in.txt", "--out", "o", "--model", "mvnmf"])
    assert args.model == "mvnmf"


# ---- options ----------------------------------------------------------------------------------

def test_defaults_and_settings(breast21_counts):
    # Catches mvnmf defaulting to the Frobenius loss, unrecorded options, and the other models'
    # default loss changing with the new loss=None default.
    res = sigfactor.factorize(breast21_counts, 2, model="mvnmf", n_restarts=2, max_iter=10, tol=0, mv_warmup=3)
    s = res.settings
    assert (s["loss"], s["init"], s["mv_lambda"], s["mv_delta"], s["mv_warmup"]) == ("kl", "random", 0.1, 1.0, 3)
    other = sigfactor.factorize(breast21_counts, 2, model="nmf", n_restarts=1, max_iter=10, tol=0)
    assert other.settings["loss"] == "frobenius" and other.settings["mv_lambda"] is None


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(mv_lambda=-0.5), ValueError, r"mv_lambda=-0\.5 is out of range; expected a finite number >= 0"),
    (dict(mv_lambda="big"), TypeError, r"mv_lambda='big' is not valid; expected a number"),
    (dict(mv_delta=0), ValueError, r"mv_delta=0\.0 is out of range; expected a finite number > 0"),
    (dict(mv_delta=float("inf")), ValueError, r"mv_delta=inf is out of range"),
    (dict(mv_warmup=-1), ValueError, r"mv_warmup=-1 is out of range; expected an integer >= 0"),
    (dict(mv_warmup=2.5), TypeError, r"mv_warmup=2\.5 is not valid; expected an integer"),
    (dict(init="linear"), ValueError, r"init='linear' is not available for model='mvnmf'"),
    (dict(loss="poisson"), ValueError, r"loss='poisson' is not valid; expected one of 'frobenius', 'kl'"),
    (dict(model="nmf", mv_lambda=0.1), ValueError, r"mv_lambda=0\.1 applies to model='mvnmf' only"),
    (dict(model="aenmf", mv_delta=1.0), ValueError, r"mv_delta=1\.0 applies to model='mvnmf' only"),
])
def test_bad_options_name_the_argument_and_value(breast21_counts, kwargs, error, message):
    # Catches unvalidated options (a negative weight or delta silently used) and mv_* options
    # silently ignored by the other models.
    kwargs = {"model": "mvnmf", **kwargs}
    with pytest.raises(error, match=message):
        sigfactor.factorize(breast21_counts, 2, n_restarts=1, max_iter=5, **kwargs)


def test_compare_models_names_the_models_it_compares(breast21_counts):
    # compare_models has protocols for the paper's three models only: catches mvnmf reaching a
    # missing protocol (a KeyError) instead of a clear refusal.
    with pytest.raises(ValueError, match=r"models='mvnmf' is not valid; expected one of 'nmf', 'convex', 'aenmf'"):
        sigfactor.compare_models(sigfactor.datasets.breast21(), 2, models=["mvnmf"], n_splits=2, progress=False)
