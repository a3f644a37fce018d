"""Mutation catalogues: read what users have, write what their tools read, rows matched by label.

A :class:`Catalogue` holds mutation counts as a samples x channels array (the engine's
orientation) with sample names and canonical channel labels in SigProfiler order. Files and R
objects are channels x samples; the transpose happens once, here.

Readable inputs (:func:`read_catalogue`):

- SigProfilerMatrixGenerator / SigProfilerExtractor matrices (``MutationType`` or
  ``Mutation Types`` first column; ``.all``, ``.txt``), COSMIC tables (``Type``);
- MutationalPatterns tables (row names, header one field shorter, as R's ``write.table``
  writes them; tab, comma or space separated);
- PCAWG/TCGA/SynSigGen CSV files with two label columns (``Mutation type``, ``Trinucleotide``);
- sigfit-style tables and any other table with samples as rows and channels as columns;
- ``.h5ad`` AnnData files (obs = samples, var = channels) and ``.rds`` files holding a
  MutationalPatterns ``mut_matrix`` (optional extra ``sigfactor[r]``);
- pandas DataFrames in either orientation, AnnData objects, Catalogues.

Text files are UTF-8 (or UTF-16 with a byte-order mark), may be gzip-, bzip2- or
xz-compressed (found by their first bytes, whatever their name), may start with ``#`` comment
lines, and are read once, so pipes work (``sigfactor extract <(zcat x.txt.gz)``).

The orientation is decided by where the channel labels are, never by the shape.
"""
from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from . import channels as ch
from ._validation import check_choice, check_counts

FORMATS = ("sigprofiler", "mutationalpatterns", "pcawg", "h5ad", "rds")
"""Formats that :func:`write_catalogue` writes."""

_FORMAT_OF_SUFFIX = {
    ".txt": "sigprofiler", ".all": "sigprofiler", ".tsv": "mutationalpatterns",
    ".csv": "pcawg", ".h5ad": "h5ad", ".rds": "rds",
}
_UNS_KEY = "sigfactor_catalogue"
_PAIR_TYPE = re.compile(r"^[CT]>[ACGT]$")
_PAIR_CONTEXT = re.compile(r"^[ACGT]{3}$")


