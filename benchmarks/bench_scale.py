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
        [--cohort pcawg tcga] [--executor inprocess local] [--time-ranks pcawg=5,15,25 tcga=5,10,15] \\
        [--time-restarts 4] [--memory-iter 100] [--spe] [--spe-ranks pcawg=5,15 tcga=5] \\
        [--spe-out DIR] [--spe-timeout SECONDS] [--solver mu cd] [--json FILE]

``--time-ranks`` and ``--spe-ranks`` take ``RANKS`` (for every cohort) or ``COHORT=RANKS``.
``--solver`` names extract's KL solvers to measure (default ``mu``, extract's default): every
run is made once per solver, and with ``--spe`` each SigProfilerExtractor run (once per rank)
is set against each solver's.

With ``--spe``, SigProfilerExtractor 1.4.1 (``spe_side.run_spe``, from ``.spe-venv``) runs on
the same cohort in the same invocation, after sigfactor's runs: once per rank of ``--spe-ranks``
(default: the time run's ranks), with ``minimum_signatures = maximum_signatures`` = that rank
(its rank range is consecutive), ``nmf_replicates`` = ``--time-restarts``, multinomial
resampling, seed 0 and ``cpu=2`` worker processes. For each rank it records:

- ``spe_wall_s``: GNU time's wall time of the whole SigProfilerExtractor process (start-up,
  the extraction at that rank, rank selection, the COSMIC decomposition by
  SigProfilerAssignment, writing its output);
- ``spe_extraction_s``: that rank's own extraction time as SigProfilerExtractor logs it in
  ``JOB_METADATA.txt`` (NMF replicates, clustering, refit of the exposures; whole seconds);
- ``spe_nmf_s``: of which its NMF replicates (``Time taken to collect ...`` in its log);
- ``spe_iterations``: the NMF iterations each replicate ran.

A run that passes ``--spe-timeout`` seconds is stopped (its whole process tree) and recorded as
stopped, its time as a lower bound.

Right before each, ``sigfactor extract`` runs at the same rank with the same restarts,
resampling and seed as a fresh command-line process (``bench_extract.run_sigfactor``: start-up,
extraction, COSMIC decomposition, the output folder with its plots), the counterpart of
SigProfilerExtractor's wall time. Each tool stops by its own rule, hence both tools' iterations.
Two ratios, per rank and of the sums over the ranks:

- **end to end**: SigProfilerExtractor's wall time over ``sigfactor extract``'s, defined as
  ``bench_extract.py``'s speed-up (on the 21 breast genomes, ranks 1-5 x 10: 50.0x);
- **extraction**: SigProfilerExtractor's time for the rank (``JOB_METADATA.txt``) over
  sigfactor's seconds for the rank in the in-process time run (fits, consensus and refit inside
  ``extract``).

Every run records the load average before and after it (``os.getloadavg``): the table is only
as good as the machine was quiet.

Run it on a quiet machine: it prints Markdown tables (and writes ``--json``).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from machine import machine

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
    kwargs = dict(ranks=spec["ranks"], n_restarts=spec["restarts"], progress=False, seed=0,
                  solver=spec.get("solver", "mu"))
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
    load_before = os.getloadavg()
    proc = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(spec)], stdout=subprocess.PIPE,
                            text=True)
    out = proc.stdout.read()
    if proc.wait() != 0:
        raise RuntimeError(f"benchmark child failed: {spec}")
    measured = json.loads(out.strip().splitlines()[-1])
    for key in ("per_rank_s", "converged", "mean_iterations"):      # JSON made the ranks strings
        measured[key] = {int(k): v for k, v in measured[key].items()}
    return {**spec, **measured, "load_before": load_before, "load_after": os.getloadavg()}


_RANK_DONE = re.compile(r"de novo extraction completed for a total of (\d+) signatures! \s*"
                        r"Execution time:\s*(?:(\d+) days?, )?(\d+):(\d+):(\d+)")
_REPLICATE_DONE = re.compile(r"continues please wait\.\.\.\s*\n\s*execution time: (\d+) seconds")
_NMF_DONE = re.compile(r"Time taken to collect \d+ iterations for (\d+) signatures is ([\d.]+) seconds")


