"""The output folder of ``sigfactor extract``, laid out as SigProfilerExtractor's.

::

    DIR/
      SBS96/All_solutions_stat.csv, SBS96/Samples.txt (the input catalogue)
      SBS96/All_Solutions/SBS96_{k}_Signatures/
          Signatures/SBS96_S{k}_Signatures.txt
          Activities/SBS96_S{k}_NMF_Activities.txt
          Solution_Stats/SBS96_S{k}_Samples_stats.txt, SBS96_S{k}_Signatures_stats.txt
      SBS96/Suggested_Solution/SBS96_De-Novo_Solution/
          Signatures/SBS96_De-Novo_Signatures.txt
          Activities/SBS96_De-Novo_Activities_refit.txt
      SBS96/Suggested_Solution/COSMIC_SBS96_Decomposed_Solution/
          De_Novo_map_to_COSMIC_SBS96.csv
          Signatures/COSMIC_SBS96_Signatures.txt
          Activities/COSMIC_SBS96_Activities.txt
      result.h5ad   plots/   run.json

Signature tables are tab-separated, ``MutationType`` first, rows in SigProfiler order;
activity tables have ``Samples`` first and whole mutation counts (rounded, as SigProfiler
writes them). ``SBS96`` stands for the catalogue's kind (``DBS78``, ``ID83``).

The folder is built in a temporary folder beside ``DIR`` and renamed into place at the end, in
one atomic step that refuses a ``DIR`` that appeared in the meantime (or, with ``force``,
exchanges it for the new one and only then deletes it): an error or an interrupt leaves no
``DIR`` (and, with ``force``, the old ``DIR`` untouched), and no run replaces a folder it did not
mean to. The finished folder gets the permissions of the process umask, as ``mkdir`` gives.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["atomic_folder", "write_extraction", "check_out_dir", "publish", "umask_mode", "user_os_error"]

_TEMP_STEM = 40
"""Characters of the output name kept in temporary names (which add about 15 of their own)."""


def check_out_dir(out, force: bool) -> Path:
    """Return ``out`` as a Path, refusing what cannot become a new result folder.

    Refused: an existing ``out`` unless ``force`` (and then anything but a folder), the current
    folder or one holding it, a name longer than the file system allows, a missing parent,
    and a parent in which nothing can be created (read-only or full file system, no
    permission), found by creating and removing a temporary folder there.
    """
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out={out!r} is not valid; expected a folder path.")
    path = Path(out)
    real = Path(os.path.realpath(path))
    here = Path(os.path.realpath(os.getcwd()))
    if real == here or real in here.parents:
        raise ValueError(
            f"out={str(path)!r} is the current folder or holds it; the result is written as a new "
            "folder that replaces the whole of 'out', so it must name a folder you are not in "
            "(e.g. 'results').")
    target = _target(path)
    parent = target.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"out={str(path)!r}: folder '{parent}' does not exist; create it first.")
    name_max = _name_max(parent)
    if len(os.fsencode(target.name)) > name_max:
        raise ValueError(f"out='{str(path)[:40]}...': the name has {len(os.fsencode(target.name))} bytes; the "
                         f"file system allows at most {name_max}. Choose a shorter name.")
    if path.exists() and not force:
        raise FileExistsError(f"output folder '{path}' already exists; choose another or pass force=True (--force).")
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"output '{path}' exists and is not a folder; remove it first.")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".tmp", dir=parent))
    except OSError as err:
        raise user_os_error(err, f"cannot create the output folder '{path}' in '{parent}'", show_name=False) from None
    return path


def _target(path: Path) -> Path:
    """The absolute path that the result will have: ``.`` and ``..`` resolved in the text, a
    symbolic link named by ``out`` kept as itself (it is what gets replaced), so that the
    temporary folder is made beside it, on the same file system."""
    return Path(os.path.abspath(path))


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def _temp_prefix(path: Path) -> str:
    return f".{path.name[:_TEMP_STEM]}."


def user_os_error(err: OSError, context: str, tmp: Path | None = None, path: Path | None = None, *,
                  show_name: bool = True) -> OSError:
    """``err`` (an OSError) said in the user's terms: ``context``, the cause, and (with
    ``show_name``) the file it concerned, with ``path`` where the error named ``tmp``."""
    text = err.strerror or str(err)
    name = err.filename
    if tmp is not None:
        text = text.replace(str(tmp), str(path))
        if isinstance(name, str):
            name = name.replace(str(tmp), str(path))
    where = f" ('{name}')" if show_name and isinstance(name, str) and name not in text else ""
    message = f"{context}: {text}{where}"
    if err.errno:
        return OSError(err.errno, message)              # the subclass follows the errno
    try:
        return type(err)(message)
    except Exception:                                   # noqa: BLE001 - an unusual constructor
        return OSError(message)


def umask_mode(mode: int = 0o777) -> int:
    """``mode`` less the process umask: the permissions ``mkdir`` (0o777) or ``open`` (0o666) give."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mode & ~mask