class Catalogue:
    """Mutation counts of one kind (SBS96, DBS78 or ID83) for a set of samples.

    Parameters
    ----------
    counts : array_like, shape (n_samples, n_channels)
        Mutation counts, samples as rows. An integer dtype is kept; floats are allowed, and
        counts that are not whole numbers give a warning.
    samples : iterable of str
        Sample names, unique and non-empty.
    channels : iterable
        Channel labels of the columns of ``counts``, in any supported style and any order
        (see :mod:`sigfactor.channels`); columns are matched to channels by label.
    kind : {"SBS96", "DBS78", "ID83"}, optional
        Detected from the labels when not given.
    source : str, default "memory"
        Where the counts came from; named in every error message.

    Attributes
    ----------
    counts : numpy.ndarray, shape (n_samples, n_channels)
        Counts with columns in canonical (SigProfiler) order.
    samples : pandas.Index
        Sample names (str).
    channels : pandas.Index
        Canonical channel labels in SigProfiler order, ``channels.KINDS[kind]``.
    kind : str
    source : str

    Raises
    ------
    ValueError
        For unknown, duplicated or missing channel labels, duplicated or empty sample names,
        negative, NaN or infinite counts, samples with no mutations, or a shape that does not
        match the names; each message names the source, the sample or label, and the problem.
    TypeError
        For counts that are not numbers.
    """

    def __init__(self, counts, samples: Iterable, channels: Iterable, *, kind: str | None = None,
                 source: str = "memory"):
        self.source = str(source)
        samples = _sample_index(samples, self.source)
        labels = list(channels)
        values = np.asarray(counts)
        if values.ndim != 2 or values.shape != (len(samples), len(labels)):
            raise ValueError(
                f"{self.source}: counts have shape {values.shape}; expected samples x channels = "
                f"({len(samples)}, {len(labels)}) to match the sample names and channel labels."
            )
        kind, order = _channel_order(labels, kind, self.source)
        values = _numeric(values, samples, labels, self.source)
        if not np.array_equal(order, np.arange(len(order))):
            values = values[:, order]
        self.kind = kind
        self.channels = pd.Index(ch.KINDS[kind], name="MutationType")
        self.samples = samples
        self.counts = np.ascontiguousarray(values)
        _check_values(self.counts, self.samples, self.channels, self.source)

    # ---- size and selection -----------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return len(self.samples)

    @property
    def n_channels(self) -> int:
        """Number of channels (96, 78 or 83)."""
        return len(self.channels)

    def __len__(self) -> int:
        return self.n_samples

    def __repr__(self) -> str:
        return (f"Catalogue({self.kind}, {self.n_samples} samples, dtype={self.counts.dtype}, "
                f"source={self.source!r})")

    def subset(self, samples) -> "Catalogue":
        """Return a Catalogue with the named samples, in the given order.

        Parameters
        ----------
        samples : str or iterable of str
            Sample names; each must be in :attr:`samples`.
        """
        names = [samples] if isinstance(samples, str) else [str(s) for s in samples]
        positions = self.samples.get_indexer(names)
        missing = [n for n, p in zip(names, positions) if p < 0]
        if missing:
            raise ValueError(
                f"samples={ch._shown(missing)} not found in {self.source}; "
                f"expected names from Catalogue.samples (e.g. {ch._shown(self.samples[:3])})."
            )
        return Catalogue(self.counts[positions], names, self.channels, kind=self.kind,
                         source=self.source)

    # ---- conversions ------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """Return the counts as a channels x samples DataFrame in SigProfiler order.

        The index (canonical labels) is named ``"MutationType"``; the columns are the samples.
        """
        return pd.DataFrame(self.counts.T.copy(), index=self.channels.copy(),
                            columns=self.samples.copy())

    def to_anndata(self):
        """Return an AnnData with obs = samples, var = channels and ``X`` = counts.

        ``uns["sigfactor_catalogue"]`` holds ``kind`` and ``source``.
        """
        import anndata

        adata = anndata.AnnData(
            X=self.counts.copy(),
            obs=pd.DataFrame(index=pd.Index(self.samples, name=None)),
            var=pd.DataFrame(index=pd.Index(self.channels, name=None)),
        )
        adata.uns[_UNS_KEY] = {"kind": self.kind, "source": self.source}
        return adata


# ---- building blocks of the constructor ------------------------------------------------------

def _sample_index(samples: Iterable, source: str, what: str = "sample") -> pd.Index:
    """Names as an Index of str; empty or duplicated names are refused, naming them."""
    names = []
    for i, s in enumerate(samples):
        if s is None or (isinstance(s, float) and np.isnan(s)) or str(s).strip() == "":
            raise ValueError(f"{source}: {what} {i + 1} has an empty name; expected a unique name per {what}.")
        names.append(str(s))
    index = pd.Index(names, dtype=object)
    if index.has_duplicates:
        dup = index[index.duplicated()].unique().tolist()
        raise ValueError(f"{source}: duplicated {what} name(s) {ch._shown(dup)}; expected unique {what} names.")
    return index


def _channel_order(labels: list, kind: str | None, source: str) -> tuple[str, np.ndarray]:
    """Kind and the column positions that put ``labels`` in canonical order."""
    try:
        canonical = ch.to_canonical(labels, kind)
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None
    if not canonical:
        raise ValueError(f"{source}: no channels; expected SBS96, DBS78 or ID83 channel labels.")
    kind = kind or ch.detect_kind(canonical)
    seen: dict[str, int] = {}
    for i, label in enumerate(canonical):
        if label in seen:
            first = labels[seen[label]]
            also = "" if first == labels[i] else f" (also written {labels[i]!r})"
            raise ValueError(f"{source}: channel {first!r}{also} appears twice; expected each {kind} channel once.")
        seen[label] = i
    missing = [c for c in ch.KINDS[kind] if c not in seen]
    if missing:
        raise ValueError(
            f"{source}: {len(missing)} of the {len(ch.KINDS[kind])} {kind} channels are missing: "
            f"{ch._shown(missing)}; expected all of them."
        )
    return kind, np.array([seen[c] for c in ch.KINDS[kind]])


def _numeric(values: np.ndarray, samples: pd.Index, labels: list, source: str) -> np.ndarray:
    """Return ``values`` as a numeric array, naming the first cell that is not a number."""
    if values.dtype.kind in "iuf":
        return values
    if values.dtype.kind == "b":
        raise TypeError(f"{source}: counts are booleans; expected numbers of mutations.")
    flat = pd.Series(values.ravel(order="C"))
    numbers = pd.to_numeric(flat, errors="coerce")
    bad = np.flatnonzero(numbers.isna().to_numpy() & flat.notna().to_numpy())
    if bad.size:
        row, col = divmod(int(bad[0]), values.shape[1])
        raise TypeError(
            f"{source}: count {flat.iloc[bad[0]]!r} of sample {samples[row]!r}, channel {labels[col]!r} "
            f"is not a number ({bad.size} such value(s)); expected numbers of mutations."
        )
    return numbers.to_numpy().reshape(values.shape)


def _check_values(counts: np.ndarray, samples: pd.Index, channels: pd.Index, source: str) -> None:
    """Name the sample and channel of the first NaN, infinite or negative count; warn on fractions."""
    if counts.dtype.kind == "f":
        finite = np.isfinite(counts)
        if not finite.all():
            i, j = np.argwhere(~finite)[0]
            raise ValueError(
                f"{source}: sample {samples[i]!r}, channel {channels[j]!r} has count {counts[i, j]!r} "
                f"({int((~finite).sum())} NaN or infinite value(s)); expected finite non-negative counts."
            )
    negative = counts < 0
    if negative.any():
        i, j = np.argwhere(negative)[0]
        raise ValueError(
            f"{source}: sample {samples[i]!r}, channel {channels[j]!r} has negative count {counts[i, j]!r} "
            f"({int(negative.sum())} negative value(s)); expected non-negative counts."
        )
    check_counts(source, counts, sample_names=samples, samples_axis=0)
    if counts.dtype.kind == "f":
        fractional = counts != np.round(counts)
        if fractional.any():
            i, j = np.argwhere(fractional)[0]
            warnings.warn(
                f"{source}: {int(fractional.sum())} count(s) are not whole numbers (first: sample "
                f"{samples[i]!r}, channel {channels[j]!r}, {counts[i, j]!r}); they are kept as given.",
                UserWarning, stacklevel=3,
            )


# ---- reading ----------------------------------------------------------------------------------

def read_catalogue(obj, kind: str | None = None, *, layer: str | None = None) -> Catalogue:
    """Read a mutation catalogue from a file or an in-memory object.

    Parameters
    ----------
    obj : str, os.PathLike, pandas.DataFrame, anndata.AnnData or Catalogue
        A file (SigProfiler ``.txt``/``.all``, MutationalPatterns table, PCAWG/TCGA ``.csv``,
        sigfit-style table, ``.h5ad``, ``.rds``), a DataFrame in either orientation, an AnnData
        (obs = samples, var = channels) or a Catalogue (returned as is).
    kind : {"SBS96", "DBS78", "ID83"}, optional
        Expected kind; detected from the labels when not given.
    layer : str, optional
        AnnData layer holding the counts instead of ``X`` (AnnData objects and ``.h5ad`` only).

    Returns
    -------
    Catalogue

    Raises
    ------
    ValueError, TypeError, FileNotFoundError
        With the file (or object), the label or sample, and the problem named. Nothing is
        written anywhere when reading fails.
    """
    if kind is not None:
        check_choice("kind", kind, tuple(ch.KINDS))
    if layer is not None and not (isinstance(obj, (str, os.PathLike)) or _is_anndata(obj)):
        raise ValueError(f"layer={layer!r} applies to AnnData objects and .h5ad files only; got {type(obj).__name__}.")
    if isinstance(obj, Catalogue):
        if kind is not None and obj.kind != kind:
            raise ValueError(f"kind={kind!r} but the Catalogue from {obj.source} holds {obj.kind}.")
        return obj
    if isinstance(obj, (str, os.PathLike)):
        return _read_path(Path(obj), kind, layer)
    if isinstance(obj, pd.DataFrame):
        return _from_frame(obj, kind, "DataFrame")
    if _is_anndata(obj):
        return _from_anndata(obj, kind, layer, "AnnData")
    raise TypeError(_wrong_type("obj", obj))


def as_catalogue(obj, *, name: str = "X") -> Catalogue:
    """Return ``obj`` as a Catalogue: a Catalogue, a DataFrame (either orientation), an AnnData or a path.

    Used by the engine on whatever the user passed as argument ``name``. Plain arrays are refused
    because they carry no channel labels.
    """
    if not isinstance(obj, (Catalogue, pd.DataFrame, str, os.PathLike)) and not _is_anndata(obj):
        raise TypeError(_wrong_type(name, obj))
    return read_catalogue(obj)


def _wrong_type(name: str, obj) -> str:
    hint = ""
    if isinstance(obj, np.ndarray) or hasattr(obj, "__array__"):
        hint = (" An array has no channel labels, so its rows cannot be matched to channels; wrap it "
                "in a DataFrame with channel labels (e.g. pandas.DataFrame(x, index=sigfactor.channels.SBS96)).")
    return (f"{name} is a {type(obj).__module__}.{type(obj).__name__}; expected a Catalogue, a pandas "
            f"DataFrame, an AnnData or a path to a catalogue file.{hint}")


def _is_anndata(obj) -> bool:
    return type(obj).__name__ == "AnnData" and hasattr(obj, "var_names") and hasattr(obj, "obs_names")


def _read_path(path: Path, kind: str | None, layer: str | None) -> Catalogue:
    source = f"file '{path}'"
    if path.suffix.lower() == ".h5ad" and path.is_file() and path.stat().st_size > 0:
        import anndata

        try:
            adata = anndata.read_h5ad(path)
        except (OSError, KeyError, ValueError) as err:
            raise ValueError(f"{source} cannot be read as AnnData (.h5ad): {err}") from None
        return _from_anndata(adata, kind, layer, source)
    if layer is not None:
        raise ValueError(f"layer={layer!r} applies to .h5ad files only; got {source}.")
    return _from_frame(_read_table(path, source), kind, source)


def _read_table(path: Path, source: str) -> pd.DataFrame:
    """A text or .rds file as a labelled DataFrame (orientation not yet decided)."""
    if not path.exists():
        raise FileNotFoundError(f"{source} does not exist; expected a catalogue file.")
    if path.is_dir():
        raise ValueError(f"{source} is a folder; expected a catalogue file.")
    if path.suffix.lower() == ".rds" and path.is_file() and path.stat().st_size > 0:
        return _read_rds(path)
    return _read_text(_text_of(path, source), source)


_COMPRESSIONS = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"))
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _decompressed(raw: bytes, source: str) -> bytes:
    """``raw`` itself, or its content when it is gzip, bzip2 or xz data (found by its signature)."""
    for magic, name in _COMPRESSIONS:
        if raw.startswith(magic):
            import bz2
            import gzip
            import lzma

            open_ = {"gzip": gzip.decompress, "bz2": bz2.decompress, "xz": lzma.decompress}[name]
            try:
                return open_(raw)
            except (OSError, EOFError, ValueError, lzma.LZMAError) as err:
                raise ValueError(f"{source} is {name}-compressed but cannot be decompressed ({err}); "
                                 "expected a complete compressed file.") from None
    return raw


def _text_of(path: Path, source: str) -> str:
    """The file's text, read once (so that pipes such as ``<(...)`` work), decompressed and
    decoded: UTF-8 (a byte-order mark is dropped) or UTF-16 with a byte-order mark."""
    with open(path, "rb") as fh:
        raw = _decompressed(fh.read(), source)
    if not raw:
        raise ValueError(f"{source} is empty; expected a mutation catalogue.")
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as err:
            raise ValueError(f"{source} starts as UTF-16 text but byte {err.start} cannot be decoded; "
                             "expected UTF-8 or UTF-16 text.") from None
    if raw.startswith(_HDF5_SIGNATURE):
        raise ValueError(f"{source} is an HDF5 file; AnnData files are read when their name ends in .h5ad.")
    if b"\x00" in raw[:65536]:
        raise ValueError(f"{source} is not a text file (it holds NUL bytes: binary, or UTF-16 without a "
                         "byte-order mark); expected a tab- or comma-separated catalogue (UTF-8, may be "
                         "gzip-compressed), .h5ad or .rds.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise ValueError(f"{source} is not UTF-8 text: byte 0x{raw[err.start]:02x} on line {line} cannot be "
                         "decoded (Latin-1 or Windows-1252?); expected UTF-8. Convert it, e.g. with "
                         "iconv -f latin1 -t utf-8.") from None


def _from_frame(frame: pd.DataFrame, kind: str | None, source: str) -> Catalogue:
    """Catalogue from a labelled table; the orientation is where the channel labels are."""
    values, samples, labels, kind = _orient(frame, kind, source)
    return Catalogue(values, samples, labels, kind=kind, source=source)


def _orient(frame: pd.DataFrame, kind: str | None, source: str) -> tuple[np.ndarray, list, list, str]:
    """Find the axis holding channel labels: (values names x channels, names, labels, kind)."""
    frame = _promote_label_columns(frame)
    rows, cols = _labels(frame.index), _labels(frame.columns)
    try:
        rows_kind, cols_kind = ch.detect_kind(rows), ch.detect_kind(cols)
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None
    if kind is not None:
        for axis, found in (("rows", rows_kind), ("columns", cols_kind)):
            if found is not None and found != kind:
                raise ValueError(f"{source}: kind={kind!r} but the {axis} hold {found} labels.")
    if rows_kind and cols_kind:
        raise ValueError(
            f"{source}: both the rows and the columns are channel labels ({rows_kind}); cannot tell "
            "samples from channels. Expected channel labels on one axis and sample names on the other."
        )
    if rows_kind is None and cols_kind is None:
        raise ValueError(
            f"{source}: no channel labels found; the rows start {ch._shown(rows[:3], 3)} and the columns "
            f"start {ch._shown(cols[:3], 3)}. Expected SBS96, DBS78 or ID83 labels in any supported style "
            f"({', '.join(ch.STYLES)}), e.g. 'A[C>A]A', 'C>A' + 'ACA', 'AC>CA', '1:Del:C:0', 'C_deletion_1'."
        )
    if rows_kind:
        return frame.to_numpy().T, cols, rows, rows_kind
    return frame.to_numpy(), rows, cols, cols_kind


def _labels(index: pd.Index) -> list:
    """Labels of an axis; a two-level MultiIndex gives (mutation type, trinucleotide) pairs."""
    if isinstance(index, pd.MultiIndex):
        return [tuple(x) for x in index.tolist()]
    return index.tolist()


def _promote_label_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Move leading text columns (row names, or PCAWG's two label columns) into the index."""
    if frame.shape[1] >= 2 and _is_pair_columns(frame.iloc[:, 0], frame.iloc[:, 1]):
        return frame.set_index([frame.columns[0], frame.columns[1]])
    if (frame.shape[1] >= 1 and isinstance(frame.index, pd.RangeIndex)
            and not pd.api.types.is_numeric_dtype(frame.iloc[:, 0])
            and not ch.is_label(frame.columns[0])):
        return frame.set_index(frame.columns[0])
    return frame


