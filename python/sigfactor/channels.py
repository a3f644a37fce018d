"""Mutation-type labels (channels): canonical lists, styles of other tools, conversions.

Canonical labels are SigProfiler's, in SigProfiler order:

- ``SBS96``: ``A[C>A]A`` ... in lexical order (the order of SigProfiler matrices and the
  COSMIC v3 tables).
- ``DBS78``: ``AC>CA`` ... in lexical order.
- ``ID83``: ``1:Del:C:0`` ... in SigProfiler's order (1 bp deletions and insertions, then
  repeat deletions and insertions by length, then microhomology deletions).

Other tools write the same channels differently, and often in another order:

``"mutationalpatterns"``
    SBS as ``A[C>A]A`` in substitution-first order (all C>A, then C>G, ...); DBS as
    ``AC_CA``; indels as ``C_deletion_1``, whose last field counts the homopolymer or
    repeat length from 1 for deletions (SigProfiler counts from 0) and from 0 for
    insertions, with ``6+`` / ``5+`` for the last bin.
``"pcawg"``
    Two columns, ``Mutation type`` and ``Trinucleotide`` (``C>A``, ``ACA``), substitution-first
    order (the PCAWG/TCGA spectra and SynSigGen files). Labels are ``(mutation_type,
    trinucleotide)`` pairs.
``"sigfit"``
    ``ACA>AAA`` (reference and mutated trinucleotide), substitution-first order.
``"cosmic"``
    The COSMIC v3 reference tables: SigProfiler labels under a ``Type`` column.

Rows are matched by label, never by position: :func:`to_canonical` turns labels of any of
these styles into canonical labels, and :func:`order` gives the complete list in a style.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

from ._validation import check_choice

_BASES = "ACGT"
_SUBSTITUTIONS = ("C>A", "C>G", "C>T", "T>A", "T>C", "T>G")

# DBS78: reference dinucleotide -> mutated dinucleotides (COSMIC / SigProfiler order).
_DBS_ALTS = {
    "AC": ("CA", "CG", "CT", "GA", "GG", "GT", "TA", "TG", "TT"),
    "AT": ("CA", "CC", "CG", "GA", "GC", "TA"),
    "CC": ("AA", "AG", "AT", "GA", "GG", "GT", "TA", "TG", "TT"),
    "CG": ("AT", "GC", "GT", "TA", "TC", "TT"),
    "CT": ("AA", "AC", "AG", "GA", "GC", "GG", "TA", "TC", "TG"),
    "GC": ("AA", "AG", "AT", "CA", "CG", "TA"),
    "TA": ("AT", "CG", "CT", "GC", "GG", "GT"),
    "TC": ("AA", "AG", "AT", "CA", "CG", "CT", "GA", "GG", "GT"),
    "TG": ("AA", "AC", "AT", "CA", "CC", "CT", "GA", "GC", "GT"),
    "TT": ("AA", "AC", "AG", "CA", "CC", "CG", "GA", "GC", "GG"),
}


def _sbs_substitution_first() -> list[tuple[str, str, str]]:
    """(substitution, 5' base, 3' base) in substitution-first order."""
    return [(s, left, right) for s in _SUBSTITUTIONS for left in _BASES for right in _BASES]


def _sbs_label(sub: str, left: str, right: str) -> str:
    return f"{left}[{sub}]{right}"


def _id83_fields() -> list[tuple[int, str, str, int]]:
    """(length, Del/Ins, C/T/R/M, index) in SigProfiler's ID83 order."""
    fields = [(1, kind, base, i) for kind in ("Del", "Ins") for base in ("C", "T") for i in range(6)]
    fields += [(n, kind, "R", i) for kind in ("Del", "Ins") for n in (2, 3, 4, 5) for i in range(6)]
    fields += [(n, "Del", "M", i) for n in (2, 3, 4, 5) for i in range(1, n if n < 5 else 6)]
    return fields


SBS96: tuple[str, ...] = tuple(sorted(_sbs_label(*t) for t in _sbs_substitution_first()))
"""The 96 single-base-substitution channels, SigProfiler labels and order."""

DBS78: tuple[str, ...] = tuple(f"{ref}>{alt}" for ref, alts in _DBS_ALTS.items() for alt in alts)
"""The 78 doublet-base-substitution channels, SigProfiler labels and order."""

ID83: tuple[str, ...] = tuple(f"{n}:{k}:{b}:{i}" for n, k, b, i in _id83_fields())
"""The 83 small insertion and deletion channels, SigProfiler labels and order."""

KINDS: dict[str, tuple[str, ...]] = {"SBS96": SBS96, "DBS78": DBS78, "ID83": ID83}
"""Every supported kind of catalogue and its canonical labels."""

STYLES: tuple[str, ...] = ("sigprofiler", "cosmic", "mutationalpatterns", "pcawg", "sigfit")
"""Label styles understood by :func:`to_canonical` and written by :func:`to_style`."""

