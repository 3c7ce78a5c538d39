"""Reader for the SemanticKITTI layout: ``sequences/XX/velodyne/NNNNNN.bin`` + ``labels/NNNNNN.label``.

``.bin`` holds float32 rows ``(x, y, z, remission)``; ``.label`` one uint32 per point whose low 16 bits
are the semantic id (the high 16 the instance id). Semantic ids go through the dataset's
``learning_map`` (shipped with the package as ``semantic-kitti.yaml``, the SemanticKITTI API's label
config) to 0..19; 0 (unlabeled, outlier, other-structure, other-object) becomes ``IGNORE_INDEX`` and
v in 1..19 becomes train id v - 1, so there are 19 classes named after ``learning_map_inv`` / ``labels``.

Sequences may carry the odometry benchmark's ``poses.txt`` (row k: the 3x4 pose ``[R | t]`` of the left
camera at frame k in the coordinates of the camera at frame 0, 12 values row-major) and ``calib.txt``
(lines ``P0:`` .. ``P3:`` and ``Tr:``, 12 values each; ``Tr`` maps velodyne to camera coordinates).
``read_sequence_poses`` turns them into each frame's LiDAR-to-world transform ``inv(Tr) @ pose @ Tr`` (the
SemanticKITTI / LiDAL convention: world = the LiDAR frame of frame 0).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from redal_core import IGNORE_INDEX
from redal_core.data.scan import Scan, check_finite

#: Sequences of each split (the official ones; 11-21 are the unlabeled test sequences).
SEMANTIC_KITTI_SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("00", "01", "02", "03", "04", "05", "06", "07", "09", "10"),
    "val": ("08",),
}

#: The label config shipped with the package.
DEFAULT_LABEL_CONFIG = Path(__file__).with_name("semantic-kitti.yaml")

#: Per sequence folder: the camera poses (one row per frame) and the calibration (``Tr``: velodyne -> camera).
POSES_FILE = "poses.txt"
CALIB_FILE = "calib.txt"

_NUM_CLASSES = 19
_CALIB_12 = ("P0", "P1", "P2", "P3", "Tr")  # calib keys that must hold a 3x4 matrix
_ABSENT = -1  # lookup value of raw ids that learning_map does not list (distinct from IGNORE_INDEX)


@dataclass(frozen=True, eq=False)
class LabelConfig:
    """A parsed ``semantic-kitti.yaml``.

    class_names : the 19 train classes, train id = position
    lut         : (65536,) int64 raw semantic id -> train id 0..18, ``IGNORE_INDEX`` or -1 (not in learning_map)
    source      : the file it was read from
    """

    class_names: tuple[str, ...]
    lut: np.ndarray
    source: str


def load_label_config(path: str | os.PathLike[str] | None = None) -> LabelConfig:
    """Parse a SemanticKITTI label yaml (default: the packaged ``semantic-kitti.yaml``)."""
    return _load_label_config(str(Path(path) if path is not None else DEFAULT_LABEL_CONFIG))


@lru_cache(maxsize=4)
def _load_label_config(source: str) -> LabelConfig:
    with open(source, encoding="utf-8") as handle:
        config = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for key in ("labels", "learning_map", "learning_map_inv"):
        if not isinstance(config, dict) or not isinstance(config.get(key), dict):
            raise ValueError(f"{source}: missing mapping {key!r} (needs labels, learning_map, learning_map_inv)")
    lut = np.full(1 << 16, _ABSENT, np.int64)
    for raw, value in config["learning_map"].items():
        if not (isinstance(raw, int) and 0 <= raw < 1 << 16 and isinstance(value, int) and 0 <= value <= _NUM_CLASSES):
            raise ValueError(
                f"{source}: learning_map entry {raw!r}: {value!r} must map a raw id in 0..65535 to 0..{_NUM_CLASSES}"
            )
        lut[raw] = IGNORE_INDEX if value == 0 else value - 1
    names = []
    for value in range(1, _NUM_CLASSES + 1):
        raw = config["learning_map_inv"].get(value)
        if raw not in config["labels"]:
            raise ValueError(f"{source}: learning_map_inv[{value}] = {raw!r} has no entry in labels")
        names.append(str(config["labels"][raw]))
    lut.setflags(write=False)
    return LabelConfig(class_names=tuple(names), lut=lut, source=source)


def read_scan(
    bin_path: str | os.PathLike[str],
    label_path: str | os.PathLike[str] | None = None,
    *,
    config: LabelConfig | None = None,
    name: str | None = None,
) -> Scan:
    """Read one SemanticKITTI scan.

    Returns xyz (N, 3) float32, rgb None, intensity (N,) float32 remission, labels (N,) int64 train ids
    0..18 or ``IGNORE_INDEX`` (all ``IGNORE_INDEX`` without ``label_path``), name ``"XX/NNNNNN"`` (the
    sequence folder and file stem) unless given.
    """
    bin_path = Path(bin_path)
    config = config if config is not None else load_label_config()
    size = bin_path.stat().st_size
    if size % 16:
        raise ValueError(
            f"{bin_path}: truncated .bin: {size} bytes is not a multiple of 16 (4 float32 x, y, z, remission per point)"
        )
    if size == 0:
        raise ValueError(f"{bin_path}: empty scan (0 points)")
    points = np.fromfile(bin_path, dtype="<f4").reshape(-1, 4)
    check_finite(points, str(bin_path))
    n = len(points)
    if label_path is None:
        labels = np.full(n, IGNORE_INDEX, np.int64)
    else:
        labels = _read_labels(Path(label_path), n, config)
    if name is None:
        name = f"{bin_path.parent.parent.name}/{bin_path.stem}" if bin_path.parent.name == "velodyne" else bin_path.stem
    return Scan(
        xyz=np.ascontiguousarray(points[:, :3]),
        rgb=None,
        intensity=np.ascontiguousarray(points[:, 3]),
        labels=labels,
        name=name,
    )


def _read_labels(label_path: Path, n: int, config: LabelConfig) -> np.ndarray:
    size = label_path.stat().st_size
    if size % 4:
        raise ValueError(f"{label_path}: truncated .label: {size} bytes is not a multiple of 4 (uint32 per point)")
    if size // 4 != n:
        raise ValueError(
            f"{label_path}: point-count mismatch: the .label has {size // 4} labels but the .bin has {n} points"
        )
    semantic = np.fromfile(label_path, dtype="<u4") & 0xFFFF
    labels = config.lut[semantic]
    absent = labels == _ABSENT
    if absent.any():
        ids = np.unique(semantic[absent])
        raise ValueError(
            f"{label_path}: raw label id(s) {ids[:10].tolist()} ({int(absent.sum())} points, first at row "
            f"{int(np.flatnonzero(absent)[0])}) are absent from learning_map in {config.source}"
        )
    return labels


def read_poses(path: str | os.PathLike[str]) -> np.ndarray:
    """Parse a ``poses.txt``: one line of 12 numbers (a 3x4 pose, row-major) per frame.

    Returns (F, 4, 4) float64, row k the pose of frame k with last row ``0 0 0 1``. A line without exactly
    12 numbers, a non-finite value or a file without rows raises ValueError naming the file and line.
    """
    path = Path(path)
    rows = [_numbers(path, number, line, 12) for number, line in enumerate(_lines(path), 1)]
    if not rows:
        raise ValueError(f"{path}: no pose rows (expected one line of 12 numbers per frame)")
    poses = np.tile(np.eye(4), (len(rows), 1, 1))
    poses[:, :3, :] = np.asarray(rows, np.float64).reshape(-1, 3, 4)
    return poses


def read_calib(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Parse a ``calib.txt``: lines ``KEY: v1 v2 ...`` -> {key: (n,) float64}.

    ``P0`` .. ``P3`` and ``Tr`` must hold 12 numbers (a 3x4 matrix, row-major); other keys any positive
    count. Blank lines are skipped; a line without ``KEY:``, a repeated key, a wrong count or a non-finite
    value raises ValueError naming the file and line.
    """
    path = Path(path)
    calib: dict[str, np.ndarray] = {}
    first_line: dict[str, int] = {}
    for number, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        key, colon, rest = line.partition(":")
        key = key.strip()
        if not colon or not key or " " in key:
            raise ValueError(f"{path}, line {number}: expected 'KEY: numbers', got {line.strip()[:60]!r}")
        if key in calib:
            raise ValueError(f"{path}, line {number}: key {key!r} repeated (first on line {first_line[key]})")
        expected = 12 if key in _CALIB_12 else None
        calib[key] = np.asarray(_numbers(path, number, rest, expected, key=key), np.float64)
        first_line[key] = number
    return calib


