"""Bad input and hostile conditions: nothing lost, one line on stderr, exit status 2.

Command-line cases run the real console script (or the real CLI in ``python -c`` with a hook
that plays the other party, e.g. another run creating the output folder at a chosen moment)
on the 21 breast genomes with a few restarts, so each takes a second or two.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from sigfactor import datasets
from sigfactor.catalogue import write_catalogue
from sigfactor.io import folder
from sigfactor.io.folder import atomic_folder

SIGFACTOR = str(Path(sys.executable).with_name("sigfactor"))
TINY = ["--ranks", "1-2", "--restarts", "3", "--max-iter", "200", "--quiet", "--no-plots"]


@pytest.fixture(scope="module")
def breast(tmp_path_factory):
    path = tmp_path_factory.mktemp("input") / "breast.txt"
    write_catalogue(datasets.breast21(), path)
    return path


def sigfactor(*args, cwd=None, umask=None, timeout=120):
    """The console script, as a user runs it."""
    return subprocess.run([SIGFACTOR, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, preexec_fn=None if umask is None else (lambda: os.umask(umask)))


def sigfactor_with_hook(hook: str, *args, **popen):
    """The real command line in a fresh interpreter, after ``hook`` (Python source) ran there."""
    script = "import os, sys, time\n" + textwrap.dedent(hook) + "\nfrom sigfactor.cli import run\nrun()\n"
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def finish(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def one_error_line(err: str) -> bool:
    return err.count("\n") == 1 and err.startswith("sigfactor ") and "Traceback" not in err


def leftovers(folder_path: Path) -> list[str]:
    return sorted(p.name for p in folder_path.iterdir() if p.name.startswith("."))


# ---- 7. an output folder that appears during the run ----------------------------------------

@pytest.fixture(params=["renameat2", "mkdir-then-rename"])
def rename_way(request, monkeypatch):
    """Both ways of publishing: renameat2 (Linux) and the POSIX fallback used elsewhere."""
    if request.param == "renameat2" and getattr(folder, "_RENAMEAT2", "absent") is None:
        pytest.skip("this C library has no renameat2")
    if request.param != "renameat2":
        monkeypatch.setattr(folder, "_RENAMEAT2", None, raising=False)
    return request.param


@pytest.mark.parametrize("content", [["PRECIOUS.txt"], []])
def test_a_folder_that_appears_during_the_run_is_kept(tmp_path, rename_way, content):
    """Catches a final rename that replaces what appeared after the start-up check (the old
    ``os.replace`` silently replaced an empty folder, and ``--force``-style code a full one)."""
    out = tmp_path / "out"
    with pytest.raises(FileExistsError, match="appeared while sigfactor was running"):
        with atomic_folder(out) as tmp:
            (tmp / "new.txt").write_text("new")
            out.mkdir()
            for name in content:
                (out / name).write_text("x")
    assert sorted(p.name for p in out.iterdir()) == content
    assert [p.name for p in tmp_path.iterdir()] == ["out"]          # no temporary folder left


def test_force_replaces_a_folder_that_appeared_and_leaves_nothing_else(tmp_path, rename_way):
    out = tmp_path / "out"
    with atomic_folder(out, force=True) as tmp:
        (tmp / "new.txt").write_text("new")
        out.mkdir()
        (out / "old.txt").write_text("old")
    assert [p.name for p in out.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_force_replaces_an_existing_folder(tmp_path, rename_way):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with atomic_folder(out, force=True) as tmp:
        (tmp / "new.txt").write_text("new")
        assert (out / "old.txt").is_file()                       # untouched until the end
    assert [p.name for p in out.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


COMPETE = """
import sigfactor.io.folder as f
_tables = f._write_tables
def _write_tables(result, root):      # after the start-up check, before the final rename
    _tables(result, root)
    {action}
f._write_tables = _write_tables
"""


def test_cli_refuses_a_folder_created_during_the_run(breast, tmp_path):
    """The issue's reproduction, made deterministic: the folder appears while the tables are written."""
    out = tmp_path / "race"
    action = f"os.mkdir({str(out)!r}); open({str(out / 'PRECIOUS.txt')!r}, 'w').write('x')"
    code, _, err = finish(sigfactor_with_hook(COMPETE.format(action=action), "extract", breast,
                                              "--out", out, *TINY))
    assert code == 2 and one_error_line(err), err
    assert "appeared while sigfactor was running" in err and str(out) in err
    assert (out / "PRECIOUS.txt").read_text() == "x" and [p.name for p in out.iterdir()] == ["PRECIOUS.txt"]
    assert leftovers(tmp_path) == []


