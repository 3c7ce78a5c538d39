"""The rotating multi-beam scanner: HDL-64E-like beam elevations, the ray caster and one sweep.

``generate_sweep`` casts ``beams`` x ``azimuth_steps`` rays from the sensor (``SENSOR_HEIGHT`` above the
road) against a random street (``outdoor``); ``_sweep`` does it for a given street from a sensor anywhere
on it, turned by a yaw (the drives of ``drives``): first hits on the ground plane or a solid (``_cast``,
``_intersect``), labels and remission from what was hit (``_surface``), range noise, dropout, spurious
returns; nothing beyond ``MAX_RANGE``.
"""

from __future__ import annotations

import math

import numpy as np

from .materials import _MATERIAL_ID, _MATERIALS, _MEAN_REMISSION
from .outdoor import _street_scene
from .solids import _BOX, _CYLINDER, KITTI_RAW_IDS, _Solid, _Street
from .validation import _check_int

#: Sensor height above the road (KITTI's Velodyne mount), metres.
SENSOR_HEIGHT = 1.73
#: Maximum range of the simulated scanner, metres.
MAX_RANGE = 80.0


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
    return _sweep(rng, street, beams=beams, azimuth_steps=azimuth_steps, max_range=max_range)


def _sweep(
    rng: np.random.Generator,
    street: _Street,
    *,
    beams: int,
    azimuth_steps: int,
    max_range: float,
    sensor: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> tuple[np.ndarray, np.ndarray]:
    """One sweep of ``street`` from the sensor at ``sensor = (x, y, yaw)`` of the street frame (``SENSOR_HEIGHT``
    above the road, yaw in radians about z): points (N, 4) float32 in the SENSOR frame and raw labels (N,)
    uint32, as ``generate_sweep`` describes. The default sensor at the origin draws exactly what
    ``generate_sweep`` always drew."""
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
    x, y, yaw = sensor
    origin = np.array([x, y, SENSOR_HEIGHT])
    # ray directions in the street frame: the sensor's rotated by its yaw (the same array at yaw 0)
    c, s = math.cos(yaw), math.sin(yaw)
    world = dirs
    if yaw != 0.0:
        dx, dy = dirs[..., 0], dirs[..., 1]
        world = np.stack([c * dx - s * dy, s * dx + c * dy, dirs[..., 2]], axis=-1)
    t, hit, normal = _cast(rng, street.solids, origin, world, elevation, max_range + 1.0, yaw=yaw)

    t, hit, normal = t.ravel(), hit.ravel(), normal.reshape(-1, 3)
    dirs, world = dirs.reshape(-1, 3), world.reshape(-1, 3)
    found = np.isfinite(t)
    t, hit, normal, dirs, world = t[found], hit[found], normal[found], dirs[found], world[found]
    labels, instances, material, reflect = _surface(street, hit, origin + t[:, None] * world)
    std = np.array([v[0] for v in _MATERIALS.values()])[material]
    range_std = np.array([v[2] for v in _MATERIALS.values()])[material]
    t = t + rng.normal(0.0, 1.0, len(t)) * range_std
    cos_incidence = np.abs((normal * world).sum(axis=1))
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
    yaw: float = 0.0,
):
    """First hit of every ray of the scanner grid.

    dirs : (B, A, 3) unit directions in the street frame, beam b at ``elevation[b]`` (radians), azimuth step
    a centred at -pi + 2 pi (a + 0.5) / A in the sensor frame, i.e. that plus ``yaw`` in the street frame
    (the sensor turns about z only). Returns t (B, A) float64 (inf = miss), hit (B, A) int64 (-1 ground plane
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
            centre_az, half_az = math.atan2(rel[1], rel[0]) - yaw, math.asin(radius / dxy)
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
