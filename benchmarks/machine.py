"""The machine a benchmark ran on, recorded in its JSON.

Timings differ between machines by more than between versions: on an Intel Xeon, before
sigfactor flushed subnormal numbers, the multiplicative update ran 12 times slower at PCAWG
rank 20 than after; the earlier machine's figures, whose CPU was not recorded, show no such
cost.
"""
from __future__ import annotations

import os
import platform


def machine() -> dict:
    """CPU model name, family and model numbers, AVX-512, and the CPUs this process may use
    (Linux's ``/proc/cpuinfo``; the platform's processor string elsewhere)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    out = {"cpu": platform.processor() or platform.machine(), "cpus": cpus}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            first = info.read().split("\n\n")[0]
    except OSError:
        return out
    fields = {key.strip(): value.strip() for key, value in
              (line.split(":", 1) for line in first.splitlines() if ":" in line)}
    out.update(cpu=fields.get("model name", out["cpu"]), family=fields.get("cpu family"),
               model=fields.get("model"), avx512="avx512f" in fields.get("flags", "").split())
    return out
