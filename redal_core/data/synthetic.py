"""Procedural datasets written in the ORIGINAL on-disk formats, so the real readers read them.

* ``write_synthetic_indoor``: rooms in the Stanford3dDataset_v1.2_Aligned_Version layout
  ``root/Area_N/<room>/Annotations/<class>_<k>.txt`` plus the room file ``root/Area_N/<room>/<room>.txt``
  (lines ``x y z r g b``, 3 decimals). Points are sampled on the SURFACES of planes, boxes, prisms and
  discs (offices, conference rooms, hallways, lounges, ...; box or L-shaped), coloured per class with
  texture (wood grain, carpet, ceiling tiles, books, boards with frames, glass), lit, jittered (~5 mm),
  with occlusion holes (behind/under furniture, above beams) and random dropout blobs.
* ``write_synthetic_outdoor``: sweeps of a rotating 64-beam scanner (HDL-64E-like elevations, sensor at
  1.73 m) ray-cast against an analytic street scene, in the SemanticKITTI layout
  ``root/sequences/XX/velodyne/NNNNNN.bin`` (float32 x, y, z, remission) and ``labels/NNNNNN.label``
  (uint32: raw semantic id in the low 16 bits, instance id in the high 16 bits for things).

Both are deterministic: the same arguments give byte-identical files. Scan ``i`` is generated from
``np.random.SeedSequence(seed).spawn(scans)[i]``; the split assignment is a pure function of ``scans``.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from redal_core.data.s3dis import S3DIS_CLASSES

# --------------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------------

#: The area held out for validation in the S3DIS protocol.
VALIDATION_AREA = 5
#: The sequence held out for validation in the SemanticKITTI protocol.
VALIDATION_SEQUENCE = 8

#: Raw SemanticKITTI label ids (``labels`` of semantic-kitti.yaml) used by the outdoor generator.
KITTI_RAW_IDS: dict[str, int] = {
    "unlabeled": 0,
    "car": 10,
    "bicycle": 11,
    "motorcycle": 15,
    "truck": 18,
    "other-vehicle": 20,
    "person": 30,
    "bicyclist": 31,
    "motorcyclist": 32,
    "road": 40,
    "parking": 44,
    "sidewalk": 48,
    "other-ground": 49,
    "building": 50,
    "fence": 51,
    "vegetation": 70,
    "trunk": 71,
    "terrain": 72,
    "pole": 80,
    "traffic-sign": 81,
}
#: Raw ids that carry an instance id in the high 16 bits.
KITTI_THING_IDS: frozenset[int] = frozenset({10, 11, 15, 18, 20, 30, 31, 32})

#: Sensor height above the road (KITTI's Velodyne mount), metres.
SENSOR_HEIGHT = 1.73
#: Maximum range of the simulated scanner, metres.
MAX_RANGE = 80.0

_CLS = {name: i for i, name in enumerate(S3DIS_CLASSES)}
_PLANAR = (_CLS["ceiling"], _CLS["floor"], _CLS["wall"])
_ROOM_KINDS = (
    "office", "hallway", "conferenceRoom", "office", "lounge", "office",
    "storage", "hallway", "copyRoom", "office", "pantry", "conferenceRoom",
)  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Validation and writing helpers
# --------------------------------------------------------------------------------------------------


def _check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum or (maximum is not None and value > maximum):
        allowed = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise ValueError(f"{name} must be {allowed}, got {value}")


def _check_root(root: object) -> Path:
    if not isinstance(root, (str, os.PathLike)) or str(root) == "":
        raise ValueError(f"root must be a non-empty path, got {root!r}")
    path = Path(root)
    if path.exists() and not path.is_dir():
        raise ValueError(f"root {path} exists and is not a folder")
    return path


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


# --------------------------------------------------------------------------------------------------
# Indoor rooms: a list of textured quads (parallelograms or inscribed ellipses), sampled at one density
# --------------------------------------------------------------------------------------------------

_SOLID, _WOOD, _CARPET, _TILES, _BOARD, _GLASS, _FABRIC = range(7)
_FACES = {  # local box face -> (origin corner selector, u axis, v axis)
    "E": ((1, 0, 0), 1, 2),
    "W": ((0, 0, 0), 1, 2),
    "N": ((0, 1, 0), 0, 2),
    "S": ((0, 0, 0), 0, 2),
    "T": ((0, 0, 1), 0, 1),
    "B": ((0, 0, 0), 0, 1),
}


@dataclass(frozen=True)
class _Paint:
    """A colour model: kind (texture), base/alt RGB, a kind-specific scale (grain frequency, tile size,
    frame width) and the per-point noise standard deviation."""

    kind: int
    base: tuple[float, float, float]
    alt: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: float = 0.0
    noise: float = 6.0


@dataclass(frozen=True)
class _Frame:
    """A placement in the floor plane: local (x, y, z) -> world (ox + R(yaw) (x, y), z)."""

    ox: float
    oy: float
    yaw: float

    def point(self, p: np.ndarray) -> np.ndarray:
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return np.array([self.ox + c * p[0] - s * p[1], self.oy + s * p[0] + c * p[1], p[2]])

    def vector(self, v: np.ndarray) -> np.ndarray:
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]])

    def child(self, x: float, y: float, yaw: float) -> _Frame:
        p = self.point(np.array([x, y, 0.0]))
        return _Frame(float(p[0]), float(p[1]), self.yaw + yaw)


_WORLD = _Frame(0.0, 0.0, 0.0)


class _Room:
    """Accumulates the surfaces of one room: quads, instances (class per instance), holes and occluders."""

    def __init__(self) -> None:
        self.origins: list[np.ndarray] = []
        self.us: list[np.ndarray] = []
        self.vs: list[np.ndarray] = []
        self.ellipse: list[bool] = []
        self.quad_instance: list[int] = []
        self.quad_paint: list[int] = []
        self.instance_class: list[int] = []
        self.paints: list[_Paint] = []
        self.holes: list[tuple[int, float, float, float, float]] = []
        self.occluders: list[tuple[np.ndarray, np.ndarray, float, int]] = []

    def instance(self, cls: str) -> int:
        self.instance_class.append(_CLS[cls])
        return len(self.instance_class) - 1

    def paint(self, paint: _Paint) -> int:
        self.paints.append(paint)
        return len(self.paints) - 1

    def quad(self, inst: int, paint: int, frame: _Frame, o, u, v, *, ellipse: bool = False) -> int:
        self.origins.append(frame.point(np.asarray(o, float)))
        self.us.append(frame.vector(np.asarray(u, float)))
        self.vs.append(frame.vector(np.asarray(v, float)))
        self.ellipse.append(ellipse)
        self.quad_instance.append(inst)
        self.quad_paint.append(paint)
        return len(self.origins) - 1

    def box(
        self, inst: int, paint: int, frame: _Frame, lo, hi, faces: str = "EWNST", *, occlude: bool = True
    ) -> None:
        lo, hi = np.asarray(lo, float), np.asarray(hi, float)
        size = hi - lo
        for face in faces:
            corner, a, b = _FACES[face]
            u, v = np.zeros(3), np.zeros(3)
            u[a], v[b] = size[a], size[b]
            self.quad(inst, paint, frame, lo + np.asarray(corner) * size, u, v)
        if occlude:
            self.occlude(inst, frame, lo, hi)

    def occlude(self, inst: int, frame: _Frame, lo, hi) -> None:
        """Points of OTHER instances inside this (local) box are removed: it is solid."""
        lo, hi = np.asarray(lo, float), np.asarray(hi, float)
        self.occluders.append((frame.point((lo + hi) / 2), (hi - lo) / 2, frame.yaw, inst))

    def prism(
        self,
        inst: int,
        paint: int,
        frame: _Frame,
        cx: float,
        cy: float,
        r: float,
        z0: float,
        z1: float,
        *,
        sides: int = 12,
        top: bool = True,
    ) -> None:
        angles = np.linspace(0.0, 2 * np.pi, sides + 1)
        ring = np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], axis=1)
        for k in range(sides):
            edge = ring[k + 1] - ring[k]
            self.quad(
                inst, paint, frame, (ring[k][0], ring[k][1], z0), (edge[0], edge[1], 0.0), (0.0, 0.0, z1 - z0)
            )
        if top:
            self.quad(inst, paint, frame, (cx - r, cy - r, z1), (2 * r, 0, 0), (0, 2 * r, 0), ellipse=True)
        half = r / math.sqrt(2)
        self.occlude(inst, frame, (cx - half, cy - half, z0), (cx + half, cy + half, z1))


@dataclass
class _Wall:
    p0: np.ndarray
    tangent: np.ndarray
    length: float
    quad: int
    taken: list[tuple[float, float]]

    def frame(self, s: float) -> _Frame:
        p = self.p0 + s * self.tangent
        return _Frame(float(p[0]), float(p[1]), math.atan2(self.tangent[1], self.tangent[0]))


@dataclass
class _Plan:
    """The floor plan: box ``[0, W] x [0, D]`` minus the corner ``[W - cw, W] x [D - cd, D]`` (L-shape)."""

    width: float
    depth: float
    cut_w: float
    cut_d: float
    height: float
    taken: list[tuple[float, float, float, float]]

    def inside(self, x0: float, y0: float, x1: float, y1: float) -> bool:
        if x0 < 0 or y0 < 0 or x1 > self.width or y1 > self.depth:
            return False
        # for an orthogonal L-shape, an axis-aligned box is inside iff its corners are
        return not (x1 > self.width - self.cut_w and y1 > self.depth - self.cut_d)

    def free(self, box: tuple[float, float, float, float]) -> bool:
        x0, y0, x1, y1 = box
        if not self.inside(x0, y0, x1, y1):
            return False
        return all(x1 <= a0 or x0 >= a1 or y1 <= b0 or y0 >= b1 for a0, b0, a1, b1 in self.taken)


_ROOM_SPECS: dict[str, dict[str, tuple[int, int]]] = {
    # count ranges (inclusive) per room kind
    "office": dict(door=(1, 1), window=(1, 3), board=(1, 2), bookcase=(1, 3), sofa=(1, 1), table=(1, 3),
                   chair=(2, 5), clutter=(9, 18), column=(1, 2), beam=(1, 2)),
    "conferenceRoom": dict(door=(1, 2), window=(1, 3), board=(1, 2), bookcase=(1, 1), sofa=(1, 1), table=(1, 1),
                           chair=(6, 12), clutter=(5, 12), column=(1, 2), beam=(1, 2)),
    "hallway": dict(door=(2, 6), window=(1, 1), board=(1, 1), bookcase=(1, 1), sofa=(1, 1), table=(1, 1),
                    chair=(1, 2), clutter=(5, 10), column=(1, 3), beam=(1, 3)),
    "lounge": dict(door=(1, 1), window=(1, 3), board=(1, 1), bookcase=(1, 2), sofa=(1, 3), table=(1, 2),
                   chair=(1, 3), clutter=(6, 13), column=(1, 1), beam=(1, 2)),
    "storage": dict(door=(1, 1), window=(1, 1), board=(1, 1), bookcase=(2, 4), sofa=(1, 1), table=(1, 1),
                    chair=(1, 2), clutter=(14, 26), column=(1, 1), beam=(1, 1)),
    "copyRoom": dict(door=(1, 1), window=(1, 1), board=(1, 1), bookcase=(1, 2), sofa=(1, 1), table=(1, 1),
                     chair=(1, 2), clutter=(9, 18), column=(1, 1), beam=(1, 1)),
    "pantry": dict(door=(1, 1), window=(1, 2), board=(1, 1), bookcase=(1, 1), sofa=(1, 1), table=(1, 2),
                   chair=(2, 4), clutter=(9, 18), column=(1, 1), beam=(1, 1)),
}  # fmt: skip

_WALL_COLOURS = (
    (205, 200, 190),
    (190, 186, 176),
    (214, 210, 200),
    (182, 176, 160),
    (172, 180, 186),
    (200, 190, 170),
)
_FABRIC_COLOURS = ((32, 32, 35), (70, 70, 75), (40, 52, 92), (120, 34, 34), (44, 82, 52), (170, 152, 122),
                   (150, 150, 155), (95, 60, 40), (180, 110, 40))  # fmt: skip
_METAL_COLOURS = ((40, 40, 42), (120, 122, 126), (170, 172, 176))


def _near(rng: np.random.Generator, colour, spread: float = 10.0) -> tuple[float, float, float]:
    shift = rng.normal(0.0, spread) + rng.normal(0.0, spread / 2, 3)
    return tuple(float(c) for c in np.clip(np.asarray(colour, float) + shift, 0, 255))


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _wood(rng: np.random.Generator) -> _Paint:
    tone = rng.uniform(95, 200)
    base = (tone, tone * rng.uniform(0.66, 0.76), tone * rng.uniform(0.42, 0.52))
    return _Paint(_WOOD, base, tuple(c * 0.62 for c in base), float(rng.uniform(14, 40)), 5.0)


def _book_colour(rng: np.random.Generator) -> tuple[float, float, float]:
    hue, sat, val = rng.uniform(0, 1), rng.uniform(0.25, 0.9), rng.uniform(0.2, 0.92)
    k = (np.array([5.0, 3.0, 1.0]) + hue * 6) % 6
    rgb = val - val * sat * np.clip(np.minimum(k, 4 - k), 0, 1)
    return tuple(float(c) for c in 255 * rgb)


def generate_room(
    rng: np.random.Generator, *, kind: str = "office", points: int = 40_000
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One procedural room of ``kind`` (a key of the room specs: office, conferenceRoom, hallway, ...).

    Returns xyz (N, 3) float64 metres (area coordinates, rounded to mm), rgb (N, 3) uint8,
    labels (N,) int64 (positions in ``S3DIS_CLASSES``), instances (N,) int64 (0..I-1, ordered by class,
    points grouped by instance). N == ``points`` (in practice; the sampler raises its density twice at most).
    """
    if kind not in _ROOM_SPECS:
        raise ValueError(f"unknown room kind {kind!r}; valid kinds: {', '.join(_ROOM_SPECS)}")
    _check_int("points", points, 1)
    room, plan = _layout_room(rng, kind)
    xyz, rgb, inst = _sample_room(rng, room, points)
    labels = np.asarray(room.instance_class, np.int64)[inst]
    # group points by instance, instances ordered by (class, creation)
    order_of_instance = np.lexsort((np.arange(len(room.instance_class)), room.instance_class))
    rank = np.empty_like(order_of_instance)
    rank[order_of_instance] = np.arange(len(order_of_instance))
    instances = rank[inst]
    order = np.argsort(instances, kind="stable")
    offset = np.array([rng.uniform(-20, 30), rng.uniform(-20, 30), 0.0])
    xyz = np.rint((xyz[order] + offset) * 1000.0) / 1000.0
    dense = np.unique(instances[order], return_inverse=True)[1]  # instances left without points leave no gap
    return xyz, rgb[order], labels[order], dense.astype(np.int64)


