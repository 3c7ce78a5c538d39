"""``redal prepare``: regions and cues of every training scan, byte-identical whatever the engine (in-process,
a local process pool, a Dask LocalCluster, a separately started ``dask scheduler`` + ``dask worker``), resumable
after a SIGKILL, failing scans reported by name while the others finish; the Dask connection helpers shared
with the sweep. (The scan cache under concurrent writers: test_cache_voxelize.py.)

Scans are tiny synthetic LiDAR sweeps (16 beams x 256 azimuth steps, ~4k points): the work per scan is the
real one (VCCS, k-NN cues), only smaller.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from redal_core import cluster
from redal_core.cli import main
from redal_core.data.datasets import build_dataset
from redal_core.regions.cached import cue_key, region_key, scan_cues, scan_region_ids

#: One xdist worker runs them all: the module's roots and reference prepare are made once, and the tests that
#: start process pools or Dask workers do not compete with each other for the cores.
pytestmark = pytest.mark.xdist_group("prepare")

#: A small sensor: same code path as the full 64 x 1920 one, ~40x fewer points.
SMALL = {"beams": 16, "azimuth_steps": 256}
#: Entries of one scan prepared from the command line: the scan, its regions and its cues (training scans).
TRAIN_ENTRIES, VAL_ENTRIES = 3, 1
COMPUTED = re.compile(r"(\d+) cache entries computed, (\d+) already cached \((\d+) scans had all their entries\)")


# -- helpers ------------------------------------------------------------------------------------------------
def _write_small(root: Path, scans: int) -> Path:
    from redal_core.data.synthetic import write_synthetic_outdoor

    write_synthetic_outdoor(root, scans=scans, seed=0, **SMALL)
    return root


def _plant_bad_scans(root: Path) -> dict[str, str]:
    """Three broken scans in training sequence 00; returns scan name -> what its error says."""
    folder = root / "sequences" / "00"
    rng = np.random.default_rng(0)
    points = rng.uniform(-20, 20, (40, 4)).astype("<f4")
    labels = np.full(40, 40, "<u4")  # road
    (folder / "velodyne" / "000090.bin").write_bytes(points.tobytes()[:-3])  # size not a multiple of 16
    labels[:39].tofile(folder / "labels" / "000090.label")
    nan = points.copy()
    nan[5, 1] = np.nan
    nan.tofile(folder / "velodyne" / "000091.bin")
    labels.tofile(folder / "labels" / "000091.label")
    points.tofile(folder / "velodyne" / "000092.bin")
    labels[:31].tofile(folder / "labels" / "000092.label")  # 31 labels for 40 points
    return _BAD


#: The planted broken scans and what their errors say.
_BAD = {"00/000090": "not a multiple of 16", "00/000091": "NaN/inf coordinates", "00/000092": "point-count mismatch"}


def _npy_hashes(cache: Path, *, complete_only: bool = False) -> dict[str, str]:
    """sha256 of every .npy file under ``cache`` by relative path (complete_only: skip temporary folders)."""
    out = {}
    for path in sorted(cache.rglob("*.npy")):
        relative = path.relative_to(cache)
        if complete_only and any(part.startswith(".") for part in relative.parts):
            continue
        out[str(relative)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _complete_entries(cache: Path) -> set[str]:
    return {marker.parent.name for marker in cache.glob("*/*/_complete")}


def _counts(out: str) -> tuple[int, int, int]:
    """(entries computed, entries already cached, scans that had all their entries) from the summary."""
    found = COMPUTED.search(out)
    assert found, out
    return int(found[1]), int(found[2]), int(found[3])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m redal_core.cli ARGS`` in a session of its own (its pool workers with it)."""
    return subprocess.run([sys.executable, "-m", "redal_core.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, start_new_session=True)


@pytest.fixture
def small_generator(monkeypatch):
    """``redal prepare --dataset synthetic-outdoor`` writes the small sensor's sweeps."""
    from redal_core.data import synthetic

    monkeypatch.setattr(synthetic, "write_synthetic_outdoor",
                        functools.partial(synthetic.write_synthetic_outdoor, **SMALL))


@pytest.fixture(scope="module")
def broken_root(tmp_path_factory) -> Path:
    """Six good small sweeps (five training scans, one in val 08) and three broken training scans."""
    root = _write_small(tmp_path_factory.mktemp("broken") / "kitti", 6)
    _plant_bad_scans(root)
    return root


@pytest.fixture(scope="module")
def reference(broken_root, tmp_path_factory):
    """``redal prepare --jobs 1`` of a copy of ``broken_root``: (exit code, stdout, .npy hashes of its cache)."""
    root = tmp_path_factory.mktemp("reference") / "kitti"
    shutil.copytree(broken_root, root)
    done = _run_cli("prepare", "--dataset", "semantickitti", "--root", str(root), "--jobs", "1")
    return done.returncode, done.stdout, _npy_hashes(root / ".cache")


def _check_like_reference(reference, code: int, out: str, cache: Path) -> None:
    ref_code, ref_out, ref_hashes = reference
    assert ref_code == 1, ref_out
    assert code == 1, out
    assert _npy_hashes(cache) == ref_hashes  # same keys, same bytes
    for name, why in _BAD.items():
        assert re.search(rf"failed: semantickitti train {name}: ValueError: .*{re.escape(why)}", out), out
    assert "failed: 3 scan(s) could not be prepared" in out
    assert "train: 5 scans (3 failed)" in out and "val: 1 scans" in out


# -- the command line -------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_jobs_2_prepares_regions_and_cues_of_every_training_scan_like_jobs_1(tmp_path, small_generator, capsys):
    roots = {jobs: tmp_path / f"jobs{jobs}" for jobs in (1, 2)}
    for jobs, root in roots.items():
        args = ["prepare", "--dataset", "synthetic-outdoor", "--root", str(root), "--scans", "8", "--jobs", str(jobs)]
        assert main(args) == 0
        out = capsys.readouterr().out
        assert "train: 7 scans" in out and "val: 1 scans" in out
        assert _counts(out) == (7 * TRAIN_ENTRIES + VAL_ENTRIES, 0, 0)
    hashes = _npy_hashes(roots[2] / ".cache")
    # byte-identical caches: per training scan xyz, intensity, labels, region, color, structure; val: 3 files
    assert hashes == _npy_hashes(roots[1] / ".cache") and len(hashes) == 7 * 6 + 3

    train = build_dataset("synthetic-outdoor", roots[2], "train")
    fresh = build_dataset("synthetic-outdoor", roots[2], "train", cache_dir=tmp_path / "fresh")  # computes anew
    assert len(train) == 7
    for i in range(len(train)):
        assert region_key(train, i, "semantickitti") in train.cache
        assert cue_key(train, i, 50, "official") in train.cache
        prepared = train.cache.load(region_key(train, i, "semantickitti"))["region"]
        np.testing.assert_array_equal(prepared, scan_region_ids(fresh, i, "semantickitti"))
        cues = train.cache.load(cue_key(train, i, 50, "official"))
        for name, direct in scan_cues(fresh, i, 50, "official").items():
            np.testing.assert_array_equal(cues[name], direct)
    val = build_dataset("synthetic-outdoor", roots[2], "val")
    assert val.scan_key(0) in val.cache and region_key(val, 0, "semantickitti") not in val.cache  # val: read only

    assert main(["prepare", "--dataset", "synthetic-outdoor", "--root", str(roots[2]), "--scans", "8"]) == 0
    assert _counts(capsys.readouterr().out) == (0, 7 * TRAIN_ENTRIES + VAL_ENTRIES, 8)  # a rerun: all cached


@pytest.mark.slow
def test_killed_midway_a_rerun_computes_only_what_is_missing(tmp_path, capsys, session_members):
    root = _write_small(tmp_path / "kitti", 12)
    reference = tmp_path / "reference"
    shutil.copytree(root, reference)
    args = ["prepare", "--dataset", "semantickitti", "--root", str(root), "--jobs", "2"]
    killed = subprocess.Popen([sys.executable, "-m", "redal_core.cli", *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env={**os.environ, "REDAL_PREPARE_FAULT": "3"},
                              start_new_session=True)
    try:
        out, err = killed.communicate(timeout=300)
        assert killed.returncode == -signal.SIGKILL, err
        deadline = time.monotonic() + 10
        while session_members(killed.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert session_members(killed.pid) == []  # the pool's workers left with their parent
    finally:
        for pid in session_members(killed.pid):
            os.kill(pid, signal.SIGKILL)
    cache = root / ".cache"
    before = _complete_entries(cache)
    train = build_dataset("semantickitti", root, "train")
    val = build_dataset("semantickitti", root, "val")
    keys = [[ds.scan_key(i), *([region_key(ds, i, "semantickitti"), cue_key(ds, i, 50, "official")]
                               if ds is train else [])] for ds in (train, val) for i in range(len(ds))]
    done_scans = sum(all(key in before for key in scan) for scan in keys)
    total = sum(len(scan) for scan in keys)
    assert 3 <= done_scans < 12 and len(before) < total  # killed after 3 scans, well before the last
    assert before <= {key for scan in keys for key in scan}  # every complete entry is one of the scans' own

    assert main(args[:-2]) == 0  # the rerun (in this process: --jobs 1)
    assert _counts(capsys.readouterr().out) == (total - len(before), len(before), done_scans)
    assert main(["prepare", "--dataset", "semantickitti", "--root", str(reference)]) == 0  # never interrupted
    assert _npy_hashes(cache, complete_only=True) == _npy_hashes(reference / ".cache")


def test_failing_scans_are_named_while_the_others_finish(reference):
    code, out, hashes = reference
    assert code == 1, out
    for name, why in _BAD.items():
        assert re.search(rf"failed: semantickitti train {name}: ValueError: .*{re.escape(why)}", out), out
    assert "failed: 3 scan(s) could not be prepared" in out
    assert "train: 5 scans (3 failed)" in out and "val: 1 scans" in out
    assert len([key for key in hashes if key.endswith("xyz.npy")]) == 6  # the six good scans are cached
    assert len([key for key in hashes if key.endswith("region.npy")]) == 5  # and the five good training scans
    assert _counts(out)[:2] == (5 * TRAIN_ENTRIES + VAL_ENTRIES, 0)


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_a_local_process_pool_gives_the_reference_cache(reference, broken_root, tmp_path, start_method):
    root = tmp_path / "kitti"
    shutil.copytree(broken_root, root)
    done = _run_cli("prepare", "--dataset", "semantickitti", "--root", str(root), "--jobs", "2",
                    env={"REDAL_START_METHOD": start_method})
    _check_like_reference(reference, done.returncode, done.stdout, root / ".cache")
    assert "redal prepare: 3 scan(s) failed" in done.stderr
    assert "REDAL_START_METHOD" not in done.stderr  # fork was safe: no warning that it spawned instead


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_a_synthetic_dataset_written_and_prepared_on_the_pool_is_the_one_written_here(tmp_path, start_method):
    # the sweeps are written by the pool's workers (while the main process loads the scans' kernels, when
    # forked), then prepared by a second pool: files and cache are byte-identical to --jobs 1
    roots = {jobs: tmp_path / f"jobs{jobs}" for jobs in (1, 2)}
    for jobs, root in roots.items():
        done = _run_cli("prepare", "--dataset", "synthetic-outdoor", "--root", str(root), "--scans", "3",
                        "--jobs", str(jobs), env={"REDAL_START_METHOD": start_method})
        assert done.returncode == 0, done.stderr
        assert "generated 3 synthetic-outdoor scans" in done.stdout and "REDAL_START_METHOD" not in done.stderr
    files = {jobs: {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                    for p in sorted(root.rglob("*")) if p.is_file()} for jobs, root in roots.items()}
    assert files[2] == files[1] and len([name for name in files[1] if name.endswith(".bin")]) == 3


@pytest.mark.slow
def test_a_dask_local_cluster_gives_the_reference_cache(reference, broken_root, tmp_path, capsys):
    from distributed import LocalCluster

    root = tmp_path / "kitti"
    shutil.copytree(broken_root, root)
    with LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None) as local:
        code = main(["prepare", "--dataset", "semantickitti", "--root", str(root),
                     "--dask-scheduler", local.scheduler_address])
    _check_like_reference(reference, code, capsys.readouterr().out, root / ".cache")


@pytest.mark.slow
def test_a_separately_started_scheduler_and_worker_give_the_reference_cache(reference, broken_root, tmp_path, capsys):
    from distributed import Client

    root = tmp_path / "kitti"
    shutil.copytree(broken_root, root)
    dask = str(Path(sys.executable).with_name("dask"))
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = open(tmp_path / "dask.log", "w")  # noqa: SIM115 (closed in the finally)
    started = []
    try:
        started.append(subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                         "--no-dashboard"], stdout=logs, stderr=logs))
        started.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-nanny",
                                         "--no-dashboard", "--host", "127.0.0.1"], stdout=logs, stderr=logs))
        deadline = time.monotonic() + 120
        while True:  # the scheduler takes a moment to listen
            try:
                client = Client(address, timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "dask.log").read_text()
                time.sleep(0.5)
        with client:
            client.wait_for_workers(1, timeout=120)
        code = main(["prepare", "--dataset", "semantickitti", "--root", str(root), "--dask-scheduler", address])
        _check_like_reference(reference, code, capsys.readouterr().out, root / ".cache")
    finally:
        for process in reversed(started):
            process.terminate()
        for process in reversed(started):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        logs.close()


