"""The forked writer process: results, errors, and no process left behind."""
from __future__ import annotations

import os

import pytest

from sigfactor.io.worker import ForkedWorker


def _pid_and_sum(*values):
    return os.getpid(), sum(values)


def _fail(message):
    raise ValueError(message)


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return True


def test_the_job_runs_in_another_process_and_returns_its_value():
    with ForkedWorker(("json",)) as worker:
        assert worker.submit(_pid_and_sum, 1, 2, 3)
        pid, total = worker.result()
    assert pid != os.getpid() and total == 6


def test_the_job_error_is_raised_in_the_caller():
    with ForkedWorker() as worker:
        assert worker.submit(_fail, "bad value")
        with pytest.raises(ValueError, match="bad value"):
            worker.result()


def test_an_unpicklable_job_is_refused_and_the_child_ends():
    worker = ForkedWorker()
    pid = worker.pid
    assert not worker.submit(lambda: 1)
    worker.close()
    assert worker.pid is None and not _alive(pid)


def test_close_ends_a_busy_child():
    import time

    worker = ForkedWorker()
    pid = worker.pid
    assert worker.submit(time.sleep, 60)
    started = time.perf_counter()
    worker.close()
    assert time.perf_counter() - started < 10 and not _alive(pid)


def test_a_failed_preload_is_left_to_the_job():
    with ForkedWorker(("no_such_module_here",)) as worker:
        assert worker.submit(_pid_and_sum, 2)
        assert worker.result()[1] == 2


_STATE = {}


def _remember():
    _STATE["warm"] = os.getpid()


def _warmed():
    return _STATE.get("warm"), os.getpid()


def test_preload_functions_run_in_the_child_before_the_job():
    with ForkedWorker((f"{__name__}:_remember",)) as worker:
        assert worker.submit(_warmed)
        warmed_in, ran_in = worker.result()
    assert warmed_in == ran_in != os.getpid() and "warm" not in _STATE
