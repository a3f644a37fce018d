"""Datasets: bundled examples, public cohorts through the mirror and cache, never the network."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from sigfactor import datasets


@pytest.fixture(autouse=True)
def _no_mirror_override():
    datasets.set_mirror(None)
    yield
    datasets.set_mirror(None)


def test_bundled_examples():
    b21, b100 = datasets.breast21(), datasets.breast100()
    assert (b21.n_samples, int(b21.counts.sum())) == (21, 183_916)
    assert (b100.n_samples, int(b100.counts.sum())) == (100, 494_847)
    assert b21.samples[0] == "PD4199a" and b100.samples[0] == "PD10010a"


def test_public_cohorts_from_the_mirror(shared_data):
    gel, pcawg, tcga = datasets.gel_ovary(), datasets.pcawg_wgs(), datasets.tcga_wes()
    assert (gel.n_samples, pcawg.n_samples, tcga.n_samples) == (523, 2780, 9493)
    assert int(pcawg.counts.sum()) == 48_276_930
    assert str(shared_data) in pcawg.source
    assert tcga.samples[0] == "AML::TCGA-AB-2802-03B-01W-0728-08"


@pytest.mark.parametrize("name", datasets.SYNTHETIC)
def test_synthetic_ground_truth_reconstructs_the_catalogue(name):
    data = datasets.synthetic(name)
    assert data.catalogue.n_samples == 1000
    assert list(data.exposures.index) == list(data.catalogue.samples)
    assert list(data.exposures.columns) == list(data.signatures.columns)
    np.testing.assert_allclose(data.signatures.sum(), 1.0, atol=1e-2)
    rebuilt = data.exposures.to_numpy() @ data.signatures.to_numpy().T
    # noiseless sets: the catalogue is the product, rounded to whole mutations
    assert np.abs(rebuilt - data.catalogue.counts).max() <= 0.5 + 1e-6


def test_synthetic_names_are_checked():
    with pytest.raises(ValueError, match=r"name='syn.9' is not valid; expected one of 'syn.2.7a.7b.abst'"):
        datasets.synthetic("syn.9")


def test_mirror_is_searched_by_published_name_first(shared_data, tmp_path):
    shutil.copy(shared_data / "catalogues/GEL_Ovary_SBS96.tsv", tmp_path / "catalogues_Ovary_SBS.tsv")
    datasets.set_mirror(tmp_path)
    assert datasets.fetch("gel_ovary") == tmp_path / "catalogues_Ovary_SBS.tsv"
    assert datasets.gel_ovary().n_samples == 523


def test_a_mirror_file_with_other_content_is_refused(shared_data, tmp_path):
    shutil.copy(shared_data / "catalogues/breast21_SBS96.txt", tmp_path / "WGS_PCAWG.96.csv")
    datasets.set_mirror(tmp_path)
    with pytest.raises(ValueError, match=r"mirror file '.*WGS_PCAWG\.96\.csv' has sha256 \w+; expected 906ad6aa"):
        datasets.pcawg_wgs()


def test_the_cache_is_used_without_network(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("SIGFACTOR_DATA", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    shutil.copy(shared_data / "catalogues/WGS_PCAWG.96.csv", datasets.cache_dir() / "WGS_PCAWG.96.csv")
    assert datasets.fetch("pcawg_wgs") == datasets.cache_dir() / "WGS_PCAWG.96.csv"


def test_offline_without_the_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGFACTOR_DATA", str(tmp_path))
    with pytest.raises(ConnectionError, match=r"WES_TCGA\.96\.csv is not available offline.*SIGFACTOR_DATA"):
        datasets.tcga_wes()
    assert list(datasets.cache_dir().iterdir()) == []


def test_set_mirror_checks_its_argument(tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        datasets.set_mirror(tmp_path / "missing")
    with pytest.raises(TypeError, match="expected a folder path or None"):
        datasets.set_mirror(3)


def test_registry_points_at_the_pinned_published_files():
    urls = {key: entry.url for key, entry in datasets._REGISTRY.items()}
    assert urls["gel_ovary"].endswith(
        "annalisapaladino/AEMutSignExtraction/b8df1b614b016d08855d01495e881b8400e61fbc/data/catalogues_Ovary_SBS.tsv")
    assert urls["pcawg_wgs"].endswith("steverozen/PCAWG7/9f3f811/data-raw/spectra/WGS_PCAWG.96.csv")
    assert urls["tcga_wes"].endswith("steverozen/PCAWG7/9f3f811/data-raw/spectra/WES_TCGA.96.csv")
    assert urls["syn.3.5.40.abst/sigs"].endswith(
        "steverozen/SynSigGen/a5e55f6/data-raw/long.test.regression.data/syn.3.5.40.abst/sp.sp/ground.truth.syn.sigs.csv")
    assert all(u.startswith("https://raw.githubusercontent.com/") for u in urls.values())
