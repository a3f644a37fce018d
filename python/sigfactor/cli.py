"""The ``sigfactor`` command line: ``extract``, ``example``, ``refit``, ``convert`` (and ``compare``).

Errors reach the user as one line on stderr and exit status 2, never a traceback; so do errors
of the file system (read-only, full, a name too long) and sizes that cannot fit in memory.
Warnings are one line each (``sigfactor: warning: ...``). SIGINT, SIGTERM and SIGHUP end a
command cleanly: temporary files and folders are removed, helper processes ended, nothing is
written, and the exit status is 128 + the signal's number (130, 143, 129).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
import warnings

__all__ = ["main", "build_parser", "Terminated"]

USER_ERRORS = (ValueError, TypeError, OSError, KeyError, MemoryError, ImportError)
"""Errors reported as one line and exit status 2 (OSError covers missing files, permissions,
full or read-only file systems and names too long; ImportError an optional extra missing)."""

SIGNALS = ("SIGTERM", "SIGHUP")
"""Signals turned into :class:`Terminated` (SIGINT already raises KeyboardInterrupt)."""


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM or SIGHUP, so that the
    clean-up that runs on errors (temporary folders, helper processes) runs on these too."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminate(signum, frame):
    for name in SIGNALS:                      # the clean-up itself is not interrupted again
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    raise Terminated(signum)


@contextlib.contextmanager
def _signals_end_cleanly():
    """SIGTERM and SIGHUP raise :class:`Terminated` while the block runs (main thread only);
    the previous handlers come back afterwards."""
    wanted = [getattr(signal, name) for name in SIGNALS if hasattr(signal, name)]
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _terminate) for s in wanted}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """One line per warning, without the source file and line it came from; on a line of its own
    above a progress bar that is being drawn (``tqdm.write``), not appended to the bar."""
    from tqdm.auto import tqdm

    text = " ".join(str(message).split())
    tqdm.write(f"sigfactor: warning: {text}", file=sys.stderr if file is None else file)


def _one_line(err: BaseException) -> str:
    """An error as one line: the message, or for the system's errors the cause and the path."""
    if isinstance(err, MemoryError):
        detail = " ".join(str(err).split())
        return f"not enough memory{': ' + detail if detail else ''}; try fewer restarts or ranks."
    if isinstance(err, OSError) and err.strerror:
        text = err.strerror if err.filename is None else f"{err.strerror}: '{err.filename}'"
    elif isinstance(err, KeyError) and err.args:
        text = str(err.args[0])
    else:
        text = str(err)
    return " ".join(text.split()) or type(err).__name__


