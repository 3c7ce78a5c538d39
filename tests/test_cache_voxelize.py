"""Voxelization (inverse / indices / coords properties), collate against a dense reference, and the scan cache."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from redal_core import IGNORE_INDEX
from redal_core.data import cache as cache_module
from redal_core.data.cache import ScanCache, content_key
from redal_core.data.voxelize import collate, input_features, voxelize

coordinates = hnp.arrays(
    np.float32,
    st.tuples(st.integers(1, 60), st.just(3)),
    elements=st.floats(-20, 20, width=32, allow_nan=False, allow_infinity=False),
)
voxel_sizes = st.sampled_from([0.05, 0.1, 0.37, 1.0])


# --- voxelize ---------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(xyz=coordinates, voxel_size=voxel_sizes)
def test_voxelize_properties(xyz, voxel_size):
    vox = voxelize(xyz, voxel_size)
    grid = np.floor(xyz.astype(np.float64) / voxel_size).astype(np.int64)
    n_vox = len(vox.coords)
    # every point sits in the voxel its inverse names, in coordinates shifted so the minimum is 0
    np.testing.assert_array_equal(vox.coords[vox.inverse], grid - grid.min(axis=0))
    assert vox.coords.dtype == np.int32 and vox.coords.min() == 0
    # voxels are unique and sorted lexicographically by (x, y, z)
    keys = [tuple(row) for row in vox.coords.tolist()]
    assert keys == sorted(set(keys))
    # indices: the first point of each voxel; inverse maps it back to its voxel
    np.testing.assert_array_equal(vox.inverse[vox.indices], np.arange(n_vox))
    first = {}
    for point, voxel in enumerate(vox.inverse.tolist()):
        first.setdefault(voxel, point)
    np.testing.assert_array_equal(vox.indices, [first[v] for v in range(n_vox)])
    np.testing.assert_array_equal(vox.counts, np.bincount(vox.inverse, minlength=n_vox))
    np.testing.assert_allclose(vox.origin, grid.min(axis=0) * voxel_size)


@settings(max_examples=30, deadline=None)
@given(xyz=coordinates, seed=st.integers(0, 1000))
def test_voxel_set_does_not_depend_on_point_order(xyz, seed):
    order = np.random.default_rng(seed).permutation(len(xyz))
    a, b = voxelize(xyz, 0.1), voxelize(xyz[order], 0.1)
    np.testing.assert_array_equal(a.coords, b.coords)
    np.testing.assert_array_equal(a.coords[a.inverse][order], b.coords[b.inverse])


def test_voxelize_planted_grid():
    xyz = np.array([[0.01, 0.01, 0.01], [0.04, 0.02, 0.0], [0.06, 0.0, 0.0], [-0.01, 0.0, 0.0]], np.float32)
    vox = voxelize(xyz, 0.05)
    np.testing.assert_array_equal(vox.coords, [[0, 0, 0], [1, 0, 0], [2, 0, 0]])
    np.testing.assert_array_equal(vox.inverse, [1, 1, 2, 0])
    np.testing.assert_array_equal(vox.indices, [3, 0, 2])
    np.testing.assert_array_equal(vox.counts, [1, 2, 1])


@pytest.mark.parametrize("voxel_size", [0.0, -0.05, float("nan")])
def test_voxelize_rejects_bad_voxel_size(voxel_size):
    with pytest.raises(ValueError, match="voxel_size must be a positive number of metres"):
        voxelize(np.zeros((3, 3), np.float32), voxel_size)


def test_voxelize_rejects_empty_input():
    with pytest.raises(ValueError, match=r"non-empty \(N, 3\) array, got shape \(0, 3\)"):
        voxelize(np.zeros((0, 3), np.float32))


# --- input features and collate -------------------------------------------------------------------------------


def test_input_features_layouts():
    xyz = np.array([[0, 0, 0], [2, 4, 6]], np.float32)
    rgb = np.array([[255, 0, 51], [0, 255, 102]], np.uint8)
    np.testing.assert_allclose(
        input_features(xyz, rgb, None), [[1, 0, 0.2, -1, -2, -3], [0, 1, 0.4, 1, 2, 3]], rtol=1e-6
    )
    intensity = np.array([0.5, 0.25], np.float32)
    np.testing.assert_array_equal(input_features(xyz, None, intensity), [[0, 0, 0, 0.5], [2, 4, 6, 0.25]])
    with pytest.raises(ValueError, match="needs rgb or intensity"):
        input_features(xyz, None, None)


@settings(max_examples=25, deadline=None)
@given(
    clouds=st.lists(st.tuples(coordinates, st.integers(0, 2**16)), min_size=1, max_size=3),
    voxel_size=voxel_sizes,
)
def test_collate_against_a_dense_reference(clouds, voxel_size):
    samples = []
    for xyz, seed in clouds:
        rng = np.random.default_rng(seed)
        samples.append((xyz, rng.normal(size=(len(xyz), 4)).astype(np.float32), rng.integers(-1, 5, len(xyz))))
    batch = collate(samples, voxel_size)
    total = sum(len(xyz) for xyz, _, _ in samples)
    assert batch.point_counts == [len(xyz) for xyz, _, _ in samples] and batch.batch_size == len(samples)
    assert batch.point_coords.shape == (total, 4) and batch.point_feats.shape == (total, 4)
    assert batch.inverse.shape == (total,) and batch.labels.shape == (total,)
    assert batch.coords.shape[1] == 4 and batch.feats.shape == (batch.coords.shape[0], 4)

    coords, feats, inverse = batch.coords.numpy(), batch.feats.numpy(), batch.inverse.numpy()
    point_coords = batch.point_coords.numpy()
    # dense reference: group points by (batch, voxel) with a python dict and average their features
    groups: dict[tuple[int, ...], list[np.ndarray]] = {}
    row = 0
    for b, (xyz, feat, _) in enumerate(samples):
        grid = np.floor(xyz.astype(np.float64) / voxel_size).astype(np.int64)
        grid -= grid.min(axis=0)
        for p in range(len(xyz)):
            key = (b, *grid[p].tolist())
            groups.setdefault(key, []).append(feat[p])
            # each point's voxel row holds its voxel, and its continuous coordinate lies inside that voxel
            assert tuple(coords[inverse[row]].tolist()) == key
            assert point_coords[row, 0] == b
            assert np.all(grid[p] <= point_coords[row, 1:]) and np.all(point_coords[row, 1:] <= grid[p] + 1)
            row += 1
    assert len(groups) == len(coords)
    for v, key in enumerate(map(tuple, coords.tolist())):
        np.testing.assert_allclose(feats[v], np.mean(groups[key], axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(batch.labels.numpy(), np.concatenate([lab for _, _, lab in samples]))
    split = batch.split(batch.point_feats)
    assert [len(part) for part in split] == batch.point_counts


def test_collate_without_labels_and_mixed_labels():
    xyz = np.zeros((2, 3), np.float32)
    feats = np.ones((2, 4), np.float32)
    assert collate([(xyz, feats, None), (xyz, feats, None)]).labels is None
    with pytest.raises(ValueError, match="collate sample 1: labels must be given for every sample or for none"):
        collate([(xyz, feats, np.full(2, IGNORE_INDEX)), (xyz, feats, None)])


def test_collate_rejects_feature_rows_that_do_not_match_points():
    with pytest.raises(ValueError, match=r"collate sample 0: feats must be \(2, C\) like its xyz, got shape \(3, 4\)"):
        collate([(np.zeros((2, 3), np.float32), np.ones((3, 4), np.float32), None)])


# --- cache -------------------------------------------------------------------------------------------------


def test_content_key_hashes_file_contents_not_names(tmp_path):
    a, b, c = tmp_path / "a.bin", tmp_path / "b.bin", tmp_path / "c.bin"
    a.write_bytes(b"same bytes")
    b.write_bytes(b"same bytes")
    c.write_bytes(b"other bytes")
    assert content_key(a) == content_key(b) != content_key(c)
    assert content_key(a, {"voxel": 0.05, "k": 50}) == content_key(b, {"k": 50, "voxel": 0.05})
    assert content_key(a, {"voxel": 0.05}) != content_key(a, {"voxel": 0.1})


def test_content_key_parts_do_not_run_together(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"sabc")
    assert content_key(path) != content_key("abc")
    assert content_key("ab", "c") != content_key("a", "bc")
    assert content_key("1") != content_key(1)
    assert content_key(b"x") != content_key("x")


def test_content_key_of_a_folder_sees_names_and_contents(tmp_path):
    folder = tmp_path / "d"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "x.txt").write_text("1")
    before = content_key(folder)
    (folder / "sub" / "x.txt").rename(folder / "sub" / "y.txt")
    renamed = content_key(folder)
    (folder / "sub" / "y.txt").write_text("2")
    assert len({before, renamed, content_key(folder)}) == 3
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        content_key(tmp_path / "missing")


def test_cache_computes_once_and_memory_maps(tmp_path):
    cache = ScanCache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return {"xyz": np.arange(12, dtype=np.float32).reshape(4, 3), "rgb": None, "empty": np.zeros(0, np.int64)}

    first = cache.get("ab12", compute)
    second = cache.get("ab12", compute)
    assert len(calls) == 1 and "ab12" in cache
    assert set(first) == {"xyz", "empty"}  # None values are not stored
    assert isinstance(second["xyz"], np.memmap) and not second["xyz"].flags.writeable
    np.testing.assert_array_equal(second["xyz"], np.arange(12, dtype=np.float32).reshape(4, 3))
    assert cache.load("ab12", mmap=False)["empty"].shape == (0,)


def test_failed_compute_leaves_no_entry(tmp_path):
    cache = ScanCache(tmp_path)

    def broken():
        raise RuntimeError("parser crashed")

    with pytest.raises(RuntimeError, match="parser crashed"):
        cache.get("cd34", broken)
    assert "cd34" not in cache
    with pytest.raises(KeyError, match="no complete cache entry cd34"):
        cache.load("cd34")


def test_crash_while_writing_leaves_no_partial_entry(tmp_path, monkeypatch):
    cache = ScanCache(tmp_path)
    real_save = np.save
    written = []

    def save_then_crash(path, array):
        if written:
            raise OSError("disk full")
        written.append(path)
        real_save(path, array)

    monkeypatch.setattr(cache_module.np, "save", save_then_crash)
    with pytest.raises(OSError, match="disk full"):
        cache.put("ef56", {"a": np.zeros(3), "b": np.ones(3)})
    monkeypatch.undo()
    assert "ef56" not in cache
    assert [p for p in Path(tmp_path).rglob("*") if p.is_file()] == []  # the temporary folder is gone too


def test_concurrent_writer_of_the_same_key_keeps_the_first_entry(tmp_path):
    cache = ScanCache(tmp_path)
    cache.put("0a1b", {"x": np.zeros(2)})
    cache.put("0a1b", {"x": np.ones(2)})  # same key written again (a second process): first complete one stays
    np.testing.assert_array_equal(cache.load("0a1b")["x"], np.zeros(2))
    assert sorted(p.name for p in cache.path("0a1b").parent.iterdir()) == ["0a1b"]


def test_stale_partial_entry_is_replaced(tmp_path):
    cache = ScanCache(tmp_path)
    stale = cache.path("9f8e")
    stale.mkdir(parents=True)
    np.save(stale / "x.npy", np.full(2, 7.0))  # no _complete marker: a crash of an older writer
    assert "9f8e" not in cache
    np.testing.assert_array_equal(cache.get("9f8e", lambda: {"x": np.ones(2)})["x"], np.ones(2))


def test_cache_rejects_array_names_that_are_not_file_names(tmp_path):
    with pytest.raises(ValueError, match=r"cache array name '\.\./x' must be letters, digits"):
        ScanCache(tmp_path).put("aa00", {"../x": np.zeros(1)})


# --- the cache under concurrent writers (a process pool, Dask workers) --------------------------------------


def _hammer(root: str, rank: int, barrier, rounds: int, errors) -> None:
    cache = ScanCache(root)
    bad = []
    for r in range(rounds):
        key = f"{r:04d}" + "cd" * 18
        if rank == 0 and r % 2:
            stale = cache.path(key)
            stale.mkdir(parents=True, exist_ok=True)
            np.save(stale / "x.npy", np.zeros(3))  # an older writer's partial entry: no marker
        barrier.wait()
        if rank == 1 and r % 3 == 0:
            time.sleep(0.001 * (r % 5))
        try:
            out = cache.get(key, lambda r=r: {"x": np.arange(20000) + r, "y": np.ones(3)})
            assert sorted(out) == ["x", "y"] and int(out["x"][7]) == 7 + r
        except Exception as error:  # noqa: BLE001 (reported to the test)
            bad.append(f"round {r}: {type(error).__name__}: {error}")
    errors.put(bad)


def test_two_processes_writing_and_reading_the_same_keys(tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier, errors = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_hammer, args=(str(tmp_path), rank, barrier, 40, errors)) for rank in (0, 1)]
    for worker in workers:
        worker.start()
    found = [errors.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert found == [[], []]
    cache = ScanCache(tmp_path)
    keys = [f"{r:04d}" + "cd" * 18 for r in range(40)]
    assert all(key in cache for key in keys)
    assert sorted(p.name for p in tmp_path.glob("*/*")) == sorted(keys)  # no temporary or stale folder left


def test_an_entry_is_read_whole_or_not_at_all(tmp_path, monkeypatch):
    cache = ScanCache(tmp_path)
    cache.put("aa11", {"x": np.zeros(2), "y": np.ones(2), "skipped": None})
    assert (cache.path("aa11") / "_complete").read_text() == "x\ny\n"
    (cache.path("aa11") / "y.npy").unlink()  # as if a concurrent replacement were half way
    with pytest.raises(FileNotFoundError):
        cache.load("aa11")  # never a dict missing 'y'
    calls = []
    real_load = ScanCache.load

    def flaky(self, key, mmap=True):  # the entry vanishes once between the check and the read
        calls.append(key)
        if len(calls) == 1:
            raise KeyError(key)
        return real_load(self, key, mmap)

    monkeypatch.setattr(ScanCache, "load", flaky)
    computed = []
    out = cache.get("bb22", lambda: computed.append(1) or {"x": np.arange(3)})
    np.testing.assert_array_equal(out["x"], np.arange(3))
    assert len(calls) == 2 and computed == [1]  # read again, computed once
