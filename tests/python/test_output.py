"""The SigProfilerExtractor-style output folder: layout, contents read back by label, atomicity."""
import json

import anndata
import numpy as np
import pandas as pd
import pytest

from sigfactor import datasets
from sigfactor.extract import extract
from sigfactor.io import atomic_folder, write_extraction
from sigfactor.catalogue import read_catalogue
from sigfactor.reference import read_signatures


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    result = extract(datasets.breast21(), ranks=[1, 2, 3], n_restarts=4, max_iter=400, seed=0, progress=False)
    out = tmp_path_factory.mktemp("out") / "run"
    write_extraction(result, out, run_info={"command": ["sigfactor", "test"]})
    return result, out


def test_layout(written):
    result, out = written
    base = out / "SBS96"
    expected = ["All_solutions_stat.csv",
                "Suggested_Solution/SBS96_De-Novo_Solution/Signatures/SBS96_De-Novo_Signatures.txt",
                "Suggested_Solution/SBS96_De-Novo_Solution/Activities/SBS96_De-Novo_Activities_refit.txt",
                "Suggested_Solution/COSMIC_SBS96_Decomposed_Solution/De_Novo_map_to_COSMIC_SBS96.csv",
                "Suggested_Solution/COSMIC_SBS96_Decomposed_Solution/Signatures/COSMIC_SBS96_Signatures.txt",
                "Suggested_Solution/COSMIC_SBS96_Decomposed_Solution/Activities/COSMIC_SBS96_Activities.txt"]
    for k in (1, 2, 3):
        expected += [f"All_Solutions/SBS96_{k}_Signatures/Signatures/SBS96_S{k}_Signatures.txt",
                     f"All_Solutions/SBS96_{k}_Signatures/Activities/SBS96_S{k}_NMF_Activities.txt",
                     f"All_Solutions/SBS96_{k}_Signatures/Solution_Stats/SBS96_S{k}_Samples_stats.txt"]
    missing = [p for p in expected if not (base / p).is_file()]
    assert not missing
    for p in ["result.h5ad", "run.json", "plots/rank_selection.png", "plots/rank_selection.pdf",
              *[f"plots/{n}.png" for n in result.signatures.columns]]:
        assert (out / p).is_file(), p
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]   # no temporary left


def test_tables_read_back(written):
    result, out = written
    k = result.rank
    path = out / "SBS96/Suggested_Solution/SBS96_De-Novo_Solution/Signatures/SBS96_De-Novo_Signatures.txt"
    assert path.read_text().splitlines()[0].split("\t") == ["MutationType", *result.signatures.columns]
    sigs = read_signatures(path)
    np.testing.assert_allclose(sigs.to_numpy(), result.signatures.to_numpy(), rtol=1e-6)
    act = pd.read_csv(out / f"SBS96/All_Solutions/SBS96_{k}_Signatures/Activities/SBS96_S{k}_NMF_Activities.txt",
                      sep="\t", index_col="Samples")
    np.testing.assert_array_equal(act.to_numpy(), np.rint(result.exposures.to_numpy()))
    stat = pd.read_csv(out / "SBS96/All_solutions_stat.csv")
    assert stat["Signatures"].tolist() == [f"{r}*" if r == k else str(r) for r in (1, 2, 3)]
    assert stat.columns[:5].tolist() == ["Signatures", "Stability (Avg Silhouette)", "Minimum Stability",
                                         "Considerable Solution", "P-value"]
    highest = max(r for r in (1, 2, 3) if result.stats.loc[r, "stable"])
    assert stat.loc[highest - 1, "P-value"] == "Most Stab Sigs"
    dec = pd.read_csv(out / "SBS96/Suggested_Solution/COSMIC_SBS96_Decomposed_Solution/De_Novo_map_to_COSMIC_SBS96.csv",
                      sep=", ", engine="python")
    assert dec["De novo extracted"].tolist() == list(result.signatures.columns)
    assert dec.columns.tolist()[-2:] == ["Cosine Similarity", "Correlation"]
    samples = read_catalogue(out / "SBS96" / "Samples.txt")
    np.testing.assert_array_equal(samples.counts, result.catalogue.counts)
    st = pd.read_csv(out / f"SBS96/All_Solutions/SBS96_{k}_Signatures/Solution_Stats/SBS96_S{k}_Samples_stats.txt",
                     sep="\t", index_col="Sample Names")
    assert st["L2_Norm_%"].str.endswith("%").all() and list(st.index) == list(result.catalogue.samples)


def test_h5ad_and_run_json(written):
    result, out = written
    adata = anndata.read_h5ad(out / "result.h5ad")
    assert adata.varm["sigfactor_signatures"].shape == (96, result.rank)
    assert adata.uns["sigfactor"]["rank"] == result.rank
    record = json.loads((out / "run.json").read_text())
    assert record["chosen_rank"] == result.rank
    assert record["command"] == ["sigfactor", "test"]
    assert record["seeds"]["seed"] == 0 and "torch" in record["versions"]
    assert record["arguments"]["n_restarts"] == 4


def test_existing_folder_refused_without_force(written, tmp_path):
    result, _ = written
    out = tmp_path / "x"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(FileExistsError, match="already exists"):
        write_extraction(result, out)
    write_extraction(result, out, force=True, plots=False)
    assert not (out / "keep.txt").exists() and (out / "run.json").is_file()


def test_failure_leaves_nothing_and_keeps_the_old_folder(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_folder(out) as tmp:
            (tmp / "half.txt").write_text("partial")
            raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_folder(out, force=True) as tmp:
            (tmp / "new.txt").write_text("new")
            raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in out.iterdir()] == ["old.txt"]


def test_missing_parent_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        with atomic_folder(tmp_path / "no" / "such"):
            pass


def _tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_writer_process_writes_the_same_folder(written, tmp_path):
    from sigfactor.io.worker import ForkedWorker

    result, serial = written
    out = tmp_path / "forked"
    with ForkedWorker(("anndata",)) as worker:
        write_extraction(result, out, run_info={"command": ["sigfactor", "test"]}, worker=worker)
    assert _tree(out) == _tree(serial)
    for table in (serial / "SBS96").rglob("*.*"):
        assert (out / table.relative_to(serial)).read_bytes() == table.read_bytes()
    forked, alone = json.loads((out / "run.json").read_text()), json.loads((serial / "run.json").read_text())
    assert forked["plots"] == alone["plots"]
    assert anndata.read_h5ad(out / "result.h5ad").obsm["sigfactor_exposures"].shape == (21, result.rank)
    for png in out.glob("plots/*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for pdf in out.glob("plots/*.pdf"):
        assert pdf.read_bytes()[:5] == b"%PDF-"


@pytest.mark.parametrize("broken", ["_write_h5ad", "_write_plots"])
def test_writer_process_failure_leaves_no_folder(written, tmp_path, monkeypatch, broken):
    """An error in the writer process (or in the process it forks) reaches the caller as
    itself, and the folder is not created."""
    from sigfactor.io import folder
    from sigfactor.io.worker import ForkedWorker

    def fail(*args, **kwargs):
        raise PermissionError("disk says no")

    monkeypatch.setattr(folder, broken, fail)          # inherited by the forked processes
    result, _ = written
    with ForkedWorker() as worker, pytest.raises(PermissionError, match="disk says no"):
        write_extraction(result, tmp_path / "out", worker=worker)
    assert list(tmp_path.iterdir()) == []
