"""Are the iterations after extract's cap spent for nothing? Signature drift of KL NMF restarts on PCAWG.

``extract`` stops a restart when its KL loss changes by less than 1e-6 (relative) over 10
iterations, or at 10,000 iterations. On PCAWG many high-rank restarts reach the cap, which is
where a sweep's time goes. This script runs restarts on the real PCAWG catalogue
(gmm-normalised as ``extract`` does, float32, sigfactor's kernels and starting points) with no
stopping rule to ``--iterations`` in steps of ``--step``, and reports at every step, for each
restart, the lowest cosine between a signature and the same signature at the last step
(one restart, so signatures correspond without matching), and how far the loss still is
above the last step's. If the signatures at 10,000 iterations already equal the later ones,
the cap could be lowered; if not, the iterations are needed. For each of ``--tols`` it also
reports where extract's rule (relative change of the loss over 10 iterations below ``tol``)
would have stopped each restart, and how close its signatures were there to the last step's.
``--solver cd`` runs coordinate descent (iterations are sweeps).

Usage::

    SIGFACTOR_DATA=../shared/data .venv/bin/python benchmarks/bench_drift.py \\
        --ranks 10 20 --restarts 6 --json benchmarks/results/bench_drift.json
    SIGFACTOR_DATA=../shared/data .venv/bin/python benchmarks/bench_drift.py --solver cd \\
        --ranks 20 25 --restarts 4 --iterations 6000 --step 100 --json benchmarks/results/bench_drift_cd.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_overrelaxed import pcawg_normalised                                  # noqa: E402
from machine import machine                                                      # noqa: E402
from sigfactor.models._base import Streams, batch_means, nmf_random_init, restart_seeds  # noqa: E402
from sigfactor.models._kl_cpu import fit_kl                                     # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--restarts", type=int, default=6)
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--step", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--solver", choices=("mu", "cd"), default="mu",
                        help="multiplicative updates or coordinate descent (iterations are then sweeps)")
    parser.add_argument("--tols", type=float, nargs="+", default=[1e-6, 1e-5],
                        help="report where extract's rule (relative change over 10 iterations) would stop at each")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    V64, cutoff = pcawg_normalised()
    V = V64.astype(np.float32)[None]
    out = []
    for rank in args.ranks:
        W, H = nmf_random_init(batch_means(V), V.shape[-2:], rank, Streams(restart_seeds(args.seed, args.restarts)))
        W, H = W.astype(np.float32), H.astype(np.float32)
        snaps, losses, traces, started = [], [], [], time.perf_counter()
        for _ in range(args.iterations // args.step):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run = fit_kl(V, W, H, max_iter=args.step, tol=0.0, check_every=10, threads=args.threads,
                             solver=args.solver)
            W, H = run.W, run.H
            snaps.append(W / W.sum(axis=1, keepdims=True))
            losses.append(run.loss.astype(np.float64))
            traces.append(run.trace if not traces else run.trace[:, 1:])
        last, steps = snaps[-1], []                     # (R, channels, k) each
        for i, S in enumerate(snaps):
            S64, last64 = S.astype(np.float64), last.astype(np.float64)
            cos = (S64 * last64).sum(axis=1) / (np.linalg.norm(S64, axis=1) * np.linalg.norm(last64, axis=1))
            excess = (losses[i] - losses[-1]) / losses[-1]
            steps.append({"iteration": (i + 1) * args.step, "min_cosine": np.round(cos.min(axis=1), 4).tolist(),
                          "loss_above_last": [float(f"{x:.3g}") for x in excess]})
            print(f"rank {rank:2d} it {(i + 1) * args.step:6d}: lowest cosine to the last step "
                  f"{np.round(cos.min(axis=1), 3).tolist()}, loss above it {[float(f'{x:.2g}') for x in excess]}",
                  flush=True)
        trace = np.concatenate(traces, axis=1)          # (R, checks + 1): the loss every 10 iterations
        stops = {}
        for tol in args.tols:
            rel = np.abs(np.diff(trace, axis=1)) / trace[:, :-1]
            at = [int((np.flatnonzero(r < tol)[0] + 1) * 10) if (r < tol).any() else None for r in rel]
            near = [None if a is None else min(-(-a // args.step), len(snaps)) - 1 for a in at]
            cos = [None if i is None else steps[i]["min_cosine"][r] for r, i in enumerate(near)]
            stops[str(tol)] = {"iteration": at, "min_cosine_at_next_step": cos}
            print(f"rank {rank:2d} tol {tol:g}: extract's rule would stop at {at}; lowest cosine to the last "
                  f"step at the next step {cos}", flush=True)
        out.append({"rank": rank, "seconds": round(time.perf_counter() - started, 1), "steps": steps,
                    "stops": stops})
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "command": sys.argv, "cutoff": cutoff, "restarts": args.restarts,
                                         "seed": args.seed, "solver": args.solver, "ranks": out}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
