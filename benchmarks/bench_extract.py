"""Benchmark (not a test): ``sigfactor extract`` at SigProfilerExtractor's scale of work.

Each run is a fresh ``sigfactor extract`` process (so imports and start-up count, as they do for
SigProfilerExtractor), timed by wall clock, with its peak resident memory from ``os.wait4``.
The two scenarios of issue 4 on the 21 breast genomes:

- ``small``: ranks 1-5 x 10 replicates (SigProfilerExtractor 1.4.1 on 2 cores: 117 s, 761 MB);
- ``rank4``: rank 4 x 100 replicates (SigProfilerExtractor 1.4.1 on 2 cores: 157 s).

Usage::

    bash scripts/bench_env.sh      # once: .spe-venv with SigProfilerExtractor 1.4.1
    .venv/bin/python benchmarks/bench_extract.py [--scenario small|rank4|all] [--device cpu|cuda]
        [--seed 0] [--out DIR] [--json results.json] [--no-spe]

Both tools run in the same invocation, one after the other, on the same catalogue, ranks,
replicates and resampling (SigProfilerExtractor through ``spe_side.run_spe``, cpu=2); the
table gives both wall times and peak memory, the speed-up, both chosen ranks and the
Hungarian-matched cosines between the two suggested solutions.

Importable: :func:`run_sigfactor` returns wall time, peak RSS, chosen rank and signatures, for
a side-by-side script that runs SigProfilerExtractor the same way.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from machine import machine

SCENARIOS = {"small": {"ranks": "1-5", "replicates": 10}, "rank4": {"ranks": "4", "replicates": 100}}
SIGPROFILER_2_CORES = {"small": {"wall_s": 117.0, "peak_rss_mb": 761.0}, "rank4": {"wall_s": 157.0}}


def _ranks_arg(ranks) -> str:
    if isinstance(ranks, str):
        return ranks
    if isinstance(ranks, int):
        return str(ranks)
    return ",".join(str(int(r)) for r in ranks)


def run_sigfactor(catalogue_path, ranks, replicates: int, resample: bool = True, seed: int = 0,
                  out_dir=None, *, device: str = "auto", extra_args=()) -> dict:
    """Run ``sigfactor extract`` in a fresh process and measure it.

    Parameters
    ----------
    catalogue_path : str or Path
        Catalogue file (any format sigfactor reads).
    ranks : str, int or iterable of int
        ``"1-5"``, ``4`` or ``[1, 2, 3]``.
    replicates : int
        Restarts per rank (SigProfilerExtractor's ``nmf_replicates``).
    resample : bool
        Multinomial resampling per replicate (SigProfilerExtractor's default).
    seed : int
    out_dir : str or Path, optional
        Output folder (replaced if it exists); a temporary folder when None.
    device : str
        ``auto``, ``cpu`` or ``cuda``.

    Returns
    -------
    dict
        ``wall_s`` (process wall time), ``peak_rss_mb``, ``chosen_rank``, ``signatures``
        (channels x k DataFrame of the suggested solution), ``extract_s`` (time inside
        ``extract`` from ``run.json``), ``command``. ``peak_rss_mb`` is the largest single
        process's peak (the command forks a writer, see ``sigfactor.io.worker``);
        ``peak_tree_pss_mb`` the peak, sampled every 0.05 s, of the summed PSS of the process
        tree, measured as for SigProfilerExtractor.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(out_dir) if out_dir is not None else Path(tmp) / "sigfactor_out"
        command = [sys.executable, "-m", "sigfactor.cli", "extract", str(catalogue_path), "--out", str(out),
                   "--ranks", _ranks_arg(ranks), "--restarts", str(int(replicates)), "--seed", str(int(seed)),
                   "--device", device, "--force", "--quiet", *extra_args]
        if not resample:
            command.append("--no-resample")
        out.parent.mkdir(parents=True, exist_ok=True)
        log = Path(tmp) / "stderr.txt"
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from spe_side import TreeMemory

        with open(log, "wb") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
            memory = TreeMemory(proc.pid, interval=0.05)
            memory.start()
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - started
            tree_pss = memory.stop()
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise RuntimeError(f"sigfactor extract failed (exit {code}): {log.read_text(errors='replace').strip()[-2000:]}")
        record = json.loads((out / "run.json").read_text())
        kind = record["kind"]
        sigs = pd.read_csv(out / kind / "Suggested_Solution" / f"{kind}_De-Novo_Solution" / "Signatures"
                           / f"{kind}_De-Novo_Signatures.txt", sep="\t", index_col="MutationType")
        peak_kb = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss / 1024
        return {"wall_s": wall, "peak_rss_mb": peak_kb / 1024, "peak_tree_pss_mb": tree_pss,
                "chosen_rank": int(record["chosen_rank"]),
                "signatures": sigs, "extract_s": record["timings"]["total_s"], "device": record["device"],
                "command": command}


def _spe_ranks(ranks: str) -> tuple[int, int]:
    low, _, high = ranks.partition("-")
    return int(low), int(high or low)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", default=None, help="catalogue file (default: the bundled 21 breast genomes)")
    parser.add_argument("--scenario", default="all", choices=("small", "rank4", "all"))
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-spe", action="store_true",
                        help="skip SigProfilerExtractor (compare with its reference times instead)")
    parser.add_argument("--out", default=None, help="keep output folders under this folder")
    parser.add_argument("--json", default=None, help="write the measurements here")
    args = parser.parse_args(argv)

    if args.catalogue is None:
        from sigfactor._bundled import bundled_path

        catalogue = bundled_path("catalogues/breast21_SBS96.txt")
    else:
        catalogue = Path(args.catalogue)
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    rows = {}
    for name in names:
        spec = SCENARIOS[name]
        out = Path(args.out) / name if args.out else None
        res = run_sigfactor(catalogue, spec["ranks"], spec["replicates"], True, args.seed, out, device=args.device)
        row = {"ranks": spec["ranks"], "replicates": spec["replicates"],
               "sigfactor_wall_s": round(res["wall_s"], 2), "sigfactor_extract_s": round(res["extract_s"], 2),
               "sigfactor_peak_rss_mb": round(res["peak_rss_mb"], 1),
               "sigfactor_peak_tree_pss_mb": round(res["peak_tree_pss_mb"], 1), "sigfactor_rank": res["chosen_rank"],
               "device": res["device"]}
        if args.no_spe:
            ref = SIGPROFILER_2_CORES[name]
            row.update({"spe_reference_wall_s": ref["wall_s"],
                        "speed_up_vs_reference": round(ref["wall_s"] / res["wall_s"], 1)})
        else:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from spe_side import compare_signatures, run_spe

            spe_out = (Path(args.out) / f"{name}_spe") if args.out else Path(tempfile.mkdtemp()) / "spe"
            spe = run_spe(catalogue, ranks=_spe_ranks(spec["ranks"]), replicates=spec["replicates"],
                          resample=True, seed=args.seed, out_dir=spe_out, cpu=2, progress=False)
            iters = [i for per_rank in spe["nmf_iterations"].values() for i in per_rank]
            table = compare_signatures(res["signatures"], spe["signatures"])
            row.update({
                "spe_wall_s": round(spe["wall_s"], 2), "spe_peak_rss_mb": round(spe["peak_rss_mb"], 1),
                "spe_peak_tree_pss_mb": round(spe["peak_tree_pss_mb"], 1), "spe_rank": spe["chosen_rank"],
                "spe_median_nmf_iterations": float(pd.Series(iters).median()) if iters else None,
                "speed_up": round(spe["wall_s"] / res["wall_s"], 1),
                "speed_up_extraction_only": round(spe["wall_s"] / res["extract_s"], 1),
                "matched_cosines": [round(c, 4) for c in table["cosine"].dropna()],
                "min_matched_cosine": round(float(table["cosine"].min()), 4),
            })
        rows[name] = row
        print(json.dumps({name: row}), flush=True)
    print(pd.DataFrame(rows).T.to_string())
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), **rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
