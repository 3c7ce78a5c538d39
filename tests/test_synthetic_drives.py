"""Synthetic drives: consecutive sweeps of one street from a moving sensor (``generate_drive``)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from redal_core.data import synthetic
from redal_core.data.synthetic import KITTI_RAW_IDS
from redal_core.data.synthetic.solids import _BOX, _CYLINDER

SEED, SCANS, FRAMES = 2, 5, 3  # two drives: 08 with 3 frames (validation), 00 with 2
BEAMS, STEPS = 32, 1024
STATIC = [KITTI_RAW_IDS[k] for k in ("building", "pole", "trunk", "fence", "traffic-sign", "car", "vegetation")]


@pytest.fixture(scope="module")
def drives() -> list[synthetic.Drive]:
    """The drives the writer documents: drive k from ``SeedSequence(seed).spawn(drives)[k]``."""
    children = np.random.SeedSequence(SEED).spawn(2)
    return [
        synthetic.generate_drive(np.random.default_rng(children[k]), frames=n, beams=BEAMS, azimuth_steps=STEPS)
        for k, n in enumerate((3, 2))
    ]


def test_the_path_is_kept_free(drives):
    """No solid the sensor would drive through: every sensor position is clear of every solid's footprint."""
    for drive in drives:
        for solid in drive._street.solids:
            if solid.centre[2] - solid.size[2] > 2.5 or solid.centre[2] + solid.size[2] < 0.3:
                continue  # above the car or flat on the ground (sidewalks, islands)
            for x, y, _ in drive._sensors:
                dx, dy = x - solid.centre[0], y - solid.centre[1]
                if solid.shape == _BOX:
                    c, s = math.cos(solid.yaw), math.sin(solid.yaw)
                    inside = abs(c * dx + s * dy) < solid.size[0] + 0.9 and abs(-s * dx + c * dy) < solid.size[1] + 0.9
                elif solid.shape == _CYLINDER:
                    inside = math.hypot(dx, dy) < solid.size[0] + 0.9
                else:
                    inside = (dx / (solid.size[0] + 0.9)) ** 2 + (dy / (solid.size[1] + 0.9)) ** 2 < 1
                assert not inside, (solid, (x, y))


def test_generate_drive_contract():
    drive = synthetic.generate_drive(np.random.default_rng(3), frames=4, beams=4, azimuth_steps=64)
    assert len(drive) == 4 and drive.poses.shape == (4, 4, 4) and not drive.poses.flags.writeable
    first, again = drive.sweep(2), drive.sweep(2)  # recomputed the same, whatever was asked before
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
    assert first[0].dtype == np.float32 and first[0].shape[1] == 4 and first[1].dtype == np.uint32
    np.testing.assert_array_equal(drive.world_poses()[0], np.eye(4))
    np.testing.assert_allclose(drive.world_poses()[3], np.linalg.inv(drive.poses[0]) @ drive.poses[3], atol=1e-12)
    trajectory = synthetic.drive_trajectory(np.random.default_rng(3), frames=4)
    np.testing.assert_array_equal(trajectory, drive.poses)  # the trajectory is drawn first
    with pytest.raises(ValueError, match=re.escape("j must be in 0..3, got 4")):
        drive.sweep(4)
    with pytest.raises(ValueError, match="frames must be in 1..160, got 0"):
        synthetic.drive_trajectory(np.random.default_rng(0), frames=0)
    long = synthetic.drive_trajectory(np.random.default_rng(0), frames=160)
    assert np.linalg.norm(long[-1, :3, 3] - long[0, :3, 3]) <= synthetic.drives.MAX_DRIVE_LENGTH + 0.5


