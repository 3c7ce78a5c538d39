"""Training augmentation: the official ReDAL code's transforms, per dataset family, as plain numpy.

Applied to a training scan's points before voxelization (``engine.ScanSamples.augmented``), never to
evaluation or prediction. Every draw comes from the generator passed in, which the engine derives from
the run's seed, round, epoch and the scan (so augmentation repeats exactly on resume and in any process).

A pipeline is a mapping ``transform name -> {parameter: scalar}`` (scalars only, so it reads in a params
file and ``redal sweep`` can grid over one parameter); transforms run in the fixed order of
``TRANSFORMS`` whatever the mapping's order, each first drawing ``u ~ U[0, 1)`` and applying when
``u < p``. The official pipelines (``official_transforms``), from the official code:

* S3DIS (``dataloader/s3dis/dataset.py``, ``transforms.py``): elastic distortion (granularity,
  magnitude) = (0.2, 0.4) then (0.8, 1.6) m, p 0.95; rotation about z by U[0, 2 pi) about the bounding
  box centre, always; tilt about x and y by U(-pi/64, pi/64) in a shuffled order, p 0.95; per-axis scale
  U(0.9, 1.1), p 0.95; chromatic auto-contrast (blend U[0, 1)), p 0.2; chromatic translation of
  U(-0.1, 0.1) x 255 per channel, p 0.95; chromatic jitter N(0, (0.05 x 255)^2) per point, p 0.95
  (colour clipped to [0, 255] after the last two). Translation, dropout and flips exist there but are off.
* SemanticKITTI (``dataloader/semantic_kitti/dataset.py``): rotation about z by U(0, 2 pi) about the
  origin, always; one isotropic scale U(0.95, 1.05), always.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TRANSFORMS", "apply_transforms", "check_transforms", "official_transforms"]

Scalar = float | int | bool | str


# -- the transforms (pure functions of arrays and a generator) ------------------------------------------
def elastic_distortion(xyz: np.ndarray, rng: np.random.Generator, granularity: float, magnitude: float) -> np.ndarray:
    """(N, 3) float64 points displaced by a smooth random field (Choy et al.'s elastic distortion).

    A (3-channel) Gaussian noise grid with cells of ``granularity`` metres covering the cloud (one cell of
    margin each side) is blurred twice by 3-tap box filters along x, y and z (zero padding), interpolated
    trilinearly at every point (0 outside the grid) and added times ``magnitude``. Every component of a
    displacement is at most ``magnitude * max|noise|`` (blur and interpolation only average).
    """
    from scipy.interpolate import RegularGridInterpolator
    from scipy.ndimage import convolve1d

    low = xyz.min(axis=0)
    dims = ((xyz - low).max(axis=0) // granularity).astype(np.int64) + 3
    noise = rng.standard_normal((*dims.tolist(), 3)).astype(np.float32)
    box = np.full(3, 1.0 / 3.0, np.float32)
    for _ in range(2):
        for axis in range(3):
            noise = convolve1d(noise, box, axis=axis, mode="constant", cval=0.0)
    axes = [np.linspace(low[d] - granularity, low[d] + granularity * (dims[d] - 2), dims[d]) for d in range(3)]
    field = RegularGridInterpolator(axes, noise, bounds_error=False, fill_value=0.0)
    return xyz + field(xyz) * magnitude


def _rotation(axis: int, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    i, j = [a for a in range(3) if a != axis]
    m = np.eye(3)
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m


def _center(xyz: np.ndarray, center: str) -> np.ndarray:
    return (xyz.min(axis=0) + xyz.max(axis=0)) / 2.0 if center == "bbox" else np.zeros(3)


def rotate_z(xyz: np.ndarray, rng: np.random.Generator, *, center: str = "bbox") -> np.ndarray:
    """(N, 3) points rotated about the z axis by U[0, 2 pi) about the bounding-box centre or the origin."""
    angle = rng.uniform(0.0, 2.0 * math.pi)
    c = _center(xyz, center)
    return (xyz - c) @ _rotation(2, angle).T + c


def tilt(xyz: np.ndarray, rng: np.random.Generator, *, max_angle: float) -> np.ndarray:
    """(N, 3) points rotated about x and y by U(-max_angle, max_angle) each (z: 0), the three rotations
    composed in a random order, about the bounding-box centre."""
    angles = (rng.uniform(-max_angle, max_angle), rng.uniform(-max_angle, max_angle), 0.0)
    matrix = np.eye(3)
    for axis in rng.permutation(3):
        matrix = _rotation(int(axis), angles[int(axis)]) @ matrix
    c = _center(xyz, "bbox")
    return (xyz - c) @ matrix.T + c


def scale(xyz: np.ndarray, rng: np.random.Generator, *, low: float, high: float, per_axis: bool) -> np.ndarray:
    """(N, 3) points times U(low, high), one factor per axis or one for all, about the origin."""
    factor = rng.uniform(low, high, 3 if per_axis else 1)
    return xyz * factor


def flip_horizontal(xyz: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, 3) points mirrored in x and in y, each with probability 1/2, about the bounding-box centre.

    Mirroring about the centre keeps the bounding box, so the same draws applied twice give the input back.
    (The official code defines a horizontal flip but leaves it off; LiDAL flips x.)
    """
    out = xyz.copy()
    c = _center(xyz, "bbox")
    for axis in (0, 1):
        if rng.random() < 0.5:
            out[:, axis] = 2.0 * c[axis] - out[:, axis]
    return out


def chromatic_auto_contrast(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, 3) float colours blended with their per-channel contrast stretch to [0, 255] by U[0, 1).

    A channel whose colours are all equal has nothing to stretch and stays as it is. Stays in [0, 255].
    """
    lo = rgb.min(axis=0, keepdims=True)
    hi = rgb.max(axis=0, keepdims=True)
    span = hi - lo
    stretched = np.where(span > 0, (rgb - lo) * (255.0 / np.where(span > 0, span, 1.0)), rgb)
    blend = rng.random()
    return (1.0 - blend) * rgb + blend * stretched


def chromatic_translation(rgb: np.ndarray, rng: np.random.Generator, *, ratio: float) -> np.ndarray:
    """(N, 3) float colours shifted by one U(-ratio, ratio) x 255 offset per channel, clipped to [0, 255]."""
    shift = (rng.random((1, 3)) - 0.5) * 255.0 * 2.0 * ratio
    return np.clip(rgb + shift, 0.0, 255.0)


def chromatic_jitter(rgb: np.ndarray, rng: np.random.Generator, *, std: float) -> np.ndarray:
    """(N, 3) float colours plus N(0, (std x 255)^2) per point and channel, clipped to [0, 255]."""
    return np.clip(rgb + rng.standard_normal(rgb.shape) * std * 255.0, 0.0, 255.0)


# -- the registry ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Transform:
    """A named transform: what it acts on, its parameters (name -> allowed type) and how to call it."""

    name: str
    on_color: bool
    params: Mapping[str, type]
    apply: Callable[..., np.ndarray]
    choices: Mapping[str, tuple[str, ...]] | None = None


def _elastic(xyz, rng, *, granularity_1, magnitude_1, granularity_2, magnitude_2):
    xyz = elastic_distortion(xyz, rng, granularity_1, magnitude_1)
    return elastic_distortion(xyz, rng, granularity_2, magnitude_2)


#: Every transform, in the order a pipeline applies them.
TRANSFORMS: dict[str, Transform] = {
    t.name: t
    for t in (
        Transform("elastic_distortion", False, {"granularity_1": float, "magnitude_1": float,
                                                 "granularity_2": float, "magnitude_2": float}, _elastic),
        Transform("rotate_z", False, {"center": str}, rotate_z, choices={"center": ("bbox", "origin")}),
        Transform("tilt", False, {"max_angle": float}, tilt),
        Transform("scale", False, {"low": float, "high": float, "per_axis": bool}, scale),
        Transform("flip_horizontal", False, {}, flip_horizontal),
        Transform("chromatic_auto_contrast", True, {}, chromatic_auto_contrast),
        Transform("chromatic_translation", True, {"ratio": float}, chromatic_translation),
        Transform("chromatic_jitter", True, {"std": float}, chromatic_jitter),
    )
}

_OFFICIAL: dict[str, dict[str, dict[str, Scalar]]] = {
    "s3dis": {
        "elastic_distortion": {"p": 0.95, "granularity_1": 0.2, "magnitude_1": 0.4, "granularity_2": 0.8,
                               "magnitude_2": 1.6},
        "rotate_z": {"p": 1.0, "center": "bbox"},
        "tilt": {"p": 0.95, "max_angle": math.pi / 64},
        "scale": {"p": 0.95, "low": 0.9, "high": 1.1, "per_axis": True},
        "chromatic_auto_contrast": {"p": 0.2},
        "chromatic_translation": {"p": 0.95, "ratio": 0.1},
        "chromatic_jitter": {"p": 0.95, "std": 0.05},
    },
    "semantickitti": {
        "rotate_z": {"p": 1.0, "center": "origin"},
        "scale": {"p": 1.0, "low": 0.95, "high": 1.05, "per_axis": False},
    },
}


def official_transforms(family: str) -> dict[str, dict[str, Scalar]]:
    """The official code's training pipeline for ``s3dis`` or ``semantickitti`` (a fresh copy)."""
    if family not in _OFFICIAL:
        raise ValueError(f"no official augmentation for dataset family {family!r}; valid: {', '.join(_OFFICIAL)}")
    return {name: dict(params) for name, params in _OFFICIAL[family].items()}


def check_transforms(transforms: Any, *, has_color: bool, where: str = "train.transforms") -> dict[str, dict[str, Scalar]]:
    """Validate a pipeline and return it in application order (ValueError naming the key and what is allowed).

    Each entry needs ``p`` in [0, 1] and exactly the transform's parameters; colour transforms need a
    dataset with colour; ranges: granularity / magnitude / ratio / std / max_angle > 0 (finite),
    0 < low <= high for ``scale``.
    """
    if not isinstance(transforms, Mapping):
        raise ValueError(f"{where} must be a mapping of transform name -> parameters, got {transforms!r}")
    out: dict[str, dict[str, Scalar]] = {}
    for name in transforms:
        if name not in TRANSFORMS:
            raise ValueError(f"{where}: unknown transform {name!r}; valid: {', '.join(TRANSFORMS)}")
    for name, spec in TRANSFORMS.items():
        if name not in transforms:
            continue
        params = transforms[name]
        key = f"{where}.{name}"
        if not isinstance(params, Mapping):
            raise ValueError(f"{key} must be a mapping of parameters (p and {', '.join(spec.params)}), got {params!r}")
        if spec.on_color and not has_color:
            raise ValueError(f"{key}: a colour transform, but the dataset has no colour; remove it")
        allowed = {"p", *spec.params}
        missing = sorted(allowed - set(params))
        unknown = sorted(set(params) - allowed)
        if missing or unknown:
            raise ValueError(f"{key}: parameters must be exactly {', '.join(sorted(allowed))}"
                             + (f"; missing {', '.join(missing)}" if missing else "")
                             + (f"; unknown {', '.join(unknown)}" if unknown else ""))
        clean: dict[str, Scalar] = {"p": _number(params["p"], f"{key}.p", low=0.0, high=1.0, closed=True)}
        for pname, ptype in spec.params.items():
            value = params[pname]
            if ptype is bool:
                if not isinstance(value, bool):
                    raise ValueError(f"{key}.{pname} must be true/false, got {value!r}")
                clean[pname] = value
            elif ptype is str:
                valid = (spec.choices or {})[pname]
                if value not in valid:
                    raise ValueError(f"{key}.{pname} = {value!r} is not valid; valid values: {', '.join(valid)}")
                clean[pname] = value
            else:
                clean[pname] = _number(value, f"{key}.{pname}", low=0.0)
        if name == "scale" and not clean["low"] <= clean["high"]:
            raise ValueError(f"{key}: low ({clean['low']}) must be <= high ({clean['high']})")
        out[name] = clean
    return out


def _number(value: Any, key: str, *, low: float, high: float | None = None, closed: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key} must be a finite number, got {value!r}")
    ok = (low <= value if closed else low < value) and (high is None or value <= high)
    if not ok:
        bounds = f"in [{low}, {high}]" if high is not None else f"> {low}"
        raise ValueError(f"{key} = {value!r} is out of range; allowed: a number {bounds}")
    return float(value)


def apply_transforms(
    xyz: np.ndarray,
    rgb: np.ndarray | None,
    rng: np.random.Generator,
    transforms: Mapping[str, Mapping[str, Scalar]],
) -> tuple[np.ndarray, np.ndarray | None]:
    """Run a validated pipeline (``check_transforms``) on one scan.

    xyz : (N, 3) float coordinates in metres; rgb : (N, 3) colours in 0..255 or None.
    Returns ``(xyz (N, 3) float64, rgb (N, 3) float32 in [0, 255] | None)``; points keep their order and
    labels. An empty pipeline returns the inputs (as float64 / float32) and draws nothing from ``rng``.
    """
    out_xyz = np.asarray(xyz, np.float64)
    out_rgb = None if rgb is None else np.asarray(rgb, np.float64)
    for name, spec in TRANSFORMS.items():
        if name not in transforms:
            continue
        params = dict(transforms[name])
        if rng.random() >= params.pop("p"):
            continue
        if spec.on_color:
            out_rgb = spec.apply(out_rgb, rng, **params)
        else:
            out_xyz = spec.apply(out_xyz, rng, **params)
    return out_xyz, None if out_rgb is None else out_rgb.astype(np.float32)
