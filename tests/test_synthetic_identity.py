"""Synthetic data is byte-identical to what the generator wrote when these digests were recorded.

The digests were recorded from the monolithic ``redal_core/data/synthetic.py`` at commit 09ada7c18ec6
(09ada7c18ec66938e343376c63f035efa8e15163), before it was split into the ``redal_core.data.synthetic``
package, so the split is checked to be a pure move. The ``outdoor-drive`` digest (consecutive frames with
KITTI poses, ``frames_per_drive``) was recorded when drives were added (branch peers-sequences); the
default outdoor digest did not change then. A DELIBERATE change to the generated data (new
geometry, another draw order, another file format) must update them: rerun the cases and paste the new
hex digests, saying why in the commit. Any other change of a single byte fails here.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from redal_core.data import synthetic

#: sha256 over every file of a written dataset (see ``_tree_digest``).
DATASETS = {
    "indoor": "c718b144dd00807715a56cb4946c76cb8776976376debdb0ee68fa227ebabfc8",
    "outdoor": "66f02d6164f610f4cbfdad0b7b5f68b55b098f8cb5d7bdb7d77be9075b235b13",
    "outdoor-drive": "715d3fe260e29c3bf61b4cd5114bd2b01fe94e6c47ac52aada769e707b796cc9",
}
#: sha256 over the arrays ``generate_room(np.random.default_rng(7), kind=kind, points=4000)`` returns.
ROOMS = {
    "conferenceRoom": "11d4103a64c57fcecaa926ad9f3d930828beedf62e0212fb8e9601a65498abf5",
    "copyRoom": "4985faf1bc42c366b5eb3d4adc3dd4f2a13c2a9d3bb5576936178d34256ca987",
    "hallway": "54c114503c87d2b0a3610f8b770ad8ac6079b6e8eeb556e6c96796f70188ceab",
    "lounge": "1037dc68d0bc1427c10ba29a6a5565e0c1022c692725d6865a8286aa833353db",
    "office": "75ff5ad3b95906511b5b47787e66f0eab153d97282946d852d84fb0de9b8fc58",
    "pantry": "5e1ad7a6b1ffdfe9f32215b08f5ba7bb5244c9bc47e25ec15297f10014464dda",
    "storage": "2a44bf4daacfdda0b12aadd8d377ddb0feea70e52a4f7fe504f11e009d385ae5",
}
#: sha256 over the arrays ``generate_sweep(np.random.default_rng(9))`` returns (64 beams x 1920 steps).
SWEEP = "585d5222ff7080f9192c72f9154ed177b2a3efe801e558fbc54682261feb0ca0"


def _tree_digest(root: Path) -> str:
    """sha256 over the files under ``root``, sorted by relative path: each adds its length-prefixed
    POSIX relative path, then its length-prefixed bytes (a renamed, added or changed file changes it)."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        for chunk in (path.relative_to(root).as_posix().encode(), path.read_bytes()):
            h.update(len(chunk).to_bytes(8, "little"))
            h.update(chunk)
    return h.hexdigest()


def _array_digest(*arrays: np.ndarray) -> str:
    """sha256 over each array's dtype, shape and C-order bytes, in order."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def pool():
    """Two worker processes (forked where that is safe, as ``redal prepare`` starts them)."""
    from redal_core.workers import pool_context

    with ProcessPoolExecutor(max_workers=2, mp_context=pool_context()) as executor:
        yield executor


#: The writers run here (None) and on a process pool (``executor``, as ``redal prepare --jobs N`` runs them).
ENGINES = pytest.mark.parametrize("engine", ["here", "pool"])


@ENGINES
def test_indoor_dataset_is_byte_identical(tmp_path, engine, request):
    executor = request.getfixturevalue("pool") if engine == "pool" else None
    synthetic.write_synthetic_indoor(tmp_path, scans=6, seed=3, points_per_room=3000, executor=executor)
    assert _tree_digest(tmp_path) == DATASETS["indoor"]


@ENGINES
def test_outdoor_dataset_is_byte_identical(tmp_path, engine, request):
    executor = request.getfixturevalue("pool") if engine == "pool" else None
    synthetic.write_synthetic_outdoor(tmp_path, scans=3, seed=5, executor=executor)  # default 64 beams x 1920 steps
    assert _tree_digest(tmp_path) == DATASETS["outdoor"]


@ENGINES
def test_outdoor_drives_are_byte_identical(tmp_path, engine, request):
    executor = request.getfixturevalue("pool") if engine == "pool" else None
    # two drives (08: 3 frames, 00: 2) with poses.txt, calib.txt and times.txt
    synthetic.write_synthetic_outdoor(tmp_path, scans=5, seed=5, beams=16, azimuth_steps=512, frames_per_drive=3,
                                      executor=executor)
    assert _tree_digest(tmp_path) == DATASETS["outdoor-drive"]


@ENGINES
def test_a_warning_raised_on_a_worker_reaches_the_caller(tmp_path, engine, request):
    executor = request.getfixturevalue("pool") if engine == "pool" else None
    synthetic.write_synthetic_indoor(tmp_path, scans=2, seed=3, points_per_room=500)
    annotations = next(tmp_path.glob("Area_*/*/Annotations"))
    (annotations / "clutter_99.txt").write_text("0 0 0 1 2 3\n")  # left from an "earlier generation"
    with pytest.warns(UserWarning, match=r"removed 1 annotation file\(s\) left from an earlier generation"):
        synthetic.write_synthetic_indoor(tmp_path, scans=2, seed=3, points_per_room=500, executor=executor)
    assert not (annotations / "clutter_99.txt").exists()


@pytest.mark.parametrize("kind", sorted(ROOMS))
def test_generate_room_is_identical(kind):
    arrays = synthetic.generate_room(np.random.default_rng(7), kind=kind, points=4000)
    assert _array_digest(*arrays) == ROOMS[kind]


def test_every_room_kind_is_covered():
    assert sorted(ROOMS) == sorted(synthetic._ROOM_SPECS)


def test_generate_sweep_is_identical():
    assert _array_digest(*synthetic.generate_sweep(np.random.default_rng(9))) == SWEEP
