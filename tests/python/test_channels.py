"""Channel labels: canonical lists against the published files, conversions, errors."""
from __future__ import annotations

import csv
import random

import pytest

from sigfactor import channels as ch
from sigfactor._bundled import bundled_path


def _first_column(path, sep="\t"):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh, delimiter=sep))
    return [r[0] for r in rows[1:] if r]


def test_canonical_lists_have_the_published_sizes_and_are_unique():
    assert (len(ch.SBS96), len(ch.DBS78), len(ch.ID83)) == (96, 78, 83)
    for labels in ch.KINDS.values():
        assert len(set(labels)) == len(labels)


@pytest.mark.parametrize("kind, fname", [
    ("SBS96", "cosmic/COSMIC_v3.4_SBS_GRCh37.txt"),
    ("DBS78", "cosmic/COSMIC_v3.4_DBS_GRCh37.txt"),
    ("ID83", "cosmic/COSMIC_v3.4_ID_GRCh37.txt"),
])
def test_canonical_order_is_the_cosmic_tables_order(kind, fname):
    assert list(ch.KINDS[kind]) == _first_column(bundled_path(fname))


def test_sbs96_is_lexical_as_in_sigprofiler_matrices():
    assert list(ch.SBS96) == sorted(ch.SBS96)
    assert list(ch.SBS96) == _first_column(bundled_path("catalogues/breast21_SBS96.txt"))


def test_substitution_first_orders_match_gel_and_pcawg_files(shared_data):
    gel = _first_column(shared_data / "catalogues/GEL_Ovary_SBS96.tsv")
    assert ch.order("SBS96", "mutationalpatterns") == gel
    with open(shared_data / "catalogues/WGS_PCAWG.96.csv", newline="") as fh:
        pairs = [tuple(r[:2]) for r in list(csv.reader(fh))[1:]]
    assert ch.order("SBS96", "pcawg") == pairs
    assert ch.to_canonical(pairs) == gel


@pytest.mark.parametrize("canonical, mp", [
    ("1:Del:C:0", "C_deletion_1"), ("1:Del:C:5", "C_deletion_6+"), ("1:Del:T:2", "T_deletion_3"),
    ("1:Ins:C:0", "C_insertion_0"), ("1:Ins:T:5", "T_insertion_5+"),
    ("2:Del:R:0", "2bp_deletion_1"), ("5:Del:R:5", "5+bp_deletion_6+"),
    ("2:Ins:R:0", "2bp_insertion_0"), ("4:Ins:R:5", "4bp_insertion_5+"),
    ("2:Del:M:1", "2bp_deletion_with_microhomology_1"), ("3:Del:M:2", "3bp_deletion_with_microhomology_2"),
    ("5:Del:M:5", "5+bp_deletion_with_microhomology_5+"), ("5:Del:M:4", "5+bp_deletion_with_microhomology_4"),
    ("AC>CA", "AC_CA"), ("TT>GG", "TT_GG"), ("A[C>A]A", "A[C>A]A"),
])
def test_mutationalpatterns_names_with_the_offset_length_index(canonical, mp):
    assert ch.to_mutationalpatterns([canonical]) == [mp]
    assert ch.to_canonical([mp]) == [canonical]


def test_pcawg_and_sigfit_styles():
    assert ch.to_pcawg(["A[C>A]A", "T[T>G]C"]) == (["C>A", "T>G"], ["ACA", "TTC"])
    assert ch.to_sigfit(["A[C>A]A", "T[T>G]C"]) == ["ACA>AAA", "TTC>TGC"]
    assert ch.to_canonical([("C>T", "GCG"), "GCG>GTG", " G[C>T]G "]) == ["G[C>T]G"] * 3
    assert ch.to_cosmic(["AC>CA"]) == ["AC>CA"]
    assert ch.trinucleotide(["T[T>A]G"]) == ["TTG"]


@pytest.mark.parametrize("kind", list(ch.KINDS))
def test_every_style_converts_back_to_the_same_labels_in_any_order(kind):
    labels = list(ch.KINDS[kind])
    random.Random(0).shuffle(labels)
    for style in ch.STYLES:
        if kind != "SBS96" and style in ("pcawg", "sigfit"):
            continue
        styled = ch.to_style(labels, style)
        assert ch.to_canonical(styled, kind) == labels
        assert sorted(ch.to_canonical(ch.order(kind, style))) == sorted(ch.KINDS[kind])


def test_detect_kind():
    assert ch.detect_kind(["PD4199a", "PD4005a"]) is None
    assert ch.detect_kind([]) is None
    assert ch.detect_kind(ch.order("ID83", "mutationalpatterns")) == "ID83"
    assert ch.detect_kind(ch.DBS78) == "DBS78"
    assert ch.detect_kind(list(ch.SBS96[:90]) + ["typo"] * 6) == "SBS96"


def test_mixed_kinds_are_refused_naming_both():
    with pytest.raises(ValueError, match=r"96 SBS96 labels.*'A\[C>A\]A'.*78 DBS78 labels.*'AC>CA'"):
        ch.detect_kind(list(ch.SBS96) + list(ch.DBS78))
    with pytest.raises(ValueError, match="mix kinds"):
        ch.to_canonical(["A[C>A]A", "AC>CA", "A[C>A]C"])


def test_unknown_and_wrong_kind_labels_are_named():
    with pytest.raises(ValueError, match=r"Unknown mutation-type label\(s\): 'A\[G>A\]A'"):
        ch.to_canonical(["A[C>A]A", "A[G>A]A"])
    with pytest.raises(ValueError, match=r"'AC>CA'.*not SBS96"):
        ch.to_canonical(["AC>CA"], kind="SBS96")
    with pytest.raises(ValueError, match="kind='SBS'"):
        ch.to_canonical(["A[C>A]A"], kind="SBS")


def test_order_refuses_a_style_without_labels_for_the_kind():
    with pytest.raises(ValueError, match="style='pcawg'"):
        ch.order("DBS78", "pcawg")
    with pytest.raises(ValueError, match="DBS78"):
        ch.to_pcawg(["AC>CA"])
