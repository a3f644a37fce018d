"""Reference signatures: bundled COSMIC v3.4, user-supplied tables, genome/exome opportunities.

Signatures are channels x signatures DataFrames with canonical labels in SigProfiler order
(index named ``"MutationType"``), whatever the layout and label style they were read from.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from . import channels as ch
from ._bundled import bundled_path
from ._validation import check_choice
from .catalogue import _channel_order, _numeric, _orient, _read_table, _sample_index

VERSIONS = ("3.4",)
BUILDS = ("GRCh37", "GRCh38")
REGIONS = ("genome", "exome")

# (version, kind, build, exome) -> bundled file
_COSMIC_FILES = {
    ("3.4", "SBS96", "GRCh37", False): "cosmic/COSMIC_v3.4_SBS_GRCh37.txt",
    ("3.4", "SBS96", "GRCh38", False): "cosmic/COSMIC_v3.4_SBS_GRCh38.txt",
    ("3.4", "SBS96", "GRCh37", True): "cosmic/COSMIC_v3.4_SBS_GRCh37_exome.txt",
    ("3.4", "DBS78", "GRCh37", False): "cosmic/COSMIC_v3.4_DBS_GRCh37.txt",
    ("3.4", "ID83", "GRCh37", False): "cosmic/COSMIC_v3.4_ID_GRCh37.txt",
}


def cosmic(version: str = "3.4", build: str = "GRCh37", kind: str = "SBS96",
           exome: bool = False) -> pd.DataFrame:
    """Return the COSMIC reference signatures bundled with sigfactor.

    Parameters
    ----------
    version : {"3.4"}
        COSMIC Mutational Signatures release.
    build : {"GRCh37", "GRCh38"}
        Reference genome the signatures are normalised to. DBS78 and ID83 exist for GRCh37.
    kind : {"SBS96", "DBS78", "ID83"}
    exome : bool, default False
        Exome-normalised SBS96 signatures (GRCh37). For GRCh38 exomes use
        ``convert_opportunity(cosmic(build="GRCh38"), to="exome", build="GRCh38")``.

    Returns
    -------
    pandas.DataFrame
        Channels x signatures (``SBS1``, ...), canonical labels in SigProfiler order; a new
        copy on each call.

    Notes
    -----
    COSMIC Mutational Signatures v3.4 (Alexandrov et al., Nature 2020), as shipped in the
    SigProfilerAssignment 1.1.5 wheel (BSD-2-Clause); see ``sigfactor/data/PROVENANCE.md``.
    """
    check_choice("version", version, VERSIONS)
    check_choice("build", build, BUILDS)
    check_choice("kind", kind, tuple(ch.KINDS))
    if not isinstance(exome, (bool, np.bool_)):
        raise TypeError(f"exome={exome!r} is not valid; expected True or False.")
    key = (version, kind, build, bool(exome))
    if key not in _COSMIC_FILES:
        available = "; ".join(f"kind={k!r}, build={b!r}, exome={e}" for _, k, b, e in _COSMIC_FILES)
        hint = (" Convert the genome signatures with convert_opportunity(cosmic(build=%r), to='exome', "
                "build=%r)." % (build, build)) if kind == "SBS96" and exome else ""
        raise ValueError(
            f"COSMIC v{version} {kind} signatures for build={build!r}, exome={bool(exome)} are not bundled; "
            f"available: {available}.{hint}"
        )
    return _cosmic_frame(_COSMIC_FILES[key]).copy()


@lru_cache(maxsize=None)
def _cosmic_frame(relative: str) -> pd.DataFrame:
    return read_signatures(bundled_path(relative))


def read_signatures(path_or_frame, kind: str | None = None) -> pd.DataFrame:
    """Read reference signatures in any supported layout and label style.

    Parameters
    ----------
    path_or_frame : str, os.PathLike or pandas.DataFrame
        A COSMIC / SigProfiler table (``Type`` or ``MutationType`` column), a MutationalPatterns
        table, a PCAWG/SynSigGen two-column CSV, an ``.rds`` matrix, or a DataFrame, with
        signatures as columns or as rows (decided by the labels).
    kind : {"SBS96", "DBS78", "ID83"}, optional
        Expected kind; detected from the labels when not given.

    Returns
    -------
    pandas.DataFrame
        Channels x signatures, float64, canonical labels in SigProfiler order. Values are kept
        as given (columns are not renormalised).

    Raises
    ------
    ValueError
        For unknown, duplicated or missing channels, duplicated or empty signature names,
        negative or non-finite values, or a signature that is all zeros.
    """
    if kind is not None:
        check_choice("kind", kind, tuple(ch.KINDS))
    if isinstance(path_or_frame, pd.DataFrame):
        source, frame = "signatures DataFrame", path_or_frame
    elif isinstance(path_or_frame, (str, os.PathLike)):
        source = f"signatures file '{path_or_frame}'"
        frame = _read_table(Path(path_or_frame), source)
    else:
        raise TypeError(
            f"path_or_frame is a {type(path_or_frame).__name__}; expected a path or a pandas DataFrame "
            "of signatures with channel labels."
        )
    values, names, labels, kind = _orient(frame, kind, source)
    names = _sample_index(names, source, what="signature")
    kind, order = _channel_order(labels, kind, source)
    values = _numeric(np.asarray(values), names, labels, source).astype(np.float64)[:, order]
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"{source}: signature {names[i]!r}, channel {ch.KINDS[kind][j]!r} is {values[i, j]!r}; "
            "expected finite non-negative values."
        )
    empty = np.flatnonzero(values.sum(axis=1) == 0)
    if empty.size:
        raise ValueError(f"{source}: signature(s) {ch._shown(names[empty])} are all zeros; expected profiles.")
    return pd.DataFrame(values.T, index=pd.Index(ch.KINDS[kind], name="MutationType"), columns=names)


@lru_cache(maxsize=None)
def _opportunities(build: str, region: str) -> pd.Series:
    """Trinucleotide counts (32 pyrimidine-centred contexts) summed over chromosomes."""
    suffix = "_exome" if region == "exome" else ""
    table = pd.read_csv(bundled_path(f"reference_context/context_counts_{build}_96{suffix}.csv"), index_col=0)
    table.index = table.index.str.strip()
    return table.sum(axis=1).astype(np.float64)


def opportunities(build: str = "GRCh37", region: str = "genome") -> pd.Series:
    """Return the number of each reference trinucleotide (``ACA``, ...) in the genome or exome.

    Parameters
    ----------
    build : {"GRCh37", "GRCh38"}
    region : {"genome", "exome"}

    Returns
    -------
    pandas.Series
        Counts of the 32 pyrimidine-centred trinucleotides (both strands counted), summed over
        chromosomes, from SigProfilerMatrixGenerator's reference tables.
    """
    check_choice("build", build, BUILDS)
    check_choice("region", region, REGIONS)
    return _opportunities(build, region).copy()


def convert_opportunity(signatures, from_: str = "genome", to: str = "exome",
                        build: str = "GRCh37") -> pd.DataFrame:
    """Convert SBS96 signatures between genome and exome trinucleotide opportunities.

    As SigProfiler does, the signatures are adjusted, not the data: each channel is multiplied
    by ``n_to(trinucleotide) / n_from(trinucleotide)`` and each signature rescaled to sum to 1.
    Converting the bundled COSMIC GRCh37 genome signatures to the exome gives COSMIC's GRCh37
    exome signatures.

    Parameters
    ----------
    signatures : pandas.DataFrame or path
        SBS96 signatures in any layout :func:`read_signatures` accepts.
    from_, to : {"genome", "exome"}
        Opportunity the signatures are normalised to, and the one wanted.
    build : {"GRCh37", "GRCh38"}

    Returns
    -------
    pandas.DataFrame
        Channels x signatures, canonical order, columns summing to 1.
    """
    check_choice("from_", from_, REGIONS)
    check_choice("to", to, REGIONS)
    check_choice("build", build, BUILDS)
    signatures = read_signatures(signatures)
    if len(signatures.index) != 96 or ch.detect_kind(signatures.index) != "SBS96":
        raise ValueError(
            f"signatures are {ch.detect_kind(signatures.index)}; opportunity conversion is defined for "
            "SBS96 (trinucleotide contexts) only."
        )
    contexts = ch.trinucleotide(signatures.index)
    ratio = (_opportunities(build, to)[contexts] / _opportunities(build, from_)[contexts]).to_numpy()
    converted = signatures.to_numpy() * ratio[:, None]
    converted /= converted.sum(axis=0, keepdims=True)
    return pd.DataFrame(converted, index=signatures.index.copy(), columns=signatures.columns.copy())