def _is_pair_columns(first: pd.Series, second: pd.Series) -> bool:
    """Whether two columns are PCAWG-style labels (``C>A``, ``ACA``)."""
    if pd.api.types.is_numeric_dtype(first) or pd.api.types.is_numeric_dtype(second):
        return False
    a, b = first.astype(str).str.strip(), second.astype(str).str.strip()
    return bool(a.str.match(_PAIR_TYPE).mean() > 0.5 and b.str.match(_PAIR_CONTEXT).mean() > 0.5)


def _from_anndata(adata, kind: str | None, layer: str | None, source: str) -> Catalogue:
    if layer is None:
        matrix = adata.X
        if matrix is None:
            raise ValueError(f"{source}: X is empty; pass layer= naming the layer with the counts.")
    else:
        if layer not in adata.layers:
            raise ValueError(
                f"{source}: layer={layer!r} not found; available layers: "
                f"{', '.join(repr(k) for k in adata.layers.keys()) or 'none'}."
            )
        matrix = adata.layers[layer]
        source = f"{source} layer {layer!r}"
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    obs, var = list(adata.obs_names), list(adata.var_names)
    try:
        obs_kind, var_kind = ch.detect_kind(obs), ch.detect_kind(var)
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None
    if obs_kind and not var_kind:
        raise ValueError(
            f"{source}: the obs names are channel labels ({obs_kind}, e.g. {obs[0]!r}), so the AnnData is "
            "transposed; expected obs = samples and var = channels. Pass adata.T."
        )
    if not var_kind:
        raise ValueError(
            f"{source}: var names {ch._shown(var[:3], 3)} are not channel labels; expected obs = samples "
            "and var = channels labelled e.g. 'A[C>A]A'."
        )
    return Catalogue(np.asarray(matrix), obs, var, kind=kind or var_kind, source=source)


