"""VCCS supervoxels: presets, determinism, completeness, planted colour edge, real scans, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redal_core.regions.quality import weighted_purity
from redal_core.regions.vccs import VCCS_PRESETS, default_min_region_voxels, vccs

SHARED = Path(__file__).resolve().parents[2] / "shared"
KITTI = SHARED / "real_samples" / "semantickitti"


def _two_planes(rng: np.random.Generator, n: int = 6000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A floor (red, z = 0, x < 0) meeting a wall (blue, x = 0) at an edge: an L-shaped profile 4 m long.

    Regions are unions of voxels, so a voxel straddling the edge would mix the colours whatever the
    clustering does: the extents are pinned (x in [-2, 0], z in [0, 2]) so that the voxel grid, which
    is centred on the bounding box, has a voxel boundary on the edge.
    """
    half = n // 2
    floor = np.c_[rng.uniform(-2.0, -1e-3, half), rng.uniform(0.0, 4.0, half), np.zeros(half)]
    wall = np.c_[np.zeros(n - half), rng.uniform(0.0, 4.0, n - half), rng.uniform(0.0, 2.0, n - half)]
    floor[0, 0] = -2.0
    wall[0, 2] = 2.0
    xyz = np.concatenate([floor, wall])
    side = np.r_[np.zeros(half, np.int64), np.ones(n - half, np.int64)]
    rgb = np.where(side[:, None] == 0, [200, 30, 30], [30, 30, 200]).astype(np.uint8)
    return xyz, rgb, side


