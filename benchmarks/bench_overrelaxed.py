"""Exploration (not a test, and not what sigfactor runs): does an over-relaxed KL update need
fewer iterations on PCAWG?

sigfactor's KL NMF is the multiplicative update ``H <- H * (W^T (V / WH)) / (W^T 1)`` (and the
same for ``W``). Raising the multiplicative factor to a power ``gamma`` in (1, 2) is a known
way to take longer steps: Badeau, Bertin and Vincent (2010, IEEE Trans. Neural Networks 21:1869,
"Stability analysis of multiplicative update algorithms and application to nonnegative matrix
factorization") show the update stays locally stable at the minima for exponents below 2
under the KL divergence. This script measures, on the real PCAWG catalogue (gmm-normalised as
``extract`` does, float64, PyTorch on the CPU), how many iterations each exponent needs to
meet extract's stopping rule (relative change below 1e-6 over 10 iterations, cap 10,000) and
the KL divergence it stops at, restart by restart from the same starting points.

Before any such update becomes sigfactor's, bench_accuracy must show it loses nothing.

Usage::

    SIGFACTOR_DATA=../shared/data .venv/bin/python benchmarks/bench_overrelaxed.py \\
        --ranks 8 15 20 --gammas 1.0 1.5 1.8 --restarts 4 --json benchmarks/results/bench_overrelaxed.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))

from sigfactor import datasets                          # noqa: E402
from sigfactor.normalize import gmm_cutoff, normalize   # noqa: E402
from sigfactor.refit import kl_terms                     # noqa: E402

TOL, CHECK_EVERY, MAX_ITER = 1e-6, 10, 10000


def kl_divergence(V: torch.Tensor, WH: torch.Tensor) -> float:
    """Generalised KL divergence D(V | WH), summed (the refit's :func:`sigfactor.refit.kl_terms`)."""
    return float(kl_terms(V.numpy(), WH.numpy()).sum())


def fit(V: torch.Tensor, rank: int, gamma: float, seed: int) -> dict:
    """One restart of the (over-relaxed, ``gamma``) KL update; iterations, final loss, seconds."""
    gen = torch.Generator().manual_seed(seed)
    W = torch.rand(V.shape[0], rank, generator=gen, dtype=V.dtype) + 1e-3
    H = torch.rand(rank, V.shape[1], generator=gen, dtype=V.dtype) * float(V.sum(0).mean()) / rank + 1e-3
    tiny = torch.finfo(V.dtype).tiny
    last, started = kl_divergence(V, W @ H), time.perf_counter()
    for it in range(1, MAX_ITER + 1):
        H = H * ((W.T @ (V / (W @ H).clamp_min(tiny))) / W.sum(0).unsqueeze(1)) ** gamma
        W = W * (((V / (W @ H).clamp_min(tiny)) @ H.T) / H.sum(1).unsqueeze(0)) ** gamma
        if it % CHECK_EVERY == 0:
            loss = kl_divergence(V, W @ H)
            if abs(last - loss) <= TOL * abs(last):
                break
            last = loss
    return {"iterations": it, "loss": kl_divergence(V, W @ H), "seconds": time.perf_counter() - started}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[8, 15, 20])
    parser.add_argument("--gammas", type=float, nargs="+", default=[1.0, 1.5, 1.8])
    parser.add_argument("--restarts", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cat = datasets.pcawg_wgs()
    counts = cat.counts.astype(np.float64)                              # samples x channels
    cutoff = gmm_cutoff(counts.sum(axis=1), 100 * cat.n_channels, seed=0)
    V = torch.tensor(normalize(counts.T, "gmm", cutoff)[0])                    # channels x samples
    rows = []
    for rank in args.ranks:
        for gamma in args.gammas:
            runs = [fit(V, rank, gamma, seed) for seed in range(args.restarts)]
            row = {"rank": rank, "gamma": gamma, "iterations": [r["iterations"] for r in runs],
                   "loss": [round(r["loss"], 1) for r in runs], "seconds": round(sum(r["seconds"] for r in runs), 1)}
            rows.append(row)
            print(f"rank {rank:2d} gamma {gamma:.2f}: iterations {row['iterations']} (sum {sum(row['iterations'])}), "
                  f"loss {[round(x) for x in row['loss']]}, {row['seconds']} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"command": sys.argv, "cutoff": cutoff, "threads": args.threads,
                                         "torch": torch.__version__, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
