"""Figures: the 96-bar profile and the rank-selection plot, written as PNG and PDF."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import to_hex

from sigfactor.plotting import SBS96_COLOURS, plot_rank_selection, plot_signature, save_figure, sbs96_order


def test_signature_profile_has_96_bars_in_the_six_colours(cosmic_frame):
    sig = cosmic_frame["SBS3"]
    fig = plot_signature(sig, title="SBS96A")
    ax = fig.axes[0]
    bars = ax.collections[0]
    assert len(bars.get_paths()) == 96
    order = sbs96_order(sig.index)
    colours = [to_hex(c).upper() for c in bars.get_facecolors()]
    assert colours == [SBS96_COLOURS[s[2:5]].upper() for s in order]
    # Bar heights are percentages of the signature in plotting order.
    heights = np.array([p.vertices[:, 1].max() for p in bars.get_paths()])
    np.testing.assert_allclose(heights, 100 * sig.loc[order].to_numpy() / sig.sum(), rtol=1e-12)
    labels = [t.get_text() for t in ax.texts]
    assert "ACA" in labels and "SBS96A" in labels and all(sub in labels for sub in SBS96_COLOURS)


def test_profile_can_be_drawn_into_given_axes(cosmic_frame):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    assert plot_signature(cosmic_frame["SBS1"], ax=ax) is fig


def test_rank_selection_and_files(tmp_path):
    stats = pd.DataFrame({"avg_stability": [1.0, 0.95, 0.7], "min_stability": [1.0, 0.9, 0.3],
                          "mean_cosine_distance": [0.2, 0.1, 0.09]}, index=[1, 2, 3])
    fig = plot_rank_selection(stats, 2)
    assert "chosen: 2" in fig.axes[0].get_title()
    png, pdf = save_figure(fig, tmp_path / "rank_selection")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_other_kinds_are_plain_bars_in_channel_order(cosmic_frame):
    from sigfactor import reference

    sig = reference.cosmic(kind="DBS78").iloc[:, 0]
    ax = plot_signature(sig).axes[0]
    bars = ax.collections[0].get_paths()
    assert len(bars) == 78
    heights = np.array([p.vertices[:, 1].max() for p in bars])
    np.testing.assert_allclose(heights, 100 * sig.to_numpy() / sig.sum(), rtol=1e-12)
    assert [t.get_text() for t in ax.texts[:2]] == [str(s) for s in sig.index[:2]]


def test_warm_up_draws_without_files(tmp_path, monkeypatch):
    from sigfactor.plotting import warm_up

    monkeypatch.chdir(tmp_path)
    warm_up()
    assert list(tmp_path.iterdir()) == []