# ---- publishing a finished temporary file or folder -------------------------------------------

_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2
_AT_FDCWD = -100


def _load_renameat2():
    """libc's ``renameat2`` (Linux, glibc 2.28 or later), or None."""
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_RENAMEAT2 = _load_renameat2()


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """Rename with ``flags``; False where the system or the file system cannot (the caller then
    falls back), OSError for any other failure."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(dst))


def _rename_noreplace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` in one step that fails (FileExistsError) if ``dst`` exists.

    Without ``renameat2``: claim ``dst`` with ``mkdir`` (atomic), then rename onto that empty
    folder, which POSIX allows and which fails if anything was put into it meanwhile.
    """
    try:
        if _renameat2(src, dst, _RENAME_NOREPLACE):
            return
    except OSError as err:
        if err.errno == errno.EEXIST:
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst)) from None
        raise
    if src.is_dir():
        os.mkdir(dst)                                   # FileExistsError if it is there
        try:
            os.rename(src, dst)
        except OSError as err:
            with contextlib.suppress(OSError):
                os.rmdir(dst)
            if err.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst)) from None
            raise
    else:
        os.link(src, dst)                               # FileExistsError if it is there
        os.unlink(src)


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def publish(tmp: Path, path: Path, force: bool) -> None:
    """Make the finished ``tmp`` (a file or a folder beside ``path``) become ``path``, atomically.

    Without ``force`` an existing ``path`` (one that appeared since the start, since the
    callers refuse one that was there) is left as it is and FileExistsError is raised. With
    ``force`` it is exchanged for ``tmp`` in one step (``renameat2(RENAME_EXCHANGE)``; where
    that is not available, renamed aside first) and deleted afterwards. ``tmp`` gets the
    umask's permissions first (temporary files and folders are created private).
    """
    os.chmod(tmp, umask_mode(0o777 if tmp.is_dir() else 0o666))
    try:
        _rename_noreplace(tmp, path)
        return
    except FileExistsError:
        if not force:
            kind = "folder" if tmp.is_dir() else "file"
            raise FileExistsError(
                f"output {kind} '{path}' appeared while sigfactor was running (another run or program "
                f"created it); it was left as it is and this result was not written. Choose another "
                f"output, or pass force=True (--force) to replace it.") from None
    if path.is_dir() != tmp.is_dir():
        raise FileExistsError(f"output '{path}' is a {'folder' if path.is_dir() else 'file'}; expected a "
                              f"{'folder' if tmp.is_dir() else 'file'} to replace. Remove it first.")
    if not tmp.is_dir():
        os.replace(tmp, path)                           # one step for a file
        return
    if _renameat2(tmp, path, _RENAME_EXCHANGE):
        _remove(tmp)                                    # tmp now holds the old one
        return
    aside = tmp.with_name(tmp.name + ".old")
    os.rename(path, aside)
    try:
        _rename_noreplace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.rename(aside, path)
        raise
    _remove(aside)