def _layout_room(rng: np.random.Generator, kind: str) -> tuple[_Room, _Plan]:
    """The plan (box or L-shape) and every surface of one room of ``kind``; object counts per ``_ROOM_SPECS``."""
    spec = {name: int(rng.integers(lo, hi + 1)) for name, (lo, hi) in _ROOM_SPECS[kind].items()}
    height = float(rng.uniform(2.6, 3.3))
    if kind == "hallway":
        width, depth = rng.uniform(8, 16), rng.uniform(1.8, 2.6)
        cut_w = cut_d = 0.0
        if rng.random() < 0.35:  # L-shaped corridor
            arm = rng.uniform(1.8, 2.6)
            depth_total = rng.uniform(5, 9)
            cut_w, cut_d, depth = width - arm, depth_total - depth, depth_total
    else:
        ranges = {
            "conferenceRoom": ((5, 9), (4, 7)),
            "lounge": ((4, 8), (4, 7)),
            "office": ((3.5, 7), (3, 6)),
        }
        (w0, w1), (d0, d1) = ranges.get(kind, ((2.8, 5), (2.5, 4.5)))
        width, depth = rng.uniform(w0, w1), rng.uniform(d0, d1)
        cut_w = cut_d = 0.0
        if rng.random() < 0.3:
            cut_w, cut_d = width * rng.uniform(0.3, 0.5), depth * rng.uniform(0.3, 0.5)
    plan = _Plan(float(width), float(depth), float(cut_w), float(cut_d), height, [])
    room = _Room()
    walls = _structure(rng, room, plan)
    tables: list[tuple[_Frame, float, float, float]] = []

    door_paint = room.paint(
        _wood(rng) if rng.random() < 0.55 else _Paint(_SOLID, _near(rng, _pick(rng, _WALL_COLOURS), 25))
    )
    for _ in range(spec["door"]):
        _door(rng, room, plan, walls, door_paint)
    for _ in range(spec["sofa"]):
        _sofa(rng, room, plan, walls)
    # the first table is free-standing and placed before the rest of the wall furniture
    first = _table(rng, room, plan, walls, kind, desk=0.0)
    for _ in range(spec["column"]):
        _column(rng, room, plan, walls)
    for _ in range(spec["window"]):
        _window(rng, room, plan, walls)
    for _ in range(spec["board"]):
        _board(rng, room, plan, walls)
    for _ in range(spec["bookcase"]):
        _bookcase(rng, room, plan, walls)
    if first is None:  # no floor left in the middle: a desk along a wall
        first = _table(rng, room, plan, walls, kind, desk=1.0)
    for k in range(spec["table"]):
        table = first if k == 0 else _table(rng, room, plan, walls, kind, desk=0.5)
        if table is not None:
            tables.append(table)
            most = _ROOM_SPECS[kind]["chair"][1]
            _chairs_around(
                rng, room, plan, table, spec["chair"] if k == 0 else int(rng.integers(1, most + 1))
            )
    if not tables:  # no room for a table: the chairs still have to exist
        for _ in range(spec["chair"]):
            _free_chair(rng, room, plan)
    for _ in range(spec["clutter"]):
        _clutter(rng, room, plan, walls, tables)
    for _ in range(spec["beam"]):
        _beam(rng, room, plan)
    return room, plan


def _structure(rng: np.random.Generator, room: _Room, plan: _Plan) -> list[_Wall]:
    """Floor, ceiling (one instance each, one quad per rectangle of the plan) and one wall per edge."""
    W, D, cw, cd, H = plan.width, plan.depth, plan.cut_w, plan.cut_d, plan.height
    rects = [(0.0, 0.0, W, D - cd)] + ([(0.0, D - cd, W - cw, D)] if cd > 0 else [])
    style = rng.random()
    if style < 0.5:
        floor = _Paint(
            _CARPET,
            _near(rng, _pick(rng, ((90, 90, 95), (70, 80, 100), (110, 95, 80), (120, 112, 100))), 8),
            (40.0, 40.0, 40.0),
            0.0,
            12.0,
        )
    elif style < 0.8:
        base = _near(rng, (165, 160, 152), 15)
        floor = _Paint(_TILES, base, tuple(c * 0.7 for c in base), float(rng.uniform(0.3, 0.6)), 6.0)
    else:
        floor = _wood(rng)
    ceiling_base = _near(rng, (226, 226, 222), 6)
    ceiling = _Paint(_TILES, ceiling_base, tuple(c * 0.8 for c in ceiling_base), 0.6, 4.0)
    f_inst, f_paint = room.instance("floor"), room.paint(floor)
    c_inst, c_paint = room.instance("ceiling"), room.paint(ceiling)
    for x0, y0, x1, y1 in rects:
        room.quad(f_inst, f_paint, _WORLD, (x0, y0, 0.0), (x1 - x0, 0, 0), (0, y1 - y0, 0))
        room.quad(c_inst, c_paint, _WORLD, (x0, y0, H), (x1 - x0, 0, 0), (0, y1 - y0, 0))
    corners = (
        [(0, 0), (W, 0), (W, D - cd), (W - cw, D - cd), (W - cw, D), (0, D)]
        if cd > 0
        else [(0, 0), (W, 0), (W, D), (0, D)]
    )
    wall_paint = room.paint(_Paint(_SOLID, _near(rng, _pick(rng, _WALL_COLOURS), 6), noise=5.0))
    walls = []
    for k, p0 in enumerate(corners):
        p0, p1 = np.asarray(p0, float), np.asarray(corners[(k + 1) % len(corners)], float)
        length = float(np.linalg.norm(p1 - p0))
        quad = room.quad(
            room.instance("wall"), wall_paint, _WORLD, (p0[0], p0[1], 0.0), (*(p1 - p0), 0.0), (0, 0, H)
        )
        walls.append(_Wall(p0, (p1 - p0) / length, length, quad, []))
    return walls


def _slot(
    rng: np.random.Generator,
    walls: list[_Wall],
    width: float,
    *,
    corner: bool = False,
    plan: _Plan | None = None,
    depth: float = 0.0,
):
    """A free interval of ``width`` metres on a wall (chosen with probability ~ length): (wall, s0) or None.

    With ``plan`` and ``depth`` the floor strip in front of the interval must also be free.
    """
    lengths = np.array([w.length for w in walls])
    for _ in range(40):
        wall = walls[int(rng.choice(len(walls), p=lengths / lengths.sum()))]
        if wall.length < width + 0.3:
            continue
        if corner and rng.random() < 0.6:
            s0 = 0.0 if rng.random() < 0.5 else wall.length - width
        else:
            s0 = float(rng.uniform(0.15, wall.length - width - 0.15))
        if not all(s0 + width + 0.08 <= a or s0 >= b + 0.08 for a, b in wall.taken):
            continue
        if (
            plan is not None
            and depth > 0
            and not plan.free(_footprint(wall.frame(s0), (0.01, 0.01), (width - 0.01, depth)))
        ):
            continue
        wall.taken.append((s0, s0 + width))
        return wall, s0
    return None


def _shrinking_slot(rng: np.random.Generator, walls: list[_Wall], plan: _Plan, width: float, depth: float):
    """``_slot`` for a wall-standing object, retried at 75 % and 55 % width: (wall, s0, width) or None."""
    for scale in (1.0, 0.75, 0.55):
        slot = _slot(rng, walls, width * scale, plan=plan, depth=depth)
        if slot is not None:
            return slot[0], slot[1], width * scale
    return None


def _footprint(frame: _Frame, lo, hi) -> tuple[float, float, float, float]:
    corners = np.array([frame.point(np.array([x, y, 0.0])) for x in (lo[0], hi[0]) for y in (lo[1], hi[1])])
    return (corners[:, 0].min(), corners[:, 1].min(), corners[:, 0].max(), corners[:, 1].max())


