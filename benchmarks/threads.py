"""Which thread count a run should default to: training step time at 1 .. all cores, alone and beside
competing CPU work, measured side by side in one run.

Each measurement is a fresh subprocess (thread pools are sized once per process) that trains the demo's
network (MinkUNet width 0.25, synthetic rooms of 3,000 points, batch 4) for ``--steps`` steps after a warm-up
and reports the median step time. "loaded" runs it beside ``--competitors`` CPU-burning processes (a second
job on the machine). OpenMP pools busy-wait for their threads, so asking for more threads than the cores
left free does not degrade gently: the ratios below are the measurement behind the kit's thread rule
(``redal_core.threads.resolve_threads``: cores // jobs, REDAL_THREADS / train.threads to override).

    .venv/bin/python benchmarks/threads.py [--steps 20] [--reps 3] [--competitors 1]

Not a test: it prints medians and ratios, it never asserts.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WORKER = r'''
import json, sys, time
import numpy as np
threads, steps = int(sys.argv[1]), int(sys.argv[2])
from redal_core.threads import apply_threads
apply_threads(threads)
import torch
from redal_core.data.synthetic import generate_room
from redal_core.data.voxelize import collate, input_features
from redal_core.models import build_model
rng = np.random.default_rng(0)
samples = []
for kind in ("office", "conferenceRoom", "hallway", "office"):
    xyz, rgb, labels, _ = generate_room(rng, kind=kind, points=3000)
    xyz = xyz.astype(np.float32)
    samples.append((xyz, input_features(xyz, rgb, None), labels.astype(np.int64)))
batch = collate(samples, 0.05)
torch.manual_seed(0)
model = build_model("minkunet", in_channels=6, num_classes=13, width=0.25, backend="torch")
opt = torch.optim.Adam(model.parameters(), lr=0.01)
times = []
for step in range(steps + 3):
    t0 = time.perf_counter()
    logits, _ = model(batch)
    loss = torch.nn.functional.cross_entropy(logits, batch.labels)
    opt.zero_grad(); loss.backward(); opt.step()
    if step >= 3:
        times.append(time.perf_counter() - t0)
print(json.dumps({"threads": torch.get_num_threads(), "median_s": sorted(times)[len(times) // 2]}))
'''


def _burn(stop) -> None:  # pragma: no cover - a load generator
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF


def _measure(threads: int, steps: int) -> float:
    env = {key: value for key, value in os.environ.items() if key not in ("REDAL_THREADS", "OMP_NUM_THREADS",
                                                                          "NUMBA_NUM_THREADS")}
    env["PYTHONPATH"] = str(REPO)
    out = subprocess.run([sys.executable, "-c", WORKER, str(threads), str(steps)], env=env, capture_output=True,
                         text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])["median_s"]


def main() -> int:
    from redal_core.threads import available_cores

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--reps", type=int, default=3, help="subprocesses per cell (median reported)")
    parser.add_argument("--competitors", type=int, default=1, help="CPU-burning processes in the loaded case")
    args = parser.parse_args()
    cores = available_cores()
    counts = sorted({1, max(1, cores // 2), cores})
    results: dict[tuple[str, int], list[float]] = {}
    for load in ("alone", "loaded"):
        stop = multiprocessing.Event()
        burners = [multiprocessing.Process(target=_burn, args=(stop,), daemon=True)
                   for _ in range(args.competitors if load == "loaded" else 0)]
        for b in burners:
            b.start()
        try:
            for _ in range(args.reps):  # interleaved: the machine's load drifts
                for t in counts:
                    results.setdefault((load, t), []).append(_measure(t, args.steps))
        finally:
            stop.set()
            for b in burners:
                b.join(timeout=5)
    print(f"training step (MinkUNet x0.25, 4 rooms x 3000 points) on {cores} cores, median of {args.reps} processes "
          f"x {args.steps} steps; loaded = beside {args.competitors} CPU-burning process(es)")
    print(f"{'case':<8} {'threads':>7} {'step s':>8} {'vs 1 thread':>12}")
    for load in ("alone", "loaded"):
        base = statistics.median(results[(load, 1)])
        for t in counts:
            med = statistics.median(results[(load, t)])
            print(f"{load:<8} {t:>7} {med:>8.3f} {med / base:>12.2f}")
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"({time.perf_counter() - started:.0f} s)")
    sys.exit(code)
