"""The results layout of a run, atomic file writes, and tidy tables for the notebooks.

A run folder ``<results_dir>/runs/<run_id>/`` holds::

    params.yaml              the resolved config (RunConfig.to_dict)
    env.json                 python / torch / numpy versions, backend, device, git commit, hostname
    rounds.csv               round, labeled_points, labeled_pct, miou, wall_s, train_s, eval_s, predict_s, select_s
    train_log.csv            round, epoch, steps, loss, lr, val_miou, kept, seconds, data_s (of those seconds,
                             waiting for batches): one row per training epoch
                             (val_miou: the epoch's validation mIoU where train.fine_tune_from: best_val scored
                             it, else empty; kept: 1 on the epoch whose model is the round's checkpoint)
    per_class.csv            round, class_id, class, iou (empty where the class is absent from the val split)
    class_distribution.csv   round, class_id, class, labeled_points, permille
    selections/round_XX.csv  scan, scan_name, region, score, adjusted_score, cluster, points
    label_state.npz          the label state after the last complete round
    checkpoints/round_XX.pt  model + optimizer state; checkpoints/label_state_XX.npz the label state after round XX
    annotations/<scan>.npy   human labels (oracle: human), IGNORE_INDEX where not annotated
    export/round_XX/         the default folder of ``redal export`` (redal_core.annotate): files for annotators
    state.json               last complete round and status, written LAST
    run.lock                 while a process runs the run: its pid, host and start (removed when it ends;
                             its mtime is a heartbeat, touched every phase and epoch)
    failed.json              the error of the last attempt when it raised (removed by the next attempt)

Every file is written to a temporary name in the same folder (``.<name>.tmp-<pid><suffix>``) and renamed
into place with ``os.replace``, so a reader (or a resumed run) never sees half a file.

``status_table(path)`` says where runs stand (complete, running, interrupted, awaiting_labels, failed) from
these files alone; ``redal status`` prints it.
"""

from __future__ import annotations

import json
import os
import socket
import time
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
TRAIN_LOG_COLUMNS = ["round", "epoch", "steps", "loss", "lr", "val_miou", "kept", "seconds", "data_s"]
TRAIN_LOG_TIME_COLUMNS = ["seconds", "data_s"]
STATUS_COLUMNS = ["run", "status", "rounds_done", "rounds_total", "labeled_pct", "miou_pct", "wall_s", "note",
                  "run_dir"]
#: Values of ``status_table``'s status column.
STATUSES = ("complete", "running", "interrupted", "awaiting_labels", "failed", "unreadable")
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
    train_log = property(lambda self: self.root / "train_log.csv")
    lock = property(lambda self: self.root / "run.lock")
    failed = property(lambda self: self.root / "failed.json")
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


def write_train_log(paths: RunPaths, round_: int, rows: list[dict[str, Any]]) -> None:
    """Write round ``round_``'s epochs into ``train_log.csv`` (``TRAIN_LOG_COLUMNS`` but round; one dict per
    epoch), keeping earlier rounds' rows and replacing any of this round or later (an interrupted attempt's)."""
    import pandas as pd

    records = [{"round": round_, **row} for row in rows]
    if paths.train_log.exists():
        old = pd.read_csv(paths.train_log)
        records = old[old["round"] < round_].to_dict("records") + records
    atomic_write_csv(paths.train_log, pd.DataFrame(records, columns=TRAIN_LOG_COLUMNS))


# -- who runs a run: run.lock and failed.json ----------------------------------------------------------
def _process_start(pid: int) -> int | None:
    """Start time of process ``pid`` (clock ticks since boot, /proc), None where unknown; -1 for a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # fields 3.. of proc(5); the name may hold spaces
    if fields and fields[0] in ("Z", "X"):
        return -1
    return int(fields[19]) if len(fields) > 19 else None


def write_run_lock(paths: RunPaths) -> Path:
    """Record this process as the one running the run (``run.lock``: pid, host, start, process start time)."""
    pid = os.getpid()
    return atomic_write_json(paths.lock, {"pid": pid, "host": socket.gethostname(), "proc_start": _process_start(pid),
                                          "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")})


def touch_run_lock(paths: RunPaths) -> None:
    """The heartbeat: bump ``run.lock``'s mtime (a no-op without one)."""
    try:
        os.utime(paths.lock)
    except OSError:
        pass


