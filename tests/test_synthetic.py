"""Synthetic datasets: written in the original formats, read back by the real readers, deterministic,
with the geometry (surfaces, beams, occlusion, range fall-off) and class statistics they promise."""

from __future__ import annotations

import hashlib
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from redal_core.data import synthetic
from redal_core.data.s3dis import S3DIS_CLASSES, read_room
from redal_core.data.semantic_kitti import load_label_config, read_scan

INDOOR_POINTS = 12_000
AZIMUTH_STEPS = 1024


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _label_path(bin_path: Path) -> Path:
    return bin_path.parent.parent / "labels" / f"{bin_path.stem}.label"


@pytest.fixture(scope="module")
def indoor(tmp_path_factory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("indoor")
    return root, synthetic.write_synthetic_indoor(root, scans=7, seed=3, points_per_room=INDOOR_POINTS)


@pytest.fixture(scope="module")
def indoor_scans(indoor):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # clean files: the reader must not need to repair anything
        return [read_room(room) for room in indoor[1]]


@pytest.fixture(scope="module")
def outdoor(tmp_path_factory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("outdoor")
    return root, synthetic.write_synthetic_outdoor(root, scans=4, seed=5, azimuth_steps=AZIMUTH_STEPS)


@pytest.fixture(scope="module")
def sweeps(outdoor) -> list[tuple[np.ndarray, np.ndarray]]:
    """(points (N, 4) float32, raw labels (N,) uint32) of every written sweep, read as raw bytes."""
    return [(np.fromfile(b, "<f4").reshape(-1, 4), np.fromfile(_label_path(b), "<u4")) for b in outdoor[1]]


# ---------------------------------------------------------------------------------------------- determinism


def test_indoor_is_byte_identical_for_the_same_arguments(tmp_path):
    a = synthetic.write_synthetic_indoor(tmp_path / "a", scans=2, seed=11, points_per_room=3000)
    b = synthetic.write_synthetic_indoor(tmp_path / "b", scans=2, seed=11, points_per_room=3000)
    synthetic.write_synthetic_indoor(tmp_path / "c", scans=2, seed=12, points_per_room=3000)
    assert [p.relative_to(tmp_path / "a") for p in a] == [p.relative_to(tmp_path / "b") for p in b]
    ha, hb, hc = _hashes(tmp_path / "a"), _hashes(tmp_path / "b"), _hashes(tmp_path / "c")
    assert ha == hb and len(ha) > 4
    assert ha != hc


def test_outdoor_is_byte_identical_for_the_same_arguments(tmp_path):
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        synthetic.write_synthetic_outdoor(tmp_path / name, scans=2, seed=seed, beams=16, azimuth_steps=256)
    ha, hb, hc = (_hashes(tmp_path / name) for name in "abc")
    assert ha == hb and len(ha) == 4
    assert ha != hc


# ---------------------------------------------------------------------------------------------- splits


@settings(max_examples=60, deadline=None)
@given(scans=st.integers(1, 300))
def test_area_assignment(scans):
    areas = synthetic.assign_areas(scans)
    counts = {a: areas.count(a) for a in range(1, 7)}
    assert len(areas) == scans and counts[5] >= 1
    if scans >= 6:
        assert all(counts[a] >= 1 for a in range(1, 7))
        assert abs(counts[5] - scans / 6) <= 1
    else:
        assert counts[5] == 1 and counts[1] == scans - 1


@settings(max_examples=60, deadline=None)
@given(scans=st.integers(1, 300))
def test_sequence_assignment(scans):
    sequences = synthetic.assign_sequences(scans)
    assert len(sequences) == scans and set(sequences) <= set(range(11))
    assert sequences.count(8) >= 1 and abs(sequences.count(8) - scans / 10) <= 1
    if scans >= 11:
        assert set(sequences) == set(range(11))


# ---------------------------------------------------------------------------------------------- formatting


@settings(max_examples=80, deadline=None)
@given(
    mm=st.lists(st.tuples(*[st.integers(-99_999_999, 99_999_999)] * 3), min_size=1, max_size=30),
    seed=st.integers(0, 2**16),
)
def test_formatter_matches_printf(mm, seed):
    xyz = np.array(mm, np.float64) / 1000.0
    rgb = np.random.default_rng(seed).integers(0, 256, xyz.shape)
    expected = "".join(
        f"{x:.3f} {y:.3f} {z:.3f} {r} {g} {b}\n" for (x, y, z), (r, g, b) in zip(xyz, rgb, strict=True)
    )
    assert synthetic.format_xyzrgb(xyz, rgb) == expected.encode()


def test_formatter_rejects_bad_input():
    with pytest.raises(ValueError, match="xyz"):
        synthetic.format_xyzrgb(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        synthetic.format_xyzrgb(np.array([[np.nan, 0, 0]]), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="0..255"):
        synthetic.format_xyzrgb(np.zeros((1, 3)), np.array([[0, 256, 0]]))


# ---------------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scans": 0}, "scans must be >= 1"),
        ({"scans": True}, "scans must be an integer"),
        ({"scans": 2.0}, "scans must be an integer"),
        ({"seed": -1}, "seed must be >= 0"),
        ({"points_per_room": 10}, "points_per_room must be >= 100"),
    ],
)
def test_indoor_rejects_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        synthetic.write_synthetic_indoor(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scans": -3}, "scans must be >= 1"),
        ({"beams": 1}, "beams must be in 2..256"),
        ({"azimuth_steps": 10}, "azimuth_steps must be in 64..8192"),
        ({"seed": "0"}, "seed must be an integer"),
    ],
)
def test_outdoor_rejects_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        synthetic.write_synthetic_outdoor(tmp_path, **kwargs)