_STYLES_OF_KIND = {
    "SBS96": STYLES,
    "DBS78": ("sigprofiler", "cosmic", "mutationalpatterns"),
    "ID83": ("sigprofiler", "cosmic", "mutationalpatterns"),
}


# ---- label tables: one per (kind, style), each in that style's order --------------------------

def _mp_indel(length: int, kind: str, base: str, index: int) -> str:
    """MutationalPatterns name of one SigProfiler ID83 channel."""
    if kind == "Del" and base in "CT":
        return f"{base}_deletion_{'6+' if index == 5 else index + 1}"
    if kind == "Ins":
        stem = f"{base}_insertion" if length == 1 else f"{'5+' if length == 5 else length}bp_insertion"
        return f"{stem}_{'5+' if index == 5 else index}"
    size = f"{'5+' if length == 5 else length}bp"
    if base == "R":
        return f"{size}_deletion_{'6+' if index == 5 else index + 1}"
    return f"{size}_deletion_with_microhomology_{'5+' if index == 5 else index}"


def _tables() -> dict[tuple[str, str], list[tuple[object, str]]]:
    """(kind, style) -> [(label in style, canonical label), ...] in that style's order."""
    sub_first = _sbs_substitution_first()
    sbs_mp = [_sbs_label(*t) for t in sub_first]
    pcawg = [(s, f"{left}{s[0]}{right}") for s, left, right in sub_first]
    sigfit = [f"{left}{s[0]}{right}>{left}{s[2]}{right}" for s, left, right in sub_first]
    same = lambda labels: [(x, x) for x in labels]  # noqa: E731
    return {
        ("SBS96", "sigprofiler"): same(SBS96),
        ("SBS96", "cosmic"): same(SBS96),
        ("SBS96", "mutationalpatterns"): same(sbs_mp),
        ("SBS96", "pcawg"): list(zip(pcawg, sbs_mp)),
        ("SBS96", "sigfit"): list(zip(sigfit, sbs_mp)),
        ("DBS78", "sigprofiler"): same(DBS78),
        ("DBS78", "cosmic"): same(DBS78),
        ("DBS78", "mutationalpatterns"): [(x.replace(">", "_"), x) for x in DBS78],
        ("ID83", "sigprofiler"): same(ID83),
        ("ID83", "cosmic"): same(ID83),
        ("ID83", "mutationalpatterns"): list(zip((_mp_indel(*f) for f in _id83_fields()), ID83)),
    }


_TABLES = _tables()
# any label of any style -> (kind, canonical label)
_TO_CANONICAL: dict[object, tuple[str, str]] = {
    label: (kind, canonical) for (kind, _), pairs in _TABLES.items() for label, canonical in pairs
}
# (kind, style) -> {canonical label: label in style}
_FROM_CANONICAL: dict[tuple[str, str], dict[str, object]] = {
    key: {canonical: label for label, canonical in pairs} for key, pairs in _TABLES.items()
}


# ---- lookups --------------------------------------------------------------------------------

def _key(label) -> object:
    """Lookup key of one label: a stripped string, or a (mutation type, trinucleotide) pair."""
    if isinstance(label, tuple) and len(label) == 2:
        return (str(label[0]).strip(), str(label[1]).strip())
    if isinstance(label, str):
        return label.strip()
    return label


def _lookup(label) -> tuple[str, str] | None:
    """(kind, canonical label) of ``label`` in any style, or ``None`` if unknown."""
    try:
        return _TO_CANONICAL.get(_key(label))
    except TypeError:  # unhashable
        return None


def _shown(labels: Iterable, limit: int = 5) -> str:
    labels = list(labels)
    text = ", ".join(repr(x) for x in labels[:limit])
    return text + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def is_label(label) -> bool:
    """Return whether ``label`` is a channel label of any supported kind and style."""
    return _lookup(label) is not None


def detect_kind(labels: Iterable) -> str | None:
    """Return the kind (``"SBS96"``, ``"DBS78"``, ``"ID83"``) that ``labels`` name, or ``None``.

    Parameters
    ----------
    labels : iterable
        Labels in any supported style; ``(mutation_type, trinucleotide)`` pairs for PCAWG.

    Returns
    -------
    str or None
        The kind when more than half of the labels are channel labels of that kind, else
        ``None`` (for example for sample names). Unknown labels among mostly known ones do not
        change the answer: :func:`to_canonical` reports them.

    Raises
    ------
    ValueError
        If the labels mix kinds (for example SBS rows with DBS rows).
    """
    labels = list(labels)
    if not labels:
        return None
    found = [hit[0] for hit in map(_lookup, labels) if hit is not None]
    if 2 * len(found) <= len(labels):
        return None
    counts = Counter(found)
    if len(counts) > 1:
        parts = []
        for kind, n in counts.most_common():
            example = next(x for x in labels if (_lookup(x) or ("",))[0] == kind)
            parts.append(f"{n} {kind} labels (e.g. {example!r})")
        raise ValueError(
            "The labels mix kinds of mutations: " + " and ".join(parts)
            + "; a catalogue holds one kind (SBS96, DBS78 or ID83)."
        )
    return found[0]


