"""Building blocks of the outdoor street: raw SemanticKITTI label ids, analytic solids, the street record.

``_Solid`` is a labelled box, vertical cylinder or ellipsoid with a material and mean remission; ``_Street``
holds the solids, the ground map (labelled rectangles of the z = 0 plane), lane lines and taken footprints;
``_add`` / ``_part`` add a solid (a part of an object placed at (x, y, yaw)) with its material's remission.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .materials import _MATERIAL_ID, _MATERIALS, _MEAN_REMISSION

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
