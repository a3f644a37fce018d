"""Do the over-relaxed KL update, or coordinate descent, take less time on PCAWG, in sigfactor's kernels?

sigfactor's KL NMF is the multiplicative update ``H <- H * (W^T (V / WH)) / (W^T 1)`` (and the
same for ``W``). Raising the multiplicative factor to a power ``gamma`` in (1, 2) is a known
way to take longer steps: Badeau, Bertin and Vincent (2010, IEEE Trans. Neural Networks 21:1869,
"Stability analysis of multiplicative update algorithms and application to nonnegative matrix
factorization") show the update stays locally stable at the minima for exponents below 2
under the KL divergence. This script fits the real PCAWG catalogue (gmm-normalised as
``extract`` does) with :func:`sigfactor.models._kl_cpu.fit_kl`, the compiled kernels that
``extract`` runs, from sigfactor's own starting points (seed 0), in ``extract``'s dtype and
stopping rule (float32, relative change below 1e-6 over 10 iterations, cap 10,000), once per
``gamma``, and with ``--solvers mu cd`` once more by coordinate descent (``solver="cd"``, Hsieh
and Dhillon 2011; its iterations are sweeps), and reports per restart the iterations, the
final KL divergence (float64, summed) and the seconds.

Usage::

    SIGFACTOR_DATA=../shared/data .venv/bin/python benchmarks/bench_overrelaxed.py \\
        --ranks 8 15 20 25 --gammas 1.0 1.5 1.75 1.9 --restarts 8 --json benchmarks/results/bench_overrelaxed.json
    SIGFACTOR_DATA=../shared/data .venv/bin/python benchmarks/bench_overrelaxed.py \
        --ranks 5 10 15 20 25 --gammas 1.0 --solvers mu cd --restarts 8 --json benchmarks/results/bench_solvers.json
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

from machine import machine                                                     # noqa: E402
from sigfactor import datasets                                                   # noqa: E402
from sigfactor.extract import DEFAULTS                                          # noqa: E402
from sigfactor.models._base import Streams, batch_means, nmf_random_init, restart_seeds  # noqa: E402
from sigfactor.models._kl_cpu import fit_kl                                     # noqa: E402
from sigfactor.normalize import gmm_cutoff, normalize                           # noqa: E402
from sigfactor.refit import kl_terms                                            # noqa: E402


def pcawg_normalised() -> tuple[np.ndarray, float]:
    """The real PCAWG catalogue as ``extract`` fits it: channels x samples, gmm-normalised
    (float64), and the cutoff."""
    counts = datasets.pcawg_wgs().counts.astype(np.float64)            # samples x channels
    cutoff = gmm_cutoff(counts.sum(axis=1), 100 * counts.shape[1], seed=0)
    return normalize(counts.T, "gmm", cutoff)[0], cutoff


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[8, 15, 20, 25])
    parser.add_argument("--gammas", type=float, nargs="+", default=[1.0, 1.5, 1.75, 1.9])
    parser.add_argument("--solvers", nargs="+", default=["mu"], choices=("mu", "cd"),
                        help="mu: the multiplicative update at every --gammas; cd: coordinate descent too")
    parser.add_argument("--restarts", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    V64, cutoff = pcawg_normalised()
    V = V64.astype(np.float32)[None]
    rows = []
    for rank in args.ranks:
        W0, H0 = nmf_random_init(batch_means(V), V.shape[-2:], rank, Streams(restart_seeds(args.seed, args.restarts)))
        variants = [("mu", gamma) for gamma in args.gammas] + ([("cd", 1.0)] if "cd" in args.solvers else [])
        for solver, gamma in variants:
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run = fit_kl(V, W0.astype(np.float32), H0.astype(np.float32), max_iter=DEFAULTS["max_iter"],
                             tol=DEFAULTS["tol"], check_every=DEFAULTS["check_every"], threads=args.threads,
                             gamma=gamma, solver=solver)
            seconds = time.perf_counter() - started
            loss = [float(kl_terms(V64, run.W[r].astype(np.float64) @ run.H[r].astype(np.float64)).sum())
                    for r in range(args.restarts)]
            row = {"rank": rank, "solver": solver, "gamma": gamma, "iterations": run.n_iter.tolist(),
                   "converged": run.converged.tolist(), "loss": [round(x, 1) for x in loss],
                   "seconds": round(seconds, 1)}
            rows.append(row)
            print(f"rank {rank:2d} {solver} gamma {gamma:.2f}: iterations {sum(row['iterations'])} "
                  f"(capped {row['converged'].count(False)}), best loss {min(loss):.0f}, median {np.median(loss):.0f}, "
                  f"{row['seconds']} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"command": sys.argv, "cutoff": cutoff, "threads": args.threads,
                                         "seed": args.seed, "machine": machine(), "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
