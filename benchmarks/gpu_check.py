"""Device check (not a test): the one script a session lent a GPU runs.

No GPU has been lent to this project's sessions so far, so the PyTorch paths on CUDA are
untested; this script checks them against the CPU and times them, in one call::

    PYTHONUNBUFFERED=1 PYTHONPATH=python python3 benchmarks/gpu_check.py --device cuda --out "$OUT"

(the device image has torch, numba, pandas, scipy and matplotlib; anndata is not needed here).
It uses the bundled catalogues only (``../shared`` does not travel to the device machine).

1. ``agreement``: every model and loss fitted on the CPU and on the device from the same seeds
   (the same initial values by construction, :class:`sigfactor.models._base.Streams`), in
   float64: the largest difference of the signatures after 300 iterations.
2. ``repeat``: the same device fit twice, bitwise equal or not (GPU reductions need not be).
3. ``extract``: ``sigfactor.extract`` on the 21 breast genomes, ranks 1-5 x 10, on both devices:
   chosen ranks, Hungarian-matched cosines, seconds.
4. ``speed``: 100 restarts x 1,000 iterations of each model on the 100 breast genomes (float32),
   on the device and on the CPU, and a larger batch (1,000 restarts of a 96 x 2,000 catalogue
   made by resampling them) for NMF with both losses.

With ``--device cpu`` it runs CPU against CPU (how it is exercised without a GPU); ``--quick``
shrinks every size for that.
"""
from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

CASES = [("nmf", "frobenius"), ("nmf", "kl"), ("convex", "frobenius"), ("aenmf", "frobenius"), ("aenmf", "kl")]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _fit(X, rank, model, loss, device, dtype, restarts, iters, seed=0):
    from sigfactor.models import factorize

    started = time.perf_counter()
    res = factorize(X, rank, model=model, loss=loss, n_restarts=restarts, max_iter=iters, tol=0.0, seed=seed,
                    device=device, dtype=dtype)
    _sync(device)
    seconds = time.perf_counter() - started
    return res.signatures.detach().cpu().double().numpy(), res.loss.detach().cpu().double().numpy(), seconds


def agreement(X, device, quick) -> list[dict]:
    rows = []
    for model, loss in CASES:
        S_cpu, L_cpu, _ = _fit(X, 3, model, loss, "cpu", "float64", 4, 50 if quick else 300)
        S_dev, L_dev, _ = _fit(X, 3, model, loss, device, "float64", 4, 50 if quick else 300)
        rows.append({"model": model, "loss": loss, "max_signature_diff": float(np.abs(S_cpu - S_dev).max()),
                     "max_loss_rel_diff": float(np.abs(L_cpu - L_dev).max() / np.abs(L_cpu).max())})
    return rows


def repeat(X, device, quick) -> list[dict]:
    rows = []
    for model, loss in (("nmf", "kl"), ("aenmf", "frobenius")):
        a = _fit(X, 3, model, loss, device, "float32", 8, 50 if quick else 500)
        b = _fit(X, 3, model, loss, device, "float32", 8, 50 if quick else 500)
        rows.append({"model": model, "loss": loss, "bitwise_equal": bool(np.array_equal(a[0], b[0])),
                     "max_diff": float(np.abs(a[0] - b[0]).max())})
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
    return {"cpu_seconds": out["cpu"]["seconds"], "device_seconds": out[device]["seconds"],
            "cpu_rank": out["cpu"]["rank"], "device_rank": out[device]["rank"], "matched_cosines": cosines}


def speed(X, device, quick) -> list[dict]:
    restarts, iters = (10, 100) if quick else (100, 1000)
    rows = []
    for model, loss in CASES:
        for where in dict.fromkeys(("cpu", device)):
            _fit(X, 4, model, loss, where, "float32", 2, 5)          # warm-up (kernels, CUDA context)
            _, _, seconds = _fit(X, 4, model, loss, where, "float32", restarts, iters)
            rows.append({"case": f"{model} {loss}", "device": where, "restarts": restarts, "iterations": iters,
                         "seconds": seconds, "us_per_restart_iteration": 1e6 * seconds / (restarts * iters)})
    rng = np.random.default_rng(0)
    n_big, restarts_big = (200, 20) if quick else (2000, 1000)
    big = np.stack([rng.multinomial(int(X[i].sum()), X[i] / X[i].sum()) for i in rng.integers(0, len(X), n_big)])
    for loss in ("frobenius", "kl"):
        for where in dict.fromkeys(("cpu", device)):
            _, _, seconds = _fit(big.astype(float), 8, "nmf", loss, where, "float32", restarts_big, 100 if quick else 200)
            rows.append({"case": f"nmf {loss}, 96 x {n_big}, rank 8", "device": where, "restarts": restarts_big,
                         "iterations": 100 if quick else 200, "seconds": seconds})
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", default=None, help="folder for gpu_check.json")
    parser.add_argument("--quick", action="store_true", help="small sizes (to exercise the script on a CPU)")
    parser.add_argument("--parts", default="agreement,repeat,extract,speed")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")

    import torch

    import sigfactor
    from sigfactor._meta import versions

    breast21 = sigfactor.datasets.breast21()
    X21 = np.asarray(breast21.counts, dtype=np.float64)
    X100 = np.asarray(sigfactor.datasets.breast100().counts, dtype=np.float64)
    report = {"device": args.device, "versions": versions(),
              "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    parts = {"agreement": lambda: agreement(X21, args.device, args.quick),
             "repeat": lambda: repeat(X21, args.device, args.quick),
             "extract": lambda: extraction(breast21, args.device, args.quick),
             "speed": lambda: speed(X100, args.device, args.quick)}
    for name in args.parts.split(","):
        started = time.perf_counter()
        try:
            report[name] = parts[name]()
        except Exception as err:                            # noqa: BLE001 - report and go on
            report[name] = {"error": f"{type(err).__name__}: {err}"}
        print(json.dumps({name: report[name], "seconds": round(time.perf_counter() - started, 1)}), flush=True)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
