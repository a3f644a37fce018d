"""Extraction's work on Dask (sigfactor.parallel): a real LocalCluster of two worker processes on 127.0.0.1.

The reference in every comparison is the engine fitting all of a rank's restarts as one batch in
this process (:func:`sigfactor.models._restarts.fit_restarts`, the path extraction took before
it had blocks and executors), so a wrong seed, slice or order of any block shows as a difference.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from conftest import sweep_by_hand
from sigfactor import datasets
from sigfactor.extract import extract, rank_seed
from sigfactor.models._restarts import fit_restarts
from sigfactor.parallel import block_length, blocks, check_scheduler, fit_block

distributed = pytest.importorskip("distributed")

EXTRACT = sys.modules["sigfactor.extract"]
FAST = dict(ranks=[2, 3], n_restarts=6, max_iter=300, progress=False, seed=4)


@pytest.fixture(scope="module")
def client():
    """Two single-threaded worker processes on 127.0.0.1, as ``scheduler="local"`` starts them."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def breast21():
    return datasets.breast21()


def _one_batch(result, catalogue_spy):
    """Each rank's restarts fitted as one batch in this process from the catalogues ``extract`` fitted."""
    V, engine = catalogue_spy["V"], catalogue_spy["engine"]
    seed, n = result.settings["seeds"]["seed"], result.settings["arguments"]["n_restarts"]
    return {k: fit_restarts(V, k, n_restarts=n, seed=rank_seed(seed, k), **{**engine, "threads": 1})
            for k in result.solutions}


@pytest.fixture
def spy(monkeypatch):
    """Records the catalogues and engine settings ``extract`` hands to its fits."""
    seen = {}
    original = EXTRACT._fit_ranks

    def recording(V, *args, **kwargs):
        seen.update(V=V.copy(), engine=dict(kwargs["engine"]))
        return original(V, *args, **kwargs)

    monkeypatch.setattr(EXTRACT, "_fit_ranks", recording)
    return seen


def _same_restarts(result, reference) -> bool:
    return all(np.array_equal(result.solutions[k].restart_loss, ref.loss)
               and np.array_equal(result.solutions[k].restart_iterations, ref.n_iter) for k, ref in reference.items())


def test_blocks_cover_every_restart_once_in_order():
    # Catches a block that drops or repeats the last, shorter block.
    assert blocks(10, 3) == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert blocks(4, 10) == [(0, 4)]
    assert block_length(100, None) == 100          # in this process: one block per rank
    assert block_length(100, 8) == 13              # Dask: a share per worker thread
    assert block_length(5, 8, block_size=50) == 5


@pytest.mark.parametrize("block_size", [None, 1, 4])
def test_blocks_in_process_equal_one_batch_bitwise(breast21, spy, block_size):
    # Catches blocks seeded from the start of the seed list, or fitted on the wrong slice of V.
    result = extract(breast21, block_size=block_size, **FAST)
    assert _same_restarts(result, _one_batch(result, spy))


