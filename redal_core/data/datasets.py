"""Dataset objects: the scans of one split under a root, each parsed once into the content-hashed cache.

``build_dataset(name, root, split, cache_dir=None)`` with ``name`` in ``DATASETS``:

* ``s3dis`` / ``synthetic-indoor``: the S3DIS layout ``Area_N/<room>/Annotations``; train = Areas 1, 2,
  3, 4, 6, val = Area 5. Scan names ``"Area_N/<room>"``.
* ``semantickitti`` / ``synthetic-outdoor``: the SemanticKITTI layout ``sequences/XX/velodyne/*.bin``
  (+ ``labels/*.label``); train = 00-07, 09, 10, val = 08. Scan names ``"XX/NNNNNN"``.

``split="all"`` is train + val. A split none of whose folders exists is an error; a root holding only
some of them (a subset of the release) lists the scans present. ``ds[i]`` returns a ``Scan`` whose
arrays are read-only memory maps of the cache (``<root>/.cache`` unless ``cache_dir`` is given).

Sequences of frames (the SemanticKITTI layout): ``frame(i)`` is scan i's ``(sequence, frame number)``,
``frame_neighbours(i)`` the scans of its sequence within a window of frames, and where a sequence folder
holds ``poses.txt`` and ``calib.txt``, ``pose(i)`` its (4, 4) LiDAR-to-world transform (``has_poses``: every
scan has one). Poses are read on first use and do not enter the scan cache (``ds[i]`` stays in the sensor
frame). The S3DIS layout has no frames: ``has_poses`` is False and the other three raise ValueError.
"""

from __future__ import annotations

import os
import warnings
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from redal_core.data.cache import ScanCache, content_key
from redal_core.data.s3dis import S3DIS_CLASSES, read_room
from redal_core.data.scan import Scan
from redal_core.data.semantic_kitti import (
    CALIB_FILE,
    POSES_FILE,
    SEMANTIC_KITTI_SPLITS,
    load_label_config,
    read_scan,
    read_sequence_poses,
)
from redal_core.registry import Registry

#: Dataset classes by the names used in configs and on the command line.
DATASETS: Registry[type[ScanDataset]] = Registry("dataset")

#: Valid values of ``split``.
SPLITS: tuple[str, ...] = ("train", "val", "all")

#: Frames before and after a scan that ``frame_neighbours`` returns by default (LiDAL's window).
NEIGHBOUR_FRAMES = 12

# Bumped whenever a reader's output for the same files changes, so old cache entries are not reused.
_READER_VERSION = "1"


