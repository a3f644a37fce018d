"""Normalisation of hypermutated samples before fitting, as SigProfilerExtractor does it.

A few samples with very many mutations dominate an NMF fit (their entries are the largest
residuals). SigProfilerExtractor therefore rescales samples before each fit and maps the
exposures back afterwards. sigfactor implements its three options:

``"gmm"``
    A cutoff on the per-sample totals is found with two-component Gaussian mixtures
    (:func:`gmm_cutoff`, never below 100 x the number of channels); samples whose total exceeds
    it are scaled down so their total equals the cutoff, the others are left alone.
``"log2"``
    Every sample is rescaled to a total of ``log2(total)``.
``"none"``
    No change.

The cutoff is computed once from the real totals and applied to every resampled catalogue.
Exposures fitted on a normalised catalogue are mapped back to real counts by dividing by the
per-sample scale factor (:func:`scale_factors`).
"""
from __future__ import annotations

import numpy as np

from ._validation import check_choice

NORMALIZATIONS = ("gmm", "log2", "none")

__all__ = ["NORMALIZATIONS", "gmm_cutoff", "scale_factors", "normalize"]


def gmm_cutoff(totals, manual_cutoff: float, *, seed: int = 0) -> float:
    """SigProfilerExtractor's ``gmm`` cutoff on per-sample mutation totals.

    Repeatedly split the totals into two Gaussian components
    (:class:`sklearn.mixture.GaussianMixture`, as SigProfilerExtractor does); while the two
    means differ by at least four standard deviations of the larger (more populated) component,
    keep only the larger component and split again. The cutoff is ``mean + 2 sd`` of what
    remains (truncated to an integer), and never below ``manual_cutoff``: SigProfilerExtractor
    (``get_normalization_cutoff``) uses 100 x the number of channels (9,600 for SBS96) as a
    floor, so a cohort of small samples is left alone and only samples above both the mixture's
    bound and the floor are scaled down.

    Parameters
    ----------
    totals : array-like
        Mutations per sample.
    manual_cutoff : float
        Lower bound of the cutoff.
    seed : int
        Seeds the mixtures' k-means start (SigProfilerExtractor leaves it unseeded).

    Returns
    -------
    float
    """
    from sklearn.mixture import GaussianMixture

    values = np.asarray(totals, dtype=np.float64).ravel()
    while values.size > 2 and values.std() > 0:
        mixture = GaussianMixture(n_components=2, covariance_type="full", random_state=seed)
        labels = mixture.fit_predict(values[:, None])
        groups, sizes = np.unique(labels, return_counts=True)
        if groups.size < 2:
            break
        big = values[labels == groups[np.argmax(sizes)]]
        small = values[labels == groups[np.argmin(sizes)]]
        if abs(big.mean() - small.mean()) < 4.0 * big.std():
            break
        values = big
    cutoff = float(np.floor(values.mean() + 2.0 * values.std()))
    return max(cutoff, float(manual_cutoff))


def scale_factors(totals: np.ndarray, method: str, cutoff: float | None = None) -> np.ndarray:
    """Per-sample factors ``f`` such that the normalised catalogue is ``V * f``.

    Parameters
    ----------
    totals : numpy.ndarray
        ``(..., samples)`` totals of the catalogues to normalise.
    method : {'gmm', 'log2', 'none'}
    cutoff : float, optional
        The ``gmm`` cutoff (required for ``'gmm'``).
    """
    check_choice("normalization", method, NORMALIZATIONS)
    totals = np.asarray(totals, dtype=np.float64)
    safe = np.maximum(totals, 1.0)
    if method == "none":
        return np.ones_like(totals)
    if method == "log2":
        # log2(1) = 0 would erase a one-mutation sample; keep such samples at a total of 1.
        return np.where(totals > 2, np.log2(safe) / safe, 1.0 / safe)
    if cutoff is None:
        raise ValueError("normalization='gmm' needs a cutoff; compute it with gmm_cutoff(totals, manual_cutoff).")
    return np.where(totals > cutoff, cutoff / safe, 1.0)


def normalize(V: np.ndarray, method: str, cutoff: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Normalise catalogues ``V`` (``(..., channels, samples)``), in float64.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The normalised catalogues and the factors ``(..., samples)`` applied to each sample;
        exposures fitted to the normalised data are mapped back with ``H / factors``.
    """
    V = np.asarray(V, dtype=np.float64)
    factors = scale_factors(V.sum(axis=-2), method, cutoff)
    return V * factors[..., None, :], factors
