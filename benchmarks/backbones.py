"""Backbone speed and memory per scan: forward + backward of MinkUNet and SPVCNN, width 1.0 and 0.5, on a real
SemanticKITTI scan (5 cm voxels) and a synthetic S3DIS room (5 cm), for every installed sparse backend,
printed as ratios to the built-in torch backend. Not a test: it prints, it never asserts.

Time: one subprocess per (input, network, width) runs the backends side by side, interleaved rep by rep (the
machine's load drifts), and reports the median of ``--reps`` forward + backward passes per backend. Memory:
a fresh subprocess per backend runs one forward + backward, so its peak resident memory (ru_maxrss) is its own. ``spconv`` is timed as the library ships (its own CPU gather/GEMM/scatter,
``cpu_arithmetic="spconv"``); the adapter's default spconv path on CPU uses spconv's index pairs with the torch
arithmetic because spconv 2.3.8's CPU scatter races at more than one thread (see backend_spconv).

    .venv/bin/python benchmarks/backbones.py [--reps 3] [--warmup 1] [--threads 1] [--inputs kitti room]
                                             [--backends torch spconv minkowski]

Targets (printed): torch backend no slower than spconv on CPU (ratio <= 1.0) for both networks; full-width
MinkUNet forward + backward on one real SemanticKITTI scan with peak memory <= 4 GB on CPU.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KITTI_SCAN = REPO.parent / "shared" / "real_samples" / "semantickitti" / "sequences" / "00" / "velodyne" / "000000.bin"
VOXEL = 0.05
ROOM_POINTS = 150_000
NETWORKS = ("minkunet", "spvcnn")
WIDTHS = (1.0, 0.5)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def _load(name: str):
    import numpy as np

    from redal_core.data.voxelize import collate, input_features

    if name == "kitti":
        scan = np.fromfile(KITTI_SCAN, dtype=np.float32).reshape(-1, 4)
        xyz, feats, classes = scan[:, :3], input_features(scan[:, :3], None, scan[:, 3]), 19
    else:
        from redal_core.data.synthetic import generate_room

        xyz, rgb, _, _ = generate_room(np.random.default_rng(0), kind="office", points=ROOM_POINTS)
        xyz = xyz.astype(np.float32)
        feats, classes = input_features(xyz, rgb, None), 13
    labels = np.random.default_rng(1).integers(0, classes, len(xyz))
    return collate([(xyz, feats, labels)], VOXEL), feats.shape[1], classes


def _model(spec: dict, backend: str, in_channels: int, classes: int):
    import torch

    from redal_core.models import build_model
    from redal_core.models.sparse.backend_spconv import SpconvBackend

    chosen = SpconvBackend(cpu_arithmetic="spconv") if backend == "spconv" else backend
    torch.manual_seed(0)
    model = build_model(spec["network"], in_channels=in_channels, num_classes=classes, width=spec["width"],
                        backend=chosen)
    return model.train()


def _step(model, batch) -> float:
    import torch

    model.zero_grad(set_to_none=True)
    start = time.perf_counter()
    logits, _ = model(batch)
    torch.nn.functional.cross_entropy(logits, batch.labels).backward()
    return time.perf_counter() - start


def _worker(spec: dict) -> dict:
    """mode "time": every backend, interleaved; mode "memory": one backend, one pass, peak RSS."""
    import torch

    torch.set_num_threads(spec["threads"])
    batch, in_channels, classes = _load(spec["input"])
    sizes = {"voxels": int(batch.coords.shape[0]), "points": int(batch.point_coords.shape[0])}
    if spec["mode"] == "memory":
        model = _model(spec, spec["backend"], in_channels, classes)
        baseline = _rss_bytes()
        _step(model, batch)
        return {**sizes, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "baseline": baseline}
    models = {name: _model(spec, name, in_channels, classes) for name in spec["backends"]}
    for _ in range(spec["warmup"]):  # untimed: first-touch page faults and lazy initialisation
        for model in models.values():
            _step(model, batch)
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(spec["reps"]):
        for name, model in models.items():
            times[name].append(_step(model, batch))
    return {**sizes, "seconds": {name: statistics.median(t) for name, t in times.items()}, "all": times}


def _run(spec: dict) -> dict | None:
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True,
                          cwd=REPO)
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "no output"
        print(f"   {spec['network']} {spec['width']} {spec.get('backend', '')}: failed ({last})")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="forward+backward passes per configuration (median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed passes per backend before timing")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads for every backend")
    parser.add_argument("--backends", nargs="+", help="subset of the installed backends (default: all installed)")
    parser.add_argument("--inputs", nargs="+", default=["kitti", "room"], choices=["kitti", "room"])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return

    import torch

    from redal_core.models import available_backends

    backends = available_backends()  # torch first in the table
    backends = ["torch", *[b for b in backends if b != "torch" and (not args.backends or b in args.backends)]]
    if "spconv" not in backends:
        print("spconv is not installed: the torch-vs-spconv ratio cannot be measured (pip install spconv)")
    device = "CUDA" if torch.cuda.is_available() else "CPU"
    print(f"backbones benchmark on {device}, torch {torch.__version__}, {args.threads} thread(s), "
          f"median of {args.reps} after {args.warmup} warm-up; backends: {', '.join(backends)} (no GPU run in this session)")
    inputs = list(args.inputs)
    if "kitti" in inputs and not KITTI_SCAN.is_file():
        print(f"skipping the SemanticKITTI input: {KITTI_SCAN} is absent")
        inputs.remove("kitti")
    rows = []
    header = f"{'input':<6} {'voxels':>7} {'network':<9} {'width':>5} {'backend':<12} {'fwd+bwd s':>9} " \
             f"{'x torch':>7} {'peak GB':>7} {'+GB':>6}"
    print(header)
    for name in inputs:
        for network in NETWORKS:
            for width in WIDTHS:
                base = {"input": name, "network": network, "width": width, "threads": args.threads}
                timing = _run({**base, "mode": "time", "backends": backends, "reps": args.reps,
                               "warmup": args.warmup})
                if timing is None:
                    continue
                ref = timing["seconds"]["torch"]
                for backend in backends:
                    memory = _run({**base, "mode": "memory", "backend": backend}) or {"peak": 0, "baseline": 0}
                    row = {**base, "backend": backend, "seconds": timing["seconds"][backend], **memory,
                           "voxels": timing["voxels"]}
                    row["ratio"] = row["seconds"] / ref
                    rows.append(row)
                    print(f"{name:<6} {row['voxels']:>7} {network:<9} {width:>5} {backend:<12} "
                          f"{row['seconds']:>9.2f} {row['ratio']:>7.2f} {row['peak'] / 2**30:>7.2f} "
                          f"{(row['peak'] - row['baseline']) / 2**30:>6.2f}", flush=True)

    print("\ntargets")
    for network in NETWORKS:
        pairs = [(t, s) for t in rows for s in rows
                 if t["backend"] == "torch" and s["backend"] == "spconv" and t["network"] == network
                 and s["network"] == network and t["input"] == s["input"] and t["width"] == s["width"]]
        if pairs:
            ratios = [t["seconds"] / s["seconds"] for t, s in pairs]
            verdict = "met" if max(ratios) <= 1.0 else "NOT met"
            print(f"  torch / spconv time, {network}: {', '.join(f'{r:.2f}' for r in ratios)} "
                  f"(target <= 1.0: {verdict})")
        else:
            print(f"  torch / spconv time, {network}: not measured (spconv absent)")
    full = [r for r in rows if r["input"] == "kitti" and r["network"] == "minkunet" and r["width"] == 1.0
            and r["backend"] == "torch"]
    if full:
        peak = full[0]["peak"] / 2**30
        print(f"  MinkUNet width 1.0, one SemanticKITTI scan, torch backend: peak RSS {peak:.2f} GB "
              f"(target <= 4 GB: {'met' if peak <= 4 else 'NOT met'})")
    else:
        print("  MinkUNet peak memory on SemanticKITTI: not measured (scan absent)")


if __name__ == "__main__":
    main()