def to_canonical(labels: Iterable, kind: str | None = None) -> list[str]:
    """Return the canonical (SigProfiler) label of each label, in the given order.

    Parameters
    ----------
    labels : iterable
        Labels in any supported style (see :data:`STYLES`), or ``(mutation_type,
        trinucleotide)`` pairs.
    kind : {"SBS96", "DBS78", "ID83"}, optional
        Expected kind; detected from the labels when not given.

    Returns
    -------
    list of str
        Canonical labels, one per input label, in the input order (not reordered).

    Raises
    ------
    ValueError
        Naming the unknown labels, or the labels of another kind than ``kind``.
    """
    labels = list(labels)
    if kind is not None:
        check_choice("kind", kind, tuple(KINDS))
    hits = [_lookup(x) for x in labels]
    unknown = [x for x, hit in zip(labels, hits) if hit is None]
    if unknown:
        expected = kind or "SBS96, DBS78 or ID83"
        raise ValueError(
            f"Unknown mutation-type label(s): {_shown(unknown)}; expected {expected} labels such as "
            f"{_examples(kind)}."
        )
    kinds = {hit[0] for hit in hits}
    wanted = kind if kind is not None else (kinds.pop() if len(kinds) == 1 else None)
    if wanted is None:
        detect_kind(labels)  # raises with the mix described
    other = [x for x, hit in zip(labels, hits) if hit[0] != wanted]
    if other:
        raise ValueError(
            f"Label(s) {_shown(other)} are not {wanted} labels (they are {_lookup(other[0])[0]}); "
            "a catalogue holds one kind."
        )
    return [hit[1] for hit in hits]


def _examples(kind: str | None) -> str:
    kinds = [kind] if kind else list(KINDS)
    return ", ".join(f"{KINDS[k][0]!r}" for k in kinds) + " (SigProfiler style)"


def order(kind: str, style: str = "sigprofiler") -> list:
    """Return every label of ``kind`` in ``style``, in the order that style's tools use.

    Parameters
    ----------
    kind : {"SBS96", "DBS78", "ID83"}
    style : {"sigprofiler", "cosmic", "mutationalpatterns", "pcawg", "sigfit"}
        ``"pcawg"`` and ``"sigfit"`` exist for SBS96 only.

    Returns
    -------
    list
        Strings, or ``(mutation_type, trinucleotide)`` tuples for ``"pcawg"``.
    """
    check_choice("kind", kind, tuple(KINDS))
    check_choice("style", style, _STYLES_OF_KIND[kind])
    return [label for label, _ in _TABLES[(kind, style)]]


def to_style(labels: Iterable, style: str) -> list:
    """Convert labels of any style to ``style``, keeping their order.

    Returns a list of strings, or of ``(mutation_type, trinucleotide)`` tuples for ``"pcawg"``.
    """
    check_choice("style", style, STYLES)
    labels = list(labels)
    canonical = to_canonical(labels)
    if not canonical:
        return []
    kind = _lookup(canonical[0])[0]
    if style not in _STYLES_OF_KIND[kind]:
        raise ValueError(
            f"style={style!r} has no labels for {kind}; expected one of "
            f"{', '.join(repr(s) for s in _STYLES_OF_KIND[kind])}."
        )
    table = _FROM_CANONICAL[(kind, style)]
    return [table[c] for c in canonical]


def to_mutationalpatterns(labels: Iterable) -> list[str]:
    """Convert labels to MutationalPatterns row names (``A[C>A]A``, ``AC_CA``, ``C_deletion_1``)."""
    return to_style(labels, "mutationalpatterns")


def to_pcawg(labels: Iterable) -> tuple[list[str], list[str]]:
    """Convert SBS96 labels to the two PCAWG/TCGA columns ``Mutation type`` and ``Trinucleotide``."""
    pairs = to_style(labels, "pcawg")
    return [p[0] for p in pairs], [p[1] for p in pairs]


def to_sigfit(labels: Iterable) -> list[str]:
    """Convert SBS96 labels to sigfit's ``ACA>AAA`` (reference and mutated trinucleotide)."""
    return to_style(labels, "sigfit")


def to_cosmic(labels: Iterable) -> list[str]:
    """Convert labels to the COSMIC v3 tables' ``Type`` column (SigProfiler labels)."""
    return to_style(labels, "cosmic")


def trinucleotide(labels: Iterable[str]) -> list[str]:
    """Return the reference trinucleotide (``ACA``) of each SBS96 label, e.g. for opportunities."""
    return to_pcawg(labels)[1]
