"""Catalogues: real files in every row order and orientation, round trips, bad input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sigfactor.catalogue as catalogue_module
from sigfactor import channels as ch
from sigfactor.catalogue import Catalogue, as_catalogue, read_catalogue, write_catalogue
from sigfactor.reference import cosmic


def _r_packages(*packages: str) -> bool:
    """Whether rpy2 and R work here, with the given R packages installed."""
    try:
        from sigfactor.catalogue import _rpy2

        ro = _rpy2()

        return all(bool(ro.r["requireNamespace"](p, quietly=True)[0]) for p in ("stats", *packages))
    except Exception:  # rpy2 or R missing or broken: the optional extra is unavailable
        return False


HAS_RPY2 = _r_packages()
FORMATS = ["sigprofiler", "mutationalpatterns", "pcawg", "h5ad"] + (["rds"] if HAS_RPY2 else [])
SUFFIX = {"sigprofiler": ".txt", "mutationalpatterns": ".tsv", "pcawg": ".csv", "h5ad": ".h5ad", "rds": ".rds"}


def assert_same(a: Catalogue, b: Catalogue) -> None:
    assert a.kind == b.kind
    assert list(a.samples) == list(b.samples)
    assert list(a.channels) == list(b.channels) == list(ch.KINDS[a.kind])
    np.testing.assert_array_equal(a.counts, b.counts)


@pytest.fixture(scope="module")
def real(shared_data):
    """The three row orders: SigProfiler (breast21), substitution-first (GEL), two-column (PCAWG)."""
    return {
        "breast21": read_catalogue(shared_data / "catalogues/breast21_SBS96.txt"),
        "gel": read_catalogue(shared_data / "catalogues/GEL_Ovary_SBS96.tsv"),
        "pcawg": read_catalogue(shared_data / "catalogues/WGS_PCAWG.96.csv"),
    }


def test_real_files_are_read_by_label(real):
    b, g, p = real["breast21"], real["gel"], real["pcawg"]
    assert (b.n_samples, g.n_samples, p.n_samples) == (21, 523, 2780)
    assert all(c.counts.dtype.kind == "i" for c in (b, g, p))
    # cells checked against the raw files: row 'A[C>T]G' of breast21, GEL row 5 'C[C>A]A',
    # PCAWG line 36 "C>T,ACG" (substitution-first)
    assert b.to_frame().loc["A[C>T]G", "PD4199a"] == 121
    assert g.to_frame().loc["C[C>A]A", "GEL-2343183-11"] == 929
    assert p.to_frame().loc["A[C>T]G", "Biliary-AdenoCA::SP117655"] == 486


def test_pcawg_total_is_exact(real):
    assert int(real["pcawg"].counts.sum()) == 48_276_930
    assert real["pcawg"].counts.sum(axis=1).min() > 0


@pytest.mark.parametrize("name", ["breast21", "gel", "pcawg"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_each_format_keeps_every_count(real, tmp_path, name, fmt):
    original = real[name]
    path = write_catalogue(original, tmp_path / f"out{SUFFIX[fmt]}")
    back = read_catalogue(path)
    assert_same(back, original)
    assert back.counts.dtype.kind == "i"
    if name == "pcawg":
        assert int(back.counts.sum()) == 48_276_930


@pytest.mark.parametrize("name", ["breast21", "gel", "pcawg"])
@pytest.mark.parametrize("sep, suffix", [("\t", ".txt"), (",", ".csv")])
def test_samples_as_rows_files_read_the_same(real, tmp_path, name, sep, suffix):
    original = real[name]
    frame = original.to_frame().T
    frame.index.name = "Sample"
    frame.columns = ch.to_sigfit(frame.columns)  # sigfit layout: samples as rows, ACA>AAA columns
    frame = frame[list(reversed(frame.columns))]
    frame.to_csv(tmp_path / f"t{suffix}", sep=sep)
    assert_same(read_catalogue(tmp_path / f"t{suffix}"), original)


def test_shuffled_rows_give_the_same_catalogue(real):
    frame = real["breast21"].to_frame()
    shuffled = frame.sample(frac=1.0, random_state=1)
    assert list(shuffled.index) != list(frame.index)
    assert_same(read_catalogue(shuffled), real["breast21"])
    assert_same(read_catalogue(shuffled.T), real["breast21"])
    mp = frame.copy()
    mp.index = ch.to_mutationalpatterns(mp.index)
    assert_same(read_catalogue(mp.sample(frac=1.0, random_state=2)), real["breast21"])


def test_pcawg_frames_in_memory_with_label_columns_or_multiindex(shared_data, real):
    raw = pd.read_csv(shared_data / "catalogues/WGS_PCAWG.96.csv")
    assert_same(read_catalogue(raw), real["pcawg"])
    assert_same(read_catalogue(raw.set_index(["Mutation type", "Trinucleotide"]).iloc[::-1]), real["pcawg"])


def test_written_layouts_are_what_other_tools_read(real, tmp_path, shared_data):
    write_catalogue(real["gel"], tmp_path / "gel.tsv")
    published = (shared_data / "catalogues/GEL_Ovary_SBS96.tsv").read_bytes().replace(b"\r\n", b"\n")
    assert (tmp_path / "gel.tsv").read_bytes() == published
    write_catalogue(real["pcawg"], tmp_path / "pcawg.csv")
    assert (tmp_path / "pcawg.csv").read_bytes() == (shared_data / "catalogues/WGS_PCAWG.96.csv").read_bytes() + b"\n"
    write_catalogue(real["breast21"], tmp_path / "b.txt")
    lines = (tmp_path / "b.txt").read_text().splitlines()
    assert lines[0].split("\t")[:2] == ["MutationType", "PD4199a"]
    assert [x.split("\t")[0] for x in lines[1:]] == list(ch.SBS96)


@pytest.mark.parametrize("kind", ["DBS78", "ID83"])
@pytest.mark.parametrize("fmt", ["sigprofiler", "mutationalpatterns", "h5ad"] + (["rds"] if HAS_RPY2 else []))
def test_dbs_and_id_round_trip(tmp_path, kind, fmt):
    sigs = cosmic(kind=kind)
    counts = np.rint(sigs.to_numpy().T[:5] * 1000).astype(np.int64) + 1
    original = Catalogue(counts, sigs.columns[:5], sigs.index, source="test")
    back = read_catalogue(write_catalogue(original, tmp_path / f"x{SUFFIX[fmt]}"))
    assert_same(back, original)
    if fmt == "mutationalpatterns":
        first = (tmp_path / "x.tsv").read_text().splitlines()[1].split("\t")[0]
        assert first == ch.order(kind, "mutationalpatterns")[0]


def test_odd_sample_names_survive_text_round_trips(real, tmp_path):
    odd = real["breast21"].subset(["PD4199a", "PD4005a", "PD3851a"])
    renamed = Catalogue(odd.counts, ["a,b", 'c"d', "e f"], odd.channels)
    for fmt in ("sigprofiler", "mutationalpatterns", "pcawg"):
        assert_same(read_catalogue(write_catalogue(renamed, tmp_path / f"o{SUFFIX[fmt]}")), renamed)


def test_r_write_table_layouts(real, tmp_path):
    frame = real["breast21"].to_frame()
    frame.index = ch.to_mutationalpatterns(frame.index)
    # R's write.table defaults: space separated, quoted, header one field shorter
    lines = [" ".join(f'"{s}"' for s in frame.columns)]
    lines += [f'"{i}" ' + " ".join(str(v) for v in row) for i, row in zip(frame.index, frame.to_numpy())]
    (tmp_path / "r.txt").write_text("\n".join(lines) + "\n")
    assert_same(read_catalogue(tmp_path / "r.txt"), real["breast21"])
    # write.csv: an empty first header cell
    frame.to_csv(tmp_path / "r.csv", index_label="")
    assert_same(read_catalogue(tmp_path / "r.csv"), real["breast21"])


def test_catalogue_api(real):
    b = real["breast21"]
    assert len(b) == b.n_samples == 21 and b.n_channels == 96 and b.kind == "SBS96"
    frame = b.to_frame()
    assert frame.shape == (96, 21) and frame.index.name == "MutationType"
    sub = b.subset(["PD4005a", "PD4199a"])
    np.testing.assert_array_equal(sub.counts, b.counts[[1, 0]])
    with pytest.raises(ValueError, match="'nope'"):
        b.subset(["nope"])
    assert as_catalogue(b) is b
    assert_same(as_catalogue(frame), b)


def test_anndata_round_trip_layers_and_transposed(real, tmp_path):
    import anndata
    import scipy.sparse

    b = real["breast21"]
    adata = b.to_anndata()
    assert adata.shape == (21, 96) and adata.uns["sigfactor_catalogue"]["kind"] == "SBS96"
    assert_same(read_catalogue(adata), b)
    adata.layers["counts"] = scipy.sparse.csr_matrix(adata.X)
    adata.X = np.log1p(adata.X)
    assert_same(read_catalogue(adata, layer="counts"), b)
    with pytest.raises(ValueError, match="layer='raw' not found; available layers: 'counts'"):
        read_catalogue(adata, layer="raw")
    adata.T.write_h5ad(tmp_path / "t.h5ad")
    with pytest.raises(ValueError, match=r"t\.h5ad.*transposed.*obs = samples"):
        read_catalogue(tmp_path / "t.h5ad")
    assert isinstance(anndata.read_h5ad(tmp_path / "t.h5ad"), anndata.AnnData)


def test_integers_stay_integers_and_fractions_warn(real):
    b = real["breast21"]
    assert read_catalogue(b.to_frame().astype(np.int32)).counts.dtype == np.int32
    whole = read_catalogue(b.to_frame().astype(float))
    assert whole.counts.dtype == np.float64
    frac = b.to_frame().astype(float)
    frac.iloc[3, 2] = 0.5
    with pytest.warns(UserWarning, match=r"1 count\(s\) are not whole numbers.*'PD3851a'.*'A\[C>A\]T'"):
        kept = read_catalogue(frac)
    assert kept.to_frame().iloc[3, 2] == 0.5


def test_as_catalogue_refuses_arrays_naming_the_argument():
    with pytest.raises(TypeError, match=r"^X is a numpy\.ndarray.*no channel labels"):
        as_catalogue(np.ones((96, 3)))
    with pytest.raises(TypeError, match=r"^catalogue is a builtins\.list"):
        as_catalogue([1, 2], name="catalogue")


# ---- bad input: each names the file, the label or sample, and the problem ---------------------

@pytest.fixture
def sp_text(real):
    """A small SigProfiler-layout file body: header + 96 rows, as a list of lists of str."""
    frame = real["breast21"].subset(["PD4199a", "PD4005a", "PD3851a"]).to_frame()
    rows = [["MutationType", *frame.columns]]
    rows += [[label, *map(str, values)] for label, values in zip(frame.index, frame.to_numpy())]
    return rows


def _write(tmp_path, rows, name="bad.txt", sep="\t") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(sep.join(r) for r in rows) + "\n")
    return path


def test_unknown_label(tmp_path, sp_text):
    sp_text[5][0] = "A[G>A]A"
    with pytest.raises(ValueError, match=r"bad\.txt.*Unknown mutation-type label\(s\): 'A\[G>A\]A'"):
        read_catalogue(_write(tmp_path, sp_text))


def test_duplicated_label(tmp_path, sp_text):
    sp_text[5][0] = sp_text[4][0]
    with pytest.raises(ValueError, match=r"bad\.txt': channel 'A\[C>A\]T' appears twice"):
        read_catalogue(_write(tmp_path, sp_text))
    frame = pd.DataFrame(np.ones((97, 2), dtype=int), index=list(ch.SBS96) + ["ACA>AAA"], columns=["s1", "s2"])
    with pytest.raises(ValueError, match=r"channel 'A\[C>A\]A' \(also written 'ACA>AAA'\) appears twice"):
        read_catalogue(frame)


def test_missing_channels(tmp_path, sp_text):
    del sp_text[10:12]
    with pytest.raises(ValueError, match=r"bad\.txt': 2 of the 96 SBS96 channels are missing: 'A\[C>T\]C', 'A\[C>T\]G'"):
        read_catalogue(_write(tmp_path, sp_text))


def test_duplicated_sample_names(tmp_path, sp_text):
    sp_text[0][3] = "PD4199a"
    with pytest.raises(ValueError, match=r"bad\.txt': duplicated sample name\(s\) 'PD4199a'"):
        read_catalogue(_write(tmp_path, sp_text))


@pytest.mark.parametrize("value, problem", [
    ("-3", r"sample 'PD4005a', channel 'A\[C>A\]G' has negative count -3"),
    ("NA", r"sample 'PD4005a', channel 'A\[C>A\]G' has count nan"),
    ("inf", r"sample 'PD4005a', channel 'A\[C>A\]G' has count inf"),
    ("", r"sample 'PD4005a', channel 'A\[C>A\]G' has count nan"),
])
def test_negative_nan_infinite_counts(tmp_path, sp_text, value, problem):
    sp_text[3][2] = value
    with pytest.raises(ValueError, match=r"bad\.txt': " + problem):
        read_catalogue(_write(tmp_path, sp_text))


def test_non_numeric_count(tmp_path, sp_text):
    sp_text[3][2] = "12x"
    with pytest.raises(TypeError, match=r"bad\.txt': count '12x' of sample 'PD4005a', channel 'A\[C>A\]G' is not a number"):
        read_catalogue(_write(tmp_path, sp_text))


def test_sample_with_zero_mutations(tmp_path, sp_text):
    for row in sp_text[1:]:
        row[3] = "0"
    with pytest.raises(ValueError, match=r"bad\.txt' has 1 sample\(s\) with zero mutations: PD3851a"):
        read_catalogue(_write(tmp_path, sp_text))


def test_empty_and_blank_and_header_only_files(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match=r"empty\.txt' is empty"):
        read_catalogue(tmp_path / "empty.txt")
    (tmp_path / "blank.txt").write_text("\n \n")
    with pytest.raises(ValueError, match=r"blank\.txt' holds only blank lines"):
        read_catalogue(tmp_path / "blank.txt")
    (tmp_path / "head.txt").write_text("MutationType\tS1\n")
    with pytest.raises(ValueError, match=r"head\.txt' has a header line but no data rows"):
        read_catalogue(tmp_path / "head.txt")
    (tmp_path / "text.h5ad").write_text("MutationType\tS1\n")
    with pytest.raises(ValueError, match=r"text\.h5ad' cannot be read as AnnData"):
        read_catalogue(tmp_path / "text.h5ad")
    with pytest.raises(FileNotFoundError, match=r"nothere\.txt' does not exist"):
        read_catalogue(tmp_path / "nothere.txt")


def test_wrong_delimiter(tmp_path, sp_text):
    with pytest.raises(ValueError, match=r"bad\.txt': no tab or comma.*seems to use semicolons"):
        read_catalogue(_write(tmp_path, sp_text, sep=";"))


def test_ragged_rows(tmp_path, sp_text):
    sp_text[1] = sp_text[1][:2]
    with pytest.raises(ValueError, match=r"bad\.txt': the header has 4 fields but the first data row has 2"):
        read_catalogue(_write(tmp_path, sp_text))


def test_transposed_matrix_in_anndata_is_refused_but_frames_are_oriented_by_label(real):
    adata = real["breast21"].to_anndata().T
    with pytest.raises(ValueError, match=r"AnnData: the obs names are channel labels.*transposed.*adata\.T"):
        read_catalogue(adata)
    assert_same(read_catalogue(real["breast21"].to_frame().T), real["breast21"])


def test_mixed_kinds(tmp_path, sp_text):
    for row, label in zip(sp_text[1:11], ch.DBS78):
        row[0] = label
    with pytest.raises(ValueError, match=r"bad\.txt': The labels mix kinds.*86 SBS96.*10 DBS78 labels \(e\.g\. 'AC>CA'\)"):
        read_catalogue(_write(tmp_path, sp_text))


def test_ambiguous_orientation_and_no_labels():
    square = pd.DataFrame(np.ones((96, 96)), index=ch.SBS96, columns=ch.SBS96)
    with pytest.raises(ValueError, match="both the rows and the columns are channel labels"):
        read_catalogue(square)
    with pytest.raises(ValueError, match=r"no channel labels found; the rows start 0, 1, 2"):
        read_catalogue(pd.DataFrame(np.ones((96, 3))))
    with pytest.raises(ValueError, match="kind='DBS78' but the rows hold SBS96 labels"):
        read_catalogue(pd.DataFrame(np.ones((96, 3)), index=ch.SBS96), kind="DBS78")


def test_nothing_is_written_when_reading_fails(tmp_path, sp_text):
    sp_text[3][2] = "-1"
    bad = _write(tmp_path, sp_text)
    out = tmp_path / "out.txt"
    with pytest.raises(ValueError, match="negative"):
        write_catalogue(bad, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt"]


def test_writes_are_atomic(real, tmp_path):
    target = tmp_path / "keep.csv"
    target.write_text("previous\n")

    def half_then_fail(tmp: str) -> None:
        with open(tmp, "w") as fh:
            fh.write("MutationType\tPD4199a\n")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        catalogue_module._atomic_write(target, half_then_fail)
    assert target.read_text() == "previous\n"
    dbs = Catalogue(np.ones((1, 78), dtype=int), ["s"], ch.DBS78)
    with pytest.raises(ValueError, match="format='pcawg' holds SBS96 only"):
        write_catalogue(dbs, target)
    assert target.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.csv"]
    write_catalogue(real["breast21"], target)
    assert_same(read_catalogue(target), real["breast21"])
    with pytest.raises(ValueError, match=r"extension '\.xlsx', which names no format"):
        write_catalogue(real["breast21"], tmp_path / "x.xlsx")


@pytest.mark.skipif(not _r_packages("MutationalPatterns"), reason="R with MutationalPatterns and rpy2 not installed")
@pytest.mark.parametrize("state, kind, totals", [
    ("mut_mat_data.rds", "SBS96", {"colon1": 196, "liver2": 896}),
    ("blood_dbs_counts.rds", "DBS78", {"AC": 11, "ACC55": 4, "BCH": 1}),
    ("blood_indel_counts.rds", "ID83", {"AC": 378, "ACC55": 66, "BCH": 45}),
])
def test_mutationalpatterns_rds_objects(tmp_path, state, kind, totals):
    from sigfactor.catalogue import _rpy2

    ro = _rpy2()

    path = ro.r["system.file"]("states", state, package="MutationalPatterns")[0]
    cat = read_catalogue(path)
    assert cat.kind == kind
    got = dict(zip(cat.samples, cat.counts.sum(axis=1)))
    assert {k: got[k] for k in totals} == totals
    rownames = list(ro.r["rownames"](ro.r["readRDS"](path)))
    assert rownames == ch.order(kind, "mutationalpatterns")
    out = write_catalogue(cat, tmp_path / "x.rds")
    assert list(ro.r["rownames"](ro.r["readRDS"](str(out)))) == rownames
    assert_same(read_catalogue(out), cat)


@pytest.mark.parametrize("start", ["from sigfactor.catalogue import _rpy2; _rpy2()",
                                   "import sigfactor.r; sigfactor.r._robjects()"])
def test_starting_r_keeps_the_library_path_for_later_processes(start):
    """Catches rpy2's start of R leaking R's LD_LIBRARY_PATH (with the system's libpython) into
    the process: Python processes started afterwards (Dask workers) could not import ssl. Runs
    in a fresh interpreter, where R has not been started yet."""
    import subprocess
    import sys

    code = ("import os, subprocess, sys\n"
            "before = os.environ.get('LD_LIBRARY_PATH')\n"
            f"{start}\n"
            "assert os.environ.get('LD_LIBRARY_PATH') == before, os.environ.get('LD_LIBRARY_PATH')\n"
            "subprocess.run([sys.executable, '-c', 'import ssl'], check=True)\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_write_h5ad_reads_back_as_anndata_writes_it(tmp_path):
    """``io.folder.write_h5ad`` (R's ``write_anndata``) against ``AnnData.write_h5ad`` read back
    by anndata: catches a writer that drops ``obsm``/``uns`` entries, loses the string-to-
    categorical conversion, or leaves its temporary file; and an ``overwrite=False`` that
    replaces the file anyway."""
    import anndata

    from sigfactor.io.folder import write_h5ad

    rng = np.random.default_rng(0)
    adata = anndata.AnnData(rng.random((5, 96)), obs=pd.DataFrame({"tissue": list("aabba")}, index=list("vwxyz")))
    adata.obsm["e"] = rng.random((5, 3))
    adata.uns["run"] = {"seed": np.int64(7), "model": "nmf", "ranks": np.arange(3)}
    write_h5ad(adata.copy(), tmp_path / "ours.h5ad")
    adata.copy().write_h5ad(tmp_path / "theirs.h5ad")
    ours, theirs = (anndata.read_h5ad(tmp_path / f"{who}.h5ad") for who in ("ours", "theirs"))
    np.testing.assert_array_equal(ours.X, theirs.X)
    np.testing.assert_array_equal(ours.obsm["e"], theirs.obsm["e"])
    pd.testing.assert_frame_equal(ours.obs, theirs.obs)
    assert isinstance(ours.obs["tissue"].dtype, pd.CategoricalDtype)
    assert ours.uns["run"]["seed"] == 7 and ours.uns["run"]["model"] == "nmf"
    np.testing.assert_array_equal(ours.uns["run"]["ranks"], np.arange(3))
    before = (tmp_path / "ours.h5ad").read_bytes()
    with pytest.raises(FileExistsError):
        write_h5ad(adata[:2].copy(), tmp_path / "ours.h5ad", overwrite=False)
    assert (tmp_path / "ours.h5ad").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ours.h5ad", "theirs.h5ad"]
