"""Plant known bugs one at a time and check that the pytest suite catches each (not part of CI).

Each mutant replaces one exact snippet of the engine with a plausible wrong version: a wrong
gradient, training on the test samples, an ignored option, a matching that minimises. The
tree of ``HEAD`` is unpacked into a scratch folder, the mutant applied there, and
``pytest tests/python -x`` run against it (``PYTHONPATH`` puts the scratch engine first).
A mutant the suite passes is a test that could not fail; the script exits 1 if any survives.
The unplanted suites run first and must pass, so that a broken set-up is not read as caught.

The R mutants drop one argument on its way from an R function to the engine (an ignored
option); each is installed into a scratch library (``R CMD INSTALL``) and that function's
testthat file is run against it.

Usage (about 15 minutes on 2 cores; caught Python mutants stop at their first failing test)::

    SIGFACTOR_DATA=../shared/data .venv/bin/python scripts/mutation_check.py [NAME ...]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MUTANTS = {
    "heldout-on-train": ("python/sigfactor/evaluate.py", "Y = counts[test_idx].transpose(0, 2, 1)",
                         "Y = counts[train_idx[:, :test_idx.shape[1]]].transpose(0, 2, 1)"),
    "train-on-test": ("python/sigfactor/evaluate.py", "V = torch.as_tensor(counts[train_idx]",
                      "V = torch.as_tensor(counts[np.concatenate([test_idx, train_idx[:, test_idx.shape[1]:]], axis=1)]"),
    "bcv-loss-ignored": ("python/sigfactor/rank_rules.py", "H_J = _solve(W_D, C, loss)",
                         'H_J = _solve(W_D, C, "frobenius")'),
    "wilcoxon-direction": ("python/sigfactor/selection.py", "np.median(current) > np.median(reference)",
                           "np.median(current) < np.median(reference)"),
    "mvnmf-gradient-halved": ("python/sigfactor/models/mvnmf.py", "grad = 2.0 * lam * (W @ Y)",
                              "grad = lam * (W @ Y)"),
    "kl-step-normaliser": ("python/sigfactor/models/nmf.py",
                           "W.sum(dim=-2).unsqueeze(-1).clamp_min_(eps), H, gamma)",
                           "W.sum(dim=-2).unsqueeze(-1).clamp_min_(eps).sqrt(), H, gamma)"),
    "kl-exponent-ignored-in-kernels": ("python/sigfactor/models/_kl_cpu.py",
                                       "U[c, t] *= _fast_exp(gamma * _fast_log(f)) if f > 0 else f",
                                       "U[c, t] *= f"),
    "kl-exponent-dropped": ("python/sigfactor/models/_restarts.py", "threads=threads, gamma=kl_exponent,",
                            "threads=threads,"),
    "cd-curvature-unsquared": ("python/sigfactor/models/_kl_cpu.py", "_fma(f2, r * inv, sums[1, t])",
                               "_fma(f2, r, sums[1, t])"),
    "cd-scratch-overlap": ("python/sigfactor/models/_kl_cpu.py",
                           "P_h[0], P_h[1], cd_h[4:], cd_h[:2], cd_h[2], cd_h[3]",
                           "P_h[0], P_h[1], cd_h[4:], cd_h[:2], cd_h[1], cd_h[3]"),
    "drive-no-requeue": ("python/sigfactor/models/_kl_cpu.py",
                         "                if not runs.done[b]:\n                    pending.add(pool.submit(share, b))",
                         "                pass"),
    "newton-finish-dropped": ("python/sigfactor/refit.py",
                              "H[idx] = _newton_finish(s_mat, y, h) if newton else h", "H[idx] = h"),
    "newton-takes-any-step": ("python/sigfactor/refit.py", "better = f_trial < f[todo[cols]]",
                              "better = f_trial == f_trial"),
    "newton-group-skipped": ("python/sigfactor/refit.py", "for a in range(0, Y.shape[1], group):",
                             "for a in range(group, Y.shape[1], group):"),
    "extrapolation-always-taken": ("python/sigfactor/models/_kl_cpu.py", "if tried < cur:", "if tried == tried:"),
    "extrapolation-prev-after-jump": ("python/sigfactor/models/_kl_cpu.py", "            Up[c, t] = u\n",
                                      "            Up[c, t] = out[c, t]\n"),
    "extrapolation-beta-fixed": ("python/sigfactor/models/_kl_cpu.py", "beta[b] = min(beta[b] * grow, most)",
                                 "beta[b] = beta[b]"),
    "extrapolation-off-on-gpu": ("python/sigfactor/models/nmf.py",
                                 'extrapolate_keys=("W", "H") if solver == "cd" else ())', "extrapolate_keys=())"),
    "extrapolation-driver-always-taken": ("python/sigfactor/models/_driver.py", "take = new < loss",
                                          "take = new == new"),
    "drive-no-cancel": ("python/sigfactor/models/_kl_cpu.py",
                        "        for job in pending:\n            job.cancel()\n        raise",
                        "        raise"),
    "cd-sweeps-overlap-allowed": ("python/sigfactor/models/_kl_cpu.py",
                                  "if np.may_share_memory(U, X) or np.may_share_memory(U, Ft):",
                                  "if False:"),
    "cd-guard-dropped": ("python/sigfactor/models/_kl_cpu.py", "new = new if new > low else low", "new = new"),
    "cd-torch-stale-product": ("python/sigfactor/models/nmf.py",
                               "P = (P + f * (new - u).unsqueeze(-2)).clamp_min_(eps)", "P = P"),
    "subnormals-kept": ("python/sigfactor/models/_kl_cpu.py",
                        "saved = _mxcsr(_FLUSH)\n    for b in range(first, last):\n        X, Xt",
                        "saved = _mxcsr(0)\n    for b in range(first, last):\n        X, Xt"),
    "flush-mode-left-on": ("python/sigfactor/models/_kl_cpu.py", "            checks += 1\n    _restore_mxcsr(saved)",
                           "            checks += 1"),
    "torch-subnormals-kept": ("python/sigfactor/models/_driver.py", "        state = flush_subnormal(state)\n",
                              "        pass\n"),
    "refit-kl-stops-early": ("python/sigfactor/refit.py", "if abs(prev - cur) <= tol * max(abs(prev), _EPS):",
                             "if True:"),
    "solver-dropped": ("python/sigfactor/models/_restarts.py", "gamma=kl_exponent,\n                     solver=solver)",
                       "gamma=kl_exponent)"),
    "resample-ignored": ("python/sigfactor/extract.py", "np.random.default_rng(r_seed) if resample else None",
                         "np.random.default_rng(r_seed)"),
    "consensus-minimises": ("python/sigfactor/consensus.py", "linear_sum_assignment(sims[r], maximize=True)",
                            "linear_sum_assignment(sims[r], maximize=False)"),
    "cutoff-capped": ("python/sigfactor/normalize.py", "return max(cutoff, float(manual_cutoff))",
                      "return min(cutoff, float(manual_cutoff))"),
    "tol-ignored": ("python/sigfactor/extract.py", '"max_iter": max_iter, "tol": tol, "check_every": check_every, "kl_exponent"',
                    '"max_iter": max_iter, "tol": 1e-6, "check_every": check_every, "kl_exponent"'),
    "aenmf-abs-chain-rule": ("python/sigfactor/models/aenmf.py", "return grad * torch.sign(w)", "return grad"),
    "aenmf-kl-gradient": ("python/sigfactor/models/aenmf.py",
                          "return (1.0 - V / V_hat.clamp_min(tiny(V.dtype))) / n_entries",
                          "return (V_hat - V) / n_entries"),
    "refit-kl-sweeps-on-copy": ("python/sigfactor/refit.py", "cd_sweeps(Ft, X, h, sweeps, _EPS)",
                                "cd_sweeps(Ft, X, h.copy(), sweeps, _EPS)"),
    "cosmic-match-minimises": ("python/sigfactor/matching.py",
                               "linear_sum_assignment(np.asarray(similarity, dtype=np.float64), maximize=True)",
                               "linear_sum_assignment(np.asarray(similarity, dtype=np.float64), maximize=False)"),
}


R_MUTANTS = {
    "r-normalization-dropped": ("R/denovo_signatures.R", "      normalization = normalization, seed", "      seed",
                                "test-denovo_signatures.R"),
    "r-refit-loss-dropped": ("R/denovo_signatures.R", "progress = progress, refit_loss = refit_loss,",
                             "progress = progress,", "test-denovo_signatures.R"),
    "r-tol-dropped": ("R/denovo_signatures.R", "max_iter = as_py_int(max_iter), tol = tol,",
                      "max_iter = as_py_int(max_iter),", "test-denovo_signatures.R"),
    "r-kl-exponent-dropped": ("R/denovo_signatures.R", "tol = tol, kl_exponent = kl_exponent,", "tol = tol,",
                              "test-denovo_signatures.R"),
    "r-solver-dropped": ("R/denovo_signatures.R", "kl_exponent = kl_exponent, solver = solver,",
                         "kl_exponent = kl_exponent,", "test-denovo_signatures.R"),
    "r-resample-dropped": ("R/denovo_signatures.R", "n_restarts = as_py_int(nrun), resample = resample,",
                           "n_restarts = as_py_int(nrun),", "test-denovo_signatures.R"),
    "r-threads-dropped": ("R/denovo_signatures.R",
                          "      threads = if (is.null(threads)) NULL else as_py_int(threads), rank_rule",
                          "      rank_rule", "test-denovo_signatures.R"),
    "r-train-fraction-dropped": ("R/compare_models.R", "train_fraction = train_fraction, ", "",
                                 "test-compare_models.R"),
    "r-seed-dropped": ("R/compare_models.R", "seed = as_py_int(seed),", "", "test-compare_models.R"),
    "r-max-iter-dropped": ("R/compare_models.R",
                           "      max_iter = if (is.null(max_iter)) NULL else as_py_int(max_iter), device = device,",
                           "      device = device,", "test-compare_models.R"),
}

R_TEST = """.libPaths(c(Sys.getenv("MUTANT_LIB"), .libPaths()))
suppressMessages({library(testthat); library(sigfactor)})
r <- as.data.frame(test_file(file.path("tests/testthat", Sys.getenv("MUTANT_TESTS")), package = "sigfactor",
                             reporter = "silent", stop_on_failure = FALSE))
