"""Benchmark (not a test): accuracy of extraction on catalogues with known signatures.

Usage::

    .venv/bin/python benchmarks/bench_accuracy.py [--sets clock flat apobec few ...]
        [--ranks-around 2] [--restarts 20] [--models nmf mvnmf] [--mvnmf-sets few clock ...]
        [--spe-sets few] [--spe-replicates N] [--no-spe] [--seed 0]
        [--out benchmarks/results/bench_accuracy] [--resume PREVIOUS.json] [--report RUN.json]

Sets (:data:`SETS`)
-------------------
``syn.3.5.40.abst``, ``syn.2.7a.7b.abst``
    SynSigGen ground truth (Alexandrov et al. 2020; :func:`sigfactor.datasets.synthetic`):
    noiseless catalogues of 1,000 samples (see ``/work/shared/data/PROVENANCE.md``).
Generated here (:func:`generate`, seeded by ``--seed`` and the set's name)
    COSMIC v3.4 GRCh37 signatures (exome-normalised for exomes); each sample carries each
    signature with a set-specific probability (at least one), Dirichlet(1) weights among the
    ones it carries, and a log-normal total; counts are negative-binomial (a Poisson count of
    a gamma-distributed mean, dispersion ``size`` per set: variance ``mu + mu**2 / size``):
    ``few`` (20 genomes, 4 signatures), ``many`` (400 genomes, 8), ``exome_low`` (150 exomes,
    about 60 mutations each, 4 with SBS7a), ``hypermutators`` (80 genomes, 5 of them with 30x the
    mutations, POLE SBS10a/b among 5), ``flat`` (100 genomes, SBS3 + SBS5 + SBS40a), ``clock``
    (60 genomes, SBS1 + SBS5), ``apobec`` (60 genomes, SBS1 + SBS2 + SBS5 + SBS13), ``big15``
    (600 genomes, 15 signatures).

Methods
-------
``<model> <rule>``: ``sigfactor.extract`` with ``model`` (``nmf``: KL NMF, the default;
``mvnmf``: minimum-volume NMF, on the sets named by ``--mvnmf-sets``) over the ranks
``truth - r .. truth + r`` (``--ranks-around``); one extraction per model serves every rank
rule: it is asked for every rule's evidence (``compare_rank_rules=True``; without it only the
chosen rule's is computed), and :func:`rule_choices` refuses a run whose BCV or BIC column is
missing or not finite, so each rule is scored at the rank its own evidence chooses. ``time_s``
is the extraction's, shared by its rules; ``rank_rules_s`` the part spent on the BCV fits and
the BIC refits. ``SPE``: SigProfilerExtractor 1.4.1 (``.spe-venv``, :func:`spe_side.run_spe`)
on the sets named by ``--spe-sets``, same ranks, ``--spe-replicates`` replicates (default: as
many as ``--restarts``); its exposures are refitted here by NNLS to its signatures. A
SigProfilerExtractor run that raises is recorded with rank ``failed`` and its last error line.

Scores per set and method
-------------------------
``rank`` (chosen) against ``truth``; signatures matched one-to-one to the true ones (Hungarian,
:func:`sigfactor.matching.match_signatures`), a match counting when its cosine is >= 0.9:
``precision`` (matches / signatures found), ``recall`` (matches / true signatures), ``f1``;
``cosine``: mean cosine of the one-to-one matches (all of them, whatever their cosine);
``exposure_error``: sum over samples of ``|found - true|`` over the matched signatures, plus the
true exposures of unmatched true signatures and the found exposures of unmatched found ones,
divided by the total true exposure (0 is perfect, 1 as bad as finding nothing).

Per method (:func:`summary`): the sets where the chosen rank is the truth, mean F1 and mean
matched cosine over every set it ran on, the sets where its F1 is below the default's (``nmf
sigprofiler``), and mean F1 on the sets SigProfilerExtractor ran on, beside SigProfilerExtractor's.

Writes ``<out>.md`` (sets x methods, the summary, every row) and ``<out>.json`` (every row, each
extraction's per-rank evidence and selection reason, the summary, the commands and settings),
after every set. ``--resume PREVIOUS.json`` keeps the sets a cut-short run finished (rows and
evidence, each row saying which invocation made it) and runs the others, refusing a file made
with other settings. ``--report RUN.json`` only rewrites ``<out>.md`` from a finished run.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from sigfactor import datasets, reference
from sigfactor.extract import extract
from sigfactor.matching import match_signatures
from sigfactor.rank_rules import RANK_RULES
from sigfactor.refit import nnls

HERE = Path(__file__).resolve().parent
MATCH = 0.9
"""Cosine at which a found signature counts as the true one it is matched to."""

GENERATED = {
    # name: signatures, samples, median total, presence probability, NB size, exome, hypermutators
    "few": (["SBS1", "SBS2", "SBS5", "SBS13"], 20, 4000, 0.7, 30.0, False, 0),
    "many": (["SBS1", "SBS2", "SBS3", "SBS5", "SBS13", "SBS17b", "SBS18", "SBS40a"], 400, 5000, 0.4, 30.0,
             False, 0),
    "exome_low": (["SBS1", "SBS5", "SBS7a", "SBS4"], 150, 60, 0.5, 30.0, True, 0),
    "hypermutators": (["SBS1", "SBS5", "SBS10a", "SBS10b", "SBS18"], 80, 3000, 0.5, 30.0, False, 5),
    "flat": (["SBS3", "SBS5", "SBS40a"], 100, 5000, 0.8, 30.0, False, 0),
    "clock": (["SBS1", "SBS5"], 60, 3000, 1.0, 30.0, False, 0),
    "apobec": (["SBS1", "SBS2", "SBS5", "SBS13"], 60, 4000, 0.7, 30.0, False, 0),
    "big15": (["SBS1", "SBS2", "SBS3", "SBS4", "SBS5", "SBS6", "SBS7a", "SBS8", "SBS9", "SBS10a", "SBS12",
               "SBS13", "SBS17b", "SBS18", "SBS40a"], 600, 5000, 0.3, 30.0, False, 0),
}
SYNSIGGEN = ("syn.3.5.40.abst", "syn.2.7a.7b.abst")
SETS = SYNSIGGEN + tuple(GENERATED)


def generate(name: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A generated set: counts (channels x samples), true signatures (channels x k) and true
    exposures (samples x k, the gamma-Poisson means' split by signature)."""
    names, n, total, presence, size, exome, hyper = GENERATED[name]
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    S = reference.cosmic(exome=exome)[names]
    S = S / S.sum(axis=0)
    k = len(names)
    carried = rng.random((n, k)) < presence
    carried[np.arange(n), rng.integers(0, k, n)] |= ~carried.any(axis=1)
    if hyper:                              # the hypermutators carry the POLE signatures
        pole = [i for i, s in enumerate(names) if s.startswith("SBS10")]
        carried[:hyper, pole] = True
    weights = np.where(carried, rng.dirichlet(np.ones(k), size=n), 0.0)
    weights /= weights.sum(axis=1, keepdims=True)
    totals = rng.lognormal(np.log(total), 0.5, size=n)
    totals[:hyper] *= 30
    E = weights * totals[:, None]                                    # samples x k
    mu = S.to_numpy() @ E.T                                           # channels x samples
    counts = rng.poisson(rng.gamma(size, mu / size))
    samples = [f"{name}_{i}" for i in range(n)]
    return (pd.DataFrame(counts, index=S.index, columns=samples), S,
            pd.DataFrame(E, index=samples, columns=names))