def test_root_must_be_a_folder(tmp_path):
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        synthetic.write_synthetic_indoor(file, scans=1)
    with pytest.raises(ValueError, match="non-empty path"):
        synthetic.write_synthetic_outdoor("", scans=1)
    with pytest.raises(ValueError, match="unknown room kind 'kitchen'"):
        synthetic.generate_room(np.random.default_rng(0), kind="kitchen")


# ---------------------------------------------------------------------------------------------- indoor


def test_indoor_layout(indoor):
    root, rooms = indoor
    assert [r.parent.name for r in rooms].count("Area_5") == 1
    assert {r.parent.name for r in rooms} == {f"Area_{a}" for a in range(1, 7)}
    assert len({str(r) for r in rooms}) == len(rooms)
    pattern = re.compile(rf"^({'|'.join(S3DIS_CLASSES)})_[1-9]\d*\.txt$")
    for room in rooms:
        assert re.fullmatch(r"[A-Za-z]+_\d+", room.name) and room.parent.parent == root
        files = sorted((room / "Annotations").iterdir())
        assert files and all(pattern.match(f.name) for f in files)
        room_lines = sorted((room / f"{room.name}.txt").read_bytes().splitlines())
        annotated = sorted(line for f in files for line in f.read_bytes().splitlines())
        assert room_lines == annotated  # the room file is the union of the annotations
        # numbering per class is 1..k without gaps
        for cls in S3DIS_CLASSES:
            ks = sorted(int(f.stem.rsplit("_", 1)[1]) for f in files if f.stem.rsplit("_", 1)[0] == cls)
            assert ks == list(range(1, len(ks) + 1))


def test_indoor_reads_back_without_loss(indoor, indoor_scans):
    for room, scan in zip(indoor[1], indoor_scans, strict=True):
        lines = sum(f.read_bytes().count(b"\n") for f in (room / "Annotations").iterdir())
        assert scan.num_points == lines == (room / f"{room.name}.txt").read_bytes().count(b"\n")
        assert scan.num_points == INDOOR_POINTS
        assert scan.name == f"{room.parent.name}/{room.name}"


def test_indoor_class_coverage_and_skew(indoor_scans):
    counts = sum(np.bincount(s.labels, minlength=13) for s in indoor_scans)
    share = counts / counts.sum()
    assert (counts > 0).all(), dict(zip(S3DIS_CLASSES, counts, strict=True))
    planes = share[[S3DIS_CLASSES.index(c) for c in ("ceiling", "floor", "wall")]].sum()
    assert planes > 0.5
    for rare in ("beam", "column", "window", "door", "table", "chair", "sofa", "board"):
        assert 0 < share[S3DIS_CLASSES.index(rare)] < 0.1, rare
    for scan in indoor_scans:  # the validation room too: every class is in every room
        assert len(np.unique(scan.labels)) >= 12, scan.name


