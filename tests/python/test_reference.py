"""Reference signatures: bundled COSMIC, user tables in any layout, genome/exome opportunities."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sigfactor import channels as ch
from sigfactor.reference import convert_opportunity, cosmic, opportunities, read_signatures


def _cosine(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    x, y = a.to_numpy(), b.to_numpy()
    return (x * y).sum(0) / np.sqrt((x * x).sum(0) * (y * y).sum(0))


@pytest.mark.parametrize("kind, n, first, last", [
    ("SBS96", 86, "SBS1", "SBS99"), ("DBS78", 20, "DBS1", "DBS20"), ("ID83", 23, "ID1", "ID23"),
])
def test_cosmic_tables(kind, n, first, last):
    sigs = cosmic(kind=kind)
    assert sigs.shape == (len(ch.KINDS[kind]), n)
    assert list(sigs.index) == list(ch.KINDS[kind]) and sigs.index.name == "MutationType"
    assert (sigs.columns[0], sigs.columns[-1]) == (first, last)
    np.testing.assert_allclose(sigs.sum(), 1.0, atol=1e-5)


def test_cosmic_builds_differ_and_calls_return_copies():
    g37, g38 = cosmic(), cosmic(build="GRCh38")
    assert list(g37.columns) == list(g38.columns)
    assert np.abs(g37 - g38).to_numpy().max() > 1e-3
    g37.iloc[0, 0] = -1.0
    assert cosmic().iloc[0, 0] > 0


def test_cosmic_refuses_what_is_not_bundled():
    with pytest.raises(ValueError, match=r"build='GRCh38', exome=True are not bundled.*convert_opportunity"):
        cosmic(build="GRCh38", exome=True)
    with pytest.raises(ValueError, match=r"kind='DBS78', build='GRCh38'|DBS78 signatures for build='GRCh38'"):
        cosmic(kind="DBS78", build="GRCh38")
    with pytest.raises(ValueError, match=r"version='3\.2' is not valid; expected one of '3\.4'"):
        cosmic(version="3.2")
    with pytest.raises(TypeError, match="exome='yes'"):
        cosmic(exome="yes")


def test_genome_to_exome_gives_cosmics_exome_signatures():
    genome, exome = cosmic(), cosmic(exome=True)
    converted = convert_opportunity(genome, from_="genome", to="exome", build="GRCh37")
    assert list(converted.columns) == list(exome.columns)
    assert _cosine(converted, exome).min() > 0.99999
    assert np.abs(converted - exome).to_numpy().max() < 1e-3
    # the genome signatures themselves are far from the exome ones: the conversion matters
    assert np.abs(genome / genome.sum() - exome).to_numpy().max() > 0.01
    np.testing.assert_allclose(converted.sum(), 1.0)


def test_conversion_round_trip_and_identity():
    genome = cosmic(build="GRCh38")
    there = convert_opportunity(genome, to="exome", build="GRCh38")
    back = convert_opportunity(there, from_="exome", to="genome", build="GRCh38")
    np.testing.assert_allclose(back.to_numpy(), (genome / genome.sum()).to_numpy(), rtol=1e-10, atol=1e-15)
    same = convert_opportunity(genome, from_="genome", to="genome")
    np.testing.assert_allclose(same.to_numpy(), (genome / genome.sum()).to_numpy(), rtol=1e-12)


def test_conversion_is_by_label_not_position():
    genome = cosmic()
    shuffled = genome.sample(frac=1.0, random_state=3)
    pd.testing.assert_frame_equal(convert_opportunity(shuffled), convert_opportunity(genome))


def test_conversion_needs_sbs96():
    with pytest.raises(ValueError, match="SBS96 \\(trinucleotide contexts\\) only"):
        convert_opportunity(cosmic(kind="DBS78"))
    with pytest.raises(ValueError, match="to='panel'"):
        convert_opportunity(cosmic(), to="panel")


def test_opportunities():
    genome, exome = opportunities("GRCh37", "genome"), opportunities("GRCh37", "exome")
    assert len(genome) == 32 and set(genome.index) == set(ch.trinucleotide(ch.SBS96))
    assert (exome < genome).all()


def test_read_signatures_any_layout(shared_data, tmp_path):
    sigs = read_signatures(shared_data / "synthetic/syn.3.5.40.abst/sp.sp/ground.truth.syn.sigs.csv")
    assert list(sigs.columns) == ["SBS5", "SBS40", "SBS3"] and list(sigs.index) == list(ch.SBS96)
    assert sigs.loc["A[C>A]A", "SBS5"] == 0.012  # first row of the file: C>A,ACA,0.012,...
    mp = sigs.copy()
    mp.index = ch.to_mutationalpatterns(mp.index)
    pd.testing.assert_frame_equal(read_signatures(mp.sample(frac=1.0, random_state=0).T), sigs)
    cosmic().to_csv(tmp_path / "c.tsv", sep="\t", index_label="Type")
    pd.testing.assert_frame_equal(read_signatures(tmp_path / "c.tsv"), cosmic())


def test_read_signatures_bad_values_are_named():
    sigs = cosmic().iloc[:, :3].copy()
    sigs.iloc[4, 1] = -0.1
    with pytest.raises(ValueError, match=r"signature 'SBS2', channel 'A\[C>G\]A' is -0\.1"):
        read_signatures(sigs)
    sigs.iloc[4, 1] = 0.0
    sigs.iloc[:, 2] = 0.0
    with pytest.raises(ValueError, match=r"signature\(s\) 'SBS3' are all zeros"):
        read_signatures(sigs)
    dup = cosmic().iloc[:, [0, 0]]
    with pytest.raises(ValueError, match=r"duplicated signature name\(s\) 'SBS1'"):
        read_signatures(dup)
    with pytest.raises(TypeError, match="path_or_frame is a ndarray"):
        read_signatures(np.ones((96, 2)))
