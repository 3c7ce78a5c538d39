"""Drives: consecutive sweeps of ONE street, cast from a sensor moving along it (a KITTI-like sequence).

``drive_trajectory`` draws the sensor's path: constant speed along the street's ego lane (y = 0 of the
street frame, the road at z = 0), 0.6-1.2 m between frames (KITTI's 10 Hz at 22-43 km/h; slower for long
drives, so a drive spans at most ``MAX_DRIVE_LENGTH``), centred on the street's origin, with a gentle
lane-keeping sway (0.1-0.35 m sideways over 40-120 m) whose heading gives the yaw (a few degrees at most).
The sensor stays ``SENSOR_HEIGHT`` above the flat road and turns about z only (no pitch, no roll).

``generate_drive`` lays out one street whose ego footprint covers the whole path (nothing is placed on
it) and returns a ``Drive``: the sensor poses and ``sweep(j)``, each frame ray-cast from its pose. The
scene is STATIC across a drive: traffic, riders and pedestrians stand where the street put them in every
frame (with the same raw labels as in a single sweep; SemanticKITTI's moving-* ids never occur).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .outdoor import _street_scene
from .scanner import MAX_RANGE, SENSOR_HEIGHT, _sweep
from .solids import _Street
from .validation import _check_int

#: Most frames in one drive.
MAX_DRIVE_FRAMES = 160
#: Longest path of a drive, metres (the street's objects lie within about +-70 m of its origin).
MAX_DRIVE_LENGTH = 80.0


def drive_trajectory(rng: np.random.Generator, *, frames: int) -> np.ndarray:
    """(frames, 4, 4) float64 sensor poses of one drive: LiDAR frame -> street frame (see the module doc)."""
    _check_int("frames", frames, 1, MAX_DRIVE_FRAMES)
    return _poses(_trajectory(rng, frames))


def _trajectory(rng: np.random.Generator, frames: int) -> list[tuple[float, float, float]]:
    """``(x, y, yaw)`` of the sensor per frame in the street frame."""
    step = min(float(rng.uniform(0.6, 1.2)), MAX_DRIVE_LENGTH / max(frames - 1, 1))
    amplitude, wavelength = float(rng.uniform(0.1, 0.35)), float(rng.uniform(40.0, 120.0))
    phase = float(rng.uniform(0.0, 2 * math.pi))
    out = []
    for k in range(frames):
        x = step * (k - (frames - 1) / 2)
        angle = 2 * math.pi * x / wavelength + phase
        y = amplitude * math.sin(angle)
        yaw = math.atan(amplitude * 2 * math.pi / wavelength * math.cos(angle))  # heading along dy/dx
        out.append((x, y, yaw))
    return out


def _poses(sensors: list[tuple[float, float, float]]) -> np.ndarray:
    poses = np.tile(np.eye(4), (len(sensors), 1, 1))
    for pose, (x, y, yaw) in zip(poses, sensors, strict=True):
        c, s = math.cos(yaw), math.sin(yaw)
        pose[:2, :2] = ((c, -s), (s, c))
        pose[:3, 3] = (x, y, SENSOR_HEIGHT)
    return poses


def rigid_inverse(transforms: np.ndarray) -> np.ndarray:
    """Inverse of rigid transforms (..., 4, 4) ``[R | t]``: ``[R^T | -R^T t]``."""
    transforms = np.asarray(transforms, np.float64)
    out = np.zeros_like(transforms)
    rt = np.swapaxes(transforms[..., :3, :3], -1, -2)
    out[..., :3, :3] = rt
    out[..., :3, 3] = -(rt @ transforms[..., :3, 3:4])[..., 0]
    out[..., 3, 3] = 1.0
    return out


@dataclass(frozen=True, eq=False)
class Drive:
    """One drive through one static street.

    poses : (F, 4, 4) float64 sensor poses, LiDAR frame -> street frame (road at z = 0, street along x)
    ``sweep(j)`` ray-casts frame j (deterministic: the same drive gives the same arrays on every call);
    ``world_poses()`` are the poses relative to frame 0 (KITTI's convention: world = frame 0's LiDAR frame).
    """

    poses: np.ndarray
    beams: int
    azimuth_steps: int
    max_range: float
    _sensors: tuple[tuple[float, float, float], ...]
    _street: _Street
    _seeds: tuple[np.random.SeedSequence, ...]

    def __len__(self) -> int:
        return len(self._sensors)

    def world_poses(self) -> np.ndarray:
        """(F, 4, 4) float64 LiDAR frame of frame j -> LiDAR frame of frame 0 (frame 0: the identity)."""
        world = rigid_inverse(self.poses[0]) @ self.poses
        world[0] = np.eye(4)  # exactly, not up to round-off
        return world

    def sweep(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``j``: points (N, 4) float32 (x, y, z in ITS sensor frame, remission) and raw labels (N,)
        uint32, as ``generate_sweep`` returns them."""
        _check_int("j", j, 0, len(self) - 1)
        return _sweep(
            np.random.default_rng(self._seeds[j]),
            self._street,
            beams=self.beams,
            azimuth_steps=self.azimuth_steps,
            max_range=self.max_range,
            sensor=self._sensors[j],
        )


def generate_drive(
    rng: np.random.Generator,
    *,
    frames: int,
    beams: int = 64,
    azimuth_steps: int = 1920,
    max_range: float = MAX_RANGE,
) -> Drive:
    """A drive of ``frames`` consecutive sweeps through one random street (see the module doc).

    Draws, in order, the trajectory, the street and the entropy of the frames' seeds from ``rng`` (frame j's
    sweep noise comes from ``SeedSequence(entropy).spawn(frames)[j]``); the sweeps are cast when
    ``Drive.sweep`` asks.
    """
    _check_int("frames", frames, 1, MAX_DRIVE_FRAMES)
    _check_int("beams", beams, 2, 256)
    _check_int("azimuth_steps", azimuth_steps, 64, 8192)
    if not (isinstance(max_range, (int, float)) and 5.0 <= max_range <= 500.0):
        raise ValueError(f"max_range must be a number of metres in 5..500, got {max_range!r}")
    sensors = _trajectory(rng, frames)
    xs, ys = [x for x, _, _ in sensors], [y for _, y, _ in sensors]
    street = _street_scene(rng, ego=(min(xs) - 3.0, min(ys) - 1.2, max(xs) + 3.0, max(ys) + 1.2))
    seeds = tuple(np.random.SeedSequence(int(rng.integers(2**63))).spawn(frames))
    poses = _poses(sensors)
    poses.setflags(write=False)
    return Drive(
        poses=poses,
        beams=beams,
        azimuth_steps=azimuth_steps,
        max_range=float(max_range),
        _sensors=tuple(sensors),
        _street=street,
        _seeds=seeds,
    )
