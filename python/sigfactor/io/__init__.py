"""Writing extraction results: SigProfilerExtractor's output folder, AnnData and run records."""
from __future__ import annotations

from .folder import atomic_folder, write_extraction

__all__ = ["atomic_folder", "write_extraction"]