def _claim_floor(plan: _Plan, frame: _Frame, lo, hi) -> None:
    plan.taken.append(_footprint(frame, lo, hi))


def _column(rng, room: _Room, plan: _Plan, walls: list[_Wall]) -> None:
    w, d = rng.uniform(0.35, 0.6), rng.uniform(0.2, 0.45)
    slot = _slot(rng, walls, w, corner=True, plan=plan, depth=d)
    if slot is None:
        return
    wall, s0 = slot
    frame = wall.frame(s0)
    paint = room.paint(_Paint(_SOLID, _near(rng, _pick(rng, _WALL_COLOURS), 12), noise=5.0))
    room.box(room.instance("column"), paint, frame, (0, 0, 0), (w, d, plan.height), "EWN")
    _claim_floor(plan, frame, (0, 0), (w, d))


def _door(rng, room: _Room, plan: _Plan, walls: list[_Wall], paint: int) -> None:
    w, f = rng.uniform(0.85, 1.0), 0.08
    h = min(rng.uniform(2.0, 2.2), plan.height - 0.25)
    slot = _slot(rng, walls, w + 2 * f)
    if slot is None:
        return
    wall, s0 = slot
    frame = wall.frame(s0)
    room.holes.append((wall.quad, s0, s0 + w + 2 * f, -1.0, h + f))
    inst = room.instance("door")
    trim = room.paint(_Paint(_SOLID, _near(rng, (150, 140, 125), 35), noise=5.0))
    for x0, x1, z0, z1 in ((0, f, 0, h + f), (w + f, w + 2 * f, 0, h + f), (f, w + f, h, h + f)):
        room.quad(inst, trim, frame, (x0, 0.012, z0), (x1 - x0, 0, 0), (0, 0, z1 - z0))
    room.quad(inst, paint, frame, (f, -0.04, 0), (w, 0, 0), (0, 0, h))  # leaf, recessed
    for x in (f, w + f):  # jambs
        room.quad(inst, trim, frame, (x, -0.04, 0), (0, 0.052, 0), (0, 0, h))
    room.quad(inst, trim, frame, (f, -0.04, h), (w, 0, 0), (0, 0.052, 0))
    handle = room.paint(_Paint(_SOLID, _near(rng, _pick(rng, _METAL_COLOURS), 8)))
    room.box(
        inst, handle, frame, (w + f - 0.15, -0.04, 0.98), (w + f - 0.04, 0.03, 1.04), "EWNTB", occlude=False
    )
    _claim_floor(plan, frame, (0, 0), (w + 2 * f, 0.9))  # keep the door's swing free


def _window(rng, room: _Room, plan: _Plan, walls: list[_Wall]) -> None:
    w, z0 = rng.uniform(0.9, 2.4), rng.uniform(0.75, 1.0)
    h = rng.uniform(1.0, max(1.05, min(1.7, plan.height - z0 - 0.25)))
    slot = _slot(rng, walls, w)
    if slot is None:
        return
    wall, s0 = slot
    frame = wall.frame(s0)
    f = 0.06
    room.holes.append((wall.quad, s0, s0 + w, z0, z0 + h))
    inst = room.instance("window")
    frame_paint = room.paint(
        _Paint(_SOLID, _near(rng, _pick(rng, ((235, 235, 232), (160, 162, 165), (90, 70, 55))), 8))
    )
    glass_base = _near(rng, (165, 180, 195), 20)
    glass = room.paint(_Paint(_GLASS, glass_base, glass_base, 0.0, 18.0))
    for x0, x1, a, b in (
        (0, f, z0, z0 + h),
        (w - f, w, z0, z0 + h),
        (0, w, z0, z0 + f),
        (0, w, z0 + h - f, z0 + h),
    ):
        room.quad(inst, frame_paint, frame, (x0, 0.005, a), (x1 - x0, 0, 0), (0, 0, b - a))
    room.quad(inst, glass, frame, (f, -0.1, z0 + f), (w - 2 * f, 0, 0), (0, 0, h - 2 * f))
    for x in (f, w - f):
        room.quad(inst, frame_paint, frame, (x, -0.1, z0 + f), (0, 0.105, 0), (0, 0, h - 2 * f))
    room.quad(inst, frame_paint, frame, (f, -0.1, z0 + h - f), (w - 2 * f, 0, 0), (0, 0.105, 0))
    if w > 1.4:  # mullion
        room.quad(inst, frame_paint, frame, (w / 2 - 0.03, -0.09, z0 + f), (0.06, 0, 0), (0, 0, h - 2 * f))
    room.box(inst, frame_paint, frame, (-0.05, -0.1, z0 - 0.03), (w + 0.05, 0.12, z0 + f), "EWNT")


def _board(rng, room: _Room, plan: _Plan, walls: list[_Wall]) -> None:
    w, h, z0 = rng.uniform(1.2, 3.0), rng.uniform(0.9, 1.3), rng.uniform(0.8, 1.0)
    slot = _shrinking_slot(rng, walls, plan, w, 0.0)
    if slot is None:
        return
    wall, s0, w = slot
    frame = wall.frame(s0)
    inst = room.instance("board")
    rim = _near(rng, _pick(rng, ((60, 60, 64), (175, 178, 182), (35, 35, 38))), 8)
    paint = room.paint(
        _Paint(_BOARD, _near(rng, (238, 240, 240), 5), rim, float(rng.uniform(0.03, 0.05)), 4.0)
    )
    room.quad(inst, paint, frame, (0, 0.02, z0), (w, 0, 0), (0, 0, h))
    rim_paint = room.paint(_Paint(_SOLID, rim))
    for o, u in (((0, 0, z0), (w, 0, 0)), ((0, 0, z0 + h), (w, 0, 0))):
        room.quad(inst, rim_paint, frame, o, u, (0, 0.02, 0))
    for x in (0, w):
        room.quad(inst, rim_paint, frame, (x, 0, z0), (0, 0.02, 0), (0, 0, h))
    room.box(inst, rim_paint, frame, (0.1, 0.02, z0 - 0.03), (w - 0.1, 0.08, z0), "EWNT", occlude=False)
    room.occlude(inst, frame, (-0.01, -0.03, z0 - 0.01), (w + 0.01, 0.015, z0 + h + 0.01))


def _bookcase(rng, room: _Room, plan: _Plan, walls: list[_Wall]) -> None:
    w, d = rng.uniform(0.8, 2.0), rng.uniform(0.28, 0.42)
    h = rng.uniform(1.2, min(2.2, plan.height - 0.3))
    slot = _shrinking_slot(rng, walls, plan, w, d)
    if slot is None:
        return
    wall, s0, w = slot
    frame = wall.frame(s0)
    inst = room.instance("bookcase")
    carcass = room.paint(
        _wood(rng)
        if rng.random() < 0.6
        else _Paint(_SOLID, _near(rng, _pick(rng, _METAL_COLOURS + ((225, 222, 215),)), 8))
    )
    t = 0.02
    for x in (0, w):
        room.quad(inst, carcass, frame, (x, 0, 0), (0, d, 0), (0, 0, h))
    room.quad(inst, carcass, frame, (0, 0, h), (w, 0, 0), (0, d, 0))
    for x0, x1, z0, z1 in ((0, t, 0, h), (w - t, w, 0, h), (0, w, h - t, h), (0, w, 0, 0.08)):
        room.quad(inst, carcass, frame, (x0, d, z0), (x1 - x0, 0, 0), (0, 0, z1 - z0))
    room.quad(inst, carcass, frame, (t, 0.01, 0.08), (w - 2 * t, 0, 0), (0, 0, h - 0.08 - t))
    shelves = max(2, round((h - 0.1) / 0.33))
    spacing = (h - 0.08 - t) / shelves
    for k in range(shelves):
        z = 0.08 + k * spacing
        room.quad(inst, carcass, frame, (t, 0.01, z), (w - 2 * t, 0, 0), (0, d - 0.01, 0))
        if k:
            room.quad(inst, carcass, frame, (t, d, z - t), (w - 2 * t, 0, 0), (0, 0, t))
        x = t
        while x < w - t - 0.02:
            if rng.random() < 0.12:
                x += rng.uniform(0.05, 0.25)
                continue
            bw = min(rng.uniform(0.015, 0.06), w - t - x)
            bh = rng.uniform(0.55, 0.92) * (spacing - t)
            bd = rng.uniform(0.15, d - 0.03)
            book = room.paint(_Paint(_SOLID, _book_colour(rng), noise=7.0))
            room.quad(inst, book, frame, (x, bd, z), (bw, 0, 0), (0, 0, bh))
            room.quad(inst, book, frame, (x, 0.01, z + bh), (bw, 0, 0), (0, bd - 0.01, 0))
            x += bw
    room.occlude(inst, frame, (0, 0, 0), (w, d, h))
    _claim_floor(plan, frame, (0, 0), (w, d))


def _sofa(rng, room: _Room, plan: _Plan, walls: list[_Wall]) -> None:
    w, d = rng.uniform(1.4, 2.4), rng.uniform(0.8, 0.95)
    slot = _shrinking_slot(rng, walls, plan, w, d)
    if slot is None:
        return
    wall, s0, w = slot
    frame = wall.frame(s0)
    inst = room.instance("sofa")
    fabric = room.paint(
        _Paint(
            _FABRIC,
            _near(rng, _pick(rng, _FABRIC_COLOURS), 12),
            scale=float(rng.uniform(0.4, 0.7)),
            noise=8.0,
        )
    )
    a, bt, seat, arm_h, back_h, foot = 0.18, 0.2, 0.42, 0.62, rng.uniform(0.75, 0.9), 0.08
    room.quad(inst, fabric, frame, (a, bt, seat), (w - 2 * a, 0, 0), (0, d - bt, 0))  # seat
    room.quad(inst, fabric, frame, (a, d, foot), (w - 2 * a, 0, 0), (0, 0, seat - foot))
    room.quad(inst, fabric, frame, (a, 0, back_h), (w - 2 * a, 0, 0), (0, bt, 0))  # back top
    room.quad(inst, fabric, frame, (a, bt, seat), (w - 2 * a, 0, 0), (0, 0, back_h - seat))
    for x0 in (0.0, w - a):
        room.box(inst, fabric, frame, (x0, 0, foot), (x0 + a, d, arm_h), "TN", occlude=False)
        outer = 0.0 if x0 == 0.0 else w
        inner = a if x0 == 0.0 else w - a
        room.quad(inst, fabric, frame, (outer, 0, foot), (0, d, 0), (0, 0, arm_h - foot))
        room.quad(inst, fabric, frame, (inner, bt, seat), (0, d - bt, 0), (0, 0, arm_h - seat))
    feet = room.paint(_Paint(_SOLID, _near(rng, (60, 45, 35), 10)))
    for x in (0.02, w - 0.07):
        for y in (0.02, d - 0.07):
            room.box(inst, feet, frame, (x, y, 0), (x + 0.05, y + 0.05, foot), "EWNS", occlude=False)
    room.occlude(inst, frame, (0, 0, 0), (w, d, back_h))
    _claim_floor(plan, frame, (0, 0), (w, d))