def test_two_runs_on_one_folder_one_wins_the_other_says_so(breast, tmp_path):
    """Run B starts and finishes while run A writes; A must not replace B's result."""
    out = tmp_path / "shared"
    action = (f"import subprocess; rc = subprocess.run([{SIGFACTOR!r}, 'extract', {str(breast)!r}, '--out', "
              f"{str(out)!r}, '--seed', '7', *{TINY!r}]).returncode; assert rc == 0, rc")
    code, _, err = finish(sigfactor_with_hook(COMPETE.format(action=action), "extract", breast,
                                              "--out", out, "--seed", "0", *TINY))
    assert code == 2 and "appeared while sigfactor was running" in err, err
    assert json.loads((out / "run.json").read_text())["seeds"]["seed"] == 7      # B's result, intact
    assert leftovers(tmp_path) == []


def test_cli_force_replaces_a_folder_created_during_the_run(breast, tmp_path):
    out = tmp_path / "race"
    action = f"os.mkdir({str(out)!r}); open({str(out / 'OLD.txt')!r}, 'w').write('x')"
    code, _, err = finish(sigfactor_with_hook(COMPETE.format(action=action), "extract", breast,
                                              "--out", out, "--force", *TINY))
    assert code == 0, err
    assert (out / "run.json").is_file() and not (out / "OLD.txt").exists()
    assert leftovers(tmp_path) == []


# ---- 8. output paths the file system cannot take --------------------------------------------

def test_out_dot_with_force_is_refused_in_one_line(breast, tmp_path):
    """``--out . --force`` gave a traceback (rename of '.': EBUSY) and left a '..*.old' folder."""
    here = tmp_path / "work"
    here.mkdir()
    (here / "keep.txt").write_text("x")
    proc = sigfactor("extract", breast, "--out", ".", "--force", *TINY, cwd=here)
    assert proc.returncode == 2 and one_error_line(proc.stderr), proc.stderr
    assert "current folder" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]
    assert [p.name for p in here.iterdir()] == ["keep.txt"]


