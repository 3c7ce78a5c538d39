"""Reader speed: parse a 1M-point S3DIS room and the real SemanticKITTI samples on one core.

Prints the median of several runs next to its target (S3DIS: <= 3 s per 1M-point room; SemanticKITTI:
reported per scan and as points/s) and, for reference, the cost of reading the same scans back from the
memory-mapped cache. Never asserts on time. Run: ``.venv/bin/python benchmarks/readers.py``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from redal_core.data.datasets import build_dataset  # noqa: E402
from redal_core.data.s3dis import S3DIS_CLASSES, read_room  # noqa: E402
from redal_core.data.semantic_kitti import load_label_config, read_scan  # noqa: E402

ROOM_POINTS = 1_000_000
ROOM_TARGET_S = 3.0
RUNS = 5
KITTI_TARGET_S_PER_POINT = ROOM_TARGET_S / ROOM_POINTS
REAL_SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "real_samples" / "semantickitti"


def _median_time(function: Callable[[], object], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _write_room(root: Path) -> Path:
    """A 1M-point room in the S3DIS layout: synthetic.write_synthetic_indoor if present, else numpy-written."""
    try:
        from redal_core.data.synthetic import write_synthetic_indoor

        return write_synthetic_indoor(root, scans=1, seed=0, points_per_room=ROOM_POINTS)[0]
    except Exception as error:  # an absent or unfinished generator must not stop the reader benchmark
        print(f"  (synthetic.write_synthetic_indoor unavailable: {error!r}; writing the room with numpy)")
    rng = np.random.default_rng(0)
    room = root / "numpy-written" / "Area_1" / "office_1"
    (room / "Annotations").mkdir(parents=True)
    per_file = ROOM_POINTS // 40
    for k in range(40):
        xyz = rng.uniform(0, 10, (per_file, 3))
        rgb = rng.integers(0, 256, (per_file, 3))
        cls = S3DIS_CLASSES[k % len(S3DIS_CLASSES)]
        np.savetxt(room / "Annotations" / f"{cls}_{k + 1}.txt", np.hstack([xyz, rgb]), fmt="%.3f %.3f %.3f %d %d %d")
    return room


def bench_s3dis(tmp: Path) -> None:
    print(f"S3DIS read_room, {ROOM_POINTS:,}-point room, median of {RUNS}:")
    room = _write_room(tmp / "s3dis")
    size = sum(p.stat().st_size for p in (room / "Annotations").iterdir())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # repairs (none expected here) would only add noise
        points = read_room(room).num_points
        seconds = _median_time(lambda: read_room(room))
    print(f"  {points:,} points, {size / 2**20:.1f} MiB of text in {room}")
    print(f"  read_room: {seconds:.3f} s   target <= {ROOM_TARGET_S:.1f} s   ratio target/measured = {ROOM_TARGET_S / seconds:.1f}x")


def bench_semantic_kitti(tmp: Path) -> None:
    print(f"SemanticKITTI read_scan, real samples, median of {RUNS}:")
    if not (REAL_SAMPLES / "sequences").is_dir():
        print(f"  skipped: real samples absent at {REAL_SAMPLES}")
        return
    pairs = sorted(
        (bin_path, bin_path.parent.parent / "labels" / f"{bin_path.stem}.label")
        for bin_path in (REAL_SAMPLES / "sequences").glob("*/velodyne/*.bin")
    )
    config = load_label_config()
    points = sum(read_scan(b, lab, config=config).num_points for b, lab in pairs)
    seconds = _median_time(lambda: [read_scan(b, lab, config=config) for b, lab in pairs])
    per_scan = seconds / len(pairs)
    print(f"  {len(pairs)} scans, {points:,} points")
    print(f"  read_scan: {1000 * per_scan:.2f} ms per scan, {points / seconds / 1e6:.1f} M points/s"
          f"   target <= {1000 * KITTI_TARGET_S_PER_POINT * points / len(pairs):.0f} ms per scan"
          f" (the S3DIS rate, {ROOM_POINTS:,} points / {ROOM_TARGET_S:.0f} s)")
    dataset = build_dataset("semantickitti", REAL_SAMPLES, "all", cache_dir=tmp / "cache")
    start = time.perf_counter()
    for i in range(len(dataset)):
        dataset[i]
    first = time.perf_counter() - start
    cached = _median_time(lambda: [dataset[i].labels.sum() for i in range(len(dataset))])
    print(f"  dataset first pass (hash + parse + cache write): {1000 * first / len(dataset):.2f} ms per scan")
    print(f"  dataset cached pass (memory map + touch labels; source keys memoized): {1000 * cached / len(dataset):.2f} ms per scan"
          f"   ratio parse/cached = {per_scan / (cached / len(dataset)):.1f}x")


def main() -> int:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        print(f"pinned to one core ({sorted(os.sched_getaffinity(0))})")
    else:
        print("os.sched_setaffinity unavailable: timings may use several cores")
    with tempfile.TemporaryDirectory(prefix="redal-bench-readers-") as tmp:
        bench_s3dis(Path(tmp))
        bench_semantic_kitti(Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
