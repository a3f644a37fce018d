"""Figures: SigProfiler-style 96-bar signature profiles and the rank-selection plot.

matplotlib figures built without pyplot (no GUI backend or global state; PNG through Agg,
PDF through matplotlib's PDF backend), drawn with few artists: every extraction writes them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["SBS96_COLOURS", "sbs96_order", "plot_signature", "plot_rank_selection", "save_figure", "warm_up"]

SBS96_COLOURS = {"C>A": "#1EBFF0", "C>G": "#050708", "C>T": "#E62725",
                 "T>A": "#CBCACB", "T>C": "#A1CF64", "T>G": "#EDC8C5"}
"""The six substitution colours used by SigProfiler and COSMIC."""


def _figure(size):
    """A matplotlib Figure outside pyplot (no GUI backend, no global figure registry)."""
    from matplotlib.figure import Figure

    return Figure(figsize=size)


def sbs96_order(labels) -> list[str]:
    """SBS96 labels (``A[C>A]A``) sorted as plotted: by substitution, then 5' and 3' base."""
    return sorted(labels, key=lambda s: (s[2:5], s[0], s[-1]))


def _bars(ax, values: np.ndarray, colours, width: float = 0.6) -> None:
    """Bars as one collection: one draw call instead of a patch per bar."""
    from matplotlib.collections import PolyCollection

    x = np.arange(len(values), dtype=float)
    left, right, zero = x - width / 2, x + width / 2, np.zeros_like(x)
    verts = np.stack([np.stack([left, zero], 1), np.stack([left, values], 1),
                      np.stack([right, values], 1), np.stack([right, zero], 1)], axis=1)
    ax.add_collection(PolyCollection(verts, facecolors=colours, edgecolors="none"))


def _axis_labels(ax, labels, fontsize: float) -> None:
    """Vertical labels under each bar, as plain text (the tick machinery costs 3x more to draw)."""
    from matplotlib.transforms import blended_transform_factory

    ax.set_xticks([])
    where = blended_transform_factory(ax.transData, ax.transAxes)
    for i, label in enumerate(labels):
        ax.text(i, -0.02, label, rotation=90, ha="center", va="top", fontsize=fontsize,
                family="monospace", transform=where)


def plot_signature(signature: pd.Series, *, title: str | None = None, ax=None):
    """Bar plot of one signature (percent of mutations per channel).

    SBS96 signatures get SigProfiler's layout: 96 bars grouped by substitution in the six
    usual colours, a coloured band naming each group, trinucleotides on the x axis. Other kinds
    are drawn as plain bars in channel order.

    Parameters
    ----------
    signature : pandas.Series
        Channel labels as index.
    title : str, optional
        Drawn in the top-left corner (default: the series name).
    ax : matplotlib.axes.Axes, optional
        Draw into these axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.ticker import FuncFormatter

    values = signature.astype(float)
    total = values.sum()
    values = 100 * values / total if total > 0 else values
    sbs = len(values) == 96 and all(isinstance(s, str) and len(s) == 7 and s[1] == "[" for s in values.index)
    if ax is None:
        fig = _figure((14, 3.2))
        # Fixed margins: tight_layout would draw the 96 labels once more just to measure them.
        ax = fig.add_axes((0.06, 0.17, 0.935, 0.73))
    else:
        fig = ax.figure
    n = len(values)
    top = max(float(values.max()) * 1.25, 1e-9)
    if sbs:
        order = sbs96_order(values.index)
        values = values.loc[order]
        _bars(ax, values.to_numpy(), [SBS96_COLOURS[s[2:5]] for s in order])
        _axis_labels(ax, [f"{s[0]}{s[2]}{s[-1]}" for s in order], fontsize=6)
        for i, sub in enumerate(SBS96_COLOURS):
            ax.axvspan(16 * i - 0.5, 16 * i + 15.5, ymin=0.93, ymax=1.0, color=SBS96_COLOURS[sub], lw=0)
            ax.text(16 * i + 7.5, top * 1.02, sub, ha="center", va="bottom", fontsize=11, fontweight="bold")
    else:
        _bars(ax, values.to_numpy(), ["#4C72B0"] * n, width=0.8)
        _axis_labels(ax, [str(s) for s in values.index], fontsize=5)
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(0, top)
    ax.set_ylabel("Percentage of single base substitutions" if sbs else "Percentage of mutations", fontsize=8)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
    ax.spines[["top", "right"]].set_visible(False)
    name = title if title is not None else str(signature.name)
    ax.text(0.005, 0.86, name, transform=ax.transAxes, fontsize=12, fontweight="bold", va="top")
    return fig


def _rule_picks(stats: pd.DataFrame) -> dict:
    """The rank each rule chose (``chosen_by_<rule>``), for the rules in ``stats``, in
    :data:`sigfactor.rank_rules.RANK_RULES` order."""
    from .rank_rules import RANK_RULES

    return {rule: int(stats.index[stats[f"chosen_by_{rule}"].to_numpy(bool)][0]) for rule in RANK_RULES
            if f"chosen_by_{rule}" in stats.columns and stats[f"chosen_by_{rule}"].any()}


