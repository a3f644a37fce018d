"""How the rank rules are reported side by side: the reason in words, the plot, the statistics table.

The planted catalogue: three COSMIC signatures (SBS1, SBS2, SBS13), 30 samples, gamma exposures,
Poisson counts; one extraction with every rule's evidence serves the tests that need one.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sigfactor import reference
from sigfactor.extract import extract
from sigfactor.plotting import plot_rank_selection
from sigfactor.rank_rules import rule_columns, selection_reason

TRUE = ["SBS1", "SBS2", "SBS13"]


@pytest.fixture(scope="module")
def compared():
    W = reference.cosmic()[TRUE]
    rng = np.random.default_rng(3)
    H = rng.gamma(0.8, 500.0, size=(len(TRUE), 30))
    counts = pd.DataFrame(rng.poisson(W.to_numpy() @ H), index=W.index, columns=[f"s{i}" for i in range(30)])
    return extract(counts, ranks=range(2, 5), n_restarts=4, max_iter=500, seed=0, progress=False,
                   normalization="none", compare_rank_rules=True)


def test_reason_gives_every_rules_choice_and_why():
    """Catches a reason that names the other rules' ranks without their reasons, or that says the
    rules agree when they do not (or the reverse)."""
    reasons = {"sigprofiler": "SP: highest stable rank 3; chosen: 3.", "bcv": "BCV: minimum at 2; chosen: 2.",
               "bic": "BIC: lowest at 3; chosen: 3."}
    text = selection_reason("sigprofiler", {"sigprofiler": 3, "bcv": 2, "bic": 3}, reasons)
    assert text == ("Chosen by rank_rule='sigprofiler'. SP: highest stable rank 3; chosen: 3. Other rules: bcv would "
                    "choose 2; bic would choose 3. bcv's reason: BCV: minimum at 2; chosen: 2. bic's reason: BIC: "
                    "lowest at 3; chosen: 3. The rules disagree: sigprofiler 3, bcv 2, bic 3.")
    agree = selection_reason("bic", {"sigprofiler": 3, "bcv": 3, "bic": 3}, reasons)
    assert agree.startswith("Chosen by rank_rule='bic'. BIC: lowest at 3; chosen: 3. Other rules: sigprofiler would")
    assert agree.endswith("All 3 rules agree on rank 3.") and "SP: highest stable rank 3" in agree
    # BCV could choose nothing (no rank fitted on every fold): said so, and not "agree"
    none = selection_reason("sigprofiler", {"sigprofiler": 3, "bcv": None}, reasons)
    assert "bcv would choose nothing" in none and none.endswith("The rules disagree: sigprofiler 3, bcv nothing.")
    assert selection_reason("bcv", {"bcv": 2}, reasons) == "Chosen by rank_rule='bcv'. BCV: minimum at 2; chosen: 2."


def test_extraction_reason_states_each_rule_with_its_evidence(compared):
    """Catches extract() reporting only the chosen rule's reason; the BIC's rank is recomputed as
    the minimum of the table's BIC column, not taken from the code's choice."""
    text, stats = compared.selection_reason, compared.stats
    best_bic = int(stats["bic"].idxmin())
    assert text.startswith("Chosen by rank_rule='sigprofiler'. SigProfilerExtractor's rule:")
    assert f"bic would choose {best_bic}" in text
    assert "bic's reason: Poisson BIC" in text and f"is lowest at rank {best_bic}" in text
    assert "bcv's reason: bi-cross-validation (9 held-out blocks)" in text


def test_plot_marks_each_rules_choice_on_its_own_curve():
    """Catches markers drawn at the chosen rank for every rule, or on another rule's curve."""
    stats = pd.DataFrame({"avg_stability": [1.0, 0.95, 0.9, 0.5], "min_stability": [1.0, 0.9, 0.8, 0.1],
                          "mean_cosine_distance": [0.2, 0.1, 0.09, 0.08], "bcv_error": [2.0, 1.5, 1.6, 1.7],
                          "bcv_se": [0.1, 0.1, 0.1, 0.1], "bic": [900.0, 800.0, 700.0, 750.0]}, index=[1, 2, 3, 4])
    for rule, k in {"sigprofiler": 4, "bcv": 2, "bic": 3}.items():
        stats[f"chosen_by_{rule}"] = stats.index == k
    fig = plot_rank_selection(stats, 4)
    where = {"sigprofiler": (fig.axes[0], "avg_stability"), "bcv": (fig.axes[2], "bcv_error"),
             "bic": (fig.axes[3], "bic")}
    expected = {"sigprofiler": 4, "bcv": 2, "bic": 3}
    for rule, (ax, column) in where.items():
        marks = [line for line in ax.get_lines() if line.get_label().startswith(f"{rule}'s choice")]
        assert len(marks) == 1, (rule, [line.get_label() for line in ax.get_lines()])
        k = expected[rule]
        assert marks[0].get_label() == f"{rule}'s choice ({k})"
        assert list(marks[0].get_xdata()) == [k] and list(marks[0].get_ydata()) == [stats.loc[k, column]]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "sigprofiler's choice (4)" in legend


def test_statistics_table_ends_with_every_rules_columns(compared, tmp_path):
    """Catches a written All_solutions_stat.csv without the other rules' evidence or choices, a
    'Chosen By' column that names the wrong ranks, or extra columns in a default run's table."""
    from sigfactor.io.folder import write_extraction

    out = write_extraction(compared, tmp_path / "out", plots=False)
    table = pd.read_csv(out / "SBS96" / "All_solutions_stat.csv")
    assert table.columns[:16].tolist()[-1] == "Minimum Correlation"       # SigProfilerExtractor's first
    assert table.columns[16:].tolist() == ["BCV Held-out Error", "BCV SE", "Poisson BIC", "Chosen By"]
    stats = compared.stats
    np.testing.assert_allclose(table["BCV Held-out Error"], stats["bcv_error"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(table["Poisson BIC"], stats["bic"], rtol=0, atol=0.06)
    chosen_by = dict(zip(table["Signatures"].str.rstrip("*").astype(int), table["Chosen By"].fillna("")))
    assert "bic" in chosen_by[int(table.loc[table["Poisson BIC"].idxmin(), "Signatures"].rstrip("*"))]
    assert "sigprofiler" in chosen_by[compared.rank]
    assert sum("bcv" in v for v in chosen_by.values()) == 1
    # without other rules' evidence the table is SigProfilerExtractor's alone
    plain = stats.drop(columns=["bcv_error", "bcv_se", "bic", "chosen_by_bcv", "chosen_by_bic"])
    assert rule_columns(plain).shape == (len(stats), 0)
