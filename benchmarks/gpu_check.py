"""Device check (not a test): the one script a session lent a GPU runs, in one call.

::

    PYTHONUNBUFFERED=1 PYTHONPATH=python SIGFACTOR_DATA=.devdata \\
        python3 benchmarks/gpu_check.py --device cuda --out "$OUT" --budget 330

The device image has torch, numba, pandas, scipy and scikit-learn; nothing else is needed
(anndata, pooch and Dask are not imported on this path). ``../shared`` does not travel to the
device machine: the PCAWG part reads ``WGS_PCAWG.96.csv`` from a carried mirror folder
(``SIGFACTOR_DATA``, e.g. ``.devdata/catalogues/``, ignored by git; the sha256 is checked as
usual) and is skipped when it is absent. Parts, in order (each reports an error and the
script goes on):

1. ``agreement``: every model and loss on the CPU and on the device from the same seeds (the
   initial values are drawn on the CPU, :class:`sigfactor.models._base.Streams`), float64, 300
   iterations (and KL NMF with ``kl_exponent=1.5``: the kernels' power against PyTorch's, and
   with ``solver="cd"``: the kernels' coordinate descent against :func:`kl_cd_step`): the
   largest signature and relative loss differences.
2. ``repeat``: the same device fit twice, bitwise equal or not (GPU reductions need not be).
3. ``batches``: restarts fitted in memory-sized batches (``fit(memory=)``) against one batch,
   and per-restart early stopping inside a batch: each restart of a batch of 8 against the
   same restart fitted alone (its iterations, its signatures).
4. ``memory``: peak device memory (``torch.cuda.max_memory_allocated``) of 100 restarts of every
   model on PCAWG-sized (96 x 2,780, rank 25) and TCGA-sized (96 x 9,493, rank 15)
   per-restart catalogues (extraction's resampled layout), 20 iterations, against the
   estimate that sizes the batches (:func:`sigfactor.models._api.restart_bytes`), and the
   batch sizes an 80 GB card would get.
5. ``extract``: ``sigfactor.extract`` on the 21 breast genomes, ranks 1-5 x 10, on both devices:
   chosen ranks, Hungarian-matched cosines, seconds.
6. ``pcawg``: ``sigfactor.extract`` of PCAWG (2,780 genomes) on the device, one rank at a time
   (ranks 1-25 x 100 restarts, the defaults otherwise) until ``--budget`` is spent: seconds,
   iterations and stability per rank.
7. ``tcga``: ``sigfactor.extract`` of TCGA (9,493 exomes; ``WES_TCGA.96.csv`` in the same
   mirror) on the device, ranks 1-15 x 20 restarts in one call (skipped once ``--budget`` is
   spent): total seconds, chosen rank, per-rank seconds and iterations.
8. ``speed``: 100 restarts x 1,000 iterations of each model on the 100 breast genomes
   (float32) on the device and the CPU (every CPU thread the machine has).

With ``--device cpu --quick`` it runs CPU against CPU at small sizes (how it is exercised
without a GPU).
"""
from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

CASES = [("nmf", "frobenius"), ("nmf", "kl"), ("convex", "frobenius"), ("aenmf", "frobenius"), ("aenmf", "kl"),
         ("mvnmf", "kl")]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _fit(X, rank, model, loss, device, dtype, restarts, iters, seed=0, **kw):
    from sigfactor.models import factorize

    started = time.perf_counter()
    res = factorize(X, rank, model=model, loss=loss, n_restarts=restarts, max_iter=iters, tol=kw.pop("tol", 0.0),
                    seed=seed, device=device, dtype=dtype, **kw)
    _sync(device)
    return res, time.perf_counter() - started


def _np(t):
    return t.detach().cpu().double().numpy()


def agreement(X, device, quick) -> list[dict]:
    rows = []
    # The over-relaxed KL update too (the CPU kernels' power, fast log and exp, against PyTorch's),
    # and coordinate descent (the kernels' tiled sweep against kl_cd_step).
    extra = [("nmf", "kl", {"kl_exponent": 1.5}), ("nmf", "kl", {"solver": "cd"})]
    for model, loss, kw in [(m, l, {}) for m, l in CASES] + extra:
        a, _ = _fit(X, 3, model, loss, "cpu", "float64", 4, 50 if quick else 300, **kw)
        b, _ = _fit(X, 3, model, loss, device, "float64", 4, 50 if quick else 300, **kw)
        L_a, L_b = _np(a.loss), _np(b.loss)
        rows.append({"model": model, "loss": loss, **kw,
                     "max_signature_diff": float(np.abs(_np(a.signatures) - _np(b.signatures)).max()),
                     "max_loss_rel_diff": float(np.abs(L_a - L_b).max() / np.abs(L_a).max())})
    return rows