def _add_extract_options(p: argparse.ArgumentParser, *, default_restarts: int = 100) -> None:
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (SigProfilerExtractor layout)")
    ranks = p.add_mutually_exclusive_group()
    ranks.add_argument("--ranks", default="1-10", metavar="LO-HI",
                       help="ranks to try, e.g. 1-10 or 2,4,6 (default: 1-10)")
    ranks.add_argument("--rank", type=int, metavar="K", help="a single rank (no selection)")
    p.add_argument("--model", default="nmf", choices=("nmf", "convex", "aenmf", "mvnmf"),
                   help="mvnmf: minimum-volume NMF (default: nmf)")
    p.add_argument("--loss", default=None, choices=("kl", "frobenius"),
                   help="default: kl (frobenius for convex)")
    p.add_argument("--restarts", type=int, default=default_restarts, metavar="N",
                   help=f"restarts (replicates) per rank (default: {default_restarts})")
    p.add_argument("--no-resample", action="store_true", help="fit the catalogue itself, not resamples")
    p.add_argument("--normalization", default="gmm", choices=("gmm", "log2", "none"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rank-rule", default="sigprofiler", choices=("sigprofiler", "bcv", "bic", "stable_bcv"),
                   help="rule choosing the rank: SigProfilerExtractor's stability rule, bi-cross-validation, "
                        "Poisson BIC or bi-cross-validation among the stable ranks (default: sigprofiler)")
    p.add_argument("--compare-rank-rules", action="store_true",
                   help="compute every rank rule's evidence side by side (bi-cross-validation adds ~30%% time)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--reference", default=None, metavar="NAME|FILE",
                   help="reference signatures (default: COSMIC v3.4 GRCh37 of the catalogue's kind)")
    p.add_argument("--max-iter", type=int, default=None, metavar="N", help="iterations cap per restart")
    p.add_argument("--kl-exponent", default=None, metavar="X",
                   help="KL NMF: power of the multiplicative update, 1 <= X < 2; above 1 the over-relaxed "
                        "update, fewer iterations (default: 1, Lee and Seung's)")
    p.add_argument("--solver", default=None, choices=("mu", "cd"),
                   help="KL NMF's algorithm: multiplicative updates or coordinate descent, which meets the "
                        "stopping rule in fewer, costlier sweeps (default: mu)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for the fits (default: every CPU; 1 for small catalogues outside KL NMF)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run the fits on Dask: 'local', a scheduler address (tcp://host:8786) or a "
                        "scheduler file (.json) (default: in this process)")
    p.add_argument("--stop-after-unstable", default=None, metavar="N",
                   help="once a rank was stable, stop trying higher ranks after N unstable ranks in a row; "
                        "the ranks not fitted and why are in the summary and run.json (default: every rank)")
    p.add_argument("--no-plots", action="store_true", help="skip plots/")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands ``extract``, ``example``, ``refit``, ``convert`` and,
    when :mod:`sigfactor.evaluate` is installed, ``compare``)."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="sigfactor", description="Mutational signature extraction on PyTorch.")
    parser.add_argument("--version", action="version", version=f"sigfactor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("extract", help="extract signatures de novo (SigProfilerExtractor's workflow)")
    p.add_argument("input", metavar="INPUT", help="catalogue file (SigProfiler, MutationalPatterns, PCAWG, .h5ad, ...)")
    _add_extract_options(p)
    p.set_defaults(handler=_run_extract)

    p = sub.add_parser("example", help="run extract on the bundled 21 breast genomes")
    _add_extract_options(p)
    p.set_defaults(handler=_run_example, input=None)

    p = sub.add_parser("refit", help="exposures of a catalogue to given signatures")
    p.add_argument("input", metavar="INPUT", help="catalogue file")
    p.add_argument("--signatures", required=True, metavar="FILE|NAME",
                   help="signature file, or a bundled reference name such as COSMIC_v3.4_SBS96_GRCh37")
    p.add_argument("--out", required=True, metavar="FILE", help="exposures table (tab-separated, samples x signatures)")
    p.add_argument("--loss", default="frobenius", choices=("frobenius", "kl"))
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(handler=_run_refit)

    p = sub.add_parser("convert", help="convert a catalogue between formats")
    p.add_argument("input", metavar="INPUT")
    p.add_argument("output", metavar="OUTPUT", help="format from the extension (.txt .all .tsv .csv .h5ad .rds)")
    p.add_argument("--format", default=None,
                   choices=("sigprofiler", "mutationalpatterns", "pcawg", "h5ad", "rds"))
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(handler=_run_convert)

    try:
        from .evaluate import add_compare_command
    except ImportError:
        pass
    else:
        # evaluate.add_compare_command adds a "compare" subparser whose defaults set either
        # handler(args, argv) or func(args); its user errors are reported like the others.
        add_compare_command(sub)
    return parser


def option_kl_exponent(text: str, model: str, loss: str) -> float:
    """``--kl-exponent``'s text as a number in ``[1, 2)``, for KL NMF only.

    Raises
    ------
    ValueError
        Naming the option, the text and what was expected (reported as one line, exit 2).
    """
    from ._validation import KL_EXPONENT_RANGE, kl_exponent_fault

    try:
        value = float(text)
    except (TypeError, ValueError):
        value = float("nan")
    fault = kl_exponent_fault(value, model, loss)
    if fault == "range":
        raise ValueError(f"--kl-exponent {text!r} is not valid; expected {KL_EXPONENT_RANGE}.")
    if fault == "model":
        raise ValueError(f"--kl-exponent {text!r} applies to --model nmf with --loss kl only; leave it out "
                         f"for --model {model} --loss {loss}.")
    return value


def option_solver(solver: str, model: str, loss: str, kl_exponent: float) -> str:
    """``--solver``'s choice, if it suits ``--model``, ``--loss`` and ``--kl-exponent``.

    Raises
    ------
    ValueError
        Naming the options and what was expected (reported as one line, exit 2).
    """
    from ._validation import solver_fault

    fault = solver_fault(solver, model, loss, kl_exponent)
    if fault == "model":
        raise ValueError(f"--solver {solver} applies to --model nmf with --loss kl only; leave it out "
                         f"for --model {model} --loss {loss}.")
    if fault == "exponent":
        raise ValueError(f"--solver {solver} takes no --kl-exponent (an option of --solver mu); leave "
                         f"--kl-exponent out, or at 1.")
    return solver


def option_int(option: str, text: str, *, low: int) -> int:
    """The text given to a command-line ``option`` as an integer of at least ``low``.

    Raises
    ------
    ValueError
        Naming the option, the text and what was expected (reported as one line, exit 2).
    """
    try:
        value = int(text, 10)
    except (TypeError, ValueError):
        value = None
    if value is None or value < low:
        raise ValueError(f"{option} {text!r} is not valid; expected a whole number >= {low}.")
    return value


def option_scheduler(text: str | None):
    """The text given to ``--scheduler``, checked by :func:`sigfactor.parallel.check_scheduler`.

    Raises
    ------
    ValueError, FileNotFoundError
        In the command line's words (the option, not Python's ``scheduler=`` and ``None``).
    """
    from .parallel import check_scheduler

    if text is None:
        return None
    try:
        return check_scheduler(text)
    except FileNotFoundError:
        raise FileNotFoundError(f"--scheduler {text!r}: no such scheduler file.") from None
    except ValueError:
        raise ValueError(f"--scheduler {text!r} is not valid; expected 'local', a scheduler address such as "
                         "tcp://host:8786 or a scheduler file (.json).") from None


def _extract_kwargs(args) -> dict:
    loss = args.loss or ("frobenius" if args.model == "convex" else "kl")
    kwargs = dict(ranks=[args.rank] if args.rank is not None else args.ranks, model=args.model, loss=loss,
                  n_restarts=args.restarts, resample=not args.no_resample, normalization=args.normalization,
                  seed=args.seed, device=args.device, reference=args.reference, progress=not args.quiet,
                  rank_rule=args.rank_rule, compare_rank_rules=args.compare_rank_rules)
    if args.max_iter is not None:
        kwargs["max_iter"] = args.max_iter
    if args.kl_exponent is not None:
        kwargs["kl_exponent"] = option_kl_exponent(args.kl_exponent, args.model, loss)
    if args.solver is not None:
        kwargs["solver"] = option_solver(args.solver, args.model, loss, kwargs.get("kl_exponent", 1.0))
    if args.threads is not None:
        kwargs["threads"] = args.threads
    if args.scheduler is not None:
        kwargs["scheduler"] = option_scheduler(args.scheduler)
    if args.stop_after_unstable is not None:
        kwargs["stop_after_unstable"] = option_int("--stop-after-unstable", args.stop_after_unstable, low=1)
    return kwargs


def _extract_and_write(data, args, argv_record: list[str]) -> int:
    from .extract import extract
    from .io import write_extraction
    from .io.folder import check_out_dir
    from .io.worker import ForkedWorker

    kwargs = _extract_kwargs(args)
    check_out_dir(args.out, args.force)          # refuse before the work, not after
    started = time.perf_counter()
    # Forked before the fit starts threads: it imports what the figures and result.h5ad need
    # while the fit runs, then writes them while this process writes the tables.
    preload = ("anndata",) if args.no_plots else ("anndata", "sigfactor.plotting:warm_up")
    with ForkedWorker(preload) as worker:
        result = extract(data, **kwargs)
        write_extraction(result, args.out, force=args.force, plots=not args.no_plots,
                         run_info={"command": ["sigfactor", *argv_record]}, worker=worker)
    if not args.quiet:
        columns = ["avg_stability", "min_stability", "median_sample_l2_pct", "stable", "considered", "p_value",
                   "chosen"] + (["unstable_in_a_row", "sweep_stopped"] if "stop_after_unstable" in kwargs else [])
        print(result.stats[columns].to_string(float_format=lambda v: f"{v:.3g}"))
        print(f"Selection: {result.selection_reason}")
        print(result.decomposition_table()[["De novo extracted", "Global NMF Signatures",
                                            "Cosine Similarity"]].to_string(index=False))
        print(f"Chosen rank {result.rank}; wrote {args.out} in {time.perf_counter() - started:.1f} s.")
    return 0


def _run_extract(args, argv) -> int:
    from .catalogue import read_catalogue

    return _extract_and_write(read_catalogue(args.input), args, argv)


def _run_example(args, argv) -> int:
    from . import datasets

    return _extract_and_write(datasets.breast21(), args, argv)


def _run_refit(args, argv) -> int:
    import os

    from .catalogue import read_catalogue
    from .extract import REFERENCES, resolve_reference
    from .refit import refit

    if os.path.exists(args.out) and not args.force:
        raise FileExistsError(f"output file '{args.out}' already exists; pass --force to replace it.")
    cat = read_catalogue(args.input)
    if args.signatures in REFERENCES or os.path.exists(args.signatures):
        sigs = resolve_reference(args.signatures, cat.kind)
    else:
        raise FileNotFoundError(f"--signatures {args.signatures!r} is neither a file nor a known name "
                                f"({', '.join(REFERENCES)}).")
    exposures = refit(cat, sigs, loss=args.loss)
    from .catalogue import _atomic_write
    from pathlib import Path

    path = Path(args.out)
    if not path.absolute().parent.is_dir():
        raise FileNotFoundError(f"--out '{path}': folder '{path.absolute().parent}' does not exist.")
    _atomic_write(path, lambda tmp: exposures.to_csv(tmp, sep="\t", index_label="Samples", lineterminator="\n"),
                  replace=args.force)
    return 0


def _run_convert(args, argv) -> int:
    import os

    from .catalogue import read_catalogue, write_catalogue

    if os.path.exists(args.output) and not args.force:
        raise FileExistsError(f"output file '{args.output}' already exists; pass --force to replace it.")
    write_catalogue(read_catalogue(args.input), args.output, format=args.format, overwrite=args.force)
    return 0


def main(argv=None) -> int:
    """Run the command line; returns the exit status (0 success, 2 user error, 128 + N on signal N)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings(), _signals_end_cleanly():
        warnings.showwarning = _show_warning
        try:
            if hasattr(args, "handler"):
                return int(args.handler(args, argv) or 0)
            return int(args.func(args) or 0)          # subcommands added by other modules (compare)
        except KeyboardInterrupt:
            print("sigfactor: interrupted; nothing was written.", file=sys.stderr)
            return 128 + signal.SIGINT
        except Terminated as stop:
            print(f"sigfactor: stopped by {signal.Signals(stop.signum).name}; nothing was written.", file=sys.stderr)
            return 128 + stop.signum
        except USER_ERRORS as err:
            print(f"sigfactor {args.command}: error: {_one_line(err)}", file=sys.stderr)
            return 2


def run() -> None:
    """Console entry point: :func:`main`, then exit without tearing the interpreter down.

    Everything the command writes is complete (result folders are renamed into place
    atomically) when :func:`main` returns; unloading torch, numba and matplotlib module by
    module at exit would add most of a second to every command. Streams are flushed first.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