def spe_rank_seconds(job_metadata: str) -> dict[int, float]:
    """Each rank's extraction time from the text of SigProfilerExtractor's ``JOB_METADATA.txt``.

    SigProfilerExtractor 1.4.1 writes, after each rank's NMF replicates, clustering and refit,
    ``... de novo extraction completed for a total of K signatures! / Execution time:H:MM:SS``
    (a ``datetime.timedelta`` cut to whole seconds, ``N day(s), H:MM:SS`` past a day).
    """
    found = {}
    for rank, days, hours, minutes, seconds in _RANK_DONE.findall(job_metadata):
        found[int(rank)] = float(int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds))
    return found


def spe_nmf_seconds(log: str) -> dict[int, float]:
    """Each rank's NMF-replicates time from SigProfilerExtractor's console output
    (``Time taken to collect N iterations for K signatures is S seconds``)."""
    return {int(rank): float(sec) for rank, sec in _NMF_DONE.findall(log)}


def spe_replicate_seconds(log: str) -> list[float]:
    """Seconds each finished NMF replicate took, from SigProfilerExtractor's console output (each
    replicate's worker prints ``process K continues please wait... / execution time: S seconds``)."""
    return [float(x) for x in _REPLICATE_DONE.findall(log)]


def run_spe_rank(cohort: str, rank: int, replicates: int, out_dir: Path, timeout: float | None = None) -> dict:
    """SigProfilerExtractor at one rank of a cohort (module docstring), measured.

    Past ``timeout`` seconds the run is stopped and recorded as ``spe_timed_out`` with
    ``spe_wall_s`` = the seconds it ran (a lower bound of its time); its other fields are None.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from spe_side import run_spe

    from sigfactor import datasets

    catalogue = datasets.fetch(COHORTS[cohort]["loader"])
    load_before = os.getloadavg()
    started = time.perf_counter()
    try:
        spe = run_spe(catalogue, ranks=(rank, rank), replicates=replicates, resample=True, seed=0,
                      out_dir=out_dir, cpu=WORKERS, progress=False, timeout=timeout)
    except TimeoutError as error:
        return {"cohort": cohort, "rank": rank, "replicates": replicates, "spe_timed_out": True,
                "spe_wall_s": time.perf_counter() - started, "spe_extraction_s": None, "spe_nmf_s": None,
                "spe_iterations": None, "spe_peak_rss_mb": None,
                "spe_replicate_s_before_stop": spe_replicate_seconds(getattr(error, "log", "")),
                "load_before": load_before, "load_after": os.getloadavg()}
    load_after = os.getloadavg()
    out = Path(spe["out_dir"])
    extraction = spe_rank_seconds((out / "JOB_METADATA.txt").read_text())
    nmf = spe_nmf_seconds((out / "spe.log").read_text())
    if rank not in extraction or rank not in nmf:
        raise RuntimeError(f"SigProfilerExtractor's log in {out} records no time for rank {rank}.")
    return {"cohort": cohort, "rank": rank, "replicates": replicates, "spe_timed_out": False,
            "spe_wall_s": spe["wall_s"],
            "spe_extraction_s": extraction[rank], "spe_nmf_s": nmf[rank],
            "spe_iterations": spe["nmf_iterations"].get(rank, []), "spe_peak_rss_mb": spe["peak_rss_mb"],
            "spe_peak_tree_pss_mb": spe["peak_tree_pss_mb"], "spe_chosen_rank": spe["chosen_rank"],
            "spe_out": str(out), "spe_versions": spe["versions"], "load_before": load_before,
            "load_after": load_after}


def run_sigfactor_rank(cohort: str, rank: int, restarts: int, solver: str = "mu") -> dict:
    """``sigfactor extract --solver SOLVER`` at one rank of a cohort as a fresh command-line process
    (otherwise its defaults: output folder with tables, plots and the COSMIC decomposition),
    measured as ``bench_extract.run_sigfactor`` measures it: the counterpart of
    SigProfilerExtractor's wall time."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_extract import run_sigfactor

    from sigfactor import datasets

    load_before = os.getloadavg()
    ours = run_sigfactor(datasets.fetch(COHORTS[cohort]["loader"]), [rank], restarts, resample=True, seed=0,
                         device="cpu", extra_args=("--solver", solver))
    return {"sigfactor_cli_wall_s": ours["wall_s"], "sigfactor_cli_extract_s": ours["extract_s"],
            "sigfactor_cli_peak_rss_mb": ours["peak_rss_mb"], "sigfactor_cli_command": ours["command"],
            "sigfactor_cli_load": [load_before, os.getloadavg()]}