def repeat(X, device, quick) -> list[dict]:
    rows = []
    for model, loss in (("nmf", "kl"), ("aenmf", "frobenius"), ("mvnmf", "kl")):
        a, _ = _fit(X, 3, model, loss, device, "float32", 8, 50 if quick else 500)
        b, _ = _fit(X, 3, model, loss, device, "float32", 8, 50 if quick else 500)
        rows.append({"model": model, "loss": loss, "bitwise_equal": bool(np.array_equal(_np(a.signatures),
                                                                                        _np(b.signatures))),
                     "max_diff": float(np.abs(_np(a.signatures) - _np(b.signatures)).max())})
    return rows


def batches(X, device, quick) -> dict:
    from sigfactor.models._api import restart_bytes

    out = {"split": [], "early_stopping": []}
    for model, loss in CASES:
        one, _ = _fit(X, 3, model, loss, device, "float64", 6, 100 if quick else 400)
        per = restart_bytes((1,) + X.T.shape, 3, 8)
        three, _ = _fit(X, 3, model, loss, device, "float64", 6, 100 if quick else 400, memory=2 * per + 1)
        out["split"].append({"model": model, "loss": loss, "batches": three.settings["batches"],
                             "max_signature_diff": float(np.abs(_np(one.signatures) - _np(three.signatures)).max()),
                             "same_iterations": bool(np.array_equal(_np(one.n_iter), _np(three.n_iter)))})
    for model, loss in (("nmf", "kl"), ("nmf", "frobenius"), ("mvnmf", "kl")):
        batch, _ = _fit(X, 4, model, loss, device, "float64", 8, 2000 if quick else 5000, seed=3, tol=1e-6)
        diffs, same = [], []
        for r, s in enumerate(batch.seeds):
            alone, _ = _fit(X, 4, model, loss, device, "float64", 1, 2000 if quick else 5000, seed=[int(s)], tol=1e-6)
            diffs.append(float(np.abs(_np(alone.signatures[0]) - _np(batch.signatures[r])).max()))
            same.append(int(alone.n_iter[0]) == int(batch.n_iter[r]))
        out["early_stopping"].append({"model": model, "loss": loss, "iterations": _np(batch.n_iter).astype(int).tolist(),
                                      "converged": int(batch.converged.sum()), "alone_same_iterations": sum(same),
                                      "alone_max_signature_diff": max(diffs)})
    return out


