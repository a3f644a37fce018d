"""sigfactor.r: R objects from Python through rpy2, and the progress relay the R package uses.

Needs R with MutationalPatterns and the R package sigfactor installed (scripts/setup.sh) and
the ``r`` extra (rpy2); the relay tests need neither.
"""
from __future__ import annotations

import io
import subprocess
import sys
import threading
import warnings

import numpy as np
import pandas as pd
import pytest

import sigfactor
from sigfactor import channels as ch
from sigfactor.r import relay_stderr

MP_EXAMPLE = "/usr/lib/R/site-library/MutationalPatterns/states/mut_mat_data.rds"


# ---- relay_stderr ----------------------------------------------------------------------------------

def test_relay_hands_over_tqdm_lines_and_restores_stderr():
    """Catches a relay that drops or merges the bar's redraws, or leaves sys.stderr replaced."""
    from tqdm import tqdm

    got = []
    original = sys.stderr
    with relay_stderr(got.append):
        bar = tqdm(total=4, desc="extract", mininterval=0)
        bar.update(2)
        bar.update(2)
        bar.close()
    assert sys.stderr is original
    # The same bar drawn into a buffer: the relay delivers its lines, one per redraw.
    buffer = io.StringIO()
    bar = tqdm(total=4, desc="extract", mininterval=0, file=buffer)
    bar.update(2)
    bar.update(2)
    bar.close()
    expected = [line.strip() for line in buffer.getvalue().replace("\r", "\n").split("\n") if line.strip()]
    assert [line.split("[")[0] for line in got] == [line.split("[")[0] for line in expected]
    assert got[-1].startswith("extract: 100%")


def test_relay_drops_other_threads_and_survives_errors():
    """Catches a relay that calls back from a worker thread (fatal for an R callback)."""
    got = []
    original = sys.stderr
    with pytest.raises(KeyError):
        with relay_stderr(got.append):
            worker = threading.Thread(target=lambda: sys.stderr.write("from a worker\n"))
            worker.start()
            worker.join()
            sys.stderr.write("from main\r")
            raise KeyError("boom")
    assert got == ["from main"]
    assert sys.stderr is original


# ---- rpy2 ----------------------------------------------------------------------------------------------

rpy2 = pytest.importorskip("rpy2", reason="the r extra (rpy2) is not installed")
from sigfactor import r  # noqa: E402


@pytest.fixture(scope="module")
def breast21():
    return sigfactor.datasets.breast21()


def test_mut_matrix_has_mutationalpatterns_rows(breast21):
    """Catches a matrix in SigProfiler's row order (MutationalPatterns' plots assume its own)."""
    matrix = r.mut_matrix(breast21)
    mp_rows = list(r._call("rownames", r._call("readRDS", MP_EXAMPLE)))
    frame = r.from_r(matrix)
    assert list(frame.index) == mp_rows
    assert list(frame.columns) == list(breast21.samples)
    expected = breast21.to_frame().loc[ch.to_canonical(mp_rows)].to_numpy(dtype=float)
    assert np.array_equal(frame.to_numpy(), expected)


def test_rds_round_trip_keeps_dimnames(tmp_path, breast21):
    """Catches dimnames lost or values reordered on the way to R and back."""
    frame = pd.DataFrame(np.arange(12.0).reshape(3, 4), index=["a", "b", "c"], columns=list("wxyz"))
    path = tmp_path / "frame.rds"
    r.write_rds(frame, path)
    # R itself sees the labels.
    read_in_r = r._call("readRDS", str(path))
    assert list(r._call("rownames", read_in_r)) == ["a", "b", "c"]
    assert list(r._call("colnames", read_in_r)) == list("wxyz")
    pd.testing.assert_frame_equal(r.read_rds(path), frame)
    # MutationalPatterns' own example reads with its dimnames (compared with R's own answer).
    example = r.read_rds(MP_EXAMPLE)
    assert list(example.index) == list(r._call("rownames", r._call("readRDS", MP_EXAMPLE)))
    assert example.shape == (96, 9)
    # The engine reads .rds catalogues too.
    r.write_rds(breast21, tmp_path / "breast21.rds")
    again = sigfactor.read_catalogue(tmp_path / "breast21.rds")
    assert np.array_equal(again.counts, breast21.counts)