@pytest.mark.parametrize("yaw", [0.05, 0.7, -2.9, math.pi])
def test_culled_casting_from_a_moved_turned_sensor_matches_brute_force(yaw):
    """The ray caster's culling works in the sensor's azimuths: from a sensor moved off the origin and
    turned by ``yaw`` it changes no hit (dense reference: every ray against every solid)."""
    b, c, e = synthetic._BOX, synthetic._CYLINDER, synthetic._ELLIPSOID
    x0, y0 = 5.0, -0.5
    solids = [
        synthetic._Solid(b, (x0 - 12.0, y0 + 0.3, 1.0), (2.0, 0.9, 0.8), 0.4, 10, 1, 0, 0.3),
        synthetic._Solid(b, (x0 + 6.0, y0 - 4.0, 5.0), (4.0, 3.0, 5.0), 0.0, 50, 0, 0, 0.3),
        synthetic._Solid(c, (x0 + 3.0, y0 + 2.0, 4.0), (0.1, 0.1, 4.0), 0.0, 80, 0, 0, 0.3),
        synthetic._Solid(e, (x0 - 3.0, y0 - 5.0, 2.0), (2.0, 2.5, 1.5), 0.0, 70, 0, 0, 0.3),
        synthetic._Solid(c, (x0 + 0.2, y0 + 9.0, 3.0), (0.15, 0.15, 3.0), 0.0, 80, 0, 0, 0.3),
    ]
    beams, steps = 24, 360
    elevation = np.radians(synthetic.hdl64_elevations(beams))
    azimuth = -np.pi + 2 * np.pi * (np.arange(steps) + 0.5) / steps + yaw  # the sensor's azimuths, turned
    dirs = np.stack(
        [
            np.cos(elevation)[:, None] * np.cos(azimuth)[None, :],
            np.cos(elevation)[:, None] * np.sin(azimuth)[None, :],
            np.broadcast_to(np.sin(elevation)[:, None], (beams, steps)),
        ],
        axis=-1,
    )
    origin = np.array([x0, y0, synthetic.SENSOR_HEIGHT])
    t, hit, _ = synthetic._cast(np.random.default_rng(0), solids, origin, dirs, elevation, 81.0, yaw=yaw)
    flat = dirs.reshape(-1, 3)
    reference = np.where(flat[:, 2] < 0, origin[2] / -np.minimum(flat[:, 2], -1e-12), np.inf)
    which = np.where(flat[:, 2] < 0, -1, -2)
    for k, solid in enumerate(solids):
        tk = synthetic._intersect(solid, origin, flat)[0]
        which = np.where(tk < reference, k, which)
        reference = np.minimum(reference, tk)
    np.testing.assert_allclose(t.ravel(), reference)
    np.testing.assert_array_equal(hit.ravel(), which)
    assert set(range(len(solids))) <= set(hit.ravel().tolist())


@pytest.mark.parametrize("sensor", [(0.0, 0.0, 0.0), (6.0, 0.3, 0.5), (-20.0, -0.2, -2.5)])
def test_a_sweep_from_a_pose_sees_the_street_from_there(sensor):
    """Every point of a sweep cast from ``sensor = (x, y, yaw)``, moved to the street frame by that pose,
    lies where the ray from the sensor through it first meets the street (dense reference cast)."""
    from redal_core.data.synthetic.outdoor import _street_scene
    from redal_core.data.synthetic.scanner import _sweep

    street = _street_scene(np.random.default_rng(11))
    points, labels = _sweep(np.random.default_rng(12), street, beams=16, azimuth_steps=512, max_range=80.0, sensor=sensor)
    x, y, yaw = sensor
    rotation = np.array([[math.cos(yaw), -math.sin(yaw), 0.0], [math.sin(yaw), math.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
    origin = np.array([x, y, synthetic.SENSOR_HEIGHT])
    xyz = points[:, :3].astype(np.float64)
    ranges = np.linalg.norm(xyz, axis=1)
    rays = (xyz / ranges[:, None]) @ rotation.T
    reference = np.where(rays[:, 2] < 0, origin[2] / -np.minimum(rays[:, 2], -1e-12), np.inf)
    label = np.where(rays[:, 2] < 0, -1, -2)
    for solid in street.solids:
        tk = synthetic._intersect(solid, origin, rays)[0]
        label = np.where(tk < reference, solid.label, label)
        reference = np.minimum(reference, tk)
    solid_hit = label >= 0
    semantic = (labels & 0xFFFF).astype(np.int64)
    checked = (semantic != KITTI_RAW_IDS["vegetation"]) & (semantic != KITTI_RAW_IDS["unlabeled"])  # foliage: porous
    error = np.abs(reference - ranges)[checked]
    assert checked.sum() > 2000 and np.quantile(error, 0.95) < 0.1
    assert (semantic[checked & solid_hit] == label[checked & solid_hit]).mean() > 0.99