class ScanDataset(ABC):
    """Base class: an ordered list of scans with their source files, read through ``cache``.

    Subclasses set ``name``, ``class_names``, ``has_color``, ``in_channels`` and implement
    ``_index() -> list[(scan_name, source_paths)]`` and ``_read(i) -> Scan``.
    """

    name: str = ""
    class_names: list[str]
    has_color: bool
    in_channels: int

    def __init__(
        self, *, root: str | os.PathLike[str], split: str, cache_dir: str | os.PathLike[str] | None = None
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r} for dataset {self.name!r}; valid splits: {', '.join(SPLITS)}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"dataset {self.name!r}: root {self.root} is not a folder")
        self.split = split
        self.cache = ScanCache(Path(cache_dir) if cache_dir is not None else self.root / ".cache")
        entries = self._index()
        if not entries:
            raise ValueError(f"dataset {self.name!r}: split {split!r} under {self.root} holds no scans")
        entries.sort(key=lambda entry: entry[0])
        self._names = [scan_name for scan_name, _ in entries]
        self._sources = [sources for _, sources in entries]
        self._keys: dict[int, str] = {}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def scan_names(self) -> list[str]:
        return list(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, root={str(self.root)!r}, scans={len(self)})"

    def _position(self, i: int) -> int:
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool):
            raise TypeError(f"dataset index must be an int, got {type(i).__name__}")
        if not -len(self) <= i < len(self):
            raise IndexError(f"scan index {i} out of range for {len(self)} scans of {self.name!r} {self.split!r}")
        return int(i) % len(self)

    def source_key(self, i: int) -> str:
        """Content hash (hex) of scan ``i``'s source files; usable as a cache-key part."""
        i = self._position(i)
        if i not in self._keys:
            self._keys[i] = content_key(*self._sources[i])
        return self._keys[i]

    def scan_key(self, i: int) -> str:
        """Cache key of scan ``i``'s parsed arrays: its format, the reader's version and its source content."""
        return content_key("scan", type(self)._format, _READER_VERSION, self.source_key(i))

    def __getitem__(self, i: int) -> Scan:
        i = self._position(i)
        key = self.scan_key(i)
        try:
            arrays = self.cache.get(key, lambda: _scan_arrays(self._read(i)))
        except PermissionError as error:
            raise ValueError(
                f"cannot write the scan cache under {self.cache.root} ({error.strerror}); pass cache_dir= a writable folder"
            ) from error
        return Scan(
            xyz=arrays["xyz"],
            rgb=arrays.get("rgb"),
            intensity=arrays.get("intensity"),
            labels=arrays["labels"],
            name=self._names[i],
        )

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    @property
    def has_poses(self) -> bool:
        """True when every scan has a sensor pose (``pose(i)``); layouts without poses: always False."""
        return False

    def pose(self, i: int) -> np.ndarray:
        """(4, 4) float64 LiDAR-to-world transform of scan ``i``; ValueError where there is none."""
        self._position(i)
        raise ValueError(f"dataset {self.name!r}: its layout records no sensor poses")

    def frame(self, i: int) -> tuple[str, int]:
        """``(sequence, frame number)`` of scan ``i``; ValueError for layouts whose scans are not frames."""
        self._position(i)
        raise ValueError(f"dataset {self.name!r}: its scans are not frames of sequences")

    def frame_neighbours(self, i: int, *, before: int = NEIGHBOUR_FRAMES, after: int = NEIGHBOUR_FRAMES) -> np.ndarray:
        """(K,) int64 indices of the other scans of scan ``i``'s sequence whose frame number is within
        ``before`` frames before and ``after`` frames after its own, in frame order (scan ``i`` excluded)."""
        self._position(i)
        raise ValueError(f"dataset {self.name!r}: its scans are not frames of sequences")

    #: identifies the file format and reader in cache keys
    _format: str = ""

    @abstractmethod
    def _index(self) -> list[tuple[str, tuple[Path | str, ...]]]:
        """``(scan_name, source paths)`` of every scan of ``self.split`` under ``self.root``."""

    @abstractmethod
    def _read(self, i: int) -> Scan:
        """Parse scan ``i`` from its source files."""


def _scan_arrays(scan: Scan) -> dict[str, np.ndarray | None]:
    return {"xyz": scan.xyz, "rgb": scan.rgb, "intensity": scan.intensity, "labels": scan.labels}


class _S3DISLayout(ScanDataset):
    _format = "s3dis-annotations"
    has_color = True
    in_channels = 6
    areas = {"train": (1, 2, 3, 4, 6), "val": (5,), "all": (1, 2, 3, 4, 5, 6)}

    def __init__(
        self, *, root: str | os.PathLike[str], split: str, cache_dir: str | os.PathLike[str] | None = None
    ) -> None:
        self.class_names = list(S3DIS_CLASSES)
        super().__init__(root=root, split=split, cache_dir=cache_dir)

    def _index(self) -> list[tuple[str, tuple[Path | str, ...]]]:
        wanted = [self.root / f"Area_{a}" for a in self.areas[self.split]]
        present = [area for area in wanted if area.is_dir()]
        if not present:
            found = sorted(p.name for p in self.root.glob("Area_*") if p.is_dir())
            raise ValueError(
                f"dataset {self.name!r}: split {self.split!r} needs {' or '.join(a.name for a in wanted)} "
                f"under {self.root}, none exists (found: {', '.join(found) or 'no Area_N folder'})"
            )
        entries = []
        for area in present:
            for room in sorted(p for p in area.iterdir() if p.is_dir()):
                if (room / "Annotations").is_dir():
                    entries.append((f"{area.name}/{room.name}", (room / "Annotations",)))
                else:
                    warnings.warn(f"{room}: no Annotations folder; not a room, skipped", stacklevel=4)
        return entries

    def _read(self, i: int) -> Scan:
        return read_room(self._sources[i][0].parent)