def _table(rng, room: _Room, plan: _Plan, walls: list[_Wall], kind: str, *, desk: float):
    """A table with room for chairs, free-standing or (desks) against a wall; returns
    (frame, width, depth, top height) or None."""
    if kind == "conferenceRoom":
        w, d = rng.uniform(2.4, 4.5), rng.uniform(1.0, 1.5)
    elif kind == "hallway":
        w, d = rng.uniform(0.6, 1.0), rng.uniform(0.5, 0.7)
    else:
        w, d = rng.uniform(1.0, 2.0), rng.uniform(0.6, 1.0)
    if rng.random() < desk:  # a desk along a wall (probability ``desk``)
        slot = _shrinking_slot(rng, walls, plan, w, d + 0.6)
        if slot is not None:
            wall, s0, w = slot
            frame = wall.frame(s0).child(w / 2, d / 2 + 0.02, 0.0)
            _claim_floor(plan, wall.frame(s0), (0, 0), (w, d + 0.6))
            top = rng.uniform(0.72, 0.76)
            _build_table(rng, room, frame, w, d, top, False)
            return frame, w, d, top
    round_top = kind != "conferenceRoom" and rng.random() < 0.15
    if round_top:
        d = w = min(w, 1.2)
    attempts = [(c, s) for c, s in ((0.55, 1.0), (0.5, 0.8), (0.4, 0.65), (0.2, 0.5)) for _ in range(12)]
    for clearance, scale in attempts:
        clearance = 0.0 if kind == "hallway" else clearance
        tw, td = w * scale, d * scale
        yaw = _pick(rng, (0.0, math.pi / 2)) + (rng.uniform(-0.4, 0.4) if rng.random() < 0.3 else 0.0)
        reach = 0.5 * (abs(tw * math.cos(yaw)) + abs(td * math.sin(yaw))) + clearance
        reach_y = 0.5 * (abs(tw * math.sin(yaw)) + abs(td * math.cos(yaw))) + clearance
        cx, cy = rng.uniform(0, plan.width), rng.uniform(0, plan.depth)
        box = (cx - reach, cy - reach_y, cx + reach, cy + reach_y)
        if plan.free(box):
            plan.taken.append(box)
            frame = _Frame(float(cx), float(cy), float(yaw))
            top = rng.uniform(0.72, 0.76)
            _build_table(rng, room, frame, tw, td, top, round_top)
            return frame, tw, td, top
    return None


def _build_table(rng, room: _Room, frame: _Frame, w: float, d: float, top: float, round_top: bool) -> None:
    inst = room.instance("table")
    surface = room.paint(
        _wood(rng)
        if rng.random() < 0.6
        else _Paint(_SOLID, _near(rng, _pick(rng, ((228, 226, 220), (150, 150, 150), (200, 185, 160))), 10))
    )
    legs = room.paint(_Paint(_SOLID, _near(rng, _pick(rng, _METAL_COLOURS), 8)))
    th = rng.uniform(0.03, 0.05)
    if round_top:
        r = w / 2
        room.prism(inst, surface, frame, 0.0, 0.0, r, top - th, top, sides=20)
        room.prism(inst, legs, frame, 0.0, 0.0, 0.05, 0.03, top - th, top=False)
        room.prism(inst, legs, frame, 0.0, 0.0, 0.28, 0.0, 0.03)
        return
    room.box(inst, surface, frame, (-w / 2, -d / 2, top - th), (w / 2, d / 2, top))
    if rng.random() < 0.3:  # panel legs
        for x in (-w / 2 + 0.05, w / 2 - 0.08):
            room.box(inst, legs, frame, (x, -d / 2 + 0.05, 0), (x + 0.03, d / 2 - 0.05, top - th), "EWNS")
    else:
        for x in (-w / 2 + 0.04, w / 2 - 0.09):
            for y in (-d / 2 + 0.04, d / 2 - 0.09):
                room.box(inst, legs, frame, (x, y, 0), (x + 0.05, y + 0.05, top - th), "EWNS")


def _chairs_around(rng, room: _Room, plan: _Plan, table, n: int) -> None:
    frame, w, d, _ = table
    places = []
    per_side = max(1, math.ceil(n / 2))
    for side in (-1, 1):
        for k in range(per_side):
            x = (k + 0.5) / per_side * w - w / 2
            places.append((x, side * (d / 2 + rng.uniform(0.05, 0.4)), 0.0 if side < 0 else math.pi))
    inside = [k for k, (x, y, _) in enumerate(places) if _chair_fits(plan, frame.child(x, y, 0.0))]
    order = rng.permutation(len(inside))[:n]
    for k in sorted(inside[j] for j in order.tolist()):
        x, y, yaw = places[k]
        chair_frame = frame.child(x, y, yaw + rng.uniform(-0.35, 0.35))
        _build_chair(rng, room, plan, chair_frame)


def _free_chair(rng, room: _Room, plan: _Plan) -> None:
    for _ in range(30):
        cx, cy = rng.uniform(0.4, plan.width - 0.4), rng.uniform(0.4, plan.depth - 0.4)
        if plan.free((cx - 0.35, cy - 0.35, cx + 0.35, cy + 0.35)):
            _build_chair(rng, room, plan, _Frame(float(cx), float(cy), float(rng.uniform(0, 2 * np.pi))))
            return


def _chair_fits(plan: _Plan, frame: _Frame) -> bool:
    centre = frame.point(np.zeros(3))
    return plan.inside(centre[0] - 0.3, centre[1] - 0.3, centre[0] + 0.3, centre[1] + 0.3)


def _build_chair(rng, room: _Room, plan: _Plan, frame: _Frame) -> None:
    if not _chair_fits(plan, frame):
        return
    centre = frame.point(np.zeros(3))
    inst = room.instance("chair")
    fabric = room.paint(_Paint(_FABRIC, _near(rng, _pick(rng, _FABRIC_COLOURS), 10), scale=0.5, noise=7.0))
    metal = room.paint(_Paint(_SOLID, _near(rng, _pick(rng, _METAL_COLOURS), 8)))
    sw, sd, sh, bh = (
        rng.uniform(0.42, 0.5),
        rng.uniform(0.42, 0.5),
        rng.uniform(0.43, 0.5),
        rng.uniform(0.35, 0.5),
    )
    room.box(inst, fabric, frame, (-sw / 2, -sd / 2, sh - 0.06), (sw / 2, sd / 2, sh))
    room.box(
        inst, fabric, frame, (-sw / 2, -sd / 2 - 0.02, sh + 0.06), (sw / 2, -sd / 2 + 0.04, sh + 0.06 + bh)
    )
    room.box(
        inst,
        metal,
        frame,
        (-0.02, -sd / 2 - 0.01, sh),
        (0.02, -sd / 2 + 0.01, sh + 0.06),
        "EWNS",
        occlude=False,
    )
    if rng.random() < 0.5:  # office chair: column and star base
        room.prism(inst, metal, frame, 0.0, 0.0, 0.025, 0.09, sh - 0.06, sides=8, top=False)
        for k in range(5):
            arm = frame.child(0.0, 0.0, 2 * np.pi * k / 5)
            room.box(inst, metal, arm, (0.0, -0.02, 0.04), (0.3, 0.02, 0.09), "NSTE", occlude=False)
        if rng.random() < 0.5:
            for x in (-sw / 2 - 0.05, sw / 2):
                room.box(
                    inst, metal, frame, (x, -0.15, sh + 0.18), (x + 0.05, 0.15, sh + 0.22), occlude=False
                )
    else:
        for x in (-sw / 2 + 0.01, sw / 2 - 0.04):
            for y in (-sd / 2 + 0.01, sd / 2 - 0.04):
                room.box(
                    inst, metal, frame, (x, y, 0), (x + 0.03, y + 0.03, sh - 0.06), "EWNS", occlude=False
                )
    plan.taken.append((centre[0] - 0.3, centre[1] - 0.3, centre[0] + 0.3, centre[1] + 0.3))


def _clutter(rng, room: _Room, plan: _Plan, walls: list[_Wall], tables) -> None:
    kinds = ["cabinet", "box", "bin", "picture", "light"] + (["monitor", "papers", "mug"] if tables else [])
    weights = np.array([0.3, 0.2, 0.1, 0.15, 0.1] + ([0.15, 0.1, 0.05] if tables else []))
    kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
    colour = _near(rng, _pick(rng, ((200, 200, 198), (60, 60, 65), (150, 120, 80), (90, 110, 140), (170, 60, 50),
                                     (60, 120, 70), (220, 200, 120), (120, 120, 122))), 20)  # fmt: skip
    paint = room.paint(_Paint(_SOLID, colour, noise=9.0))
    if kind == "cabinet":
        w, d, h = rng.uniform(0.4, 1.2), rng.uniform(0.4, 0.6), rng.uniform(0.5, 1.3)
        slot = _slot(rng, walls, w, plan=plan, depth=d)
        if slot is not None:
            frame = slot[0].frame(slot[1])
            room.box(room.instance("clutter"), paint, frame, (0, 0.0, 0), (w, d, h), "EWNT")
            _claim_floor(plan, frame, (0, 0), (w, d))
    elif kind in ("box", "bin"):
        for _ in range(30):
            cx, cy = rng.uniform(0.3, plan.width - 0.3), rng.uniform(0.3, plan.depth - 0.3)
            r = rng.uniform(0.15, 0.3)
            if plan.free((cx - r, cy - r, cx + r, cy + r)):
                frame = _Frame(float(cx), float(cy), float(rng.uniform(0, np.pi)))
                if kind == "box":
                    h = rng.uniform(0.2, 0.6)
                    room.box(
                        room.instance("clutter"), paint, frame, (-r * 0.7, -r * 0.7, 0), (r * 0.7, r * 0.7, h)
                    )
                else:
                    room.prism(
                        room.instance("clutter"),
                        paint,
                        frame,
                        0.0,
                        0.0,
                        r * 0.6,
                        0.0,
                        rng.uniform(0.3, 0.55),
                        top=False,
                    )
                plan.taken.append((cx - r, cy - r, cx + r, cy + r))
                return
    elif kind == "picture":
        w, h = rng.uniform(0.4, 1.2), rng.uniform(0.3, 0.9)
        slot = _slot(rng, walls, w)
        if slot is not None:
            frame = slot[0].frame(slot[1])
            z0 = rng.uniform(1.3, max(1.35, plan.height - h - 0.3))
            pic = room.paint(
                _Paint(_CARPET, _near(rng, _book_colour(rng), 10), (30.0, 30.0, 30.0), 0.0, 25.0)
            )
            inst = room.instance("clutter")
            room.quad(inst, pic, frame, (0, 0.015, z0), (w, 0, 0), (0, 0, h))
            room.occlude(inst, frame, (0, -0.03, z0), (w, 0.012, z0 + h))
    elif kind == "light":
        for _ in range(30):
            cx, cy = rng.uniform(0.5, plan.width - 0.5), rng.uniform(0.5, plan.depth - 0.5)
            if plan.inside(cx - 0.35, cy - 0.65, cx + 0.35, cy + 0.65):
                inst = room.instance("clutter")
                lamp = room.paint(_Paint(_SOLID, _near(rng, (248, 248, 244), 4), noise=4.0))
                z = plan.height - 0.02
                room.quad(inst, lamp, _WORLD, (cx - 0.3, cy - 0.6, z), (0.6, 0, 0), (0, 1.2, 0))
                room.occlude(inst, _WORLD, (cx - 0.3, cy - 0.6, z), (cx + 0.3, cy + 0.6, plan.height + 0.02))
                return
    else:  # on a table
        frame, w, d, top = tables[int(rng.integers(len(tables)))]
        x, y = rng.uniform(-w / 2 + 0.2, w / 2 - 0.2), rng.uniform(-d / 2 + 0.15, d / 2 - 0.15)
        spot = frame.child(x, y, rng.uniform(-0.5, 0.5))
        inst = room.instance("clutter")
        if kind == "monitor":
            dark = room.paint(_Paint(_SOLID, _near(rng, (38, 38, 42), 8)))
            room.box(inst, dark, spot, (-0.1, -0.08, top), (0.1, 0.08, top + 0.02), "EWNST")
            room.box(
                inst, dark, spot, (-0.03, -0.02, top + 0.02), (0.03, 0.0, top + 0.12), "EWNS", occlude=False
            )
            room.box(inst, dark, spot, (-0.27, 0.0, top + 0.1), (0.27, 0.04, top + 0.44))
        elif kind == "papers":
            white = room.paint(_Paint(_SOLID, _near(rng, (235, 235, 230), 5), noise=5.0))
            room.box(
                inst, white, spot, (-0.15, -0.11, top), (0.15, 0.11, top + rng.uniform(0.003, 0.04)), "EWNST"
            )
        else:
            room.prism(
                inst,
                paint,
                spot,
                0.0,
                0.0,
                rng.uniform(0.03, 0.05),
                top,
                top + rng.uniform(0.08, 0.25),
                sides=8,
            )


