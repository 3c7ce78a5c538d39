"""The street's road users, each a group of solids sharing one instance id: vehicles (cars, trucks and
bus- or tram-like other vehicles), two-wheelers (bicycles, motorcycles; ridden or parked) and pedestrians."""

from __future__ import annotations

import numpy as np

from .solids import _BOX, _CYLINDER, _ELLIPSOID, _part, _Street


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