def test_reading_rds_prints_nothing(tmp_path):
    """Catches rpy2's or R's start-up messages reaching the terminal."""
    code = f"from sigfactor import r; x = r.read_rds({MP_EXAMPLE!r}); print(x.shape)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "(96, 9)\n"
    assert done.stderr == ""


def test_mutationalpatterns_plots_drawn_from_python(tmp_path, breast21):
    """Catches plots that are not drawn (or not in a file) from an extraction's result."""
    res = sigfactor.extract(breast21, ranks=[3], n_restarts=3, seed=1, max_iter=200, progress=False)
    profile = r.plot_96_profile(res.signatures, tmp_path / "profile.png")
    contribution = r.plot_contribution(res.exposures.T, res.signatures, tmp_path / "contribution.pdf",
                                       mode="absolute")
    assert profile.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert contribution.read_bytes()[:5] == b"%PDF-"
    nmf = r.from_r(r.nmf_res(res))
    assert set(nmf) == {"signatures", "contribution", "reconstructed"}
    np.testing.assert_allclose(nmf["reconstructed"].to_numpy(),
                               nmf["signatures"].to_numpy() @ nmf["contribution"].to_numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="mode='stacked' is not valid"):
        r.plot_contribution(res.exposures.T, res.signatures, tmp_path / "x.png", mode="stacked")


def test_summarized_experiment_round_trip(breast21):
    """Catches counts, labels or colData lost between AnnData and a SummarizedExperiment."""
    adata = breast21.to_anndata()
    adata.obs["depth"] = np.arange(adata.n_obs, dtype=float)
    back = r.from_r(r.summarized_experiment(adata))
    assert list(back.obs_names) == list(adata.obs_names)
    assert list(back.obs.columns) == ["depth"]
    np.testing.assert_array_equal(back.obs["depth"].to_numpy(), adata.obs["depth"].to_numpy())
    canonical = ch.to_canonical(list(back.var_names))
    np.testing.assert_array_equal(back.X, adata[:, canonical].X)


@pytest.mark.parametrize("loss", ["kl", "frobenius"])
def test_the_r_package_through_rpy2_matches_the_python_api_bitwise(breast21, loss):
    """The R package's denovo_signatures, called from Python, gives the Python API's signatures
    for the same seed, bit for bit (catches any rounding, reordering or refitting on the way)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = r.r_call("denovo_signatures", breast21, package="sigfactor", ranks=[2, 3], nrun=5,
                        seed=3, max_iter=300, loss=loss, verbose=False)
        theirs = sigfactor.extract(breast21, ranks=[2, 3], n_restarts=5, seed=3, max_iter=300,
                                   loss=loss, progress=False)
    mp = theirs.to_mutationalpatterns()
    assert ours["rank"] == theirs.rank
    assert list(ours["signatures"].index) == list(mp["signatures"].index)
    assert list(ours["signatures"].columns) == list(mp["signatures"].columns)
    assert np.array_equal(ours["signatures"].to_numpy(), mp["signatures"].to_numpy())
    assert np.array_equal(ours["contribution"].to_numpy(), mp["contribution"].to_numpy())


def test_r_errors_and_warnings_reach_python_in_r_words(breast21):
    """Catches R errors swallowed or turned into tracebacks of the R process."""
    with pytest.raises(r.RError, match=r"ranks = c\(2L, 30L\) reach 30, beyond the 21 samples"):
        r.r_call("denovo_signatures", breast21, package="sigfactor", ranks=[2, 30])
    with pytest.warns(r.RWarning, match="a warning from R"):
        assert r.r_call("warning", "a warning from R") == "a warning from R"
    with pytest.raises(ValueError, match="function='rm; q' is not valid"):
        r.r_call("rm; q")