def test_indoor_density_is_uniform_over_surfaces(indoor_scans):
    """Same sampling density on every surface: the 8th-neighbour distance is alike for all classes."""
    from scipy.spatial import cKDTree

    for scan in indoor_scans[:3]:
        distance = cKDTree(scan.xyz).query(scan.xyz, k=9)[0][:, 8]
        floor = np.median(distance[scan.labels == S3DIS_CLASSES.index("floor")])
        for cls in range(len(S3DIS_CLASSES)):
            mine = distance[scan.labels == cls]
            if len(mine) >= 100:
                assert 0.7 < np.median(mine) / floor < 1.3, (scan.name, S3DIS_CLASSES[cls])


def test_indoor_points_lie_on_surfaces(indoor):
    """Floors/ceilings are horizontal planes, every wall is a vertical plane (not a volume): ~mm residuals."""
    room = indoor[1][0]
    for path in (room / "Annotations").glob("*.txt"):
        cls = path.stem.rsplit("_", 1)[0]
        if cls not in ("floor", "ceiling", "wall"):
            continue
        xyz = np.loadtxt(path)[:, :3]
        centred = xyz - xyz.mean(axis=0)
        _, singular, vt = np.linalg.svd(centred, full_matrices=False)
        residual = singular[-1] / math.sqrt(len(xyz))
        assert residual < 0.01, (path.name, residual)
        normal = vt[-1]
        if cls == "wall":
            assert abs(normal[2]) < 0.05, path.name
        else:
            assert abs(normal[2]) > 0.99, path.name


def test_indoor_occlusion_under_bookcases(indoor):
    """No floor point under a bookcase: it stands there (rooms are axis-aligned, so a bookcase's x-y
    bounding box is its footprint), although the floor density would put many points there."""
    checked = 0
    for room in indoor[1]:
        files = {f.stem: f for f in (room / "Annotations").glob("*.txt")}
        floor = np.concatenate(
            [np.loadtxt(f, ndmin=2)[:, :3] for k, f in files.items() if k.startswith("floor_")]
        )
        floor_area = np.ptp(floor[:, 0]) * np.ptp(floor[:, 1])
        for name, path in files.items():
            if not name.startswith("bookcase_"):
                continue
            xyz = np.loadtxt(path, ndmin=2)[:, :3]
            lo, hi = xyz[:, :2].min(axis=0) + 0.03, xyz[:, :2].max(axis=0) - 0.03
            expected = len(floor) * np.prod(hi - lo) / floor_area
            under = ((floor[:, :2] > lo) & (floor[:, :2] < hi)).all(axis=1).sum()
            if expected > 5:
                checked += 1
                assert under == 0, (room.name, name, under, expected)
    assert checked >= 3


