"""Benchmark (not a test): SigProfilerExtractor's KL update with and without subnormal numbers.

Multiplicative updates drive entries of ``W`` and ``H`` towards 0 through the subnormal range
(below 1.2e-38 in float32); on Intel cores each operation on a subnormal costs a microcode
assist. sigfactor's kernels flush them to 0 (``benchmarks/README.md``, "Subnormal numbers");
SigProfilerExtractor's update (``nmf_cpu.NMF.fit`` with ``beta=1``, float32 PyTorch) runs with
torch's default, no flush. This script runs that update, one thread, on a real catalogue
(PCAWG, raw counts) from one random start (``init_method="random"``, numpy generator seeded
0), ``--blocks`` blocks of 1,000 iterations, twice: with ``torch.set_flush_denormal(False)``
(SigProfilerExtractor's setting) and ``True``. Each block reports its milliseconds per
iteration and the fraction of ``W``'s and ``H``'s entries that are subnormal at its end.

Run it in ``.spe-venv`` (``scripts/bench_env.sh``)::

    SIGFACTOR_DATA=/work/shared/data .spe-venv/bin/python benchmarks/spe_subnormal.py \\
        --rank 15 --blocks 6 --json benchmarks/results/spe_subnormal_xeon.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from SigProfilerExtractor.nmf_cpu import NMF

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine  # noqa: E402

PCAWG = "catalogues/WGS_PCAWG.96.csv"


def subnormal_fraction(A: np.ndarray) -> float:
    """Fraction of the entries of ``A`` that are non-zero and below float32's smallest normal."""
    return float(((A != 0) & (np.abs(A) < np.finfo(np.float32).tiny)).mean())


def run(V: torch.Tensor, rank: int, blocks: int, flush: bool) -> list[dict]:
    """``blocks`` x 1,000 of SigProfilerExtractor's KL updates with the flush set to ``flush``."""
    torch.set_flush_denormal(flush)
    nmf = NMF(V, rank, max_iterations=1000, min_iterations=10**9, test_conv=10**9,
              generator=np.random.default_rng(0), init_method="random")
    rows = []
    for b in range(blocks):
        started = time.perf_counter()
        nmf.fit(beta=1)
        seconds = time.perf_counter() - started
        rows.append({"iterations": 1000 * (b + 1), "ms_per_iteration": seconds,     # seconds per 1,000 = ms per one
                     "subnormal_W": subnormal_fraction(nmf.W.numpy()),
                     "subnormal_H": subnormal_fraction(nmf.H.numpy())})
        print(f"flush={flush} {rows[-1]}", file=sys.stderr, flush=True)
    torch.set_flush_denormal(False)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rank", type=int, default=15)
    parser.add_argument("--blocks", type=int, default=6, help="blocks of 1,000 iterations")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    data = Path(os.environ.get("SIGFACTOR_DATA", "../shared/data")) / PCAWG
    torch.set_num_threads(1)
    counts = pd.read_csv(data, index_col=[0, 1]).to_numpy(np.float32)       # 96 x 2,780
    V = torch.from_numpy(counts[None].copy())
    record = {"machine": machine(), "command": sys.argv, "catalogue": str(data), "rank": args.rank,
              "torch": torch.__version__, "threads": 1,
              "runs": {f"flush={flush}": run(V, args.rank, args.blocks, flush) for flush in (False, True)}}
    print("| iterations | ms per iteration, no flush | subnormal W, H | ms per iteration, flush |")
    print("|---:|---:|---|---:|")
    for off, on in zip(record["runs"]["flush=False"], record["runs"]["flush=True"]):
        print(f"| {off['iterations']:,} | {off['ms_per_iteration']:.2f} | {off['subnormal_W']:.1%}, "
              f"{off['subnormal_H']:.1%} | {on['ms_per_iteration']:.2f} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=1)


if __name__ == "__main__":
    main()
