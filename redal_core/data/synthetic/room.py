"""The room model the indoor generator fills: placement frames, the surface accumulator, walls, the plan.

``_Frame`` places local geometry in the floor plane; ``_Room`` accumulates textured quads (parallelograms
or inscribed ellipses) with their instance and paint, wall openings (holes) and solid occluders; ``_Wall``
is one wall with its taken intervals; ``_Plan`` is the box or L-shaped floor plan with its taken footprints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from redal_core.data.s3dis import S3DIS_CLASSES

from .materials import _Paint

_CLS = {name: i for i, name in enumerate(S3DIS_CLASSES)}


_FACES = {  # local box face -> (origin corner selector, u axis, v axis)
    "E": ((1, 0, 0), 1, 2),
    "W": ((0, 0, 0), 1, 2),
    "N": ((0, 1, 0), 0, 2),
    "S": ((0, 0, 0), 0, 2),
    "T": ((0, 0, 1), 0, 1),
    "B": ((0, 0, 0), 0, 1),
}


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