def _point_features(xyz: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """(N, 9): rgb, height above floor / below ceiling, |normal z|, planarity, curvature from 16 neighbours."""
    from scipy.spatial import cKDTree

    xyz = xyz.astype(np.float64)
    _, nn = cKDTree(xyz).query(xyz, k=16)
    nb = xyz[nn] - xyz[nn].mean(axis=1, keepdims=True)
    w, v = np.linalg.eigh(np.einsum("nki,nkj->nij", nb, nb) / 16)
    z = xyz[:, 2]
    return np.column_stack(
        [
            rgb,
            z - z.min(),
            z.max() - z,
            np.abs(v[:, 2, 0]),
            (w[:, 1] - w[:, 0]) / (w[:, 2] + 1e-12),
            w[:, 0] / (w.sum(1) + 1e-12),
        ]
    )


def test_colour_alone_is_informative_but_not_sufficient(indoor_scans):
    """On the held-out Area_5 room a colour-only tree beats chance but stays far from solving the task;
    adding simple local geometry (height, normal, planarity) helps a lot: objects are learnable from shape."""
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.tree import DecisionTreeClassifier

    scans = indoor_scans[:5]  # the Area_5 room and 4 training rooms
    features = [_point_features(s.xyz, s.rgb) for s in scans]
    train_x, train_y = np.concatenate(features[1:]), np.concatenate([s.labels for s in scans[1:]])
    test_x, test_y = features[0], indoor_scans[0].labels
    assert indoor_scans[0].name.startswith("Area_5/")
    scores = {}
    for name, cols in (("colour", slice(0, 3)), ("colour+geometry", slice(0, 9))):
        tree = DecisionTreeClassifier(max_depth=12, random_state=0).fit(train_x[:, cols], train_y)
        scores[name] = balanced_accuracy_score(test_y, tree.predict(test_x[:, cols]))
    assert 2 / 13 < scores["colour"] < 0.6, scores
    assert scores["colour+geometry"] > scores["colour"] + 0.1, scores


# ---------------------------------------------------------------------------------------------- outdoor


def test_outdoor_layout_and_read_back(outdoor, sweeps):
    root, bins = outdoor
    assert [b.parent.parent.name for b in bins].count("08") == 1
    for b, (points, labels) in zip(bins, sweeps, strict=True):
        assert b.parent.name == "velodyne" and b.parent.parent.parent == root / "sequences"
        assert re.fullmatch(r"\d{6}\.bin", b.name)
        assert b.stat().st_size == 16 * len(points) and _label_path(b).stat().st_size == 4 * len(labels)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            scan = read_scan(b, _label_path(b))
        assert scan.num_points == len(points) and scan.name == f"{b.parent.parent.name}/{b.stem}"
        np.testing.assert_array_equal(scan.intensity, points[:, 3])
        assert 40_000 < len(points) < 70_000  # 64 x 1024 rays; about 60 % of the default 64 x 1920


def test_outdoor_labels_are_raw_semantic_kitti_ids(sweeps, outdoor):
    semantic = np.concatenate([labels & 0xFFFF for _, labels in sweeps])
    instance = np.concatenate([labels >> 16 for _, labels in sweeps])
    used = set(np.unique(semantic).tolist())
    assert used <= set(synthetic.KITTI_RAW_IDS.values())
    # every id except 0 maps to a trained class in the packaged learning_map
    lut = load_label_config().lut
    assert all(lut[raw] >= 0 for raw in used - {0})
    things = np.isin(semantic, list(synthetic.KITTI_THING_IDS))
    assert (instance[things] > 0).all() and (instance[~things] == 0).all()
    per_sweep = [set(np.unique(labels & 0xFFFF).tolist()) for _, labels in sweeps]
    for name in ("road", "sidewalk", "building", "vegetation", "trunk", "pole", "car", "person"):
        assert all(synthetic.KITTI_RAW_IDS[name] in ids for ids in per_sweep), name
    everywhere = set().union(*per_sweep)
    missing = {n for n, raw in synthetic.KITTI_RAW_IDS.items() if raw not in everywhere}
    assert len(missing) <= 2, missing  # rare ones (bicyclist, traffic-sign, ...) may miss 4 sweeps


def test_outdoor_class_skew(sweeps):
    semantic = np.concatenate([labels & 0xFFFF for _, labels in sweeps])
    ids = synthetic.KITTI_RAW_IDS
    big = np.isin(semantic, [ids["road"], ids["sidewalk"], ids["building"], ids["vegetation"]]).mean()
    assert big > 0.55
    for rare in ("pole", "person", "bicycle", "trunk"):
        assert (semantic == ids[rare]).mean() < 0.05, rare


def test_64_beam_elevations(sweeps):
    expected = synthetic.hdl64_elevations(64)
    assert expected[0] == pytest.approx(2.0) and expected[-1] == pytest.approx(-24.8)
    for points, _ in sweeps:
        xyz = points[:, :3].astype(np.float64)
        elevation = np.sort(np.degrees(np.arctan2(xyz[:, 2], np.hypot(xyz[:, 0], xyz[:, 1]))))
        clusters = np.split(elevation, np.flatnonzero(np.diff(elevation) > 0.1) + 1)
        assert len(clusters) == 64
        centres = np.array([c.mean() for c in clusters])[::-1]
        np.testing.assert_allclose(centres, expected, atol=0.01)
        assert max(c.max() - c.min() for c in clusters) < 0.01  # range noise moves points along their ray


def test_density_falls_with_range(sweeps):
    xyz = np.concatenate([p[:, :3] for p, _ in sweeps]).astype(np.float64)
    r = np.hypot(xyz[:, 0], xyz[:, 1])
    rings = [(5, 10), (10, 20), (20, 40), (40, 80)]
    density = [((r >= a) & (r < b)).sum() / (np.pi * (b * b - a * a)) for a, b in rings]
    assert all(x > 1.5 * y for x, y in zip(density, density[1:], strict=False)), density
    assert r.max() <= synthetic.MAX_RANGE + 0.2


def test_first_hit_only(sweeps):
    """One point per ray: no two points share a (beam, azimuth step), so nothing is seen behind a car."""
    for points, labels in sweeps:
        xyz = points[:, :3].astype(np.float64)
        elevation = np.degrees(np.arctan2(xyz[:, 2], np.hypot(xyz[:, 0], xyz[:, 1])))
        beam = np.abs(elevation[:, None] - synthetic.hdl64_elevations(64)[None, :]).argmin(axis=1)
        azimuth = np.arctan2(xyz[:, 1], xyz[:, 0])
        step = np.rint((azimuth + np.pi) / (2 * np.pi) * AZIMUTH_STEPS - 0.5).astype(np.int64) % AZIMUTH_STEPS
        cell = beam * AZIMUTH_STEPS + step
        assert len(np.unique(cell)) == len(cell)
        # cars do occlude: the cells right behind a car's columns on its beams hold no farther point
        car = (labels & 0xFFFF) == synthetic.KITTI_RAW_IDS["car"]
        assert car.sum() > 50
        rng_all = np.linalg.norm(xyz, axis=1)
        behind = np.isin(cell, cell[car]) & ~car & (rng_all > rng_all[car].min())
        assert not behind.any()


def test_remission_per_material(sweeps):
    ids = synthetic.KITTI_RAW_IDS
    rem = np.concatenate([p[:, 3] for p, _ in sweeps])
    semantic = np.concatenate([labels & 0xFFFF for _, labels in sweeps])
    assert rem.min() >= 0.0 and rem.max() <= 0.99
    assert rem[semantic == ids["road"]].mean() < 0.3
    assert 0.25 < rem[semantic == ids["vegetation"]].mean() < 0.55
    if (semantic == ids["traffic-sign"]).any():
        assert rem[semantic == ids["traffic-sign"]].mean() > 0.6


@pytest.mark.parametrize(
    ("shape", "centre", "size", "expected_t", "expected_normal"),
    [
        (synthetic._BOX, (10.0, 0.0, 1.0), (1.0, 2.0, 1.0), 9.0, (-1.0, 0.0, 0.0)),
        (synthetic._CYLINDER, (6.0, 0.0, 1.0), (0.5, 0.5, 2.0), 5.5, (-1.0, 0.0, 0.0)),
        (synthetic._ELLIPSOID, (6.0, 0.0, 1.0), (2.0, 1.0, 1.0), 4.0, (-1.0, 0.0, 0.0)),
    ],
)
def test_ray_primitive_planted_hits(shape, centre, size, expected_t, expected_normal):
    solid = synthetic._Solid(shape, centre, size, 0.0, 50, 0, 0, 0.3)
    origin = np.array([0.0, 0.0, 1.0])
    d = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    t, _, normal = synthetic._intersect(solid, origin, d)
    assert t[0] == pytest.approx(expected_t)
    np.testing.assert_allclose(normal[0], expected_normal, atol=1e-9)
    assert np.isinf(t[1]) and np.isinf(t[2])  # away from it, straight up


def test_rotated_box_hit_matches_dense_marching():
    """The oriented-box slab test agrees with marching each ray in 1 mm steps (dense reference)."""
    solid = synthetic._Solid(synthetic._BOX, (8.0, 3.0, 0.5), (2.0, 0.8, 1.5), 0.6, 50, 0, 0, 0.3)
    rng = np.random.default_rng(0)
    az = rng.uniform(0.0, 0.8, 200)
    el = rng.uniform(-0.3, 0.2, 200)
    d = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=1)
    origin = np.array([0.0, 0.0, 1.73])
    t, _, _ = synthetic._intersect(solid, origin, d)
    steps = np.arange(0.0, 20.0, 0.001)
    c, s = math.cos(-0.6), math.sin(-0.6)
    for k in range(len(d)):
        p = origin + steps[:, None] * d[k] - np.array(solid.centre)
        local = np.stack([c * p[:, 0] - s * p[:, 1], s * p[:, 0] + c * p[:, 1], p[:, 2]], axis=1)
        inside = (np.abs(local) <= np.array(solid.size)).all(axis=1)
        if inside.any():
            assert t[k] == pytest.approx(steps[np.argmax(inside)], abs=0.002)
        else:
            assert np.isinf(t[k])


