"""The sigfactor command line: runs, writes, and turns bad input into one line and exit status 2."""
import json
import subprocess
import sys

import pandas as pd
import pytest

from sigfactor import datasets, reference
from sigfactor.catalogue import read_catalogue, write_catalogue
from sigfactor.cli import build_parser, main

TINY = ["--restarts", "3", "--max-iter", "200", "--quiet"]


@pytest.fixture
def breast_file(tmp_path):
    path = tmp_path / "breast.txt"
    write_catalogue(datasets.breast21(), path)
    return path


def test_extract_writes_the_folder(breast_file, tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["extract", str(breast_file), "--out", str(out), "--ranks", "1-2", "--no-plots", *TINY]) == 0
    assert (out / "SBS96" / "All_solutions_stat.csv").is_file()
    assert not (out / "plots").exists()
    assert capsys.readouterr().out == ""          # --quiet


def test_single_rank_and_options(breast_file, tmp_path):
    out = tmp_path / "res"
    code = main(["extract", str(breast_file), "--out", str(out), "--rank", "2", "--no-resample",
                 "--normalization", "log2", "--seed", "5", "--loss", "frobenius", "--no-plots", *TINY])
    assert code == 0
    stat = pd.read_csv(out / "SBS96" / "All_solutions_stat.csv")
    assert stat["Signatures"].tolist() == ["2*"]


def test_kl_exponent_reaches_the_extraction(breast_file, tmp_path):
    """Catches ``--kl-exponent`` parsed but not passed on: the run's record holds it, and the
    restarts' iterations differ from a run without it."""
    runs = {}
    for name, extra in (("plain", []), ("over", ["--kl-exponent", "1.5"])):
        out = tmp_path / name
        assert main(["extract", str(breast_file), "--out", str(out), "--rank", "2", "--no-plots", *TINY, *extra]) == 0
        runs[name] = json.loads((out / "run.json").read_text())
    assert runs["over"]["arguments"]["kl_exponent"] == 1.5
    assert runs["plain"]["arguments"]["kl_exponent"] == 1.0
    stats = {name: pd.read_csv(tmp_path / name / "SBS96" / "All_solutions_stat.csv") for name in runs}
    assert not stats["over"].equals(stats["plain"])


def test_solver_reaches_the_extraction(breast_file, tmp_path):
    """Catches ``--solver`` parsed but not passed on: the run's record holds it, and the
    statistics differ from a run with multiplicative updates."""
    runs = {}
    for name, extra in (("plain", []), ("cd", ["--solver", "cd"])):
        out = tmp_path / name
        assert main(["extract", str(breast_file), "--out", str(out), "--rank", "2", "--no-plots", *TINY, *extra]) == 0
        runs[name] = json.loads((out / "run.json").read_text())
    assert runs["cd"]["arguments"]["solver"] == "cd" and runs["plain"]["arguments"]["solver"] == "mu"
    stats = {name: pd.read_csv(tmp_path / name / "SBS96" / "All_solutions_stat.csv") for name in runs}
    assert not stats["cd"].equals(stats["plain"])


@pytest.mark.parametrize("args, message", [
    (["--ranks", "1-30"], "beyond the 21 samples"),
    (["--ranks", "x"], "ranks='x'"),
    (["--reference", "nope.txt"], "neither a file nor a known name"),
    (["--kl-exponent", "2"], "--kl-exponent '2' is not valid; expected a number >= 1 and < 2"),
    (["--kl-exponent", "nan"], "--kl-exponent 'nan' is not valid; expected a number >= 1 and < 2"),
    (["--kl-exponent", "x"], "--kl-exponent 'x' is not valid"),
    (["--kl-exponent", "1.5", "--loss", "frobenius"],
     "--kl-exponent '1.5' applies to --model nmf with --loss kl only; leave it out for --model nmf --loss frobenius"),
    (["--solver", "cd", "--loss", "frobenius"],
     "--solver cd applies to --model nmf with --loss kl only; leave it out for --model nmf --loss frobenius"),
    (["--solver", "cd", "--kl-exponent", "1.5"], "--solver cd takes no --kl-exponent (an option of --solver mu)"),
])
def test_user_errors_are_one_line_exit_2(breast_file, tmp_path, capsys, args, message):
    out = tmp_path / "res"
    assert main(["extract", str(breast_file), "--out", str(out), *TINY, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
    assert not out.exists()


def test_bad_catalogue_and_existing_folder(tmp_path, capsys, breast_file):
    bad = tmp_path / "bad.txt"
    bad.write_text("MutationType\tS1\nnot_a_channel\t3\n")
    assert main(["extract", str(bad), "--out", str(tmp_path / "r"), *TINY]) == 2
    assert "Traceback" not in capsys.readouterr().err
    existing = tmp_path / "exists"
    existing.mkdir()
    assert main(["extract", str(breast_file), "--out", str(existing), *TINY]) == 2
    assert "already exists" in capsys.readouterr().err


def test_console_script_reports_errors_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "sigfactor.cli", "extract", str(tmp_path / "missing.txt"),
                           "--out", str(tmp_path / "o"), "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "missing.txt" in proc.stderr


def test_convert_and_refit(breast_file, tmp_path):
    tsv = tmp_path / "breast.tsv"
    assert main(["convert", str(breast_file), str(tsv)]) == 0
    assert (read_catalogue(tsv).counts == datasets.breast21().counts).all()
    assert main(["convert", str(breast_file), str(tsv)]) == 2            # exists
    sigs = tmp_path / "sigs.txt"
    reference.cosmic()[["SBS1", "SBS2", "SBS3", "SBS13"]].to_csv(sigs, sep="\t")
    out = tmp_path / "exposures.txt"
    assert main(["refit", str(breast_file), "--signatures", str(sigs), "--out", str(out)]) == 0
    exposures = pd.read_csv(out, sep="\t", index_col="Samples")
    assert list(exposures.columns) == ["SBS1", "SBS2", "SBS3", "SBS13"] and exposures.shape[0] == 21
    assert main(["refit", str(breast_file), "--signatures", "COSMIC_v3.4_SBS96_GRCh37",
                 "--out", str(out), "--force"]) == 0


def test_parser_lists_the_subcommands():
    text = build_parser().format_help()
    for command in ("extract", "example", "refit", "convert"):
        assert command in text


def test_compare_is_wired_in_when_evaluate_exists(tmp_path, capsys):
    pytest.importorskip("sigfactor.evaluate")
    assert "compare" in build_parser().format_help()
    assert main(["compare", str(tmp_path / "missing.txt"), "--rank", "2", "--out", str(tmp_path / "c")]) == 2
    assert "missing.txt" in capsys.readouterr().err
