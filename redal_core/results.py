"""The results layout of a run, atomic file writes, and tidy tables for the notebooks.

A run folder ``<results_dir>/runs/<run_id>/`` holds::

    params.yaml              the resolved config (RunConfig.to_dict)
    env.json                 python / torch / numpy versions, backend, device, git commit, hostname
    rounds.csv               round, labeled_points, labeled_pct, miou, wall_s, train_s, eval_s, predict_s, select_s
    per_class.csv            round, class_id, class, iou (empty where the class is absent from the val split)
    class_distribution.csv   round, class_id, class, labeled_points, permille
    selections/round_XX.csv  scan, scan_name, region, score, adjusted_score, cluster, points
    label_state.npz          the label state after the last complete round
    checkpoints/round_XX.pt  model + optimizer state; checkpoints/label_state_XX.npz the label state after round XX
    annotations/<scan>.npy   human labels (oracle: human), IGNORE_INDEX where not annotated
    export/round_XX/         the default folder of ``redal export`` (redal_core.annotate): files for annotators
    state.json               last complete round and status, written LAST

Every file is written to a temporary name in the same folder (``.<name>.tmp-<pid><suffix>``) and renamed
into place with ``os.replace``, so a reader (or a resumed run) never sees half a file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

ROUNDS_COLUMNS = ["round", "labeled_points", "labeled_pct", "miou", "wall_s", "train_s", "eval_s", "predict_s", "select_s"]
TIME_COLUMNS = ["wall_s", "train_s", "eval_s", "predict_s", "select_s"]
PER_CLASS_COLUMNS = ["round", "class_id", "class", "iou"]
DISTRIBUTION_COLUMNS = ["round", "class_id", "class", "labeled_points", "permille"]
SELECTION_COLUMNS = ["scan", "scan_name", "region", "score", "adjusted_score", "cluster", "points"]
RUN_COLUMNS = ["run_id", "dataset", "backbone", "strategy", "seed"]
TMP_MARK = ".tmp-"


# -- atomic writes --------------------------------------------------------------------------------------
@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (same suffix); on success rename it onto ``path``.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}{TMP_MARK}{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_json(path: str | os.PathLike[str], data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_yaml(path: str | os.PathLike[str], data: Any) -> Path:
    import yaml

    return atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))


def atomic_write_csv(path: str | os.PathLike[str], frame: pd.DataFrame) -> Path:
    """Write ``frame`` as CSV (no index; NaN as an empty field)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)


def atomic_save_npz(path: str | os.PathLike[str], **arrays: np.ndarray) -> Path:
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)
    return Path(path)


def atomic_save_with(path: str | os.PathLike[str], save: Callable[[Path], object]) -> Path:
    """Atomically write ``path`` with any writer that takes a file path (``torch.save``, ``LabelState.save``)."""
    with atomic_path(path) as tmp:
        save(tmp)
    return Path(path)


def atomic_save_torch(path: str | os.PathLike[str], obj: Any) -> Path:
    """``torch.save(obj)`` atomically, through a file handle: a path would name the archive's root folder
    after the temporary file (``.round_02.tmp-<pid>/``), so two identical checkpoints differed in bytes."""
    import torch

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)

    return atomic_save_with(path, save)


def stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Temporary files (``*.tmp*``) left under ``folder`` by an interrupted writer (any process)."""
    folder = Path(folder)
    if not folder.exists():
        return []
    return sorted(p for p in folder.rglob("*.tmp*") if p.is_file())


# -- layout ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunPaths:
    """Every path of one run folder."""

    root: Path

    @classmethod
    def of(cls, results_dir: str | os.PathLike[str], run_id: str) -> RunPaths:
        return cls(Path(results_dir) / "runs" / run_id)

    params = property(lambda self: self.root / "params.yaml")
    env = property(lambda self: self.root / "env.json")
    rounds = property(lambda self: self.root / "rounds.csv")
    per_class = property(lambda self: self.root / "per_class.csv")
    class_distribution = property(lambda self: self.root / "class_distribution.csv")
    selections_dir = property(lambda self: self.root / "selections")
    label_state = property(lambda self: self.root / "label_state.npz")
    checkpoints_dir = property(lambda self: self.root / "checkpoints")
    annotations_dir = property(lambda self: self.root / "annotations")
    state = property(lambda self: self.root / "state.json")

    def selection(self, round_: int) -> Path:
        return self.selections_dir / f"round_{round_:02d}.csv"

    def checkpoint(self, round_: int) -> Path:
        return self.checkpoints_dir / f"round_{round_:02d}.pt"

    def round_label_state(self, round_: int) -> Path:
        return self.checkpoints_dir / f"label_state_{round_:02d}.npz"

    def annotation(self, scan_index: int) -> Path:
        return self.annotations_dir / f"{scan_index}.npy"

    def export(self, round_: int) -> Path:
        """The default ``redal export`` folder of round ``round_``: ``export/round_RR``."""
        return self.root / "export" / f"round_{round_:02d}"


# -- a round's metrics ----------------------------------------------------------------------------------
def write_round_metrics(paths: RunPaths, round_: int, row: dict[str, Any], class_names: list[str],
                        iou: np.ndarray, labeled_counts: np.ndarray) -> None:
    """Write round ``round_``'s rows of ``rounds.csv``, ``per_class.csv`` and ``class_distribution.csv``.

    row : the ``rounds.csv`` values (``ROUNDS_COLUMNS`` but round); iou : (K,) float per-class IoU (NaN for a
    class absent from the validation split); labeled_counts : (K,) int64 labeled training points per class.
    Earlier rounds' rows are kept; rows of this round left by an interrupted attempt are replaced.
    """
    import pandas as pd

    from redal_core.metrics import permille

    ids = np.arange(len(class_names))
    new = {
        paths.rounds: pd.DataFrame([{"round": round_, **row}], columns=ROUNDS_COLUMNS),
        paths.per_class: pd.DataFrame({"round": round_, "class_id": ids, "class": class_names, "iou": iou},
                                      columns=PER_CLASS_COLUMNS),
        paths.class_distribution: pd.DataFrame(
            {"round": round_, "class_id": ids, "class": class_names, "labeled_points": labeled_counts,
             "permille": permille(labeled_counts)},
            columns=DISTRIBUTION_COLUMNS),
    }
    for path, frame in new.items():
        if path.exists():
            old = pd.read_csv(path)
            frame = pd.concat([old[old["round"] < round_], frame], ignore_index=True)
        atomic_write_csv(path, frame)


# -- state ----------------------------------------------------------------------------------------------
def read_state(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The run's ``state.json`` (``last_round``, ``rounds``, ``status``), or None if no round is complete."""
    path = RunPaths(Path(run_dir)).state
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error}); the run folder is damaged") from error
    for key in ("last_round", "rounds", "status"):
        if key not in state:
            raise ValueError(f"{path}: missing key {key!r} (has {sorted(state)})")
    return state


