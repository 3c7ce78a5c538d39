"""The export folder's manifest: its format and file names, reading and checking ``manifest.json``, the files
it lists, and the selection hash that ties an export to its run."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

FORMAT = "redal-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CLASSES = "classes.json"
_MANIFEST_KEYS = ("format", "format_version", "run_id", "run_dir", "round", "dataset", "selection_sha256", "scans")
_SCAN_KEYS = ("index", "name", "file", "units", "selected_regions", "selected_points", "total_points")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_manifest(labels_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``<labels_dir>/manifest.json`` as written by ``export_round``; ValueError naming the file and key when
    it is missing, not JSON, of another format (version) or lacks a key."""
    path = Path(labels_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{labels_dir}: no {MANIFEST}; import the folder `redal export` wrote (its "
                                f"{MANIFEST} says which run and round the labels belong to)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ValueError(f"{path}: format {got!r} is not {FORMAT!r}; not a manifest written by `redal export`")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {manifest.get('format_version')!r}, this code reads "
                         f"{FORMAT_VERSION}")
    missing = [k for k in _MANIFEST_KEYS if k not in manifest]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing}")
    if not isinstance(manifest["run_id"], str):
        raise ValueError(f"{path}: run_id must be a string, got {manifest['run_id']!r}")
    if isinstance(manifest["round"], bool) or not isinstance(manifest["round"], int) or manifest["round"] < 0:
        raise ValueError(f"{path}: round must be an integer >= 0, got {manifest['round']!r}")
    if not isinstance(manifest["scans"], list):
        raise ValueError(f"{path}: scans must be a list, got {type(manifest['scans']).__name__}")
    seen: set[int] = set()
    for i, entry in enumerate(manifest["scans"]):
        gone = [k for k in _SCAN_KEYS if not isinstance(entry, dict) or k not in entry]
        if gone:
            raise ValueError(f"{path}: scans[{i}] lacks key(s) {gone}")
        index = entry["index"]
        if isinstance(index, bool) or not isinstance(index, int) or index in seen:
            raise ValueError(f"{path}: scans[{i}].index must be a scan index listed once, got {index!r}")
        seen.add(index)
        for key in ("file", "velodyne", "labels", "selected"):
            value = entry.get(key)
            if key in entry and not (isinstance(value, str) and value and not Path(value).is_absolute()
                                     and ".." not in Path(value).parts):
                raise ValueError(f"{path}: scans[{i}].{key} must be a path inside the export folder, got {value!r}")
    return manifest


def _listed_files(manifest: dict[str, Any]) -> set[str]:
    files = {MANIFEST, CLASSES}
    for entry in manifest["scans"]:
        files |= {entry["file"], f"{Path(entry['file']).stem}.csv"}
        files |= {entry[k] for k in ("velodyne", "labels", "selected") if k in entry}
    return files