# ---- text files ---------------------------------------------------------------------------

def _read_text(text: str, source: str) -> pd.DataFrame:
    """Parse a delimited text matrix into a DataFrame with its row labels as index.

    Blank lines and lines starting with ``#`` before the header are skipped.
    """
    lines = []
    skipped = 0
    for line in io.StringIO(text, newline=""):
        if line.strip() and (lines or not line.lstrip().startswith("#")):
            lines.append(line.rstrip("\r\n"))
            if len(lines) == 2:
                break
        elif not lines:
            skipped += 1
    if not lines:
        raise ValueError(f"{source} holds only blank lines (and '#' comments); expected a mutation catalogue.")
    if len(lines) < 2:
        raise ValueError(f"{source} has a header line but no data rows; expected a mutation catalogue.")
    sep = _delimiter(lines[0], source)
    header, first_row = _split(lines[0], sep), _split(lines[1], sep)
    _refuse_data_as_header(header, lines[0], source)
    if len(first_row) == len(header) + 1:  # R's write.table: no header cell above the row names
        header = [""] + header
    elif len(first_row) != len(header):
        raise ValueError(
            f"{source}: the header has {len(header)} fields but the first data row has {len(first_row)} "
            f"(split on {_SEP_NAMES[sep]}); expected equal numbers, or one more in the rows for R-style row names."
        )
    n_labels = 2 if len(first_row) > 2 and _PAIR_TYPE.match(first_row[0].strip()) \
        and _PAIR_CONTEXT.match(first_row[1].strip()) else 1
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=r"\s+" if sep == " " else sep, header=None, skiprows=skipped + 1,
            names=list(range(len(header))), dtype={i: str for i in range(n_labels)},
            skip_blank_lines=True, engine="c",
        )
    except (pd.errors.ParserError, ValueError) as err:
        raise ValueError(f"{source}: cannot be parsed as a table split on {_SEP_NAMES[sep]}: {err}") from None
    frame.columns = header
    if header[-1].strip() == "" and len(header) > n_labels + 1 and frame.iloc[:, -1].isna().all():
        frame = frame.iloc[:, :-1]  # a delimiter at the end of every line (SigProfilerMatrixGenerator)
    labels = frame.iloc[:, :n_labels]
    blank = labels.isna().any(axis=1).to_numpy()
    if blank.any():
        raise ValueError(f"{source}: data row {int(np.argmax(blank)) + 1} has an empty label; expected a label in each row.")
    frame = frame.iloc[:, n_labels:]
    if n_labels == 2:
        frame.index = pd.MultiIndex.from_arrays([labels.iloc[:, 0].str.strip(), labels.iloc[:, 1].str.strip()])
    else:
        frame.index = pd.Index(labels.iloc[:, 0].str.strip())
    frame.columns = pd.Index([str(c).strip() for c in frame.columns], dtype=object)
    return frame