def write_state(run_dir: str | os.PathLike[str], *, last_round: int, rounds: int, status: str) -> Path:
    return atomic_write_json(
        RunPaths(Path(run_dir)).state, {"last_round": int(last_round), "rounds": int(rounds), "status": status}
    )


def run_status(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Where a run stands.

    Returns ``{"run_dir", "status", "rounds_done", "rounds_total", "last_round"}`` with status one of
    ``complete``, ``incomplete`` (some or no rounds done, resumable), ``awaiting_labels`` (oracle: human)
    or ``missing`` (no such folder). ``rounds_done`` counts rounds 0..last_round.
    """
    run_dir = Path(run_dir)
    out: dict[str, Any] = {"run_dir": str(run_dir), "rounds_done": 0, "rounds_total": None, "last_round": None}
    if not run_dir.is_dir():
        return {**out, "status": "missing"}
    state = read_state(run_dir)
    if state is None:
        params = _read_params(run_dir)
        total = None if params is None else int(params.get("active", {}).get("rounds", 0)) + 1
        return {**out, "status": "incomplete", "rounds_total": total}
    return {
        **out,
        "status": state["status"],
        "rounds_done": state["last_round"] + 1,
        "rounds_total": state["rounds"] + 1,
        "last_round": state["last_round"],
    }


# -- reading runs ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunTables:
    """Tidy tables over many runs, each row carrying ``run_id, dataset, backbone, strategy, seed``."""

    rounds: pd.DataFrame
    per_class: pd.DataFrame
    class_distribution: pd.DataFrame
    selections: pd.DataFrame


def _read_params(run_dir: Path) -> dict[str, Any] | None:
    import yaml

    path = run_dir / "params.yaml"
    if not path.exists():
        return None
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _run_columns(run_dir: Path, params: dict[str, Any]) -> dict[str, Any]:
    try:
        return {
            "run_id": run_dir.name,
            "dataset": params["dataset"]["name"],
            "backbone": params["model"]["name"],
            "strategy": params["active"]["strategy"],
            "seed": int(params["seed"]),
        }
    except (KeyError, TypeError) as error:
        raise ValueError(f"{run_dir / 'params.yaml'}: not a run config (missing {error})") from error


def read_runs(results_dir: str | os.PathLike[str], *, complete_only: bool = False) -> RunTables:
    """Read every run under ``<results_dir>/runs/`` into tidy DataFrames.

    Only rows of complete rounds (as recorded in ``state.json``) are returned, so a run being written
    is read consistently. ``complete_only`` drops runs that have not finished all their rounds.
    Empty tables (with the right columns) are returned when there are no runs.
    """
    import pandas as pd

    runs_dir = Path(results_dir) / "runs"
    tables: dict[str, list[pd.DataFrame]] = {"rounds": [], "per_class": [], "class_distribution": [], "selections": []}
    for run_dir in sorted(p for p in runs_dir.glob("*") if p.is_dir()) if runs_dir.is_dir() else []:
        params = _read_params(run_dir)
        state = read_state(run_dir)
        if params is None or state is None:
            continue
        if complete_only and state["status"] != "complete":
            continue
        meta = _run_columns(run_dir, params)
        last = state["last_round"]
        paths = RunPaths(run_dir)
        for name, path in (("rounds", paths.rounds), ("per_class", paths.per_class),
                           ("class_distribution", paths.class_distribution)):
            if path.exists():
                frame = pd.read_csv(path)
                tables[name].append(_with_meta(frame[frame["round"] <= last], meta))
        for round_ in range(last + 1):
            path = paths.selection(round_)
            if path.exists():
                frame = pd.read_csv(path)
                frame.insert(0, "round", round_)
                tables["selections"].append(_with_meta(frame, meta))
    columns = {
        "rounds": ROUNDS_COLUMNS,
        "per_class": PER_CLASS_COLUMNS,
        "class_distribution": DISTRIBUTION_COLUMNS,
        "selections": ["round", *SELECTION_COLUMNS],
    }
    out = {}
    for name, frames in tables.items():
        if frames:
            out[name] = pd.concat(frames, ignore_index=True)
        else:
            out[name] = pd.DataFrame(columns=[*RUN_COLUMNS, *columns[name]])
    return RunTables(**out)


def _with_meta(frame: pd.DataFrame, meta: dict[str, Any]) -> pd.DataFrame:
    frame = frame.copy()
    for i, (key, value) in enumerate(meta.items()):
        frame.insert(i, key, value)
    return frame.reset_index(drop=True)
