"""Consensus signatures from many restarts, and their stability.

Every restart at rank ``k`` gives ``k`` signatures. They are clustered into ``k`` clusters so
that each restart gives exactly one member to each cluster (SigProfilerExtractor's
"Hungarian-matched k-means"): given centroids, each restart's signatures are assigned to the
centroids by the one-to-one matching of largest total cosine similarity; centroids are the
means of their members; repeat until the assignment no longer changes. As SigProfilerExtractor
does, the clustering is started many times (50) and the clustering with the largest mean
silhouette is kept: one start from the signatures of the lowest-loss restart, the others from
random centroids drawn from ``seed``. The consensus signature of a cluster is its mean
(normalised to sum to 1), and its stability is the mean cosine silhouette of its members
(:func:`cluster_silhouettes`). With one restart every cluster has one member and, as in
SigProfilerExtractor, the stability is 1.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .matching import cosine_matrix

__all__ = ["Consensus", "match_to_centroids", "cluster_restarts", "cluster_silhouettes", "consensus",
           "N_STARTS"]

N_STARTS = 50
"""Starts of the consensus clustering (SigProfilerExtractor's number)."""


class Consensus(NamedTuple):
    """Result of :func:`consensus`."""

    signatures: np.ndarray
    """Channels x k, columns summing to 1."""
    stability: np.ndarray
    """``(k,)`` mean cosine silhouette of each cluster."""
    assignment: np.ndarray
    """``(restarts, k)``: ``assignment[r, j]`` is the column of restart ``r`` in cluster ``j``."""
    n_iter: int
    """k-means iterations run."""


def _unit(S: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(S, axis=-2, keepdims=True)
    return S / np.where(norm > 0, norm, 1.0)


def match_to_centroids(S: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """One-to-one assignment of each restart's signatures to the centroids.

    Parameters
    ----------
    S : numpy.ndarray
        ``(restarts, channels, k)``.
    centroids : numpy.ndarray
        ``(channels, k)``.

    Returns
    -------
    numpy.ndarray
        ``(restarts, k)`` integer array; ``out[r, j]`` is the signature of restart ``r``
        assigned to centroid ``j`` (maximum total cosine similarity).
    """
    Ut = np.ascontiguousarray(_unit(np.asarray(S, dtype=np.float64)).transpose(0, 2, 1))
    return _match(Ut, _unit(np.asarray(centroids, dtype=np.float64)))


def _match(Ut: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """:func:`match_to_centroids` for unit signatures held ``(restarts, k, channels)`` and unit
    centroids ``(channels, k)``."""
    from scipy.optimize import linear_sum_assignment

    k = Ut.shape[1]
    sims = np.matmul(Ut, centroids).transpose(0, 2, 1)        # [r, centroid, signature]
    # Where every centroid's most similar signature is a different one, that choice is the
    # optimal matching (it attains the bound "sum of row maxima"); only the other restarts need
    # the assignment solver.
    out = sims.argmax(axis=2)
    distinct = (np.sort(out, axis=1) == np.arange(k)).all(axis=1)
    for r in np.flatnonzero(~distinct):
        rows, cols = linear_sum_assignment(sims[r], maximize=True)
        out[r, rows] = cols
    return out


def _gather(S: np.ndarray, assignment: np.ndarray) -> np.ndarray:
    """``(restarts, channels, k)`` with column ``j`` of restart ``r`` = its member of cluster ``j``."""
    return np.take_along_axis(S, assignment[:, None, :], axis=2)


def cluster_restarts(S: np.ndarray, *, start: int = 0, centroids: np.ndarray | None = None,
                     max_iter: int = 100, visited: set | None = None) -> tuple[np.ndarray | None, int]:
    """Hungarian-matched k-means of restart signatures under cosine similarity, from one start.

    Parameters
    ----------
    S : numpy.ndarray
        ``(restarts, channels, k)`` signatures.
    start : int
        Restart whose signatures are the initial centroids (used when ``centroids`` is None).
    centroids : numpy.ndarray, optional
        ``(channels, k)`` initial centroids.
    max_iter : int
        Upper bound on assignment/update rounds.
    visited : set, optional
        Assignments (as bytes) reached by earlier starts, updated in place. The rounds are
        deterministic given an assignment, so a start that reaches one of them ends where an
        earlier start ended; it stops there and returns None.

    Returns
    -------
    (numpy.ndarray or None, int)
        The assignment (see :func:`match_to_centroids`) and the number of rounds run.
    """
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 3:
        raise ValueError(f"S has shape {S.shape}; expected (restarts, channels, k).")
    Ut = np.ascontiguousarray(_unit(S).transpose(0, 2, 1))          # (restarts, k, channels)
    centroids = Ut[start].T if centroids is None else np.asarray(centroids, dtype=np.float64)
    rows = np.arange(S.shape[0])[:, None]
    assignment = None
    for it in range(1, max_iter + 1):
        new = _match(Ut, _unit(centroids))
        if assignment is not None and np.array_equal(new, assignment):
            return assignment, it
        if visited is not None:
            key = new.tobytes()
            if key in visited:
                return None, it
            visited.add(key)
        assignment = new
        centroids = Ut[rows, assignment].mean(axis=0).T              # mean member of each cluster
    return assignment, max_iter


def _cosine_distances(points: np.ndarray) -> np.ndarray:
    dist = np.clip(1.0 - cosine_matrix(points, points), 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    return dist


def _silhouettes(dist: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """Per-point silhouettes (scikit-learn's, precomputed distances); 1 for one cluster or
    one point per cluster, as SigProfilerExtractor reports them."""
    if n_clusters == 1 or labels.size <= n_clusters:
        return np.ones(labels.size)
    from sklearn.metrics import silhouette_samples

    return silhouette_samples(dist, labels, metric="precomputed")


def cluster_silhouettes(points: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """Mean silhouette of each cluster, with cosine distance ``1 - cos``.

    Parameters
    ----------
    points : numpy.ndarray
        ``(channels, n)`` columns to cluster.
    labels : numpy.ndarray
        ``(n,)`` cluster of each column, in ``0 .. n_clusters - 1``.

    Returns
    -------
    numpy.ndarray
        ``(n_clusters,)``. A single cluster, or one member per cluster, has stability 1
        (SigProfilerExtractor's report); otherwise a member alone in its cluster has
        silhouette 0 (scikit-learn's definition).
    """
    labels = np.asarray(labels)
    s = _silhouettes(_cosine_distances(np.asarray(points, dtype=np.float64)), labels, n_clusters)
    return np.array([s[labels == j].mean() if (labels == j).any() else 0.0 for j in range(n_clusters)])


def consensus(S: np.ndarray, *, start: int = 0, n_starts: int = N_STARTS, seed: int = 0) -> Consensus:
    """Consensus signatures and per-signature stability from restart signatures.

    Parameters
    ----------
    S : numpy.ndarray
        ``(restarts, channels, k)``, each column a signature (any positive scale).
    start : int
        Restart whose signatures are the centroids of the first start (usually the
        lowest-loss restart).
    n_starts : int
        Starts of the clustering; the others begin from centroids drawn uniformly from
        ``[0, 1)`` (as SigProfilerExtractor draws them) by a generator seeded with ``seed``.
        The clustering with the largest mean silhouette over all members is kept (the first
        start on ties).
    seed : int
        Seed of the random centroids.

    Returns
    -------
    Consensus
    """
    S = np.asarray(S, dtype=np.float64)
    R, m, k = S.shape
    U = _unit(S)
    # Silhouettes use the distances between all R * k restart signatures (column r * k + c),
    # computed once; a clustering only relabels them.
    dist = _cosine_distances(U.transpose(1, 0, 2).reshape(m, R * k))
    rng = np.random.default_rng(seed)
    inits = [U[start]] + [rng.random((m, k)) for _ in range(max(n_starts, 1) - 1)]
    best, best_score, visited = None, -np.inf, set()
    for centroids in inits:
        assignment, n_iter = cluster_restarts(U, centroids=centroids, visited=visited)
        if assignment is None:              # joined an earlier start's path: same clustering
            continue
        labels = np.empty((R, k), dtype=int)
        np.put_along_axis(labels, assignment, np.arange(k)[None, :], axis=1)   # cluster of (r, c)
        sil = _silhouettes(dist, labels.ravel(), k)
        if sil.mean() > best_score:
            best, best_score = (assignment, n_iter, labels.ravel(), sil), sil.mean()
    assignment, n_iter, labels, sil = best
    members = _gather(S / S.sum(axis=1, keepdims=True).clip(min=np.finfo(float).tiny), assignment)
    mean = members.mean(axis=0)
    signatures = mean / mean.sum(axis=0, keepdims=True)
    stability = np.array([sil[labels == j].mean() for j in range(k)])
    return Consensus(signatures=signatures, stability=stability, assignment=assignment, n_iter=n_iter)