_SEP_NAMES = {"\t": "tabs", ",": "commas", " ": "spaces"}


def _refuse_data_as_header(header: list[str], line: str, source: str) -> None:
    """A first line made of a channel label (or PCAWG's two label columns) and numbers is a data
    row: the file has no header, and its counts would become sample names."""
    fields = [f.strip() for f in header]
    while fields and fields[-1] == "":
        fields.pop()
    n_labels = 2 if len(fields) > 2 and _PAIR_TYPE.match(fields[0]) and _PAIR_CONTEXT.match(fields[1]) else 1
    if len(fields) <= n_labels or (n_labels == 1 and not ch.is_label(fields[0])):
        return
    numbers = pd.to_numeric(pd.Series(fields[n_labels:]), errors="coerce")
    if numbers.notna().all():
        raise ValueError(
            f"{source}: the first line ({line[:50]!r}...) is a data row (a channel label and counts); expected a "
            "header line with the sample names first, e.g. 'MutationType<TAB>sample1<TAB>sample2'.")


def _delimiter(header: str, source: str) -> str:
    """Tab, comma, or (R's write.table default) spaces; anything else is refused by name."""
    if "\t" in header:
        return "\t"
    if "," in header:
        return ","
    if " " in header.strip() and not any(c in header for c in ";|"):
        return " "
    found = [name for c, name in ((";", "semicolons"), ("|", "vertical bars")) if c in header]
    seen = f"; the first line seems to use {found[0]}" if found else ""
    raise ValueError(
        f"{source}: no tab or comma between the fields of the first line ({header[:60]!r}){seen}. "
        "Expected tab-separated (.txt, .tsv, .all) or comma-separated (.csv) text."
    )


