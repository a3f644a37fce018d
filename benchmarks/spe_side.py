"""SigProfilerExtractor side of the extraction benchmark (``bench_extract.py``).

Runs SigProfilerExtractor 1.4.1 from ``.spe-venv/`` (made by ``scripts/bench_env.sh``) in a
subprocess under GNU ``/usr/bin/time -v``, and reads back its suggested solution. Not a test.

Usage (smoke run)::

    .venv/bin/python benchmarks/spe_side.py python/sigfactor/data/catalogues/breast21_SBS96.txt \\
        --ranks 2-3 --replicates 2 --seed 1 --out benchmarks/results/tmp/spe_smoke

What is measured
----------------
``wall_s``
    GNU time's elapsed wall time of the whole SigProfilerExtractor process: Python start-up
    and imports, extraction over the ranks, rank selection, the COSMIC decomposition of the
    suggested solution (SigProfilerAssignment) and writing its output folder.
``peak_rss_mb``
    GNU time's "Maximum resident set size": the largest RSS of any single process of the run
    (the main process or one of its pool workers, whichever peaked highest), in MB (10^6 bytes).
    This is what ``/usr/bin/time -v`` reports and how the reference numbers were taken.
``peak_tree_pss_mb``
    The peak, sampled every 0.2 s, of the summed proportional set size (PSS) of the process and
    all its descendants: the memory the run held in total (SigProfilerExtractor's pool workers
    are spawned, each importing torch; PSS counts the shared libraries they map once). Use it
    next to a single-process engine's peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from sigfactor import channels
from sigfactor._validation import check_int
from sigfactor.catalogue import read_catalogue, write_catalogue
from sigfactor.matching import match_signatures

__all__ = ["run_spe", "compare_signatures", "spe_python", "SPE_VERSION"]

SPE_VERSION = "1.4.1"
REPO = Path(__file__).resolve().parents[1]
GNU_TIME = "/usr/bin/time"

# Runs inside .spe-venv: records versions and SigProfilerExtractor's own defaults, then extracts.
# A file (not ``python -c``) so that multiprocessing works under any start method.
_RUNNER = '''\
import inspect, json, sys
from importlib.metadata import version

def main():
    args = json.loads(open(sys.argv[1]).read())
    from SigProfilerExtractor import sigpro
    packages = ["SigProfilerExtractor", "SigProfilerAssignment", "SigProfilerMatrixGenerator",
                "sigProfilerPlotting", "torch", "numpy", "scipy", "pandas", "scikit-learn"]
    defaults = {name: p.default for name, p in
                inspect.signature(sigpro.sigProfilerExtractor).parameters.items()
                if p.default is not inspect.Parameter.empty}
    with open(sys.argv[2], "w") as fh:
        json.dump({"python": sys.version.split()[0],
                   "versions": {p: version(p) for p in packages},
                   "spe_defaults": defaults}, fh, indent=1, default=repr)
    sigpro.sigProfilerExtractor(**args)

if __name__ == "__main__":
    main()
'''


def spe_python() -> Path:
    """Path of the Python that has SigProfilerExtractor: ``$SIGFACTOR_SPE_PYTHON`` or ``.spe-venv``."""
    path = Path(os.environ.get("SIGFACTOR_SPE_PYTHON", REPO / ".spe-venv" / "bin" / "python"))
    if not path.is_file():
        raise FileNotFoundError(
            f"SigProfilerExtractor's Python '{path}' does not exist; run scripts/bench_env.sh "
            "(or set SIGFACTOR_SPE_PYTHON to a Python that has SigProfilerExtractor 1.4.1)."
        )
    return path


def _check_ranks(ranks) -> tuple[int, int]:
    if not isinstance(ranks, (tuple, list)) or len(ranks) != 2:
        raise ValueError(f"ranks={ranks!r} is not valid; expected (lowest, highest), e.g. (1, 5).")
    low = check_int("ranks[0]", ranks[0], low=1)
    high = check_int("ranks[1]", ranks[1], low=low)
    return low, high


def _seed_file(seed: int, path: Path) -> Path:
    """SigProfilerExtractor's ``seeds`` argument: a tab-separated file with one ``Seed`` row.

    It seeds ``numpy.random.SeedSequence(seed)``, from which SigProfilerExtractor spawns the
    resampling, initialisation and clustering generators of every rank and replicate.
    """
    pd.DataFrame({"Seed": [int(seed)]}).to_csv(path, sep="\t")
    return path


def _parse_gnu_time(text: str) -> dict:
    """Wall seconds, max RSS (MB) and exit status from ``/usr/bin/time -v`` output."""
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    status = re.search(r"Exit status: (\d+)", text)
    if not (wall and rss and status):
        raise RuntimeError(f"could not read GNU time's report; it said:\n{text[-2000:]}")
    seconds = 0.0
    for part in wall.group(1).split(":"):
        seconds = seconds * 60 + float(part)
    return {"wall_s": seconds, "peak_rss_mb": int(rss.group(1)) * 1024 / 1e6,
            "exit_status": int(status.group(1))}


def _descendants(pid: int) -> list[int]:
    """``pid`` and every live descendant, from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeMemory(threading.Thread):
    """Samples the summed PSS of a process tree until stopped; ``peak_mb`` holds the maximum."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_kb = pid, interval, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(p) for p in _descendants(self.pid)))
            self._stop_event.wait(self.interval)

    def stop(self) -> float:
        self._stop_event.set()
        self.join()
        return self.peak_kb * 1024 / 1e6


def _chosen_rank(kind_dir: Path) -> int:
    """The rank SigProfilerExtractor marked with ``*`` in ``All_solutions_stat.csv``."""
    table = pd.read_csv(kind_dir / "All_solutions_stat.csv")
    marked = [str(s) for s in table["Signatures"] if str(s).endswith("*")]
    if len(marked) != 1:
        raise RuntimeError(f"{kind_dir / 'All_solutions_stat.csv'} marks {len(marked)} solutions with '*'; expected one.")
    return int(marked[0].rstrip("*"))


def _iterations(kind_dir: Path, kind: str) -> dict[int, list[int]]:
    """NMF iterations each replicate ran, per rank, from the ``*_NMF_Convergence_Information.txt`` files."""
    found = {}
    for path in sorted(kind_dir.glob(f"All_Solutions/{kind}_*_Signatures/Solution_Stats/{kind}_S*_NMF_Convergence_Information.txt")):
        rank = int(path.name[len(kind) + 2:].split("_")[0])
        table = pd.read_csv(path, sep="\t")
        found[rank] = [int(x) for x in table["Convergence Iterations"]]
    return dict(sorted(found.items()))


def _read_signatures(path: Path, kind: str) -> pd.DataFrame:
    """A SigProfiler signature file as channels x k, rows relabelled canonically, in SigProfiler order."""
    table = pd.read_csv(path, sep="\t", index_col=0)
    table.index = channels.to_canonical(table.index, kind=kind)
    expected = list(channels.KINDS[kind])
    if table.index.duplicated().any() or set(table.index) != set(expected):
        raise RuntimeError(f"{path} does not hold each of the {len(expected)} {kind} channels exactly once.")
    table = table.loc[expected].astype(float)
    table.index.name = "MutationType"
    return table


def _kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and its live descendants (the run's own processes), deepest first."""
    for p in reversed(_descendants(pid)):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _run_measured(command: list[str], workdir: Path, total_ranks: int, progress: bool,
                  timeout: float | None = None) -> dict:
    """Run ``command`` under GNU time, streaming its output to ``spe.log`` and a progress bar;
    stop its whole process tree and raise ``TimeoutError`` past ``timeout`` seconds."""
    time_report = workdir / "time_v.txt"
    log_path = workdir / "spe.log"
    full = [GNU_TIME, "-v", "-o", str(time_report), *command]
    bar = tqdm(total=total_ranks, desc="SigProfilerExtractor", unit="rank", disable=not progress)
    start = time.perf_counter()
    with open(log_path, "w") as log, subprocess.Popen(
        full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=workdir,
    ) as proc:
        memory = TreeMemory(proc.pid)
        memory.start()
        expired = threading.Event()

        def expire():
            expired.set()
            _kill_tree(proc.pid)

        timer = threading.Timer(timeout, expire) if timeout is not None else None
        if timer is not None:
            timer.start()
        try:
            for line in proc.stdout:
                log.write(line)
                if line.startswith("Extracting signature"):
                    bar.set_postfix_str(line.split(" for ")[0].replace("Extracting signature", "rank"))
                elif line.startswith("Time taken to collect"):
                    bar.update(1)
            proc.wait()
        finally:
            if timer is not None:
                timer.cancel()
                timer.join()
        tree_pss = memory.stop()
    bar.close()
    outer_wall = time.perf_counter() - start
    if expired.is_set():
        error = TimeoutError(f"SigProfilerExtractor ran past timeout={timeout} s and was stopped after "
                             f"{outer_wall:.0f} s.")
        error.log = log_path.read_text(errors="replace")        # what it printed before it was stopped
        raise error
    if not time_report.is_file():
        raise RuntimeError(f"{GNU_TIME} wrote no report (exit {proc.returncode}); is GNU time installed? "
                           "Run scripts/bench_env.sh.")
    measured = _parse_gnu_time(time_report.read_text())
    if proc.returncode != 0 or measured["exit_status"] != 0:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-30:])
        raise RuntimeError(f"SigProfilerExtractor failed (exit {proc.returncode}); last lines of its output:\n{tail}")
    measured.update(peak_tree_pss_mb=tree_pss, outer_wall_s=outer_wall)
    return measured