def read_velodyne_to_camera(path: str | os.PathLike[str]) -> np.ndarray:
    """(4, 4) float64 ``Tr`` (velodyne -> left camera) of a ``calib.txt``; ValueError when it has no ``Tr:``
    line or ``Tr`` is not invertible."""
    path = Path(path)
    calib = read_calib(path)
    if "Tr" not in calib:
        found = ", ".join(calib) or "no keys"
        raise ValueError(f"{path}: no 'Tr:' line (the velodyne -> camera transform); found {found}")
    tr = np.eye(4)
    tr[:3, :] = calib["Tr"].reshape(3, 4)
    if not abs(np.linalg.det(tr[:3, :3])) > 1e-6:
        raise ValueError(f"{path}: Tr is not invertible (its 3x3 rotation part has determinant ~0)")
    return tr


def lidar_to_world(poses: np.ndarray, tr: np.ndarray) -> np.ndarray:
    """LiDAR-to-world transforms ``inv(Tr) @ pose @ Tr`` (world = the LiDAR frame of frame 0).

    poses : (F, 4, 4) camera poses (``read_poses``), tr : (4, 4) velodyne -> camera. Returns (F, 4, 4) float64.
    """
    poses, tr = np.asarray(poses, np.float64), np.asarray(tr, np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (4, 4) or tr.shape != (4, 4):
        raise ValueError(f"lidar_to_world: need poses (F, 4, 4) and tr (4, 4), got {poses.shape} and {tr.shape}")
    return np.linalg.inv(tr) @ poses @ tr


def read_sequence_poses(sequence_dir: str | os.PathLike[str]) -> np.ndarray:
    """(F, 4, 4) float64 LiDAR-to-world transform of every row of ``sequence_dir/poses.txt``, using the
    ``Tr`` of ``sequence_dir/calib.txt``. A missing file raises ValueError naming it."""
    folder = Path(sequence_dir)
    for name in (POSES_FILE, CALIB_FILE):
        if not (folder / name).is_file():
            raise ValueError(f"{folder / name}: no such file (sequence poses need {POSES_FILE} and {CALIB_FILE})")
    return lidar_to_world(read_poses(folder / POSES_FILE), read_velodyne_to_camera(folder / CALIB_FILE))


def _lines(path: Path) -> list[str]:
    """The lines of a small text file, trailing blank lines dropped."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not a text file ({error.reason} at byte {error.start})") from None
    return text.rstrip().splitlines()


def _numbers(path: Path, number: int, text: str, expected: int | None, *, key: str | None = None) -> list[float]:
    where = f"{path}, line {number}" + (f" ({key})" if key else "")
    tokens = text.split()
    if (expected is not None and len(tokens) != expected) or not tokens:
        raise ValueError(f"{where}: expected {expected or 'some'} numbers, got {len(tokens)}")
    values = []
    for token in tokens:
        try:
            value = float(token)
        except ValueError:
            raise ValueError(f"{where}: {token[:30]!r} is not a number") from None
        if not np.isfinite(value):
            raise ValueError(f"{where}: non-finite value {token!r}")
        values.append(value)
    return values
