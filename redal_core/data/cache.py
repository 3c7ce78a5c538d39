"""Content-hashed, memory-mappable per-scan cache.

Each entry is a folder of ``.npy`` files (one per array) under ``root/<key[:2]>/<key>/``. The key hashes
the *content* of the source files and the parameters of the computation (``content_key``), so an edited
file or a changed parameter gives a new entry, and an unchanged scan is parsed and preprocessed once.
Entries are written to a temporary folder and renamed into place, so a crash never leaves half an entry, and
concurrent writers of one key (two processes, two Dask workers) leave one complete entry that readers see whole.
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
    names and contents in sorted order; a mapping or list hashes its canonical JSON. Every part is
    hashed with its kind and length, so no two different sequences of parts share a key (a file
    holding ``"sabc"`` and the string ``"abc"`` differ, as do ``("ab", "c")`` and ``("a", "bc")``).
    """
    digest = hashlib.sha1()
    for part in parts:
        if isinstance(part, Path):
            _hash_path(digest, part)
        elif isinstance(part, bytes):
            _hash_chunk(digest, b"b", part)
        elif isinstance(part, str):
            _hash_chunk(digest, b"s", part.encode())
        else:
            _hash_chunk(digest, b"j", json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _hash_chunk(digest: hashlib._Hash, kind: bytes, data: bytes) -> None:
    digest.update(kind + len(data).to_bytes(8, "little") + data)


def _hash_path(digest: hashlib._Hash, path: Path) -> None:
    if path.is_dir():
        children = sorted(p for p in path.rglob("*") if p.is_file())
        digest.update(b"d" + len(children).to_bytes(8, "little"))
        for child in children:
            _hash_chunk(digest, b"n", str(child.relative_to(path)).encode())
            _hash_file(digest, child)
    elif path.is_file():
        _hash_file(digest, path)
    else:
        raise FileNotFoundError(f"cannot hash {path}: no such file or folder")


def _hash_file(digest: hashlib._Hash, path: Path) -> None:
    with open(path, "rb") as handle:
        digest.update(b"f" + os.fstat(handle.fileno()).st_size.to_bytes(8, "little"))
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)


class ScanCache:
    """Arrays computed once per key and memory-mapped on every later read.

    Safe for concurrent writers and readers of one key in several processes (a process pool, Dask workers
    sharing a file system): an entry appears only by renaming a complete temporary folder into place, a
    complete entry is never modified or deleted in place, and ``_complete`` lists the entry's arrays, so a
    read either returns all of them or raises (``get`` then looks again).

    >>> cache = ScanCache(tmp_path)                                      # doctest: +SKIP
    >>> arrays = cache.get(content_key(path, {"voxel": 0.05}), compute)  # doctest: +SKIP
    """

    #: Attempts of ``get`` to read an entry that vanished between the check and the read.
    _READ_ATTEMPTS = 3

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / key

    def __contains__(self, key: str) -> bool:
        return (self.path(key) / _MARKER).exists()

    def load(self, key: str, mmap: bool = True) -> dict[str, np.ndarray]:
        """The arrays of a complete entry; KeyError when there is none (FileNotFoundError, rarely, when one
        disappears while it is read: a stale folder being replaced)."""
        folder = self.path(key)
        try:
            listed = (folder / _MARKER).read_text(encoding="utf-8").split()
        except FileNotFoundError:
            raise KeyError(f"no complete cache entry {key} under {self.root}") from None
        mode = "r" if mmap else None
        if not listed:  # a marker written before it listed the arrays
            return {p.stem: np.load(p, mmap_mode=mode) for p in sorted(folder.glob("*.npy"))}
        return {name: np.load(folder / f"{name}.npy", mmap_mode=mode) for name in listed}

    def put(self, key: str, arrays: Mapping[str, np.ndarray | None]) -> None:
        """Write ``arrays`` (None values are skipped) atomically under ``key``.

        If another writer completes the same key first, its entry is kept (same key, same content) and
        this one is discarded; an incomplete leftover folder is moved aside and replaced.
        """
        for name in arrays:
            if not name or not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"cache array name {name!r} must be letters, digits, '_' or '-' (it names a file)")
        folder = self.path(key)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=folder.parent))
        try:
            names = []
            for name, value in arrays.items():
                if value is not None:
                    np.save(tmp / f"{name}.npy", np.ascontiguousarray(value))
                    names.append(name)
            (tmp / _MARKER).write_text("".join(f"{name}\n" for name in names), encoding="utf-8")
            if folder.exists() and not (folder / _MARKER).exists():
                _discard(folder)  # a partial entry from an older layout (or a copy cut short)
            try:
                os.replace(tmp, folder)
            except OSError:
                if not (folder / _MARKER).exists():  # not a concurrent complete writer: a real failure
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def get(
        self, key: str, compute: Callable[[], Mapping[str, np.ndarray | None]], mmap: bool = True
    ) -> dict[str, np.ndarray]:
        """The cached arrays for ``key``, computing (at most once) and storing them first if absent."""
        computed = None
        for attempt in range(self._READ_ATTEMPTS):
            if key not in self:
                if computed is None:
                    computed = compute()
                self.put(key, computed)
            try:
                return self.load(key, mmap=mmap)
            except (KeyError, FileNotFoundError):  # replaced by a concurrent writer between the check and the read
                if attempt == self._READ_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")


#: Marker file of a complete entry; lists its arrays, one name per line.
_MARKER = "_complete"


def _discard(folder: Path) -> None:
    """Remove an incomplete entry folder without ever deleting in place what another writer just completed:
    it is renamed aside first (atomic), then deleted."""
    aside = Path(tempfile.mkdtemp(prefix=f".{folder.name}.stale-", dir=folder.parent))
    try:
        os.replace(folder, aside / "entry")
    except FileNotFoundError:
        pass  # another writer moved it first
    finally:
        shutil.rmtree(aside, ignore_errors=True)