def test_long_output_names(breast, tmp_path):
    """A name the file system takes must work (the temporary name must not be longer than the
    limit when the user's is not); one it cannot take is refused in one line before the fit."""
    fits = tmp_path / ("r" * 250)
    proc = sigfactor("extract", breast, "--out", fits, *TINY)
    assert proc.returncode == 0, proc.stderr
    assert (fits / "run.json").is_file()
    proc = sigfactor("extract", breast, "--out", tmp_path / ("x" * 300), *TINY)
    assert proc.returncode == 2 and one_error_line(proc.stderr), proc.stderr
    assert "300 bytes" in proc.stderr and "at most 255" in proc.stderr
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("umask, folder_mode, file_mode", [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_outputs_follow_the_umask(breast, tmp_path, umask, folder_mode, file_mode):
    """Catches permissions left as tempfile's private 0700 (folders) and 0600 (files)."""
    out = tmp_path / "res"
    assert sigfactor("extract", breast, "--out", out, *TINY, umask=umask).returncode == 0
    assert stat.S_IMODE(out.stat().st_mode) == folder_mode
    assert stat.S_IMODE((out / "run.json").stat().st_mode) == file_mode
    converted = tmp_path / "converted.tsv"
    assert sigfactor("convert", breast, converted, umask=umask).returncode == 0
    assert stat.S_IMODE(converted.stat().st_mode) == file_mode


# ---- 8. signals while writing ----------------------------------------------------------------

SLOW_WRITER = """
import sigfactor.io.folder as f
_h5ad = f._write_h5ad
def _write_h5ad(result, path):       # runs in the writer process (with plots, in the one it forks)
    with open({pidfile!r} + ".part", "w") as fh:
        fh.write(str(os.getpid()))
    os.rename({pidfile!r} + ".part", {pidfile!r})
    time.sleep(60)
    _h5ad(result, path)
f._write_h5ad = _write_h5ad
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
@pytest.mark.parametrize("signame, plots", [("SIGTERM", False), ("SIGHUP", True)])
def test_a_signal_while_writing_leaves_no_folder_and_no_writer(breast, tmp_path, signame, plots):
    """Catches the default action of SIGTERM/SIGHUP (the command dies at once, its ``.res.*.tmp``
    folder stays and the forked writer, or the process the writer forked, goes on filling it)."""
    pidfile, out = tmp_path / "writer.pid", tmp_path / "res"
    args = TINY if not plots else [a for a in TINY if a != "--no-plots"]
    proc = sigfactor_with_hook(SLOW_WRITER.format(pidfile=str(pidfile)), "extract", breast, "--out", out, *args)
    writer = None
    try:
        deadline = time.monotonic() + 90
        while not pidfile.exists():                     # wait until the writer is at work
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the writer never started"
            time.sleep(0.05)
        writer = int(pidfile.read_text())
        proc.send_signal(getattr(signal, signame))
        code, _, err = finish(proc, timeout=30)
        assert code == 128 + getattr(signal, signame), err
        assert err.count("\n") == 1 and f"stopped by {signame}" in err and "Traceback" not in err, err
        assert leftovers(tmp_path) == [] and not out.exists()
        deadline = time.monotonic() + 10
        while _alive(writer) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(writer), "the writer process outlived the command"
    finally:
        if proc.poll() is None:
            proc.kill()
        if writer is not None and _alive(writer):
            os.kill(writer, signal.SIGKILL)


# ---- 8. read-only and full file systems ------------------------------------------------------
# A real tmpfs, mounted read-only or tiny in a private mount namespace (unshare: a user
# namespace maps the caller to root there, so this needs no privileges where user namespaces
# are enabled, and a root caller's permission bypass cannot hide the error).

IN_TMPFS = 'mount -t tmpfs -o "$0" tmpfs "$1" || exit 99; m="$1"; shift; "$@"; rc=$?; echo "left=[$(ls -A "$m")]"; exit $rc'


def in_tmpfs(options: str, mountpoint: Path, *command) -> subprocess.CompletedProcess:
    """Run ``command`` with a tmpfs mounted on ``mountpoint`` (seen by nothing else); stdout
    ends with ``left=[...]``, what the mount held when the command ended."""
    return subprocess.run(["unshare", "--map-root-user", "--mount", "sh", "-c", IN_TMPFS, options,
                           str(mountpoint), *map(str, command)], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def tmpfs_works(tmp_path_factory):
    point = tmp_path_factory.mktemp("probe")
    if shutil.which("unshare") is None or in_tmpfs("ro,size=16k", point, "true").returncode != 0:
        pytest.skip("cannot mount a private tmpfs here (unshare or user namespaces unavailable)")


@pytest.mark.parametrize("options, cause", [("ro,size=1m", "Read-only file system"),
                                            ("size=48k", "No space left on device")])
def test_read_only_or_full_file_system(breast, tmp_path, tmpfs_works, options, cause):
    """Catches a traceback with exit status 1, a message naming the internal ``.res.*.tmp``
    path, and a half-written temporary folder left on the full file system."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    out = mount / "res"
    proc = in_tmpfs(options, mount, SIGFACTOR, "extract", breast, "--out", out, *TINY)
    assert proc.returncode == 2 and one_error_line(proc.stderr), proc.stderr
    assert cause in proc.stderr and f"'{out}" in proc.stderr and ".tmp" not in proc.stderr
    assert proc.stdout.strip().endswith("left=[]"), proc.stdout


def test_a_full_file_system_for_a_converted_file(breast, tmp_path, tmpfs_works):
    mount = tmp_path / "mnt"
    mount.mkdir()
    proc = in_tmpfs("size=4k", mount, SIGFACTOR, "convert", breast, mount / "breast.tsv")
    assert proc.returncode == 2 and one_error_line(proc.stderr), proc.stderr
    assert "No space left on device" in proc.stderr and ".tmp" not in proc.stderr
    assert proc.stdout.strip().endswith("left=[]"), proc.stdout


FILL_AND_WRITE = """
import os, sys, warnings
warnings.simplefilter("ignore")
from sigfactor import datasets
from sigfactor.catalogue import write_catalogue
mount, catalogue = sys.argv[1], datasets.breast21()
for free in range(4096, 65536 + 1, 4096):
    with open(os.path.join(mount, "fill"), "wb") as fh:
        try:
            fh.write(bytes(65536 - free))
        except OSError:
            pass
    try:
        write_catalogue(catalogue, os.path.join(mount, "breast.h5ad"))
        print("written", free)
    except OSError as err:
        print("refused", free, "No space left" in str(err) and "breast.h5ad" in str(err) and ".tmp" not in str(err))
    for name in os.listdir(mount):
        os.remove(os.path.join(mount, name))
"""


def test_an_h5ad_file_on_a_filling_disk_fails_cleanly_at_every_point(tmp_path, tmpfs_works):
    """An .h5ad file written with 4 KB to 64 KB free, in 4 KB steps: every write either lands
    or fails with one OSError that names the file. Catches ``AnnData.write_h5ad`` straight to
    disk, which at some of these points fails again while h5py frees the half-written file
    and prints an uncatchable ``Exception ignored in ... __dealloc__`` traceback."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    proc = in_tmpfs("size=64k", mount, sys.executable, "-c", FILL_AND_WRITE, mount)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    outcomes = [line.split() for line in proc.stdout.splitlines()[:-1]]
    assert len(outcomes) == 16 and all(o[0] == "written" or o[2] == "True" for o in outcomes), outcomes
    assert {o[0] for o in outcomes} == {"written", "refused"}, outcomes


# ---- 9. warnings -----------------------------------------------------------------------------

def test_warnings_are_one_line_without_source_paths(tmp_path):
    """Catches Python's default warning format (``/path/catalogue.py:357: UserWarning: ...``
    followed by the source line)."""
    frame = datasets.breast21().to_frame().astype(float)
    frame.iloc[0, 0] = 1.5                                  # a fractional count warns
    path = tmp_path / "fractional.txt"
    frame.to_csv(path, sep="\t")
    proc = sigfactor("extract", path, "--out", tmp_path / "res", "--ranks", "1", "--restarts", "2",
                     "--max-iter", "5", "--quiet", "--no-plots")          # max_iter reached warns
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith("sigfactor: warning: ") for line in lines), lines
    assert "not whole numbers" in lines[0] and "max_iter=5" in lines[1]
    assert ".py" not in proc.stderr and "sys.exit" not in proc.stderr


def test_warnings_get_a_line_of_their_own_under_a_progress_bar(tmp_path, breast):
    """Catches a warning printed straight after the bar's last ``\\r`` frame (``... iteration
    5]sigfactor: warning: ...``): with the bar on, each warning must start its line once the
    bar's frames (ended by carriage returns) are set aside."""
    proc = sigfactor("extract", breast, "--out", tmp_path / "res", "--ranks", "1-2", "--restarts", "2",
                     "--max-iter", "5", "--no-plots")
    assert proc.returncode == 0, proc.stderr
    warned = [line for line in proc.stderr.split("\n") if "sigfactor: warning:" in line]
    assert len(warned) == 2, proc.stderr
    assert all(line.split("\r")[-1].startswith("sigfactor: warning: ") for line in warned), warned


