"""The two dataset writers and their file formats.

* ``write_synthetic_indoor``: rooms (``indoor.generate_room``) in the S3DIS layout
  ``root/Area_N/<room>/Annotations/<class>_<k>.txt`` plus ``root/Area_N/<room>/<room>.txt``, lines
  ``x y z r g b`` (``format_xyzrgb``); ``assign_areas`` puts rooms in Area_1..Area_6.
* ``write_synthetic_outdoor``: sweeps (``scanner.generate_sweep``) in the SemanticKITTI layout
  ``root/sequences/XX/velodyne/NNNNNN.bin`` and ``labels/NNNNNN.label``; ``assign_sequences`` puts sweeps
  in sequences 00..10. With ``frames_per_drive`` the sweeps are the frames of drives (``drives``), one
  sequence per drive, each with KITTI's ``poses.txt``, ``calib.txt`` and ``times.txt``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np

from redal_core.data.s3dis import S3DIS_CLASSES
from redal_core.data.semantic_kitti import CALIB_FILE, POSES_FILE

from .drives import MAX_DRIVE_FRAMES, generate_drive, rigid_inverse
from .indoor import generate_room
from .scanner import generate_sweep
from .validation import _check_int, _check_root

#: The area held out for validation in the S3DIS protocol.
VALIDATION_AREA = 5
#: The sequence held out for validation in the SemanticKITTI protocol.
VALIDATION_SEQUENCE = 8
#: Sequence folders of the train and val splits (00-10): at most this many drives.
MAX_DRIVES = 11

#: The ``calib.txt`` written with every drive: KITTI odometry's calibration of sequences 00-02, the camera
#: projections P0..P3 and Tr (velodyne -> left camera: x_cam = -y_velo, y_cam = -z_velo, z_cam = x_velo,
#: up to small angles, and an offset of -0.29 m), its rotation made orthonormal (KITTI's is so to ~1e-7).
KITTI_CALIB: dict[str, str] = {
    "P0": "7.188560000000e+02 0.000000000000e+00 6.071928000000e+02 0.000000000000e+00 0.000000000000e+00 "
    "7.188560000000e+02 1.852157000000e+02 0.000000000000e+00 0.000000000000e+00 0.000000000000e+00 "
    "1.000000000000e+00 0.000000000000e+00",
    "P1": "7.188560000000e+02 0.000000000000e+00 6.071928000000e+02 -3.861448000000e+02 0.000000000000e+00 "
    "7.188560000000e+02 1.852157000000e+02 0.000000000000e+00 0.000000000000e+00 0.000000000000e+00 "
    "1.000000000000e+00 0.000000000000e+00",
    "P2": "7.188560000000e+02 0.000000000000e+00 6.071928000000e+02 4.538225000000e+01 0.000000000000e+00 "
    "7.188560000000e+02 1.852157000000e+02 -1.130887000000e-01 0.000000000000e+00 0.000000000000e+00 "
    "1.000000000000e+00 3.779761000000e-03",
    "P3": "7.188560000000e+02 0.000000000000e+00 6.071928000000e+02 -3.372877000000e+02 0.000000000000e+00 "
    "7.188560000000e+02 1.852157000000e+02 2.369057000000e+00 0.000000000000e+00 0.000000000000e+00 "
    "1.000000000000e+00 4.915215000000e-03",
    "Tr": "4.276798331444e-04 -9.999672285049e-01 -8.084491711954e-03 -1.198459927713e-02 -7.210626618910e-03 "
    "8.081198540402e-03 -9.999413488270e-01 -5.403984729748e-02 9.999739116366e-01 4.859490003591e-04 "
    "-7.206934150252e-03 -2.921968648686e-01",
}
#: Per drive, the time stamp of each frame (seconds, 10 Hz like KITTI's scanner).
TIMES_FILE = "times.txt"
_FRAME_PERIOD = 0.1
_SEQUENCE_FILES = (POSES_FILE, CALIB_FILE, TIMES_FILE)


_ROOM_KINDS = (
    "office", "hallway", "conferenceRoom", "office", "lounge", "office",
    "storage", "hallway", "copyRoom", "office", "pantry", "conferenceRoom",
)  # fmt: skip


def write_synthetic_indoor(
    root: str | os.PathLike[str],
    *,
    scans: int = 12,
    seed: int = 0,
    points_per_room: int = 40_000,
    executor: Executor | None = None,
) -> list[Path]:
    """Write ``scans`` procedural rooms under ``root`` in the S3DIS layout; returns the room folders.

    Rooms go to Area_1..Area_6 (``assign_areas``): Area_5 holds about 1/6 of them and at least one.
    Each room holds ``points_per_room`` points, uniformly dense over its visible surfaces.
    Same arguments -> byte-identical files. executor : writes the rooms on its workers
    (``executor.map``; a ``concurrent.futures`` process pool), the same files as in this process.
    """
    root = _check_root(root)
    _check_int("scans", scans, 1)
    _check_int("seed", seed, 0)
    _check_int("points_per_room", points_per_room, 100)
    areas = assign_areas(scans)
    master = np.random.default_rng(np.random.SeedSequence(seed))
    offset = int(master.integers(len(_ROOM_KINDS)))
    children = np.random.SeedSequence(seed).spawn(scans)
    counters: dict[tuple[int, str], int] = {}
    jobs = []
    for i, area in enumerate(areas):
        kind = _ROOM_KINDS[(i + offset) % len(_ROOM_KINDS)]
        counters[(area, kind)] = counters.get((area, kind), 0) + 1
        jobs.append((root / f"Area_{area}" / f"{kind}_{counters[(area, kind)]}", kind, children[i], points_per_room))
    written = _map(executor, _room_job, jobs)
    _warn_stale(root, [p.parent for p in root.glob("Area_*/*/Annotations")], written, "room(s)")
    return written


def _room_job(job: tuple[Path, str, np.random.SeedSequence, int]) -> Path:
    """Generate and write one room: (folder, kind, seed sequence, points) -> its folder."""
    folder, kind, child, points = job
    xyz, rgb, labels, instances = generate_room(np.random.default_rng(child), kind=kind, points=points)
    return _write_room(folder, xyz, rgb, labels, instances)


def _map(executor: Executor | None, function: Callable[[Any], Any], jobs: list[Any]) -> list[Any]:
    """``function`` over ``jobs`` in order, here or on ``executor``'s workers; the warnings a job raised are
    raised again here (from a worker they would only reach its stderr), as from the writer's caller."""
    calls = [(function, job) for job in jobs]
    outcomes = map(_recorded, calls) if executor is None else executor.map(_recorded, calls)
    results = []
    for result, caught in outcomes:
        for category, message in caught:
            warnings.warn(message, category, stacklevel=3)
        results.append(result)
    return results