def _beam(rng, room: _Room, plan: _Plan) -> None:
    bw, bd, H = rng.uniform(0.2, 0.4), rng.uniform(0.15, 0.4), plan.height
    paint = room.paint(_Paint(_SOLID, _near(rng, (215, 214, 208), 10), noise=5.0))
    inst = room.instance("beam")
    span_y = plan.depth - plan.cut_d
    if rng.random() < 0.5 and span_y > 1.2:  # along x over the full width
        y = rng.uniform(0.3, span_y - 0.3 - bw)
        room.box(inst, paint, _WORLD, (0, y, H - bd), (plan.width, y + bw, H), "NSB")
    else:  # along y over the full depth, left of the cut-out
        x = (
            rng.uniform(0.3, plan.width - plan.cut_w - 0.3 - bw)
            if plan.width - plan.cut_w > 0.6 + bw
            else 0.3
        )
        room.box(inst, paint, _WORLD, (x, 0, H - bd), (x + bw, plan.depth, H), "EWB")


def _sample_room(
    rng: np.random.Generator, room: _Room, target: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample every quad at one density, cut holes, remove occluded points, thin to ``target``, paint, jitter.

    The density starts 25 % above ``target`` / surface area and is raised (at most twice) when holes and
    occlusion removed more than that. Returns xyz (n, 3) float64, rgb (n, 3) uint8, instance (n,) int64.
    """
    U, V = np.array(room.us), np.array(room.vs)
    normals = np.cross(U, V)
    area = np.linalg.norm(normals, axis=1)
    normals /= np.maximum(area, 1e-12)[:, None]
    s_len, t_len = np.linalg.norm(U, axis=1), np.linalg.norm(V, axis=1)
    density = 1.25 * target / (area * np.where(room.ellipse, np.pi / 4, 1.0)).sum()
    for _ in range(3):
        xyz, quad, sm, tm = _visible_points(rng, room, density)
        if len(xyz) >= target:
            break
        density *= 1.1 * target / max(len(xyz), 1)
    chosen = np.arange(len(xyz))
    if len(chosen) > target:
        chosen = np.sort(rng.choice(chosen, size=target, replace=False))
    xyz, quad, sm, tm = xyz[chosen], quad[chosen], sm[chosen], tm[chosen]

    rgb = _paint_points(rng, room.paints, np.asarray(room.quad_paint)[quad], sm, tm, s_len[quad], t_len[quad])
    phase = rng.uniform(0, 2 * np.pi, 2)
    shade = (
        0.86
        + 0.08 * np.abs(normals[quad, 2])
        + 0.06 * np.sin(0.6 * xyz[:, 0] + phase[0]) * np.cos(0.5 * xyz[:, 1] + phase[1])
    )
    rgb = np.clip(np.rint(rgb * shade[:, None]), 0, 255).astype(np.uint8)
    xyz = xyz + rng.normal(0.0, 0.003, xyz.shape)
    return xyz, rgb, np.asarray(room.quad_instance)[quad]


def _visible_points(rng: np.random.Generator, room: _Room, density: float):
    """Points at ``density`` per m^2 on every quad, minus wall openings, points inside other objects'
    solids and random dropout blobs: xyz (n, 3), quad (n,) int64 (sorted), local s/t metres (n,), (n,)."""
    P, U, V = np.array(room.origins), np.array(room.us), np.array(room.vs)
    ellipse = np.array(room.ellipse)
    area = np.linalg.norm(np.cross(U, V), axis=1)
    counts = rng.poisson(area * density)
    quad = np.repeat(np.arange(len(P)), counts)
    st = rng.random((len(quad), 2))
    keep = ~(ellipse[quad] & (((2 * st - 1) ** 2).sum(axis=1) > 1.0))
    quad, st = quad[keep], st[keep]
    s_len, t_len = np.linalg.norm(U, axis=1), np.linalg.norm(V, axis=1)
    sm, tm = st[:, 0] * s_len[quad], st[:, 1] * t_len[quad]
    xyz = P[quad] + st[:, :1] * U[quad] + st[:, 1:] * V[quad]
    inst = np.asarray(room.quad_instance)[quad]

    keep = np.ones(len(xyz), bool)
    for q, s0, s1, t0, t1 in room.holes:  # points are grouped by quad: cut within the quad's slice
        a, b = np.searchsorted(quad, q), np.searchsorted(quad, q, side="right")
        keep[a:b] &= ~((sm[a:b] >= s0) & (sm[a:b] <= s1) & (tm[a:b] >= t0) & (tm[a:b] <= t1))
    by_x = np.argsort(xyz[:, 0], kind="stable")
    sorted_x = xyz[by_x, 0]

    def near(centre: np.ndarray, reach: float) -> np.ndarray:
        """Indices of the points whose x is within ``reach`` of ``centre``'s (candidates for a local test)."""
        lo, hi = np.searchsorted(sorted_x, [centre[0] - reach, centre[0] + reach])
        return by_x[lo:hi]

    for centre, half, yaw, owner in room.occluders:
        idx = near(centre, float(np.linalg.norm(half[:2])) + 0.02)
        c, s = math.cos(yaw), math.sin(yaw)
        d = xyz[idx] - centre
        local = np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], d[:, 2]], axis=1)
        keep[idx[(np.abs(local) <= half + 0.015).all(axis=1) & (inst[idx] != owner)]] = False
    # random dropout blobs (scanner shadows) on the big planes and a few small ones anywhere
    planar = np.flatnonzero(np.isin(np.asarray(room.instance_class)[inst], _PLANAR) & keep)
    for radius, pool in [(rng.uniform(0.15, 0.6), planar) for _ in range(int(rng.integers(2, 6)))] + [
        (rng.uniform(0.05, 0.15), np.flatnonzero(keep)) for _ in range(int(rng.integers(1, 4)))
    ]:
        if len(pool):
            centre = int(pool[rng.integers(len(pool))])
            idx = near(xyz[centre], radius)
            keep[
                idx[(inst[idx] == inst[centre]) & (np.linalg.norm(xyz[idx] - xyz[centre], axis=1) < radius)]
            ] = False
    return xyz[keep], quad[keep], sm[keep], tm[keep]


def _paint_points(rng, paints: list[_Paint], paint: np.ndarray, sm, tm, s_len, t_len) -> np.ndarray:
    """(n, 3) float colours of points on quads with the given paints; ``sm, tm`` are local metres."""
    base = np.array([p.base for p in paints])[paint]
    alt = np.array([p.alt for p in paints])[paint]
    scale = np.array([p.scale for p in paints])[paint]
    kind = np.array([p.kind for p in paints])[paint]
    noise = np.array([p.noise for p in paints])[paint][:, None]
    n = len(paint)
    rgb = base + noise * (rng.normal(0.0, 1.0, (n, 1)) + 0.5 * rng.normal(0.0, 1.0, (n, 3)))
    wood = kind == _WOOD
    grain = (0.5 + 0.5 * np.sin(2 * np.pi * scale * (tm + 0.03 * np.sin(2.1 * sm + 4.0 * tm)))) ** 3
    rgb[wood] += grain[wood, None] * (alt[wood] - base[wood])
    tiles = kind == _TILES
    line = (np.mod(sm, np.maximum(scale, 1e-6)) < 0.012) | (np.mod(tm, np.maximum(scale, 1e-6)) < 0.012)
    rgb[tiles & line] += alt[tiles & line] - base[tiles & line]
    carpet = (kind == _CARPET) & (rng.random(n) < 0.08)
    rgb[carpet] = alt[carpet] + rgb[carpet] * 0.5
    board = kind == _BOARD
    edge = np.minimum(np.minimum(sm, s_len - sm), np.minimum(tm, t_len - tm)) < scale
    rgb[board & edge] += alt[board & edge] - base[board & edge]
    ink = (
        board
        & ~edge
        & (np.abs(np.mod(tm + 0.05 * np.sin(7.0 * sm), 0.14) - 0.07) < 0.004)
        & (np.mod(sm, 1.1) < 0.7)
    )
    rgb[ink] = (40.0, 55.0, 120.0)
    glass = kind == _GLASS
    rgb[glass] *= (0.8 + 0.35 * tm[glass] / np.maximum(t_len[glass], 1e-6))[:, None]
    fabric = kind == _FABRIC
    rgb[fabric] *= (
        1.0 + 0.06 * np.sin(2 * np.pi * sm[fabric] / 0.004) * np.sin(2 * np.pi * tm[fabric] / 0.004)
    )[:, None]
    return rgb


# --------------------------------------------------------------------------------------------------
# Outdoor sweeps: a street of analytic solids, ray-cast by a rotating multi-beam scanner
# --------------------------------------------------------------------------------------------------

# material -> (remission std per point, instance spread, range noise std in metres)
_MATERIALS: dict[str, tuple[float, float, float]] = {
    "road": (0.035, 0.04, 0.02), "parking": (0.04, 0.04, 0.02), "sidewalk": (0.05, 0.04, 0.02),
    "other-ground": (0.05, 0.04, 0.02), "terrain": (0.08, 0.04, 0.035), "building": (0.06, 0.12, 0.02),
    "fence": (0.07, 0.08, 0.02), "vegetation": (0.08, 0.04, 0.03), "trunk": (0.04, 0.04, 0.02),
    "pole": (0.05, 0.08, 0.02), "sign": (0.04, 0.03, 0.02), "paint": (0.05, 0.15, 0.02),
    "glass": (0.03, 0.02, 0.02), "tire": (0.02, 0.01, 0.02), "cloth": (0.06, 0.1, 0.02),
    "metal": (0.08, 0.1, 0.02), "beyond": (0.06, 0.0, 0.03),
}  # fmt: skip
_MATERIAL_ID = {name: i for i, name in enumerate(_MATERIALS)}
_MEAN_REMISSION = {
    "road": 0.24, "parking": 0.27, "sidewalk": 0.36, "other-ground": 0.3, "terrain": 0.42, "building": 0.38,
    "fence": 0.34, "vegetation": 0.45, "trunk": 0.33, "pole": 0.4, "sign": 0.9, "paint": 0.32, "glass": 0.08,
    "tire": 0.06, "cloth": 0.25, "metal": 0.45, "beyond": 0.2,
}  # fmt: skip
_BOX, _CYLINDER, _ELLIPSOID = range(3)


