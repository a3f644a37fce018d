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
