"""Argument checks shared by every public function.

Each check raises an error that names the argument, the value it got and what was expected.
"""
from __future__ import annotations

import os
import sys
from importlib import metadata
from typing import Iterable, Sequence

import numpy as np

from .models._base import SOLVERS

DTYPES = ("float32", "float64")


def check_choice(name: str, value, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError`` listing them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"{name}={value!r} is not valid; expected one of {', '.join(repr(c) for c in choices)}."
        )
    return value


def check_int(name: str, value, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as ``int`` if it is an integer within ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}={value!r} is not valid; expected an integer.")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name}={value} is out of range; expected an integer >= {low}.")
    if high is not None and value > high:
        raise ValueError(f"{name}={value} is out of range; expected an integer <= {high}.")
    return value


SEED_MAX = 2**63 - 1
"""Largest seed: seeds are recorded in ``result.h5ad`` (HDF5) and ``run.json`` as signed 64-bit integers."""


def check_seed(name: str, value) -> int:
    """Return ``value`` as ``int`` if it is an integer seed from 0 to :data:`SEED_MAX`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}={value!r} is not valid; expected an integer seed.")
    value = int(value)
    if not 0 <= value <= SEED_MAX:
        raise ValueError(f"{name}={value} is out of range; expected an integer from 0 to 2**63 - 1 ({SEED_MAX}), "
                         "the range of the signed 64-bit integers in which results record their seeds.")
    return value


def available_memory() -> int | None:
    """Bytes of memory this process can still use, as far as the system says, or None.

    Linux: ``MemAvailable`` of ``/proc/meminfo``, lowered to what the process's cgroup (v2)
    still allows (``memory.max`` less ``memory.current``). Elsewhere the free physical pages
    (``os.sysconf``), or None when that is not known either.
    """
    found = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    found = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if found is None:
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    limit = _cgroup_room()
    return found if limit is None else min(found, limit)


def _cgroup_room() -> int | None:
    """What the process's cgroup v2 memory limit still leaves, or None without one."""
    try:
        with open("/proc/self/cgroup", encoding="ascii") as fh:
            group = next((line.strip()[3:] for line in fh if line.startswith("0::")), None)
    except OSError:
        return None
    if group is None:
        return None
    folder = os.path.join("/sys/fs/cgroup", group.lstrip("/"))
    try:
        with open(os.path.join(folder, "memory.max"), encoding="ascii") as fh:
            text = fh.read().strip()
        if text == "max":
            return None
        with open(os.path.join(folder, "memory.current"), encoding="ascii") as fh:
            return max(int(text) - int(fh.read().strip()), 0)
    except (OSError, ValueError):
        return None


def check_positive_float(name: str, value, *, allow_zero: bool = False) -> float:
    """Return ``value`` as ``float`` if it is finite and positive (or zero when allowed)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name}={value!r} is not valid; expected a number.")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        expected = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise ValueError(f"{name}={value!r} is out of range; expected {expected}.")
    return value


KL_EXPONENT_RANGE = "a number >= 1 and < 2 (1: Lee and Seung's update; 1 < x < 2: over-relaxed)"


def kl_exponent_fault(value: float, model: str, loss: str) -> str | None:
    """What is wrong with ``kl_exponent = value`` for ``model`` and ``loss``: ``"range"``
    (outside ``[1, 2)``, NaN included), ``"model"`` (other than 1 outside KL NMF) or None.
    The rule of :func:`check_kl_exponent` and of the command line's ``--kl-exponent``."""
    if not 1.0 <= value < 2.0:
        return "range"
    if value != 1.0 and (model != "nmf" or loss != "kl"):
        return "model"
    return None


def solver_fault(value, model: str, loss: str, kl_exponent: float = 1.0) -> str | None:
    """What is wrong with ``solver = value``: ``"choice"`` (not one of :data:`SOLVERS`),
    ``"model"`` (``"cd"`` outside KL NMF), ``"exponent"`` (``"cd"`` with ``kl_exponent`` other
    than 1, an option of the multiplicative update) or None. The rule of :func:`check_solver`
    and of the command line's ``--solver``."""
    if not isinstance(value, str) or value not in SOLVERS:
        return "choice"
    if value == "cd" and (model != "nmf" or loss != "kl"):
        return "model"
    if value == "cd" and kl_exponent != 1.0:
        return "exponent"
    return None


def check_solver(value, model: str, loss: str, kl_exponent: float = 1.0) -> str:
    """``solver`` if it suits ``model``, ``loss`` and ``kl_exponent`` (see :func:`solver_fault`)."""
    fault = solver_fault(value, model, loss, kl_exponent)
    if fault == "choice":
        check_choice("solver", value, SOLVERS)
    if fault == "model":
        raise ValueError(f"solver={value!r} applies to model='nmf' with loss='kl' only; leave it as 'mu' "
                         f"for model={model!r}, loss={loss!r}.")
    if fault == "exponent":
        raise ValueError(f"solver={value!r} takes no kl_exponent (an option of the multiplicative update, "
                         f"solver='mu'); leave kl_exponent at 1, not {kl_exponent!r}.")
    return value