failed <- r$test[r$failed > 0 | r$error]
cat(length(failed), if (length(failed)) failed[[1]] else "", sep = "\t")
"""


def unpack_head(dest: Path) -> None:
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)


@contextlib.contextmanager
def planted(tree: Path, name: str, path: str, old: str, new: str):
    """``tree/path`` with ``old`` replaced by ``new`` for the ``with`` block, then restored."""
    original = (tree / path).read_text()
    if original.count(old) != 1:
        raise SystemExit(f"mutant {name}: the snippet occurs {original.count(old)} times in {path}; update it.")
    (tree / path).write_text(original.replace(old, new))
    try:
        yield
    finally:
        (tree / path).write_text(original)


def pytest_run(tree: Path, timeout: float) -> tuple[bool, str]:
    """(passed, first failing test) of ``pytest tests/python -x`` on the engine in ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree / "python")}
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "tests/python", "-x", "-q", "-p", "no:cacheprovider"],
                              cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return True, "timed out"                        # not caught: nothing failed within the limit
    first = next((line for line in proc.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))), "")
    return proc.returncode == 0, first


def testthat_run(tree: Path, tests: str, timeout: float) -> tuple[bool, str]:
    """(passed, first failing test) of one testthat file against the R package in ``tree``,
    installed into a scratch library."""
    with tempfile.TemporaryDirectory(prefix="sigfactor-rlib-") as lib:
        subprocess.run(["R", "CMD", "INSTALL", "--no-test-load", "-l", lib, str(tree)], capture_output=True,
                       check=True, timeout=timeout)
        script = Path(lib) / "run_tests.R"
        script.write_text(R_TEST)
        env = {**os.environ, "MUTANT_LIB": lib, "MUTANT_TESTS": tests, "SIGFACTOR_REQUIRE_ENGINE": "true",
               "RETICULATE_PYTHON": os.environ.get("RETICULATE_PYTHON", sys.executable)}
        try:
            proc = subprocess.run(["Rscript", str(script)], cwd=tree, env=env, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return True, "timed out"
    count, _, first = proc.stdout.strip().partition("\t")
    if proc.returncode != 0 or not count.isdigit():
        raise SystemExit(f"the testthat run of {tests} broke: {proc.stderr.strip()[-300:]}")
    return int(count) == 0, first


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"mutants to run (default: all): {', '.join([*MUTANTS, *R_MUTANTS])}")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per mutant")
    args = parser.parse_args(argv)
    names = args.names or [*MUTANTS, *R_MUTANTS]
    unknown = [n for n in names if n not in MUTANTS and n not in R_MUTANTS]
    if unknown:
        parser.error(f"unknown mutant(s) {', '.join(map(repr, unknown))}; expected some of "
                     f"{', '.join([*MUTANTS, *R_MUTANTS])}.")
    survived = []
    with tempfile.TemporaryDirectory(prefix="sigfactor-mutants-") as scratch:
        tree = Path(scratch)
        unpack_head(tree)

        def suite(name):
            """The tests a mutant is run against: (their name, a function running them)."""
            if name in MUTANTS:
                return "tests/python", lambda: pytest_run(tree, args.timeout)
            tests = R_MUTANTS[name][3]
            return tests, lambda: testthat_run(tree, tests, args.timeout)

        # Unplanted first: a suite that already fails would report every mutant caught.
        for label, run in dict(suite(name) for name in names).items():
            passed, first = run()
            if not passed:
                raise SystemExit(f"{label} fails without any mutant ({first}); fix that first.")
        for name in names:
            path, old, new = MUTANTS[name] if name in MUTANTS else R_MUTANTS[name][:3]
            started = time.perf_counter()
            with planted(tree, name, path, old, new):
                passed, first = suite(name)[1]()
            print(f"{'SURVIVED' if passed else 'caught  '} {name:<24} {time.perf_counter() - started:5.0f} s  "
                  f"{first[:160]}", flush=True)
            if passed:
                survived.append(name)
    print(f"{len(survived)} of {len(names)} mutants survived{': ' + ', '.join(survived) if survived else ''}.")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
