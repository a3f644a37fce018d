"""Bridges to R: R objects from Python (rpy2) and Python's progress output into R (reticulate).

With the optional extra ``sigfactor[r]`` (rpy2 < 3.6 and R 4.2 or later with the packages the
functions name), catalogues and results move between Python and R in the layout of
MutationalPatterns:

- :func:`mut_matrix` / :func:`nmf_res` / :func:`summarized_experiment`: a catalogue, or an
  extraction, as the R object MutationalPatterns' functions take (an R matrix with mutation
  types as rows in MutationalPatterns' labels and order; the list of ``signatures``,
  ``contribution`` and ``reconstructed``; a ``SummarizedExperiment``);
- :func:`from_r`: an R matrix, data.frame, MutationalPatterns result list or
  ``SummarizedExperiment`` back as labelled pandas objects (a :class:`~sigfactor.Catalogue`
  with :func:`sigfactor.read_catalogue`);
- :func:`read_rds` / :func:`write_rds`: ``.rds`` files, dimnames kept;
- :func:`plot_96_profile` / :func:`plot_contribution`: MutationalPatterns' figures drawn into
  a file;
- :func:`r_call`: a function of an R package (for example the R package ``sigfactor``) called
  with Python arguments.

R's console output (package start-up messages, warnings) never reaches the terminal: it is
collected while R runs, R warnings become Python warnings and R errors Python errors
(:class:`RError`) carrying R's message.

:func:`relay_stderr` serves the other direction: the R package runs engine calls under it so
that their progress bars (written to ``sys.stderr``) arrive in R as R messages.
"""
from __future__ import annotations

import contextlib
import io
import re
import sys
import threading
import warnings
from typing import Callable

import numpy as np
import pandas as pd

__all__ = ["relay_stderr", "mut_matrix", "nmf_res", "summarized_experiment", "from_r", "read_rds",
           "write_rds", "plot_96_profile", "plot_contribution", "r_call", "RError"]


# ---- progress into R (used by the R package through reticulate) ---------------------------------

class _LineRelay(io.TextIOBase):
    """A text stream that hands every non-empty line of what is written (split at ``\\r`` and
    ``\\n``, as progress bars redraw) to ``callback``, on the main thread only: the callback may
    be an R function, which must not run on another thread (tqdm's monitor thread, worker
    threads); their lines are dropped."""

    def __init__(self, callback: Callable[[str], object]):
        super().__init__()
        self._callback = callback

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        if threading.current_thread() is threading.main_thread():
            for line in re.split(r"[\r\n]+", text):
                if line.strip():
                    self._callback(line.strip())
        return len(text)


@contextlib.contextmanager
def relay_stderr(callback: Callable[[str], object]):
    """Within the block, send what is written to ``sys.stderr`` to ``callback``, line by line.

    Parameters
    ----------
    callback : callable
        Called with each non-empty line (str) written on the main thread; lines written by
        other threads are dropped.
    """
    previous = sys.stderr
    sys.stderr = _LineRelay(callback)
    try:
        yield
    finally:
        sys.stderr = previous


# ---- R through rpy2 -----------------------------------------------------------------------------

class RError(RuntimeError):
    """An error raised by R code; the message is R's ``conditionMessage``."""


class RWarning(UserWarning):
    """A warning signalled by R code."""


_STATE: dict = {}


@contextlib.contextmanager
def _quiet_console():
    """Collect what R writes to its console (package start-up messages, printed warnings)
    instead of letting rpy2 print or log it; yields the list of collected pieces."""
    from rpy2.rinterface_lib import callbacks

    written: list[str] = []
    with callbacks.obj_in_module(callbacks, "consolewrite_print", written.append), \
            callbacks.obj_in_module(callbacks, "consolewrite_warnerror", written.append), \
            callbacks.obj_in_module(callbacks, "showmessage", written.append):
        yield written


