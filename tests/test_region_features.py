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
from redal_core.regions.features import (
    OFFICIAL_COLOR_CLIP,
    OFFICIAL_K,
    OFFICIAL_STRUCTURE_CLIP,
    color_discontinuity,
    region_features,
    surface_variation,
)
from redal_core.regions.knn import knn_indices
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


def _exact_lists(xyz: np.ndarray, k: int) -> np.ndarray:
    """(N, k + 1) brute force in float64: the point itself, then the others by (squared distance, index)."""
    xyz = np.asarray(xyz, np.float64)
    out = np.empty((len(xyz), k + 1), np.int64)
    for i in range(len(xyz)):
        d2 = ((xyz - xyz[i]) ** 2).sum(axis=1)
        d2[i] = -1.0
        out[i] = np.lexsort((np.arange(len(xyz)), d2))[: k + 1]
    return out


def _exact_reference(xyz, rgb, k):
    """Both colour scales and surface variation from the brute-force lists, with numpy's eigvalsh."""
    lists = _exact_lists(xyz, k)
    colors = np.asarray(rgb, np.float64) / 255.0
    paper, official, structure = [], [], []
    for i, row in enumerate(lists):
        diff = np.abs(colors[row] - colors[i])  # row[0] == i contributes 0
        paper.append(diff[1:].sum(axis=1).mean())  # the k nearest others, L1 over channels
        official.append(min(diff[:k].mean(), 0.1))  # i and its k - 1 nearest others, 3 channels
        eig = np.linalg.eigvalsh(np.cov(xyz[row].T, bias=True))
        structure.append(eig[0] / eig.sum() if eig.sum() > 0 else 0.0)
    return lists, np.array(paper), np.array(official), np.array(structure)