@dataclass(frozen=True)
class _Solid:
    """An analytic primitive: box (size = half extents, rotated by yaw about z), vertical cylinder
    (size = (r, r, half height)) or axis-aligned ellipsoid (size = radii); ``porous`` > 0 is the mean
    depth rays penetrate it (foliage)."""

    shape: int
    centre: tuple[float, float, float]
    size: tuple[float, float, float]
    yaw: float
    label: int
    instance: int
    material: int
    reflect: float
    porous: float = 0.0


@dataclass
class _Street:
    solids: list[_Solid]
    ground: list[
        tuple[float, float, float, float, int, int, float]
    ]  # x0, x1, y0, y1, label, material, reflect
    lanes: list[float]  # y of dashed lane lines
    taken: list[tuple[float, float, float, float]]
    instances: int = 0

    def free(self, box: tuple[float, float, float, float]) -> bool:
        x0, y0, x1, y1 = box
        return all(x1 <= a0 or x0 >= a1 or y1 <= b0 or y0 >= b1 for a0, b0, a1, b1 in self.taken)

    def next_instance(self) -> int:
        self.instances += 1
        return self.instances


def hdl64_elevations(beams: int = 64) -> np.ndarray:
    """(beams,) float64 elevation angles in degrees, top to bottom, laid out like an HDL-64E: the upper
    half from +2.0 to -8.33 (1/3 degree apart for 64 beams), the lower half from -8.83 to -24.8."""
    _check_int("beams", beams, 2, 256)
    upper = beams // 2
    return np.concatenate([np.linspace(2.0, -8.33, upper), np.linspace(-8.83, -24.8, beams - upper)])


def generate_sweep(
    rng: np.random.Generator, *, beams: int = 64, azimuth_steps: int = 1920, max_range: float = MAX_RANGE
) -> tuple[np.ndarray, np.ndarray]:
    """Ray-cast one sweep of a random street scene.

    Returns points (N, 4) float32 (x, y, z in the sensor frame, remission in 0..0.99) and labels (N,)
    uint32 (raw SemanticKITTI semantic id | instance id << 16). Each ray yields at most one point (the
    first hit, moved along the ray by range noise); misses, rays beyond ``max_range`` and dropped rays
    yield none. Points are ordered beam by beam (top beam first), then by azimuth.
    """
    _check_int("beams", beams, 2, 256)
    _check_int("azimuth_steps", azimuth_steps, 64, 8192)
    if not (isinstance(max_range, (int, float)) and 5.0 <= max_range <= 500.0):
        raise ValueError(f"max_range must be a number of metres in 5..500, got {max_range!r}")
    street = _street_scene(rng)
    elevation = np.radians(hdl64_elevations(beams))
    azimuth = -np.pi + 2 * np.pi * (np.arange(azimuth_steps) + 0.5) / azimuth_steps
    ce = np.cos(elevation)[:, None]
    dirs = np.stack(
        [
            ce * np.cos(azimuth)[None, :],
            ce * np.sin(azimuth)[None, :],
            np.broadcast_to(np.sin(elevation)[:, None], (beams, azimuth_steps)),
        ],
        axis=-1,
    )
    origin = np.array([0.0, 0.0, SENSOR_HEIGHT])
    t, hit, normal = _cast(rng, street.solids, origin, dirs, elevation, max_range + 1.0)

    t, hit, normal, dirs = t.ravel(), hit.ravel(), normal.reshape(-1, 3), dirs.reshape(-1, 3)
    found = np.isfinite(t)
    t, hit, normal, dirs = t[found], hit[found], normal[found], dirs[found]
    labels, instances, material, reflect = _surface(street, hit, origin + t[:, None] * dirs)
    std = np.array([v[0] for v in _MATERIALS.values()])[material]
    range_std = np.array([v[2] for v in _MATERIALS.values()])[material]
    t = t + rng.normal(0.0, 1.0, len(t)) * range_std
    cos_incidence = np.abs((normal * dirs).sum(axis=1))
    remission = np.clip(reflect * (0.7 + 0.3 * cos_incidence) + rng.normal(0.0, 1.0, len(t)) * std, 0.0, 0.99)
    drop = (
        0.015 + 0.25 * (t / max_range) ** 2 * (1.0 - remission) + 0.45 * (material == _MATERIAL_ID["glass"])
    )
    keep = (rng.random(len(t)) >= drop) & (t < max_range) & (t > 0.5)
    spurious = rng.random(len(t)) < 5e-4  # dust / multi-path: a short return labelled unlabeled
    t = np.where(spurious, t * rng.uniform(0.1, 0.9, len(t)), t)
    labels = np.where(spurious, KITTI_RAW_IDS["unlabeled"], labels)
    instances = np.where(spurious, 0, instances)
    remission = np.where(spurious, rng.uniform(0.0, 0.1, len(t)), remission)
    xyz = t[:, None] * dirs
    points = np.concatenate([xyz, remission[:, None]], axis=1)[keep].astype(np.float32)
    raw = (labels[keep].astype(np.uint32) & 0xFFFF) | (instances[keep].astype(np.uint32) << 16)
    return points, raw


def _cast(
    rng,
    solids: list[_Solid],
    origin: np.ndarray,
    dirs: np.ndarray,
    elevation: np.ndarray,
    max_range: float,
):
    """First hit of every ray of the scanner grid.

    dirs : (B, A, 3) unit directions, beam b at ``elevation[b]`` (radians), azimuth step a centred at
    -pi + 2 pi (a + 0.5) / A. Returns t (B, A) float64 (inf = miss), hit (B, A) int64 (-1 ground plane
    z = 0, k = solids[k], -2 none), normal (B, A, 3). Each solid is tested only against the rays of the
    beams / azimuth steps its bounding sphere can reach, and not at all beyond ``max_range``."""
    beams, steps = dirs.shape[:2]
    best = np.full((beams, steps), np.inf)
    hit = np.full((beams, steps), -2, np.int64)
    normal = np.zeros((beams, steps, 3))
    down = dirs[..., 2] < -1e-9
    best[down] = origin[2] / -dirs[..., 2][down]
    hit[down] = -1
    normal[down] = (0.0, 0.0, 1.0)
    step = 2 * np.pi / steps
    for k, solid in enumerate(solids):
        centre = np.asarray(solid.centre)
        radius = (
            float(np.linalg.norm(solid.size))
            if solid.shape == _BOX
            else float(
                math.hypot(solid.size[0], solid.size[2]) if solid.shape == _CYLINDER else max(solid.size)
            )
        )
        rel = centre - origin
        dist, dxy = float(np.linalg.norm(rel)), float(np.hypot(rel[0], rel[1]))
        if dist - radius > max_range:
            continue
        if dist <= radius * 1.001 or dxy <= radius:
            rows, cols = np.arange(beams), np.arange(steps)
        else:
            centre_el, half_el = math.asin(rel[2] / dist), math.asin(radius / dist)
            rows = np.flatnonzero(np.abs(elevation - centre_el) <= half_el + 1e-9)
            centre_az, half_az = math.atan2(rel[1], rel[0]), math.asin(radius / dxy)
            lo = math.floor((centre_az - half_az + np.pi) / step - 0.5)
            hi = math.ceil((centre_az + half_az + np.pi) / step - 0.5)
            cols = np.unique(np.arange(lo, hi + 1) % steps)
        if not len(rows) or not len(cols):
            continue
        sub = np.ix_(rows, cols)
        d = dirs[sub].reshape(-1, 3)
        t_near, t_far, n = _intersect(solid, origin, d)
        if solid.porous > 0:
            inside = np.isfinite(t_near)
            room = np.where(inside, t_far - np.where(inside, t_near, 0.0), 0.0)
            depth = np.minimum(rng.exponential(solid.porous, len(d)), np.maximum(room, 0.0))
            t_near = np.where(inside, t_near + depth, t_near)
        t_near = t_near.reshape(len(rows), len(cols))
        current = best[sub]
        closer = t_near < current
        if not closer.any():
            continue
        best[sub] = np.where(closer, t_near, current)
        hit[sub] = np.where(closer, k, hit[sub])
        normal[sub] = np.where(closer[..., None], n.reshape(len(rows), len(cols), 3), normal[sub])
    return best, hit, normal


def _intersect(solid: _Solid, origin: np.ndarray, d: np.ndarray):
    """(t_near, t_far, normal) of rays ``origin + t d`` (d: (M, 3) unit) with one solid; t_near = inf on a miss."""
    centre, size = np.asarray(solid.centre), np.asarray(solid.size)
    ro = origin - centre
    with np.errstate(divide="ignore", invalid="ignore"):
        if solid.shape == _BOX:
            c, s = math.cos(solid.yaw), math.sin(solid.yaw)
            lo_origin = np.array([c * ro[0] + s * ro[1], -s * ro[0] + c * ro[1], ro[2]])
            ld = np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], d[:, 2]], axis=1)
            ld = np.where(np.abs(ld) < 1e-12, 1e-12, ld)
            t1, t2 = (-size - lo_origin) / ld, (size - lo_origin) / ld
            t_min, t_max = np.minimum(t1, t2), np.maximum(t1, t2)
            t_near, t_far = t_min.max(axis=1), t_max.min(axis=1)
            ok = (t_near <= t_far) & (t_near > 1e-6)
            axis = t_min.argmax(axis=1)
            local = np.zeros_like(d)
            local[np.arange(len(d)), axis] = -np.sign(ld[np.arange(len(d)), axis])
            n = np.stack(
                [c * local[:, 0] - s * local[:, 1], s * local[:, 0] + c * local[:, 1], local[:, 2]], axis=1
            )
        elif solid.shape == _CYLINDER:
            r, half = size[0], size[2]
            a = d[:, 0] ** 2 + d[:, 1] ** 2
            b = 2 * (ro[0] * d[:, 0] + ro[1] * d[:, 1])
            cc = ro[0] ** 2 + ro[1] ** 2 - r * r
            disc = b * b - 4 * a * cc
            root = np.sqrt(np.maximum(disc, 0.0))
            t_side, t_far = (-b - root) / (2 * a), (-b + root) / (2 * a)
            z = ro[2] + t_side * d[:, 2]
            side = (disc >= 0) & (a > 1e-12) & (np.abs(z) <= half) & (t_side > 1e-6)
            t_cap = (half - ro[2]) / d[:, 2]
            px, py = ro[0] + t_cap * d[:, 0], ro[1] + t_cap * d[:, 1]
            cap = (d[:, 2] < 0) & (ro[2] > half) & (px * px + py * py <= r * r) & (t_cap > 1e-6)
            t_near = np.where(side, t_side, np.where(cap, t_cap, np.inf))
            use_cap = cap & (~side | (t_cap < t_side))
            t_near = np.where(use_cap, t_cap, t_near)
            ok = side | cap
            radial = (
                np.stack([ro[0] + t_near * d[:, 0], ro[1] + t_near * d[:, 1], np.zeros(len(d))], axis=1) / r
            )
            n = np.where(use_cap[:, None], np.array([0.0, 0.0, 1.0]), radial)
        else:
            ros, ds = ro / size, d / size
            a = (ds * ds).sum(axis=1)
            b = 2 * (ds @ ros)
            cc = float(ros @ ros) - 1.0
            disc = b * b - 4 * a * cc
            root = np.sqrt(np.maximum(disc, 0.0))
            t_near, t_far = (-b - root) / (2 * a), (-b + root) / (2 * a)
            ok = (disc >= 0) & (t_near > 1e-6)
            n = (ro + t_near[:, None] * d) / size**2
            n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    t_near = np.where(ok, t_near, np.inf)
    return t_near, np.where(ok, t_far, np.inf), n


