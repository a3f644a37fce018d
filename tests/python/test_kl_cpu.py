"""The fused CPU kernels for KL NMF against the PyTorch update they replace on the CPU."""
from __future__ import annotations

import warnings

import numba
import numpy as np
import pytest
import torch

import sigfactor
from sigfactor.models import ConvergenceWarning, nmf
from sigfactor.models._base import Streams, restart_seeds
from sigfactor.models._driver import LOSSES, tiny
from sigfactor.models._kl_cpu import _X86, Runs, _fast_exp, _fast_log, fit_kl, kl_losses, kl_run

TOL = {"float32": 2e-5, "float64": 1e-11}


def kernel_inputs(V: torch.Tensor, W: torch.Tensor, H: torch.Tensor):
    """The kernels' layouts from the solver's ``V`` (B, m, n), ``W`` (R, m, k), ``H`` (R, k, n),
    as copies (the kernels update in place)."""
    R = W.shape[0]
    cat = np.zeros(R, dtype=np.int64) if V.shape[0] == 1 else np.arange(R, dtype=np.int64)
    return (V.numpy().copy(), V.transpose(-1, -2).numpy().copy(), cat,
            W.transpose(-1, -2).numpy().copy(), H.numpy().copy())


def kl_steps(X, Xt, cat, Wt, H, n_steps, eps, threads, gamma=1.0):
    """``n_steps`` kernel updates and one loss check (tol 0: nothing stops early)."""
    runs = Runs(kl_losses(X, Xt, cat, Wt, H, eps, threads).astype(Wt.dtype), n_steps, n_steps)
    kl_run(X, Xt, cat, Wt, H, runs, eps=eps, tol=0.0, check_every=n_steps, max_iter=n_steps,
           max_checks=1, threads=threads, gamma=gamma)
    assert (runs.n_iter == n_steps).all() and runs.done.all()
    return runs


def start(V: torch.Tensor, rank: int, n_restarts: int, seed: int = 0):
    return nmf.initialize(V, rank, Streams(restart_seeds(seed, n_restarts)), "random")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rank", [1, 3, 4, 5, 9])
@pytest.mark.parametrize("per_restart", [False, True])
def test_kernel_matches_the_torch_update(breast21_counts, dtype, rank, per_restart):
    dt = getattr(torch, dtype)
    V = torch.as_tensor(breast21_counts.T, dtype=dt).unsqueeze(0)
    if per_restart:  # one catalogue per restart, as for resampled data
        V = torch.cat([V, V.flip(-1) * 2, V + 1])
    s = start(V, rank, 3)
    X, Xt, cat, Wt, H = kernel_inputs(V, s["W"], s["H"])
    kl_steps(X, Xt, cat, Wt, H, 25, tiny(dt), 2)
    for _ in range(25):
        s = nmf.kl_step(V, s)
    W_ref, H_ref = s["W"].numpy(), s["H"].numpy()
    assert np.abs(Wt.transpose(0, 2, 1) - W_ref).max() <= TOL[dtype] * np.abs(W_ref).max()
    assert np.abs(H - H_ref).max() <= TOL[dtype] * np.abs(H_ref).max()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rank", [3, 9])
def test_over_relaxed_kernel_matches_a_hand_written_update(breast21_counts, dtype, rank):
    """The kernels and :func:`nmf.kl_step` with ``gamma = 1.75`` against the update written out
    in numpy (``H <- H * ((W^T (V / W H)) / (W^T 1)) ** gamma``, then ``W``) in float64: catches
    the exponent ignored, applied to ``H`` or ``W`` only, or to the unnormalised factor."""
    gamma, dt = 1.75, getattr(torch, dtype)
    V = torch.as_tensor(breast21_counts.T, dtype=dt).unsqueeze(0)
    s = start(V, rank, 2)
    X, Xt, cat, Wt, H = kernel_inputs(V, s["W"], s["H"])
    kl_steps(X, Xt, cat, Wt, H, 15, tiny(dt), 2, gamma=gamma)
    V64 = breast21_counts.T.astype(np.float64)
    for r in range(2):
        W_ref, H_ref = s["W"][r].double().numpy(), s["H"][r].double().numpy()
        for _ in range(15):
            H_ref = H_ref * ((W_ref.T @ (V64 / (W_ref @ H_ref))) / W_ref.sum(axis=0)[:, None]) ** gamma
            W_ref = W_ref * (((V64 / (W_ref @ H_ref)) @ H_ref.T) / H_ref.sum(axis=1)[None, :]) ** gamma
        np.testing.assert_allclose(Wt[r].T, W_ref, rtol=0, atol=10 * TOL[dtype] * np.abs(W_ref).max())
        np.testing.assert_allclose(H[r], H_ref, rtol=0, atol=10 * TOL[dtype] * np.abs(H_ref).max())
    torch_s = s
    for _ in range(15):
        torch_s = nmf.kl_step(V, torch_s, 1.75)
    np.testing.assert_allclose(torch_s["H"].numpy(), H, rtol=0, atol=10 * TOL[dtype] * np.abs(H).max())