def spe_rows(time_run: dict, spe_runs: list[dict]) -> list[dict]:
    """Per-rank rows setting SigProfilerExtractor against sigfactor, and a ``"subset"`` row of sums
    over the ranks SigProfilerExtractor finished (its ratios are of the sums).

    ``ratio``: SigProfilerExtractor's whole-process wall time over ``sigfactor extract``'s
    (both end to end, as ``bench_extract.py``'s speed-up). ``ratio_extraction``:
    SigProfilerExtractor's own time for the rank (``JOB_METADATA.txt``) over sigfactor's seconds
    for the rank in the in-process time run. A rank SigProfilerExtractor did not finish in time
    has ``timed_out`` set, its ``ratio`` is a lower bound and ``ratio_extraction`` None.
    """
    rows = []
    for spe in spe_runs:
        k = spe["rank"]
        ours = time_run["per_rank_s"][k]
        done = not spe["spe_timed_out"]
        rows.append({"rank": k, "timed_out": not done, "sigfactor_s": ours,
                     "sigfactor_mean_iterations": time_run["mean_iterations"][k],
                     "sigfactor_cli_wall_s": spe["sigfactor_cli_wall_s"],
                     "spe_replicate_s_before_stop": spe.get("spe_replicate_s_before_stop"),
                     **{key: spe[key] for key in ("spe_wall_s", "spe_extraction_s", "spe_nmf_s", "spe_iterations",
                                                  "spe_peak_rss_mb")},
                     "ratio": spe["spe_wall_s"] / spe["sigfactor_cli_wall_s"],
                     "ratio_extraction": spe["spe_extraction_s"] / ours if done else None})
    finished = [r for r in rows if not r["timed_out"]]
    if finished:
        total = {key: float(sum(r[key] for r in finished))
                 for key in ("sigfactor_s", "sigfactor_cli_wall_s", "spe_wall_s", "spe_extraction_s", "spe_nmf_s")}
        rows.append({"rank": "subset", "ranks": [r["rank"] for r in finished], "timed_out": False, **total,
                     "ratio": total["spe_wall_s"] / total["sigfactor_cli_wall_s"],
                     "ratio_extraction": total["spe_extraction_s"] / total["sigfactor_s"]})
    return rows


def extrapolate(time_run: dict, sweep_ranks: list[int], sweep_restarts: int) -> float:
    """The full sweep's wall time from a subset run (module docstring)."""
    measured = sorted(time_run["per_rank_s"])
    if not all(isinstance(k, int) for k in measured):
        raise TypeError(f"time_run['per_rank_s'] has ranks {measured}; expected integers (sorted as numbers).")
    per_restart = np.array([time_run["per_rank_s"][k] / time_run["restarts"] for k in measured])
    full = float(np.interp(sweep_ranks, measured, per_restart).sum() * sweep_restarts)
    subset = float(per_restart.sum() * time_run["restarts"])
    return time_run["wall_s"] * full / subset


def parse_ranks(option: str, items: list[str], cohorts: list[str]) -> dict[str, list[int]]:
    """A ranks option's items (``5,15`` for every cohort, or ``pcawg=5,15``) as cohort -> ranks."""
    found = {}
    for item in items:
        cohort, _, ranks = item.rpartition("=")
        if cohort and cohort not in cohorts:
            raise SystemExit(f"{option} {item!r}: cohort {cohort!r} is not among --cohort {cohorts}.")
        try:
            values = [int(r) for r in ranks.split(",")]
        except ValueError:
            raise SystemExit(f"{option} {item!r} is not valid; expected RANKS or COHORT=RANKS, e.g. pcawg=5,15.")
        if min(values) < 1:
            raise SystemExit(f"{option} {item!r} is not valid; expected ranks of at least 1.")
        for target in ([cohort] if cohort else cohorts):
            found[target] = values
    return found


def _load(run_record: dict) -> str:
    return f"{run_record['load_before'][0]:.1f} / {run_record['load_after'][0]:.1f}"


