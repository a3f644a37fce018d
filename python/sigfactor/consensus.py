"""Consensus signatures from many restarts, and their stability.

Every restart at rank ``k`` gives ``k`` signatures. They are clustered into ``k`` clusters so
that each restart gives exactly one member to each cluster (SigProfilerExtractor's
"Hungarian-matched k-means"): given centroids, each restart's signatures are assigned to the
centroids by the one-to-one matching of largest total cosine similarity; centroids are the
means of their members; repeat until the assignment no longer changes. The consensus
signature of a cluster is its mean (normalised to sum to 1), and its stability is the mean
cosine silhouette of its members (:func:`cluster_silhouettes`).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .matching import cosine_matrix, hungarian

__all__ = ["Consensus", "match_to_centroids", "cluster_restarts", "cluster_silhouettes", "consensus"]


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
    R, _, k = S.shape
    out = np.empty((R, k), dtype=int)
    for r in range(R):
        sim = cosine_matrix(centroids, S[r])            # k centroids x k signatures
        rows, cols = hungarian(sim)
        out[r, rows] = cols
    return out


def _gather(S: np.ndarray, assignment: np.ndarray) -> np.ndarray:
    """``(restarts, channels, k)`` with column ``j`` of restart ``r`` = its member of cluster ``j``."""
    return np.take_along_axis(S, assignment[:, None, :], axis=2)


def cluster_restarts(S: np.ndarray, *, start: int = 0, max_iter: int = 100) -> tuple[np.ndarray, int]:
    """Hungarian-matched k-means of restart signatures under cosine similarity.

    Parameters
    ----------
    S : numpy.ndarray
        ``(restarts, channels, k)`` signatures.
    start : int
        Restart whose signatures are the initial centroids (the caller passes the restart with
        the lowest loss, so the result is deterministic).
    max_iter : int
        Upper bound on assignment/update rounds.

    Returns
    -------
    (numpy.ndarray, int)
        The assignment (see :func:`match_to_centroids`) and the number of rounds run.
    """
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 3:
        raise ValueError(f"S has shape {S.shape}; expected (restarts, channels, k).")
    U = _unit(S)
    centroids = U[start]
    assignment = None
    for it in range(1, max_iter + 1):
        new = match_to_centroids(U, centroids)
        if assignment is not None and np.array_equal(new, assignment):
            return assignment, it
        assignment = new
        centroids = _gather(U, assignment).mean(axis=0)
    return assignment, max_iter


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
        ``(n_clusters,)``. A single cluster has stability 1 (nothing to be confused with, as
        SigProfilerExtractor reports it); a member alone in its cluster has silhouette 0
        (as scikit-learn defines it).
    """
    labels = np.asarray(labels)
    if n_clusters == 1:
        return np.ones(1)
    dist = np.clip(1.0 - cosine_matrix(points, points), 0.0, 2.0)
    onehot = (labels[:, None] == np.arange(n_clusters)[None, :]).astype(np.float64)
    sizes = onehot.sum(axis=0)
    sums = dist @ onehot                                   # n x clusters: total distance to each cluster
    own = sizes[labels]
    a = np.where(own > 1, sums[np.arange(labels.size), labels] / np.maximum(own - 1, 1), 0.0)
    mean_other = sums / np.where(sizes > 0, sizes, np.inf)
    mean_other[np.arange(labels.size), labels] = np.inf
    b = mean_other.min(axis=1)
    denom = np.maximum(a, b)
    s = np.where((own > 1) & (denom > 0), (b - a) / np.where(denom > 0, denom, 1.0), 0.0)
    return np.array([s[labels == j].mean() if sizes[j] else 0.0 for j in range(n_clusters)])


def consensus(S: np.ndarray, *, start: int = 0) -> Consensus:
    """Consensus signatures and per-signature stability from restart signatures.

    Parameters
    ----------
    S : numpy.ndarray
        ``(restarts, channels, k)``, each column a signature (any positive scale).
    start : int
        Restart used as the initial centroids (usually the lowest-loss restart).

    Returns
    -------
    Consensus
    """
    S = np.asarray(S, dtype=np.float64)
    R, m, k = S.shape
    assignment, n_iter = cluster_restarts(S, start=start)
    members = _gather(S / S.sum(axis=1, keepdims=True).clip(min=np.finfo(float).tiny), assignment)
    mean = members.mean(axis=0)
    signatures = mean / mean.sum(axis=0, keepdims=True)
    points = members.transpose(1, 0, 2).reshape(m, R * k)            # column r*k + j
    labels = np.tile(np.arange(k), R)
    stability = cluster_silhouettes(points, labels, k)
    return Consensus(signatures=signatures, stability=stability, assignment=assignment, n_iter=n_iter)
