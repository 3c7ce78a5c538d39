"""Builders of a room's objects: wall slots and floor claims, then one builder per kind.

Doors and windows (openings cut into their wall), columns, boards, bookcases (with books), sofas, tables
(free-standing or desks) and chairs, clutter (cabinets, boxes, bins, pictures, lights, monitors, papers,
mugs) and ceiling beams. Each adds its quads, holes and occluders to a ``_Room`` and claims what it takes
of the ``_Plan`` / ``_Wall`` s, so later objects do not overlap it.
"""

from __future__ import annotations

import math

import numpy as np

from .materials import (
    _BOARD,
    _CARPET,
    _FABRIC,
    _FABRIC_COLOURS,
    _GLASS,
    _METAL_COLOURS,
    _SOLID,
    _WALL_COLOURS,
    _book_colour,
    _near,
    _Paint,
    _pick,
    _wood,
)
from .room import _WORLD, _Frame, _Plan, _Room, _Wall


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
