"""Cosine and Hungarian matching."""
import numpy as np
import pandas as pd
import pytest

from sigfactor.matching import cosine_matrix, match_signatures, mean_matched_cosine


def test_matching_recovers_a_permutation_of_cosmic(cosmic_frame):
    ref = cosmic_frame[["SBS1", "SBS2", "SBS3", "SBS13"]]
    found = ref[["SBS13", "SBS1", "SBS3", "SBS2"]].set_axis(["A", "B", "C", "D"], axis=1) * 3.0
    table = match_signatures(found, cosmic_frame)
    assert list(table["match"]) == ["SBS13", "SBS1", "SBS3", "SBS2"]
    np.testing.assert_allclose(table["cosine"], 1.0)
    assert mean_matched_cosine(found.to_numpy(), ref.to_numpy()) == pytest.approx(1.0)


def test_rows_are_aligned_by_label(cosmic_frame):
    found = cosmic_frame[["SBS2"]].sample(frac=1.0, random_state=0)
    table = match_signatures(found, cosmic_frame)
    assert table.loc[0, "match"] == "SBS2" and table.loc[0, "cosine"] == pytest.approx(1.0)


def test_one_to_one_matching_differs_from_best(cosmic_frame):
    found = cosmic_frame[["SBS2", "SBS2"]].set_axis(["A", "B"], axis=1)
    table = match_signatures(found, cosmic_frame[["SBS2", "SBS13"]])
    assert set(table["match"]) == {"SBS2", "SBS13"}
    assert list(table["best"]) == ["SBS2", "SBS2"]


def test_cosine_matrix_checks_shapes_and_zero_columns():
    with pytest.raises(ValueError, match=r"shapes \(96, 2\) and \(95, 2\)"):
        cosine_matrix(np.ones((96, 2)), np.ones((95, 2)))
    sim = cosine_matrix(np.c_[np.ones(4), np.zeros(4)], np.ones((4, 1)))
    assert sim[0, 0] == pytest.approx(1.0) and sim[1, 0] == 0.0


def test_missing_channels_are_named(cosmic_frame):
    found = pd.DataFrame({"A": [1.0, 2.0]}, index=["A[C>A]A", "X[C>A]A"])
    with pytest.raises(ValueError, match=r"reference lacks 1 channel\(s\).*X\[C>A\]A"):
        match_signatures(found, cosmic_frame)