def _recorded(call: tuple[Callable[[Any], Any], Any]) -> tuple[Any, list[tuple[type[Warning], str]]]:
    """``function(job)`` and the (category, message) of every warning it raised."""
    function, job = call
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function(job)
    return result, [(w.category, str(w.message)) for w in caught]


def write_synthetic_outdoor(
    root: str | os.PathLike[str],
    *,
    scans: int = 12,
    seed: int = 0,
    beams: int = 64,
    azimuth_steps: int = 1920,
    frames_per_drive: int | None = None,
    executor: Executor | None = None,
) -> list[Path]:
    """Write ``scans`` ray-cast LiDAR sweeps under ``root`` in the SemanticKITTI layout; returns the .bin paths.

    ``beams`` x ``azimuth_steps`` rays per sweep (64 x 1920 gives roughly 100-120k points after misses
    and dropout). Same arguments -> byte-identical files.

    ``frames_per_drive=None``: every sweep is an independent street (``generate_sweep`` on
    ``SeedSequence(seed).spawn(scans)[i]``), sweeps go to sequences 00..10 (``assign_sequences``): 08 holds
    about 1/10 of them and at least one; no poses are written.

    ``frames_per_drive=F``: the sweeps are consecutive frames of ``ceil(scans / F)`` drives (at most
    ``MAX_DRIVES``; the last may be shorter), drive k being ``generate_drive(default_rng(SeedSequence(seed)
    .spawn(drives)[k]), frames=...)``: one static street per drive (its moving objects stand still), one
    sequence folder per drive (``assign_sequences(drives)``: the first drive is validation sequence 08),
    frames 000000.. in order. Each sequence gets KITTI's ``poses.txt`` (the left camera's pose per frame in
    frame 0's camera coordinates), ``calib.txt`` (``KITTI_CALIB``) and ``times.txt`` (10 Hz), so that
    ``inv(Tr) @ pose @ Tr`` is the drive's ``world_poses()`` (the LiDAR of frame j -> the LiDAR of frame 0).

    executor : generates the sweeps (the drives) on its workers (``executor.map``; a ``concurrent.futures``
    process pool), the same files as in this process.
    """
    root = _check_root(root)
    _check_int("scans", scans, 1)
    _check_int("seed", seed, 0)
    _check_int("beams", beams, 2, 256)
    _check_int("azimuth_steps", azimuth_steps, 64, 8192)
    if frames_per_drive is not None:
        _check_int("frames_per_drive", frames_per_drive, 1, MAX_DRIVE_FRAMES)
        return _write_drives(root, scans, seed, beams, azimuth_steps, frames_per_drive, executor)
    sequences = assign_sequences(scans)
    children = np.random.SeedSequence(seed).spawn(scans)
    frames: dict[int, int] = {}
    jobs = []
    for i, sequence in enumerate(sequences):
        frame = frames.get(sequence, 0)
        frames[sequence] = frame + 1
        jobs.append((root / "sequences" / f"{sequence:02d}", frame, children[i], beams, azimuth_steps))
    written = _map(executor, _sweep_job, jobs)
    _warn_stale(root, list(root.glob("sequences/*/velodyne/*.bin")), written, "sweep(s)")
    _remove_sequence_files(root, sorted(set(sequences)))
    return written


