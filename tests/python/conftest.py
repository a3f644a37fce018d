"""Test set-up shared by every test module: data comes from the project's shared mirror, never the network."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

REPO = Path(__file__).resolve().parents[2]

# The public cohorts come from the shared data folder beside the repository (or $SIGFACTOR_DATA);
# SIGFACTOR_OFFLINE makes any attempt to download an error instead of a network access.
os.environ.setdefault("SIGFACTOR_DATA", str(REPO.parent / "shared" / "data"))
os.environ["SIGFACTOR_OFFLINE"] = "1"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The mirror folder of the public data (project layout: catalogues/, synthetic/, ...)."""
    folder = Path(os.environ["SIGFACTOR_DATA"])
    if not (folder / "catalogues").is_dir():
        pytest.fail(f"SIGFACTOR_DATA={folder} does not hold the shared data (catalogues/ missing).")
    return folder


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Downloads cache in a fresh folder, so a user's cache cannot change a result."""
    monkeypatch.setenv("SIGFACTOR_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def breast21_counts():
    """The bundled 21 breast genomes as a samples x channels integer array (SigProfiler order)."""
    from sigfactor import datasets

    return datasets.breast21().counts.copy()


@pytest.fixture(scope="session")
def cosmic_frame():
    """COSMIC v3.4 SBS GRCh37, channels x signatures, canonical labels."""
    from sigfactor import reference

    return reference.cosmic()


def matched_cosines(truth: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Cosine of each true signature with its Hungarian-matched found signature
    (scipy's assignment, independent of sigfactor.matching)."""
    a = truth / np.linalg.norm(truth, axis=0)
    b = found / np.linalg.norm(found, axis=0)
    sim = a.T @ b
    rows, cols = linear_sum_assignment(-sim)
    return sim[rows, cols]


def sweep_by_hand(stats, n: int) -> tuple[list[int], bool]:
    """Ranks a sweep with ``stop_after_unstable=n`` fits, from a table's stabilities by
    SigProfilerExtractor's thresholds written out here (average >= 0.8, minimum >= 0.2, sum >= 1,
    both rounded to two decimals): after the ``n``-th unstable rank in a row following a stable
    rank, no more; and whether that stop was reached."""
    fitted, run, seen = [], 0, False
    for k, row in stats.iterrows():
        avg, low = round(row["avg_stability"], 2), round(row["min_stability"], 2)
        stable = avg >= 0.8 and low >= 0.2 and avg + low >= 1.0
        seen = seen or stable
        run = run + 1 if seen and not stable else 0
        fitted.append(int(k))
        if run == n:
            return fitted, True
    return fitted, False
