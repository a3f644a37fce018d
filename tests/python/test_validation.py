"""Device and dtype arguments: answered without PyTorch where possible, errors that name the value."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from sigfactor._validation import device_name, dtype_name, resolve_device, resolve_dtype


def test_auto_and_cpu_are_settled_without_importing_torch():
    code = ("import sys\nfrom sigfactor._validation import device_name\n"
            "print(device_name('auto'), device_name('cpu'), 'torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert out[:2] == [expected, "cpu"]
    if expected == "cpu" and torch.__version__.endswith("+cpu"):
        assert out[2] == "False"


def test_device_name_agrees_with_resolve_device():
    for device in ("auto", "cpu", torch.device("cpu")):
        assert device_name(device) == str(resolve_device(device))


@pytest.mark.parametrize("device,message", [
    ("gpu", r"device='gpu' is not valid; expected 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device"),
    (3, r"device=3 is not valid"),
])
def test_bad_devices_are_named(device, message):
    with pytest.raises(ValueError, match=message):
        device_name(device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="asks for CUDA where there is none")
def test_cuda_without_a_gpu_is_refused():
    with pytest.raises(ValueError, match=r"device='cuda' was requested but no CUDA device is available"):
        device_name("cuda")


@pytest.mark.parametrize("dtype,name", [("float32", "float32"), (np.float64, "float64"), ("f4", "float32"),
                                        (torch.float64, "float64"), (np.dtype("float32"), "float32")])
def test_dtype_names(dtype, name):
    assert dtype_name(dtype) == name and resolve_dtype(dtype) == getattr(torch, name)


@pytest.mark.parametrize("dtype", ["float16", torch.int32, 3, "double precision"])
def test_bad_dtypes_are_named(dtype):
    with pytest.raises(ValueError, match=r"dtype=.* is not valid; expected 'float32' or 'float64'"):
        dtype_name(dtype)
