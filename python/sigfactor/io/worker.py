"""A forked helper process that runs one function while the main process goes on.

The command line starts one before it reads the catalogue: the helper imports matplotlib and
anndata (about 0.6 s) while the main process fits, then draws the figures and writes
``result.h5ad`` (about a second) while the main process writes the tables. On a machine with
two or more cores that takes most of the writing off the command's wall time.

POSIX only (``os.fork``); elsewhere, or when the work cannot be pickled, callers run the
function themselves (:meth:`ForkedWorker.submit` returns False). On Linux a helper dies with
the process that forked it (``PR_SET_PDEATHSIG``), so that a helper's own helper does not
go on writing when its parent is killed, and none outlives a killed command.
"""
from __future__ import annotations

import ctypes
import importlib
import os
import pickle
import signal
import struct
import sys

__all__ = ["ForkedWorker"]

_HEADER = struct.Struct("<Q")


def _send(fd: int, payload: bytes) -> None:
    view = memoryview(_HEADER.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view):]


def _receive(fd: int) -> bytes | None:
    """One message, or None when the other end closed without sending one."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    return _read_exactly(fd, _HEADER.unpack(header)[0])


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class ForkedWorker:
    """A child process, forked now, that imports ``preload`` and waits for one job.

    Parameters
    ----------
    preload : tuple of str
        What the child does while it waits: ``"module"`` imports a module, ``"module:function"``
        also calls that function (without arguments). Failures are ignored: the job will
        report them if it needs the module.

    Notes
    -----
    Fork before starting threads: a forked child has only the forking thread. The child
    never returns into the caller's code and leaves through ``os._exit``; the job's result or
    exception comes back pickled. :meth:`close` (also on ``with`` exit) ends a child that was
    given no job.
    """

    def __init__(self, preload: tuple[str, ...] = ()):
        self.pid = None
        self._job = self._result = None
        if not hasattr(os, "fork"):
            return
        job_read, job_write = os.pipe()
        result_read, result_write = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:                                    # the child
            os.close(job_write)
            os.close(result_read)
            _die_with_parent(parent)
            _child(job_read, result_write, preload)     # never returns
        os.close(job_read)
        os.close(result_write)
        self.pid, self._job, self._result = pid, job_write, result_read

    def submit(self, func, *args, **kwargs) -> bool:
        """Hand ``func(*args, **kwargs)`` to the child; False if there is no child or the job
        cannot be pickled (the caller then runs it itself)."""
        if self._job is None:
            return False
        try:
            payload = pickle.dumps((func, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:                               # noqa: BLE001 - any pickling failure
            return False
        _send(self._job, payload)
        os.close(self._job)
        self._job = None
        return True

    def result(self):
        """Wait for the job; return its value or raise its exception."""
        message = _receive(self._result)
        self._finish()
        if message is None:
            raise RuntimeError("sigfactor's writer process ended without a result (killed or out of memory?).")
        status, value = pickle.loads(message)
        if status == "error":
            raise value
        return value

    def close(self) -> None:
        """End the child if it is still waiting or working (nothing it wrote is kept)."""
        if self.pid is None:
            return
        if self._job is not None:
            os.close(self._job)                         # no job: the child exits on EOF
            self._job = None
        else:
            try:
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass
        self._finish()

    def _finish(self) -> None:
        if self._result is not None:
            os.close(self._result)
            self._result = None
        if self.pid is not None:
            os.waitpid(self.pid, 0)
            self.pid = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Linux: ask the kernel to SIGKILL this (forked) process when ``parent`` ends, however it
    ends; leave at once if it already has. Elsewhere nothing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (AttributeError, OSError):
        return
    if os.getppid() != parent:
        os._exit(1)


def _child(job_read: int, result_write: int, preload: tuple[str, ...]) -> None:
    code = 0
    try:
        for name in preload:
            module, _, function = name.partition(":")
            try:
                loaded = importlib.import_module(module)
                if function:
                    getattr(loaded, function)()
            except Exception:                           # noqa: BLE001 - the job will say
                pass
        message = _receive(job_read)
        if message is not None:
            try:
                func, args, kwargs = pickle.loads(message)
                outcome = ("ok", func(*args, **kwargs))
            except BaseException as err:                # noqa: BLE001 - reported to the parent
                outcome = ("error", err)
            try:
                reply = pickle.dumps(outcome)
            except Exception:                           # noqa: BLE001 - an unpicklable error
                reply = pickle.dumps(("error", RuntimeError(f"{type(outcome[1]).__name__}: {outcome[1]}")))
            _send(result_write, reply)
    except BaseException:                               # noqa: BLE001 - interrupted: just leave
        code = 1
    finally:
        # No flushing: the buffers hold the parent's unwritten output, which is the parent's.
        os._exit(code)
