"""Clean exits of 2-rank gloo runs under CPU load: loops ``torchrun --nproc_per_node=2`` N times next to a
CPU-burning process and prints how many runs exited cleanly (exit 0, both ranks' outputs written).

Two workloads (``--mode``):
  script : the DDP training script of ``tests/test_ddp.py`` (``engine.train`` + ``engine.confusion`` under
           DistributedDataParallel, then ``destroy_process_group``), as a user's own script would call them;
  run    : ``redal run`` of a tiny config under torchrun (the kit's own entry point, teardown included).

torch 2.13 keeps a gloo group's worker thread alive once DDP used it; a Work object destroyed while the
interpreter shuts down then calls std::terminate and aborts a rank whose work is done. The engine releases
DDP's state before returning and ``redal run`` leaves a distributed rank through ``os._exit`` after flushing
and destroying the group (``engine.shutdown_distributed``); this script counts what is left of the defect.

    .venv/bin/python benchmarks/ddp_teardown.py [--runs 30] [--mode script|run|both] [--burners 1]

Not a test: it prints, it never asserts.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _burn(stop) -> None:  # pragma: no cover - a load generator
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1",
            "--master_addr=127.0.0.1", f"--master_port={_free_port()}", *args]


def _script_run(folder: Path) -> tuple[bool, str]:
    from tests.test_ddp import SCRIPT

    script = folder / "ddp_train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(_torchrun([str(script), str(folder)]), env=env, capture_output=True, text=True,
                          timeout=300)
    ok = proc.returncode == 0 and all((folder / f"rank{r}.json").exists() for r in (0, 1))
    return ok, "" if ok else f"exit {proc.returncode}: {(proc.stderr.strip().splitlines() or [''])[-1][:200]}"


def _loop_run(folder: Path) -> tuple[bool, str]:
    import yaml

    config = {
        "results_dir": str(folder / "results"),
        "dataset": {"name": "synthetic-indoor", "root": str(folder.parent / "rooms"), "knn": 16,
                    "generate": {"scans": 7, "points_per_room": 1500, "seed": 1}},
        "model": {"name": "minkunet", "width": 0.125, "backend": "torch"},
        "train": {"epochs_init": 1, "epochs_finetune": 1, "batch_size": 1, "device": "cpu", "threads": 1},
        "active": {"strategy": "ReDAL", "x_init": 40.0, "x_active": 10.0, "rounds": 1, "clusters": 3},
    }
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(_torchrun(["-m", "redal_core.cli", "run", str(path)]), env=env, capture_output=True,
                          text=True, timeout=600)
    state = folder / "results" / "runs" / "synthetic-indoor-minkunet-redal-s0" / "state.json"
    ok = proc.returncode == 0 and state.exists() and "complete" in state.read_text()
    return ok, "" if ok else f"exit {proc.returncode}: {(proc.stderr.strip().splitlines() or [''])[-1][:200]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--mode", choices=["script", "run", "both"], default="both")
    parser.add_argument("--burners", type=int, default=1, help="CPU-burning processes beside the runs")
    args = parser.parse_args()
    modes = ["script", "run"] if args.mode == "both" else [args.mode]
    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=_burn, args=(stop,), daemon=True) for _ in range(args.burners)]
    for b in burners:
        b.start()
    try:
        with tempfile.TemporaryDirectory(prefix="redal-ddp-") as tmp:
            for mode in modes:
                clean, failures, started = 0, [], time.perf_counter()
                for i in range(args.runs):
                    folder = Path(tmp) / f"{mode}-{i:03d}"
                    folder.mkdir()
                    ok, why = (_script_run if mode == "script" else _loop_run)(folder)
                    clean += ok
                    if not ok:
                        failures.append(f"run {i}: {why}")
                        print(f"  {mode} run {i}: FAILED {why}", flush=True)
                print(f"ddp teardown, mode {mode}: {clean} of {args.runs} clean exits beside {args.burners} "
                      f"CPU burner(s) ({time.perf_counter() - started:.0f} s)", flush=True)
                for line in failures:
                    print(f"  {line}")
    finally:
        stop.set()
        for b in burners:
            b.join(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
