"""Reader for the original Stanford3dDataset_v1.2_Aligned_Version layout (S3DIS).

Layout: ``<root>/Area_N/<room>/Annotations/<class>_<k>.txt``, one object per file, one point per line
``x y z r g b`` (metres, 0..255 colours). A room is the union of its annotation files; the room-level file
``<root>/Area_N/<room>/<room>.txt`` repeats the same points without labels and is never read.

The 13 classes, in the ONE order used everywhere in redal-kit (``S3DIS_CLASSES``)::

    ceiling floor wall beam column window door table chair sofa bookcase board clutter

``stairs`` (a handful of objects in the release) is read as ``clutter``.

Repairs of the known defects of the release (each one is a ``warnings.warn`` naming the file and line;
no point is dropped without a warning):

* **Control bytes inside a line** (``185\\x00187`` in Area_5/hallway_6/Annotations/ceiling_1.txt): the
  line is repaired by the first of these rules that yields exactly six numbers with integer colours in
  0..255: (1) delete the control bytes (a stray byte inside a number), (2) replace each by a space (a
  byte standing in for a separator). A line neither rule repairs is an error naming file and line.
* **Duplicate ``<class>_<k> (n).txt``** (``wall_3 (1).txt`` in Area_5/office_36): if its bytes equal
  ``<class>_<k>.txt`` it is skipped; otherwise it is kept as another object of ``<class>``.
* **A ``.txt`` whose name does not follow ``<class>_<k>.txt``** (such as the misnamed room file
  ``copy_Room_1.txt`` of Area_1/copyRoom_1 when it sits among the annotations): it is parsed; if every
  one of its points (xyz and colour) is already among the room's annotated points it is a stray copy
  and is skipped; otherwise all its points are kept with the label ``IGNORE_INDEX``.
* **Any other file in Annotations/** (``.DS_Store``, ``notes.md``): skipped with a warning.

Errors (``ValueError`` naming the file): a ``<word>_<k>.txt`` whose ``<word>`` is not a class (the
message lists the valid ones), a line without six numbers, NaN/inf coordinates, colours outside
0..255, a room without any annotated point.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path

import numpy as np

from redal_core import IGNORE_INDEX
from redal_core.data.scan import Scan

#: The 13 S3DIS classes in redal-kit's order (train id = position).
S3DIS_CLASSES: tuple[str, ...] = (
    "ceiling",
    "floor",
    "wall",
    "beam",
    "column",
    "window",
    "door",
    "table",
    "chair",
    "sofa",
    "bookcase",
    "board",
    "clutter",
)

#: Object names of the release that are read as one of ``S3DIS_CLASSES``.
S3DIS_ALIASES: dict[str, str] = {"stairs": "clutter"}

_CLASS_ID = {name: i for i, name in enumerate(S3DIS_CLASSES)}
_CLASS_ID.update({alias: _CLASS_ID[target] for alias, target in S3DIS_ALIASES.items()})

_ANNOTATION = re.compile(r"^(?P<cls>[A-Za-z]+)_(?P<k>\d+)(?: \((?P<copy>\d+)\))?\.txt$")
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_COLUMNS = 6


def read_room(room_dir: str | os.PathLike[str]) -> Scan:
    """Read one room ``Area_N/<room>`` of the S3DIS release into a ``Scan``.

    Returns xyz (N, 3) float32, rgb (N, 3) uint8, intensity None, labels (N,) int64 in 0..12 (positions
    in ``S3DIS_CLASSES``; ``IGNORE_INDEX`` only for kept points of an unrecognised file, see the module
    notes), name ``"Area_N/<room>"``. Files are read in sorted name order.
    """
    room = Path(room_dir)
    annotations = room / "Annotations"
    if not annotations.is_dir():
        raise FileNotFoundError(f"S3DIS room {room}: no Annotations folder at {annotations}")
    name = f"{room.parent.name}/{room.name}"

    objects: list[tuple[Path, int]] = []
    others: list[Path] = []
    for path in sorted(p for p in annotations.iterdir() if p.is_file()):
        match = _ANNOTATION.match(path.name)
        if match is None:
            if path.suffix == ".txt":
                others.append(path)
            else:
                warnings.warn(f"{path}: not an annotation file (expected <class>_<k>.txt); skipped", stacklevel=2)
            continue
        cls = match["cls"]
        if cls not in _CLASS_ID:
            valid = ", ".join([*S3DIS_CLASSES, *S3DIS_ALIASES])
            raise ValueError(f"{path}: unknown S3DIS class {cls!r} in the file name; valid classes: {valid}")
        if match["copy"] is not None and not _keep_duplicate(path, annotations / f"{cls}_{match['k']}.txt"):
            continue
        objects.append((path, _CLASS_ID[cls]))

    xyz_parts, rgb_parts, label_parts = [], [], []
    for path, class_id in objects:
        xyz, rgb = _read_points(path)
        xyz_parts.append(xyz)
        rgb_parts.append(rgb)
        label_parts.append(np.full(len(xyz), class_id, np.int64))
    for path in others:
        xyz, rgb = _read_points(path)
        if len(xyz) and xyz_parts and _all_rows_present(xyz, rgb, xyz_parts, rgb_parts):
            warnings.warn(
                f"{path}: name does not follow <class>_<k>.txt and all its {len(xyz)} points repeat annotated "
                "points (a stray copy of the room file); skipped",
                stacklevel=2,
            )
            continue
        warnings.warn(
            f"{path}: name does not follow <class>_<k>.txt; its {len(xyz)} points are kept unlabeled "
            f"(IGNORE_INDEX={IGNORE_INDEX})",
            stacklevel=2,
        )
        xyz_parts.append(xyz)
        rgb_parts.append(rgb)
        label_parts.append(np.full(len(xyz), IGNORE_INDEX, np.int64))

    total = sum(len(part) for part in xyz_parts)
    if total == 0:
        raise ValueError(
            f"S3DIS room {room} is empty: no annotated point in {annotations} ({len(objects)} annotation files)"
        )
    return Scan(
        xyz=np.concatenate(xyz_parts),
        rgb=np.concatenate(rgb_parts),
        intensity=None,
        labels=np.concatenate(label_parts),
        name=name,
    )


def _keep_duplicate(path: Path, original: Path) -> bool:
    """Decide on ``<class>_<k> (n).txt``: False (skip) when it repeats ``original`` byte for byte."""
    if original.is_file() and original.read_bytes() == path.read_bytes():
        warnings.warn(f"{path}: duplicate of {original.name} (same content); skipped", stacklevel=3)
        return False
    reason = "differs from" if original.is_file() else "has no original"
    warnings.warn(f"{path}: duplicate-style name that {reason} {original.name}; kept as another object", stacklevel=3)
    return True


def _read_points(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse ``x y z r g b`` lines -> xyz (n, 3) float32, rgb (n, 3) uint8 (C parser; repairs warned)."""
    import pandas as pd  # here, not at import: half a second that readers of other datasets need not pay

    data = path.read_bytes()
    if _CONTROL.search(data):
        data = _repair_control_bytes(data, path)
    if not data.strip():
        warnings.warn(f"{path}: empty annotation file (0 points)", stacklevel=3)
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8)
    try:
        values = pd.read_csv(
            io.BytesIO(data), sep=r"\s+", header=None, engine="c", dtype=np.float64, na_filter=True
        ).to_numpy()
    except (ValueError, pd.errors.ParserError) as error:
        raise ValueError(_describe_bad_line(data, path) or f"{path}: cannot parse as 'x y z r g b' lines: {error}") from None
    if values.shape[1] != _COLUMNS or not np.isfinite(values).all():
        raise ValueError(_describe_bad_line(data, path) or f"{path}: expected {_COLUMNS} finite numbers per line")
    colours = values[:, 3:]
    if ((colours < 0) | (colours > 255) | (colours != np.round(colours))).any():
        raise ValueError(_describe_bad_line(data, path) or f"{path}: colours must be integers in 0..255")
    return values[:, :3].astype(np.float32), colours.astype(np.uint8)