@contextlib.contextmanager
def atomic_folder(out, force: bool = False):
    """Yield a temporary folder that becomes ``out`` when the block ends without error.

    An ``out`` that appears while the block runs is refused then (FileExistsError), or with
    ``force`` replaced (only after the new folder is complete). Errors of the file system
    inside the block are raised as OSError naming ``out``, not the temporary folder.
    """
    path = check_out_dir(out, force)
    target = _target(path)
    parent = target.parent
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".tmp", dir=parent))
    except OSError as err:
        raise user_os_error(err, f"cannot create the output folder '{path}'", show_name=False) from None
    try:
        try:
            yield tmp
        except OSError as err:
            raise user_os_error(err, f"cannot write the output folder '{path}'", tmp, path) from None
        publish(tmp, target, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _signatures_file(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep="\t", index_label="MutationType", float_format="%.8g", lineterminator="\n")


def _activities_file(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.rint(frame).astype(np.int64).to_csv(path, sep="\t", index_label="Samples", lineterminator="\n")


def _stat_file(frame: pd.DataFrame, path: Path, index_label: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep="\t", index_label=index_label, float_format="%.6g", lineterminator="\n")


def _pct(values, digits: int = 2) -> list[str]:
    return [f"{v:.{digits}f}%" for v in values]


def all_solutions_table(result) -> pd.DataFrame:
    """``All_solutions_stat.csv``: one row per rank, the chosen one starred.

    Columns, their order and text forms follow SigProfilerExtractor 1.4 (``"Most Stab Sigs"``
    in ``P-value`` for the highest stable rank, ``%`` after the first four error columns);
    ``Mean Sample L1%``/``L2%`` hold medians, as SigProfilerExtractor computes them. When other
    rank rules were computed, their evidence and choices follow
    (:func:`sigfactor.rank_rules.rule_columns`).
    """
    from ..rank_rules import rule_columns

    st = result.stats
    stable = st.index[st["stable"]]
    highest = int(stable.max()) if len(stable) else None
    labels = [f"{k}*" if k == result.rank else str(k) for k in st.index]
    p_values = ["Most Stab Sigs" if k == highest else ("N/A" if pd.isna(p) else f"{p:.2e}")
                for k, p in st["p_value"].items()]
    table = pd.DataFrame({
        "Signatures": labels,
        "Stability (Avg Silhouette)": st["avg_stability"].round(3).to_numpy(),
        "Minimum Stability": st["min_stability"].round(3).to_numpy(),
        "Considerable Solution": np.where(st["considered"], "YES", "NO"),
        "P-value": p_values,
        "Matrix Frobenius%": _pct(st["matrix_frobenius_pct"]),
        "Mean Sample L1%": _pct(st["median_sample_l1_pct"]),
        "Maximum Sample L1%": _pct(st["max_sample_l1_pct"]),
        "Mean Sample L2%": _pct(st["median_sample_l2_pct"]),
        "Maximum Sample L2%": st["max_sample_l2_pct"].round(2).to_numpy(),
        "Mean Sample KL": st["mean_sample_kl"].round(4).to_numpy(),
        "Maximum Sample KL": st["max_sample_kl"].round(4).to_numpy(),
        "Mean Cosine Distance": st["mean_cosine_distance"].round(3).to_numpy(),
        "Max Cosine Distance": st["max_cosine_distance"].round(3).to_numpy(),
        "Mean Correlation": st["mean_correlation"].round(3).to_numpy(),
        "Minimum Correlation": st["min_correlation"].round(3).to_numpy(),
    })
    return pd.concat([table, rule_columns(st).reset_index(drop=True), _sweep_columns(result)], axis=1)


def _sweep_columns(result) -> pd.DataFrame:
    """With ``stop_after_unstable``: ``Unstable In A Row`` per rank and, on the rank where the
    sweep stopped, ``Sweep`` naming the ranks not fitted and why (no columns otherwise)."""
    sweep = result.settings.get("sweep") or {}
    if sweep.get("stop_after_unstable") is None:
        return pd.DataFrame(index=range(len(result.stats)))
    st = result.stats
    note = [sweep["reason"] if stopped and sweep.get("reason") else "" for stopped in st["sweep_stopped"]]
    return pd.DataFrame({"Unstable In A Row": st["unstable_in_a_row"].astype(int).to_numpy(), "Sweep": note})


def samples_stats_table(stats: pd.DataFrame) -> pd.DataFrame:
    """``Samples_stats`` as SigProfilerExtractor writes it (``%`` after the relative errors)."""
    out = pd.DataFrame({
        "Total Mutations": np.rint(stats["Total Mutations"]).astype(np.int64),
        "Cosine Similarity": stats["Cosine Similarity"].round(3),
        "L1 Norm": stats["L1 Norm"].round(3), "L1_Norm_%": _pct(stats["L1_Norm_%"], 3),
        "L2 Norm": stats["L2 Norm"].round(3), "L2_Norm_%": _pct(stats["L2_Norm_%"], 3),
        "KL Divergence": stats["KL Divergence"].round(4), "Correlation": stats["Correlation"].round(3),
    }, index=stats.index)
    return out


def _signature_stats(solution) -> pd.DataFrame:
    totals = solution.exposures.sum(axis=0)
    return pd.DataFrame({"Stability": solution.stability.round(3),
                         "Total Mutations": np.rint(totals).astype(np.int64)})


def _write_tables(result, root: Path) -> None:
    kind = result.catalogue.kind
    base = root / kind
    base.mkdir(parents=True)
    all_solutions_table(result).to_csv(base / "All_solutions_stat.csv", index=False, lineterminator="\n")
    result.catalogue.to_frame().to_csv(base / "Samples.txt", sep="\t", index_label="MutationType", lineterminator="\n")
    for k, sol in result.solutions.items():
        folder = base / "All_Solutions" / f"{kind}_{k}_Signatures"
        _signatures_file(sol.signatures, folder / "Signatures" / f"{kind}_S{k}_Signatures.txt")
        _activities_file(sol.exposures, folder / "Activities" / f"{kind}_S{k}_NMF_Activities.txt")
        _stat_file(samples_stats_table(sol.sample_stats), folder / "Solution_Stats" / f"{kind}_S{k}_Samples_stats.txt", "Sample Names")
        _stat_file(_signature_stats(sol), folder / "Solution_Stats" / f"{kind}_S{k}_Signatures_stats.txt", "Signatures")
    denovo = base / "Suggested_Solution" / f"{kind}_De-Novo_Solution"
    _signatures_file(result.signatures, denovo / "Signatures" / f"{kind}_De-Novo_Signatures.txt")
    _activities_file(result.exposures, denovo / "Activities" / f"{kind}_De-Novo_Activities_refit.txt")
    cosmic = base / "Suggested_Solution" / f"COSMIC_{kind}_Decomposed_Solution"
    cosmic.mkdir(parents=True)
    _decomposition_csv(result.decomposition_table(), cosmic / f"De_Novo_map_to_COSMIC_{kind}.csv")
    _signatures_file(result.cosmic_signatures, cosmic / "Signatures" / f"COSMIC_{kind}_Signatures.txt")
    _activities_file(result.cosmic_exposures, cosmic / "Activities" / f"COSMIC_{kind}_Activities.txt")


def _decomposition_csv(table: pd.DataFrame, path: Path) -> None:
    """SigProfilerExtractor separates this file's fields with ``", "``; so does sigfactor."""
    lines = [", ".join(table.columns)]
    lines += [", ".join(str(v) for v in row) for row in table.itertuples(index=False)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


FIGURE_FORMATS = ("png", "pdf")


def _figure_stems(result) -> list[str]:
    return [*map(str, result.signatures.columns), "rank_selection"]


def _write_plots(result, folder: Path, formats=FIGURE_FORMATS) -> None:
    """A profile per chosen signature and the rank-selection plot, in ``formats``."""
    from ..plotting import plot_rank_selection, plot_signature, save_figure

    folder.mkdir(exist_ok=True)
    for name in result.signatures.columns:
        save_figure(plot_signature(result.signatures[name], title=name), folder / f"{name}", formats)
    save_figure(plot_rank_selection(result.stats, result.rank), folder / "rank_selection", formats)


def _pdfs_and_h5ad(result, folder: Path) -> None:
    _write_plots(result, folder / "plots", ("pdf",))
    _write_h5ad(result, folder / "result.h5ad")


def _write_h5ad(result, path: Path) -> None:
    from ..extract import write_anndata

    adata = result.catalogue.to_anndata()
    write_anndata(adata, result, "sigfactor")
    write_h5ad_image(adata, path)


def write_h5ad_image(adata, path) -> None:
    """Write ``adata`` to ``path`` as an ``.h5ad`` file built in memory and written with one
    ``write`` (not atomic: for a temporary path that a caller renames into place).

    ``AnnData.write_h5ad`` writes through HDF5 into the file itself: on a full disk HDF5 fails
    again while h5py frees the half-written file and prints a traceback that Python cannot
    catch. Here the file is an in-memory HDF5 image (8 MB for TCGA's catalogue of 9,493
    exomes) and only an ordinary file write can fail, with an ``OSError``. The layout is anndata's
    own (``anndata.io.write_elem`` of the whole object; a ``raw`` of encoding ``null`` is the
    only entry ``write_h5ad`` would leave out).
    """
    import h5py
    from anndata.io import write_elem

    adata.strings_to_categoricals()
    image = io.BytesIO()
    with h5py.File(image, "w") as fh:
        write_elem(fh, "/", adata)
    with open(path, "wb") as fh:
        fh.write(image.getbuffer())


def write_h5ad(adata, path, *, overwrite: bool = True) -> Path:
    """Write an AnnData object as an ``.h5ad`` file atomically (the R package's ``write_anndata``).

    Parameters
    ----------
    adata : anndata.AnnData
    path : str or os.PathLike
    overwrite : bool
        Replace an existing file (refused with ``FileExistsError`` otherwise, also when one
        appears during the write).

    Returns
    -------
    pathlib.Path
        ``path``; a failed write leaves no file behind and raises an ``OSError`` naming it.
    """
    from ..catalogue import _atomic_write

    path = Path(path)
    _atomic_write(path, lambda tmp: write_h5ad_image(adata, tmp), replace=overwrite)
    return path


def _write_products(result, folder: Path, plots: bool, *, split: bool = False) -> list[str]:
    """``result.h5ad`` and (with ``plots``) ``plots/``: the parts that need anndata and
    matplotlib, which the writer process runs when there is one. Returns the figures' paths.

    With ``split`` (in the writer process) a process forked from this one writes the PDFs and
    ``result.h5ad`` while this one writes the PNGs: the writing then takes two cores, not one
    (each figure is built twice, which costs little next to rendering it).
    """
    if not plots:
        _write_h5ad(result, folder / "result.h5ad")
        return []
    from .worker import ForkedWorker

    (folder / "plots").mkdir()
    with ForkedWorker() if split else contextlib.nullcontext() as other:
        remote = other is not None and other.submit(_pdfs_and_h5ad, result, folder)
        try:
            _write_plots(result, folder / "plots", ("png",) if remote else FIGURE_FORMATS)
        except BaseException:
            if remote:
                other.close()
            raise
        if remote:
            other.result()
        else:
            _write_h5ad(result, folder / "result.h5ad")
    return [f"plots/{stem}.{fmt}" for stem in _figure_stems(result) for fmt in FIGURE_FORMATS]


def write_extraction(result, out, *, force: bool = False, plots: bool = True, run_info: dict | None = None,
                     worker=None) -> Path:
    """Write an :class:`~sigfactor.extract.ExtractionResult` as a SigProfilerExtractor folder.

    Parameters
    ----------
    result : ExtractionResult
    out : str or os.PathLike
        Folder to create; an existing one is refused unless ``force``.
    force : bool
        Replace an existing folder (only once the new one is complete).
    plots : bool
        Write ``plots/`` (a profile per chosen signature and the rank-selection plot; PNG and PDF).
    run_info : dict, optional
        Extra entries for ``run.json`` (e.g. the command line).
    worker : sigfactor.io.worker.ForkedWorker, optional
        A forked process (the command line starts one early) that writes ``result.h5ad`` and
        the figures while this process writes the tables; without one, or if the result
        cannot be handed over, everything is written here. The folder is renamed into place
        only once both are done.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    with atomic_folder(out, force=force) as tmp:
        remote = worker is not None and worker.submit(_write_products, result, tmp, plots, split=True)
        try:
            _write_tables(result, tmp)
            figures = worker.result() if remote else _write_products(result, tmp, plots)
        except BaseException:
            if remote:
                worker.close()          # end the writer (also while waiting for it) before the folder is removed
            raise
        record = {
            **(run_info or {}),
            **result.settings,
            "chosen_rank": int(result.rank),
            "selection_reason": result.selection_reason,
            "signatures": list(result.signatures.columns),
            "cosmic_matches": json.loads(result.cosmic_matches.to_json(orient="records")),
            "plots": figures,
        }
        with open(tmp / "run.json", "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=2, default=_json_default)
            fh.write("\n")
    return Path(out)


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
