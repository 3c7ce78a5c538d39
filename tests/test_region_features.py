"""Colour discontinuity (Eq. 2) and surface variation (Eq. 3): planted values, dense reference, cache."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from redal_core.data.cache import ScanCache
from redal_core.regions import scan_regions
from redal_core.regions.cached import cue_key, region_key, scan_cues, scan_region_ids
from redal_core.regions.features import color_discontinuity, region_features, surface_variation
from redal_core.regions.vccs import VCCS_PRESETS, vccs


def _dense_reference(xyz: np.ndarray, rgb: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 2 and Eq. 3 one point at a time with numpy's eigvalsh (no duplicate points assumed)."""
    _, idx = cKDTree(xyz).query(xyz, k=k + 1)
    color, structure = [], []
    for i, row in enumerate(idx):
        neighbours = row[row != i][:k]
        color.append(np.abs(rgb[i] / 255.0 - rgb[neighbours] / 255.0).sum(axis=1).mean())
        eig = np.linalg.eigvalsh(np.cov(xyz[row].T, bias=True))
        structure.append(eig[0] / eig.sum())
    return np.array(color), np.array(structure)


def test_matches_a_dense_reference():
    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(600, 3))
    rgb = rng.integers(0, 256, size=(600, 3)).astype(np.uint8)
    color, structure = region_features(xyz, rgb, k=12)
    ref_color, ref_structure = _dense_reference(xyz, rgb, 12)
    assert color.dtype == structure.dtype == np.float32
    np.testing.assert_allclose(color, ref_color, atol=1e-6)
    np.testing.assert_allclose(structure, ref_structure, atol=1e-6)
    np.testing.assert_array_equal(color_discontinuity(xyz, rgb, k=12), color)
    np.testing.assert_array_equal(surface_variation(xyz, k=12), structure)