# ---- 8. sizes that cannot fit, refused before anything is allocated ---------------------------

@pytest.mark.parametrize("args, message", [
    (["--restarts", "1000000000", "--ranks", "1"], "n_restarts=1000000000 (--restarts)"),
    (["--restarts", "300000", "--ranks", "1-10"], "n_restarts=300000 (--restarts) with ranks up to 10"),
    (["--ranks", "1-1000000000000"], "ranks='1-1000000000000' reach 1000000000000"),
])
def test_sizes_that_cannot_fit_are_refused_in_one_line(breast, tmp_path, args, message):
    """Catches a MemoryError traceback (exit 1) from allocating 1e9 resampled catalogues or a
    list of 1e12 ranks, and a run that would fit for hours and then fail in the consensus
    ((300000 x 10)**2 distances need 72 TB)."""
    started = time.monotonic()
    proc = sigfactor("extract", breast, "--out", tmp_path / "res", "--quiet", *args)
    assert proc.returncode == 2 and one_error_line(proc.stderr), proc.stderr
    assert message in proc.stderr
    assert time.monotonic() - started < 30                   # refused, not attempted


def test_rank_bounds_are_checked_before_the_list_is_built():
    from sigfactor.extract import parse_ranks

    for ranks in ("1-1000000000000", range(1, 10**12), [2, 10**12], "97"):
        with pytest.raises(ValueError, match="Expected ranks <= 96"):
            parse_ranks(ranks)
    assert parse_ranks("1-96") == list(range(1, 97))
    assert parse_ranks(range(10, 0, -3)) == [1, 4, 7, 10]


@pytest.mark.parametrize("seed", [2**63, 2**64])
def test_a_seed_results_cannot_record_is_refused_before_the_fit(seed):
    """Catches seeds >= 2**63 accepted, fitted, then failing in the HDF5 writer (object dtype)."""
    from sigfactor.extract import extract

    with pytest.raises(ValueError, match=r"seed=.* expected an integer from 0 to 2\*\*63 - 1"):
        extract(datasets.breast21(), ranks=[1], n_restarts=2, max_iter=5, progress=False, seed=seed)