def _robjects():
    """``rpy2.robjects``, imported (and R started) without console output, plus sigfactor's R
    helper that runs a function with R's errors, warnings and messages caught."""
    if "ro" not in _STATE:
        try:
            from .catalogue import library_path_kept

            with library_path_kept(), _quiet_console():
                import rpy2.robjects as ro
        except ImportError as err:
            raise ImportError(
                "sigfactor.r needs R and rpy2: pip install 'sigfactor[r]' (rpy2<3.6, with R 4.2 or "
                f"later on the PATH). The import failed with: {err}"
            ) from None
        with _quiet_console():
            _STATE["call"] = ro.r(
                """function(f, args) {
                  warnings <- character()
                  value <- withCallingHandlers(
                    tryCatch(do.call(f, args),
                             error = function(e) structure(list(message = conditionMessage(e)),
                                                           class = "sigfactor_r_error")),
                    warning = function(w) {
                      warnings <<- c(warnings, conditionMessage(w))
                      invokeRestart("muffleWarning")
                    },
                    message = function(m) invokeRestart("muffleMessage"))
                  list(value = value, warnings = warnings)
                }"""
            )
        _STATE["ro"] = ro
    return _STATE["ro"]


def _call(function: str, *args, **kwargs):
    """Call the R function ``function`` (``"pkg::name"`` or a base name) with R arguments;
    R errors become :class:`RError`, R warnings :class:`RWarning`, R messages are dropped."""
    ro = _robjects()
    with _quiet_console():
        outcome = _STATE["call"](ro.r(function), _arguments(args, kwargs))
    return _checked(outcome)


def _arguments(args, kwargs):
    """An R list of arguments for ``do.call``: positional ones unnamed, keyword ones named;
    Python values converted with :func:`to_r` (R objects pass as they are)."""
    ro = _robjects()
    values = [*args, *kwargs.values()]
    arguments = ro.vectors.ListVector.from_length(len(values))
    for i, value in enumerate(values):
        arguments[i] = to_r(value)
    arguments.names = ro.StrVector([""] * len(args) + list(kwargs))
    return arguments


def _checked(outcome):
    """The value of a sigfactor-wrapped R call, raising its error and re-issuing its warnings."""
    ro = _robjects()
    value, caught = outcome[0], outcome[1]
    if "sigfactor_r_error" in list(ro.r["class"](value)):
        raise RError(str(value[0][0]))
    for message in caught:
        warnings.warn(str(message), RWarning, stacklevel=3)
    return value


def _matrix(frame: pd.DataFrame):
    """A numeric DataFrame as an R double matrix with its labels as dimnames."""
    ro = _robjects()
    values = np.asarray(frame.to_numpy(dtype=np.float64))
    return ro.r["matrix"](ro.FloatVector(values.ravel(order="F")), nrow=values.shape[0],
                          ncol=values.shape[1],
                          dimnames=ro.r["list"](ro.StrVector([str(i) for i in frame.index]),
                                                ro.StrVector([str(c) for c in frame.columns])))


def _mp_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """A channels x columns frame (any label style and order) with MutationalPatterns' labels,
    in MutationalPatterns' order."""
    from . import channels as ch

    canonical = ch.to_canonical([str(i) for i in frame.index])
    kind = ch.detect_kind(canonical)
    frame = frame.copy()
    frame.index = pd.Index(ch.to_style(canonical, "mutationalpatterns"))
    return frame.loc[ch.order(kind, "mutationalpatterns")]


def mut_matrix(catalogue):
    """A catalogue as MutationalPatterns' ``mut_matrix``: an R double matrix with mutation types
    as rows (MutationalPatterns' labels and order) and samples as columns.

    Parameters
    ----------
    catalogue : Catalogue, DataFrame, AnnData or path
        Anything :func:`sigfactor.as_catalogue` takes.

    Returns
    -------
    rpy2.robjects.vectors.FloatMatrix
    """
    from .catalogue import as_catalogue

    return _matrix(_mp_rows(as_catalogue(catalogue, name="catalogue").to_frame()))


