"""Importing torch with OpenMP threads that sleep when they have no work.

With as many torch threads as cores (torch's default), any other busy process takes a core from one of them, and
with OpenMP's default waiting the thread that still runs spins at every parallel region for the descheduled one:
decoding on 2 cores beside one busy process fell from about 13 to under 1 token/s (bench/threads.py).
OMP_WAIT_POLICY=PASSIVE makes waiting threads sleep instead. OpenMP reads it once, when torch first loads, so it is
set here, before that import, and only where the user has not chosen a policy."""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["import_torch", "before_torch"]


def before_torch() -> None:
    """Call before importing anything that imports torch itself (transformers, xgrammar)."""
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def import_torch() -> Any:
    """torch; raises ImportError when it is not installed."""
    before_torch()
    import torch

    return torch
