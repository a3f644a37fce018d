"""Benchmark (not a test): extraction at cohort size, in this process and on a 2-worker LocalCluster.

Cohorts come from :mod:`sigfactor.datasets` (``SIGFACTOR_DATA`` points at the mirror):
PCAWG (2,780 genomes; the issue's sweep: ranks 1-25 x 100 restarts) and TCGA (9,493 exomes;
ranks 1-15 x 20 restarts). A full sweep takes hours on 2 cores, so each cohort is measured in
two runs per executor, every run a fresh Python process:

- **time**: a subset of the ranks (``--time-ranks``) with a few restarts (``--time-restarts``)
  at extract's defaults (up to 10,000 iterations, tol 1e-6). The full sweep's wall time is
  *extrapolated* from it: the seconds per restart at each measured rank are interpolated
  linearly over the ranks of the sweep (held flat outside the measured ranks), multiplied by
  the sweep's restarts and summed, and the run's wall time is scaled by the ratio of that sum
  to the same sum over the measured subset. The table says which ranks and restarts ran.
- **memory**: the sweep's highest rank with the sweep's full number of restarts, iterations
  capped (``--memory-iter``; memory does not depend on the number of iterations, only on the
  restarts and the catalogue, and ranks are fitted one after another). Peak RSS of the main
  process and, on the cluster, of each worker process (each process's own ``getrusage``; the
  workers' read before the cluster closes).

Wall times are those of the ``extract`` call, after a tiny warm-up extraction in the same
process (and on the same cluster) has loaded the imports and kernels, so the scaling in the
extrapolation applies to the work itself; starting the cluster (a few seconds) is not counted.

The LocalCluster is the one ``scheduler="local"`` starts, with two single-threaded worker
processes on 127.0.0.1; in-process runs use every CPU through the kernels' threads.

Usage::

    SIGFACTOR_DATA=/work/shared/data .venv/bin/python benchmarks/bench_scale.py \\
        [--cohort pcawg tcga] [--executor inprocess local] [--time-ranks 5,15,25] \\
        [--time-restarts 4] [--memory-iter 100] [--json FILE]

Run it on a quiet machine: it prints a Markdown table (and writes ``--json``).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

COHORTS = {
    "pcawg": {"loader": "pcawg_wgs", "ranks": list(range(1, 26)), "restarts": 100, "time_ranks": [5, 15, 25]},
    "tcga": {"loader": "tcga_wes", "ranks": list(range(1, 16)), "restarts": 20, "time_ranks": [5, 10, 15]},
}
WORKERS = 2


def _peak_mb_self() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(spec: dict) -> dict:
    """One extraction in this (fresh) process; what it measured."""
    import warnings

    from sigfactor import datasets, extract

    warnings.simplefilter("ignore")
    cat = getattr(datasets, COHORTS[spec["cohort"]]["loader"])()
    kwargs = dict(ranks=spec["ranks"], n_restarts=spec["restarts"], progress=False, seed=0)
    if spec.get("max_iter"):
        kwargs["max_iter"] = spec["max_iter"]
    warm = dict(ranks=[1], n_restarts=2, max_iter=10, progress=False)      # imports, kernels loaded
    workers_mb = None
    if spec["executor"] == "local":
        from dask.distributed import Client, LocalCluster

        with LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster, Client(cluster) as client:
            extract(datasets.breast21(), scheduler=client, block_size=1, **warm)
            started = time.perf_counter()
            result = extract(cat, scheduler=client, **kwargs)
            wall = time.perf_counter() - started
            workers_mb = sorted(client.run(_peak_mb_self).values())
    else:
        extract(datasets.breast21(), **warm)
        started = time.perf_counter()
        result = extract(cat, **kwargs)
        wall = time.perf_counter() - started
    stats = result.stats
    return {
        "wall_s": wall, "main_peak_mb": _peak_mb_self(), "workers_peak_mb": workers_mb,
        "per_rank_s": {int(k): float(v) for k, v in stats["seconds"].items()},
        "converged": {int(k): float(v) for k, v in stats["converged_fraction"].items()},
        "mean_iterations": {int(k): float(np.mean(s.restart_iterations)) for k, s in result.solutions.items()},
        "samples": cat.n_samples,
    }


def run(spec: dict) -> dict:
    """Run :func:`_child` in a fresh process.

    The process's own peak RSS is ``main_peak_mb`` (``getrusage`` in the process: ``os.wait4``
    would report the largest of it and the worker processes it started and waited for).
    """
    proc = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(spec)], stdout=subprocess.PIPE,
                            text=True)
    out = proc.stdout.read()
    if proc.wait() != 0:
        raise RuntimeError(f"benchmark child failed: {spec}")
    return {**spec, **json.loads(out.strip().splitlines()[-1])}


def extrapolate(time_run: dict, sweep_ranks: list[int], sweep_restarts: int) -> float:
    """The full sweep's wall time from a subset run (module docstring)."""
    measured = sorted(time_run["per_rank_s"])
    per_restart = np.array([time_run["per_rank_s"][k] / time_run["restarts"] for k in measured])
    full = float(np.interp(sweep_ranks, measured, per_restart).sum() * sweep_restarts)
    subset = float(per_restart.sum() * time_run["restarts"])
    return time_run["wall_s"] * full / subset


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--cohort", nargs="+", default=["pcawg"], choices=sorted(COHORTS))
    parser.add_argument("--executor", nargs="+", default=["inprocess", "local"], choices=("inprocess", "local"))
    parser.add_argument("--time-ranks", default=None, help="ranks of the time run, e.g. 5,15,25 (default per cohort)")
    parser.add_argument("--time-restarts", type=int, default=4)
    parser.add_argument("--memory-iter", type=int, default=100, help="iteration cap of the memory run")
    parser.add_argument("--skip-time", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return
    rows = []
    for cohort in args.cohort:
        info = COHORTS[cohort]
        time_ranks = ([int(r) for r in args.time_ranks.split(",")] if args.time_ranks else info["time_ranks"])
        for executor in args.executor:
            row = {"cohort": cohort, "executor": executor, "sweep": f"ranks {info['ranks'][0]}-{info['ranks'][-1]} "
                   f"x {info['restarts']}"}
            if not args.skip_time:
                t = run({"cohort": cohort, "executor": executor, "ranks": time_ranks, "restarts": args.time_restarts})
                row.update(time_run=t, measured=f"ranks {','.join(map(str, time_ranks))} x {args.time_restarts}",
                           measured_wall_s=t["wall_s"],
                           extrapolated_sweep_s=extrapolate(t, info["ranks"], info["restarts"]))
            if not args.skip_memory:
                m = run({"cohort": cohort, "executor": executor, "ranks": [info["ranks"][-1]],
                         "restarts": info["restarts"], "max_iter": args.memory_iter})
                row.update(memory_run=m, memory_measured=f"rank {info['ranks'][-1]} x {info['restarts']}, "
                           f"{args.memory_iter} iterations", main_peak_mb=m["main_peak_mb"],
                           workers_peak_mb=m["workers_peak_mb"])
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if not k.endswith("_run")}), file=sys.stderr)
    print("| cohort | executor | time run (measured) | wall s | full sweep (extrapolated) | memory run | "
          "peak RSS main MB | peak RSS workers MB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        wall = f"{r['measured_wall_s']:.0f}" if "measured_wall_s" in r else "-"
        full = f"{r['sweep']}: ~{r['extrapolated_sweep_s'] / 60:.0f} min" if "extrapolated_sweep_s" in r else "-"
        workers = ", ".join(f"{w:.0f}" for w in r["workers_peak_mb"]) if r.get("workers_peak_mb") else "-"
        main_mb = f"{r['main_peak_mb']:.0f}" if "main_peak_mb" in r else "-"
        print(f"| {r['cohort']} | {r['executor']} | {r.get('measured', '-')} | {wall} | {full} | "
              f"{r.get('memory_measured', '-')} | {main_mb} | {workers} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