def test_params_prepare_every_preset_k_and_scoring_their_runs_use(broken_root, tmp_path, capsys):
    root = tmp_path / "kitti"
    shutil.copytree(broken_root, root)
    for name in ("000090", "000091", "000092"):  # only good scans here
        (root / "sequences" / "00" / "velodyne" / f"{name}.bin").unlink()
        (root / "sequences" / "00" / "labels" / f"{name}.label").unlink()
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({
        "dataset": {"name": "semantickitti", "root": str(root), "knn": 16, "max_train_scans": 3},
        "active": {"strategy": ["RAND", "ReDAL"], "scoring": ["official", "paper"]},
    }))
    assert main(["prepare", "--params", str(params)]) == 0
    out = capsys.readouterr().out
    assert "regions semantickitti (first 3 scans); cues k=16 official (first 3 scans), k=16 paper" in out
    train = build_dataset("semantickitti", root, "train")
    for i in range(len(train)):
        wanted = i < 3
        assert (region_key(train, i, "semantickitti") in train.cache) is wanted
        assert (cue_key(train, i, 16, "official") in train.cache) is wanted
        assert (cue_key(train, i, 16, "paper") in train.cache) is wanted
        assert cue_key(train, i, 50, "official") not in train.cache  # the runs use k = 16 only
    assert _counts(out)[0] == 6 + 3 * 3  # every scan read, 3 x (regions + two cue scales)

    # with --dataset too: the union of both (the command line's k = 50 cues on every training scan)
    assert main(["prepare", "--params", str(params), "--dataset", "semantickitti", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert _counts(out)[:2] == (5 * 2 - 3, 6 + 3 * 3)  # regions of scans 3, 4 and k = 50 cues of all five
    assert out.count("semantickitti under") == 2  # one root (listed, then summarised), prepared once


def test_params_with_grid_regions_prepare_the_grid_cells(broken_root, tmp_path, capsys):
    root = tmp_path / "kitti"
    shutil.copytree(broken_root, root)
    params = tmp_path / "grid.yaml"
    params.write_text(yaml.safe_dump({"dataset": {"name": "semantickitti", "root": str(root)},
                                      "regions": {"division": "grid", "grid_size": 0.5},
                                      "active": {"strategy": "RAND"}}))
    assert main(["prepare", "--params", str(params)]) == 1  # the three broken scans
    assert "training scans: regions grid 0.5 m; cues none" in capsys.readouterr().out
    train = build_dataset("semantickitti", root, "train")
    good = [i for i, name in enumerate(train.scan_names) if name not in _BAD]
    for i in good:
        assert region_key(train, i, "semantickitti", division="grid", cell=0.5) in train.cache
        assert region_key(train, i, "semantickitti") not in train.cache  # no VCCS: the runs use the grid


@pytest.mark.parametrize(("args", "message"), [
    (["--jobs", "0", "--dataset", "semantickitti", "--root", "."], "--jobs must be an integer >= 1"),
    (["--jobs", "2", "--dask-scheduler", "tcp://h:1", "--dataset", "semantickitti", "--root", "."],
     "--jobs 2 sizes the local process pool; with --dask-scheduler"),
    ([], "give --dataset and --root (one dataset), --params PARAMS.yaml"),
    (["--dataset", "semantickitti"], "--dataset and --root go together (--root is missing)"),
    (["--params", "p.yaml", "--scans", "3"], "--scans and --seed generate the --dataset"),
])
def test_bad_arguments_are_one_line(args, message, capsys):
    assert main(["prepare", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("redal prepare: error: ") and message in err and err.count("\n") == 1, err


def test_bad_fault_hook_value_is_named(broken_root, monkeypatch, capsys):
    monkeypatch.setenv("REDAL_PREPARE_FAULT", "soon")
    assert main(["prepare", "--dataset", "semantickitti", "--root", str(broken_root)]) == 2
    assert "REDAL_PREPARE_FAULT='soon' must be a positive integer" in capsys.readouterr().err


# -- Dask: connection and watching (shared with the sweep) -----------------------------------------------------
@pytest.fixture
def quick_timeout(monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 2.0)


def test_unreachable_scheduler_is_one_line_for_prepare(broken_root, quick_timeout, capsys):
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    assert main(["prepare", "--dataset", "semantickitti", "--root", str(broken_root), "--dask-scheduler", address]) == 2
    assert time.monotonic() - started < 15
    err = capsys.readouterr().err
    assert err.startswith(f"redal prepare: error: no Dask scheduler at {address}: nothing answered within 2 s")
    assert err.count("\n") == 1 and "Traceback" not in err, err


def test_unreachable_scheduler_is_one_line_for_sweep(broken_root, tmp_path, quick_timeout, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({"results_dir": str(tmp_path / "results"),
                                      "dataset": {"name": "semantickitti", "root": str(broken_root)},
                                      "active": {"strategy": "RAND"}}))
    address = f"tcp://127.0.0.1:{_free_port()}"
    assert main(["sweep", str(params), "--dask-scheduler", address]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"redal sweep: error: no Dask scheduler at {address}: nothing answered within 2 s")
    assert err.count("\n") == 1 and "Traceback" not in err, err


def test_malformed_address_is_named():
    with pytest.raises(cluster.SchedulerUnreachable, match=r"^no Dask scheduler at localhost: .*port"):
        cluster.connect("localhost", timeout=1)
    with pytest.raises(ValueError, match="must be a string such as tcp://HOST:8786"):
        cluster.connect("  ")


def test_worker_watch_names_lost_workers_and_says_when_none_is_connected():
    watch = cluster.WorkerWatch("tcp://s:8786", idle_after=30, start=0.0, unit="run")
    assert watch.update({}, 29.0, pending=3) == []
    [line] = watch.update({}, 31.0, pending=3)
    assert line == ("dask: no worker has been connected to the scheduler at tcp://s:8786 for 31 s and 3 run(s) "
                    "are pending; start one with: dask worker tcp://s:8786")
    assert watch.update({}, 90.0, pending=3) == []  # once per stretch without workers
    workers = {"tcp://w1:1": {"name": "tcp://w1:1"}, "tcp://w2:2": {"name": "gpu-2"}}
    assert watch.update(workers, 91.0, pending=3) == []
    assert watch.update({"tcp://w1:1": {}}, 92.0, pending=3) == [
        "dask: worker gpu-2 (tcp://w2:2) was lost (1 worker(s) left)"]
    assert watch.update({}, 93.0, pending=0) == ["dask: worker tcp://w1:1 was lost (0 worker(s) left)"]
    assert watch.update({}, 200.0, pending=0) == []  # nothing pending: nothing to say
    assert watch.update({}, 200.0, pending=1)[0].startswith("dask: no worker has been connected")


def test_watching_a_real_scheduler():
    from distributed import LocalCluster

    lines: list[str] = []
    with LocalCluster(n_workers=0, processes=False, protocol="tcp", host="127.0.0.1",
                      dashboard_address=":0") as local:
        client = cluster.connect(local.scheduler_address)
        with client, cluster.watching(client, local.scheduler_address, pending=lambda: 1, log=lines.append,
                                      idle_after=0.3, poll_s=0.1):
            _wait_for(lambda: any("no worker has been connected" in line for line in lines))
            local.scale(1)
            client.wait_for_workers(1, timeout=30)
            time.sleep(0.3)
            local.scale(0)
            _wait_for(lambda: any("was lost" in line for line in lines))
    assert f"start one with: dask worker {local.scheduler_address}" in lines[0]
    assert re.match(r"dask: worker .*tcp://127\.0\.0\.1:\d+.* was lost \(0 worker\(s\) left\)", lines[1]), lines


def _wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