@pytest.mark.parametrize("dtype,rel", [(np.float32, 3e-7), (np.float64, 1e-15)])
def test_fast_exp_is_accurate(dtype, rel):
    x = np.random.default_rng(0).uniform(-80, 80, 20000).astype(dtype)
    got = _exps(x).astype(np.float64)
    want = np.exp(x.astype(np.float64))
    assert np.abs(got / want - 1).max() <= rel


@numba.njit
def _exps(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = _fast_exp(x[i])
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kernel_loss_matches_the_per_entry_kl(breast21_counts, dtype):
    dt = getattr(torch, dtype)
    V = torch.as_tensor(breast21_counts.T, dtype=dt).unsqueeze(0)
    V[0, :5, 0] = 0  # zero counts take the V = 0 branch
    s = start(V, 4, 6, seed=3)
    X, Xt, cat, Wt, H = kernel_inputs(V, s["W"], s["H"])
    got = kl_losses(X, Xt, cat, Wt, H, tiny(dt), threads=2)
    want = LOSSES["kl"](V.double(), (s["W"] @ s["H"]).double()).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == "float32" else 1e-12)


def test_results_do_not_depend_on_the_number_of_threads(breast21_counts):
    V = torch.as_tensor(breast21_counts.T, dtype=torch.float32).unsqueeze(0)
    s = start(V, 3, 7)
    runs = []
    for threads in (1, 2, 3):
        X, Xt, cat, Wt, H = kernel_inputs(V, s["W"], s["H"])
        kl_steps(X, Xt, cat, Wt, H, 40, tiny(torch.float32), threads)
        runs.append((Wt, H, kl_losses(X, Xt, cat, Wt, H, tiny(torch.float32), threads=threads)))
    for Wt, H, loss in runs[1:]:
        assert np.array_equal(Wt, runs[0][0]) and np.array_equal(H, runs[0][1])
        assert np.array_equal(loss, runs[0][2])


def test_kl_restart_in_a_float32_batch_is_bitwise_a_lone_run(breast21_counts):
    """On the CPU each KL restart runs on its own in the kernel: batching changes nothing."""
    kw = dict(loss="kl", max_iter=300, tol=1e-6, device="cpu", threads=2)
    batch = sigfactor.factorize(breast21_counts, 3, n_restarts=5, seed=8, **kw)
    lone = sigfactor.factorize(breast21_counts, 3, n_restarts=1, seed=[int(batch.seeds[3])], **kw)
    assert torch.equal(lone.signatures[0], batch.signatures[3])
    assert torch.equal(lone.exposures[0], batch.exposures[3])
    assert int(lone.n_iter[0]) == int(batch.n_iter[3])