def _write_drives(
    root: Path, scans: int, seed: int, beams: int, azimuth_steps: int, frames_per_drive: int,
    executor: Executor | None,
) -> list[Path]:
    drives = -(-scans // int(frames_per_drive))
    if drives > MAX_DRIVES:
        raise ValueError(
            f"scans={scans} in drives of frames_per_drive={frames_per_drive} make {drives} drives, but each drive "
            f"is one sequence and there are {MAX_DRIVES} (00-10); use frames_per_drive >= {-(-scans // MAX_DRIVES)}"
        )
    children = np.random.SeedSequence(seed).spawn(drives)
    jobs = [
        (root / "sequences" / f"{sequence:02d}", min(int(frames_per_drive), scans - k * int(frames_per_drive)),
         children[k], beams, azimuth_steps)
        for k, sequence in enumerate(assign_sequences(drives))
    ]
    written = [path for paths in _map(executor, _drive_job, jobs) for path in paths]
    _warn_stale(root, list(root.glob("sequences/*/velodyne/*.bin")), written, "sweep(s)")
    return written


def _sweep_job(job: tuple[Path, int, np.random.SeedSequence, int, int]) -> Path:
    """Generate and write one independent sweep: (sequence folder, frame, seed sequence, beams, azimuth
    steps) -> its .bin path."""
    folder, frame, child, beams, azimuth_steps = job
    points, labels = generate_sweep(np.random.default_rng(child), beams=beams, azimuth_steps=azimuth_steps)
    return _write_sweep(folder, frame, points, labels)


def _drive_job(job: tuple[Path, int, np.random.SeedSequence, int, int]) -> list[Path]:
    """Generate and write one drive into its sequence folder: (folder, frames, seed sequence, beams, azimuth
    steps) -> its frames' .bin paths, in order (the pose, calibration and time files beside them)."""
    folder, frames, child, beams, azimuth_steps = job
    drive = generate_drive(np.random.default_rng(child), frames=frames, beams=beams, azimuth_steps=azimuth_steps)
    written = [_write_sweep(folder, j, *drive.sweep(j)) for j in range(frames)]
    _write_sequence_files(folder, drive.world_poses())
    return written


def _write_sweep(folder: Path, frame: int, points: np.ndarray, labels: np.ndarray) -> Path:
    """``folder/velodyne/NNNNNN.bin`` (float32 x, y, z, remission) and ``folder/labels/NNNNNN.label`` (uint32)."""
    (folder / "velodyne").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    bin_path = folder / "velodyne" / f"{frame:06d}.bin"
    points.astype("<f4").tofile(bin_path)
    labels.astype("<u4").tofile(folder / "labels" / f"{frame:06d}.label")
    return bin_path


def kitti_velodyne_to_camera() -> np.ndarray:
    """(4, 4) float64 ``Tr`` of ``KITTI_CALIB`` (velodyne -> left camera), parsed from its text."""
    tr = np.eye(4)
    tr[:3, :] = np.array([float(v) for v in KITTI_CALIB["Tr"].split()]).reshape(3, 4)
    return tr


def _write_sequence_files(folder: Path, lidar_poses: np.ndarray) -> None:
    """KITTI's per-sequence files for LiDAR-to-world poses (F, 4, 4): camera poses ``Tr @ P @ inv(Tr)``."""
    tr = kitti_velodyne_to_camera()
    camera = tr @ lidar_poses @ rigid_inverse(tr)
    camera[(lidar_poses == np.eye(4)).all(axis=(1, 2))] = np.eye(4)  # frame 0 exactly, as KITTI writes it
    rows = (" ".join(f"{v + 0.0:.12e}" for v in pose[:3].ravel()) for pose in camera)  # + 0.0: no "-0"
    (folder / POSES_FILE).write_text("".join(row + "\n" for row in rows), encoding="ascii")
    calib = "".join(f"{key}: {values}\n" for key, values in KITTI_CALIB.items())
    (folder / CALIB_FILE).write_text(calib, encoding="ascii")
    times = "".join(f"{_FRAME_PERIOD * k:.6e}\n" for k in range(len(lidar_poses)))
    (folder / TIMES_FILE).write_text(times, encoding="ascii")


def _remove_sequence_files(root: Path, sequences: list[int]) -> None:
    """Independent sweeps have no poses: remove pose files an earlier drive left in their sequences."""
    stale = [
        root / "sequences" / f"{s:02d}" / name
        for s in sequences
        for name in _SEQUENCE_FILES
        if (root / "sequences" / f"{s:02d}" / name).is_file()
    ]
    for path in stale:
        path.unlink()
    if stale:
        warnings.warn(
            f"{root}: removed {len(stale)} pose / calibration file(s) of an earlier drive (first: {stale[0]}); "
            "independent sweeps have no poses",
            stacklevel=3,
        )


def assign_areas(scans: int) -> list[int]:
    """Area number (1..6) of each of ``scans`` rooms.

    Area_5 gets ``max(1, round(scans / 6))`` rooms (the first ones); with ``scans >= 6`` the others go
    round-robin over Areas 1, 2, 3, 4, 6 (every area non-empty), with fewer all go to Area_1.
    """
    _check_int("scans", scans, 1)
    n_val = 1 if scans < 6 else max(1, round(scans / 6))
    others = [1, 2, 3, 4, 6] if scans >= 6 else [1]
    return [VALIDATION_AREA] * n_val + [others[j % len(others)] for j in range(scans - n_val)]


def assign_sequences(scans: int) -> list[int]:
    """Sequence number (0..10) of each of ``scans`` sweeps: 08 gets ``max(1, round(scans / 10))``, the
    others go round-robin over 00-07, 09, 10."""
    _check_int("scans", scans, 1)
    n_val = max(1, round(scans / 10))
    others = [0, 1, 2, 3, 4, 5, 6, 7, 9, 10]
    return [VALIDATION_SEQUENCE] * n_val + [others[j % len(others)] for j in range(scans - n_val)]


def format_xyzrgb(xyz: np.ndarray, rgb: np.ndarray) -> bytes:
    """Lines ``"%.3f %.3f %.3f %d %d %d\\n"`` for every row, formatted without a Python loop over rows.

    xyz : (N, 3) float (rounded half-to-even to millimetres), rgb : (N, 3) integers 0..255.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    rgb = np.asarray(rgb)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or rgb.shape != xyz.shape:
        raise ValueError(f"format_xyzrgb: need xyz (N, 3) and rgb (N, 3), got {xyz.shape} and {rgb.shape}")
    if not np.isfinite(xyz).all():
        raise ValueError("format_xyzrgb: xyz holds NaN/inf")
    if rgb.size and (rgb.min() < 0 or rgb.max() > 255):
        raise ValueError(f"format_xyzrgb: colours must be in 0..255, got {rgb.min()}..{rgb.max()}")
    mm = np.rint(xyz * 1000.0).astype(np.int64)
    colours = rgb.astype(np.int64)
    chunks = []
    for start in range(0, len(mm), 262_144):
        stop = start + 262_144
        columns = [(mm[start:stop, j], 3) for j in range(3)] + [(colours[start:stop, j], 0) for j in range(3)]
        chunks.append(_format_rows(columns))
    return b"".join(chunks)


def _warn_stale(root: Path, found: list[Path], written: list[Path], what: str) -> None:
    """Warn when ``root`` holds scans this call did not write (a dataset reader would mix them in)."""
    stale = sorted(set(found) - set(written))
    if stale:
        warnings.warn(
            f"{root}: {len(stale)} {what} not written by this call were already there (first: {stale[0]}); "
            "they are left in place and will be read as part of the dataset",
            stacklevel=3,
        )


def _format_rows(columns: list[tuple[np.ndarray, int]]) -> bytes:
    """Space-separated right-aligned fixed-point columns (int values scaled by 10**decimals), one line a row."""
    blocks, masks = [], []
    n = len(columns[0][0])
    for j, (values, decimals) in enumerate(columns):
        negative = values < 0
        magnitude = np.abs(values)
        integer, fraction = np.divmod(magnitude, 10**decimals)
        digits = np.ones(n, np.int64)
        power = 10
        while n and (integer >= power).any():
            digits += integer >= power
            power *= 10
        width = int(digits.max(initial=1)) + 1 + (decimals + 1 if decimals else 0)
        chars = np.zeros((n, width), np.uint8)
        mask = np.zeros((n, width), bool)
        pos = width - 1
        for _ in range(decimals):
            chars[:, pos] = 48 + fraction % 10
            mask[:, pos] = True
            fraction = fraction // 10
            pos -= 1
        if decimals:
            chars[:, pos] = ord(".")
            mask[:, pos] = True
            pos -= 1
        for k in range(pos + 1):
            column = pos - k
            present = k < digits
            chars[:, column] = np.where(present, 48 + integer % 10, ord("-"))
            mask[:, column] = present | (negative & (k == digits))
            integer = integer // 10
        blocks.append(chars)
        masks.append(mask)
        separator = ord("\n") if j == len(columns) - 1 else ord(" ")
        blocks.append(np.full((n, 1), separator, np.uint8))
        masks.append(np.ones((n, 1), bool))
    chars = np.concatenate(blocks, axis=1)
    mask = np.concatenate(masks, axis=1)
    return chars[mask].tobytes()


def _write_room(
    folder: Path, xyz: np.ndarray, rgb: np.ndarray, labels: np.ndarray, instances: np.ndarray
) -> Path:
    """Write one room: ``Annotations/<class>_<k>.txt`` per instance (k from 1 per class) and ``<room>.txt``."""
    annotations = folder / "Annotations"
    annotations.mkdir(parents=True, exist_ok=True)
    before = set(annotations.glob("*.txt"))
    text = format_xyzrgb(xyz, rgb)
    line_ends = np.flatnonzero(np.frombuffer(text, np.uint8) == ord("\n"))
    starts = np.concatenate([[0], line_ends[:-1] + 1])
    # points arrive grouped by instance, instances ordered by class: runs are contiguous
    boundaries = np.flatnonzero(np.diff(instances)) + 1
    run_starts = np.concatenate([[0], boundaries])
    run_stops = np.concatenate([boundaries, [len(instances)]])
    per_class: dict[int, int] = {}
    for a, b in zip(run_starts, run_stops, strict=True):
        cls = int(labels[a])
        per_class[cls] = per_class.get(cls, 0) + 1
        byte_start = int(starts[a])
        byte_stop = int(line_ends[b - 1]) + 1
        path = annotations / f"{S3DIS_CLASSES[cls]}_{per_class[cls]}.txt"
        path.write_bytes(text[byte_start:byte_stop])
        before.discard(path)
    (folder / f"{folder.name}.txt").write_bytes(text)
    if before:  # objects of an earlier generation of this room would be read as part of it
        for path in sorted(before):
            path.unlink()
        warnings.warn(
            f"{annotations}: removed {len(before)} annotation file(s) left from an earlier generation of this "
            f"room (e.g. {min(before).name})",
            stacklevel=3,
        )
    return folder
