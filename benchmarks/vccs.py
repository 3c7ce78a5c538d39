"""Our VCCS against PCL's pcl::SupervoxelClustering, and the k-NN features against a bare k-NN query.

    .venv/bin/python benchmarks/vccs.py [--repeats 5] [--feature-repeats 3] [--scans 6]

Inputs: (a) the real SemanticKITTI scans under ../shared/real_samples (SemanticKITTI preset), (b) a
synthetic S3DIS-layout conference room of 1M points written and read back through the S3DIS reader (S3DIS
preset). For every input it prints the median wall time of ``--repeats`` runs of ours (after one warm-up
run, so numba compilation is not counted) and of PCL's ``extract`` (timed inside the C++ harness
benchmarks/pcl_vccs/pcl_vccs.cpp), their ratio, the region counts, and weighted purity, boundary recall
and under-segmentation error against the semantic labels. PCL leaves some points unlabeled (label 0):
its metrics are computed over its labeled points, and the unlabeled share is printed.

The harness is compiled with g++ and pkg-config into benchmarks/build/ when PCL (Debian: libpcl-dev) is
installed; otherwise the script says so and times ours only. Nothing here asserts: it prints ratios.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from redal_core import IGNORE_INDEX
from redal_core.regions.features import region_features
from redal_core.regions.quality import boundary_recall, undersegmentation_error, weighted_purity
from redal_core.regions.vccs import VCCS_PRESETS, vccs

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
HARNESS = HERE / "pcl_vccs" / "pcl_vccs.cpp"
BINARY = HERE / "build" / "pcl_vccs"
KITTI = REPO.parent / "shared" / "real_samples" / "semantickitti"
PCL_MODULES = ("pcl_segmentation", "pcl_octree", "pcl_search", "pcl_kdtree", "pcl_common")


def build_harness() -> tuple[Path | None, str]:
    """Compile the PCL harness if needed; (binary, "") or (None, why not)."""
    if shutil.which("pkg-config") is None or shutil.which("g++") is None:
        return None, "g++ or pkg-config not found"
    modules = []
    for module in PCL_MODULES:
        found = subprocess.run(["pkg-config", "--list-all"], capture_output=True, text=True).stdout.split()
        names = sorted(name for name in found if name == module or name.startswith(module + "-"))
        if not names:
            return None, f"PCL is not installed (no pkg-config module {module}; Debian: apt-get install libpcl-dev)"
        modules.append(names[-1])
    if BINARY.exists() and BINARY.stat().st_mtime >= HARNESS.stat().st_mtime:
        return BINARY, ""
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", *modules], capture_output=True, text=True)
    if flags.returncode:
        return None, f"pkg-config failed: {flags.stderr.strip()}"
    print(f"compiling {HARNESS.relative_to(REPO)} against {modules[0]} ...", flush=True)
    command = ["g++", "-O2", "-std=c++17", "-o", str(BINARY), str(HARNESS), *flags.stdout.split()]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        return None, f"compiling the PCL harness failed:\n{done.stderr[-2000:]}"
    return BINARY, ""


def run_pcl(binary: Path, xyz, rgb, preset: dict, repeats: int, workdir: Path) -> tuple[float, np.ndarray]:
    """Median extract() seconds over ``repeats`` runs and the per-point labels (0 = unlabeled) of the last."""
    points = workdir / "points.bin"
    labels = workdir / "labels.bin"
    rows = np.zeros((len(xyz), 6), np.float32)
    rows[:, :3] = xyz
    if rgb is not None:
        rows[:, 3:] = rgb
    with open(points, "wb") as handle:
        np.array([len(xyz)], np.int64).tofile(handle)
        rows.tofile(handle)
    args = [preset["voxel_size"], preset["seed_size"], preset["color_weight"], preset["spatial_weight"],
            preset["normal_weight"], repeats]
    done = subprocess.run([str(binary), str(points), str(labels), *map(str, args)], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"PCL harness failed ({done.returncode}): {done.stderr[-1000:]}")
    times = [float(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("extract_s")]
    return statistics.median(times), np.fromfile(labels, np.uint32).astype(np.int64)


def time_ours(xyz, rgb, preset: dict, repeats: int) -> tuple[float, np.ndarray]:
    ids = vccs(xyz, rgb, **preset)  # warm-up: numba compiles (or loads its cache) on the first call
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        ids = vccs(xyz, rgb, **preset)
        times.append(time.perf_counter() - start)
    return statistics.median(times), ids


def metrics(xyz, region, labels) -> dict[str, float]:
    return {
        "regions": int(np.unique(region).size),
        "purity": weighted_purity(region, labels, ignore_index=IGNORE_INDEX),
        "br": boundary_recall(xyz, region, labels, k=8, ignore_index=IGNORE_INDEX),
        "use": undersegmentation_error(region, labels, ignore_index=IGNORE_INDEX),
    }


def kitti_inputs(limit: int):
    from redal_core.data.semantic_kitti import read_scan

    scans = sorted(KITTI.glob("sequences/*/velodyne/*.bin"))[:limit] if KITTI.is_dir() else []
    if not scans:
        print(f"skipping SemanticKITTI: no scans under {KITTI}")
    for path in scans:
        scan = read_scan(path, path.parent.parent / "labels" / (path.stem + ".label"))
        yield f"kitti {scan.name}", scan.xyz, None, scan.labels, dict(VCCS_PRESETS["semantickitti"])


def room_input(workdir: Path):
    from redal_core.data.s3dis import read_room
    from redal_core.data.synthetic import write_synthetic_indoor

    start = time.perf_counter()
    (room,) = write_synthetic_indoor(workdir / "s3dis", scans=1, seed=7, points_per_room=1_000_000)
    scan = read_room(room)
    print(f"(synthetic room {scan.name}: {len(scan.xyz)} points, written and read in {time.perf_counter() - start:.1f} s)")
    return f"room {scan.name}", scan.xyz, scan.rgb, scan.labels, dict(VCCS_PRESETS["s3dis"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="VCCS runs per input (median)")
    parser.add_argument("--feature-repeats", type=int, default=3, help="feature / k-NN runs (median)")
    parser.add_argument("--scans", type=int, default=6, help="real SemanticKITTI scans to use at most")
    args = parser.parse_args(argv)

    binary, why = build_harness()
    if binary is None:
        print(f"PCL harness unavailable: {why}\n-> timing ours only")
    header = (f"{'input':<30}{'points':>9}{'ours_s':>8}{'pcl_s':>8}{'ratio':>7}{'R_ours':>7}{'R_pcl':>6}"
              f"{'R_ratio':>8}{'pur_ours':>9}{'pur_pcl':>8}{'BR_ours':>8}{'BR_pcl':>7}{'USE_ours':>9}"
              f"{'USE_pcl':>8}{'pcl_unl':>8}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="redal-bench-vccs-") as tmp:
        workdir = Path(tmp)
        inputs = list(kitti_inputs(args.scans)) + [room_input(workdir)]
        print(header)
        for name, xyz, rgb, labels, preset in inputs:
            ours_s, ours = time_ours(xyz, rgb, preset, args.repeats)
            mine = metrics(xyz, ours, labels)
            line = f"{name:<30}{len(xyz):>9}{ours_s:>8.3f}"
            pcl = None
            if binary is not None:
                try:
                    pcl_s, pcl = run_pcl(binary, xyz, rgb, preset, args.repeats, workdir)
                except RuntimeError as error:
                    print(f"{name}: {error}")
            if pcl is not None:
                kept = pcl > 0
                theirs = metrics(xyz[kept], pcl[kept], labels[kept])
                line += (f"{pcl_s:>8.3f}{ours_s / pcl_s:>7.2f}{mine['regions']:>7}{theirs['regions']:>6}"
                         f"{mine['regions'] / theirs['regions']:>8.2f}{mine['purity']:>9.3f}{theirs['purity']:>8.3f}"
                         f"{mine['br']:>8.3f}{theirs['br']:>7.3f}{mine['use']:>9.3f}{theirs['use']:>8.3f}"
                         f"{1 - kept.mean():>8.3f}")
                rows.append((name, ours_s / pcl_s, mine, theirs))
            else:
                line += (f"{'-':>8}{'-':>7}{mine['regions']:>7}{'-':>6}{'-':>8}{mine['purity']:>9.3f}{'-':>8}"
                         f"{mine['br']:>8.3f}{'-':>7}{mine['use']:>9.3f}{'-':>8}{'-':>8}")
            print(line, flush=True)
        room_xyz, room_rgb = inputs[-1][1], inputs[-1][2]

    if rows:
        print("\ntargets (per input): time ratio <= 2 (aim 1); purity >= PCL's - 0.01; region count within 15 % of PCL's")
        for name, ratio, mine, theirs in rows:
            checks = [
                ("time", ratio <= 2.0),
                ("purity", mine["purity"] >= theirs["purity"] - 0.01),
                ("count", abs(mine["regions"] / theirs["regions"] - 1) <= 0.15),
            ]
            print(f"  {name:<30}" + "  ".join(f"{what}:{'met' if ok else 'MISSED'}" for what, ok in checks))

    feature_benchmark(room_xyz, room_rgb, args.feature_repeats)
    return 0


def feature_benchmark(xyz: np.ndarray, rgb: np.ndarray, repeats: int, k: int = 50) -> None:
    """Colour discontinuity + surface variation (one query) against the bare k-NN query they need."""
    xyz64 = np.asarray(xyz, np.float64)
    region_features(xyz64[:2000], rgb[:2000], k=k)  # warm-up: compile the numba kernel
    bare, ours = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        cKDTree(xyz64).query(xyz64, k=k + 1, workers=-1)
        bare.append(time.perf_counter() - start)
        start = time.perf_counter()
        region_features(xyz64, rgb, k=k)
        ours.append(time.perf_counter() - start)
    bare_s, ours_s = statistics.median(bare), statistics.median(ours)
    print(f"\nfeatures on {len(xyz)} points (k={k}, median of {repeats}): colour + structure {ours_s:.2f} s, "
          f"bare cKDTree build + query(k={k + 1}, workers=-1) {bare_s:.2f} s, ratio {ours_s / bare_s:.2f} "
          f"(target <= 2)")


if __name__ == "__main__":
    sys.exit(main())
