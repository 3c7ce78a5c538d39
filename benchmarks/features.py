"""The per-point region cues (k-NN k=50, colour discontinuity, surface variation): before, candidates, now.

    .venv/bin/python benchmarks/features.py [--repeats 5] [--room-points 1000000] [--threads 1]

Inputs: the real SemanticKITTI scans under ../shared/real_samples (xyz only: structure, no colour) and a
synthetic S3DIS-like conference room from ``generate_room`` (xyz + rgb: colour and structure). Per input
it prints, side by side, the median over ``--repeats`` runs (candidates interleaved within each run, so a
drift in the machine's load hits them alike; one numba / OpenMP thread by default) of:

* before: a faithful copy of the previous ``redal_core.regions.features`` (scipy cKDTree, k + 1 neighbours
  queried in chunks of 65,536 rows, then a numba kernel per chunk);
* candidates measured while choosing the new implementation: cKDTree with ``balanced_tree=False,
  compact_nodes=False`` and the points in Morton order (better cache locality; ``--all`` adds the same
  tree without the reordering, no faster than before: x1.05 on the scans, x1.10 on the room), pykdtree,
  and open3d's ``estimate_covariances`` (structure only); pykdtree and open3d are not dependencies of
  the kit: they are measured when importable and reported as missing otherwise;
* now: ``redal_core.regions.features.region_features`` (the exact grid k-NN of ``regions/knn.py``, fused
  with the cues).

On the kit's two-core machines it took 264 s without the optional libraries and 634 s with them and
``--all`` (``--repeats`` and ``--room-points`` shorten it). Columns: wall-clock and CPU seconds (``time.process_time``; the CPU time is the steadier one on a shared
machine), the ratio before / candidate of each, and the largest |difference| of the candidate's outputs
from the before's. The new implementation breaks ties among equidistant neighbours by index, where cKDTree
breaks them arbitrarily: for every point whose output differs from the before's by more than 1e-6 it
checks that the two neighbour lists have the same distances (an equidistant swap, not an error). Nothing
here asserts: it prints.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np
from scipy.spatial import cKDTree

try:  # optional candidates, imported before the thread limits are applied so that they are covered
    from pykdtree.kdtree import KDTree as PyKDTree
except ImportError:  # pragma: no cover - depends on the machine
    PyKDTree = None
try:
    import open3d
except Exception:  # pragma: no cover - ImportError, or a broken optional dependency of open3d
    open3d = None

from threadpoolctl import threadpool_limits

from redal_core.data.synthetic import generate_room
from redal_core.regions.features import region_features
from redal_core.regions.knn_grid import _quantize
from redal_core.threads import apply_threads, holding_threads

HERE = Path(__file__).resolve().parent
KITTI = HERE.parent.parent / "shared" / "real_samples" / "semantickitti"
K = 50
_CHUNK_ROWS = 1 << 16


# ---------------------------------------------------------------------------------------------------------
# before: the previous implementation, copied from redal_core/regions/features.py at 4ee0a2b (the kernel
# verbatim), with a ``tree`` argument so that the tree candidates reuse it
# ---------------------------------------------------------------------------------------------------------
def before(xyz, rgb, k=K, *, make_tree=cKDTree, query=None):
    """(color, structure) float32 as the previous region_features(xyz, rgb, k) computed them."""
    xyz = np.ascontiguousarray(xyz, dtype=np.float64)
    rgb = None if rgb is None else np.ascontiguousarray(rgb)
    n = xyz.shape[0]
    color = np.zeros(n, np.float32)
    structure = np.zeros(n, np.float32)
    tree = make_tree(xyz)
    query = query or (lambda tree, rows, kk: tree.query(rows, k=kk, workers=numba.get_num_threads())[1])
    colors = rgb if rgb is not None else np.zeros((1, 3), np.uint8)
    with holding_threads():
        for start in range(0, n, _CHUNK_ROWS):
            stop = min(start + _CHUNK_ROWS, n)
            idx = query(tree, xyz[start:stop], k + 1)
            _chunk_features(xyz, colors, idx, start, rgb is not None, True, color[start:stop],
                            structure[start:stop])
    return color, structure


@numba.njit(cache=True, parallel=True)
def _chunk_features(xyz, rgb, idx, start, want_color, want_structure, color_out, structure_out):
    m, kk = idx.shape
    for r in numba.prange(m):
        i = start + r
        if want_color:
            skip = kk - 1  # drop the farthest unless the point itself is in its list
            for j in range(kk):
                if idx[r, j] == i:
                    skip = j
                    break
            acc = 0.0
            for j in range(kk):
                if j == skip:
                    continue
                q = idx[r, j]
                for c in range(3):
                    acc += abs(np.float64(rgb[i, c]) - np.float64(rgb[q, c]))
            color_out[r] = acc / (255.0 * (kk - 1))
        if want_structure:
            mx = 0.0
            my = 0.0
            mz = 0.0
            for j in range(kk):
                q = idx[r, j]
                mx += xyz[q, 0]
                my += xyz[q, 1]
                mz += xyz[q, 2]
            mx /= kk
            my /= kk
            mz /= kk
            cxx = 0.0
            cxy = 0.0
            cxz = 0.0
            cyy = 0.0
            cyz = 0.0
            czz = 0.0
            for j in range(kk):
                q = idx[r, j]
                dx = xyz[q, 0] - mx
                dy = xyz[q, 1] - my
                dz = xyz[q, 2] - mz
                cxx += dx * dx
                cxy += dx * dy
                cxz += dx * dz
                cyy += dy * dy
                cyz += dy * dz
                czz += dz * dz
            structure_out[r] = _variation(cxx, cxy, cxz, cyy, cyz, czz)


@numba.njit(cache=True, inline="always")
def _variation(a00, a01, a02, a11, a12, a22):
    """Smallest eigenvalue over the trace of a symmetric positive semi-definite 3x3 matrix (closed form)."""
    trace = a00 + a11 + a22
    if trace <= 0.0:
        return 0.0
    q = trace / 3.0
    off = a01 * a01 + a02 * a02 + a12 * a12
    b00 = a00 - q
    b11 = a11 - q
    b22 = a22 - q
    p2 = b00 * b00 + b11 * b11 + b22 * b22 + 2.0 * off
    if p2 <= 1e-30 * trace * trace:  # isotropic: three equal eigenvalues
        return 1.0 / 3.0
    p = math.sqrt(p2 / 6.0)
    det = (
        b00 * (b11 * b22 - a12 * a12)
        - a01 * (a01 * b22 - a12 * a02)
        + a02 * (a01 * a12 - b11 * a02)
    )
    half = det / (2.0 * p * p * p)
    half = min(1.0, max(-1.0, half))
    phi = math.acos(half) / 3.0
    smallest = q + 2.0 * p * math.cos(phi + 2.0 * math.pi / 3.0)
    return min(1.0 / 3.0, max(0.0, smallest / trace))


@numba.njit(cache=True, parallel=True)
def _variations(cov):
    out = np.empty(cov.shape[0], np.float32)
    for i in numba.prange(cov.shape[0]):
        c = cov[i]
        out[i] = _variation(c[0, 0], c[0, 1], c[0, 2], c[1, 1], c[1, 2], c[2, 2])
    return out


# ---------------------------------------------------------------------------------------------------------
# candidates
# ---------------------------------------------------------------------------------------------------------
def unbalanced(xyz, rgb):
    return before(xyz, rgb, make_tree=lambda pts: cKDTree(pts, balanced_tree=False, compact_nodes=False))


def morton_order(xyz):
    """Permutation of the points by the Morton code of their cell on a 2**20 grid over the bounding cube."""
    xyz = np.ascontiguousarray(xyz, dtype=np.float64)
    lo = xyz.min(axis=0)
    extent = float((xyz.max(axis=0) - lo).max()) or 1.0
    _, keys = _quantize(xyz, lo, ((1 << 20) - 1) / extent)
    return np.argsort(keys, kind="stable")


def unbalanced_morton(xyz, rgb):
    order = morton_order(xyz)
    color, structure = unbalanced(xyz[order], None if rgb is None else rgb[order])
    out_c = np.empty_like(color)
    out_s = np.empty_like(structure)
    out_c[order] = color
    out_s[order] = structure
    return out_c, out_s


def pykdtree(xyz, rgb):
    return before(xyz, rgb, make_tree=lambda pts: PyKDTree(pts, leafsize=16),
                  query=lambda tree, rows, kk: tree.query(rows, k=kk)[1].astype(np.int64))


def open3d_covariances(xyz, rgb):
    cloud = open3d.geometry.PointCloud(open3d.utility.Vector3dVector(np.asarray(xyz, np.float64)))
    cloud.estimate_covariances(open3d.geometry.KDTreeSearchParamKNN(K + 1))
    return None, _variations(np.asarray(cloud.covariances))


def now(xyz, rgb):
    return region_features(xyz, rgb, k=K)


def candidates(every: bool) -> list[tuple[str, Callable | None, str]]:
    """(name, function or None when missing, note); ``every`` adds the candidates that lost to another."""
    return [
        ("before: cKDTree + numba kernel", before, ""),
        *([("cKDTree unbalanced, not compact", unbalanced, "")] if every else []),
        ("cKDTree unbalanced, Morton order", unbalanced_morton, ""),
        ("pykdtree + numba kernel", pykdtree if PyKDTree is not None else None, "pip install pykdtree"),
        ("open3d estimate_covariances", open3d_covariances if open3d is not None else None,
         "structure only; pip install open3d"),
        ("now: grid k-NN fused (regions/knn.py)", now, ""),
    ]


# ---------------------------------------------------------------------------------------------------------
def inputs(room_points: int):
    scans = sorted(KITTI.glob("sequences/*/velodyne/*.bin"))
    if not scans:
        print(f"no real scans under {KITTI}: timing the synthetic room only")
    for path in scans:
        xyz = np.fromfile(path, np.float32).reshape(-1, 4)[:, :3]
        yield f"kitti {path.parent.parent.name}/{path.stem}", xyz.astype(np.float64), None
    xyz, rgb, _, _ = generate_room(np.random.default_rng(0), kind="conferenceRoom", points=room_points)
    yield f"room {len(xyz) // 1000}k (rgb)", xyz, rgb


def timed(function, xyz, rgb, threads):
    with threadpool_limits(limits=threads):
        wall, cpu = time.perf_counter(), time.process_time()
        out = function(xyz, rgb)
        return time.perf_counter() - wall, time.process_time() - cpu, out


def max_diff(a, b):
    if a is None or b is None:
        return None
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


def tie_check(xyz, rgb, ref_out, new_out) -> str:
    """Points whose new output differs from the before's by more than 1e-6: is the new output the exact one
    (brute force, ties by index) there, and are the before's neighbours at the same distances?"""
    bad = np.zeros(len(xyz), bool)
    for a, b in zip(ref_out, new_out, strict=True):
        if a is not None and b is not None:
            bad |= np.abs(a.astype(np.float64) - b) > 1e-6
    if not bad.any():
        return "no point differs by more than 1e-6"
    rows = np.flatnonzero(bad)
    differ = len(rows)
    rows = rows[:: max(1, differ // 100)][:100]  # brute force per row: a sample of at most 100 on big clouds
    _, old = cKDTree(xyz).query(xyz[rows], k=K + 1)
    index = np.arange(len(xyz))
    exact = same = 0
    for r, i in enumerate(rows):
        d2 = ((xyz - xyz[i]) ** 2).sum(axis=1)
        d2[i] = -1.0
        ref = np.lexsort((index, d2))[: K + 1]
        eig = np.linalg.eigvalsh(np.cov(xyz[ref].T, bias=True))
        ok = abs(eig[0] / eig.sum() - new_out[1][i]) <= 1e-6 if eig.sum() > 0 else new_out[1][i] == 0
        if rgb is not None:
            paper = np.abs(rgb[ref[1:]].astype(np.float64) - rgb[i]).sum(axis=1).mean() / 255.0
            ok = ok and abs(paper - new_out[0][i]) <= 1e-6
        exact += bool(ok)
        same += bool(np.array_equal(np.sort(((xyz[old[r]] - xyz[i]) ** 2).sum(axis=1)),
                                    np.sort(((xyz[ref] - xyz[i]) ** 2).sum(axis=1))))
    return (f"{differ} points differ by more than 1e-6; of {len(rows)} of them checked, the new output equals "
            f"the brute-force exact one at {exact} and the before's neighbours have the exact list's distances "
            f"at {same} (equidistant neighbours that cKDTree ranks otherwise)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per candidate and input (median)")
    parser.add_argument("--room-points", type=int, default=1_000_000, help="points of the synthetic room")
    parser.add_argument("--threads", type=int, default=1, help="numba / OpenMP threads (default 1)")
    parser.add_argument("--all", action="store_true",
                        help="also cKDTree unbalanced without Morton order (no faster than before)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    apply_threads(args.threads)
    table = candidates(args.all)
    print(f"k = {K}; {args.repeats} runs per candidate, medians; {args.threads} thread(s) "
          f"(numba {numba.get_num_threads()})")
    for name, function, note in table:
        if function is None:
            print(f"  {name}: not measured ({note})")
    rng = np.random.default_rng(0)
    warm = rng.normal(size=(3000, 3))
    warm_rgb = rng.integers(0, 256, size=(3000, 3)).astype(np.uint8)
    for _, function, _ in table:  # compile the numba kernels outside the timings
        if function is not None:
            function(warm, warm_rgb)
            function(warm, None)
    print(f"numba threading layer: {numba.threading_layer()}")
    summary: dict[str, list[tuple[str, float, float, float, float, float]]] = {name: [] for name, _, _ in table}
    for label, xyz, rgb in inputs(args.room_points):
        times = {name: [] for name, _, _ in table}
        outs = {}
        for _ in range(args.repeats):
            for name, function, _ in table:
                if function is None:
                    continue
                wall, cpu, out = timed(function, xyz, rgb, args.threads)
                times[name].append((wall, cpu))
                outs[name] = out
        base = table[0][0]
        base_wall = statistics.median(t[0] for t in times[base])
        base_cpu = statistics.median(t[1] for t in times[base])
        print(f"\n{label}: {len(xyz)} points")
        print(f"  {'candidate':<40}{'wall s':>8}{'cpu s':>8}{'x wall':>8}{'x cpu':>8}"
              f"{'max|d| colour':>15}{'max|d| structure':>18}")
        for name, _, note in table:
            if not times[name]:
                continue
            wall = statistics.median(t[0] for t in times[name])
            cpu = statistics.median(t[1] for t in times[name])
            dc = max_diff(outs[base][0], outs[name][0]) if rgb is not None else None
            ds = max_diff(outs[base][1], outs[name][1])
            summary[name].append((label, wall, cpu, base_wall / wall, base_cpu / cpu, max(dc or 0.0, ds)))
            dc_s = "-" if dc is None else f"{dc:.2e}"
            print(f"  {name:<40}{wall:8.3f}{cpu:8.3f}{base_wall / wall:8.2f}{base_cpu / cpu:8.2f}"
                  f"{dc_s:>15}{ds:18.2e}" + (f"   ({note.split(';')[0]})" if ";" in note else ""))
        print("  now vs before: " + tie_check(xyz, rgb, outs[base], outs[table[-1][0]]))
    print("\nsummary: seconds per scan (median over the real scans), speed-up before / candidate, and the")
    print("largest |difference| from the before over every input; then the room")
    print(f"  {'candidate':<40}{'wall s':>8}{'cpu s':>8}{'x wall':>8}{'x cpu':>8}{'max|d|':>10}"
          f"{'room wall':>11}{'x wall':>8}{'x cpu':>8}")
    for name, rows in summary.items():
        if not rows:
            continue
        scans = [r for r in rows if r[0].startswith("kitti")] or rows
        room = [r for r in rows if r[0].startswith("room")]
        line = (f"  {name:<40}" + "".join(f"{statistics.median(r[c] for r in scans):8.3f}" for c in (1, 2))
                + "".join(f"{statistics.median(r[c] for r in scans):8.2f}" for c in (3, 4))
                + f"{max(r[5] for r in rows):10.1e}")
        if room:
            line += f"{room[0][1]:11.2f}{room[0][3]:8.2f}{room[0][4]:8.2f}"
        print(line)
    print(f"\n(benchmark wall time {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
