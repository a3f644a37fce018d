"""Restarts as extraction runs them: the CPU kernels without PyTorch, or sigfactor.models.fit."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from sigfactor.models import fit
from sigfactor.models._base import Streams, restart_seeds
from sigfactor.models._restarts import fit_restarts, uses_kernels


@pytest.mark.parametrize("shape", [(96, 3), (3, 21), (25, 1000), (1, 1)])
def test_streams_draw_what_torch_generators_draw(shape):
    seeds = restart_seeds(11, 4)
    high = np.array([1.0, 0.5, 2.0, 3.0])
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    streams = Streams(seeds)
    for _ in range(2):                       # successive draws continue each stream
        ours = streams.uniform(shape, high)
        theirs = torch.stack([torch.rand(shape, generator=g, dtype=torch.float64) for g in gens])
        np.testing.assert_array_equal(ours, (theirs * torch.as_tensor(high).reshape(-1, 1, 1)).numpy())


def test_streams_refuse_seeds_beyond_32_bits():
    with pytest.raises(ValueError, match=r"seeds=\[4294967296\].*below 2\*\*32"):
        Streams([2 ** 32])


@pytest.mark.parametrize("model,loss,device,expected", [
    ("nmf", "kl", "cpu", True), ("nmf", "frobenius", "cpu", False), ("aenmf", "kl", "cpu", False),
    ("nmf", "kl", "cuda", False),
])
def test_only_kl_nmf_on_the_cpu_uses_the_kernels(model, loss, device, expected):
    assert uses_kernels(model, loss, device) is expected


@pytest.mark.parametrize("resampled", [False, True])
def test_kernel_path_equals_fit(breast21_counts, resampled):
    """Extraction's PyTorch-free path gives fit()'s restarts bitwise (same draws, same kernels)."""
    V = breast21_counts.T[None].astype(np.float64)
    if resampled:
        V = np.concatenate([V, V[:, :, ::-1] * 2, V + 1])
    options = dict(max_iter=300, tol=1e-6, check_every=10)
    ours = fit_restarts(V, 3, model="nmf", loss="kl", n_restarts=3, seed=5, device="cpu", dtype="float32",
                        threads=2, **options)
    theirs = fit(torch.as_tensor(V, dtype=torch.float32), 3, model="nmf", loss="kl", n_restarts=3, seed=5,
                 threads=1, **options)
    W = theirs.factors["W"].numpy().astype(np.float64)
    np.testing.assert_array_equal(ours.signatures, W / W.sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(ours.loss, theirs.loss.double().numpy())
    np.testing.assert_array_equal(ours.n_iter, theirs.n_iter.numpy())
    assert ours.best_index == theirs.best_index and ours.threads == 2


def test_torch_path_returns_the_same_fields(breast21_counts):
    V = breast21_counts.T[None].astype(np.float64)
    run = fit_restarts(V, 2, model="nmf", loss="frobenius", n_restarts=4, seed=1, device="cpu",
                       dtype="float64", max_iter=200, tol=1e-6, check_every=10)
    assert run.signatures.shape == (4, 96, 2) and run.signatures.dtype == np.float64
    np.testing.assert_allclose(run.signatures.sum(axis=1), 1.0)
    assert run.loss.shape == (4,) and run.threads == 1             # small batch: one thread


def test_cpu_extraction_with_kl_nmf_never_imports_torch(tmp_path):
    from sigfactor._bundled import bundled_path

    breast_file = bundled_path("catalogues/breast21_SBS96.txt")
    code = ("import sys\nfrom sigfactor.cli import main\n"
            f"code = main(['extract', {str(breast_file)!r}, '--out', {str(tmp_path / 'out')!r}, '--ranks', '2-3',"
            " '--restarts', '3', '--device', 'auto', '--quiet'])\n"
            "assert code == 0, code\nprint('torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", done.stderr
    assert (tmp_path / "out" / "run.json").exists()