def _split(line: str, sep: str) -> list[str]:
    if sep == " ":
        return next(csv.reader([line.strip()], delimiter=" ", skipinitialspace=True))
    return next(csv.reader([line], delimiter=sep))


# ---- R ----------------------------------------------------------------------------------------

@contextlib.contextmanager
def library_path_kept():
    """Restore ``LD_LIBRARY_PATH`` after the block (for starting R through rpy2).

    Starting R through rpy2 prepends R's library folders (``/usr/lib/R/lib``, the system's
    ``/usr/lib/x86_64-linux-gnu``) to ``LD_LIBRARY_PATH``. Python processes started afterwards
    (Dask workers, multiprocessing's spawn) then load the system's libpython before their own
    and fail to import ``ssl``. R is loaded by then and no longer needs the variable.
    """
    saved = os.environ.get("LD_LIBRARY_PATH")
    try:
        yield
    finally:
        # R sets the variable in the C environment too, so both are reset (assigning and then
        # deleting through os.environ calls setenv and unsetenv).
        os.environ["LD_LIBRARY_PATH"] = saved or ""
        if saved is None:
            del os.environ["LD_LIBRARY_PATH"]


def _rpy2():
    """``rpy2.robjects``, importing it (and starting R) with this process's environment kept
    (:func:`library_path_kept`)."""
    try:
        with library_path_kept():
            import rpy2.robjects as ro
    except ImportError as err:  # the optional extra is not installed
        raise ImportError(
            "Reading and writing .rds files needs R and rpy2: pip install 'sigfactor[r]' "
            f"(rpy2<3.6, with R 4.2 or later on the PATH). The import failed with: {err}"
        ) from None
    return ro


