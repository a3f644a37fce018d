"""Decomposing de novo signatures into reference (COSMIC) signatures.

Each de novo signature ``s`` is written as a sparse non-negative mixture of reference
signatures, ``s ~ R w``:

1. Non-negative least squares (Lawson-Hanson, :func:`scipy.optimize.nnls`) of ``s`` on every candidate reference signature. Candidates
   exclude COSMIC's signatures of possible sequencing artefacts (SBS27, SBS43, SBS45-SBS60,
   SBS95) unless ``exclude=()`` is given.
2. Signatures contributing less than ``min_weight`` (5 %) of the weight are dropped.
3. Backward elimination: the signature whose removal lowers the cosine similarity of the
   reconstruction least is removed, as long as that lowers it by less than ``max_drop``
   (0.01); weights are refitted (NNLS) after each removal.
4. Linked families (SBS2/SBS13, SBS7a-d, SBS10a-d, SBS17a/b): when one member is kept, the
   other members are offered back and kept when they reach ``min_weight``. These signatures
   arise from one process and are often extracted together as one de novo signature.

SBS1 and SBS5 are not forced in (SigProfilerAssignment adds them as background signatures to
every sample, which suits refitting samples, not decomposing one de novo profile). SBS5, SBS40
and SBS3 are flat and similar to each other (cosine about 0.8-0.9), so a flat de novo signature
may be explained by any of them with nearly the same cosine; the decomposition keeps the
combination with the best cosine and the table reports it, and the cosines of the one-to-one
match (:func:`sigfactor.matching.match_signatures`) are reported beside it.

A de novo signature whose decomposition reaches a cosine below ``novel_below`` (0.8) is
reported as new: it is kept under its own name in the COSMIC-decomposed solution.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd


__all__ = ["ARTEFACTS", "FAMILIES", "Decomposition", "decompose_signature", "decompose", "describe"]

ARTEFACTS = tuple(["SBS27", "SBS43"] + [f"SBS{i}" for i in range(45, 61)] + ["SBS95"])
"""COSMIC v3.4 SBS signatures flagged as possible sequencing artefacts."""

FAMILIES = (("SBS2", "SBS13"), ("SBS7a", "SBS7b", "SBS7c", "SBS7d"),
            ("SBS10a", "SBS10b", "SBS10c", "SBS10d"), ("SBS17a", "SBS17b"))
"""Reference signatures that come from one process and are offered back together."""


class Decomposition(NamedTuple):
    """One de novo signature written as reference signatures."""

    weights: pd.Series
    """Reference signature -> fraction (sums to 1), largest first."""
    cosine: float
    """Cosine similarity between the signature and its reconstruction."""
    novel: bool
    """True when ``cosine`` is below the ``novel_below`` threshold."""


def _fit(s: np.ndarray, R: np.ndarray, active: list[int]) -> tuple[np.ndarray, float]:
    """NNLS weights of ``s`` on the ``active`` columns of ``R`` and the cosine of the fit."""
    from scipy.optimize import nnls

    w, _ = nnls(R[:, active], s, maxiter=50 * len(active) + 100)
    recon = R[:, active] @ w
    den = np.linalg.norm(recon) * np.linalg.norm(s)
    return w, float(recon @ s / den) if den > 0 else 0.0


def _removal_cosines(s: np.ndarray, R: np.ndarray, active: list[int]) -> np.ndarray:
    """Cosine of the NNLS reconstruction after removing each active signature."""
    return np.array([_fit(s, R, active[:i] + active[i + 1:])[1] for i in range(len(active))])


def decompose_signature(signature: pd.Series, reference: pd.DataFrame, *, min_weight: float = 0.05,
                        max_drop: float = 0.01, novel_below: float = 0.8,
                        exclude=ARTEFACTS) -> Decomposition:
    """Sparse non-negative decomposition of one signature (module docstring for the steps).

    Parameters
    ----------
    signature : pandas.Series
        Indexed by channel label.
    reference : pandas.DataFrame
        Channels x reference signatures; rows matched by label.
    min_weight, max_drop, novel_below : float
        Thresholds (module docstring).
    exclude : iterable of str
        Reference signatures never used.

    Returns
    -------
    Decomposition
    """
    missing = signature.index.difference(reference.index)
    if len(missing):
        raise ValueError(f"reference lacks {len(missing)} channel(s) of the signature, e.g. {list(missing[:3])}.")
    ref = reference.loc[signature.index, [c for c in reference.columns if c not in set(exclude)]]
    if ref.shape[1] == 0:
        raise ValueError("reference has no signatures left after excluding artefacts; pass exclude=().")
    s = signature.to_numpy(np.float64) / signature.sum()
    R = ref.to_numpy(np.float64) / ref.sum(axis=0).to_numpy()
    names = list(ref.columns)
    active = list(range(len(names)))
    w, cos = _fit(s, R, active)
    active = [a for a, x in zip(active, w) if x > 0 and x >= min_weight * w.sum()] or [int(np.argmax(w))]
    w, cos = _fit(s, R, active)
    while len(active) > 1:
        after = _removal_cosines(s, R, active)
        best = int(np.argmax(after))
        if cos - after[best] >= max_drop:
            break
        active.pop(best)
        w, cos = _fit(s, R, active)
    for family in FAMILIES:
        present = [names.index(f) for f in family if f in names]
        if any(p in active for p in present) and any(p not in active for p in present):
            trial = active + [p for p in present if p not in active]
            tw, tcos = _fit(s, R, trial)
            kept = [a for a, x in zip(trial, tw) if a in active or x >= min_weight * tw.sum()]
            if len(kept) > len(active):
                active = kept
                w, cos = _fit(s, R, active)
    weights = pd.Series(w / w.sum(), index=[names[a] for a in active]).sort_values(ascending=False)
    weights = weights[weights > 0]
    return Decomposition(weights=weights, cosine=cos, novel=cos < novel_below)


def decompose(signatures: pd.DataFrame, reference: pd.DataFrame, **options) -> dict[str, Decomposition]:
    """Decompose every column of ``signatures`` (see :func:`decompose_signature`)."""
    return {name: decompose_signature(signatures[name], reference, **options) for name in signatures.columns}


def describe(weights: pd.Series) -> str:
    """SigProfiler's text form of a decomposition: ``"SBS1 (12.50%) & SBS5 (87.50%)"``."""
    return " & ".join(f"{name} ({100 * w:.2f}%)" for name, w in weights.items())
