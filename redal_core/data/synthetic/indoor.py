"""Indoor rooms: a list of textured quads (parallelograms or inscribed ellipses), sampled at one density.

``generate_room`` lays out one room of a kind (``_ROOM_SPECS``: object counts per kind), builds its
structure (floor, ceiling, walls) and furniture (``furniture``), then samples its visible surfaces: holes
cut, occluded points removed, dropout blobs, thinned to the point count, painted, shaded and jittered.
"""

from __future__ import annotations

import math

import numpy as np

from .furniture import (
    _beam,
    _board,
    _bookcase,
    _chairs_around,
    _clutter,
    _column,
    _door,
    _free_chair,
    _sofa,
    _table,
    _window,
)
from .materials import _CARPET, _SOLID, _TILES, _WALL_COLOURS, _near, _Paint, _paint_points, _pick, _wood
from .room import _CLS, _WORLD, _Frame, _Plan, _Room, _Wall
from .validation import _check_int

_PLANAR = (_CLS["ceiling"], _CLS["floor"], _CLS["wall"])


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