# ---------------------------------------------------------------------------------------------- properties


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(sorted(synthetic._ROOM_SPECS)))
def test_generate_room_invariants(seed, kind):
    xyz, rgb, labels, instances = synthetic.generate_room(np.random.default_rng(seed), kind=kind, points=3000)
    n = len(xyz)
    assert n == 3000 and xyz.shape == (n, 3) and rgb.shape == (n, 3) and rgb.dtype == np.uint8
    assert np.isfinite(xyz).all() and np.array_equal(xyz, np.rint(xyz * 1000) / 1000)
    assert -0.05 < xyz[:, 2].min() and xyz[:, 2].max() < 3.4
    # points grouped by instance, instances ordered by class, one class per instance
    assert (np.diff(instances) >= 0).all() and (np.diff(labels) >= 0).all()
    starts = np.flatnonzero(np.diff(instances, prepend=-1))
    assert np.array_equal(instances[starts], np.arange(len(starts)))  # dense ids 0..I-1
    for a, b in zip(starts, [*starts[1:], n], strict=True):
        assert (labels[a:b] == labels[a]).all()
    assert {0, 1, 2} <= set(labels.tolist())


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), beams=st.integers(2, 32), steps=st.integers(64, 300))
def test_generate_sweep_invariants(seed, beams, steps):
    points, raw = synthetic.generate_sweep(np.random.default_rng(seed), beams=beams, azimuth_steps=steps)
    assert points.dtype == np.float32 and raw.dtype == np.uint32 and points.shape == (len(raw), 4)
    assert 0 < len(points) <= beams * steps
    r = np.linalg.norm(points[:, :3].astype(np.float64), axis=1)
    assert r.max() <= synthetic.MAX_RANGE + 0.2 and ((points[:, 3] >= 0) & (points[:, 3] <= 0.99)).all()
    assert set(np.unique(raw & 0xFFFF).tolist()) <= set(synthetic.KITTI_RAW_IDS.values())
    elevation = np.degrees(np.arcsin(points[:, 2] / r))
    assert np.abs(elevation[:, None] - synthetic.hdl64_elevations(beams)[None, :]).min(axis=1).max() < 1e-3