_RDS_FORMATS = (b"X\n", b"A\n", b"B\n")
"""How R's serialization starts (binary XDR, ASCII, native binary), inside the optional compression."""


def _check_rds(path: Path) -> None:
    """Refuse a file that R's readRDS cannot read (e.g. a text catalogue named .rds), by its first bytes."""
    import bz2
    import gzip
    import lzma

    with open(path, "rb") as fh:
        start = fh.read(8)
    opener = {b"\x1f\x8b": gzip.open, b"BZ": bz2.open, b"\xfd7": lzma.open}.get(start[:2])
    if opener is not None:
        try:
            with opener(path, "rb") as fh:
                start = fh.read(8)
        except (OSError, EOFError, lzma.LZMAError):
            start = b""
    if not start.startswith(_RDS_FORMATS):
        shown = start.decode("utf-8", "replace")
        raise ValueError(f"file '{path}' is not an R data file written by saveRDS (it starts with {shown!r}); "
                         "expected a .rds file, or a text catalogue named .txt, .tsv or .csv.")


def _read_rds(path: Path) -> pd.DataFrame:
    """A matrix or data.frame saved with saveRDS, as a DataFrame with its dimnames."""
    _check_rds(path)
    ro = _rpy2()
    from rpy2.rinterface_lib import callbacks

    quiet, callbacks.consolewrite_warnerror = callbacks.consolewrite_warnerror, lambda text: None
    try:
        obj = ro.r["readRDS"](str(path))
    except Exception as err:                            # noqa: BLE001 - R's errors (RRuntimeError)
        said = " ".join(str(err).split()) or type(err).__name__
        raise ValueError(f"file '{path}' cannot be read by R's readRDS: {said}") from None
    finally:
        callbacks.consolewrite_warnerror = quiet
    matrix = ro.r["as.matrix"](obj)
    mode = ro.r["storage.mode"](matrix)[0]
    if mode not in ("integer", "double"):
        raise TypeError(f"file '{path}': the R object is a {mode} matrix; expected numeric mutation counts.")
    nrow, ncol = (int(d) for d in ro.r["dim"](matrix))
    values = np.array(ro.r["as.vector"](matrix)).reshape((nrow, ncol), order="F")
    missing = np.array(ro.r["as.vector"](ro.r["is.na"](matrix)), dtype=bool).reshape((nrow, ncol), order="F")
    if missing.any():  # R's NA_integer_ arrives as a large negative number
        values = values.astype(np.float64)
        values[missing] = np.nan
    rows, cols = ro.r["rownames"](matrix), ro.r["colnames"](matrix)
    if rows is ro.NULL or cols is ro.NULL:
        raise ValueError(f"file '{path}': the R matrix has no row or column names; expected channel labels "
                         "and sample names as dimnames.")
    return pd.DataFrame(values, index=list(rows), columns=list(cols))


def _write_rds(catalogue: Catalogue, path: str) -> None:
    ro = _rpy2()
    frame = catalogue.to_frame()
    rows = ch.to_mutationalpatterns(frame.index)
    order = ch.order(catalogue.kind, "mutationalpatterns")
    frame.index = rows
    frame = frame.loc[order]
    flat = frame.to_numpy().ravel(order="F")
    vector = ro.IntVector(flat.astype(np.int32)) if flat.dtype.kind in "iu" and np.abs(flat).max() < 2**31 \
        else ro.FloatVector(flat.astype(np.float64))
    dimnames = ro.r["list"](ro.StrVector(list(frame.index)), ro.StrVector([str(s) for s in frame.columns]))
    matrix = ro.r["matrix"](vector, nrow=frame.shape[0], ncol=frame.shape[1], dimnames=dimnames)
    ro.r["saveRDS"](matrix, file=path)


# ---- writing ---------------------------------------------------------------------------------