def load(name: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Counts (channels x samples), true signatures and true exposures of a set."""
    if name in SYNSIGGEN:
        data = datasets.synthetic(name)
        counts = pd.DataFrame(np.asarray(data.catalogue.counts).T, index=data.catalogue.channels,
                              columns=data.catalogue.samples)
        return counts, data.signatures.loc[counts.index], data.exposures
    return generate(name, seed)


def score(found: pd.DataFrame, exposures: pd.DataFrame, truth: pd.DataFrame, true_exp: pd.DataFrame) -> dict:
    """Precision, recall, F1, mean matched cosine and exposure error of one solution."""
    m = match_signatures(found, truth)
    paired = m[m["match"] != ""]
    hits = paired[paired["cosine"] >= MATCH]
    precision, recall = len(hits) / found.shape[1], len(hits) / truth.shape[1]
    f1 = 0.0 if not len(hits) else 2 * precision * recall / (precision + recall)
    exposures = exposures.loc[true_exp.index]
    err = 0.0
    for _, row in hits.iterrows():
        err += float(np.abs(exposures[row["signature"]] - true_exp[row["match"]]).sum())
    err += float(true_exp.drop(columns=list(hits["match"])).to_numpy().sum())
    err += float(exposures.drop(columns=list(hits["signature"])).to_numpy().sum())
    return {"precision": precision, "recall": recall, "f1": f1, "cosine": float(paired["cosine"].mean()),
            "exposure_error": err / float(true_exp.to_numpy().sum())}


EVIDENCE = {"bcv": ["bcv_error", "bcv_se"], "bic": ["bic"], "stable_bcv": ["bcv_error", "bcv_se"]}
"""Columns of ``result.stats`` each alternative rule chooses from."""


def rule_choices(stats: pd.DataFrame) -> dict:
    """The rank each rule of :data:`RANK_RULES` chose, after checking that its evidence is there.

    Raises
    ------
    RuntimeError
        When a rule's evidence columns are missing or not finite at some rank, or a rule did not
        choose exactly one rank (a rule scored without its evidence would be scored on nothing).
    """
    choices = {}
    for rule in RANK_RULES:
        columns = EVIDENCE.get(rule, []) + [f"chosen_by_{rule}"]
        missing = [c for c in columns if c not in stats.columns]
        if missing:
            raise RuntimeError(f"rank rule {rule!r}: the extraction has no {missing} column(s); "
                               "expected compare_rank_rules=True to compute every rule's evidence.")
        values = stats[EVIDENCE.get(rule, [])].to_numpy(float)
        if not np.isfinite(values).all():
            raise RuntimeError(f"rank rule {rule!r}: evidence {EVIDENCE[rule]} is not finite at every rank:\n"
                               f"{stats[EVIDENCE[rule]]}")
        picked = stats.index[stats[f"chosen_by_{rule}"].to_numpy(bool)]
        if len(picked) != 1:
            raise RuntimeError(f"rank rule {rule!r} chose {list(picked)}; expected exactly one rank.")
        choices[rule] = int(picked[0])
    return choices


def evidence(result) -> dict:
    """Per-rank evidence of every rule and the selection reason, for the JSON."""
    cols = ["avg_stability", "min_stability", "stable", "p_value", "median_sample_l2_pct", "bcv_error", "bcv_se",
            "bic"]
    table = result.stats[cols].astype(float)
    return {"stats": {str(k): {c: (None if not np.isfinite(v) else float(v)) for c, v in row.items()}
                      for k, row in table.iterrows()},
            "selection_reason": result.selection_reason}


def run_sigfactor(counts, truth, true_exp, ranks, model, restarts, seed,
                  kl_exponent=1.0, solver="mu") -> tuple[list[dict], dict]:
    """Rows (one per rank rule) of one extraction, and its evidence (:func:`evidence`);
    ``kl_exponent`` and ``solver`` are passed to KL NMF only."""
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = extract(counts.T, ranks=ranks, model=model, n_restarts=restarts, seed=seed, progress=False,
                         compare_rank_rules=True,
                         **({"kl_exponent": kl_exponent, "solver": solver} if model == "nmf" else {}))
    seconds = time.perf_counter() - started
    rows = []
    for rule, k in rule_choices(result.stats).items():
        sol = result.solutions[k]
        rows.append({"method": f"{model} {rule}", "rank": k, **score(sol.signatures, sol.exposures, truth, true_exp),
                     "time_s": seconds, "rank_rules_s": result.settings["timings"]["rank_rules_s"]})
    return rows, evidence(result)


SPE_FAILED = "failed"
"""Said in ``rank`` (markdown) and ``error`` (JSON) of a SigProfilerExtractor run that raised."""


def run_spe_set(name, counts, truth, true_exp, ranks, replicates, seed, out) -> dict:
    sys.path.insert(0, str(HERE))
    from spe_side import run_spe

    from sigfactor.catalogue import write_catalogue, as_catalogue

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        path = Path(tmp) / f"{name}.txt"
        write_catalogue(as_catalogue(counts.T), path)
        try:
            run = run_spe(path, ranks=(min(ranks), max(ranks)), replicates=replicates, seed=seed,
                          out_dir=Path(tmp) / "spe", progress=False)
        except RuntimeError as err:      # SigProfilerExtractor itself failed: a result, recorded as such
            last = [line for line in str(err).splitlines() if line.strip()][-1]
            print(f"SigProfilerExtractor failed on {name}: {last}", file=sys.stderr, flush=True)
            return {"method": "SPE", "rank": None, "precision": float("nan"), "recall": float("nan"),
                    "f1": float("nan"), "cosine": float("nan"), "exposure_error": float("nan"),
                    "time_s": time.perf_counter() - started, "rank_rules_s": float("nan"),
                    "error": f"SigProfilerExtractor {SPE_FAILED}: {last}"}
    sigs = run["signatures"].loc[counts.index]
    exp = pd.DataFrame(nnls(sigs.to_numpy(float), counts.to_numpy(float)).T, index=counts.columns,
                       columns=sigs.columns)
    return {"method": "SPE", "rank": int(run["chosen_rank"]), **score(sigs, exp, truth, true_exp),
            "time_s": run["wall_s"], "rank_rules_s": float("nan")}


def markdown(rows: pd.DataFrame) -> str:
    """The per-set table."""
    cols = ["set", "truth", "method", "rank", "precision", "recall", "f1", "cosine", "exposure_error", "time_s"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in rows[cols].iterrows():
        cells = [(SPE_FAILED if pd.isna(v) else str(int(v))) if c == "rank" else
                 "-" if isinstance(v, float) and np.isnan(v) else
                 f"{v:.0f}" if c == "time_s" else f"{v:.3f}" if isinstance(v, float) else str(v)
                 for c, v in r.items()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def wide_markdown(rows: pd.DataFrame) -> str:
    """Sets x methods: ``rank / F1 / cosine`` per method, then each model's and SPE's seconds."""
    methods = list(dict.fromkeys(rows["method"]))
    models = list(dict.fromkeys(m.split()[0] for m in methods))
    head = ["set", "truth", *methods, *(f"{m} s" for m in models)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in rows.groupby("set", sort=False):
        r = r.set_index("method")
        cells = [name, str(int(r["truth"].iloc[0]))]
        for m in methods:
            if m not in r.index:
                cells.append("not run")
            elif pd.isna(r.loc[m, "rank"]):
                cells.append(SPE_FAILED)
            else:
                cells.append(f"{int(r.loc[m, 'rank'])} / {r.loc[m, 'f1']:.2f} / {r.loc[m, 'cosine']:.3f}")
        for model in models:
            t = r.loc[[m for m in r.index if m.split()[0] == model], "time_s"]
            cells.append(f"{t.iloc[0]:.0f}" if len(t) else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


DEFAULT = "nmf sigprofiler"
"""The method the defaults give (KL NMF, SigProfilerExtractor's rule)."""


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per method: rank right, mean F1 and cosine, losses against the default and against SPE.

    Columns: ``sets`` (sets it ran on), ``rank_right`` (sets where the chosen rank is the
    truth), ``rank_wrong`` (``set chosen/truth`` for the others), ``mean_f1``, ``mean_cosine``,
    ``f1_below_default`` (sets where its F1 is below ``nmf sigprofiler``'s on the same set),
    ``spe_sets``, ``rank_right_spe_sets``, ``mean_f1_spe_sets`` (on the sets where
    SigProfilerExtractor ran and gave an answer), ``spe_mean_f1`` (SigProfilerExtractor's there),
    ``f1_below_spe`` and ``meets_bar``:
    the issue's bar for a default (chosen rank the truth on every set of the run, mean F1 >=
    0.95, no set below the default's F1) on every set of the run.
    """
    f1 = rows.pivot(index="set", columns="method", values="f1")
    spe = rows[rows["method"] == "SPE"]
    spe_sets = sorted(set(spe.loc[spe["f1"].notna(), "set"]))            # where it gave an answer
    all_sets = set(rows["set"])
    out = {}
    for method, r in rows.groupby("method", sort=False):
        wrong = r[r["rank"] != r["truth"]]
        on_spe = r[r["set"].isin(spe_sets)]
        below = [s for s in r["set"] if DEFAULT in f1 and f1.loc[s, method] < f1.loc[s, DEFAULT] - 1e-12]
        below_spe = [s for s in on_spe["set"] if "SPE" in f1 and f1.loc[s, method] < f1.loc[s, "SPE"] - 1e-12]
        out[method] = {
            "sets": len(r), "rank_right": int((r["rank"] == r["truth"]).sum()),
            "rank_wrong": ", ".join(f"{s} {SPE_FAILED if pd.isna(k) else int(k)}/{t}"
                                    for s, k, t in zip(wrong["set"], wrong["rank"], wrong["truth"])),
            "mean_f1": float(r["f1"].mean()), "mean_cosine": float(r["cosine"].mean()),
            "f1_below_default": ", ".join(below),
            "spe_sets": len(on_spe), "rank_right_spe_sets": int((on_spe["rank"] == on_spe["truth"]).sum()),
            "mean_f1_spe_sets": float(on_spe["f1"].mean()) if len(on_spe) else float("nan"),
            "spe_mean_f1": float(f1.loc[spe_sets, "SPE"].mean()) if spe_sets else float("nan"),
            "f1_below_spe": ", ".join(below_spe),
            "meets_bar": bool(set(r["set"]) == all_sets and not len(wrong) and r["f1"].mean() >= 0.95 and not below),
        }
    return pd.DataFrame.from_dict(out, orient="index").rename_axis("method")


def summary_markdown(table: pd.DataFrame) -> str:
    """:func:`summary` as a markdown table."""
    cols = ["sets", "rank_right", "mean_f1", "mean_cosine", "rank_wrong", "f1_below_default", "rank_right_spe_sets",
            "mean_f1_spe_sets", "spe_mean_f1", "f1_below_spe", "meets_bar"]
    lines = ["| method | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for method, r in table[cols].iterrows():
        cells = [f"{v:.3f}" if isinstance(v, float) else ("yes" if v is True else "no" if v is False else str(v))
                 for v in r]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


SAME = ("ranks_around", "restarts", "models", "spe_replicates", "no_spe", "seed", "kl_exponent", "solver")
"""Settings a resumed run must share with the file it resumes."""


def resumed(path: Path, args) -> tuple[list, dict, list]:
    """Rows, evidence and commands of the sets a previous run (its JSON) finished, for ``args.sets``.

    Raises
    ------
    ValueError
        When the file was made with other settings (:data:`SAME`), or a set in it ran with or
        without mvnmf or SigProfilerExtractor where this run would not.
    """
    previous = json.loads(Path(path).read_text())
    old = previous["settings"]
    old = {"kl_exponent": 1.0, "solver": "mu", **old}      # runs before the options: Lee and Seung's update
    differ = {k: (old.get(k), getattr(args, k)) for k in SAME if old.get(k) != getattr(args, k)}
    if differ:
        raise ValueError(f"--resume {path}: made with other settings {differ}; expected the same {SAME}.")
    done = [name for name in dict.fromkeys(r["set"] for r in previous["rows"]) if name in args.sets]
    for name in done:
        for option in ("mvnmf_sets", "spe_sets"):
            if (name in old[option]) != (name in getattr(args, option)):
                raise ValueError(f"--resume {path}: set {name!r} is {'' if name in old[option] else 'not '}in its "
                                 f"--{option.replace('_', '-')}; expected the same choice here.")
    commands = previous.get("commands", [previous.get("command")])
    rows = [{**r, "invocation": r.get("invocation", 0)} for r in previous["rows"] if r["set"] in done]
    evidences = {k: v for k, v in previous.get("evidence", {}).items() if k.rsplit(" ", 1)[0] in done}
    return rows, evidences, commands


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--ranks-around", type=int, default=2, metavar="R",
                        help="ranks truth - R .. truth + R (at least 1; default 2)")
    parser.add_argument("--restarts", type=int, default=20)
    parser.add_argument("--models", nargs="+", default=["nmf", "mvnmf"], choices=("nmf", "mvnmf"))
    parser.add_argument("--mvnmf-sets", nargs="*", default=list(SETS), choices=SETS,
                        help="sets on which mvnmf runs, when --models names it (default: every set)")
    parser.add_argument("--spe-sets", nargs="*", default=["few", "clock"], choices=SETS)
    parser.add_argument("--spe-replicates", type=int, default=None,
                        help="SigProfilerExtractor's replicates per rank (default: --restarts)")
    parser.add_argument("--no-spe", action="store_true", help="skip SigProfilerExtractor")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kl-exponent", type=float, default=1.0,
                        help="extract's kl_exponent for KL NMF (default 1, Lee and Seung's update)")
    parser.add_argument("--solver", default="mu", choices=("mu", "cd"),
                        help="extract's solver for KL NMF (default mu, multiplicative updates)")
    parser.add_argument("--out", default=str(HERE / "results" / "bench_accuracy"), metavar="STEM")
    parser.add_argument("--resume", metavar="JSON", help="keep the sets this earlier run's JSON finished")
    parser.add_argument("--report", metavar="JSON", help="only rewrite <out>.md from a finished run's JSON")
    args = parser.parse_args(argv)
    if args.report:
        rows = pd.DataFrame(json.loads(Path(args.report).read_text())["rows"])
        Path(args.out).with_suffix(".md").write_text(report(rows))
        return
    if args.spe_replicates is None:
        args.spe_replicates = args.restarts
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows, evidences, commands = resumed(Path(args.resume), args) if args.resume else ([], {}, [])
    command = " ".join(["benchmarks/bench_accuracy.py"] + (sys.argv[1:] if argv is None else list(argv)))
    commands = commands + [command]
    done = {r["set"] for r in rows}
    for name in args.sets:
        if name in done:
            continue
        counts, truth, true_exp = load(name, args.seed)
        k = truth.shape[1]
        ranks = list(range(max(1, k - args.ranks_around), k + args.ranks_around + 1))
        for model in args.models:
            if model == "mvnmf" and name not in args.mvnmf_sets:
                continue
            found, evidences[f"{name} {model}"] = run_sigfactor(counts, truth, true_exp, ranks, model, args.restarts,
                                                                args.seed, args.kl_exponent, args.solver)
            for row in found:
                rows.append({"set": name, "truth": k, "samples": counts.shape[1], **row,
                             "invocation": len(commands) - 1})
                print(rows[-1], flush=True)
        if not args.no_spe and name in args.spe_sets:
            rows.append({"set": name, "truth": k, "samples": counts.shape[1],
                         **run_spe_set(name, counts, truth, true_exp, ranks, args.spe_replicates, args.seed, out),
                         "invocation": len(commands) - 1})
            print(rows[-1], flush=True)
        write(out, rows, evidences, args, commands)       # after every set: a run cut short keeps what it did
    write(out, rows, evidences, args, commands)
    print(markdown(pd.DataFrame(rows)))
    print(summary_markdown(summary(pd.DataFrame(rows))))


def report(rows: pd.DataFrame) -> str:
    """The markdown file: sets x methods (:func:`wide_markdown`), the summary, every row."""
    return "\n".join([wide_markdown(rows), summary_markdown(summary(rows)), markdown(rows)])


def write(out: Path, rows: list, evidences: dict, args, commands: list) -> None:
    """``<out>.md`` (the table and the summary) and ``<out>.json`` (rows, evidence, summary,
    commands, settings; row ``invocation`` indexes ``commands``)."""
    table = summary(pd.DataFrame(rows))
    out.with_suffix(".md").write_text(report(pd.DataFrame(rows)))
    out.with_suffix(".json").write_text(json.dumps(
        {"commands": commands, "settings": vars(args), "rows": rows,
         "summary": json.loads(table.to_json(orient="index")),
         "evidence": evidences}, indent=1, default=float))


if __name__ == "__main__":
    main()
