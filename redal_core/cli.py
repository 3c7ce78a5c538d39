"""The ``redal`` command: prepare | run | status | sweep | figures | export | import.

Each subcommand is a thin shell over one library function, imported only when that subcommand runs,
so ``redal --help`` is instant and a missing optional dependency only affects the command that needs it.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import gc
import importlib
import os
import sys
from collections.abc import Sequence

from redal_core import __version__


def _handler(target: str):
    """``module:function`` resolved lazily; the function takes the parsed namespace and returns an exit code."""

    def call(args: argparse.Namespace) -> int:
        module, function = target.split(":")
        return int(getattr(importlib.import_module(module), function)(args) or 0)

    return call


def _wrap(text: str) -> str:
    """A description pre-wrapped for ``RawDescriptionHelpFormatter`` (which keeps the epilog's example lines)."""
    import textwrap

    return textwrap.fill(text, width=100)


def _examples(*lines: str) -> dict:
    """``add_parser`` keywords for a help epilog of examples, printed as written."""
    return {"epilog": "examples:\n" + "\n".join(f"  {line}" for line in lines),
            "formatter_class": argparse.RawDescriptionHelpFormatter}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="redal",
        description="ReDAL study kit: region-based, diversity-aware active learning for point-cloud segmentation.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "prepare",
        help="read every scan into the cache and compute its regions and cues, before the runs (in parallel)",
        description=_wrap(
            "Generate a synthetic dataset (or index a real one), read every train and val scan into the scan "
            "cache, and compute the regions and colour/structure cues of every training scan: for --dataset "
            "its family's VCCS preset with k=50 on --scoring, for --params every (root, region division, k, "
            "scoring) its runs use, so that a sweep starts on a warm cache. Scans run in this process, on --jobs "
            "local processes (which also write a synthetic dataset; forked where that is safe, else spawned; "
            "REDAL_START_METHOD=spawn always spawns) or on a Dask cluster (workers with --nthreads 1); rerunning "
            "skips what is cached (a killed prepare resumes). A scan that fails is reported by name while the "
            "others finish, and the command exits 1."
        ),
        **_examples(
            "redal prepare --dataset synthetic-outdoor --root data/synthetic-outdoor --scans 24 --jobs 2",
            "redal prepare --params params/semantickitti_spvcnn.yaml --dask-scheduler tcp://HOST:8786",
        ),
    )
    p.add_argument(
        "--dataset",
        default=None,
        choices=["synthetic-indoor", "synthetic-outdoor", "s3dis", "semantickitti"],
        help="synthetic-* datasets are generated under --root in the original S3DIS / SemanticKITTI layout",
    )
    p.add_argument("--root", default=None, help="dataset root (written for synthetic datasets, read for real ones)")
    p.add_argument("--scans", type=int, default=None, help="number of scans to generate (synthetic only)")
    p.add_argument("--seed", type=int, default=None, help="generator seed (synthetic only; default 0)")
    p.add_argument("--cache-dir", default=None, help="scan cache folder of --dataset (default: <root>/.cache)")
    p.add_argument("--scoring", default="official", choices=["official", "paper"],
                   help="scale of the cues of --dataset (default official, the run default active.scoring)")
    p.add_argument("--params", default=None, metavar="PARAMS.yaml",
                   help="also prepare every dataset root, region division (VCCS preset or grid), k and scoring "
                        "the runs of this params file use")
    p.add_argument("--jobs", type=int, default=1,
                   help="scans prepared (and synthetic scans written) at once in a local process pool (default 1)")
    p.add_argument("--dask-scheduler", default=None, metavar="ADDRESS",
                   help="prepare the scans on the workers of this Dask scheduler (tcp://HOST:8786) instead")
    p.set_defaults(func=_handler("redal_core.data.prepare:cli_prepare"))

    p = sub.add_parser("run", help="run (or resume) one active-learning run from a config YAML",
                       **_examples(
                           "redal run my_run.yaml",
                           "redal run results/runs/<run_id>/params.yaml   # resume after the last complete round",
                       ))
    p.add_argument("config", help="a run config YAML (one combination, no lists)")
    p.add_argument("--results-dir", default=None, help="override the config's results directory")
    p.set_defaults(func=_handler("redal_core.active.loop:cli_run"))

    p = sub.add_parser("status", help="where runs stand: complete / running / interrupted / awaiting labels / failed",
                       description="One row per run folder, read from its files only (state.json, rounds.csv, "
                                   "run.lock, failed.json, the sweep's sweep_summary.csv): status, rounds done of "
                                   "total, labeled %, the last mIoU %, the complete rounds' wall time and a note "
                                   "(the error, the process running it, what to do).",
                       **_examples(
                           "redal status",
                           "redal status results/runs/synthetic-indoor-minkunet-redal-s0",
                       ))
    p.add_argument("path", nargs="?", default="results",
                   help="a results directory (its runs/*) or one run folder (default: results)")
    p.set_defaults(func=_handler("redal_core.results:cli_status"))

    p = sub.add_parser("sweep", help="expand a params grid and execute notebook 02 with papermill per run",
                       **_examples(
                           "redal sweep params/demo.yaml --jobs 2",
                           "redal sweep params/s3dis_minkunet.yaml --dask-scheduler tcp://HOST:8786",
                       ))
    p.add_argument("params", help="a params YAML; list values expand to a grid of runs")
    p.add_argument("--jobs", type=int, default=1, help="parallel runs in the local process pool (default 1)")
    p.add_argument("--dask-scheduler", default=None, metavar="ADDRESS", help="send runs to a Dask distributed scheduler")
    p.add_argument("--results-dir", default=None, help="override the params' results directory")
    p.set_defaults(func=_handler("redal_core.sweep:cli_sweep"))

    p = sub.add_parser("figures", help="execute notebooks 03-05 into results/figures and results/tables",
                       **_examples(
                           "redal figures params/demo.yaml",
                           "redal figures params/s3dis_minkunet.yaml --results-dir /scratch/results",
                       ))
    p.add_argument("params", help="the params YAML whose runs to plot")
    p.add_argument("--results-dir", default=None, help="override the params' results directory")
    p.set_defaults(func=_handler("redal_core.sweep:cli_figures"))

    p = sub.add_parser(
        "export", help="write the scans holding a round's selected regions for annotators' tools",
        description=_wrap("Write every scan that holds a unit selected after round R, with all its points, for "
        "annotators: one binary PLY per scan (x, y, z, red/green/blue or intensity, region, selected, label = -1 "
        "to fill with train ids), classes.json (id, name, colour) and manifest.json; for SemanticKITTI-family "
        "runs also sequences/XX/velodyne/*.bin, labels/*.label (0 = to fill with raw SemanticKITTI ids) and "
        "selected/*.npy. Only the points with selected = 1 are read back by `redal import`."),
        **_examples(
            "redal export results/runs/<run_id> --round 0   # writes results/runs/<run_id>/export/round_00/",
            "redal export results/runs/<run_id> --round 1 --out /shared/annotators/round_01",
        ),
    )
    p.add_argument("run_dir", help="results/runs/<run_id>")
    p.add_argument("--round", type=int, required=True, dest="round_", metavar="R", help="selection round to export")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: RUN_DIR/export/round_RR, RR the round in two digits)")
    p.add_argument("--force", action="store_true",
                   help="write over the files of an earlier export in that folder (labels in them are lost)")
    p.set_defaults(func=_handler("redal_core.annotate:cli_export"))

    p = sub.add_parser(
        "import", help="read annotators' labels from an export folder back into a run",
        description=_wrap("Read the labels of a folder written by `redal export`: manifest.json first (it must belong "
        "to RUN_DIR and to the round the run awaits labels for), then per scan the PLY's label (train ids, -1 = "
        "not labeled), a <scan>.csv with point_index,label rows, and for SemanticKITTI-family runs the .label "
        "files (raw ids, 0 = not labeled). Only points of the round's selected units are kept; a second import "
        "adds units. Then `redal run RUN_DIR/params.yaml` trains on them."),
        **_examples("redal import results/runs/<run_id> results/runs/<run_id>/export/round_00"),
    )
    p.add_argument("run_dir", help="results/runs/<run_id>")
    p.add_argument("labels_dir", help="the folder `redal export` wrote, with the annotators' labels filled in")
    p.set_defaults(func=_handler("redal_core.annotate:cli_import"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _skip_exit_collection()
    if args.command == "run" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        _leave_distributed_rank(_call(args))
    return _call(args)


@functools.cache  # once per process
def _skip_exit_collection() -> None:
    """Freeze the garbage collector when the interpreter exits (``atexit``).

    Python's exit collects every object numba, scipy and the kit created, one more time, before the process
    ends: half a second of every command that computed regions (0.25 s for ``import numba`` alone), with no
    effect on anything written (files are closed; ``atexit`` hooks registered later still run first).
    """
    atexit.register(gc.freeze)


def _call(args: argparse.Namespace) -> int:
    """Run the subcommand; a bad input (ValueError, missing file or name, unusable backend, unreachable Dask
    scheduler) is one line."""
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, KeyError, ImportError, ConnectionError) as error:
        if isinstance(error, ImportError) and not _is_backend_unavailable(error):
            raise
        if isinstance(error, ConnectionError) and not _is_scheduler_unreachable(error):
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"redal {args.command}: error: {message}", file=sys.stderr)
        return 2


def _is_backend_unavailable(error: ImportError) -> bool:
    backends = sys.modules.get("redal_core.models.sparse.backends")
    return backends is not None and isinstance(error, backends.BackendUnavailable)


def _is_scheduler_unreachable(error: ConnectionError) -> bool:
    cluster = sys.modules.get("redal_core.cluster")
    return cluster is not None and isinstance(error, cluster.SchedulerUnreachable)


def _leave_distributed_rank(code: int) -> None:
    """Leave a torchrun rank with ``os._exit`` once its outputs are flushed (its group is destroyed by then).

    Works around a torch 2.13 defect: once DistributedDataParallel used a gloo group, the group's worker
    thread (``pt_gloo_runloop``) outlives ``destroy_process_group``, and a finished Work object destroyed
    during interpreter shutdown makes it call ``std::terminate``, aborting a rank whose work is done (about
    1 run in 15 under CPU load). Every file of the run is written (atomically) before this point; an
    unexpected exception or a KeyboardInterrupt never gets here and ends the rank as usual.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