def test_the_largest_seed_is_recorded_exactly(breast, tmp_path):
    """2**63 - 1 is accepted and read back from result.h5ad and run.json unchanged."""
    import anndata

    out = tmp_path / "res"
    proc = sigfactor("extract", breast, "--out", out, "--seed", str(2**63 - 1), *TINY)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "run.json").read_text())["seeds"]["seed"] == 2**63 - 1
    assert int(anndata.read_h5ad(out / "result.h5ad").uns["sigfactor"]["settings"]["seeds"]["seed"]) == 2**63 - 1


def test_counts_too_large_to_resample_are_refused_by_name():
    """Catches numpy's bare "n < 0" (a sample total of 9.6e18 overflowing int64 in resampling)."""
    from sigfactor.extract import extract

    frame = datasets.breast21().to_frame().astype(np.float64)
    frame.iloc[:, 3] = 1e17                                   # 96 x 1e17 = 9.6e18 >= 2**63
    with pytest.raises(ValueError, match=r"sample 'PD4116a' has 9\.6e\+18 mutations.*--no-resample"):
        extract(frame, ranks=[1], n_restarts=2, max_iter=5, progress=False)


# ---- 9. catalogues the reader did not understand, or misreported -----------------------------

@pytest.fixture(scope="module")
def breast_text(breast):
    return breast.read_text(encoding="utf-8")


def expected_counts():
    return datasets.breast21().counts


@pytest.mark.parametrize("compress", ["gzip", "bz2", "lzma"])
def test_compressed_catalogues_are_read(breast_text, tmp_path, compress):
    """Catches compressed catalogues refused as undecodable text."""
    import importlib

    module = importlib.import_module(compress)
    path = tmp_path / f"breast.txt.{ {'gzip': 'gz', 'bz2': 'bz2', 'lzma': 'xz'}[compress]}"
    path.write_bytes(module.compress(breast_text.encode()))
    from sigfactor.catalogue import read_catalogue

    np.testing.assert_array_equal(read_catalogue(path).counts, expected_counts())


def test_a_utf16_catalogue_with_a_byte_order_mark_is_read(breast_text, tmp_path):
    from sigfactor.catalogue import read_catalogue

    path = tmp_path / "utf16.txt"
    path.write_text(breast_text, encoding="utf-16")
    np.testing.assert_array_equal(read_catalogue(path).counts, expected_counts())


@pytest.mark.parametrize("content, message", [
    (lambda text: text.replace("PD4116a", "PD4116\xe9", 1).encode("latin-1"),
     r"is not UTF-8 text: byte 0xe9 on line 1"),
    (lambda text: bytes(range(256)) * 8, r"is not a text file"),
    (lambda text: text.encode("utf-16-le"), r"is not a text file"),             # no byte-order mark
    (lambda text: b"\x1f\x8b" + b"truncated", r"is gzip-compressed but cannot be decompressed"),
])
def test_undecodable_files_are_named(breast_text, tmp_path, content, message):
    """Catches a bare "'utf-8' codec can't decode byte 0xe9 in position 15" that names no file."""
    from sigfactor.catalogue import read_catalogue

    path = tmp_path / "odd.txt"
    path.write_bytes(content(breast_text))
    with pytest.raises(ValueError, match=rf"file '{path}' {message}"):
        read_catalogue(path)


def test_comment_lines_before_the_header_are_skipped(breast_text, tmp_path):
    """Catches '#' lines taken as the header (reported as a field-count mismatch)."""
    from sigfactor.catalogue import read_catalogue

    path = tmp_path / "commented.txt"
    path.write_text("# made by a pipeline\n#   version 2\n\n" + breast_text)
    np.testing.assert_array_equal(read_catalogue(path).counts, expected_counts())


@pytest.mark.parametrize("style", ["sigprofiler", "pcawg"])
def test_a_file_without_a_header_is_reported_as_such(tmp_path, style):
    """Catches a headerless file read with its first data row as sample names ("duplicated
    sample name(s) '31', '58'")."""
    from sigfactor.catalogue import read_catalogue

    path = tmp_path / f"headerless.{'txt' if style == 'sigprofiler' else 'csv'}"
    write_catalogue(datasets.breast21(), path, format=style)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[1:]))
    with pytest.raises(ValueError, match=r"the first line .* is a data row .* expected a header line"):
        read_catalogue(path)


