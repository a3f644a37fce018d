"""Comparing signature sets: cosine similarity and one-to-one (Hungarian) matching."""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["cosine_matrix", "hungarian", "match_signatures", "mean_matched_cosine"]


def cosine_matrix(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Cosine similarity between the columns of ``A`` (m x p) and ``B`` (m x q): a p x q matrix.

    A zero column has cosine 0 with everything.
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    if A.ndim != 2 or B.ndim != 2 or A.shape[0] != B.shape[0]:
        raise ValueError(
            f"signature matrices have shapes {A.shape} and {B.shape}; expected two matrices with "
            "the same number of rows (channels)."
        )
    na = np.linalg.norm(A, axis=0)
    nb = np.linalg.norm(B, axis=0)
    na[na == 0] = np.inf
    nb[nb == 0] = np.inf
    return (A / na).T @ (B / nb)


def hungarian(similarity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the one-to-one matching with the largest total similarity.

    With unequal sizes, ``min(p, q)`` pairs are formed.
    """
    from scipy.optimize import linear_sum_assignment   # lazily: importing it costs 0.25 s

    rows, cols = linear_sum_assignment(np.asarray(similarity, dtype=np.float64), maximize=True)
    return rows, cols


def mean_matched_cosine(A: np.ndarray, B: np.ndarray) -> float:
    """Mean cosine over the Hungarian matching of the columns of ``A`` and ``B``."""
    sim = cosine_matrix(A, B)
    rows, cols = hungarian(sim)
    return float(sim[rows, cols].mean())


def match_signatures(found: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Match each found signature to a distinct reference signature by cosine (Hungarian).

    Rows are aligned by label: ``reference`` must hold every row label of ``found``.

    Returns
    -------
    pandas.DataFrame
        One row per found signature (in its order): ``signature``, ``match``, ``cosine``, and
        ``best`` / ``best_cosine``, the most similar reference signature regardless of the
        one-to-one constraint. ``match`` is empty where there are more found signatures than
        reference ones.
    """
    missing = found.index.difference(reference.index)
    if len(missing):
        raise ValueError(
            f"reference lacks {len(missing)} channel(s) of the signatures, e.g. {list(missing[:3])}; "
            "expected the same mutation types."
        )
    ref = reference.loc[found.index]
    sim = cosine_matrix(found.to_numpy(), ref.to_numpy())
    rows, cols = hungarian(sim)
    match = {int(r): int(c) for r, c in zip(rows, cols)}
    out = []
    for i, name in enumerate(found.columns):
        j = match.get(i)
        best = int(np.argmax(sim[i]))
        out.append({
            "signature": name,
            "match": ref.columns[j] if j is not None else "",
            "cosine": float(sim[i, j]) if j is not None else float("nan"),
            "best": ref.columns[best],
            "best_cosine": float(sim[i, best]),
        })
    return pd.DataFrame(out)