def test_surface_variation_is_zero_on_a_plane():
    rng = np.random.default_rng(1)
    uv = rng.uniform(-1, 1, size=(3000, 2))
    normal = np.array([1.0, 2.0, 2.0]) / 3.0  # a tilted plane
    a = np.cross(normal, [1.0, 0.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(normal, a)
    xyz = 5.0 + uv[:, :1] * a + uv[:, 1:] * b
    assert np.abs(surface_variation(xyz)).max() < 1e-6


def test_surface_variation_is_one_third_on_isotropic_neighbourhoods():
    # interior points of a cubic lattice: their 26 nearest neighbours fill a 3x3x3 cube exactly
    grid = np.stack(np.meshgrid(*[np.arange(7.0)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    interior = (grid > 0).all(axis=1) & (grid < 6).all(axis=1)
    values = surface_variation(grid * 0.1, k=26)
    np.testing.assert_allclose(values[interior], 1.0 / 3.0, atol=1e-6)
    # isotropic random scatter (points well inside a uniform cube): near 1/3, below it by the sampling
    # spread of the smallest eigenvalue, which shrinks as the neighbourhood grows
    rng = np.random.default_rng(2)
    noise = rng.uniform(-1, 1, size=(20000, 3))
    inside = (np.abs(noise) < 0.5).all(axis=1)
    at_50 = float(np.median(surface_variation(noise)[inside]))
    at_400 = float(np.median(surface_variation(noise, k=400)[inside]))
    assert 0.22 < at_50 < at_400 < 1.0 / 3.0
    assert 1.0 / 3.0 - at_400 < 0.04
    # and clearly above a noisy plane at the paper's k = 50
    flat = np.c_[rng.uniform(size=(5000, 2)), rng.normal(scale=1e-3, size=5000)]
    assert surface_variation(flat).mean() < 0.01 < surface_variation(noise).mean()


def test_colour_discontinuity_zero_on_uniform_colour_and_planted_edge():
    rng = np.random.default_rng(3)
    xyz = rng.uniform(-1, 1, size=(4000, 3))
    rgb = np.tile(np.array([[90, 140, 10]], np.uint8), (4000, 1))
    np.testing.assert_array_equal(color_discontinuity(xyz, rgb), 0.0)
    # black left half, white right half: only points near x = 0 see a difference; far ones see none
    rgb = np.where(xyz[:, :1] < 0, 0, 255).astype(np.uint8).repeat(3, axis=1)
    color = color_discontinuity(xyz, rgb, k=20)
    assert color.max() <= 3.0
    assert (color[np.abs(xyz[:, 0]) > 0.6] == 0).all()
    assert color[np.abs(xyz[:, 0]) < 0.05].mean() > 0.5


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(2, 300), k=st.integers(1, 60))
def test_property_ranges(seed, n, k):
    rng = np.random.default_rng(seed)
    xyz = rng.normal(scale=rng.uniform(0.01, 100), size=(n, 3))
    rgb = rng.integers(0, 256, size=(n, 3)).astype(np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # k > n - 1 is repaired with a warning, tested below
        color, structure = region_features(xyz, rgb, k=k)
    assert color.shape == structure.shape == (n,)
    assert (color >= 0).all() and (color <= 3).all()
    assert (structure >= 0).all() and (structure <= 1 / 3 + 1e-6).all()


def test_small_clouds_and_bad_inputs():
    with pytest.warns(UserWarning, match="k=50 .* only 5 points: using k=4"):
        color, structure = region_features(np.random.default_rng(4).normal(size=(5, 3)), k=50)
    assert (color == 0).all() and structure.shape == (5,)
    with pytest.warns(UserWarning, match="using k=0"):
        np.testing.assert_array_equal(surface_variation(np.zeros((1, 3))), [0.0])
    with pytest.raises(ValueError, match="k must be"):
        surface_variation(np.zeros((4, 3)), k=0)
    with pytest.raises(ValueError, match="needs rgb"):
        color_discontinuity(np.zeros((4, 3)), None)
    with pytest.raises(ValueError, match=r"rgb must have the shape"):
        color_discontinuity(np.zeros((4, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="0..255"):
        color_discontinuity(np.zeros((4, 3)), np.full((4, 3), -1.0))
    with pytest.raises(ValueError, match="non-finite"):
        surface_variation(np.full((4, 3), np.inf))


class _FakeDataset:
    """The part of the dataset contract scan_regions uses."""

    def __init__(self, root, scans, has_color):
        self.cache = ScanCache(root)
        self.has_color = has_color
        self._scans = scans
        self.reads = 0

    def __len__(self):
        return len(self._scans)

    def __getitem__(self, i):
        self.reads += 1
        return self._scans[i]

    def source_key(self, i):
        return f"fake-scan-{i}-{self._scans[i].xyz.sum():.6f}"


def _room(seed: int, n: int = 3000) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    xyz = np.c_[rng.uniform(0, 4, n), rng.uniform(0, 3, n), rng.uniform(0, 0.05, n)].astype(np.float32)
    rgb = np.where(xyz[:, :1] < 2, [200, 20, 20], [20, 20, 200]).astype(np.uint8)
    return SimpleNamespace(xyz=xyz, rgb=rgb, name=f"room_{seed}")


def test_scan_regions_computes_once_and_matches_direct_calls(tmp_path):
    dataset = _FakeDataset(tmp_path, [_room(0), _room(1)], has_color=True)
    first = scan_regions(dataset, 1, "s3dis")
    assert dataset.reads == 1
    again = scan_regions(dataset, 1, "s3dis")
    assert dataset.reads == 1  # served from the cache
    scan = dataset._scans[1]
    np.testing.assert_array_equal(first["region"], vccs(scan.xyz, scan.rgb, **VCCS_PRESETS["s3dis"]))
    color, structure = region_features(scan.xyz, scan.rgb, k=50)
    np.testing.assert_array_equal(again["color"], color)
    np.testing.assert_array_equal(again["structure"], structure)
    assert first["region"].dtype == np.int64 and first["color"].dtype == np.float32
    scan_regions(dataset, 1, "s3dis", k=10)
    assert dataset.reads == 2  # another k is another entry


def test_scan_regions_without_colour(tmp_path):
    scan = _room(2)
    dataset = _FakeDataset(tmp_path, [SimpleNamespace(xyz=scan.xyz, rgb=None, name="sweep")], has_color=False)
    out = scan_regions(dataset, 0, "semantickitti", k=8)
    assert set(out) == {"region", "color", "structure"}
    assert (out["color"] == 0).all() and out["structure"].shape == (len(scan.xyz),)
    with pytest.warns(UserWarning, match="has none: using color_weight=0"):
        scan_regions(dataset, 0, "s3dis", k=8)
    with pytest.raises(ValueError, match="valid presets: s3dis, semantickitti"):
        scan_regions(dataset, 0, "S3DIS-large")
    with pytest.raises(ValueError, match="out of range"):
        scan_regions(dataset, 3, "semantickitti")


def test_region_and_cue_keys_name_the_entries_written(tmp_path):
    """``region_key`` / ``cue_key`` (what ``redal prepare`` checks before computing) are the entries'
    own keys, with and without colour (the colour weight a colourless dataset drops is in the key)."""
    for has_color, preset in ((True, "s3dis"), (False, "semantickitti"), (False, "s3dis")):
        scan = _room(0) if has_color else SimpleNamespace(xyz=_room(0).xyz, rgb=None, name="sweep")
        dataset = _FakeDataset(tmp_path / f"{has_color}-{preset}", [scan], has_color=has_color)
        dataset.name = "s3dis" if has_color else "semantickitti"
        keys = {region_key(dataset, 0, preset), cue_key(dataset, 0, 16, "official"),
                region_key(dataset, 0, preset, division="grid", cell=0.5)}
        assert not any(key in dataset.cache for key in keys)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the s3dis preset on a colourless dataset says it drops colour
            scan_region_ids(dataset, 0, preset)
        scan_cues(dataset, 0, 16, "official")
        scan_region_ids(dataset, 0, preset, division="grid", cell=0.5)
        assert {p.name for p in dataset.cache.root.glob("*/*")} == keys
    with pytest.raises(ValueError, match="valid presets"):
        region_key(dataset, 0, "kitti")
    with pytest.raises(ValueError, match="unknown region division 'cubes'"):
        region_key(dataset, 0, "s3dis", division="cubes")
    with pytest.raises(ValueError, match="unknown scoring 'exact'"):
        cue_key(dataset, 0, 16, "exact")