def test_a_catalogue_from_a_pipe_is_read(breast_text, tmp_path):
    """Catches a FIFO (process substitution, ``/dev/fd/N``) reported as an empty file, or read
    twice (its data can be read once)."""
    import threading

    from sigfactor.catalogue import read_catalogue

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text(breast_text), daemon=True)
    writer.start()
    try:
        np.testing.assert_array_equal(read_catalogue(fifo).counts, expected_counts())
    finally:
        # A reader that gave up early: drain without blocking, so a failure cannot hang the suite.
        deadline = time.monotonic() + 10
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            while writer.is_alive() and time.monotonic() < deadline:
                try:
                    os.read(fd, 1 << 16)
                except BlockingIOError:
                    time.sleep(0.01)
        finally:
            os.close(fd)
        writer.join(timeout=1)


def test_process_substitution_on_the_command_line(breast, tmp_path):
    """The issue's case, in bash: ``sigfactor extract <(gzip -c f)``."""
    if shutil.which("bash") is None or shutil.which("gzip") is None:
        pytest.skip("needs bash and gzip")
    out = tmp_path / "res"
    command = f"{SIGFACTOR} extract <(gzip -c '{breast}') --out '{out}' {' '.join(TINY)}"
    proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (out / "run.json").is_file()


def test_a_text_file_named_rds_is_refused_in_one_line(breast, tmp_path):
    """Catches R's "unknown input format" as an RRuntimeError traceback (exit 1)."""
    fake = tmp_path / "catalogue.rds"
    shutil.copy(breast, fake)
    proc = sigfactor("extract", fake, "--out", tmp_path / "res", *TINY)
    assert proc.returncode == 2 and one_error_line(proc.stderr), proc.stderr
    assert f"file '{fake}' is not an R data file" in proc.stderr


@pytest.mark.parametrize("name", ["bin.txt", "latin1.txt"])
def test_undecodable_input_on_the_command_line(breast_text, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(bytes(range(256)) if name == "bin.txt" else breast_text.replace("PD4116a", "PD\xe9", 1).encode("latin-1"))
    proc = sigfactor("extract", path, "--out", tmp_path / "res", *TINY)
    assert proc.returncode == 2 and one_error_line(proc.stderr), proc.stderr
    assert str(path) in proc.stderr


# ---- 9. an unlabelled array in the files' orientation ----------------------------------------

def test_an_unlabelled_channels_by_samples_array_is_refused(breast21_counts):
    """Catches a 96 x 21 array (channels x samples, as files and R hold catalogues) fitted as
    96 samples of 21 channels without a word."""
    import sigfactor

    with pytest.raises(ValueError, match=r"X has shape \(96, 21\).*samples x channels.*X\.T"):
        sigfactor.factorize(breast21_counts.T.copy(), 2, n_restarts=1, max_iter=5)
    fitted = sigfactor.factorize(breast21_counts, 2, n_restarts=1, max_iter=5)     # 21 x 96 is right
    assert tuple(fitted.exposures.shape) == (1, 21, 2) and tuple(fitted.signatures.shape) == (1, 96, 2)


def test_a_square_unlabelled_array_is_taken_as_samples_by_channels():
    """96 x 96 cannot be told apart; the documented reading is samples x channels."""
    import sigfactor

    X = np.random.default_rng(0).poisson(5.0, size=(96, 96)).astype(float) + 1
    fitted = sigfactor.factorize(X, 2, n_restarts=1, max_iter=5)
    assert tuple(fitted.exposures.shape) == (1, 96, 2)


def test_a_file_that_appears_while_a_catalogue_is_written_is_kept(tmp_path, rename_way):
    """``convert``/``refit`` without --force: the final rename of a file refuses one that
    appeared meanwhile (catches ``os.replace``, which replaced it)."""
    from sigfactor.catalogue import _atomic_write

    path = tmp_path / "out.txt"

    def write_while_another_appears(tmp):
        Path(tmp).write_text("new")
        path.write_text("theirs")

    with pytest.raises(FileExistsError, match="appeared while sigfactor was running"):
        _atomic_write(path, write_while_another_appears, replace=False)
    assert path.read_text() == "theirs" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    _atomic_write(path, write_while_another_appears, replace=True)             # --force
    assert path.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    with pytest.raises(FileExistsError, match="already exists"):
        write_catalogue(datasets.breast21(), path, overwrite=False)