def test_stale_scans_under_root_are_reported(tmp_path):
    synthetic.write_synthetic_indoor(tmp_path, scans=2, points_per_room=1000)
    with pytest.warns(UserWarning, match=r"1 room\(s\) not written by this call"):
        synthetic.write_synthetic_indoor(tmp_path, scans=1, points_per_room=1000)
    synthetic.write_synthetic_outdoor(tmp_path / "o", scans=2, beams=4, azimuth_steps=64)
    with pytest.warns(UserWarning, match=r"1 sweep\(s\) not written by this call"):
        synthetic.write_synthetic_outdoor(tmp_path / "o", scans=1, beams=4, azimuth_steps=64)


def test_regenerating_a_room_replaces_its_objects(tmp_path):
    """Rewriting a room folder leaves exactly the new objects (files of an earlier generation removed, warned)."""
    synthetic.write_synthetic_indoor(tmp_path / "fresh", scans=1, seed=1, points_per_room=2000)
    synthetic.write_synthetic_indoor(tmp_path / "over", scans=1, seed=1, points_per_room=2000)
    room = next((tmp_path / "over").glob("Area_5/*"))
    (room / "Annotations" / "chair_99.txt").write_text("0 0 0 1 2 3\n")
    with pytest.warns(UserWarning, match="removed 1 annotation file"):
        synthetic.write_synthetic_indoor(tmp_path / "over", scans=1, seed=1, points_per_room=2000)
    assert _hashes(tmp_path / "fresh") == _hashes(tmp_path / "over")