def run_spe(catalogue_path, ranks=(1, 5), replicates: int = 10, resample: bool = True, seed: int = 0,
            out_dir=None, cpu: int = 2, progress: bool = True, timeout: float | None = None) -> dict:
    """Run SigProfilerExtractor 1.4.1 on a catalogue and measure it.

    Calls ``sigProfilerExtractor("matrix", ...)`` with SigProfilerExtractor's defaults for
    everything not named here (KL multiplicative updates in float32, random initialisation,
    ``gmm`` normalisation, 10,000 to 1,000,000 iterations with a convergence test every 10,000,
    tolerance 1e-15; see benchmarks/README.md), except ``make_decomposition_plots=False`` and
    ``assignment_cpu=cpu``.

    Parameters
    ----------
    catalogue_path : str or os.PathLike
        Any catalogue file sigfactor reads (SBS96, DBS78 or ID83). It is rewritten in
        SigProfiler's layout for SigProfilerExtractor, so both tools see the same counts.
    ranks : (int, int)
        Lowest and highest number of signatures (``minimum_signatures``, ``maximum_signatures``).
    replicates : int
        NMF replicates per rank (``nmf_replicates``).
    resample : bool
        Fit each replicate to a multinomial resample of the catalogue (``resample``).
    seed : int
        Non-negative integer written to the ``seeds`` file; it seeds every random choice of the
        run (resampling, initial values, clustering).
    out_dir : str or os.PathLike
        Folder for SigProfilerExtractor's output; must not exist. Written atomically: the run
        works in a temporary sibling folder, renamed only on success.
    cpu : int
        Worker processes (``cpu``, and ``assignment_cpu`` for the COSMIC decomposition;
        SigProfilerExtractor's default -1 for both means all cores). Each
        process computes on one thread: SigProfilerExtractor sets ``OMP_NUM_THREADS=1`` (and
        MKL, numexpr) when imported, and starts its pools with the ``spawn`` method.
    progress : bool
        Show a progress bar over the ranks.
    timeout : float, optional
        Seconds after which the run's whole process tree is stopped and ``TimeoutError``
        raised, with SigProfilerExtractor's output so far as its ``log`` attribute (no folder is
        kept); None (the default) waits for it to finish.

    Returns
    -------
    dict
        ``wall_s``, ``peak_rss_mb``, ``chosen_rank`` and ``signatures`` (channels x k DataFrame of
        the suggested solution's De-Novo signatures, canonical labels in SigProfiler order,
        columns ``SBS96A``...), and also ``peak_tree_pss_mb``, ``outer_wall_s`` (wall time seen
        from here), ``nmf_iterations`` (rank -> iterations each replicate ran, the number to
        give sigfactor for equal work), ``solutions`` (``All_solutions_stat.csv``), ``out_dir``,
        ``seed``, ``parameters``, ``versions`` and ``spe_defaults``. The same, less the DataFrames, is
        written to ``out_dir/run.json``.
    """
    low, high = _check_ranks(ranks)
    replicates = check_int("replicates", replicates, low=1)
    cpu = check_int("cpu", cpu, low=1)
    seed = check_int("seed", seed, low=0)
    if timeout is not None and not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
                                    and timeout > 0):
        raise ValueError(f"timeout={timeout!r} is not valid; expected None or a positive number of seconds.")
    if not isinstance(resample, bool):
        raise TypeError(f"resample={resample!r} is not valid; expected True or False.")
    if out_dir is None:
        raise ValueError("out_dir=None is not valid; expected a folder path that does not exist yet.")
    out_dir = Path(out_dir).resolve()
    if out_dir.exists():
        raise FileExistsError(f"out_dir '{out_dir}' already exists; expected a new folder (remove it or pick another).")
    if not out_dir.parent.is_dir():
        raise ValueError(f"out_dir '{out_dir}': folder '{out_dir.parent}' does not exist; create it first.")
    python = spe_python()
    if not Path(GNU_TIME).is_file():
        raise FileNotFoundError(f"{GNU_TIME} (GNU time) is missing; run scripts/bench_env.sh.")
    catalogue = read_catalogue(catalogue_path)

    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        matrix = write_catalogue(catalogue, work / f"catalogue_{catalogue.kind}.txt", format="sigprofiler")
        parameters = {
            "input_type": "matrix", "output": str(work), "input_data": str(matrix),
            "minimum_signatures": low, "maximum_signatures": high, "nmf_replicates": replicates,
            "resample": resample, "seeds": str(_seed_file(seed, work / "seed_input.tsv")),
            "cpu": cpu, "assignment_cpu": cpu, "make_decomposition_plots": False,
        }
        (work / "spe_args.json").write_text(json.dumps(parameters, indent=1))
        (work / "spe_runner.py").write_text(_RUNNER)
        command = [str(python), "spe_runner.py", "spe_args.json", "versions.json"]
        n_ranks = min(high, catalogue.n_samples) - min(low, catalogue.n_samples) + 1
        measured = _run_measured(command, work, n_ranks, progress, timeout)

        kind_dir = work / catalogue.kind
        rank = _chosen_rank(kind_dir)
        sig_file = (kind_dir / "Suggested_Solution" / f"{catalogue.kind}_De-Novo_Solution" / "Signatures"
                    / f"{catalogue.kind}_De-Novo_Signatures.txt")
        signatures = _read_signatures(sig_file, catalogue.kind)
        if signatures.shape[1] != rank:
            raise RuntimeError(f"{sig_file} has {signatures.shape[1]} signatures but the chosen rank is {rank}.")
        solutions = pd.read_csv(kind_dir / "All_solutions_stat.csv")
        iterations = _iterations(kind_dir, catalogue.kind)
        info = json.loads((work / "versions.json").read_text())
        record = {
            **{k: measured[k] for k in ("wall_s", "peak_rss_mb", "peak_tree_pss_mb", "outer_wall_s")},
            "chosen_rank": rank, "nmf_iterations": iterations, "seed": seed,
            "catalogue": str(Path(catalogue_path).resolve()),
            "command": [GNU_TIME, "-v", *command],
            "parameters": {**parameters, "output": str(out_dir),
                           "input_data": str(out_dir / matrix.name),
                           "seeds": str(out_dir / "seed_input.tsv")},
            "versions": info["versions"], "python": info["python"], "spe_defaults": info["spe_defaults"],
        }
        (work / "run.json").write_text(json.dumps(record, indent=1))
        work.rename(out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    record["out_dir"] = str(out_dir)
    record["signatures"] = signatures
    record["solutions"] = solutions
    return record


def compare_signatures(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Hungarian-matched cosine similarities between two signature sets (channels x k each).

    Rows are matched by label (both must hold the same channels). Returns one row per
    signature of ``a``: ``signature``, its one-to-one ``match`` in ``b`` and their ``cosine``,
    and ``best``/``best_cosine``, its most similar signature in ``b`` regardless of the
    matching; ``result["cosine"].mean()`` is the mean matched cosine.
    """
    for name, frame in (("a", a), ("b", b)):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"{name} is a {type(frame).__name__}; expected a DataFrame of channels x signatures.")
    if set(a.index) != set(b.index):
        raise ValueError(
            f"a and b hold different channels ({len(a.index)} and {len(b.index)} rows, "
            f"{len(set(a.index) ^ set(b.index))} not shared); expected the same mutation types."
        )
    return match_signatures(a, b)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Run SigProfilerExtractor once, measured (see module docstring).")
    parser.add_argument("catalogue", help="catalogue file (e.g. python/sigfactor/data/catalogues/breast21_SBS96.txt)")
    parser.add_argument("--ranks", default="1-5", help="lowest-highest number of signatures (default 1-5)")
    parser.add_argument("--replicates", type=int, default=10, help="NMF replicates per rank (default 10)")
    parser.add_argument("--no-resample", action="store_true", help="fit the catalogue itself, not resamples")
    parser.add_argument("--seed", type=int, default=0, help="seed of the whole run (default 0)")
    parser.add_argument("--cpu", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--out", required=True, help="output folder (must not exist)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        low, high = (int(x) for x in args.ranks.split("-"))
    except ValueError:
        parser.error(f"--ranks {args.ranks!r} is not valid; expected LOW-HIGH, e.g. 1-5.")
    result = run_spe(args.catalogue, ranks=(low, high), replicates=args.replicates,
                     resample=not args.no_resample, seed=args.seed, out_dir=args.out, cpu=args.cpu,
                     progress=not args.quiet)
    print(f"SigProfilerExtractor {result['versions']['SigProfilerExtractor']} (torch {result['versions']['torch']}), "
          f"cores available {len(os.sched_getaffinity(0))}, cpu={args.cpu}")
    print(f"wall {result['wall_s']:.1f} s   max RSS (largest process) {result['peak_rss_mb']:.0f} MB   "
          f"peak PSS of the process tree {result['peak_tree_pss_mb']:.0f} MB")
    print("NMF iterations per replicate: " + "; ".join(
        f"rank {k}: {v}" for k, v in result["nmf_iterations"].items()))
    print(f"chosen rank {result['chosen_rank']}; output in {result['out_dir']}")


if __name__ == "__main__":
    sys.exit(main())