def memory(device, quick) -> list[dict]:
    import torch

    from sigfactor.models import fit
    from sigfactor.models._api import restart_batch, restart_bytes

    if not device.startswith("cuda"):
        return [{"skipped": "peak memory is read on a GPU only"}]
    rng = np.random.default_rng(0)
    rows = []
    shapes = [("PCAWG-sized", 2780, 25, CASES), ("TCGA-sized", 9493, 15, [("nmf", "kl"), ("aenmf", "frobenius")])]
    for label, n, rank, cases in shapes:
        restarts = 10 if quick else 100
        V = torch.from_numpy(rng.poisson(20.0, size=(restarts, 96, n)).astype(np.float32)).to(device)
        for model, loss in cases:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            started = time.perf_counter()
            res = fit(V, rank, model=model, loss=loss, n_restarts=restarts, max_iter=20, tol=0.0, seed=0)
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() - base
            per = restart_bytes(V.shape, rank, 4)
            rows.append({"shape": f"{label} {restarts} x 96 x {n}, rank {rank}", "model": model, "loss": loss,
                         "batches": res.settings["batches"], "peak_GB": round(peak / 1e9, 3),
                         "estimate_GB": round((per * restarts) / 1e9, 3),
                         "peak_per_restart_over_estimate": round(peak / restarts / per, 3),
                         "restarts_per_batch_80GB_card": restart_batch(10**6, per, 80 * 10**9 // 2),
                         "seconds_20_iterations": round(time.perf_counter() - started, 3)})
            del res
        del V
        torch.cuda.empty_cache()
    return rows


def extraction(cat, device, quick) -> dict:
    import sigfactor
    from sigfactor.matching import cosine_matrix, hungarian

    out = {}
    for where in ("cpu", device):
        started = time.perf_counter()
        res = sigfactor.extract(cat, ranks=range(1, 4 if quick else 6), n_restarts=4 if quick else 10,
                                device=where, progress=False, max_iter=300 if quick else 10000)
        out[where] = {"seconds": time.perf_counter() - started, "rank": res.rank, "signatures": res.signatures}
    a, b = out["cpu"]["signatures"], out[device]["signatures"]
    cosines = []
    if a.shape == b.shape:
        sim = cosine_matrix(a.to_numpy(), b.to_numpy())
        cosines = [round(float(sim[r, c]), 4) for r, c in zip(*hungarian(sim))]
    return {"cpu_seconds": round(out["cpu"]["seconds"], 2), "device_seconds": round(out[device]["seconds"], 2),
            "cpu_rank": out["cpu"]["rank"], "device_rank": out[device]["rank"], "matched_cosines": cosines}


def pcawg(device, quick, deadline) -> dict:
    import sigfactor

    try:
        cat = sigfactor.datasets.pcawg_wgs()
    except Exception as err:                                # noqa: BLE001 - not carried: skip
        return {"skipped": f"{type(err).__name__}: {err}"}
    ranks = range(1, 4) if quick else range(1, 26)
    restarts = 4 if quick else 100
    rows, started = [], time.perf_counter()
    for k in ranks:
        if time.perf_counter() > deadline:
            break
        t = time.perf_counter()
        res = sigfactor.extract(cat, ranks=[k], n_restarts=restarts, device=device, progress=False,
                                max_iter=300 if quick else 10000)
        sol = res.solutions[k]
        rows.append({"rank": k, "seconds": round(time.perf_counter() - t, 2), "fit_seconds": round(sol.seconds, 2),
                     "mean_iterations": float(np.mean(sol.restart_iterations)), "converged": float(sol.converged),
                     "min_stability": round(float(sol.stability.min()), 3)})
        print(json.dumps({"pcawg_rank": rows[-1]}), flush=True)
    return {"restarts": restarts, "ranks_done": len(rows), "ranks_asked": len(ranks),
            "seconds": round(time.perf_counter() - started, 1), "per_rank": rows}


def tcga(device, quick) -> dict:
    import sigfactor

    try:
        cat = sigfactor.datasets.tcga_wes()
    except Exception as err:                                # noqa: BLE001 - not carried: skip
        return {"skipped": f"{type(err).__name__}: {err}"}
    started = time.perf_counter()
    res = sigfactor.extract(cat, ranks=range(1, 4 if quick else 16), n_restarts=4 if quick else 20, device=device,
                            progress=False, max_iter=300 if quick else 10000)
    rows = [{"rank": k, "fit_seconds": round(s.seconds, 2), "mean_iterations": float(np.mean(s.restart_iterations)),
             "min_stability": round(float(s.stability.min()), 3)} for k, s in res.solutions.items()]
    return {"seconds": round(time.perf_counter() - started, 1), "chosen_rank": res.rank, "per_rank": rows}


def speed(X, device, quick) -> list[dict]:
    restarts, iters = (10, 100) if quick else (100, 1000)
    rows = []
    for model, loss in CASES:
        for where in dict.fromkeys(("cpu", device)):
            _fit(X, 4, model, loss, where, "float32", 2, 5)          # warm-up (kernels, CUDA context)
            _, seconds = _fit(X, 4, model, loss, where, "float32", restarts, iters)
            rows.append({"case": f"{model} {loss}", "device": where, "restarts": restarts, "iterations": iters,
                         "seconds": round(seconds, 3),
                         "us_per_restart_iteration": round(1e6 * seconds / (restarts * iters), 2)})
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", default=None, help="folder for gpu_check.json")
    parser.add_argument("--quick", action="store_true", help="small sizes (to exercise the script on a CPU)")
    parser.add_argument("--budget", type=float, default=330.0,
                        help="seconds after which the pcawg part stops starting ranks and tcga and speed are skipped")
    parser.add_argument("--parts", default="agreement,repeat,batches,memory,extract,pcawg,tcga,speed")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    began = time.perf_counter()
    deadline = began + args.budget

    import torch

    import sigfactor
    from sigfactor._meta import versions

    breast21 = sigfactor.datasets.breast21()
    X21 = np.asarray(breast21.counts, dtype=np.float64)
    X100 = np.asarray(sigfactor.datasets.breast100().counts, dtype=np.float64)
    report = {"device": args.device, "versions": versions(),
              "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
              "gpu_free_GB": round(torch.cuda.mem_get_info()[0] / 1e9, 1) if torch.cuda.is_available() else None}
    print(json.dumps({k: report[k] for k in ("gpu", "gpu_free_GB", "versions")}), flush=True)
    parts = {"agreement": lambda: agreement(X21, args.device, args.quick),
             "repeat": lambda: repeat(X21, args.device, args.quick),
             "batches": lambda: batches(X21, args.device, args.quick),
             "memory": lambda: memory(args.device, args.quick),
             "extract": lambda: extraction(breast21, args.device, args.quick),
             "pcawg": lambda: pcawg(args.device, args.quick, deadline),
             "tcga": lambda: tcga(args.device, args.quick),
             "speed": lambda: speed(X100, args.device, args.quick)}
    for name in args.parts.split(","):
        if name in ("tcga", "speed") and time.perf_counter() > deadline:
            report[name] = {"skipped": "budget spent"}
            continue
        started = time.perf_counter()
        try:
            report[name] = parts[name]()
        except Exception as err:                            # noqa: BLE001 - report and go on
            report[name] = {"error": f"{type(err).__name__}: {err}"}
        report.setdefault("seconds", {})[name] = round(time.perf_counter() - started, 1)
        print(json.dumps({name: report[name], "seconds": report["seconds"][name]}), flush=True)
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            (Path(args.out) / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"total {time.perf_counter() - began:.1f} s", flush=True)


if __name__ == "__main__":
    main()