def check_kl_exponent(value, model: str, loss: str) -> float:
    """``kl_exponent`` as ``float`` (see :func:`kl_exponent_fault`)."""
    value = check_positive_float("kl_exponent", value)
    fault = kl_exponent_fault(value, model, loss)
    if fault == "range":
        raise ValueError(f"kl_exponent={value!r} is out of range; expected {KL_EXPONENT_RANGE}.")
    if fault == "model":
        raise ValueError(f"kl_exponent={value!r} applies to model='nmf' with loss='kl' only; leave it at 1 "
                         f"for model={model!r}, loss={loss!r}.")
    return value


def _bad_device(device) -> ValueError:
    return ValueError(
        f"device={device!r} is not valid; expected 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device."
    )


def _gpu_possible() -> bool:
    """False when no GPU can be there, found without importing PyTorch: a CPU-only PyTorch
    build (version ``+cpu``), or no NVIDIA or AMD GPU device node. Otherwise PyTorch decides."""
    try:
        if metadata.version("torch").endswith("+cpu"):
            return False
    except metadata.PackageNotFoundError:
        return False
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/kfd") or not sys.platform.startswith("linux")


def device_type(device) -> str:
    """``"cpu"`` or ``"cuda"``: where ``device`` (as :func:`resolve_device` takes it) runs.

    Answers ``"auto"`` and ``"cpu"`` without importing PyTorch when no GPU can be there.
    """
    if device == "cpu" or (device in (None, "auto") and not _gpu_possible()):
        return "cpu"
    if not (device in (None, "auto") or isinstance(device, str) or type(device).__name__ == "device"):
        raise _bad_device(device)
    return resolve_device(device).type


def device_name(device) -> str:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"``: :func:`resolve_device`'s answer as a string, found
    without importing PyTorch when it is the CPU and no GPU can be there."""
    return "cpu" if device_type(device) == "cpu" else str(resolve_device(device))


def resolve_device(device):
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device`` into a ``torch.device``."""
    import torch

    if isinstance(device, torch.device):
        dev = device
    elif device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    elif isinstance(device, str) and (device in ("cpu", "cuda") or device.startswith("cuda:")):
        dev = torch.device(device)
    else:
        raise _bad_device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but no CUDA device is available; use 'cpu' or 'auto'.")
    return dev


def dtype_name(dtype) -> str:
    """``"float32"`` or ``"float64"`` from that string or a numpy or torch float dtype."""
    if isinstance(dtype, str) and dtype in DTYPES:
        return dtype
    if type(dtype).__module__ == "torch":
        name = str(dtype).replace("torch.", "")
        if name in DTYPES:
            return name
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = None
        if name in DTYPES:
            return name
    raise ValueError(f"dtype={dtype!r} is not valid; expected 'float32' or 'float64'.")


def resolve_dtype(dtype):
    """Turn ``"float32"``, ``"float64"``, a numpy or torch float dtype into a torch dtype."""
    import torch

    return getattr(torch, dtype_name(dtype))


def check_orientation(name: str, shape: tuple) -> None:
    """Refuse an unlabelled array that is channels x samples where samples x channels is expected.

    An array has no labels, so only the channel counts of the kinds (96, 78, 83) tell its
    axes apart: when the first axis has one of them and the second has not (e.g. 96 x 21), the
    array is in the orientation of files and R (channels x samples) and is refused. When both
    have one (e.g. 96 x 96 or 83 x 96) the rows are taken as samples; when neither has, the
    array is any samples x features matrix.
    """
    from .channels import KINDS

    counts = {len(labels): kind for kind, labels in KINDS.items()}
    rows, cols = shape
    if rows in counts and cols not in counts:
        raise ValueError(
            f"{name} has shape {tuple(shape)}: {rows} rows, the {rows} channels of {counts[rows]}, and {cols} "
            f"columns; an array is read as samples x channels, so this one looks transposed. Pass {name}.T, "
            f"or a DataFrame with channel labels (either orientation is then read by label).")


def check_counts(name: str, values: np.ndarray, *, sample_names: Iterable[str] | None = None,
                 samples_axis: int = 0) -> None:
    """Raise if ``values`` holds negative, NaN or infinite counts, or a sample with no counts.

    ``samples_axis`` says which axis holds the samples, so that empty samples can be named.
    """
    if values.size == 0:
        raise ValueError(f"{name} is empty; expected a matrix of mutation counts.")
    if not np.issubdtype(values.dtype, np.number):
        raise TypeError(f"{name} has dtype {values.dtype}; expected numeric mutation counts.")
    finite = np.isfinite(values)
    if not finite.all():
        idx = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ValueError(
            f"{name} contains {int((~finite).sum())} non-finite value(s) (NaN or infinite), "
            f"first at position {idx}; expected finite non-negative counts."
        )
    if (values < 0).any():
        idx = tuple(int(i) for i in np.argwhere(values < 0)[0])
        raise ValueError(
            f"{name} contains {int((values < 0).sum())} negative value(s), first {values[idx]!r} "
            f"at position {idx}; expected non-negative counts."
        )
    totals = values.sum(axis=1 - samples_axis)
    empty = np.flatnonzero(totals == 0)
    if empty.size:
        names = list(sample_names) if sample_names is not None else [str(i) for i in range(values.shape[samples_axis])]
        shown = ", ".join(str(names[i]) for i in empty[:10]) + (" ..." if empty.size > 10 else "")
        raise ValueError(
            f"{name} has {empty.size} sample(s) with zero mutations: {shown}; "
            "remove them before fitting."
        )