@numba.njit
def _logs(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = _fast_log(x[i])
    return out


@pytest.mark.parametrize("dtype,rel,near_one", [(np.float32, 2e-7, 2e-9), (np.float64, 4e-16, 4e-16)])
def test_fast_log_is_accurate(dtype, rel, near_one):
    rng = np.random.default_rng(0)
    wide = np.exp(rng.uniform(-30, 30, 20000)).astype(dtype)
    close = (1 + rng.uniform(-1e-3, 1e-3, 2000)).astype(dtype)
    for x, bound, relative in ((wide, rel, True), (close, near_one, False)):
        got = _logs(x).astype(np.float64)
        want = np.log(x.astype(np.float64))
        err = np.abs(got - want)
        if relative:
            big = np.abs(want) > 0.5
            assert (err[big] / np.abs(want[big])).max() <= bound
        else:
            assert err.max() <= bound


@pytest.mark.parametrize("max_iter", [700, 705])
def test_kernel_loop_keeps_the_driver_bookkeeping(breast21_counts, max_iter):
    """The in-kernel convergence loop stops, counts and traces exactly as the driver's loop
    around the PyTorch update does (float64, so both take the same decisions), including a
    last check after a shorter step when ``max_iter`` is not a multiple of ``check_every``."""
    from sigfactor.models._driver import iterate

    V = torch.as_tensor(breast21_counts.T, dtype=torch.float64).unsqueeze(0)
    kw = dict(max_iter=max_iter, tol=1e-5, check_every=10)
    s = start(V, 3, 5, seed=4)
    with pytest.warns(ConvergenceWarning, match=r"1 of 5 restart\(s\) did not converge"):
        ref = iterate(V, dict(s), nmf.kl_step, lambda V_, st: LOSSES["kl"](V_, st["W"] @ st["H"]), **kw)
    steps = []
    with pytest.warns(ConvergenceWarning, match=r"1 of 5 restart\(s\) did not converge"):
        got = nmf._fit_kl_cpu(V, dict(s), progress=steps.append, **kw)
    assert torch.equal(got.n_iter, ref.n_iter) and torch.equal(got.converged, ref.converged)
    assert 0 < int(got.converged.sum()) < 5  # some restarts stop early, some run to max_iter
    assert torch.equal(got.trace_iter, ref.trace_iter)
    torch.testing.assert_close(got.trace, ref.trace, rtol=1e-9, atol=0, equal_nan=True)
    torch.testing.assert_close(got.state["W"], ref.state["W"], rtol=1e-8, atol=1e-10)
    assert sum(steps) == int(ref.n_iter.max())
    assert int(got.trace_iter[-1]) == max_iter


@pytest.mark.parametrize("solver,rank,tol,max_iter", [("mu", 3, 1e-8, 2500), ("cd", 5, 1e-11, 1200)])
def test_fit_on_several_threads_is_bitwise_the_fit_on_one(breast21_counts, solver, rank, tol, max_iter):
    """:func:`fit_kl` on 3 threads hands each restart's share of 1,000 iterations to the pool
    and puts a restart that is not done back on the queue (``_drive``); on one thread it
    advances them in turn. Here restarts stop at different counts, most past the first share
    and some at ``max_iter``, so shares are requeued and finish out of order. ``W``, ``H``,
    iteration counts, traces and the progress reported must be those of one thread. Catches
    a restart not requeued (it would stop at 1,000) and progress summed wrongly; a restart
    advanced by two threads at once would race and, most likely, change bits."""
    V = np.ascontiguousarray(breast21_counts.T, dtype=np.float64)[None]
    s = start(torch.from_numpy(V), rank, 7, seed=3)
    W0, H0 = s["W"].numpy(), s["H"].numpy()
    kw = dict(max_iter=max_iter, tol=tol, check_every=10, solver=solver)
    runs = {}
    for threads in (1, 3):
        steps = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            runs[threads] = (fit_kl(V, W0, H0, threads=threads, progress=steps.append, **kw), steps)
    (one, one_steps), (many, many_steps) = runs[1], runs[3]
    assert len(set(one.n_iter.tolist())) > 2 and (one.n_iter > 1000).sum() >= 2
    assert (one.n_iter == kw["max_iter"]).any() and one.converged.any()
    for name in ("W", "H", "n_iter", "converged", "loss", "trace_iter"):
        assert np.array_equal(getattr(many, name), getattr(one, name)), name
    assert np.array_equal(many.trace, one.trace, equal_nan=True)
    assert sum(one_steps) == sum(many_steps) == int(one.n_iter.max())


def test_an_error_in_the_fit_drops_the_shares_not_yet_started(breast21_counts):
    """When ``_drive`` stops on an exception (here the progress callback raises, as a user's
    interrupt would arrive), the restarts' shares still queued on the pool are cancelled, so
    the pool does not go on fitting up to a share of every restart for a fit nobody will read.
    48 restarts, 2 threads: at most the few shares running or just started may advance.
    Catches ``_drive`` leaving its pending shares queued (every restart would then advance by
    a whole share after the error). Shares of 10,000 iterations (about 60 ms each here) keep
    the count robust to the main thread being held up for a few milliseconds."""
    import threading
    from functools import partial

    from sigfactor.models._kl_cpu import _drive, _pad_samples, _workers

    V = np.ascontiguousarray(breast21_counts.T, dtype=np.float64)[None]
    s = start(torch.from_numpy(V), 4, 48, seed=1)
    Xt = np.ascontiguousarray(V.transpose(0, 2, 1))
    X, H = _pad_samples(V, s["H"].numpy())
    Wt = np.ascontiguousarray(s["W"].numpy().transpose(0, 2, 1))
    cat = np.zeros(48, dtype=np.int64)
    eps = float(np.finfo(np.float64).eps)
    runs = Runs(kl_losses(X, Xt, cat, Wt, H, eps), 50000, 10)
    advance = partial(kl_run, X, Xt, cat, Wt, H, runs, eps=eps, tol=0.0, check_every=10, max_iter=50000,
                      max_checks=1000)

    def interrupt(n):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _drive(advance, runs, 2, progress=interrupt)
    # Wait until both pool threads are free at once: every share they had started has ended.
    both = threading.Barrier(2)
    for job in [_workers(2).submit(both.wait, 30) for _ in range(2)]:
        job.result(timeout=60)
    advanced = int((runs.n_iter > 0).sum())
    assert 1 <= advanced <= 8, f"{advanced} of 48 restarts advanced after the error"
    assert runs.n_iter.max() == 10000 and not runs.done.any()


def _child_fit(counts, queue):
    res = sigfactor.factorize(counts, 2, loss="kl", n_restarts=4, max_iter=50, tol=0.0, threads=2)
    queue.put(float(res.loss.min()))


def test_kernel_threads_work_in_a_forked_child(breast21_counts):
    """A child forked after the parent used the kernels' thread pool starts its own."""
    import multiprocessing as mp

    parent = sigfactor.factorize(breast21_counts, 2, loss="kl", n_restarts=4, max_iter=50, tol=0.0, threads=2)
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_fit, args=(breast21_counts, queue))
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 0, "the forked child did not finish"
    assert queue.get(timeout=5) == float(parent.loss.min())