def _line_problem(line: bytes) -> str | None:
    """Why ``line`` is not six numbers ``x y z r g b`` with finite xyz and integer colours 0..255 (or None)."""
    fields = line.split()
    if len(fields) != _COLUMNS:
        return f"has {len(fields)} fields, expected {_COLUMNS} (x y z r g b)"
    try:
        numbers = [float(field) for field in fields]
    except ValueError:
        return f"is not numeric: {line.decode(errors='backslashreplace')!r}"
    if not all(np.isfinite(numbers[:3])):
        return f"has NaN/inf coordinates: {line.decode(errors='backslashreplace')!r}"
    if not all(0 <= c <= 255 and c == int(c) for c in numbers[3:]):
        return f"has colours outside the integers 0..255: {line.decode(errors='backslashreplace')!r}"
    return None


def _describe_bad_line(data: bytes, path: Path) -> str | None:
    """The first offending line of ``data`` as an error message (slow path, errors only)."""
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        problem = _line_problem(line)
        if problem is not None:
            return f"{path}: line {number} {problem}"
    return None


def _repair_control_bytes(data: bytes, path: Path) -> bytes:
    """Repair every line holding control bytes (rules in the module notes); warn per line."""
    lines = data.split(b"\n")
    starts = np.cumsum([0] + [len(line) + 1 for line in lines[:-1]])
    bad = sorted({int(np.searchsorted(starts, m.start(), side="right")) - 1 for m in _CONTROL.finditer(data)})
    for index in bad:
        line = lines[index]
        for rule, fixed in (("deleted", _CONTROL.sub(b"", line)), ("replaced by spaces", _CONTROL.sub(b" ", line))):
            if _line_problem(fixed) is None:
                warnings.warn(
                    f"{path}: line {index + 1}: control byte(s) {b''.join(sorted(set(_CONTROL.findall(line))))!r} "
                    f"{rule}: {line!r} -> {fixed!r}",
                    stacklevel=4,
                )
                lines[index] = fixed
                break
        else:
            raise ValueError(f"{path}: line {index + 1} holds control bytes that cannot be repaired: {line!r}")
    return b"\n".join(lines)


def _all_rows_present(
    xyz: np.ndarray, rgb: np.ndarray, xyz_parts: list[np.ndarray], rgb_parts: list[np.ndarray]
) -> bool:
    """Whether every (xyz, rgb) row of one file occurs among the rows of the annotated parts."""

    def keys(points: np.ndarray, colours: np.ndarray) -> np.ndarray:
        rows = np.concatenate([points.view(np.uint32), colours.astype(np.uint32)], axis=1)
        return np.ascontiguousarray(rows).view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()

    known = np.unique(keys(np.concatenate(xyz_parts), np.concatenate(rgb_parts)))
    return bool(np.isin(keys(xyz, rgb), known, assume_unique=False).all())