@pytest.mark.real
def test_sweeps_resemble_the_real_samples(real_samples):
    """Raw ids are named as in the real label config; a default sweep has about the real point count,
    range, field of view, ring density and class mix of the real SemanticKITTI scans."""
    names = yaml.safe_load((real_samples / "semantic-kitti.yaml").read_text())["labels"]
    for name, raw in synthetic.KITTI_RAW_IDS.items():
        assert names[raw] == name
    big_four = [synthetic.KITTI_RAW_IDS[n] for n in ("road", "sidewalk", "building", "vegetation")]

    def stats(points: np.ndarray, raw: np.ndarray) -> dict[str, float]:
        xyz = points[:, :3].astype(np.float64)
        r = np.hypot(xyz[:, 0], xyz[:, 1])
        return {
            "points": len(points),
            "range": float(np.linalg.norm(xyz, axis=1).max()),
            "lowest": float(np.degrees(np.arctan2(xyz[:, 2], r)).min()),
            "near_density": ((r >= 5) & (r < 10)).sum() / (np.pi * 75),
            "far_density": ((r >= 20) & (r < 40)).sum() / (np.pi * 1200),
            "big_four": float(np.isin(raw & 0xFFFF, big_four).mean()),
            "remission": float(points[:, 3].mean()),
        }

    real = [
        stats(np.fromfile(b, "<f4").reshape(-1, 4), np.fromfile(_label_path(b), "<u4"))
        for b in sorted(real_samples.glob("sequences/*/velodyne/*.bin"))
    ]
    ours = [stats(*synthetic.generate_sweep(np.random.default_rng(seed))) for seed in (0, 1)]
    assert real and ours
    for key, (low, high) in {
        "points": (0.75, 1.05),
        "range": (0.97, 1.03),
        "near_density": (0.4, 1.6),
        "far_density": (0.4, 2.0),
        "big_four": (0.7, 1.3),
        "remission": (0.7, 1.3),
    }.items():
        reference = float(np.median([r[key] for r in real]))
        for sweep in ours:
            assert low * reference <= sweep[key] <= high * reference, (key, sweep[key], reference)
    assert all(abs(sweep["lowest"] - np.median([r["lowest"] for r in real])) < 0.6 for sweep in ours)


def test_culled_casting_matches_brute_force():
    """Testing each solid only against the rays its bounding sphere reaches changes no hit (dense reference:
    every ray against every solid), including solids straddling the -pi/pi azimuth seam and tall poles."""
    b, c, e = synthetic._BOX, synthetic._CYLINDER, synthetic._ELLIPSOID
    solids = [
        synthetic._Solid(b, (-12.0, 0.3, 1.0), (2.0, 0.9, 0.8), 0.4, 10, 1, 0, 0.3),  # across the seam
        synthetic._Solid(b, (6.0, -4.0, 5.0), (4.0, 3.0, 5.0), 0.0, 50, 0, 0, 0.3),
        synthetic._Solid(c, (3.0, 2.0, 4.0), (0.1, 0.1, 4.0), 0.0, 80, 0, 0, 0.3),  # a tall thin pole
        synthetic._Solid(e, (-3.0, -5.0, 2.0), (2.0, 2.5, 1.5), 0.0, 70, 0, 0, 0.3),
        synthetic._Solid(b, (0.5, 0.5, 1.73), (0.2, 0.2, 0.2), 0.0, 81, 0, 0, 0.3),  # next to the sensor
        synthetic._Solid(b, (120.0, 0.0, 1.0), (1.0, 1.0, 1.0), 0.0, 50, 0, 0, 0.3),  # out of range
    ]
    beams, steps = 24, 360
    elevation = np.radians(synthetic.hdl64_elevations(beams))
    azimuth = -np.pi + 2 * np.pi * (np.arange(steps) + 0.5) / steps
    dirs = np.stack(
        [
            np.cos(elevation)[:, None] * np.cos(azimuth)[None, :],
            np.cos(elevation)[:, None] * np.sin(azimuth)[None, :],
            np.broadcast_to(np.sin(elevation)[:, None], (beams, steps)),
        ],
        axis=-1,
    )
    origin = np.array([0.0, 0.0, synthetic.SENSOR_HEIGHT])
    t, hit, _ = synthetic._cast(np.random.default_rng(0), solids, origin, dirs, elevation, 81.0)
    flat = dirs.reshape(-1, 3)
    reference = np.where(flat[:, 2] < 0, origin[2] / -np.minimum(flat[:, 2], -1e-12), np.inf)
    which = np.where(flat[:, 2] < 0, -1, -2)
    for k, solid in enumerate(solids[:-1]):
        tk = synthetic._intersect(solid, origin, flat)[0]
        which = np.where(tk < reference, k, which)
        reference = np.minimum(reference, tk)
    np.testing.assert_allclose(t.ravel(), reference)
    np.testing.assert_array_equal(hit.ravel(), which)
    assert {0, 1, 2, 3, 4} <= set(hit.ravel().tolist())
