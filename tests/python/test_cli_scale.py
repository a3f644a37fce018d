"""The command line's options for large runs: ``extract --stop-after-unstable`` and ``compare --scheduler``."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import sweep_by_hand
from sigfactor import datasets
from sigfactor.catalogue import write_catalogue
from sigfactor.cli import main

SWEEP = ["--ranks", "1-8", "--restarts", "10", "--max-iter", "1000", "--seed", "2", "--no-plots"]
"""The sweep of test_parallel's early-stop test: the 21 breast genomes are stable up to rank 4,
then unstable."""

COMPARE = ["--rank", "3", "--splits", "2", "--settings", "fast", "--max-iter", "50", "--seed", "1", "--quiet"]


@pytest.fixture(scope="module")
def breast_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("input") / "breast.txt"
    write_catalogue(datasets.breast21(), path)
    return path


def test_stop_after_unstable_stops_the_sweep_and_says_why(breast_file, tmp_path, capsys):
    # Catches the option not reaching extract (all 8 ranks fitted), N passed off by one or as
    # a constant (another stop), and a folder or summary that does not say which ranks were not
    # fitted and why.
    import anndata

    out = tmp_path / "res"
    assert main(["extract", str(breast_file), "--out", str(out), *SWEEP, "--stop-after-unstable", "2"]) == 0
    stats = anndata.read_h5ad(out / "result.h5ad").uns["sigfactor"]["stats"].set_index("rank")
    expected, stopped = sweep_by_hand(stats, 2)
    assert stopped and list(stats.index) == expected and expected[-1] < 8      # stopped early, where it should
    skipped = list(range(expected[-1] + 1, 9))
    table = pd.read_csv(out / "SBS96" / "All_solutions_stat.csv", keep_default_na=False)
    assert [int(str(s).rstrip("*")) for s in table["Signatures"]] == expected
    assert list(table["Unstable In A Row"]) == list(stats["unstable_in_a_row"])
    assert list(stats["sweep_stopped"]) == [False] * (len(expected) - 1) + [True]
    assert list(stats["unstable_in_a_row"])[-2:] == [1, 2]

    run = json.loads((out / "run.json").read_text())
    assert run["sweep"]["stop_after_unstable"] == 2 and run["arguments"]["stop_after_unstable"] == 2
    assert run["sweep"]["stopped_after"] == expected[-1] and run["sweep"]["not_fitted"] == skipped
    why = (f"rank {skipped[0]} was not fitted" if len(skipped) == 1 else
           f"ranks {', '.join(map(str, skipped))} were not fitted")
    assert why in run["sweep"]["reason"] and why in run["selection_reason"]
    assert list(table["Sweep"] != "") == [False] * (len(expected) - 1) + [True]    # said on the last rank
    assert why in table["Sweep"].iloc[-1]
    assert "--stop-after-unstable" in run["command"]

    printed = capsys.readouterr().out
    header, *rows = [line for line in printed.splitlines()[:len(expected) + 2] if not line.startswith("rank")]
    assert header.split()[-2:] == ["unstable_in_a_row", "sweep_stopped"]
    assert rows[-1].split()[0] == str(expected[-1]) and rows[-1].split()[-2:] == ["2", "True"]
    assert why in printed


@pytest.mark.parametrize("value", ["0", "-1", "x", "1.5", ""])
def test_stop_after_unstable_bad_values_are_one_line_exit_2(breast_file, tmp_path, capsys, value):
    # Catches argparse's own int type (usage text over several lines, no statement of the range),
    # 0 passed on to extract (named stop_after_unstable, not the option), 1.5 truncated to 1.
    out = tmp_path / "res"
    assert main(["extract", str(breast_file), "--out", str(out), *SWEEP, "--stop-after-unstable", value]) == 2
    err = capsys.readouterr().err
    assert err == (f"sigfactor extract: error: --stop-after-unstable {value!r} is not valid; "
                   "expected a whole number >= 1.\n")
    assert not out.exists()


def test_compare_on_a_local_cluster_equals_in_process(breast_file, tmp_path):
    # compare --scheduler local fits the splits x models on a LocalCluster of worker processes
    # on 127.0.0.1 (there, one split per task; here, each model's splits as one batch). Catches
    # the option dropped (run.json says in-process), splits or seeds assigned to the wrong run
    # on the workers (held-out errors differ by far more than rounding: 435 vs 473 between the
    # two splits at these settings), and iterations that differ.
    here, there = tmp_path / "here", tmp_path / "there"
    assert main(["compare", str(breast_file), "--out", str(here), *COMPARE]) == 0
    assert main(["compare", str(breast_file), "--out", str(there), *COMPARE, "--scheduler", "local"]) == 0
    assert json.loads((here / "run.json").read_text())["scheduler"] == "in-process"
    assert json.loads((there / "run.json").read_text())["scheduler"] == "local"
    a, b = pd.read_csv(here / "runs.csv"), pd.read_csv(there / "runs.csv")
    exact = ["split", "model", "seed", "n_iter", "converged"]
    assert a[exact].equals(b[exact]) and len(a) == 2 * 3
    # PyTorch's batched products round differently for a batch of one and of two splits.
    for column in ("train_loss", "test_error", "test_error_kl", "max_within_cosine"):
        np.testing.assert_allclose(b[column], a[column], rtol=1e-5, err_msg=column)
    sig_a = pd.read_csv(here / "signatures.csv", index_col=[0, 1, 2])
    sig_b = pd.read_csv(there / "signatures.csv", index_col=[0, 1, 2])
    assert sig_a.index.equals(sig_b.index)
    np.testing.assert_allclose(sig_b.to_numpy(), sig_a.to_numpy(), atol=1e-5)


def test_compare_bad_scheduler_is_one_line_exit_2(breast_file, tmp_path, capsys):
    # Catches the option accepted and ignored (the comparison would run in-process).
    out = tmp_path / "res"
    assert main(["compare", str(breast_file), "--out", str(out), *COMPARE, "--scheduler", "nowhere"]) == 2
    err = capsys.readouterr().err
    assert err == ("sigfactor compare: error: --scheduler 'nowhere' is not valid; expected 'local', a scheduler "
                   "address such as tcp://host:8786 or a scheduler file (.json).\n")
    assert not out.exists()


@pytest.mark.parametrize("command", ["extract", "compare"])
@pytest.mark.parametrize("text, message", [
    ("", "--scheduler '' is not valid; expected 'local'"),
    ("missing.json", "--scheduler 'missing.json': no such scheduler file."),
])
def test_bad_scheduler_in_the_command_lines_words(breast_file, tmp_path, capsys, command, text, message):
    # Catches Python's words (scheduler=..., None, dask.distributed.Client) in a command-line message,
    # and extract starting the fits before the option is checked (no output folder may appear).
    out = tmp_path / "res"
    rest = COMPARE if command == "compare" else ["--ranks", "1-2", "--restarts", "2", "--quiet"]
    assert main([command, str(breast_file), "--out", str(out), *rest, "--scheduler", text]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sigfactor {command}: error: {message}"), err
    assert "None" not in err and "Client" not in err and "scheduler=" not in err
    assert err.count("\n") == 1 and not out.exists()


def test_sweep_reason_in_words():
    # Hand-written sentences; catches the plural forms for one rank ("ranks 5 ... in a row").
    from sigfactor.extract import _sweep_record

    one = _sweep_record({4: 0, 5: 1}, [6], 1)["reason"]
    assert one == ("The sweep stopped after rank 5: rank 5 failed the stability thresholds "
                   "(stop_after_unstable=1), so rank 6 was not fitted.")
    two = _sweep_record({4: 0, 5: 1, 6: 2}, [7, 8], 2)["reason"]
    assert two == ("The sweep stopped after rank 6: ranks 5, 6 failed the stability thresholds in a row "
                   "(stop_after_unstable=2), so ranks 7, 8 were not fitted.")
    assert _sweep_record({4: 0, 5: 1}, [], 2)["reason"] is None
