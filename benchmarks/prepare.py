"""``redal prepare`` throughput (regions + cues of real-size LiDAR scans) at --jobs 1 and 2, side by side.

    .venv/bin/python benchmarks/prepare.py [--scans 8] [--repeats 3]

Input: the real SemanticKITTI scans under ../shared/real_samples (about 120k points each), copied into a
temporary root as ``--scans`` training scans (each copy has one remission value changed, so that the
content-hashed cache sees a new scan while the work stays that of a real scan); without the samples,
synthetic outdoor sweeps at the full 64 x 1920 size. Each run prepares the root into a fresh cache (read,
VCCS with the SemanticKITTI preset, cues with k = 50 on the official scale: the command's default work).

First, the issue's own command, timed whole in a fresh process as a user runs it: ``redal prepare --dataset
synthetic-outdoor --root R --scans 8`` at --jobs 1 and --jobs 2 into a fresh cache each time, interleaved, as
medians of ``--repeats`` runs, with a byte comparison of the two caches. The command writes the synthetic
sweeps under R every time it runs (that is part of what it costs): in its own process at --jobs 1, on the
pool's workers at --jobs 2 (forked, where ``REDAL_START_METHOD`` allows, while the main process loads the
scans' kernels; ``redal_core.workers``), whose start method is printed.
Then, as medians of ``--repeats`` runs, for --jobs 1 at one thread (the serial baseline) and for --jobs 1
and --jobs 2 at the kit's thread rule (max(1, (cores - 1) // jobs) threads per process): scans/s once running (from the
times the results arrived, after every worker delivered its first scan: the rate a 19,130-scan prepare runs
at), scans/s of the whole command with the start-up it includes (spawning workers, imports, numba's cache),
and worker seconds per scan. Then the features step alone (``region_features``, k = 50, official scale, one
thread) and VCCS alone per scan, and the hours ``redal prepare`` would take for SemanticKITTI's 19,130
training scans at 1, 16 and 64 processes from the one-thread run's seconds per scan (assuming linear
scaling). Never asserts; the machine's load average is printed next to the numbers.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REAL = Path(__file__).resolve().parents[2] / "shared" / "real_samples" / "semantickitti"
#: SemanticKITTI's training split (sequences 00-07, 09, 10), the scans a full prepare computes regions for.
KITTI_TRAIN_SCANS = 19_130
PROJECTED_PROCESSES = (1, 16, 64)
TARGET_SPEEDUP = 1.7


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def _real_scans() -> list[tuple[Path, Path]]:
    pairs = []
    for scan in sorted(REAL.glob("sequences/*/velodyne/*.bin")):
        label = scan.parent.parent / "labels" / f"{scan.stem}.label"
        if label.is_file():
            pairs.append((scan, label))
    return pairs


def write_root(root: Path, scans: int) -> str:
    """``scans`` real-size training scans in sequence 00 of ``root``; returns what they are, in words."""
    velodyne, labels = root / "sequences" / "00" / "velodyne", root / "sequences" / "00" / "labels"
    velodyne.mkdir(parents=True)
    labels.mkdir()
    pairs = _real_scans()
    if pairs:
        for j in range(scans):
            scan, label = pairs[j % len(pairs)]
            points = np.fromfile(scan, "<f4").reshape(-1, 4)
            points[0, 3] = np.float32(j) * np.float32(1e-3)  # a distinct file, the same work
            points.tofile(velodyne / f"{j:06d}.bin")
            shutil.copyfile(label, labels / f"{j:06d}.label")
        sizes = [len(np.fromfile(s, "<f4")) // 4 for s, _ in pairs]
        return (f"{scans} copies of the {len(pairs)} real SemanticKITTI scans ({min(sizes):,}-{max(sizes):,} points)")
    from redal_core.data.synthetic import write_synthetic_outdoor

    tmp = root.parent / "synthetic"
    write_synthetic_outdoor(tmp, scans=scans, seed=0, beams=64, azimuth_steps=1920)
    for j, scan in enumerate(sorted(tmp.glob("sequences/*/velodyne/*.bin"))):
        shutil.copyfile(scan, velodyne / f"{j:06d}.bin")
        shutil.copyfile(scan.parent.parent / "labels" / f"{scan.stem}.label", labels / f"{j:06d}.label")
    return f"{scans} synthetic outdoor sweeps at 64 x 1920 (real samples absent at {REAL})"


def time_prepare(root: Path, jobs: int, repeats: int, work: Path, *, threads: int | None = None) -> dict[str, float]:
    """Medians over ``repeats`` prepares of ``root`` into fresh caches: ``wall`` (seconds of the whole call),
    ``steady`` (scans/s once every worker has finished its first scan, i.e. process start-up, imports and
    numba's cache load excluded), ``startup`` (seconds to the jobs-th result), ``per_scan`` (worker seconds per
    scan) and ``threads`` (per scan: the kit's rule, or ``threads`` through REDAL_THREADS)."""
    from redal_core.data.prepare import prepare
    from redal_core.threads import resolve_threads

    runs = []
    saved = os.environ.get("REDAL_THREADS")
    for repeat in range(repeats):
        cache = work / f"cache-jobs{jobs}-{repeat}"
        if threads is not None:
            os.environ["REDAL_THREADS"] = str(threads)
        try:
            started = time.perf_counter()
            report = prepare("semantickitti", root, cache_dir=cache, jobs=jobs, progress=False, log=lambda line: None)
            wall = time.perf_counter() - started
            used = resolve_threads(None, jobs=jobs)
        finally:
            if saved is None:
                os.environ.pop("REDAL_THREADS", None)
            else:
                os.environ["REDAL_THREADS"] = saved
        if report.failures:
            raise RuntimeError(f"prepare failed on {report.failures[0]}")
        arrived = report.arrived
        first = arrived[jobs - 1]  # every worker has delivered one scan by then
        runs.append({"wall": wall, "steady": (len(arrived) - jobs) / (arrived[-1] - first), "startup": first,
                     "per_scan": statistics.median(report.scan_seconds)})
        shutil.rmtree(cache)
    out = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    out["threads"] = used
    return out


def _cache_digest(cache: Path) -> dict[str, str]:
    """The sha256 of every cache file by relative path (every file, not only the entries' .npy arrays)."""
    return {str(path.relative_to(cache)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(cache.rglob("*")) if path.is_file()}


def time_command(work: Path, scans: int, repeats: int) -> tuple[dict[int, float], bool]:
    """Median wall seconds of ``redal prepare --dataset synthetic-outdoor --root R --scans N --jobs J`` (a
    fresh process, a fresh cache) for J = 1, 2, interleaved, and whether the two caches are byte-identical."""
    root = work / "synthetic-outdoor"
    base = [sys.executable, "-m", "redal_core.cli", "prepare", "--dataset", "synthetic-outdoor", "--root", str(root),
            "--scans", str(scans)]
    env = {k: v for k, v in os.environ.items() if k != "REDAL_THREADS"}
    walls: dict[int, list[float]] = {1: [], 2: []}
    digests = {}
    for repeat in range(repeats):
        for jobs in (1, 2):
            cache = work / f"cli-cache-{jobs}"
            started = time.perf_counter()
            subprocess.run([*base, "--jobs", str(jobs), "--cache-dir", str(cache)], check=True, env=env,
                           capture_output=True)
            walls[jobs].append(time.perf_counter() - started)
            if repeat == 0:
                digests[jobs] = _cache_digest(cache)
            shutil.rmtree(cache)
    return {jobs: statistics.median(w) for jobs, w in walls.items()}, digests[1] == digests[2]


def time_steps(repeats: int) -> tuple[float, float, int]:
    """(median features seconds, median VCCS seconds) per real scan at one thread, and the scans used."""
    from redal_core.data.semantic_kitti import read_scan
    from redal_core.regions.cached import cue_options
    from redal_core.regions.features import region_features
    from redal_core.regions.vccs import VCCS_PRESETS, default_min_region_voxels, vccs
    from redal_core.threads import apply_threads

    apply_threads(1)
    params = dict(VCCS_PRESETS["semantickitti"])
    params["min_region_voxels"] = default_min_region_voxels(params["voxel_size"], params["seed_size"])
    options = cue_options("official", "semantickitti")
    scans = [read_scan(scan, label) for scan, label in _real_scans()]
    if not scans:
        return float("nan"), float("nan"), 0
    region_features(scans[0].xyz, None, k=50, **options)  # numba compiled / loaded once, not timed
    vccs(scans[0].xyz, None, **params)
    features, regions = [], []
    for _ in range(repeats):
        for scan in scans:
            started = time.perf_counter()
            region_features(scan.xyz, None, k=50, **options)
            features.append(time.perf_counter() - started)
            started = time.perf_counter()
            vccs(scan.xyz, None, **params)
            regions.append(time.perf_counter() - started)
    return statistics.median(features), statistics.median(regions), len(scans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scans", type=int, default=8, help="training scans per prepare (default 8)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per --jobs; the median is printed (default 3)")
    args = parser.parse_args()
    if args.scans < 4 or args.repeats < 1:
        parser.error(f"--scans must be >= 4 (scans after the workers' first ones) and --repeats >= 1, got "
                     f"{args.scans} and {args.repeats}")
    from redal_core.threads import available_cores

    print(f"benchmarks/prepare.py: {available_cores()} cores, load average {_load()} at the start "
          "(the lead re-runs this on a quiet machine)")
    with tempfile.TemporaryDirectory(prefix="redal-bench-prepare-") as folder:
        walls, identical = time_command(Path(folder), args.scans, args.repeats)
    from redal_core.workers import START_METHOD_ENV, requested_start_method

    method = requested_start_method()
    print(f"redal prepare --dataset synthetic-outdoor --scans {args.scans} (the whole command, fresh process and cache), "
          f"median of {args.repeats} runs: --jobs 1 {walls[1]:.1f} s, --jobs 2 {walls[2]:.1f} s: "
          f"{walls[1] / walls[2]:.2f}x (target >= 1.5x; workers: {START_METHOD_ENV}={method}, fork where safe); "
          f"caches byte-identical: {identical}")
    with tempfile.TemporaryDirectory(prefix="redal-bench-prepare-") as folder:
        work = Path(folder)
        root = work / "kitti"
        what = write_root(root, args.scans)
        from redal_core.data.prepare import prepare

        prepare("semantickitti", root, cache_dir=work / "warm-up", progress=False, log=lambda line: None)  # numba
        shutil.rmtree(work / "warm-up")
        measured = {
            "serial": time_prepare(root, 1, args.repeats, work, threads=1),  # one process, one thread
            1: time_prepare(root, 1, args.repeats, work),  # the kit's rule: max(1, cores - 1) threads
            2: time_prepare(root, 2, args.repeats, work),  # max(1, (cores - 1) // 2) threads per worker
        }
    print(f"redal prepare (read + VCCS semantickitti + cues k=50 official) of {what}, median of {args.repeats} runs:")
    for label, m in measured.items():
        name = "--jobs 1, REDAL_THREADS=1" if label == "serial" else f"--jobs {label}"
        ratio = ""
        if label == 2:
            ratio = (f"   {m['steady'] / measured[1]['steady']:.2f}x --jobs 1 (target >= {TARGET_SPEEDUP}x), "
                     f"{m['steady'] / measured['serial']['steady']:.2f}x one thread")
        elif label == 1:
            ratio = f"   {m['steady'] / measured['serial']['steady']:.2f}x one thread"
        print(f"  {name:<26} {m['steady']:5.2f} scans/s once running{ratio}")
        print(f"  {'':<26} {args.scans / m['wall']:5.2f} scans/s for the whole command ({m['wall']:.1f} s, of which "
              f"{m['startup']:.1f} s until every worker delivered its first scan); {m['per_scan']:.2f} s of worker time "
              f"per scan at {m['threads']} thread(s)")
    print(f"  (--jobs 1 runs at {measured[1]['threads']} thread(s) by the rule, which leaves one core free; --jobs 2 "
          "puts one process on every core it splits)")
    features, regions, used = time_steps(args.repeats)
    if used:
        print(f"features step (region_features, k=50 official, 1 thread): {features:.2f} s per scan; VCCS (semantickitti "
              f"preset): {regions:.2f} s per scan (medians of {args.repeats} x {used} real scans)")
    else:
        print(f"features step: skipped (real samples absent at {REAL})")
    per_scan = measured["serial"]["per_scan"]
    print(f"projection for SemanticKITTI's {KITTI_TRAIN_SCANS:,} training scans from the one-thread run's {per_scan:.2f} s "
          "of worker time per scan (one scan on one core; assumes linear scaling: one core per process, no shared-disk "
          "or memory limit):")
    print("  " + "   ".join(f"{p} process{'es' if p > 1 else ''}: {KITTI_TRAIN_SCANS * per_scan / p / 3600:6.2f} h"
                            for p in PROJECTED_PROCESSES))
    print(f"  (this machine at --jobs 1 / 2 once running, as measured: {KITTI_TRAIN_SCANS / measured[1]['steady'] / 3600:.2f}"
          f" h / {KITTI_TRAIN_SCANS / measured[2]['steady'] / 3600:.2f} h; load average now {_load()})")


if __name__ == "__main__":
    main()