def write_catalogue(catalogue, path, format: str | None = None, *, overwrite: bool = True) -> Path:
    """Write a catalogue to ``path`` atomically (a temporary file in the same folder, then a rename).

    Parameters
    ----------
    catalogue : Catalogue, DataFrame, AnnData or path
        Anything :func:`as_catalogue` accepts.
    path : str or os.PathLike
        Output file; its folder must exist. An existing file is replaced only once the new one
        is complete.
    format : {"sigprofiler", "mutationalpatterns", "pcawg", "h5ad", "rds"}, optional
        Taken from the extension when not given: ``.txt``/``.all`` SigProfiler (tab-separated,
        ``MutationType`` column, SigProfiler order); ``.tsv`` MutationalPatterns (R
        ``write.table`` layout: row names, no header cell above them, MutationalPatterns labels
        and order); ``.csv`` PCAWG/TCGA (``Mutation type``, ``Trinucleotide``, SBS96 only);
        ``.h5ad`` AnnData (obs = samples); ``.rds`` an R matrix as MutationalPatterns'
        ``mut_matrix`` (needs ``sigfactor[r]``).
    overwrite : bool, default True
        Replace an existing ``path``. With False, a ``path`` that exists (also one that appears
        while the file is written) is refused with FileExistsError and left as it is.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    catalogue = as_catalogue(catalogue, name="catalogue")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path is a {type(path).__name__}; expected a file path.")
    path = Path(path)
    if format is None:
        format = _FORMAT_OF_SUFFIX.get(path.suffix.lower())
        if format is None:
            raise ValueError(
                f"path '{path}' has extension {path.suffix!r}, which names no format; pass format= one of "
                f"{', '.join(repr(f) for f in FORMATS)} or use {', '.join(_FORMAT_OF_SUFFIX)}."
            )
    check_choice("format", format, FORMATS)
    if format == "pcawg" and catalogue.kind != "SBS96":
        raise ValueError(f"format='pcawg' holds SBS96 only; the catalogue is {catalogue.kind}. "
                         "Use format='sigprofiler' or 'mutationalpatterns'.")
    if not path.parent.is_dir():
        raise ValueError(f"path '{path}': folder '{path.parent}' does not exist; create it first.")
    if not isinstance(overwrite, (bool, np.bool_)):
        raise TypeError(f"overwrite={overwrite!r} is not valid; expected True or False.")
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"output file '{path}' already exists; choose another or pass overwrite=True (--force).")
    writers: dict[str, Callable[[Catalogue, str], None]] = {
        "sigprofiler": _write_sigprofiler, "mutationalpatterns": _write_mutationalpatterns,
        "pcawg": _write_pcawg, "h5ad": _write_h5ad, "rds": _write_rds,
    }
    if format == "rds":
        _rpy2()  # fail before creating anything
    _atomic_write(path, lambda tmp: writers[format](catalogue, tmp), replace=overwrite)
    return path


def _atomic_write(path: Path, write: Callable[[str], None], *, replace: bool = True) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``.

    The rename is atomic; without ``replace`` it refuses a ``path`` that exists by then
    (FileExistsError). The file gets the umask's permissions, and errors of the file system
    name ``path``, not the temporary file.
    """
    from .io.folder import publish, user_os_error

    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=f".tmp{path.suffix[:10]}", dir=path.parent)
    except OSError as err:
        raise user_os_error(err, f"cannot create the output file '{path}'", show_name=False) from None
    os.close(fd)
    try:
        try:
            write(tmp)
        except OSError as err:
            raise user_os_error(err, f"cannot write the output file '{path}'", Path(tmp), path) from None
        publish(Path(tmp), path, replace)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _text(frame: pd.DataFrame, tmp: str, sep: str, index_label) -> None:
    frame.to_csv(tmp, sep=sep, index=True, index_label=index_label, lineterminator="\n")


def _write_sigprofiler(catalogue: Catalogue, tmp: str) -> None:
    _text(catalogue.to_frame(), tmp, "\t", "MutationType")


def _write_mutationalpatterns(catalogue: Catalogue, tmp: str) -> None:
    frame = catalogue.to_frame()
    frame.index = pd.Index(ch.to_mutationalpatterns(frame.index))
    frame = frame.loc[ch.order(catalogue.kind, "mutationalpatterns")]
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, delimiter="\t", lineterminator="\n").writerow([str(s) for s in frame.columns])
        frame.to_csv(fh, sep="\t", header=False, lineterminator="\n")


def _write_pcawg(catalogue: Catalogue, tmp: str) -> None:
    frame = catalogue.to_frame()
    mutation_type, trinucleotide = ch.to_pcawg(frame.index)
    frame.index = pd.MultiIndex.from_arrays([mutation_type, trinucleotide],
                                            names=["Mutation type", "Trinucleotide"])
    frame = frame.loc[ch.order("SBS96", "pcawg")]
    frame.to_csv(tmp, sep=",", lineterminator="\n")


def _write_h5ad(catalogue: Catalogue, tmp: str) -> None:
    from .io.folder import write_h5ad_image

    write_h5ad_image(catalogue.to_anndata(), tmp)