def nmf_res(result):
    """An extraction as MutationalPatterns' NMF result: an R list of ``signatures`` (mutation
    types x k), ``contribution`` (k x samples) and ``reconstructed`` (mutation types x samples),
    rows in MutationalPatterns' labels and order.

    Parameters
    ----------
    result : ExtractionResult, Solution or dict
        :func:`sigfactor.extract`'s result, a :class:`~sigfactor.Solution` (from
        ``factorize(...).best()``), or a dict with ``signatures`` (channels x k) and
        ``exposures`` (samples x k) or ``contribution`` (k x samples) DataFrames.
    """
    ro = _robjects()
    if isinstance(result, dict):
        signatures = result["signatures"]
        contribution = result["contribution"] if "contribution" in result else result["exposures"].T
    else:
        signatures, contribution = result.signatures, result.exposures.T
    reconstructed = signatures @ contribution
    return ro.vectors.ListVector([("signatures", _matrix(_mp_rows(signatures))),
                                  ("contribution", _matrix(contribution)),
                                  ("reconstructed", _matrix(_mp_rows(reconstructed)))])


def summarized_experiment(catalogue, assay: str = "counts"):
    """A catalogue (or an AnnData with its obs and var) as a Bioconductor SummarizedExperiment:
    assay ``assay`` mutation types x samples (MutationalPatterns' labels and order), colData
    from ``obs``, rowData from ``var`` (plain columns).

    Needs the R package SummarizedExperiment.
    """
    from .catalogue import _is_anndata, as_catalogue

    ro = _robjects()
    cat = as_catalogue(catalogue, name="catalogue")
    counts = _mp_rows(cat.to_frame())
    col_data = row_data = None
    if _is_anndata(catalogue):
        col_data = _data_frame(catalogue.obs.loc[list(cat.samples)])
        var = catalogue.var.copy()
        from . import channels as ch

        var.index = pd.Index(ch.to_style(ch.to_canonical([str(v) for v in var.index]),
                                         "mutationalpatterns"))
        row_data = _data_frame(var.loc[list(counts.index)])
    kwargs = {"assays": ro.vectors.ListVector([(assay, _matrix(counts))])}
    if col_data is not None and len(catalogue.obs.columns):
        kwargs["colData"] = _call("S4Vectors::DataFrame", col_data, **{"check.names": False})
    if row_data is not None and len(catalogue.var.columns):
        kwargs["rowData"] = _call("S4Vectors::DataFrame", row_data, **{"check.names": False})
    return _call("SummarizedExperiment::SummarizedExperiment", **kwargs)


def _data_frame(frame: pd.DataFrame):
    """A DataFrame as an R data.frame (rpy2's pandas converter), rownames from the index."""
    ro = _robjects()
    from rpy2.robjects import pandas2ri
    from rpy2.robjects.conversion import localconverter

    with _quiet_console(), localconverter(ro.default_converter + pandas2ri.converter):
        return ro.conversion.get_conversion().py2rpy(frame)


