"""Outdoor scenes: a street of analytic solids for the scanner to ray-cast.

``_street_scene`` lays out a straight street along x (the sensor in a lane at the origin) with lanes,
parking, sidewalks, an optional cross street and traffic island, yards, buildings with hedges and fences,
trees, street lights, traffic signs, pedestrians, parked two-wheelers, parked cars and moving traffic.
"""

from __future__ import annotations

import numpy as np

from .materials import _MATERIAL_ID, _MEAN_REMISSION
from .road_users import _person, _two_wheeler, _vehicle
from .solids import _BOX, _CYLINDER, _ELLIPSOID, KITTI_RAW_IDS, _add, _Street


def _place(street: _Street, rng, sample, half_x: float, half_y: float, tries: int = 30):
    """Rejection-sample a free spot: ``sample()`` -> (x, y); the footprint box is then taken."""
    for _ in range(tries):
        x, y = sample()
        box = (x - half_x, y - half_y, x + half_x, y + half_y)
        if street.free(box):
            street.taken.append(box)
            return x, y
    return None


def _street_scene(rng: np.random.Generator, ego: tuple[float, float, float, float] | None = None) -> _Street:
    """A straight street along x (sensor at the origin of the floor plan, in a lane), optional cross street.

    ``ego`` is the footprint ``(x0, y0, x1, y1)`` kept free of objects for the ego vehicle: by default its own
    spot at the origin; a drive passes the footprint of its whole path (the lane y = 0 around it).
    """
    street = _Street([], [], [], [ego if ego is not None else (-3.0, -1.2, 3.0, 1.2)])  # the ego vehicle
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
