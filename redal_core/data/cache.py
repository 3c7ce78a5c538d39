"""Content-hashed, memory-mappable per-scan cache.

Each entry is a folder of ``.npy`` files (one per array) under ``root/<key[:2]>/<key>/``. The key hashes
the *content* of the source files and the parameters of the computation (``content_key``), so an edited
file or a changed parameter gives a new entry, and an unchanged scan is parsed and preprocessed once.
Entries are written to a temporary folder and renamed into place, so a crash never leaves half an entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

_CHUNK = 1 << 20


def content_key(*parts: object) -> str:
    """SHA-1 hex digest over files (their bytes), strings, bytes and JSON-able parameters.

    A ``Path`` hashes the file's content (not its name or mtime); a folder hashes its files' relative
    names and contents in sorted order; a mapping or list hashes its canonical JSON.
    """
    digest = hashlib.sha1()
    for part in parts:
        if isinstance(part, Path):
            _hash_path(digest, part)
        elif isinstance(part, bytes):
            digest.update(b"b" + part)
        elif isinstance(part, str):
            digest.update(b"s" + part.encode())
        else:
            digest.update(b"j" + json.dumps(part, sort_keys=True, default=str).encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _hash_path(digest: "hashlib._Hash", path: Path) -> None:
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(child.relative_to(path)).encode() + b"\0")
            _hash_file(digest, child)
    elif path.is_file():
        _hash_file(digest, path)
    else:
        raise FileNotFoundError(f"cannot hash {path}: no such file or folder")


def _hash_file(digest: "hashlib._Hash", path: Path) -> None:
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)


class ScanCache:
    """Arrays computed once per key and memory-mapped on every later read.

    >>> cache = ScanCache(tmp_path)                                      # doctest: +SKIP
    >>> arrays = cache.get(content_key(path, {"voxel": 0.05}), compute)  # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / key

    def __contains__(self, key: str) -> bool:
        return (self.path(key) / "_complete").exists()

    def load(self, key: str, mmap: bool = True) -> dict[str, np.ndarray]:
        folder = self.path(key)
        if not (folder / "_complete").exists():
            raise KeyError(f"no complete cache entry {key} under {self.root}")
        mode = "r" if mmap else None
        return {p.stem: np.load(p, mmap_mode=mode) for p in sorted(folder.glob("*.npy"))}

    def put(self, key: str, arrays: Mapping[str, np.ndarray | None]) -> None:
        """Write ``arrays`` (None values are skipped) atomically under ``key``."""
        folder = self.path(key)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=folder.parent))
        try:
            for name, value in arrays.items():
                if value is not None:
                    np.save(tmp / f"{name}.npy", np.ascontiguousarray(value))
            (tmp / "_complete").touch()
            if folder.exists():  # a stale partial entry from an older layout; replace it
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def get(
        self, key: str, compute: Callable[[], Mapping[str, np.ndarray | None]], mmap: bool = True
    ) -> dict[str, np.ndarray]:
        """The cached arrays for ``key``, computing and storing them first if absent."""
        if key not in self:
            self.put(key, compute())
        return self.load(key, mmap=mmap)
