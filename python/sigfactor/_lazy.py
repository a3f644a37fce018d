"""Packages whose public names load on first use (PEP 562).

A command imports only what it runs: ``sigfactor extract`` with KL NMF on the CPU never
imports PyTorch (about a second).
"""
from __future__ import annotations

import importlib


def exports(package: str, names: dict[str, str]):
    """``__getattr__`` and ``__dir__`` for ``package`` (its ``__name__``).

    ``names`` maps each public name to the submodule (relative to ``package``) that defines
    it. A lazy name must differ from every submodule's name: importing ``package.x`` binds the
    module to ``package.x``.
    """
    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name], package), name)
        globals_of_package = importlib.import_module(package).__dict__
        globals_of_package[name] = value            # later lookups skip __getattr__
        return value

    def __dir__():
        return sorted(set(importlib.import_module(package).__dict__) | set(names))

    return __getattr__, __dir__