def remove_run_lock(paths: RunPaths) -> None:
    """Remove ``run.lock`` if this process wrote it."""
    lock = read_run_lock(paths.root)
    if lock is not None and lock.get("pid") == os.getpid() and lock.get("host") == socket.gethostname():
        paths.lock.unlink(missing_ok=True)


def read_run_lock(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """``run.lock`` with its ``heartbeat`` (mtime, epoch seconds) added, or None without one (or unreadable)."""
    path = RunPaths(Path(run_dir)).lock
    try:
        lock = json.loads(path.read_text(encoding="utf-8"))
        return {**lock, "heartbeat": path.stat().st_mtime}
    except (OSError, json.JSONDecodeError):
        return None


def lock_alive(lock: dict[str, Any] | None) -> bool | None:
    """Whether the process a ``run.lock`` names still runs: True / False on this host, None on another host
    (not checkable from here). A pid reused by another process (its start time differs) or a zombie is dead."""
    if lock is None:
        return False
    if lock.get("host") != socket.gethostname():
        return None
    pid = int(lock.get("pid", -1))
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    start = _process_start(pid)
    if start == -1:
        return False
    return not (start is not None and lock.get("proc_start") is not None and start != lock["proc_start"])


def write_failure(paths: RunPaths, error: BaseException, *, round_: int | None) -> Path:
    """Record that this attempt raised ``error`` during round ``round_`` (None: before the rounds)."""
    return atomic_write_json(paths.failed, {"error": _last_line(error), "round": round_, "pid": os.getpid(),
                                            "host": socket.gethostname(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})


def read_failure(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """``failed.json`` of the run's last attempt, or None."""
    path = RunPaths(Path(run_dir)).failed
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _last_line(error: BaseException) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[-1].strip()}"[:300] if lines else type(error).__name__


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


# -- where runs stand -----------------------------------------------------------------------------------
def status_table(path: str | os.PathLike[str] = "results") -> pd.DataFrame:
    """Where the runs under ``path`` stand, one row per run folder (``STATUS_COLUMNS``), from their files only.

    path : a results directory (its ``runs/*``), a ``runs`` folder, or one run folder.
    status : ``complete`` (state.json); ``running`` (a ``run.lock`` whose process is alive on this host, or
    one written on another host, which cannot be checked from here: the note says so, with the heartbeat's
    age); ``awaiting_labels`` (oracle: human, waiting for ``redal import``); ``failed`` (the last attempt
    raised: ``failed.json``, or the sweep's ``sweep_summary.csv`` reports the run failed and nothing in its
    folder changed since); ``interrupted`` (none of these: killed, stopped, or not finished yet with no
    process on it); ``unreadable`` (a damaged state.json). rounds_done / rounds_total count rounds 0..K;
    labeled_pct, miou_pct (the last scored complete round's mIoU, in %) and wall_s (the complete rounds'
    ``wall_s``, summed) come from ``rounds.csv``; note: the error's last line, the process, or what to do.
    A FileNotFoundError when ``path`` does not exist.
    """
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist (a results directory or a run folder)")
    if _is_run_dir(path):
        run_dirs, results_dir = [path], path.parent.parent
    else:
        runs = path / "runs" if (path / "runs").is_dir() else path
        run_dirs = sorted(d for d in runs.iterdir() if d.is_dir() and _is_run_dir(d)) if runs.is_dir() else []
        results_dir = runs.parent if runs is path else path
    sweep = _sweep_failures(results_dir / "sweep_summary.csv")
    return pd.DataFrame([_status_row(d, sweep) for d in run_dirs], columns=STATUS_COLUMNS)


def _is_run_dir(path: Path) -> bool:
    paths = RunPaths(path)
    return any(p.exists() for p in (paths.params, paths.state, paths.lock, paths.failed))


def _sweep_failures(summary: Path) -> dict[str, tuple[str, float]]:
    """run id -> (error, the summary's mtime) for the runs ``sweep_summary.csv`` reports as failed."""
    import pandas as pd

    try:
        frame = pd.read_csv(summary, keep_default_na=False)
        mtime = summary.stat().st_mtime
    except (OSError, ValueError):
        return {}
    if not {"run", "status"} <= set(frame.columns):
        return {}
    failed = frame[frame["status"] == "failed"]
    return {str(row["run"]): (str(row.get("error", "")), mtime) for _, row in failed.iterrows()}


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _status_row(run_dir: Path, sweep: dict[str, tuple[str, float]]) -> dict[str, Any]:
    import pandas as pd

    row: dict[str, Any] = {"run": run_dir.name, "rounds_done": 0, "rounds_total": None, "labeled_pct": float("nan"),
                           "miou_pct": float("nan"), "wall_s": 0.0, "note": "", "run_dir": str(run_dir)}
    try:
        state = run_status(run_dir)
    except ValueError as error:
        return {**row, "status": "unreadable", "note": str(error)}
    row.update(rounds_done=state["rounds_done"], rounds_total=state["rounds_total"])
    paths = RunPaths(run_dir)
    if state["last_round"] is not None and paths.rounds.exists():
        rounds = pd.read_csv(paths.rounds)
        rounds = rounds[rounds["round"] <= state["last_round"]]
        if len(rounds):
            scored = rounds["miou"].dropna()
            row.update(labeled_pct=float(rounds["labeled_pct"].iloc[-1]), wall_s=float(rounds["wall_s"].sum()),
                       miou_pct=float(scored.iloc[-1]) * 100 if len(scored) else float("nan"))
    lock = read_run_lock(run_dir)
    alive = lock_alive(lock)
    failure = read_failure(run_dir)
    now = time.time()
    if state["status"] == "complete":
        return {**row, "status": "complete"}
    if lock is not None and alive is not False:
        who = f"pid {lock.get('pid')} on {lock.get('host')}"
        beat = f"heartbeat {_age(now - lock['heartbeat'])} ago"
        if alive:
            return {**row, "status": "running", "note": f"{who}, since {lock.get('started')}, {beat}"}
        return {**row, "status": "running",
                "note": f"{who} (another host: not checkable from {socket.gethostname()}), {beat}"}
    if state["status"] == "awaiting_labels":
        note = (f"export round {state['last_round']} (`redal export {run_dir} --round {state['last_round']}`), "
                "annotate, `redal import`, run again")
        return {**row, "status": "awaiting_labels",
                "note": f"last attempt: {failure['error']}" if failure else note}
    if failure is not None:
        where = "" if failure.get("round") is None else f"round {failure['round']}: "
        return {**row, "status": "failed", "note": where + str(failure.get("error", ""))}
    if run_dir.name in sweep:
        error, mtime = sweep[run_dir.name]
        if mtime >= run_dir.stat().st_mtime:  # no attempt since the sweep wrote its summary
            return {**row, "status": "failed", "note": f"{error} (sweep_summary.csv)"}
    if lock is not None:
        note = f"pid {lock.get('pid')} on {lock.get('host')} is gone (stale run.lock)"
    else:
        note = "stopped" if row["rounds_done"] else "no round complete"
    return {**row, "status": "interrupted", "note": note + "; run again to resume"}


def format_status_table(table: pd.DataFrame) -> str:
    """``status_table`` as aligned text for a terminal (rounds as done/total, times as h:mm:ss)."""
    if table.empty:
        return "no runs"

    def num(value: float, fmt: str) -> str:
        return "-" if value is None or value != value else format(value, fmt)

    def clock(seconds: float) -> str:
        s = int(round(seconds))
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"

    rows = [["run", "status", "rounds", "labeled %", "mIoU %", "wall", "note"]]
    for r in table.itertuples(index=False):
        total = "?" if r.rounds_total is None or r.rounds_total != r.rounds_total else int(r.rounds_total)
        rows.append([r.run, r.status, f"{int(r.rounds_done)}/{total}", num(r.labeled_pct, ".2f"),
                     num(r.miou_pct, ".2f"), clock(r.wall_s), r.note])
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join([*(str(c).ljust(w) for c, w in zip(row[:-1], widths, strict=True)), str(row[-1])])
                     .rstrip() for row in rows)


def cli_status(args: Any) -> int:
    """``redal status [PATH]``: the status table of a results directory or a run folder."""
    table = status_table(args.path)
    print(format_status_table(table) if len(table) else f"no runs under {args.path}")
    return 0


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
