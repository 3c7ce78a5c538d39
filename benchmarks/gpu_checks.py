"""Backbone equivalence on CUDA: every installed sparse backend on the GPU against the built-in torch
backend on the CPU (float64 where the backend allows it), forward and gradients, layer by layer and over
both whole networks; plain Python (no pytest), so it runs on a machine where nothing can be installed.

    PYTHONPATH=. python3 benchmarks/gpu_checks.py      # exit 1 when a check fails, 0 when all pass
    (tests/test_cuda.py runs the same checks under pytest where CUDA is present)

Tolerance: max |difference| relative to max(1, max |reference|): layers 1e-4 in float32 (sums accumulated in
another order), 1e-10 in float64; whole networks within NETWORK_SLACK times the built-in backend's own float32
error against float64 (at least 1e-4).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from redal_core.data.voxelize import collate, input_features  # noqa: E402
from redal_core.models import available_backends, build_model  # noqa: E402
from redal_core.models.sparse import SparseTensor, get_backend  # noqa: E402

FLOAT32_TOL = 1e-4
FLOAT64_TOL = 1e-10
#: A whole float32 network may be this many times farther from float64 than the built-in backend's float32.
NETWORK_SLACK = 4.0


def _error(got: torch.Tensor, want: torch.Tensor) -> float:
    got, want = got.detach().double().cpu(), want.detach().double().cpu()
    return (got - want).abs().max().item() / max(1.0, want.abs().max().item())


def _coords(seed: int, size: int = 14, batches: int = 2) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(batches):
        grid = np.argwhere(rng.random((size, size, size)) < 0.25)
        rows.append(np.c_[np.full(len(grid), b), grid])
    return torch.from_numpy(np.concatenate(rows).astype(np.int32))


def layer_stack(backend_name: str, device: str, dtype: torch.dtype, seed: int = 1):
    """Outputs and gradients of subm3 / down2 / up2 layers on random coordinates."""
    coords = _coords(5)
    gen = torch.Generator().manual_seed(seed)
    shapes = [(27, 5, 8), (8, 8, 12), (27, 12, 12), (8, 12, 12), (27, 12, 12), (8, 12, 6), (8, 6, 4)]
    feats = torch.randn((len(coords), 5), generator=gen, dtype=torch.float64)
    weights = [torch.randn(s, generator=gen, dtype=torch.float64) / np.sqrt(s[0] * s[1]) for s in shapes]
    feats = feats.to(device, dtype).requires_grad_()
    weights = [w.to(device, dtype).requires_grad_() for w in weights]
    backend = get_backend(backend_name)
    x = SparseTensor.from_input(coords=coords.to(device), feats=feats, backend=backend)
    outs = [backend.subm3(x, weights[0])]
    for kind, w in zip(["down2", "subm3", "down2", "subm3", "up2", "up2"], weights[1:], strict=True):
        outs.append(getattr(backend, kind)(outs[-1], w))
    gen = torch.Generator().manual_seed(seed + 1)
    probes = [torch.randn(o.feats.shape, generator=gen, dtype=torch.float64).to(device, dtype) / o.feats.shape[0] ** 0.5
              for o in outs]
    loss = sum((o.feats * p).sum() for o, p in zip(outs, probes, strict=True))
    return [o.feats for o in outs], torch.autograd.grad(loss, [feats, *weights])


def network(name: str, backend: str, device: str, dtype: torch.dtype = torch.float32):
    """Logits, features and parameter gradients of a whole network on two synthetic rooms.

    A structured scene on purpose: on a sparse random cloud the coarsest levels hold a few dozen voxels
    and their BatchNorm is so ill-conditioned that torch float32 and float64 already differ by ~6 %.
    """
    from redal_core.data.synthetic import generate_room

    rng = np.random.default_rng(0)
    samples = []
    for kind in ("office", "conferenceRoom"):
        xyz, rgb, labels, _ = generate_room(rng, kind=kind, points=6000)
        xyz = xyz.astype(np.float32)
        samples.append((xyz, input_features(xyz, rgb, None), labels % 4))
    batch = collate(samples, 0.08).to(device)
    batch.feats, batch.point_feats = batch.feats.to(dtype), batch.point_feats.to(dtype)
    torch.manual_seed(0)
    model = build_model(name, in_channels=6, num_classes=4, width=0.25, backend=backend).to(device, dtype).train()
    logits, features = model(batch)
    gen = torch.Generator().manual_seed(5)
    scale = logits.shape[0] ** -0.5
    loss = scale * ((logits * torch.randn(logits.shape, generator=gen).to(device, dtype)).sum()
                    + (features * torch.randn(features.shape, generator=gen).to(device, dtype)).sum())
    loss.backward()
    return logits, features, {k: p.grad for k, p in model.named_parameters()}


def run_checks(device: str = "cuda") -> list[tuple[str, float, float, bool]]:
    """(check, error, tolerance, passed) for every backend usable on ``device``."""
    results = []
    ref64_out, ref64_grad = layer_stack("torch", "cpu", torch.float64)
    for backend in available_backends():
        dtypes = [torch.float64, torch.float32] if backend == "torch" else [torch.float32]
        for dtype in dtypes:
            tol = FLOAT64_TOL if dtype == torch.float64 else FLOAT32_TOL
            try:
                out, grad = layer_stack(backend, device, dtype)
            except Exception as error:  # a backend that cannot run here is reported, not fatal
                results.append((f"layers {backend} {dtype} on {device}: {type(error).__name__}: {error}", float("inf"),
                                tol, False))
                continue
            err = max(max(_error(g, w) for g, w in zip(out, ref64_out, strict=True)),
                      max(_error(g, w) for g, w in zip(grad, ref64_grad, strict=True)))
            results.append((f"layers {backend} {str(dtype).removeprefix('torch.')} {device} vs torch float64 cpu",
                            err, tol, err <= tol))
    for name in ("minkunet", "spvcnn"):
        # a whole network in float32 is as close to the exact (float64) answer as its conditioning allows:
        # the built-in backend's own float32 error sets the bar (BatchNorm over the coarse levels' few voxels
        # amplifies rounding), and every backend must come within NETWORK_SLACK times it
        ref = network(name, "torch", "cpu", torch.float64)
        baseline = _network_error(network(name, "torch", "cpu"), ref)
        tol = max(FLOAT32_TOL, NETWORK_SLACK * baseline)
        for backend in available_backends():
            try:
                err = _network_error(network(name, backend, device), ref)
            except Exception as error:
                results.append((f"{name} {backend} on {device}: {type(error).__name__}: {error}", float("inf"), tol,
                                False))
                continue
            results.append((f"{name} {backend} float32 {device} vs torch float64 cpu (forward + gradients; torch "
                            f"float32 cpu: {baseline:.2g})", err, tol, err <= tol))
    return results


def _network_error(got, ref) -> float:
    return max(_error(got[0], ref[0]), _error(got[1], ref[1]), max(_error(got[2][k], ref[2][k]) for k in ref[2]))


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu_checks: CUDA is not available here; nothing to check")
        return 0
    started = time.perf_counter()
    print(f"gpu_checks on {torch.cuda.get_device_name(0)}, torch {torch.__version__}, backends {available_backends()}")
    failed = 0
    for check, err, tol, ok in run_checks("cuda"):
        failed += not ok
        print(f"  {'ok  ' if ok else 'FAIL'} {check}: error {err:.3g} (tolerance {tol:g})")
    print(f"gpu_checks: {failed} failed ({time.perf_counter() - started:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
