"""``rank_rule="stable_bcv"``: bi-cross-validation's one-standard-error choice among the stable ranks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sigfactor import datasets
from sigfactor.extract import extract
from sigfactor.rank_rules import RANK_RULES, choose_bcv, choose_stable_bcv


def one_se_by_hand(errors: dict) -> int:
    """Smallest rank whose mean per-fold excess over the lowest-mean rank is at most the standard
    error of those paired differences (numpy, written out here)."""
    ranks = sorted(errors)
    means = {k: float(np.mean(errors[k])) for k in ranks}
    best = min(ranks, key=means.get)
    ok = []
    for k in ranks:
        d = np.asarray(errors[k], float) - np.asarray(errors[best], float)
        se = d.std(ddof=1) / np.sqrt(d.size) if k != best else 0.0
        if d.mean() <= se:
            ok.append(k)
    return min(ok)


FOLDS = {2: [10.0, 11.0, 9.0], 3: [8.0, 8.5, 7.5], 5: [5.0, 5.2, 4.8]}


def test_unstable_ranks_are_not_candidates():
    # Catches a rule that ignores stability: BCV over every rank picks the unstable rank 5.
    stable = pd.Series({2: True, 3: True, 5: False})
    assert choose_bcv(FOLDS)[0] == 5
    rank, reason = choose_stable_bcv(FOLDS, stable)
    assert rank == 3 == one_se_by_hand({k: FOLDS[k] for k in (2, 3)})
    assert reason.startswith("among the stable ranks (2, 3), ")


def test_one_standard_error_step_among_the_stable_ranks():
    # Hand-derived: rank 2's per-fold excess over rank 3 is (0.1, -0.1, 0.1), mean 0.033 below its
    # SE 0.067, so the smaller rank 2 is kept. Catches taking the minimum without the one-SE step.
    folds = {**FOLDS, 2: [8.1, 8.4, 7.6]}
    rank, _ = choose_stable_bcv(folds, pd.Series({2: True, 3: True, 5: False}))
    assert rank == 2 == one_se_by_hand({k: folds[k] for k in (2, 3)})


def test_no_stable_rank_falls_back_to_every_rank():
    rank, reason = choose_stable_bcv(FOLDS, pd.Series({2: False, 3: False, 5: False}))
    assert rank == choose_bcv(FOLDS)[0] == 5
    assert reason.startswith("no rank is stable, so among all ranks, ")


def test_extract_chooses_by_the_rule_from_its_own_evidence():
    # The choice recomputed independently from the run's stability flags and BCV folds. Catches
    # the rule fed the wrong stability column, or another rule's choice reported as this one's.
    res = extract(datasets.breast21(), ranks=range(1, 7), n_restarts=8, max_iter=400, progress=False, seed=3,
                  rank_rule="stable_bcv", compare_rank_rules=True)
    errors = {k: [f.error for f in s.bcv_folds] for k, s in res.solutions.items()}
    stable = [k for k in res.stats.index if res.stats.loc[k, "stable"]]
    expected = one_se_by_hand({k: errors[k] for k in (stable or list(errors))})
    assert res.rank == expected
    assert res.stats["chosen_by_stable_bcv"].sum() == 1 and res.stats.loc[expected, "chosen_by_stable_bcv"]
    assert res.stats["chosen"].equals(res.stats["chosen_by_stable_bcv"])
    assert res.selection_reason.startswith("Chosen by rank_rule='stable_bcv'. among the stable ranks")
    assert set(f"chosen_by_{r}" for r in RANK_RULES) <= set(res.stats.columns)


def test_command_line_offers_every_rule():
    # Catches the command line's choices drifting from the engine's rules.
    from sigfactor.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    rule = next(a for a in sub.choices["extract"]._actions if a.dest == "rank_rule")
    assert tuple(rule.choices) == RANK_RULES


@pytest.mark.parametrize("rule", ["stable-bcv", "BCV"])
def test_unknown_rule_is_refused(rule):
    with pytest.raises(ValueError, match="rank_rule"):
        extract(datasets.breast21(), ranks=range(1, 3), n_restarts=2, max_iter=5, progress=False, rank_rule=rule)
