"""Shared fixtures: the read-only shared folder (real samples) and writers of tiny files in the original formats."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

#: ``<repo>/../shared``: the paper, its numbers and the real SemanticKITTI samples (never copied into the repo).
SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"


def pytest_configure(config: pytest.Config) -> None:
    """One compute thread per test process (and the subprocesses tests start), in torch AND numba.

    ``make test`` runs two xdist workers on two cores; multi-threaded torch/BLAS in each worker oversubscribes
    the cores and ran 10-50x slower here. The variables are set before torch is imported (subprocesses
    inherit them); then the kit's own policy sets torch, numba and the OpenMP/BLAS pools together, so a numba
    kernel (the region features) cannot lift torch's count in the middle of a test, as it does on a fresh
    machine under numba's OpenMP layer. A variable the caller set to a value wins.
    """
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "REDAL_THREADS"):
        if not os.environ.get(name):
            os.environ[name] = "1"
    from redal_core.threads import apply_threads

    apply_threads(int(os.environ["REDAL_THREADS"]))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared folder next to the repository; skips the test when it is absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"shared folder {SHARED_DIR} is absent (paper and real samples live there)")
    return SHARED_DIR


def _stat_fields(stat: Path) -> list[str] | None:
    """The fields after the command name of a /proc/<pid>/stat file (state first), None when it is gone."""
    try:
        return stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


@pytest.fixture(scope="session")
def session_members() -> Callable[[int], list[int]]:
    """``members(session)``: pids of the live processes of a session (Linux /proc), for checking that a killed
    command (started with ``start_new_session=True``) left none of its workers behind."""

    def members(session: int) -> list[int]:
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            fields = _stat_fields(stat)
            if fields is not None and int(fields[3]) == session and fields[0] != "Z":
                found.append(int(stat.parent.name))
        return found

    return members


@pytest.fixture(scope="session")
def process_alive() -> Callable[[int], bool]:
    """``alive(pid)``: the process exists and is not a zombie (Linux /proc)."""

    def alive(pid: int) -> bool:
        fields = _stat_fields(Path(f"/proc/{pid}/stat"))
        return fields is not None and fields[0] != "Z"

    return alive


@pytest.fixture(scope="session")
def real_samples(shared_dir: Path) -> Path:
    """Root of the six real SemanticKITTI scans (``sequences/XX/...``); skips when absent."""
    root = shared_dir / "real_samples" / "semantickitti"
    if not (root / "sequences").is_dir():
        pytest.skip(f"real SemanticKITTI samples are absent at {root}")
    return root


def _format_room_file(xyz: np.ndarray, rgb: np.ndarray) -> bytes:
    lines = [f"{x:.3f} {y:.3f} {z:.3f} {r} {g} {b}" for (x, y, z), (r, g, b) in zip(xyz, rgb, strict=True)]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="session")
def write_annotation() -> Callable[..., Path]:
    """``write_annotation(room_dir, "wall_1.txt", xyz (n,3), rgb (n,3) | raw=bytes) -> path`` in S3DIS format."""

    def write(room_dir: Path, filename: str, xyz=None, rgb=None, *, raw: bytes | None = None) -> Path:
        folder = Path(room_dir) / "Annotations"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / filename
        path.write_bytes(raw if raw is not None else _format_room_file(np.asarray(xyz), np.asarray(rgb)))
        return path

    return write


@pytest.fixture(scope="session")
def write_kitti_scan() -> Callable[..., tuple[Path, Path | None]]:
    """``write_kitti_scan(root, "08", "000000", points (n,4) float32, raw_labels (n,) uint32 | None)``."""

    def write(root: Path, sequence: str, stem: str, points: np.ndarray, raw_labels: np.ndarray | None):
        velodyne = Path(root) / "sequences" / sequence / "velodyne"
        velodyne.mkdir(parents=True, exist_ok=True)
        bin_path = velodyne / f"{stem}.bin"
        np.asarray(points, "<f4").tofile(bin_path)
        if raw_labels is None:
            return bin_path, None
        labels_dir = velodyne.parent / "labels"
        labels_dir.mkdir(exist_ok=True)
        label_path = labels_dir / f"{stem}.label"
        np.asarray(raw_labels, "<u4").tofile(label_path)
        return bin_path, label_path

    return write
