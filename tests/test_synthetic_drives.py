"""Synthetic drives: consecutive frames of one street with KITTI poses, read back through the real reader.

The files are written by ``write_synthetic_outdoor(..., frames_per_drive=F)`` and read by the SemanticKITTI
dataset (``pose(i)`` from ``poses.txt`` + ``calib.txt``), so a wrong convention anywhere on the way (the
writer's camera poses, the reader's ``inv(Tr) @ pose @ Tr``) shows as frames that do not line up.
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree

from redal_core.data import synthetic
from redal_core.data.datasets import build_dataset
from redal_core.data.semantic_kitti import read_calib
from redal_core.data.synthetic import KITTI_RAW_IDS
from redal_core.data.synthetic.solids import _BOX, _CYLINDER

SEED, SCANS, FRAMES = 2, 5, 3  # two drives: 08 with 3 frames (validation), 00 with 2
BEAMS, STEPS = 32, 1024
STATIC = [KITTI_RAW_IDS[k] for k in ("building", "pole", "trunk", "fence", "traffic-sign", "car", "vegetation")]


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def drive_root(tmp_path_factory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("drives")
    bins = synthetic.write_synthetic_outdoor(
        root, scans=SCANS, seed=SEED, beams=BEAMS, azimuth_steps=STEPS, frames_per_drive=FRAMES
    )
    return root, bins


@pytest.fixture(scope="module")
def drives() -> list[synthetic.Drive]:
    """The drives the writer documents: drive k from ``SeedSequence(seed).spawn(drives)[k]``."""
    children = np.random.SeedSequence(SEED).spawn(2)
    return [
        synthetic.generate_drive(np.random.default_rng(children[k]), frames=n, beams=BEAMS, azimuth_steps=STEPS)
        for k, n in enumerate((3, 2))
    ]


def test_drive_layout(drive_root):
    root, bins = drive_root
    assert [b.relative_to(root).as_posix() for b in bins] == [
        *(f"sequences/08/velodyne/{k:06d}.bin" for k in range(3)),
        *(f"sequences/00/velodyne/{k:06d}.bin" for k in range(2)),
    ]
    for sequence, frames in (("08", 3), ("00", 2)):
        folder = root / "sequences" / sequence
        assert sorted(p.name for p in (folder / "labels").iterdir()) == [f"{k:06d}.label" for k in range(frames)]
        rows = (folder / "poses.txt").read_text().splitlines()
        assert len(rows) == frames and all(len(row.split()) == 12 for row in rows)
        assert rows[0] == " ".join(f"{v:.12e}" for v in np.eye(4)[:3].ravel())  # frame 0: exactly the identity
        calib = (folder / "calib.txt").read_text().splitlines()
        assert [line.split(":")[0] for line in calib] == ["P0", "P1", "P2", "P3", "Tr"]
        assert all(len(line.split()) == 13 for line in calib)
        assert (folder / "times.txt").read_text().split() == [f"{0.1 * k:.6e}" for k in range(frames)]
    train, val = (build_dataset("synthetic-outdoor", root, split) for split in ("train", "val"))
    assert train.scan_names == ["00/000000", "00/000001"] and len(val) == 3
    assert train.has_poses and val.has_poses
    assert val.frame_neighbours(1).tolist() == [0, 2] and train.frame_neighbours(0, before=0, after=1).tolist() == [1]


def test_calibration_is_kittis(drive_root):
    tr = synthetic.kitti_velodyne_to_camera()
    rotation = tr[:3, :3]
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-11)  # rigid
    # KITTI odometry's Tr of sequences 00-02 (its rotation is orthonormal to ~1e-7 only)
    kitti = [4.276802385584e-04, -9.999672484946e-01, -8.084491683471e-03, -1.198459927713e-02,
             -7.210626507497e-03, 8.081198471645e-03, -9.999413164504e-01, -5.403984729748e-02,
             9.999738645903e-01, 4.859485810390e-04, -7.206933692422e-03, -2.921968648686e-01]  # fmt: skip
    np.testing.assert_allclose(tr[:3].ravel(), kitti, atol=1e-7)
    np.testing.assert_array_equal(read_calib(drive_root[0] / "sequences" / "00" / "calib.txt")["Tr"], tr[:3].ravel())


def test_files_are_the_documented_drives(drive_root, drives):
    root, _ = drive_root
    for sequence, drive in zip(("08", "00"), drives, strict=True):
        for j in range(len(drive)):
            points, labels = drive.sweep(j)
            assert (root / "sequences" / sequence / "velodyne" / f"{j:06d}.bin").read_bytes() == points.astype("<f4").tobytes()
            assert (root / "sequences" / sequence / "labels" / f"{j:06d}.label").read_bytes() == labels.astype("<u4").tobytes()


def test_poses_recover_the_trajectory(drive_root, drives):
    ds = build_dataset("synthetic-outdoor", drive_root[0], "all")
    assert ds.has_poses
    by_sequence = {"08": drives[0], "00": drives[1]}
    for i in range(len(ds)):
        sequence, frame = ds.frame(i)
        drive = by_sequence[sequence]
        expected = np.linalg.inv(drive.poses[0]) @ drive.poses[frame]
        np.testing.assert_allclose(ds.pose(i), expected, atol=1e-6, rtol=0)
    for drive in drives:  # a KITTI-like drive: along the street at 0.5-1.5 m a frame, gently turning, level
        poses = drive.poses
        np.testing.assert_allclose(poses[:, 2, 3], synthetic.SENSOR_HEIGHT)
        np.testing.assert_allclose(poses[:, 2, :3], np.tile([0.0, 0.0, 1.0], (len(poses), 1)), atol=1e-15)
        steps = np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1)
        assert ((steps > 0.5) & (steps < 1.5)).all() and np.ptp(steps) < 0.01
        yaw = np.arctan2(poses[:, 1, 0], poses[:, 0, 0])
        assert np.abs(yaw).max() < math.radians(4) and np.abs(poses[:, 1, 3]).max() < 0.4


def test_static_geometry_coincides_in_world_coordinates(drive_root):
    ds = build_dataset("synthetic-outdoor", drive_root[0], "val")
    raw = [np.fromfile(drive_root[0] / "sequences" / "08" / "labels" / f"{k:06d}.label", "<u4") for k in range(3)]

    def world(i, xyz):
        pose = ds.pose(i)
        return xyz @ pose[:3, :3].T + pose[:3, 3]

    for t in (0, 1):
        a, b = np.asarray(ds[t].xyz, np.float64), np.asarray(ds[t + 1].xyz, np.float64)
        near = np.isin(raw[t] & 0xFFFF, STATIC) & (np.linalg.norm(a, axis=1) < 25)
        assert near.sum() > 3000
        with_poses = cKDTree(world(t + 1, b)).query(world(t, a[near]))[0]
        without = cKDTree(b).query(a[near])[0]
        # frames t and t+1 sample the same surfaces: within the scan pattern's spacing (~0.1 m at 25 m) when
        # moved to the world, ~1 m apart where the drive moved them (poles, cars, building ends) when not
        assert (with_poses < 0.25).mean() > 0.9 and np.quantile(with_poses, 0.9) < 0.25
        assert (without < 0.25).mean() < 0.85 and np.quantile(without, 0.9) > 0.4
    road = (raw[0] & 0xFFFF) == KITTI_RAW_IDS["road"]
    np.testing.assert_allclose(world(0, np.asarray(ds[0].xyz, np.float64)[road])[:, 2], -synthetic.SENSOR_HEIGHT, atol=0.1)


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


def test_independent_scenes_are_unchanged(tmp_path):
    synthetic.write_synthetic_outdoor(tmp_path / "a", scans=2, seed=4, beams=16, azimuth_steps=256)
    synthetic.write_synthetic_outdoor(tmp_path / "b", scans=2, seed=4, beams=16, azimuth_steps=256, frames_per_drive=None)
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")
    assert not list((tmp_path / "a").rglob("*.txt"))
    assert build_dataset("synthetic-outdoor", tmp_path / "a", "all").has_poses is False


def test_independent_scenes_remove_pose_files_of_an_earlier_drive(tmp_path):
    synthetic.write_synthetic_outdoor(tmp_path, scans=2, seed=1, beams=4, azimuth_steps=64, frames_per_drive=1)
    assert (tmp_path / "sequences" / "08" / "poses.txt").is_file()
    with pytest.warns(UserWarning, match=r"removed 6 pose / calibration file\(s\) of an earlier drive"):
        synthetic.write_synthetic_outdoor(tmp_path, scans=2, seed=1, beams=4, azimuth_steps=64)
    assert not list(tmp_path.rglob("*.txt"))
    assert build_dataset("synthetic-outdoor", tmp_path, "all").has_poses is False


def test_drives_are_deterministic(tmp_path):
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        synthetic.write_synthetic_outdoor(tmp_path / name, scans=3, seed=seed, beams=8, azimuth_steps=128, frames_per_drive=2)
    ha, hb, hc = (_hashes(tmp_path / name) for name in "abc")
    assert ha == hb and len(ha) == 3 * 2 + 2 * 3
    assert ha != hc


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"frames_per_drive": 0}, "frames_per_drive must be in 1..160, got 0"),
        ({"frames_per_drive": 161}, "frames_per_drive must be in 1..160, got 161"),
        ({"frames_per_drive": 2.0}, r"frames_per_drive must be an integer, got 2\.0"),
        ({"frames_per_drive": True}, "frames_per_drive must be an integer, got True"),
        ({"scans": 23, "frames_per_drive": 2}, "make 12 drives, but each drive is one sequence and there are 11 "
         r"\(00-10\); use frames_per_drive >= 3"),
    ],
)  # fmt: skip
def test_drive_arguments_are_checked(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        synthetic.write_synthetic_outdoor(tmp_path, **{"scans": 4, "beams": 4, "azimuth_steps": 64, **kwargs})
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


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
