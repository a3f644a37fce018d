"""Consensus clustering of restart signatures: one member per restart per cluster, silhouettes."""
import numpy as np
import pytest
from sklearn.metrics import silhouette_samples

from sigfactor.consensus import cluster_restarts, cluster_silhouettes, consensus, match_to_centroids


def _planted(cosmic_frame, names, n_restarts, noise, seed=0):
    rng = np.random.default_rng(seed)
    truth = cosmic_frame[names].to_numpy()
    k = truth.shape[1]
    S, perms = [], []
    for _ in range(n_restarts):
        perm = rng.permutation(k)
        noisy = truth[:, perm] * rng.lognormal(0, noise, size=truth.shape)
        S.append(noisy / noisy.sum(axis=0))
        perms.append(perm)
    return truth, np.stack(S), np.stack(perms)


def test_consensus_recovers_planted_signatures(cosmic_frame):
    truth, S, perms = _planted(cosmic_frame, ["SBS1", "SBS2", "SBS3", "SBS13"], 30, 0.2)
    result = consensus(S, start=5)
    # every restart gives exactly one member to each cluster
    assert all(sorted(row) == [0, 1, 2, 3] for row in result.assignment)
    # restarts' members of one cluster are the same true signature
    true_of_member = np.take_along_axis(perms, result.assignment, axis=1)
    assert (true_of_member == true_of_member[0]).all()
    cos = (truth[:, true_of_member[0]] * result.signatures).sum(0) / (
        np.linalg.norm(truth[:, true_of_member[0]], axis=0) * np.linalg.norm(result.signatures, axis=0))
    assert cos.min() > 0.99
    np.testing.assert_allclose(result.signatures.sum(axis=0), 1.0)
    assert result.stability.min() > 0.8


def test_stability_falls_with_noise(cosmic_frame):
    names = ["SBS1", "SBS5", "SBS40a"]
    _, clean, _ = _planted(cosmic_frame, names, 20, 0.05)
    _, noisy, _ = _planted(cosmic_frame, names, 20, 1.5)
    assert consensus(noisy).stability.mean() < consensus(clean).stability.mean()


def test_silhouettes_agree_with_scikit_learn():
    rng = np.random.default_rng(1)
    points = rng.random((96, 60))
    labels = np.repeat(np.arange(4), 15)
    rng.shuffle(labels)
    ours = cluster_silhouettes(points, labels, 4)
    theirs = silhouette_samples(points.T, labels, metric="cosine")
    expected = [theirs[labels == j].mean() for j in range(4)]
    np.testing.assert_allclose(ours, expected, atol=1e-10)


def test_single_cluster_is_fully_stable_and_singletons_score_zero():
    points = np.random.default_rng(2).random((96, 5))
    assert cluster_silhouettes(points, np.zeros(5, dtype=int), 1).tolist() == [1.0]
    # One restart: one member per cluster, which SigProfilerExtractor reports as stability 1
    # (catches every rank being "unstable" with n_restarts=1).
    one_restart = consensus(points[None, :, :3])
    assert one_restart.stability.tolist() == [1.0, 1.0, 1.0]
    np.testing.assert_allclose(one_restart.signatures, points[:, :3] / points[:, :3].sum(axis=0))


def _restart_signatures(k, n_restarts=100):
    """Real restart signatures: KL NMF of resampled 21 breast genomes at rank k."""
    from sigfactor import datasets
    from sigfactor.extract import resample_counts
    from sigfactor.models._restarts import fit_restarts

    counts = datasets.breast21().counts.astype(float)
    V = resample_counts(counts, n_restarts, np.random.default_rng(0))
    fitted = fit_restarts(V, k, n_restarts=n_restarts, seed=1, model="nmf", loss="kl", device="cpu",
                          dtype="float64", threads=None, max_iter=3000, tol=1e-6, check_every=10)
    return fitted


def test_many_starts_keep_the_clustering_with_the_best_silhouette():
    """Catches a consensus that runs one start only (SigProfilerExtractor keeps the best of 50 by
    mean silhouette): at rank 6 of the breast genomes the one start from the best restart ends in
    a clustering with a lower mean silhouette than some of the random starts. The reported
    stabilities must be scikit-learn's silhouettes of the returned clustering."""
    fitted = _restart_signatures(6)
    S = fitted.signatures
    one = consensus(S, start=fitted.best_index, n_starts=1)
    many = consensus(S, start=fitted.best_index, n_starts=50, seed=3)
    R, m, k = S.shape
    points = (S / np.linalg.norm(S, axis=1, keepdims=True)).transpose(1, 0, 2).reshape(m, R * k)

    def sklearn_stability(assignment):
        labels = np.empty((R, k), dtype=int)
        for r in range(R):
            labels[r, assignment[r]] = np.arange(k)
        sil = silhouette_samples(points.T, labels.ravel(), metric="cosine")
        return np.array([sil[labels.ravel() == j].mean() for j in range(k)])

    np.testing.assert_allclose(many.stability, sklearn_stability(many.assignment), atol=1e-10)
    np.testing.assert_allclose(one.stability, sklearn_stability(one.assignment), atol=1e-10)
    assert many.stability.mean() > one.stability.mean()
    # Each extra start can only help: the first start is the one-start clustering.
    more = consensus(S, start=fitted.best_index, n_starts=80, seed=3)
    assert more.stability.mean() >= many.stability.mean() - 1e-12


def test_matching_is_one_to_one_even_when_one_centroid_attracts_all(cosmic_frame):
    centroids = cosmic_frame[["SBS1", "SBS2"]].to_numpy()
    S = np.stack([cosmic_frame[["SBS1", "SBS6"]].to_numpy()])   # SBS6 is closer to SBS1 than to SBS2
    assignment = match_to_centroids(S, centroids)
    assert sorted(assignment[0]) == [0, 1]


def test_cluster_restarts_rejects_bad_shape():
    with pytest.raises(ValueError, match="restarts, channels, k"):
        cluster_restarts(np.ones((96, 3)))