def _surface(street: _Street, hit: np.ndarray, points: np.ndarray):
    """Per hit: raw label (n,), instance (n,), material (n,), mean remission (n,) — ground from the map."""
    solids = street.solids
    table = np.array([(s.label, s.instance, s.material, s.reflect) for s in solids] or np.zeros((0, 4)))
    on_solid = hit >= 0
    labels = np.zeros(len(hit), np.int64)
    instances = np.zeros(len(hit), np.int64)
    material = np.full(len(hit), _MATERIAL_ID["beyond"], np.int64)
    reflect = np.full(len(hit), _MEAN_REMISSION["beyond"])
    if len(table):
        rows = table[hit[on_solid]]
        labels[on_solid], instances[on_solid] = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64)
        material[on_solid], reflect[on_solid] = rows[:, 2].astype(np.int64), rows[:, 3]
    ground = hit == -1
    x, y = points[:, 0], points[:, 1]
    for x0, x1, y0, y1, label, mat, value in street.ground:
        inside = ground & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        labels[inside], material[inside], reflect[inside] = label, mat, value
    road = ground & (labels == KITTI_RAW_IDS["road"])
    for line in street.lanes:
        mark = road & (np.abs(y - line) < 0.075) & (np.mod(x, 9.0) < 3.0)
        reflect[mark] = 0.62
    return labels, instances, material, reflect


def _add(
    street: _Street,
    rng,
    shape: int,
    centre,
    size,
    yaw: float,
    label: str,
    material: str,
    instance: int = 0,
    porous: float = 0.0,
) -> None:
    spread = _MATERIALS[material][1]
    reflect = float(np.clip(_MEAN_REMISSION[material] + rng.normal(0.0, spread), 0.02, 0.95))
    street.solids.append(
        _Solid(shape, tuple(float(v) for v in centre), tuple(float(v) for v in size), float(yaw),
               KITTI_RAW_IDS[label], instance, _MATERIAL_ID[material], reflect, porous)
    )  # fmt: skip


def _part(
    street: _Street,
    rng,
    x: float,
    y: float,
    yaw: float,
    shape: int,
    offset,
    size,
    label: str,
    material: str,
    instance: int,
    reflect: float | None = None,
) -> None:
    """A part of an object placed at (x, y, yaw): ``offset`` is the part centre in the object's frame."""
    c, s = math.cos(yaw), math.sin(yaw)
    centre = (x + c * offset[0] - s * offset[1], y + s * offset[0] + c * offset[1], offset[2])
    if reflect is None:
        _add(street, rng, shape, centre, size, yaw, label, material, instance)
    else:
        street.solids.append(_Solid(shape, centre, tuple(float(v) for v in size), float(yaw), KITTI_RAW_IDS[label],
                                    instance, _MATERIAL_ID[material], reflect))  # fmt: skip


def _vehicle(street: _Street, rng, x: float, y: float, yaw: float, kind: str) -> None:
    inst = street.next_instance()
    paint = float(np.clip(rng.uniform(0.08, 0.6), 0.02, 0.95))
    if kind == "car":
        length, width, roof = rng.uniform(3.8, 4.8), rng.uniform(1.65, 1.9), rng.uniform(1.4, 1.6)
        _part(
            street,
            rng,
            x,
            y,
            yaw,
            _BOX,
            (0, 0, 0.65),
            (length / 2, width / 2, 0.35),
            kind,
            "paint",
            inst,
            paint,
        )
        _part(
            street,
            rng,
            x,
            y,
            yaw,
            _BOX,
            (-0.1 * length, 0, (1.0 + roof) / 2),
            (0.27 * length, width / 2 - 0.08, (roof - 1.0) / 2),
            kind,
            "glass",
            inst,
        )
        axle, body_bottom, wheel = length / 2 - 0.8, 0.3, 0.32
    elif kind == "truck":
        length, width = rng.uniform(6.5, 10.0), 2.5
        _part(
            street,
            rng,
            x,
            y,
            yaw,
            _BOX,
            (length / 2 - 1.0, 0, 1.75),
            (1.0, 1.2, 1.25),
            kind,
            "paint",
            inst,
            paint,
        )
        top = rng.uniform(3.2, 3.8)
        _part(
            street,
            rng,
            x,
            y,
            yaw,
            _BOX,
            (-1.0, 0, (0.8 + top) / 2),
            ((length - 2.0) / 2, width / 2, (top - 0.8) / 2),
            kind,
            "metal",
            inst,
        )
        axle, body_bottom, wheel = length / 2 - 1.2, 0.8, 0.5
    else:  # other-vehicle: a bus / tram-like box
        length, width, top = rng.uniform(10, 13), 2.5, rng.uniform(2.9, 3.3)
        _part(
            street,
            rng,
            x,
            y,
            yaw,
            _BOX,
            (0, 0, (0.4 + top) / 2),
            (length / 2, width / 2, (top - 0.4) / 2),
            kind,
            "paint",
            inst,
            paint,
        )
        axle, body_bottom, wheel = length / 2 - 2.0, 0.4, 0.5
    for ax in (axle, -axle):
        for side in (1, -1):
            _part(
                street,
                rng,
                x,
                y,
                yaw,
                _BOX,
                (ax, side * (width / 2 - 0.12), wheel),
                (wheel, 0.12, min(wheel, body_bottom + 0.1)),
                kind,
                "tire",
                inst,
            )


def _two_wheeler(street: _Street, rng, x: float, y: float, yaw: float, kind: str, rider: bool) -> None:
    inst = street.next_instance()
    label = ("motorcyclist" if kind == "motorcycle" else "bicyclist") if rider else kind
    motor = kind == "motorcycle"
    r, base = (0.31, 0.7) if motor else (0.34, 0.52)
    for ax in (base, -base):
        _part(street, rng, x, y, yaw, _BOX, (ax, 0, r), (r, 0.06 if motor else 0.02, r), label, "tire", inst)
    if motor:
        _part(street, rng, x, y, yaw, _BOX, (0, 0, 0.65), (0.6, 0.2, 0.25), label, "paint", inst)
    else:
        _part(street, rng, x, y, yaw, _BOX, (0, 0, 0.58), (0.45, 0.02, 0.03), label, "metal", inst)
        _part(street, rng, x, y, yaw, _BOX, (-0.2, 0, 0.8), (0.12, 0.07, 0.03), label, "cloth", inst)
    _part(street, rng, x, y, yaw, _BOX, (base - 0.05, 0, 1.0), (0.03, 0.3, 0.03), label, "metal", inst)
    if rider:
        _part(street, rng, x, y, yaw, _CYLINDER, (-0.1, 0, 1.3), (0.19, 0.19, 0.3), label, "cloth", inst)
        _part(street, rng, x, y, yaw, _ELLIPSOID, (0.0, 0, 1.75), (0.12, 0.11, 0.13), label, "cloth", inst)
        for side in (1, -1):
            _part(
                street,
                rng,
                x,
                y,
                yaw,
                _CYLINDER,
                (0.0, side * 0.12, 0.6),
                (0.07, 0.07, 0.4),
                label,
                "cloth",
                inst,
            )


def _person(street: _Street, rng, x: float, y: float) -> None:
    inst = street.next_instance()
    k, clothes = rng.uniform(0.88, 1.1), float(rng.uniform(0.1, 0.45))
    yaw = rng.uniform(0, 2 * np.pi)
    torso = rng.uniform(0.15, 0.21)
    for side in (1, -1):
        _part(
            street,
            rng,
            x,
            y,
            yaw,
            _CYLINDER,
            (0, side * 0.1, 0.43 * k),
            (0.07, 0.07, 0.43 * k),
            "person",
            "cloth",
            inst,
            clothes,
        )
        _part(
            street,
            rng,
            x,
            y,
            yaw,
            _CYLINDER,
            (0, side * (torso + 0.06), 1.15 * k),
            (0.045, 0.045, 0.3 * k),
            "person",
            "cloth",
            inst,
            clothes,
        )
    _part(
        street,
        rng,
        x,
        y,
        yaw,
        _CYLINDER,
        (0, 0, 1.16 * k),
        (torso, torso, 0.3 * k),
        "person",
        "cloth",
        inst,
        clothes,
    )
    _part(street, rng, x, y, yaw, _ELLIPSOID, (0, 0, 1.6 * k), (0.1, 0.09, 0.12), "person", "cloth", inst)


def _place(street: _Street, rng, sample, half_x: float, half_y: float, tries: int = 30):
    """Rejection-sample a free spot: ``sample()`` -> (x, y); the footprint box is then taken."""
    for _ in range(tries):
        x, y = sample()
        box = (x - half_x, y - half_y, x + half_x, y + half_y)
        if street.free(box):
            street.taken.append(box)
            return x, y
    return None