def to_r(obj):
    """A Python object as the R object MutationalPatterns users expect.

    Catalogue or AnnData -> ``mut_matrix`` (:func:`mut_matrix`); ExtractionResult or Solution ->
    NMF result list (:func:`nmf_res`); numeric DataFrame -> R matrix with dimnames; dict -> named
    list; list or tuple -> list; numpy array -> vector (1-d) or matrix (2-d); str, int, float,
    bool -> a length-one vector; None -> NULL; R objects as they are.
    """
    ro = _robjects()
    from .catalogue import Catalogue, _is_anndata

    if obj is None:
        return ro.NULL
    if isinstance(obj, ro.rinterface.Sexp):
        return obj
    if isinstance(obj, Catalogue) or _is_anndata(obj):
        return mut_matrix(obj)
    if hasattr(obj, "signatures") and hasattr(obj, "exposures"):
        return nmf_res(obj)
    if isinstance(obj, pd.DataFrame):
        if all(pd.api.types.is_numeric_dtype(t) for t in obj.dtypes):
            return _matrix(obj)
        return _data_frame(obj)
    if isinstance(obj, dict):
        return ro.vectors.ListVector([(str(k), to_r(v)) for k, v in obj.items()])
    if isinstance(obj, (list, tuple, range)):
        items = list(obj)
        if items and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items):
            return ro.IntVector([int(v) for v in items])
        if items and all(isinstance(v, (float, np.floating, int)) and not isinstance(v, bool) for v in items):
            return ro.FloatVector([float(v) for v in items])
        if items and all(isinstance(v, str) for v in items):
            return ro.StrVector(items)
        result = ro.vectors.ListVector.from_length(len(items))
        for i, v in enumerate(items):
            result[i] = to_r(v)
        return result
    if isinstance(obj, np.ndarray):
        if obj.ndim == 2:
            return _matrix(pd.DataFrame(obj))
        return to_r(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return ro.BoolVector([bool(obj)])
    if isinstance(obj, (int, np.integer)):
        return ro.IntVector([int(obj)])
    if isinstance(obj, (float, np.floating)):
        return ro.FloatVector([float(obj)])
    if isinstance(obj, str):
        return ro.StrVector([obj])
    raise TypeError(f"obj is a {type(obj).__module__}.{type(obj).__name__}, which has no R counterpart "
                    "here; expected a Catalogue, an extraction, a DataFrame, a dict, a list, an array "
                    "or a scalar.")


def from_r(obj):
    """An R object as Python objects.

    A numeric matrix -> DataFrame with its dimnames; a data.frame -> DataFrame (rpy2's pandas
    converter); a SummarizedExperiment -> AnnData (obs = samples from colData, var = mutation
    types from rowData, X = the first assay transposed, further assays as layers); a named list
    (such as MutationalPatterns' NMF result or ``denovo_signatures()``'s) -> dict; an unnamed
    list -> list; a vector of length one -> a scalar; a longer vector -> numpy array (character:
    list of str), with names as a Series index; NULL -> None. R's NA becomes NaN or None.
    """
    ro = _robjects()
    rclass = list(ro.r["class"](obj)) if obj is not ro.NULL else []
    if obj is ro.NULL:
        return None
    if bool(_call("methods::is", obj, "SummarizedExperiment")[0]):
        return _anndata_from_se(obj)
    if "data.frame" in rclass:
        from rpy2.robjects import pandas2ri
        from rpy2.robjects.conversion import localconverter

        with _quiet_console(), localconverter(ro.default_converter + pandas2ri.converter):
            return ro.conversion.get_conversion().rpy2py(obj)
    if isinstance(obj, ro.vectors.ListVector) or "list" in rclass:
        names = ro.r["names"](obj)
        items = [from_r(obj[i]) for i in range(len(obj))]
        if names is ro.NULL or not any(str(n) for n in names):
            return items
        return {str(n): v for n, v in zip(names, items)}
    dims = ro.r["dim"](obj)
    if dims is not ro.NULL and len(dims) == 2:
        return _frame_from_matrix(obj)
    return _vector(obj)


def _frame_from_matrix(matrix) -> pd.DataFrame:
    ro = _robjects()
    nrow, ncol = (int(d) for d in ro.r["dim"](matrix))
    values = np.array(ro.r["as.vector"](ro.r["as.double"](matrix))).reshape((nrow, ncol), order="F")
    dimnames = ro.r["dimnames"](matrix)
    rows = cols = None
    if dimnames is not ro.NULL:
        rows = None if dimnames[0] is ro.NULL else [str(v) for v in dimnames[0]]
        cols = None if dimnames[1] is ro.NULL else [str(v) for v in dimnames[1]]
    return pd.DataFrame(values, index=rows, columns=cols)


def _vector(obj):
    ro = _robjects()
    missing = np.array(ro.r["is.na"](obj), dtype=bool)
    if isinstance(obj, (ro.vectors.StrVector, ro.vectors.FactorVector)):
        values = [None if m else str(v) for v, m in
                  zip(ro.r["as.character"](obj), missing)]
    elif isinstance(obj, ro.vectors.BoolVector):
        values = np.array([None if m else bool(v) for v, m in zip(obj, missing)], dtype=object)
        if not missing.any():
            values = values.astype(bool)
    else:
        values = np.array(ro.r["as.double"](obj), dtype=np.float64)
        values[missing] = np.nan
        if isinstance(obj, ro.vectors.IntVector) and not missing.any():
            values = values.astype(np.int64)
    names = ro.r["names"](obj)
    if names is not ro.NULL:
        return pd.Series(values, index=[str(n) for n in names])
    if len(values) == 1:
        value = values[0]
        return value.item() if isinstance(value, np.generic) else value
    return values


def _anndata_from_se(se):
    """A SummarizedExperiment as AnnData: X = first assay transposed, obs = colData,
    var = rowData (plain columns), other assays as layers."""
    import anndata

    ro = _robjects()
    assays = _call("SummarizedExperiment::assayNames", se)
    n_assays = int(_call("length", _call("SummarizedExperiment::assays", se))[0])
    frames = [_frame_from_matrix(_call("as.matrix", _call("SummarizedExperiment::assay", se, i + 1)))
              for i in range(n_assays)]
    names = [str(a) for a in assays] if assays is not ro.NULL else [f"assay{i + 1}" for i in range(n_assays)]

    def plain(frame_r):
        df = from_r(_call("as.data.frame", frame_r))
        keep = [c for c in df.columns if df[c].dtype != object or df[c].map(lambda v: isinstance(v, (str, type(None)))).all()]
        return df[keep]

    obs = plain(_call("SummarizedExperiment::colData", se))
    var = plain(_call("SummarizedExperiment::rowData", se))
    obs.index = frames[0].columns
    var.index = frames[0].index
    adata = anndata.AnnData(X=frames[0].T.to_numpy(), obs=obs, var=var)
    for name, frame in zip(names[1:], frames[1:]):
        adata.layers[name] = frame.T.to_numpy()
    return adata


def read_rds(path):
    """Read an ``.rds`` file into Python objects (:func:`from_r`): a ``mut_matrix`` as a
    DataFrame with its dimnames, an NMF result as a dict of DataFrames, a SummarizedExperiment
    as AnnData. Prints nothing."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path '{path}' does not exist; expected an .rds file.")
    return from_r(_call("readRDS", str(path)))


def write_rds(obj, path) -> None:
    """Write ``obj`` (anything :func:`to_r` takes) to an ``.rds`` file that R's ``readRDS``
    reads back with its dimnames."""
    from pathlib import Path

    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"path '{path}': folder '{path.parent}' does not exist; create it first.")
    _call("saveRDS", to_r(obj), file=str(path))


def _save_plot(plot, path, width: float, height: float):
    from pathlib import Path

    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"path '{path}': folder '{path.parent}' does not exist; create it first.")
    _call("ggplot2::ggsave", filename=str(path), plot=plot, width=float(width), height=float(height))
    return path


def plot_96_profile(signatures, path, *, width: float = 12, height: float | None = None):
    """Draw MutationalPatterns' ``plot_96_profile`` of SBS96 signatures (or counts) into a file.

    Parameters
    ----------
    signatures : DataFrame
        Channels x signatures in any label style and order (matched by label).
    path : str or path
        Output file; its extension sets the format (``.png``, ``.pdf``, ...).
    width, height : float
        In inches; the height defaults to 1.5 per signature plus 1.

    Returns
    -------
    pathlib.Path
    """
    plot = _call("MutationalPatterns::plot_96_profile", _matrix(_mp_rows(signatures)))
    return _save_plot(plot, path, width, height or 1.5 * signatures.shape[1] + 1)


def plot_contribution(contribution, signatures, path, *, mode: str = "relative",
                      width: float = 8, height: float = 5):
    """Draw MutationalPatterns' ``plot_contribution`` into a file.

    Parameters
    ----------
    contribution : DataFrame
        Signatures x samples (MutationalPatterns' ``contribution``; ``exposures.T``).
    signatures : DataFrame
        Channels x signatures (any label style; matched by label).
    path : str or path
    mode : {"relative", "absolute"}
    """
    if mode not in ("relative", "absolute"):
        raise ValueError(f"mode={mode!r} is not valid; expected 'relative' or 'absolute'.")
    plot = _call("MutationalPatterns::plot_contribution", _matrix(contribution),
                 _matrix(_mp_rows(signatures)), mode=mode)
    return _save_plot(plot, path, width, height)


def r_call(function: str, *args, package: str | None = None, rscript: str | None = None,
           timeout: float | None = None, **kwargs):
    """Call an R function in a separate R process and return its value as Python objects.

    Arguments are converted with :func:`to_r` (so a Catalogue arrives as a ``mut_matrix``) and
    passed by ``.rds`` files, read and written through rpy2; the value comes back through
    :func:`from_r`. The R process uses this Python (``RETICULATE_PYTHON``) for anything that
    calls back into Python, such as the R package sigfactor, whose engine calls then run in
    that process's own Python: R code that uses reticulate cannot run inside rpy2's embedded
    R with reticulate 1.28 (R's garbage collector releases Python objects without holding
    Python's GIL, a fatal error).

    Parameters
    ----------
    function : str
        The R function's name (exported by ``package``, or a base R function).
    *args, **kwargs
        Its arguments (keyword names as in R).
    package : str, optional
        The R package to attach first, e.g. ``"sigfactor"``.
    rscript : str, optional
        The ``Rscript`` to run (default: the one on the PATH).
    timeout : float, optional
        Seconds before the R process is stopped.

    Returns
    -------
    The value, converted by :func:`from_r`.

    Raises
    ------
    RError
        With R's message when the function signals an error; R warnings become
        :class:`RWarning`.
    """
    import os
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    if not isinstance(function, str) or not re.fullmatch(r"[A-Za-z.][A-Za-z0-9._]*", function):
        raise ValueError(f"function={function!r} is not valid; expected the name of an R function.")
    if package is not None and (not isinstance(package, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9.]*", package)):
        raise ValueError(f"package={package!r} is not valid; expected an R package name.")
    rscript = rscript or shutil.which("Rscript")
    if rscript is None:
        raise FileNotFoundError("Rscript is not on the PATH; pass rscript= the path of R's Rscript.")
    with tempfile.TemporaryDirectory(prefix="sigfactor-r-") as tmp:
        inputs, outputs = Path(tmp) / "arguments.rds", Path(tmp) / "value.rds"
        _call("saveRDS", _arguments(args, kwargs), file=str(inputs))
        target = f"getExportedValue({package!r}, {function!r})" if package else function
        script = "\n".join([
            f"arguments <- readRDS({str(inputs)!r})",
            f"suppressPackageStartupMessages(library({package}))" if package else "",
            f"f <- {target}",
            "warnings <- character()",
            "value <- withCallingHandlers(",
            "  tryCatch(do.call(f, arguments),",
            "           error = function(e) structure(list(message = conditionMessage(e)),",
            "                                         class = 'sigfactor_r_error')),",
            "  warning = function(w) { warnings <<- c(warnings, conditionMessage(w)); invokeRestart('muffleWarning') },",
            "  message = function(m) invokeRestart('muffleMessage'))",
            f"saveRDS(list(value = value, warnings = warnings), {str(outputs)!r})",
        ])
        env = {**os.environ, "RETICULATE_PYTHON": sys.executable}
        done = subprocess.run([rscript, "--vanilla", "-e", script], env=env, capture_output=True,
                              text=True, timeout=timeout)
        if done.returncode != 0 or not outputs.exists():
            raise RError(f"R stopped (exit status {done.returncode}) before returning a value: "
                         f"{done.stderr.strip()[-2000:]}")
        outcome = _call("readRDS", str(outputs))        # the subprocess's list(value, warnings)
        return from_r(_checked(outcome))