def _mark_choice(ax, rule: str, rank: int, curve: pd.Series, colour: str):
    """A large open marker on ``curve`` at the rank ``rule`` chose, labelled for the legend."""
    (line,) = ax.plot([rank], [float(curve.loc[rank])], "o", ms=14, mfc="none", mew=2, color=colour,
                      label=f"{rule}'s choice ({rank})")
    return line


def plot_rank_selection(stats: pd.DataFrame, chosen: int, *, title: str = "Rank selection"):
    """Every rank rule's evidence against the rank.

    ``stats`` is :attr:`ExtractionResult.stats` (index: rank). The top panel holds
    SigProfilerExtractor's evidence: average and minimum stability (with the 0.8 / 0.2
    thresholds) and the mean sample cosine distance. When ``stats`` has columns of
    :mod:`sigfactor.rank_rules`, a lower panel shows the bi-cross-validation held-out error
    (mean over folds, one standard error as bars) and/or the Poisson BIC, and names the rank each
    rule would choose (``chosen_by_<rule>``). Each rule's choice is marked on its own curve by a
    large open marker labelled ``"<rule>'s choice (k)"`` (SigProfilerExtractor's on the average
    stability), so disagreeing rules are seen at a glance. The chosen rank is shaded in both
    panels.
    """
    ranks = np.asarray(stats.index, dtype=int)
    has_bcv, has_bic = "bcv_error" in stats.columns, "bic" in stats.columns
    rules = has_bcv or has_bic
    fig = _figure((8, 7.5) if rules else (8, 4.5))
    ax1 = fig.add_subplot(2, 1, 1) if rules else fig.add_subplot()
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
    picks = _rule_picks(stats)
    if "sigprofiler" in picks:
        lines.append(_mark_choice(ax1, "sigprofiler", picks["sigprofiler"], stats["avg_stability"], "tab:blue"))
    ax1.legend(lines, [line.get_label() for line in lines], loc="best", fontsize=8)
    ax1.set_title(f"{title} (chosen: {chosen})")
    if not rules:
        fig.subplots_adjust(left=0.1, right=0.88, bottom=0.12, top=0.9)  # fixed: no measuring draw
        return fig
    ax3 = fig.add_subplot(2, 1, 2, sharex=ax1)
    ax3.set_xlabel("Number of signatures")
    if has_bcv:
        ax3.errorbar(ranks, stats["bcv_error"], yerr=stats["bcv_se"], fmt="D-", color="tab:green", capsize=3,
                     label="BCV held-out error (mean +- SE)")
        ax3.set_ylabel("Held-out error per entry", color="tab:green")
    ax4 = ax3.twinx()
    if has_bic:
        ax4.plot(ranks, stats["bic"], "^--", color="tab:purple", label="Poisson BIC")
        ax4.set_ylabel("Poisson BIC", color="tab:purple")
    ax3.axvspan(chosen - 0.2, chosen + 0.2, alpha=0.2, color="#696969")
    if has_bcv and "bcv" in picks:
        _mark_choice(ax3, "bcv", picks["bcv"], stats["bcv_error"], "tab:green")
    if has_bcv and "stable_bcv" in picks:
        _mark_choice(ax3, "stable_bcv", picks["stable_bcv"], stats["bcv_error"], "tab:olive")
    if has_bic and "bic" in picks:
        _mark_choice(ax4, "bic", picks["bic"], stats["bic"], "tab:purple")
    ax3.set_title("Each rule's choice: " + ", ".join(f"{rule} {k}" for rule, k in picks.items()), fontsize=9)
    handles = [ax3.get_legend_handles_labels(), ax4.get_legend_handles_labels()]
    ax3.legend(handles[0][0] + handles[1][0], handles[0][1] + handles[1][1], loc="best", fontsize=8)
    fig.subplots_adjust(left=0.1, right=0.86, bottom=0.07, top=0.95, hspace=0.3)
    return fig


def warm_up() -> None:
    """Draw a small figure with the fonts the plots use, as PNG and PDF in memory.

    The first figure of a process otherwise pays for loading the fonts and setting up the PDF
    backend (measured: 0.29 s for the first PDF, 0.07 s for the next). The command line's writer
    process calls this while the fits run.
    """
    import io

    fig = _figure((1, 1))
    fig.text(0.1, 0.1, "ACA C>A 1%", fontsize=6, family="monospace")
    fig.text(0.1, 0.5, "SBS96A", fontsize=11, fontweight="bold")
    fig.text(0.1, 0.8, "Rank", fontsize=8)
    for fmt in ("png", "pdf"):
        fig.savefig(io.BytesIO(), format=fmt, dpi=50)


def save_figure(fig, stem: Path, formats=("png", "pdf")) -> list[Path]:
    """Save ``fig`` as ``stem.png`` (150 dpi) and/or ``stem.pdf`` and return the paths."""
    paths = [Path(f"{stem}.{fmt}") for fmt in formats]
    for path in paths:
        fig.savefig(path, **({"dpi": 150} if path.suffix == ".png" else {}))
    return paths