def _clouds():
    """Clouds whose exact lists need the tie rule: duplicates with other colours, a lattice, LiDAR-like."""
    rng = np.random.default_rng(5)
    plain = rng.normal(size=(500, 3))
    base = rng.uniform(-1, 1, size=(300, 3))
    dup = np.concatenate([base, base[:80], base[:40], np.repeat(base[7:8], 70, axis=0)])  # 70 > k + 1 copies
    lattice = np.stack(np.meshgrid(*[np.arange(7.0)] * 3, indexing="ij"), axis=-1).reshape(-1, 3) * 0.25
    lattice = np.concatenate([lattice, lattice[::5]])  # equidistant neighbours and duplicates
    # density falling with range as in a LiDAR sweep: blocks of many levels, boundary retries
    direction = rng.normal(size=(2500, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    sweep = direction * np.exp(rng.uniform(0, np.log(80.0), size=(2500, 1)))
    sweep[:, 2] *= 0.1
    for xyz in (plain, dup, lattice, sweep):
        yield xyz, rng.integers(0, 256, size=xyz.shape).astype(np.uint8)


@pytest.mark.parametrize("k", [1, 7, 50])
def test_both_scales_equal_a_brute_force_exact_reference(k):
    for xyz, rgb in _clouds():
        lists, paper, official, structure = _exact_reference(xyz, rgb, k)
        np.testing.assert_array_equal(knn_indices(xyz, k), lists)
        color, struct = region_features(xyz, rgb, k=k)
        np.testing.assert_allclose(color, paper, rtol=0, atol=1e-6)
        np.testing.assert_allclose(struct, structure, rtol=0, atol=1e-6)
        color_o, struct_o = region_features(xyz, rgb, k=k, scale="official")
        np.testing.assert_allclose(color_o, official, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(struct_o, struct)  # the scale changes the colour cue only
        np.testing.assert_array_equal(color_discontinuity(xyz, rgb, k=k, scale="official"), color_o)


def test_exact_lists_with_far_outliers():
    # a few points a million and 10^12 times farther than the cloud's size: clamped into the grid's edge
    rng = np.random.default_rng(10)
    xyz = np.concatenate([rng.normal(size=(1500, 3)), [[1e6, 0, 0], [1e6, 1, 0], [-1e12, 5, 5]]])
    for k in (1, 20):
        np.testing.assert_array_equal(knn_indices(xyz, k), _exact_lists(xyz, k))


def test_official_scale_on_a_planted_edge():
    # a line whose spacing grows slowly: the neighbours of j are j-1, j+1, j-2, j+2 (left first), no ties
    j = np.arange(20.0)
    xyz = np.c_[j + 0.001 * j**2, np.zeros(20), np.zeros(20)]
    a, b = np.array([100, 50, 0]), np.array([110, 40, 6])  # L1 distance 26 (0..255 units)
    rgb = np.where(j[:, None] < 10, a, b).astype(np.uint8)
    k = 4
    paper = color_discontinuity(xyz, rgb, k=k)
    official = color_discontinuity(xyz, rgb, k=k, scale="official")
    step = 26 / 255
    # paper: mean over the 4 others of the L1 difference
    expected_paper = np.zeros(20)
    expected_paper[[8, 11]] = step / 4  # 8 sees 10 only (7, 9, 6, 10); 11 sees 9 only (10, 12, 9, 13)
    expected_paper[[9, 10]] = 2 * step / 4  # 9 sees 10 and 11; 10 sees 9 and 8
    np.testing.assert_allclose(paper, expected_paper, atol=1e-7)
    # official: the mean over the point and its 3 nearest others (j-1, j+1, j-2) and the 3 channels
    expected_official = np.zeros(20)
    expected_official[9] = step / (4 * 3)  # itself, 8, 10, 7
    expected_official[10] = 2 * step / (4 * 3)  # itself, 9, 11, 8
    expected_official[11] = step / (4 * 3)  # itself, 10, 12, 9
    # 8: itself, 7, 9, 6 -> 0 (10, its 4th other, is left out); 12: itself, 11, 13, 10 -> 0
    np.testing.assert_allclose(official, expected_official, atol=1e-7)
    # black against white: 1.5 on the paper scale, 0.25 officially, clipped to 0.1
    rgb = np.where(j[:, None] < 10, 0, 255).repeat(3, axis=1).astype(np.uint8)
    paper = color_discontinuity(xyz, rgb, k=k)
    official = color_discontinuity(xyz, rgb, k=k, scale="official")
    assert paper[9] == pytest.approx(1.5)
    assert official[9] == official[10] == np.float32(OFFICIAL_COLOR_CLIP)  # 0.25 and 0.5 before the clip
    assert official[8] == 0.0 and official.max() == np.float32(0.1)


def test_official_colour_is_zero_on_uniform_colour_and_clipped_everywhere():
    rng = np.random.default_rng(6)
    xyz = rng.uniform(-1, 1, size=(3000, 3))
    rgb = np.tile(np.array([[90, 140, 10]], np.uint8), (3000, 1))
    np.testing.assert_array_equal(color_discontinuity(xyz, rgb, scale="official"), 0.0)
    rgb = rng.integers(0, 256, size=(3000, 3)).astype(np.uint8)  # random colours: nearly all above 0.1
    official = color_discontinuity(xyz, rgb, k=OFFICIAL_K, scale="official")
    assert official.max() == np.float32(0.1) and (official == np.float32(0.1)).mean() > 0.99
    # below the clip, the official value is the paper's over the point's k - 1 nearest others, / (3 k)
    dim = (rgb // 16).astype(np.uint8)
    lists = knn_indices(xyz, 10)
    expected = np.abs(dim[lists[:, :10]].astype(float) - dim[:, None, :]).sum(axis=(1, 2)) / (255 * 3 * 10)
    np.testing.assert_allclose(color_discontinuity(xyz, dim, k=10, scale="official"),
                               np.minimum(expected, 0.1), atol=1e-7)


def test_structure_clip():
    rng = np.random.default_rng(7)
    xyz = rng.uniform(-1, 1, size=(4000, 3))  # isotropic: values near 1/3
    raw = surface_variation(xyz)
    clipped = surface_variation(xyz, structure_clip=OFFICIAL_STRUCTURE_CLIP["semantickitti"])
    np.testing.assert_array_equal(clipped, np.minimum(raw, np.float32(0.1)))
    assert clipped.max() == np.float32(0.1) and raw.max() > 0.3
    assert OFFICIAL_STRUCTURE_CLIP["s3dis"] is None
    np.testing.assert_array_equal(surface_variation(xyz, structure_clip=None), raw)
    color, structure = region_features(xyz, None, structure_clip=0.05)
    np.testing.assert_array_equal(structure, np.minimum(raw, np.float32(0.05)))
    assert (color == 0).all()
    flat = np.c_[rng.uniform(size=(3000, 2)), np.zeros(3000)]  # a plane stays 0 under any clip
    assert (surface_variation(flat, structure_clip=0.1) < 1e-6).all()


def test_scale_and_clip_are_validated():
    xyz = np.random.default_rng(8).normal(size=(20, 3))
    rgb = np.zeros((20, 3), np.uint8)
    with pytest.raises(ValueError, match=r"scale must be one of 'paper', 'official', got 'Official'"):
        region_features(xyz, rgb, k=4, scale="Official")
    with pytest.raises(ValueError, match="scale must be one of"):
        color_discontinuity(xyz, rgb, k=4, scale=None)
    for bad in (0, -0.1, float("nan"), float("inf"), True, "0.1"):
        with pytest.raises(ValueError, match="structure_clip must be None or a float > 0"):
            region_features(xyz, rgb, k=4, structure_clip=bad)
        with pytest.raises(ValueError, match="structure_clip must be None or a float > 0"):
            surface_variation(xyz, k=4, structure_clip=bad)


def test_results_do_not_depend_on_the_thread_count():
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba's pool has one thread")
    rng = np.random.default_rng(9)
    xyz = rng.normal(size=(20000, 3)) * [10, 10, 1]
    rgb = rng.integers(0, 256, size=(20000, 3)).astype(np.uint8)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = region_features(xyz, rgb)
        numba.set_num_threads(2)
        two = region_features(xyz, rgb)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


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