class _SemanticKittiLayout(ScanDataset):
    _format = "semantickitti-bin-label"
    has_color = False
    in_channels = 4

    def __init__(
        self, *, root: str | os.PathLike[str], split: str, cache_dir: str | os.PathLike[str] | None = None
    ) -> None:
        self._config = load_label_config()
        self.class_names = list(self._config.class_names)
        super().__init__(root=root, split=split, cache_dir=cache_dir)
        pairs = [name.split("/", 1) for name in self._names]
        #: (sequence, frame number | None) per scan; None where the file stem is not a number
        self._frames = [(sequence, int(stem) if stem.isdigit() else None) for sequence, stem in pairs]
        self._poses: dict[str, np.ndarray] = {}  # sequence -> (F, 4, 4) LiDAR-to-world, read on first use
        #: sequence -> (frame numbers ascending, their dataset indices), both (n,) int64, numbered scans only
        found: dict[str, list[tuple[int, int]]] = {sequence: [] for sequence, _ in self._frames}
        for j, (sequence, number) in enumerate(self._frames):
            if number is not None:
                found[sequence].append((number, j))
        self._by_sequence: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for sequence, pairs in found.items():
            pairs.sort()
            self._by_sequence[sequence] = (np.array([f for f, _ in pairs], np.int64), np.array([j for _, j in pairs], np.int64))

    def _index(self) -> list[tuple[str, tuple[Path | str, ...]]]:
        sequences = self.root / "sequences"
        wanted = [s for split in ("train", "val") if self.split in (split, "all") for s in SEMANTIC_KITTI_SPLITS[split]]
        present = [sequences / s for s in wanted if (sequences / s / "velodyne").is_dir()]
        if not present:
            found = sorted(p.name for p in sequences.glob("*") if p.is_dir()) if sequences.is_dir() else []
            raise ValueError(
                f"dataset {self.name!r}: split {self.split!r} needs sequences/{{{','.join(wanted)}}}/velodyne under "
                f"{self.root}, none exists (found sequences: {', '.join(found) or 'none'})"
            )
        entries: list[tuple[str, tuple[Path | str, ...]]] = []
        unlabeled = []
        for sequence in present:
            for scan in sorted((sequence / "velodyne").glob("*.bin")):
                label = sequence / "labels" / f"{scan.stem}.label"
                if label.is_file():
                    entries.append((f"{sequence.name}/{scan.stem}", (scan, label)))
                else:
                    unlabeled.append(str(label))
                    entries.append((f"{sequence.name}/{scan.stem}", (scan, "no-label-file")))
        if unlabeled:
            warnings.warn(
                f"dataset {self.name!r} {self.split!r}: {len(unlabeled)} scan(s) have no labels file (first: "
                f"{unlabeled[0]}); all their points are IGNORE_INDEX",
                stacklevel=4,
            )
        return entries

    def _read(self, i: int) -> Scan:
        scan, label = self._sources[i]
        return read_scan(scan, label if isinstance(label, Path) else None, config=self._config, name=self._names[i])

    # --- sequences of frames and their poses ----------------------------------------------------------

    def frame(self, i: int) -> tuple[str, int]:
        """``(sequence, frame number)`` of scan ``i``: its sequence folder and the number of its file stem."""
        i = self._position(i)
        sequence, number = self._frames[i]
        if number is None:
            raise ValueError(f"dataset {self.name!r}: scan {self._names[i]}'s file stem is not a frame number")
        return sequence, number

    def frame_neighbours(self, i: int, *, before: int = NEIGHBOUR_FRAMES, after: int = NEIGHBOUR_FRAMES) -> np.ndarray:
        """(K,) int64 indices of the other scans of scan ``i``'s sequence whose frame number f satisfies
        ``frame - before <= f <= frame + after``, in frame order (scan ``i`` excluded; frames missing from the
        split are simply absent). LiDAL uses 12 before and 12 after."""
        for name, value in (("before", before), ("after", after)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0 (frames), got {value!r}")
        sequence, number = self.frame(i)
        numbers, indices = self._by_sequence[sequence]
        lo = int(np.searchsorted(numbers, number - before, side="left"))
        hi = int(np.searchsorted(numbers, number + after, side="right"))
        window = indices[lo:hi]
        return window[window != self._position(i)]  # a new array (boolean indexing copies)

    def _sequence_poses(self, sequence: str) -> np.ndarray | str:
        """(F, 4, 4) LiDAR-to-world poses of ``sequence``, or why it has none (a missing file). Bad files and a
        ``poses.txt`` with fewer rows than the split's frames of the sequence raise ValueError."""
        if sequence not in self._poses:
            folder = self.root / "sequences" / sequence
            missing = [name for name in (POSES_FILE, CALIB_FILE) if not (folder / name).is_file()]
            if missing:
                return f"sequence {sequence} has no {folder / missing[0]}"
            table = read_sequence_poses(folder)
            numbers, indices = self._by_sequence[sequence]
            if len(numbers) and numbers[-1] >= len(table):
                raise ValueError(
                    f"{folder / POSES_FILE}: {len(table)} pose rows, fewer than the frames of the sequence: scan "
                    f"{self._names[indices[-1]]} needs row {numbers[-1] + 1} (one row per frame, from frame 0)"
                )
            table.setflags(write=False)
            self._poses[sequence] = table
        return self._poses[sequence]

    @property
    def has_poses(self) -> bool:
        """True when every scan of the split has a pose: its sequence folder holds ``poses.txt`` and
        ``calib.txt`` and its file stem is a frame number. Malformed pose files raise ValueError."""
        frames = self._frames
        if any(number is None for _, number in frames):
            return False
        return all(not isinstance(self._sequence_poses(s), str) for s in sorted({s for s, _ in frames}))

    def pose(self, i: int) -> np.ndarray:
        """(4, 4) float64 LiDAR-to-world transform ``inv(Tr) @ pose @ Tr`` of scan ``i`` (world = the LiDAR
        frame of its sequence's frame 0). ValueError naming the sequence and the missing file when absent."""
        sequence, number = self.frame(i)
        table = self._sequence_poses(sequence)
        if isinstance(table, str):
            raise ValueError(f"dataset {self.name!r}: scan {self._names[self._position(i)]} has no pose: {table}")
        return table[number].copy()


@DATASETS.register("s3dis")
class S3DISDataset(_S3DISLayout):
    """S3DIS (Stanford3dDataset_v1.2_Aligned_Version) rooms; 13 classes, rgb input (6 channels)."""

    name = "s3dis"


@DATASETS.register("synthetic-indoor")
class SyntheticIndoorDataset(_S3DISLayout):
    """Procedural rooms written by ``synthetic.write_synthetic_indoor`` in the S3DIS layout."""

    name = "synthetic-indoor"


@DATASETS.register("semantickitti")
class SemanticKittiDataset(_SemanticKittiLayout):
    """SemanticKITTI LiDAR scans; 19 classes, xyz + remission input (4 channels)."""

    name = "semantickitti"


@DATASETS.register("synthetic-outdoor")
class SyntheticOutdoorDataset(_SemanticKittiLayout):
    """Procedural LiDAR sweeps written by ``synthetic.write_synthetic_outdoor`` in the SemanticKITTI layout."""

    name = "synthetic-outdoor"


def build_dataset(
    name: str, root: str | os.PathLike[str], split: str, cache_dir: str | os.PathLike[str] | None = None
) -> ScanDataset:
    """The dataset ``name`` (one of ``DATASETS.names()``) over ``split`` of ``root``.

    Unknown names raise KeyError listing the valid ones; an unknown split or a missing split folder raises
    ValueError naming it.
    """
    return DATASETS.get(name)(root=root, split=split, cache_dir=cache_dir)