def print_tables(rows: list[dict], comparisons: list[dict]) -> None:
    """The executors' table and, with ``--spe``, the per-rank table against SigProfilerExtractor."""
    print("| cohort | executor | solver | time run (measured) | wall s | full sweep (extrapolated) | memory run | "
          "peak RSS main MB | peak RSS workers MB | load before / after time run |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        wall = f"{r['measured_wall_s']:.0f}" if "measured_wall_s" in r else "-"
        full = f"{r['sweep']}: ~{r['extrapolated_sweep_s'] / 60:.0f} min" if "extrapolated_sweep_s" in r else "-"
        workers = ", ".join(f"{w:.0f}" for w in r["workers_peak_mb"]) if r.get("workers_peak_mb") else "-"
        main_mb = f"{r['main_peak_mb']:.0f}" if "main_peak_mb" in r else "-"
        load = _load(r["time_run"]) if "time_run" in r else "-"
        print(f"| {r['cohort']} | {r['executor']} | {r.get('solver', 'mu')} | {r.get('measured', '-')} | {wall} | {full} | "
              f"{r.get('memory_measured', '-')} | {main_mb} | {workers} | {load} |")
    if not comparisons:
        return
    print()
    print("| cohort | solver | rank | restarts | sigfactor s (rank, in-process) | sigfactor mean iterations | "
          "sigfactor extract s (command, end to end) | SPE wall s (end to end) | SPE extraction s (rank) | "
          "SPE NMF s | SPE iterations per replicate | ratio end to end | ratio extraction | load before / after SPE |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|")
    for comp in comparisons:
        for r in comp["rows"]:
            subset = r["rank"] == "subset"
            rank = f"{'+'.join(map(str, r['ranks']))} (sum)" if subset else str(r["rank"])
            if subset:
                cells = ["-", "-", f"{r['spe_extraction_s']:.0f}", f"{r['spe_nmf_s']:.1f}", "-"]
            elif r["timed_out"]:
                done = r["spe_replicate_s_before_stop"]
                cells = [f"{r['sigfactor_mean_iterations']:,.0f}", f">{r['spe_wall_s']:.0f} (stopped; {len(done)} of "
                         f"{comp['restarts']} replicates done)", "-", "-", "-"]
            else:
                cells = [f"{r['sigfactor_mean_iterations']:,.0f}", f"{r['spe_wall_s']:.1f}",
                         f"{r['spe_extraction_s']:.0f}", f"{r['spe_nmf_s']:.1f}",
                         ", ".join(f"{i:,}" for i in r["spe_iterations"])]
            if subset:
                cells[1] = f"{r['spe_wall_s']:.1f}"
            ratio = f"{'>' if r['timed_out'] else ''}{r['ratio']:.1f}x"
            extraction = "-" if r["ratio_extraction"] is None else f"{r['ratio_extraction']:.1f}x"
            run = next((x for x in comp["spe_runs"] if x["rank"] == r["rank"]), None)
            print(f"| {comp['cohort']} | {comp.get('solver', 'mu')} | {rank} | {comp['restarts']} | {r['sigfactor_s']:.1f} | {cells[0]} | "
                  f"{r['sigfactor_cli_wall_s']:.1f} | {cells[1]} | {cells[2]} | {cells[3]} | {cells[4]} | {ratio} | "
                  f"{extraction} | {'-' if run is None else _load(run)} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--cohort", nargs="+", default=["pcawg"], choices=sorted(COHORTS))
    parser.add_argument("--executor", nargs="+", default=["inprocess", "local"], choices=("inprocess", "local"))
    parser.add_argument("--time-ranks", nargs="+", default=[], metavar="[COHORT=]RANKS",
                        help="ranks of the time run, e.g. 5,15,25 or pcawg=5,15,25 tcga=5,10 (default per cohort)")
    parser.add_argument("--time-restarts", type=int, default=4)
    parser.add_argument("--memory-iter", type=int, default=100, help="iteration cap of the memory run")
    parser.add_argument("--skip-time", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--spe", action="store_true",
                        help="also run SigProfilerExtractor (from .spe-venv) once per rank of --spe-ranks")
    parser.add_argument("--spe-ranks", nargs="+", default=[], metavar="[COHORT=]RANKS",
                        help="ranks for SigProfilerExtractor, a subset of the time run's, e.g. 5,15 or "
                        "pcawg=5,15 tcga=5 (default: the time run's)")
    parser.add_argument("--spe-out", default=None, help="folder for SigProfilerExtractor's output (default: a new "
                        "temporary folder); its COHORT_rankK subfolders must not exist")
    parser.add_argument("--spe-timeout", type=float, default=None,
                        help="stop a SigProfilerExtractor run after this many seconds and record the lower bound")
    parser.add_argument("--solver", nargs="+", default=["mu"], choices=("mu", "cd"),
                        help="extract's KL solvers to measure, each in every run (default: mu, extract's default)")
    parser.add_argument("--json", default=None, help="write the measurements here (rewritten after every run)")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return
    if args.spe_timeout is not None and args.spe_timeout <= 0:
        parser.error(f"--spe-timeout {args.spe_timeout} is not valid; expected a positive number of seconds.")
    if args.time_restarts < 1:
        parser.error(f"--time-restarts {args.time_restarts} is not valid; expected at least 1.")
    if args.spe and (args.skip_time or "inprocess" not in args.executor):
        parser.error("--spe sets SigProfilerExtractor against sigfactor's in-process time run; expected "
                     "'inprocess' among --executor and no --skip-time.")
    time_ranks = {c: COHORTS[c]["time_ranks"] for c in args.cohort}
    time_ranks.update(parse_ranks("--time-ranks", args.time_ranks, args.cohort))
    spe_ranks = dict(time_ranks)
    spe_ranks.update(parse_ranks("--spe-ranks", args.spe_ranks, args.cohort))
    for cohort in args.cohort if args.spe else []:
        missing = sorted(set(spe_ranks[cohort]) - set(time_ranks[cohort]))
        if missing:
            parser.error(f"--spe-ranks: {cohort} ranks {missing} are not in its time run's {time_ranks[cohort]}; "
                         "expected a subset of the time run's ranks.")
    if args.spe:
        spe_out = Path(args.spe_out) if args.spe_out else Path(tempfile.mkdtemp(prefix="bench_scale_spe_"))
        spe_out.mkdir(parents=True, exist_ok=True)
    rows, comparisons = [], []

    def save() -> None:
        if args.json:
            record = {"machine": machine(), "command": sys.argv, "executors": rows, "spe": comparisons}
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(record, fh, indent=1, default=str)

    for cohort in args.cohort:
        info, ranks = COHORTS[cohort], time_ranks[cohort]
        for executor in args.executor:
            for solver in args.solver:
                row = {"cohort": cohort, "executor": executor, "solver": solver,
                       "sweep": f"ranks {info['ranks'][0]}-{info['ranks'][-1]} x {info['restarts']}"}
                if not args.skip_time:
                    t = run({"cohort": cohort, "executor": executor, "solver": solver, "ranks": ranks,
                             "restarts": args.time_restarts})
                    row.update(time_run=t, measured=f"ranks {','.join(map(str, ranks))} x {args.time_restarts}",
                               measured_wall_s=t["wall_s"],
                               extrapolated_sweep_s=extrapolate(t, info["ranks"], info["restarts"]))
                if not args.skip_memory:
                    m = run({"cohort": cohort, "executor": executor, "solver": solver, "ranks": [info["ranks"][-1]],
                             "restarts": info["restarts"], "max_iter": args.memory_iter})
                    row.update(memory_run=m, memory_measured=f"rank {info['ranks'][-1]} x {info['restarts']}, "
                               f"{args.memory_iter} iterations", main_peak_mb=m["main_peak_mb"],
                               workers_peak_mb=m["workers_peak_mb"])
                rows.append(row)
                save()
                print(json.dumps({k: v for k, v in row.items() if not k.endswith("_run")}), file=sys.stderr,
                      flush=True)
        if args.spe:
            mine = {solver: {"cohort": cohort, "solver": solver, "restarts": args.time_restarts, "spe_runs": [],
                             "rows": []} for solver in args.solver}
            comparisons.extend(mine.values())
            for k in spe_ranks[cohort]:
                ours = {solver: run_sigfactor_rank(cohort, k, args.time_restarts, solver) for solver in args.solver}
                spe = run_spe_rank(cohort, k, args.time_restarts, spe_out / f"{cohort}_rank{k}", args.spe_timeout)
                for solver, comparison in mine.items():
                    time_run = next(r["time_run"] for r in rows if (r["cohort"], r["executor"], r["solver"])
                                    == (cohort, "inprocess", solver))
                    comparison["spe_runs"].append({**spe, **ours[solver]})
                    comparison["rows"] = spe_rows(time_run, comparison["spe_runs"])
                save()
                print(json.dumps({key: v for key, v in {**spe, **{f"sigfactor_cli_wall_s_{solver}": o["sigfactor_cli_wall_s"]
                                                                  for solver, o in ours.items()}}.items()
                                  if key != "spe_versions"}), file=sys.stderr, flush=True)
    print_tables(rows, comparisons)


if __name__ == "__main__":
    main()
