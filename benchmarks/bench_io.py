"""Benchmark (not a test): read the TCGA exome catalogue (9,493 samples) and write it as .h5ad.

Usage::

    SIGFACTOR_DATA=../shared/data .venv/bin/python benchmarks/bench_io.py [--repeat 5]

Prints the best and median wall time of each step; the target is under 2 s each on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from sigfactor import datasets
from sigfactor.catalogue import read_catalogue, write_catalogue


def _time(step, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each step (default 5)")
    args = parser.parse_args()

    path = datasets.fetch("tcga_wes")
    catalogue = read_catalogue(path)  # warm-up: imports, file cache
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "tcga.h5ad"
        steps = {
            f"read {path.name} ({catalogue.n_samples} samples)": lambda: read_catalogue(path),
            "write .h5ad": lambda: write_catalogue(catalogue, out),
            "read .h5ad": lambda: read_catalogue(out),
        }
        write_catalogue(catalogue, out)
        print(f"cores available: {len(os.sched_getaffinity(0))}; repeats: {args.repeat}")
        for name, step in steps.items():
            times = _time(step, args.repeat)
            print(f"{name:55s} best {min(times):6.3f} s  median {statistics.median(times):6.3f} s")


if __name__ == "__main__":
    main()
