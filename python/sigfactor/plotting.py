"""Figures: SigProfiler-style 96-bar signature profiles and the rank-selection plot (matplotlib, Agg)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["SBS96_COLOURS", "sbs96_order", "plot_signature", "plot_rank_selection", "save_figure"]

SBS96_COLOURS = {"C>A": "#1EBFF0", "C>G": "#050708", "C>T": "#E62725",
                 "T>A": "#CBCACB", "T>C": "#A1CF64", "T>G": "#EDC8C5"}
"""The six substitution colours used by SigProfiler and COSMIC."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def sbs96_order(labels) -> list[str]:
    """SBS96 labels (``A[C>A]A``) sorted as plotted: by substitution, then 5' and 3' base."""
    return sorted(labels, key=lambda s: (s[2:5], s[0], s[-1]))


def plot_signature(signature: pd.Series, *, title: str | None = None, ax=None):
    """Bar plot of one signature (percent of mutations per channel).

    SBS96 signatures get SigProfiler's layout: 96 bars grouped by substitution in the six
    usual colours, a coloured band naming each group, trinucleotides on the x axis. Other kinds
    are drawn as plain bars in channel order.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    values = signature.astype(float)
    total = values.sum()
    values = 100 * values / total if total > 0 else values
    sbs = len(values) == 96 and all(isinstance(s, str) and len(s) == 7 and s[1] == "[" for s in values.index)
    own_figure = ax is None
    if own_figure:
        fig, ax = plt.subplots(figsize=(14, 3.2))
    else:
        fig = ax.figure
    if sbs:
        order = sbs96_order(values.index)
        values = values.loc[order]
        subs = [s[2:5] for s in order]
        colours = [SBS96_COLOURS[s] for s in subs]
        x = np.arange(96)
        ax.bar(x, values.to_numpy(), width=0.6, color=colours)
        ax.set_xticks(x)
        ax.set_xticklabels([f"{s[0]}{s[2]}{s[-1]}" for s in order], rotation=90, fontsize=6, family="monospace")
        top = max(float(values.max()) * 1.25, 1e-9)
        ax.set_ylim(0, top)
        for i, sub in enumerate(SBS96_COLOURS):
            ax.axvspan(16 * i - 0.5, 16 * i + 15.5, ymin=0.93, ymax=1.0, color=SBS96_COLOURS[sub], lw=0)
            ax.text(16 * i + 7.5, top * 1.02, sub, ha="center", va="bottom", fontsize=11, fontweight="bold")
        ax.set_xlim(-0.5, 95.5)
    else:
        ax.bar(np.arange(len(values)), values.to_numpy(), color="#4C72B0")
        ax.set_xticks(np.arange(len(values)))
        ax.set_xticklabels([str(s) for s in values.index], rotation=90, fontsize=5)
    ax.set_ylabel("Percentage of single base substitutions" if sbs else "Percentage of mutations", fontsize=8)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}%"))
    ax.spines[["top", "right"]].set_visible(False)
    name = title if title is not None else str(signature.name)
    ax.text(0.005, 0.86, name, transform=ax.transAxes, fontsize=12, fontweight="bold", va="top")
    if own_figure:
        # Fixed margins: tight_layout would draw the 96 tick labels once more just to measure them.
        fig.subplots_adjust(left=0.06, right=0.995, bottom=0.17, top=0.9)
    return fig


def plot_rank_selection(stats: pd.DataFrame, chosen: int, *, title: str = "Rank selection"):
    """Average and minimum stability and mean sample cosine distance against the rank.

    ``stats`` is :attr:`ExtractionResult.stats` (index: rank). The chosen rank is shaded and
    the 0.8 / 0.2 stability thresholds are drawn.
    """
    plt = _pyplot()
    ranks = np.asarray(stats.index, dtype=int)
    fig, ax1 = plt.subplots(figsize=(8, 4.5))
    ax1.plot(ranks, stats["avg_stability"], "s-.", color="tab:blue", label="Average stability")
    ax1.plot(ranks, stats["min_stability"], "v:", color="tab:cyan", label="Minimum stability")
    ax1.axhline(0.8, color="tab:blue", lw=0.6, ls="--")
    ax1.axhline(0.2, color="tab:cyan", lw=0.6, ls="--")
    ax1.set_xlabel("Number of signatures")
    ax1.set_ylabel("Stability (cosine silhouette)", color="tab:blue")
    ax1.set_xticks(ranks)
    ax2 = ax1.twinx()
    ax2.plot(ranks, stats["mean_cosine_distance"], "o:", color="tab:red", label="Mean sample cosine distance")
    ax2.set_ylabel("Mean sample cosine distance", color="tab:red")
    ax1.axvspan(chosen - 0.2, chosen + 0.2, alpha=0.2, color="#696969")
    lines = ax1.get_lines()[:2] + ax2.get_lines()
    ax1.legend(lines, [line.get_label() for line in lines], loc="best", fontsize=8)
    ax1.set_title(f"{title} (chosen: {chosen})")
    fig.tight_layout()
    return fig


def save_figure(fig, stem: Path) -> list[Path]:
    """Save ``fig`` as ``stem.png`` (150 dpi) and ``stem.pdf``, close it, and return the paths."""
    plt = _pyplot()
    paths = [Path(f"{stem}.png"), Path(f"{stem}.pdf")]
    fig.savefig(paths[0], dpi=150)
    fig.savefig(paths[1])
    plt.close(fig)
    return paths
