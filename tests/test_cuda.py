"""The backbone equivalence checks of benchmarks/gpu_checks.py on CUDA (skipped without CUDA), and the
same checks run on the CPU device here, so the script itself is exercised by every `make test`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

_SPEC = importlib.util.spec_from_file_location(
    "gpu_checks", Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_checks.py")
gpu_checks = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(gpu_checks)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="CUDA is not available on this machine"))])
def test_every_backend_on_the_device_matches_the_cpu_reference(device):
    results = gpu_checks.run_checks(device)
    assert results and all(ok for _, _, _, ok in results), [r for r in results if not r[3]]