def _street_scene(rng: np.random.Generator) -> _Street:
    """A straight street along x (sensor at the origin of the floor plan, in a lane), optional cross street."""
    street = _Street([], [], [], [(-3.0, -1.2, 3.0, 1.2)])  # the ego vehicle's own spot
    extent, lane = 90.0, rng.uniform(2.8, 3.3)
    right_lanes, left_lanes = (
        1 + int(rng.random() < 0.3),
        1 + int(rng.random() < 0.5) + int(rng.random() < 0.2),
    )
    y_right, y_left = -lane * (right_lanes - 0.5), lane * (left_lanes + 0.5)
    street.lanes = [
        -lane / 2 + k * lane
        for k in range(-(right_lanes - 1), left_lanes + 1)
        if abs(-lane / 2 + k * lane) > 1e-9
    ]
    street.lanes = [y for y in street.lanes if y_right + 0.5 < y < y_left - 0.5]
    ground = street.ground
    ground.append(
        (
            -extent,
            extent,
            -45.0,
            45.0,
            KITTI_RAW_IDS["terrain"],
            _MATERIAL_ID["terrain"],
            _MEAN_REMISSION["terrain"],
        )
    )
    ground.append(
        (
            -extent,
            extent,
            y_right,
            y_left,
            KITTI_RAW_IDS["road"],
            _MATERIAL_ID["road"],
            float(rng.uniform(0.18, 0.3)),
        )
    )
    blocks = [(-extent, extent)]
    if rng.random() < 0.35:
        xc, wc = float(rng.choice([-1, 1]) * rng.uniform(18, 45)), float(rng.uniform(7, 11))
        ground.append(
            (
                xc - wc / 2,
                xc + wc / 2,
                -45.0,
                45.0,
                KITTI_RAW_IDS["road"],
                _MATERIAL_ID["road"],
                _MEAN_REMISSION["road"],
            )
        )
        blocks = [(-extent, xc - wc / 2 - 1.0), (xc + wc / 2 + 1.0, extent)]
        street.taken.append((xc - wc / 2, -45.0, xc + wc / 2, 45.0))
    if y_left - y_right > 9 and rng.random() < 0.6:  # a raised traffic island between the directions
        xi = float(rng.choice([-1, 1]) * rng.uniform(12, 35))
        _add(
            street,
            rng,
            _BOX,
            (xi, lane / 2 + 0.0, 0.08),
            (rng.uniform(3, 8), 0.6, 0.08),
            0.0,
            "other-ground",
            "other-ground",
        )
        street.taken.append((xi - 8, lane / 2 - 0.6, xi + 8, lane / 2 + 0.6))
    outer: dict[int, tuple[float, float, float, bool]] = {}
    yard = False
    for side, edge in ((1, y_left), (-1, y_right)):
        y = edge
        parking = rng.random() < 0.4 or (side < 0 and not outer[1][3])  # parking on at least one side
        if parking:
            band = sorted((y, y + side * 2.4))
            for x0, x1 in blocks:
                ground.append(
                    (
                        x0,
                        x1,
                        band[0],
                        band[1],
                        KITTI_RAW_IDS["parking"],
                        _MATERIAL_ID["parking"],
                        float(rng.uniform(0.2, 0.34)),
                    )
                )
            y += side * 2.4
        curb_y = y
        walk = rng.uniform(2.5, 6.0)
        for x0, x1 in blocks:
            _add(
                street,
                rng,
                _BOX,
                ((x0 + x1) / 2, y + side * walk / 2, 0.065),
                ((x1 - x0) / 2, walk / 2, 0.065),
                0.0,
                "sidewalk",
                "sidewalk",
            )
        y += side * walk
        outer[side] = (edge, curb_y, y, parking)
        if rng.random() < 0.5 or (side < 0 and not yard):  # a paved yard / driveway beyond the sidewalk
            yard, xa = True, rng.uniform(-30, 15)
            band = sorted((y, y + side * rng.uniform(4, 10)))
            ground.append(
                (
                    xa,
                    xa + rng.uniform(6, 15),
                    band[0],
                    band[1],
                    KITTI_RAW_IDS["other-ground"],
                    _MATERIAL_ID["other-ground"],
                    _MEAN_REMISSION["other-ground"],
                )
            )
        _buildings(street, rng, side, y + side * rng.uniform(0.0, 4.0), blocks)
    for side, (edge, curb_y, walk_y, parking) in outer.items():
        _street_furniture(street, rng, side, curb_y, walk_y, blocks)
        _parked(street, rng, side, edge, curb_y, parking)
    _traffic(street, rng, y_right, y_left, lane, outer)
    return street


def _buildings(street: _Street, rng, side: int, front: float, blocks) -> None:
    for x0, x1 in blocks:
        x = x0 + rng.uniform(0, 6)
        while x < x1 - 4:
            length = min(rng.uniform(8, 30), x1 - x)
            setback = front + side * rng.uniform(0.0, 3.0)
            if rng.random() < 0.85:
                depth, height = rng.uniform(8, 15), rng.uniform(4, 20)
                _add(
                    street,
                    rng,
                    _BOX,
                    (x + length / 2, setback + side * depth / 2, height / 2),
                    (length / 2, depth / 2, height / 2),
                    0.0,
                    "building",
                    "building",
                )
                if rng.random() < 0.5:  # a hedge or bushes in front of it
                    _add(
                        street,
                        rng,
                        _BOX,
                        (x + length / 2, setback - side * 0.7, 0.6),
                        (length / 2 * rng.uniform(0.4, 0.95), 0.5, 0.6),
                        0.0,
                        "vegetation",
                        "vegetation",
                        porous=0.15,
                    )
            elif rng.random() < 0.5:
                _add(
                    street,
                    rng,
                    _BOX,
                    (x + length / 2, setback + side * 0.6, 0.7),
                    (length / 2, 0.6, 0.7),
                    0.0,
                    "vegetation",
                    "vegetation",
                    porous=0.15,
                )
            x += length
            gap = rng.uniform(0, 9)
            if gap > 1.5 and rng.random() < 0.6:  # a fence closing the gap
                _add(
                    street,
                    rng,
                    _BOX,
                    (x + gap / 2, front + side * rng.uniform(0, 1.0), 0.75),
                    (gap / 2, 0.03, rng.uniform(0.5, 1.0)),
                    0.0,
                    "fence",
                    "fence",
                )
            x += gap


def _tree(street: _Street, rng, x: float, y: float, base: float) -> None:
    trunk_h, r = rng.uniform(1.8, 3.5), rng.uniform(0.12, 0.3)
    _add(street, rng, _CYLINDER, (x, y, base + trunk_h / 2), (r, r, trunk_h / 2), 0.0, "trunk", "trunk")
    rx, rz = rng.uniform(1.8, 3.5), rng.uniform(1.6, 3.2)
    _add(
        street,
        rng,
        _ELLIPSOID,
        (x, y, base + trunk_h + 0.6 * rz),
        (rx, rx * rng.uniform(0.8, 1.2), rz),
        0.0,
        "vegetation",
        "vegetation",
        porous=0.3,
    )


def _street_furniture(street: _Street, rng, side: int, curb_y: float, walk_y: float, blocks) -> None:
    for x0, x1 in blocks:
        if rng.random() < 0.85:  # a row of trees along the curb or in the verge
            y = curb_y + side * 0.8 if rng.random() < 0.5 else walk_y + side * rng.uniform(1.0, 3.0)
            x = x0 + rng.uniform(2, 10)
            while x < x1 - 2:
                if street.free((x - 0.5, y - 0.5, x + 0.5, y + 0.5)):
                    street.taken.append((x - 0.5, y - 0.5, x + 0.5, y + 0.5))
                    _tree(street, rng, x, y, 0.13 if abs(y - curb_y) < abs(walk_y - curb_y) else 0.0)
                x += rng.uniform(5, 11)
        x = x0 + rng.uniform(3, 20)
        while x < x1 - 2:  # street lights
            y = curb_y + side * 0.45
            if street.free((x - 0.3, y - 0.3, x + 0.3, y + 0.3)):
                street.taken.append((x - 0.3, y - 0.3, x + 0.3, y + 0.3))
                h, r = rng.uniform(5, 9), rng.uniform(0.08, 0.13)
                _add(street, rng, _CYLINDER, (x, y, 0.13 + h / 2), (r, r, h / 2), 0.0, "pole", "pole")
                _add(
                    street,
                    rng,
                    _BOX,
                    (x, y - side * 0.8, 0.13 + h - 0.1),
                    (0.1, 0.8, 0.06),
                    0.0,
                    "pole",
                    "pole",
                )
            x += rng.uniform(20, 35)
    lo, hi = min(curb_y, walk_y), max(curb_y, walk_y)
    for _ in range(int(rng.integers(1, 3))):  # traffic signs on the sidewalk
        spot = _place(
            street, rng, lambda: (rng.choice([-1, 1]) * rng.uniform(12, 45), curb_y + side * 0.4), 0.4, 0.4
        )
        if spot is not None:
            x, y = spot
            h = rng.uniform(1.5, 2.1)
            _add(street, rng, _CYLINDER, (x, y, 0.13 + h / 2), (0.04, 0.04, h / 2), 0.0, "pole", "pole")
            size = rng.uniform(0.3, 0.45)
            _add(
                street,
                rng,
                _BOX,
                (x - np.sign(x) * 0.06, y, 0.13 + h + size * 0.8),
                (0.02, size, size),
                rng.normal(0, 0.1),
                "traffic-sign",
                "sign",
            )
    for _ in range(int(rng.integers(1, 4))):
        spot = _place(street, rng, lambda: (rng.uniform(-35, 35), rng.uniform(lo + 0.4, hi - 0.4)), 0.4, 0.4)
        if spot is not None:
            _person(street, rng, *spot)
    for _ in range(int(rng.integers(0, 3)) + (side > 0)):
        spot = _place(
            street, rng, lambda: (rng.uniform(-30, 30), hi - 0.5 if side > 0 else lo + 0.5), 1.0, 0.4
        )
        if spot is not None:
            _two_wheeler(street, rng, spot[0], spot[1], float(rng.normal(0, 0.2)), "bicycle", rider=False)
    if rng.random() < 0.4 or side > 0:
        spot = _place(
            street, rng, lambda: (rng.uniform(-30, 30), hi - 0.8 if side > 0 else lo + 0.8), 1.1, 0.5
        )
        if spot is not None:
            _two_wheeler(street, rng, spot[0], spot[1], float(rng.normal(0, 0.1)), "motorcycle", rider=False)


def _parked(street: _Street, rng, side: int, edge: float, curb_y: float, parking: bool) -> None:
    y = (edge + curb_y) / 2 if parking else edge - side * 1.1
    x = -rng.uniform(50, 70)
    while x < 70:
        length = rng.uniform(3.8, 4.8)
        if rng.random() < 0.45 and street.free((x, y - 1.0, x + length, y + 1.0)):
            street.taken.append((x, y - 1.0, x + length, y + 1.0))
            _vehicle(
                street, rng, x + length / 2, y, float(rng.choice([0.0, np.pi]) + rng.normal(0, 0.03)), "car"
            )
        x += length + rng.uniform(0.5, 9.0)


def _traffic(street: _Street, rng, y_right: float, y_left: float, lane: float, outer) -> None:
    lanes = [
        y
        for y in np.arange(-lane * 10, lane * 10, lane)
        if y_right + lane / 2 - 1e-6 <= y <= y_left - lane / 2 + 1e-6 and abs(y) > 1.0
    ]
    lanes = lanes or [y_left - lane / 2]
    for kind, count in (("car", int(rng.integers(1, 4))), ("truck", 1), ("other-vehicle", 1)):
        for _ in range(count):
            length = {"car": 4.5, "truck": 10.0, "other-vehicle": 13.0}[kind]
            spot = _place(
                street,
                rng,
                lambda lanes=lanes: (rng.choice([-1, 1]) * rng.uniform(8, 45), float(rng.choice(lanes))),
                length / 2 + 1,
                1.3,
            )
            if spot is not None:
                _vehicle(
                    street, rng, spot[0], spot[1], float(rng.choice([0.0, np.pi]) + rng.normal(0, 0.02)), kind
                )
    riders = ["bicycle"] * (1 + int(rng.random() < 0.3)) + ["motorcycle"] * int(rng.random() < 0.5)
    for vehicle in riders:  # bicyclists / motorcyclists along the road edge
        edge_lane = (y_left - 0.8) if rng.random() < 0.5 else (y_right + 0.8)
        spot = _place(
            street, rng, lambda y=edge_lane: (rng.choice([-1, 1]) * rng.uniform(6, 30), y), 1.1, 0.5
        )
        if spot is not None:
            _two_wheeler(street, rng, spot[0], spot[1], float(rng.choice([0.0, np.pi])), vehicle, rider=True)
