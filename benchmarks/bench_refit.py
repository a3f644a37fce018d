"""The Poisson refit on a real cohort: ``refit_kl`` against scipy's bounded optimiser, and BCV's solves.

``refit_kl`` finds exposures ``H >= 0`` minimising the generalized KL divergence of a catalogue
from ``S H`` for fixed signatures ``S``: ``refit(loss="kl")``, the solves of the BCV rank rule,
the Poisson BIC and the paper protocol's held-out KL error all run it. This script fits the real
PCAWG catalogue (2,780 genomes, raw counts) to the ``k`` COSMIC v3.4 signatures that carry the
most mutations in an NNLS fit of PCAWG to all of COSMIC (a realistic refit), times
``refit_kl`` (after one small call, which loads its compiled code), and checks every sample's
divergence against an independent solver: scipy's L-BFGS-B with bounds, per sample, from a
flat start (``--reference``). With ``--extract`` it also times ``extract`` with every rank
rule on ``bench_accuracy.py``'s ``many`` set (400 samples, 8 COSMIC signatures; ranks 6-10 x
20 restarts) and the part of it spent in ``refit_kl`` (cProfile).

Usage::

    SIGFACTOR_DATA=../shared/data .venv/bin/python benchmarks/bench_refit.py \\
        --ranks 5 10 20 --reference --extract --json benchmarks/results/bench_refit.json
"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import machine                                                      # noqa: E402
from sigfactor import datasets                                                   # noqa: E402
from sigfactor.reference import cosmic                                           # noqa: E402
from sigfactor.refit import kl_terms, nnls, refit_kl                             # noqa: E402


def _lbfgsb(S: np.ndarray, y: np.ndarray) -> np.ndarray:
    """One sample's Poisson optimum by scipy's L-BFGS-B with bounds ``h >= 0``, from a flat start."""
    from scipy.optimize import minimize

    def objective(h):
        y_hat = np.maximum(S @ h, 1e-300)
        return float(y_hat.sum() - y @ np.log(y_hat)), S.T @ (1.0 - y / y_hat)

    start = np.full(S.shape[1], max(y.sum(), 1.0) / S.sum())
    res = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * S.shape[1],
                   options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 20000, "maxcor": 20})
    return res.x


def by_exposure(Y: np.ndarray, ref) -> list[str]:
    """The reference signatures, largest total NNLS exposure over the cohort first."""
    total = nnls(ref.to_numpy(np.float64), Y).sum(axis=1)
    return [ref.columns[i] for i in np.argsort(-total, kind="stable")]


def refit_row(Y: np.ndarray, ref, names: list[str], reference: bool) -> dict:
    k = len(names)
    S = ref[names].to_numpy(np.float64)
    started = time.perf_counter()
    H = refit_kl(S, Y)
    seconds = time.perf_counter() - started
    ours = kl_terms(Y, S @ H).sum(axis=0)
    row = {"rank": k, "signatures": names, "samples": int(Y.shape[1]), "seconds": round(seconds, 3),
           "divergence": float(ours.sum())}
    if reference:
        started = time.perf_counter()
        best = np.column_stack([_lbfgsb(S, Y[:, j]) for j in range(Y.shape[1])])
        row["reference_seconds"] = round(time.perf_counter() - started, 3)
        theirs = kl_terms(Y, S @ best).sum(axis=0)
        excess = (ours - theirs) / np.maximum(theirs, 1.0)
        row.update({"reference_divergence": float(theirs.sum()),
                    "largest_relative_excess": float(excess.max()),
                    "samples_above_reference_1e-9": int((excess > 1e-9).sum()),
                    "samples_below_reference_1e-9": int((excess < -1e-9).sum())})
    return row


def extract_row(restarts: int) -> dict:
    from bench_accuracy import load
    from sigfactor import extract

    counts = load("many", 0)[0]                                       # bench_accuracy's set, seed 0
    profiler = cProfile.Profile()
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        profiler.enable()
        result = extract(counts.T, ranks=range(6, 11), n_restarts=restarts, seed=0, progress=False,
                         compare_rank_rules=True)
        profiler.disable()
    seconds = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    in_refit = sum(v[3] for f, v in stats.stats.items() if f[2] == "refit_kl")
    chosen = {c.removeprefix("chosen_by_"): int(result.stats.index[result.stats[c]][0])
              for c in result.stats.columns if c.startswith("chosen_by_")}
    return {"set": "many", "ranks": "6-10", "restarts": restarts, "seconds": round(seconds, 2),
            "refit_kl_seconds": round(in_refit, 2), "chosen": chosen,
            "bcv_error": [round(float(v), 8) for v in result.stats["bcv_error"]]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--reference", action="store_true", help="check every sample against L-BFGS-B")
    parser.add_argument("--extract", action="store_true", help="time extract with every rank rule on 'many'")
    parser.add_argument("--restarts", type=int, default=20, help="extract's restarts with --extract")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    pcawg = datasets.pcawg_wgs()
    Y = pcawg.counts.T.astype(np.float64)                              # channels x samples
    ref = cosmic().loc[pcawg.channels]
    order = by_exposure(Y, ref)
    refit_kl(ref.iloc[:, :2].to_numpy(np.float64), Y[:, :2])          # loads the compiled code once
    rows = []
    for k in args.ranks:
        row = refit_row(Y, ref, order[:k], args.reference)
        rows.append(row)
        print({key: v for key, v in row.items() if key != "signatures"}, flush=True)
    out = {"machine": machine(), "refit": rows}
    if args.extract:
        out["extract"] = extract_row(args.restarts)
        print(out["extract"], flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