def _gap_scene(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two same-coloured slabs, left one red / right one green, touching at x = 0."""
    n = 4000
    xyz = np.c_[rng.uniform(-3.0, 3.0, n), rng.uniform(0.0, 3.0, n), rng.uniform(0.0, 0.3, n)]
    xyz[0, 0], xyz[1, 0] = -3.0, 3.0  # bounding box centred on the edge: a voxel boundary lies on it
    side = (xyz[:, 0] >= 0).astype(np.int64)
    rgb = np.where(side[:, None] == 0, [220, 20, 20], [20, 220, 20]).astype(np.uint8)
    return xyz, rgb, side


def test_presets_are_the_papers_values():
    assert dict(VCCS_PRESETS["s3dis"]) == {
        "voxel_size": 0.1, "seed_size": 1.0, "color_weight": 0.5, "spatial_weight": 0.5, "normal_weight": 0.0
    }
    assert dict(VCCS_PRESETS["semantickitti"]) == {
        "voxel_size": 0.5, "seed_size": 10.0, "color_weight": 0.0, "spatial_weight": 1.0, "normal_weight": 0.0
    }
    with pytest.raises(TypeError):
        VCCS_PRESETS["s3dis"]["seed_size"] = 2.0  # the presets cannot be changed by accident
    assert default_min_region_voxels(0.5, 10.0) == 13
    assert default_min_region_voxels(0.1, 1.0) == 4


def test_deterministic_dense_and_complete():
    rng = np.random.default_rng(0)
    xyz, rgb, _ = _two_planes(rng)
    first = vccs(xyz, rgb, **VCCS_PRESETS["s3dis"])
    second = vccs(xyz.copy(), rgb.copy(), **VCCS_PRESETS["s3dis"])
    assert first.dtype == np.int64 and first.shape == (len(xyz),)
    np.testing.assert_array_equal(first, second)
    assert first.min() == 0
    assert np.array_equal(np.unique(first), np.arange(first.max() + 1))  # dense ids 0..R-1
    assert first.max() + 1 > 4  # a 4 m x 4 m L-shape with 1 m seeds is not one region


def test_point_order_does_not_change_the_partition():
    rng = np.random.default_rng(1)
    xyz, rgb, _ = _two_planes(rng)
    ids = vccs(xyz, rgb, **VCCS_PRESETS["s3dis"])
    perm = rng.permutation(len(xyz))
    ids_perm = vccs(xyz[perm], rgb[perm], **VCCS_PRESETS["s3dis"])
    # same partition up to the naming of regions
    pairs = np.unique(np.c_[ids[perm], ids_perm], axis=0)
    assert len(pairs) == ids.max() + 1 == ids_perm.max() + 1


@pytest.mark.parametrize("seed", [0, 2, 4])
def test_regions_never_cross_the_colour_edge(seed):
    """With colour dominating D (a colour jump costs more than any spatial step within a region can
    save), no region holds both colours."""
    rng = np.random.default_rng(seed)
    xyz, rgb, side = _two_planes(rng)
    ids = vccs(xyz, rgb, voxel_size=0.1, seed_size=1.0, color_weight=1.0, spatial_weight=0.2)
    assert weighted_purity(ids, side) == 1.0
    xyz, rgb, side = _gap_scene(rng)
    ids = vccs(xyz, rgb, voxel_size=0.1, seed_size=1.5, color_weight=1.0, spatial_weight=0.2)
    assert weighted_purity(ids, side) == 1.0
    # the paper's S3DIS weights (colour 0.5 = spatial 0.5) let a few edge voxels go to the other side:
    # a red/blue jump costs as much as 0.94 m, about one seed spacing
    xyz, rgb, side = _two_planes(rng)
    assert weighted_purity(vccs(xyz, rgb, **VCCS_PRESETS["s3dis"]), side) >= 0.99


def test_without_colour_weight_regions_do_cross_a_colour_only_edge():
    """Control for the test above: the edge is found by colour, not by geometry."""
    rng = np.random.default_rng(3)
    xyz, rgb, side = _gap_scene(rng)
    ids = vccs(xyz, rgb, voxel_size=0.1, seed_size=1.5, color_weight=0.0, spatial_weight=1.0)
    assert weighted_purity(ids, side) < 1.0


def test_disconnected_clusters_and_tiny_clouds_get_regions():
    rng = np.random.default_rng(4)
    blob = rng.normal(scale=0.3, size=(3000, 3))
    far = rng.normal(scale=0.02, size=(5, 3)) + 50.0  # isolated, far below the minimum region size
    xyz = np.concatenate([blob, far])
    ids = vccs(xyz, voxel_size=0.1, seed_size=1.0, color_weight=0.0, spatial_weight=1.0)
    assert ids.min() == 0 and np.array_equal(np.unique(ids), np.arange(ids.max() + 1))
    # the isolated cluster joins a region of the blob instead of standing alone
    assert np.isin(ids[-5:], ids[:3000]).all()
    kept = vccs(xyz, voxel_size=0.1, seed_size=1.0, color_weight=0.0, spatial_weight=1.0, min_region_voxels=1)
    assert not np.isin(kept[-5:], kept[:3000]).any()
    one = vccs(np.zeros((1, 3)), voxel_size=0.1, seed_size=1.0, color_weight=0.0, spatial_weight=1.0)
    np.testing.assert_array_equal(one, [0])


def test_normal_weight_separates_perpendicular_planes():
    rng = np.random.default_rng(5)
    xyz, _, side = _two_planes(rng)
    ids = vccs(xyz, voxel_size=0.1, seed_size=1.0, color_weight=0.0, spatial_weight=0.2, normal_weight=1.0)
    assert weighted_purity(ids, side) > 0.97


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(1, 400),
    scale=st.floats(0.05, 20.0),
    voxel=st.sampled_from([0.05, 0.1, 0.5]),
    ratio=st.sampled_from([1.0, 3.0, 10.0]),
)
def test_property_every_point_gets_a_dense_deterministic_id(seed, n, scale, voxel, ratio):
    rng = np.random.default_rng(seed)
    xyz = rng.normal(scale=scale, size=(n, 3)).astype(np.float32)
    rgb = rng.integers(0, 256, size=(n, 3)).astype(np.uint8)
    kwargs = dict(voxel_size=voxel, seed_size=voxel * ratio, color_weight=0.3, spatial_weight=0.7)
    ids = vccs(xyz, rgb, **kwargs)
    assert ids.shape == (n,) and ids.dtype == np.int64
    assert np.array_equal(np.unique(ids), np.arange(ids.max() + 1))
    np.testing.assert_array_equal(ids, vccs(xyz, rgb, **kwargs))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"voxel_size": 0.0}, "voxel_size"),
        ({"seed_size": float("nan")}, "seed_size"),
        ({"seed_size": 0.05}, "at least voxel_size"),
        ({"color_weight": -1.0}, "color_weight"),
        ({"min_region_voxels": 0}, "min_region_voxels"),
    ],
)
def test_bad_parameters_are_named(kwargs, match):
    params = dict(VCCS_PRESETS["semantickitti"]) | {"voxel_size": 0.1, "seed_size": 1.0} | kwargs
    with pytest.raises(ValueError, match=match):
        vccs(np.zeros((10, 3)), **params)


def test_bad_inputs_are_named():
    preset = VCCS_PRESETS["semantickitti"]
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        vccs(np.zeros((10, 2)), **preset)
    bad = np.zeros((10, 3))
    bad[7, 1] = np.nan
    with pytest.raises(ValueError, match="first at row 7"):
        vccs(bad, **preset)
    with pytest.raises(ValueError, match="needs rgb"):
        vccs(np.zeros((10, 3)), **VCCS_PRESETS["s3dis"])
    with pytest.raises(ValueError, match="0..255"):
        vccs(np.zeros((10, 3)), np.full((10, 3), 300.0), **VCCS_PRESETS["s3dis"])


@pytest.mark.real
def test_real_semantickitti_scan():
    scans = sorted(KITTI.glob("sequences/*/velodyne/*.bin")) if KITTI.is_dir() else []
    if not scans:
        pytest.skip(f"real SemanticKITTI samples not found under {KITTI}")
    points = np.fromfile(scans[0], dtype="<f4").reshape(-1, 4)[:, :3]
    semantic = np.fromfile(scans[0].parent.parent / "labels" / (scans[0].stem + ".label"), "<u4") & 0xFFFF
    ids = vccs(points, **VCCS_PRESETS["semantickitti"])
    np.testing.assert_array_equal(ids, vccs(points, **VCCS_PRESETS["semantickitti"]))
    regions = ids.max() + 1
    # a 10 m seed over a ~150 m x 100 m sweep gives on the order of a hundred regions (PCL: ~90-145)
    assert 40 <= regions <= 300
    # far purer than one region per scan, and better than chance grouping
    assert weighted_purity(ids, semantic.astype(np.int64)) > 0.5


def _naive_expand(vox_xyz, vox_rgb, nbr, nbr_count, seeds, rounds, wc, ws):
    """The expansion rule written plainly: every voxel, every round, all decisions from the last state."""
    owner = np.full(len(vox_xyz), -1)
    dist = np.full(len(vox_xyz), np.inf)
    owner[seeds], dist[seeds] = np.arange(len(seeds)), 0.0
    for _ in range(rounds):
        c_xyz = np.array([vox_xyz[owner == s].mean(0) if (owner == s).any() else np.zeros(3) for s in range(len(seeds))])
        c_rgb = np.array([vox_rgb[owner == s].mean(0) if (owner == s).any() else np.zeros(3) for s in range(len(seeds))])
        new_owner, new_dist = owner.copy(), dist.copy()
        for v in range(len(vox_xyz)):
            claims = {owner[u] for u in nbr[v, : nbr_count[v]] if owner[u] >= 0 and owner[u] != owner[v]}
            for s in sorted(claims):
                d = ws * np.linalg.norm(vox_xyz[v] - c_xyz[s]) + wc * np.linalg.norm(vox_rgb[v] - c_rgb[s])
                if d < new_dist[v]:
                    new_owner[v], new_dist[v] = s, d
        if (new_owner == owner).all() and (new_dist == dist).all():
            break
        owner, dist = new_owner, new_dist
    return owner


@pytest.mark.parametrize("seed", [0, 1])
def test_expansion_matches_the_plain_rule(seed):
    from redal_core.regions import vccs as module

    rng = np.random.default_rng(seed)
    xyz = np.c_[rng.uniform(0, 3, 800), rng.uniform(0, 2, 800), rng.uniform(0, 0.4, 800)]
    rgb = rng.integers(0, 256, size=(800, 3)).astype(np.uint8)
    xyz, bounds, rgb = module._check_points(xyz, rgb)
    point_voxel, keys, table_keys, table_vals, span = module._voxelize(xyz, bounds, 0.1)
    vox_xyz, vox_rgb = module._voxel_means(xyz, rgb, True, point_voxel, len(keys))
    nbr, nbr_count = module._adjacency(keys, table_keys, table_vals, span)
    seeds = module._select_seeds(vox_xyz, keys, span, 0.1, 0.6)
    assert len(seeds) > 3
    fast = module._expand(vox_xyz, vox_rgb, np.zeros_like(vox_xyz), nbr, nbr_count, seeds, 9, 0.5 / 255, 0.5 / 0.6, 0.0)
    plain = _naive_expand(vox_xyz, vox_rgb, nbr, nbr_count, seeds, 9, 0.5 / 255, 0.5 / 0.6)
    np.testing.assert_array_equal(fast, plain)
    # the adjacency is exactly the 26-neighbourhood of occupied voxels (brute force over all pairs)
    syz = span[1] * span[2]
    cells = np.stack([keys // syz, (keys // span[2]) % span[1], keys % span[2]], axis=1)
    chebyshev = np.abs(cells[:, None, :] - cells[None, :, :]).max(axis=2)
    for v in range(len(keys)):
        assert set(nbr[v, : nbr_count[v]].tolist()) == set(np.flatnonzero(chebyshev[v] == 1).tolist())


def test_a_component_no_seed_reaches_becomes_one_region():
    rng = np.random.default_rng(6)
    slab = np.c_[rng.uniform(0, 4, 8000), rng.uniform(0, 4, 8000), rng.uniform(0, 0.2, 8000)]
    # a 1.2 m rod of 12 voxels, 20 m away: too few voxels around it for PCL's seed filter (> 15.7)
    rod = np.c_[np.linspace(20.02, 21.18, 120), np.full(120, 2.05), np.full(120, 0.05)]
    xyz = np.concatenate([slab, rod])
    kwargs = dict(voxel_size=0.1, seed_size=2.0, color_weight=0.0, spatial_weight=1.0)
    ids = vccs(xyz, **kwargs, min_region_voxels=5)
    assert len(np.unique(ids[-120:])) == 1 and not np.isin(ids[-120:], ids[:8000]).any()
    # below the default minimum (13 voxels) the rod joins the nearest region instead
    ids = vccs(xyz, **kwargs)
    assert len(np.unique(ids[-120:])) == 1 and np.isin(ids[-120:], ids[:8000]).all()
