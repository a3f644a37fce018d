"""Benchmark (not a test): the paper's comparison on GEL Ovary, 30 splits x 3 models, k = 4.

Usage::

    SIGFACTOR_DATA=../shared/data .venv/bin/python benchmarks/bench_compare.py \
        [--settings paper|paper-linear|fast] [--models nmf convex aenmf] [--splits 30] [--threads 1] [--out DIR]

Runs :func:`sigfactor.compare_models` (default ``settings="paper"``; each model's splits fitted
as one batch), prints the wall time, iterations and runs stopped at the iteration cap per model,
how often NMF's held-out error is below AE-NMF's, the consistency table, and writes the result
folder when ``--out`` is given. Target: under 10 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from sigfactor import datasets
from sigfactor.evaluate import MODEL_LABELS, PROTOCOLS, compare_models, write_comparison


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default="paper", choices=list(PROTOCOLS),
                        help="protocol of sigfactor.evaluate.PROTOCOLS (default paper)")
    parser.add_argument("--models", nargs="+", default=["nmf", "convex", "aenmf"],
                        help="models to compare (default: all three)")
    parser.add_argument("--splits", type=int, default=30, help="train/test splits (default 30)")
    parser.add_argument("--rank", type=int, default=4, help="rank (default 4, the paper's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--out", default=None, help="write the result folder here")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    catalogue = datasets.gel_ovary()
    print(f"cores available: {len(os.sched_getaffinity(0))}; torch threads: {torch.get_num_threads()}; "
          f"load average: {os.getloadavg()[0]:.1f}")
    print(f"data: GEL Ovary, {catalogue.n_samples} samples; rank {args.rank}; {args.splits} splits; "
          f"settings {args.settings}; models {' '.join(args.models)}; seed {args.seed}")
    start = time.perf_counter()
    result = compare_models(catalogue, args.rank, models=args.models, n_splits=args.splits,
                            settings=args.settings, seed=args.seed, progress=False)
    total = time.perf_counter() - start
    runs = result.runs
    print(f"{'model':12s} {'batch s':>9s} {'iter mean':>10s} {'iter max':>9s} {'at cap':>7s} "
          f"{'train MSE':>11s} {'held-out MSE':>13s}")
    for model, info in result.settings["model_settings"].items():
        r = runs[runs["model"] == model]
        print(f"{MODEL_LABELS[model]:12s} {info['batch_seconds']:9.1f} {r['n_iter'].mean():10.0f} "
              f"{r['n_iter'].max():9d} {info['runs_at_cap']:4d}/{len(r):<2d} "
              f"{r['train_loss'].mean():11.1f} {r['test_error'].mean():13.1f}")
    wide = runs.pivot(index="split", columns="model", values="test_error")
    if {"nmf", "aenmf"} <= set(wide.columns):
        print(f"NMF held-out error below AE-NMF's in {int((wide['nmf'] < wide['aenmf']).sum())} "
              f"of {len(wide)} splits")
    print(result.consistency.to_string(index=False))
    print(f"total wall time (fits, refits, matching, consensus): {total:.1f} s")
    if args.out:
        write_comparison(result, args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
