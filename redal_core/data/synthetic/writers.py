"""The two dataset writers and their file formats.

* ``write_synthetic_indoor``: rooms (``indoor.generate_room``) in the S3DIS layout
  ``root/Area_N/<room>/Annotations/<class>_<k>.txt`` plus ``root/Area_N/<room>/<room>.txt``, lines
  ``x y z r g b`` (``format_xyzrgb``); ``assign_areas`` puts rooms in Area_1..Area_6.
* ``write_synthetic_outdoor``: sweeps (``scanner.generate_sweep``) in the SemanticKITTI layout
  ``root/sequences/XX/velodyne/NNNNNN.bin`` and ``labels/NNNNNN.label``; ``assign_sequences`` puts sweeps
  in sequences 00..10.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from redal_core.data.s3dis import S3DIS_CLASSES

from .indoor import generate_room
from .scanner import generate_sweep
from .validation import _check_int, _check_root

#: The area held out for validation in the S3DIS protocol.
VALIDATION_AREA = 5
#: The sequence held out for validation in the SemanticKITTI protocol.
VALIDATION_SEQUENCE = 8


_ROOM_KINDS = (
    "office", "hallway", "conferenceRoom", "office", "lounge", "office",
    "storage", "hallway", "copyRoom", "office", "pantry", "conferenceRoom",
)  # fmt: skip


def write_synthetic_indoor(
    root: str | os.PathLike[str], *, scans: int = 12, seed: int = 0, points_per_room: int = 40_000
) -> list[Path]:
    """Write ``scans`` procedural rooms under ``root`` in the S3DIS layout; returns the room folders.

    Rooms go to Area_1..Area_6 (``assign_areas``): Area_5 holds about 1/6 of them and at least one.
    Each room holds ``points_per_room`` points, uniformly dense over its visible surfaces.
    Same arguments -> byte-identical files.
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
    written = []
    for i, area in enumerate(areas):
        kind = _ROOM_KINDS[(i + offset) % len(_ROOM_KINDS)]
        counters[(area, kind)] = counters.get((area, kind), 0) + 1
        room_name = f"{kind}_{counters[(area, kind)]}"
        xyz, rgb, labels, instances = generate_room(
            np.random.default_rng(children[i]), kind=kind, points=points_per_room
        )
        written.append(_write_room(root / f"Area_{area}" / room_name, xyz, rgb, labels, instances))
    _warn_stale(root, [p.parent for p in root.glob("Area_*/*/Annotations")], written, "room(s)")
    return written


def write_synthetic_outdoor(
    root: str | os.PathLike[str],
    *,
    scans: int = 12,
    seed: int = 0,
    beams: int = 64,
    azimuth_steps: int = 1920,
) -> list[Path]:
    """Write ``scans`` ray-cast LiDAR sweeps under ``root`` in the SemanticKITTI layout; returns the .bin paths.

    Sweeps go to sequences 00..10 (``assign_sequences``): 08 holds about 1/10 of them and at least one.
    ``beams`` x ``azimuth_steps`` rays per sweep (64 x 1920 gives roughly 100-120k points after misses
    and dropout). Same arguments -> byte-identical files.
    """
    root = _check_root(root)
    _check_int("scans", scans, 1)
    _check_int("seed", seed, 0)
    _check_int("beams", beams, 2, 256)
    _check_int("azimuth_steps", azimuth_steps, 64, 8192)
    sequences = assign_sequences(scans)
    children = np.random.SeedSequence(seed).spawn(scans)
    frames: dict[int, int] = {}
    written = []
    for i, sequence in enumerate(sequences):
        frame = frames.get(sequence, 0)
        frames[sequence] = frame + 1
        points, labels = generate_sweep(
            np.random.default_rng(children[i]), beams=beams, azimuth_steps=azimuth_steps
        )
        folder = root / "sequences" / f"{sequence:02d}"
        (folder / "velodyne").mkdir(parents=True, exist_ok=True)
        (folder / "labels").mkdir(parents=True, exist_ok=True)
        bin_path = folder / "velodyne" / f"{frame:06d}.bin"
        points.astype("<f4").tofile(bin_path)
        labels.astype("<u4").tofile(folder / "labels" / f"{frame:06d}.label")
        written.append(bin_path)
    _warn_stale(root, list(root.glob("sequences/*/velodyne/*.bin")), written, "sweep(s)")
    return written


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