def test_warm_up_compiles_both_dtypes():
    """What scripts/setup.sh runs to compile the kernels once."""
    from sigfactor.models._kl_cpu import warm_up

    warm_up()


_FIT_SCRIPT = """
import sys, warnings
import numpy as np
warnings.simplefilter("ignore")
import sigfactor
from sigfactor.models._base import Streams, batch_means, nmf_random_init, restart_seeds
from sigfactor.models._kl_cpu import fit_kl
out = {}
for dtype in (np.float64, np.float32):   # float64 first: compiled alone, as a float64-only user would
    V = np.asarray(sigfactor.datasets.breast21().counts, dtype=dtype).T[None].copy()
    W, H = nmf_random_init(batch_means(V), V.shape[-2:], 5, Streams(restart_seeds(0, 2)))
    for gamma, solver in ((1.0, "mu"), (1.5, "mu"), (1.0, "cd")):
        run = fit_kl(V, W.astype(dtype), H.astype(dtype), max_iter=40, tol=0.0, check_every=10, gamma=gamma,
                     solver=solver)
        for key in ("W", "H", "trace"):
            out[f"{dtype.__name__}_{gamma}_{solver}_{key}"] = getattr(run, key)
np.savez(sys.argv[1], **out)
"""


def test_kernels_compiled_in_the_process_equal_the_cached_ones(tmp_path):
    """The first run after a compile must give what every later run (loading numba's cache)
    gives, in both dtypes and with both solvers: with LLVM free to fuse multiply-adds they
    differed (float32 W by 1e-4 after 50 steps), and free to reassociate sums (the normalising
    sums and the loss), float64 W and H by 1e-14 after 60 steps."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    script = tmp_path / "fit.py"
    script.write_text(_FIT_SCRIPT)
    for name in ("compiled", "cached"):
        subprocess.run([sys.executable, str(script), str(tmp_path / f"{name}.npz")], env=env, check=True)
    compiled, cached = np.load(tmp_path / "compiled.npz"), np.load(tmp_path / "cached.npz")
    assert any((tmp_path / "cache").rglob("*.nbc"))            # the second run had a cache to load
    assert len(compiled.files) == 18
    for key in compiled.files:
        np.testing.assert_array_equal(compiled[key], cached[key], err_msg=key)


@pytest.mark.parametrize("n_samples", [5, 16, 21])
def test_padded_samples_are_inert(breast21_counts, n_samples):
    """fit_kl pads the samples to whole vector registers: the result equals the kernels run on
    the unpadded arrays (to rounding: vector and scalar divisions round differently), H keeps
    its real columns only, and the loss is the per-entry KL of the returned factors."""
    from sigfactor.models._kl_cpu import fit_kl

    V = torch.as_tensor(breast21_counts[:n_samples].T, dtype=torch.float64).unsqueeze(0)
    s = start(V, 3, 2)
    run = fit_kl(V.numpy(), s["W"].numpy(), s["H"].numpy(), max_iter=50, tol=0.0, check_every=50)
    X, Xt, cat, Wt, H = kernel_inputs(V, s["W"], s["H"])
    kl_steps(X, Xt, cat, Wt, H, 50, tiny(torch.float64), 1)
    assert run.H.shape == (2, 3, n_samples)
    np.testing.assert_allclose(run.H, H, rtol=1e-9, atol=1e-12 * np.abs(H).max())
    np.testing.assert_allclose(run.W, Wt.transpose(0, 2, 1), rtol=1e-9, atol=1e-12 * np.abs(Wt).max())
    expected = LOSSES["kl"](V, torch.from_numpy(run.W) @ torch.from_numpy(run.H)).numpy()
    np.testing.assert_allclose(run.loss, expected, rtol=1e-10)


def test_overflowing_catalogue_is_not_marked_converged():
    """Catches kernels compiled with fastmath's nnan/ninf flags, under which LLVM folds away the
    stopping rule's isfinite check: float32 catalogues near the type's limit overflow the loss,
    and the restarts were reported converged with an infinite loss. A non-finite loss ends a
    restart at that check (here the first, after 10 iterations), unconverged."""
    from sigfactor.models._restarts import fit_restarts

    V = np.random.default_rng(0).random((2, 96, 10)).astype(np.float32) * np.float32(3e38)
    fitted = fit_restarts(V, 3, n_restarts=2, seed=1, model="nmf", loss="kl", device="cpu", dtype="float32",
                          threads=1, max_iter=200, tol=1e-6, check_every=10)
    assert not np.isfinite(fitted.loss).any()
    assert not fitted.converged.any()
    np.testing.assert_array_equal(fitted.n_iter, 10)


SUBNORMAL = {"float32": 1e-40, "float64": 1e-310}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("solver", ["mu", "cd"])
@pytest.mark.parametrize("threads", [1, 2])
def test_kernels_flush_subnormals_and_leave_the_thread_as_they_found_it(breast21_counts, dtype, solver, threads):
    # Catches kernels that compute with subnormal numbers (on Intel cores each costs a microcode
    # assist: PCAWG at rank 20 took 12-17 times as long), and kernels that leave the calling
    # thread flushing subnormals after they return (numpy's arithmetic would change).
    dt = getattr(torch, dtype)
    V = torch.as_tensor(breast21_counts.T, dtype=dt).unsqueeze(0)
    s = start(V, 4, 3)
    X, Xt, cat, Wt, H = kernel_inputs(V, s["W"], s["H"])
    tiny_normal = np.finfo(dtype).tiny
    H[:, 1, ::2] = SUBNORMAL[dtype]          # a multiplicative update would keep them subnormal
    Wt[:, 2, ::3] = SUBNORMAL[dtype]
    assert (H[:, 1, ::2] > 0).all() and (H[:, 1, ::2] < tiny_normal).all()
    runs = Runs(kl_losses(X, Xt, cat, Wt, H, tiny(dt), threads).astype(Wt.dtype), 1, 1)
    kl_run(X, Xt, cat, Wt, H, runs, eps=tiny(dt), tol=0.0, check_every=1, max_iter=1, max_checks=1,
           threads=threads, solver=solver)
    if _X86:                         # the flags are x86's (MXCSR); elsewhere nothing is flushed
        for A in (Wt, H):
            assert not ((A != 0) & (np.abs(A) < tiny_normal)).any()
        if solver == "mu":           # read as 0, a multiplicative update leaves them at 0
            assert (H[:, 1, ::2] == 0).all() and (Wt[:, 2, ::3] == 0).all()
    assert np.isfinite(runs.loss).all()
    x = np.full(4, SUBNORMAL[dtype], dtype=dtype)
    assert ((x * x.dtype.type(3)) > 0).all() and (x + x > 0).all()