def test_block_seeds_are_checked():
    V = np.ones((1, 3, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="seeds has 1 entries; expected stop - start = 2"):
        fit_block(V, 1, 0, 2, [5], {})


@pytest.mark.parametrize("block_size", [None, 1, 4])
def test_dask_equals_one_batch_bitwise(breast21, client, spy, block_size):
    # KL NMF on the CPU: identical bits whatever the executor and the split into blocks. Catches
    # blocks gathered in completion order instead of restart order, and wrong per-block seeds.
    result = extract(breast21, scheduler=client, block_size=block_size, **FAST)
    assert _same_restarts(result, _one_batch(result, spy))
    in_process = extract(breast21, **FAST)
    for k, sol in in_process.solutions.items():
        assert sol.signatures.equals(result.solutions[k].signatures)
        assert sol.exposures.equals(result.solutions[k].exposures)
    assert result.settings["threads"] == 1                     # one thread per task on the workers
    assert result.settings["arguments"]["scheduler"].startswith("dask client of tcp://127.0.0.1:")


def test_scheduler_address_string(breast21, client):
    # The address form connects its own client (and closes it, leaving the cluster running).
    address = client.scheduler.address
    result = extract(breast21, scheduler=address, **FAST)
    assert result.settings["arguments"]["scheduler"] == address
    assert result.signatures.equals(extract(breast21, **FAST).signatures)
    assert len(client.nthreads()) == 2


def _executing(dask_worker):
    return [ts.key for ts in dask_worker.state.executing]


def _scheduler_view(dask_scheduler):
    """Each fit_block task's dependencies, and where each dependency is held."""
    tasks = {k: ts for k, ts in dask_scheduler.tasks.items() if str(k).startswith("fit_block")}
    deps = {d.key: sorted(w.address for w in d.who_has) for ts in tasks.values() for d in ts.dependencies}
    return {"tasks": {k: sorted(d.key for d in ts.dependencies) for k, ts in tasks.items()}, "held": deps,
            "workers": sorted(dask_scheduler.workers)}


def _processing_count(story, key) -> int:
    return sum(1 for s in story if s[0] == "scheduler" and s[1] == key and s[3] == "processing")


def test_killed_worker_is_retried_and_result_unchanged(breast21, client, spy):
    # Blocks of 4 restarts x 20,000 iterations (about 2 s each) so a worker is killed mid-task.
    # Catches an executor that loses or duplicates a block when a worker dies, and catalogues
    # sent with every task instead of once to every worker.
    kw = dict(ranks=[3, 4], n_restarts=8, block_size=4, max_iter=20000, tol=0.0, progress=False, seed=3)
    pids = client.run(os.getpid)
    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(extract, breast21, scheduler=client, **kw)
        deadline = time.monotonic() + 60
        while True:
            running = {w: keys for w, keys in client.run(_executing).items() if keys}
            if running or job.done() or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert running, "no task was seen running"
        view = client.run_on_scheduler(_scheduler_view)
        worker, keys = next(iter(running.items()))
        os.kill(pids[worker], signal.SIGKILL)
        result = job.result(timeout=120)
    shared = {tuple(d) for d in view["tasks"].values()}
    assert len(view["tasks"]) == 4 and len(shared) == 1 and len(next(iter(shared))) == 1
    assert view["held"][next(iter(shared))[0]] == view["workers"]       # broadcast to every worker
    assert _processing_count(client.story(keys[0]), keys[0]) >= 2         # run again after the kill
    assert _same_restarts(result, _one_batch(result, spy))
    assert worker not in client.run(os.getpid)                            # the nanny started a new one


def test_pytorch_model_same_blocks_bitwise_other_blocks_to_rounding(breast21, client, spy):
    # Frobenius NMF runs in PyTorch: the same blocks give the same bits on any executor; another
    # split changes the batch sizes of PyTorch's matrix products, hence rounding only.
    kw = dict(FAST, loss="frobenius", max_iter=200)
    on_dask = extract(breast21, scheduler=client, block_size=3, **kw)
    here = extract(breast21, block_size=3, **kw)
    one_batch = _one_batch(here, spy)
    for k, sol in here.solutions.items():
        assert np.array_equal(sol.restart_loss, on_dask.solutions[k].restart_loss)
        assert sol.signatures.equals(on_dask.solutions[k].signatures)
        np.testing.assert_allclose(sol.restart_loss, one_batch[k].loss, rtol=1e-4)


def test_scheduler_local_starts_and_closes_its_cluster(breast21):
    # Catches a LocalCluster left running (worker processes outliving the call).
    import psutil

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    result = extract(breast21, scheduler="local", **FAST)
    assert result.settings["arguments"]["scheduler"] == "local"
    assert result.signatures.equals(extract(breast21, **FAST).signatures)
    deadline = time.monotonic() + 10
    while {p.pid for p in psutil.Process().children(recursive=True)} - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not {p.pid for p in psutil.Process().children(recursive=True)} - before


def _foreign_libpython(tmp_path):
    """A folder holding a file named like this interpreter's shared libpython (not a library:
    a process that loads it fails to start, as one loading the system's other copy fails to
    import ssl)."""
    import sysconfig

    soname = sysconfig.get_config_var("INSTSONAME")
    if not sysconfig.get_config_var("Py_ENABLE_SHARED") or not soname:
        pytest.skip("this Python has no shared libpython")
    folder = tmp_path / "lib"
    folder.mkdir()
    (folder / soname).write_bytes(b"not a library")
    return folder


def test_worker_library_path_drops_other_libpythons(tmp_path):
    """Catches the library path passed to workers unchanged, or emptied (other folders kept)."""
    import sysconfig

    from sigfactor.parallel import worker_library_path

    foreign = _foreign_libpython(tmp_path)
    other = tmp_path / "plain"
    other.mkdir()
    own = sysconfig.get_config_var("LIBDIR")
    value = os.pathsep.join([str(foreign), str(other), own])
    assert worker_library_path(value) == os.pathsep.join([str(other), own])
    assert worker_library_path(None) is None


def test_local_cluster_starts_under_a_library_path_with_another_libpython(breast21, tmp_path, monkeypatch):
    """Catches workers inheriting R's LD_LIBRARY_PATH (reticulate: R's folders include the
    system's libpython, and a LocalCluster started from R never got a worker): with such a
    folder first, scheduler='local' still gives the in-process result, and the variable is
    restored afterwards."""
    foreign = str(_foreign_libpython(tmp_path))
    monkeypatch.setenv("LD_LIBRARY_PATH", foreign)
    result = extract(breast21, scheduler="local", **FAST)
    assert os.environ["LD_LIBRARY_PATH"] == foreign
    monkeypatch.delenv("LD_LIBRARY_PATH")
    assert result.signatures.equals(extract(breast21, **FAST).signatures)


def test_command_line_passes_the_scheduler(breast21, client, tmp_path):
    from sigfactor.cli import main

    address = client.scheduler.address
    out = tmp_path / "out"
    assert main(["example", "--out", str(out), "--ranks", "2", "--restarts", "4", "--max-iter", "100",
                 "--quiet", "--no-plots", "--scheduler", address]) == 0
    assert json.loads((out / "run.json").read_text())["arguments"]["scheduler"] == address


@pytest.mark.parametrize("value, error, message", [
    (3, ValueError, "scheduler=3 is not valid; expected None"),
    ("somewhere", ValueError, "scheduler='somewhere' is not valid"),
    ("missing.json", FileNotFoundError, "no such scheduler file"),
])
def test_bad_scheduler(value, error, message):
    with pytest.raises(error, match=message):
        check_scheduler(value)


def test_bad_block_size(breast21):
    with pytest.raises(ValueError, match="block_size=0 is out of range"):
        extract(breast21, block_size=0, **FAST)


# ---- compare_models ------------------------------------------------------------------------------

COMPARE = dict(rank=2, models=("nmf", "convex"), n_splits=4, settings="fast", max_iter=100, progress=False, seed=1)


def _train_sets(catalogue, n_splits=4):
    """The training tensors and seeds compare_models fits (its own split functions)."""
    import torch

    from sigfactor.evaluate import _seeds, _split_sizes, make_splits

    counts = np.asarray(catalogue.counts, dtype=np.float64)
    n_train, _ = _split_sizes(catalogue.n_samples, 0.8, 2)
    split_seq, seeds = _seeds(1, n_splits)
    train, _ = make_splits(catalogue.n_samples, n_splits, n_train, split_seq)
    return torch.as_tensor(counts[train].transpose(0, 2, 1).copy(), dtype=torch.float32), seeds


def test_split_blocks_join_in_order(breast21, client):
    # Blocks of one split each, joined, equal each split fitted alone through the engine's fit
    # (bitwise: the same batch size); blocks of two equal on Dask and here. Catches joined blocks
    # out of order, seeds not following their split, traces or seeds dropped in the join.
    import torch

    from sigfactor.evaluate import PROTOCOLS
    from sigfactor.models import fit
    from sigfactor.parallel import fit_split_models

    V, seeds = _train_sets(breast21)
    options = {"nmf": dict(PROTOCOLS["fast"]["nmf"], max_iter=60)}
    singles = fit_split_models(V, 2, options, seeds, block_size=1)["nmf"]
    for i, s in enumerate(seeds):
        alone = fit(V[i:i + 1], 2, model="nmf", n_restarts=1, seed=[s], **options["nmf"])
        assert torch.equal(singles.signatures[i], alone.signatures[0])
        assert torch.equal(singles.loss_trace[i, :alone.loss_trace.shape[1]], alone.loss_trace[0])
    assert list(singles.seeds) == seeds and singles.settings["restart_seeds"] == seeds
    assert singles.n_restarts == len(seeds) == singles.factors["W"].shape[0]
    here = fit_split_models(V, 2, options, seeds, block_size=2)["nmf"]
    there = fit_split_models(V, 2, options, seeds, block_size=2, scheduler=client)["nmf"]
    assert torch.equal(here.signatures, there.signatures) and torch.equal(here.n_iter, there.n_iter)


def test_compare_models_on_dask(breast21, client):
    # Models x blocks of splits on two workers agree with one batch per model here (PyTorch:
    # another split into blocks changes rounding only). Catches splits assigned to the wrong run.
    from sigfactor import compare_models

    here = compare_models(breast21, **COMPARE)
    there = compare_models(breast21, scheduler=client, **COMPARE)
    assert there.settings["scheduler"].startswith("dask client of")
    pd_cols = ["split", "model", "seed", "n_iter"]
    assert here.runs[pd_cols].equals(there.runs[pd_cols])
    np.testing.assert_allclose(there.runs["train_loss"], here.runs["train_loss"], rtol=1e-4)
    np.testing.assert_allclose(there.signatures.to_numpy(), here.signatures.to_numpy(), atol=1e-5)


# ---- early stop of the rank sweep -----------------------------------------------------------------

SWEEP = dict(ranks="1-8", n_restarts=10, max_iter=1000, progress=False, seed=2)


@pytest.mark.parametrize("on_dask", [False, True])
def test_stop_after_unstable(breast21, client, on_dask):
    # Catches an off-by-one in the count, counting unstable ranks before the first stable one,
    # a stop that is not recorded, and (on Dask) cancelled ranks leaking into the result.
    full = extract(breast21, **SWEEP)
    expected, _ = sweep_by_hand(full.stats, 2)
    assert expected[-1] < 8                                   # the data has an unstable tail
    stopped = extract(breast21, stop_after_unstable=2, scheduler=client if on_dask else None, **SWEEP)
    assert list(stopped.stats.index) == expected == sorted(stopped.solutions)
    cols = ["avg_stability", "min_stability", "stable"]
    assert stopped.stats[cols].equals(full.stats.loc[expected, cols])
    assert list(stopped.stats["sweep_stopped"]) == [False] * (len(expected) - 1) + [True]
    assert stopped.stats["unstable_in_a_row"].iloc[-1] == 2
    assert stopped.settings["sweep"]["not_fitted"] == list(range(expected[-1] + 1, 9))
    assert f"stopped after rank {expected[-1]}" in stopped.selection_reason
    assert not full.stats["sweep_stopped"].any() and full.settings["sweep"]["reason"] is None


def test_stop_after_unstable_is_checked(breast21):
    with pytest.raises(ValueError, match="stop_after_unstable=0 is out of range"):
        extract(breast21, stop_after_unstable=0, **FAST)


# ---- memory ----------------------------------------------------------------------------------------

def test_catalogues_made_in_blocks_equal_all_at_once(breast21, monkeypatch):
    # The resamples are drawn a few at a time into the result; catches a generator restarted per
    # block, blocks written to the wrong place, or the floor and normalisation applied per block
    # differently, against the catalogues made all at once.
    from sigfactor.extract import RESAMPLE_FLOOR, fitted_catalogues, resample_counts
    from sigfactor.normalize import gmm_cutoff, normalize

    counts = np.asarray(breast21.counts, dtype=np.float64)
    cutoff = gmm_cutoff(counts.sum(axis=1), 9600, seed=1)
    whole = normalize(np.maximum(resample_counts(counts, 7, np.random.default_rng(5)), RESAMPLE_FLOOR),
                      "gmm", cutoff)[0].astype(np.float32)
    monkeypatch.setattr(EXTRACT, "RESAMPLE_BLOCK_BYTES", 2 * 32 * counts.size)         # two per block
    made = fitted_catalogues(counts, 7, np.random.default_rng(5), normalization="gmm", cutoff=cutoff,
                             dtype="float32")
    assert made.dtype == np.float32 and np.array_equal(made, whole)


def _fit_peaks(monkeypatch):
    """(start, stop) and the peak traced memory of every fit_block call extract makes."""
    import tracemalloc

    seen = []
    original = EXTRACT.fit_block

    def measured(*args, **kwargs):
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        out = original(*args, **kwargs)
        seen.append((args[2], args[3], tracemalloc.get_traced_memory()[1] - before))
        return out

    monkeypatch.setattr(EXTRACT, "fit_block", measured)
    return seen


def test_fits_are_blocked_by_the_memory_available(monkeypatch, spy):
    # With memory for three restarts' fits, blocks hold three restarts and the fits' peak memory
    # is that of a block, not of all 24 restarts; the result is unchanged. Catches a block size
    # that ignores the memory available, and an estimate (fit_bytes) below what a fit takes.
    import tracemalloc

    from sigfactor.extract import fit_bytes
    from sigfactor.parallel import MEMORY_SHARE

    import pandas as pd

    from sigfactor.channels import SBS96

    counts = pd.DataFrame(np.random.default_rng(0).poisson(20.0, size=(96, 2000)), index=list(SBS96))
    kw = dict(ranks=[2], n_restarts=24, max_iter=20, progress=False, seed=1, normalization="none")
    extract(counts, **dict(kw, n_restarts=1))          # kernels loaded before memory is traced
    tracemalloc.start()
    try:
        calls = _fit_peaks(monkeypatch)
        full = extract(counts, **kw)
        full_calls = list(calls)
        per_restart = fit_bytes(96, 2000, 2, "float32")
        monkeypatch.setattr(sys.modules["sigfactor.parallel"], "available_memory",
                            lambda: int(3.5 * per_restart / MEMORY_SHARE))
        blocked_calls = _fit_peaks(monkeypatch)
        blocked = extract(counts, **kw)
    finally:
        tracemalloc.stop()
    assert [c[:2] for c in full_calls] == [(0, 24)]
    assert [c[:2] for c in blocked_calls] == [(a, min(a + 3, 24)) for a in range(0, 24, 3)]
    assert full_calls[0][2] <= 24 * per_restart                          # the estimate is not too low
    assert max(c[2] for c in blocked_calls) * 4 < full_calls[0][2]       # memory of a block, not of all
    assert np.array_equal(full.solutions[2].restart_loss, blocked.solutions[2].restart_loss)


def test_dask_memory_is_the_least_limit_per_thread(client):
    # Catches the memory of one worker taken for the cluster's, or limits not divided by threads.
    from sigfactor.parallel import OnDask

    limits = {w["memory_limit"] / w["nthreads"] for w in client.scheduler_info()["workers"].values()}
    assert OnDask(client).memory == int(min(limits)) and OnDask(client).threads == 2
