"""Benchmark (not a test): the KL NMF update per restart-iteration, compiled kernels against GEMM.

On a CPU, KL NMF (extraction's default) runs in the fused numba kernels of
:mod:`sigfactor.models._kl_cpu`. The alternative is the batched matrix-product formulation
that PyTorch runs (:func:`sigfactor.models.nmf.kl_step`: ``W H``, the ratio, ``W^T R`` and
``R H^T`` through BLAS). This script times both per restart and iteration, one thread, at the
catalogue widths of GEL Ovary (523), PCAWG (2,780) and TCGA (9,493) and ranks 2-25, and
reports GFLOP/s counted as ``8 x channels x samples x rank`` per iteration (the four products).
Two bounds come with them:

- ``4 bmm``: the four batched products alone, without the ratio or the updates, on the same
  shapes (a GEMM formulation cannot be faster than this);
- ``sgemm``: one large square float32 product, one thread (the machine's practical peak).

A third measurement prices the stopping rule: the same kernels with the loss checked every 10
iterations (extraction's default) against every 1,000, 200 iterations, best of 5 alternating
runs (``check_cost``).

Usage::

    .venv/bin/python benchmarks/bench_kernels.py [--samples 523 2780 9493] [--ranks 2 5 10 15 25]
        [--restarts 4] [--seconds 0.5] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import torch

from machine import machine
from sigfactor.models._kl_cpu import fit_kl
from sigfactor.models.nmf import kl_step


def _timed(fn, seconds: float) -> float:
    """Seconds per call of ``fn``, after one warm-up, over at least ``seconds``."""
    fn()
    calls, started = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return elapsed / calls


def sgemm_gflops(size: int = 2048, seconds: float = 1.0) -> float:
    a, b = torch.rand(size, size), torch.rand(size, size)
    per = _timed(lambda: a @ b, seconds)
    return 2 * size ** 3 / per / 1e9


def one_shape(n: int, k: int, restarts: int, seconds: float, rng) -> dict:
    """Microseconds per restart-iteration of each formulation at channels 96, ``n`` samples, rank ``k``."""
    V = np.round(rng.gamma(0.5, 40.0, size=(1, 96, n))).astype(np.float32)
    W = rng.random((restarts, 96, k)).astype(np.float32)
    H = rng.random((restarts, k, n)).astype(np.float32) * 20
    iters = 20

    def kernel():
        fit_kl(V, W, H, max_iter=iters, tol=0.0, check_every=iters, threads=1)

    Vt = torch.from_numpy(V)
    state = {"W": torch.from_numpy(W.copy()), "H": torch.from_numpy(H.copy())}

    def pytorch():
        s = state
        for _ in range(iters):
            s = kl_step(Vt, s)

    Wt, Ht, R = state["W"], state["H"], torch.rand(restarts, 96, n)

    def bmm():
        for _ in range(iters):
            Wt @ Ht, Wt.transpose(1, 2) @ R, Wt @ Ht, R @ Ht.transpose(1, 2)

    flops = 8 * 96 * n * k
    row = {"samples": n, "rank": k}
    for name, fn in (("kernel", kernel), ("pytorch", pytorch), ("4 bmm", bmm)):
        us = 1e6 * _timed(fn, seconds) / (restarts * iters)
        row[f"{name} us"] = round(us, 1)
        row[f"{name} GFLOP/s"] = round(flops / us / 1e3, 1)
    row["kernel / pytorch"] = round(row["pytorch us"] / row["kernel us"], 2)
    return row


def check_cost(n: int, k: int, rng, repeats: int = 5) -> float:
    """Extra time of checking the loss every 10 iterations instead of every 1,000 (a fraction),
    one thread, 2 restarts x 200 iterations, the best of ``repeats`` alternating runs of each."""
    V = np.round(rng.gamma(0.5, 40.0, size=(1, 96, n))).astype(np.float32)
    W = rng.random((2, 96, k)).astype(np.float32)
    H = rng.random((2, k, n)).astype(np.float32)
    fit_kl(V, W, H, max_iter=10, tol=0.0, check_every=10, threads=1)
    best = {10: np.inf, 1000: np.inf}
    for _ in range(repeats):
        for every in (1000, 10):
            started = time.perf_counter()
            fit_kl(V, W, H, max_iter=200, tol=0.0, check_every=every, threads=1)
            best[every] = min(best[every], time.perf_counter() - started)
    return best[10] / best[1000] - 1.0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[523, 2780, 9493])
    parser.add_argument("--ranks", type=int, nargs="+", default=[2, 5, 10, 15, 25])
    parser.add_argument("--restarts", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=0.5, help="least time per measurement")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    peak = sgemm_gflops()
    rows = [one_shape(n, k, args.restarts, args.seconds, rng) for n in args.samples for k in args.ranks]
    checks = {f"{n} x rank {k}": round(check_cost(n, k, rng), 3) for n in args.samples for k in (5, 25)}
    cols = list(rows[0])
    print(f"one thread; sgemm 2048^3 float32: {peak:.1f} GFLOP/s")
    print("extra time of a loss check every 10 iterations (vs every 1,000): "
          + ", ".join(f"{name}: {100 * v:.1f} %" for name, v in checks.items()) + "\n")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in cols) + " |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"sgemm_gflops": peak, "rows": rows, "check_cost": checks, "threads": 1,
                       "machine": machine()}, fh, indent=2)


if __name__ == "__main__":
    main()
