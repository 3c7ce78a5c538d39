"""The thread policy (redal_core.threads) and backends that cannot load (reported, never fatal).

Thread counts are process-wide and sized once, so every check that depends on a fresh process runs in a
subprocess with ``NUMBA_THREADING_LAYER`` set explicitly (a machine without libtbb uses ``omp``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import yaml

from redal_core.results import RunPaths
from redal_core.threads import available_cores, resolve_threads, thread_env

REPO = Path(__file__).resolve().parents[1]


def _python(code: str, *, env_extra: dict[str, str] | None = None, drop=("REDAL_THREADS",),
            pythonpath: list[str] | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in drop}
    env.update(env_extra or {})
    env["PYTHONPATH"] = os.pathsep.join([*(pythonpath or []), str(REPO)])
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=300)


def test_resolve_threads_rule(monkeypatch):
    monkeypatch.delenv("REDAL_THREADS", raising=False)
    assert resolve_threads(None) == max(1, available_cores() - 1)  # one core left free (benchmarks/threads.py)
    assert resolve_threads(None, jobs=available_cores() * 4) == 1  # never 0
    assert resolve_threads(3) == 3  # train.threads
    monkeypatch.setenv("REDAL_THREADS", "5")
    assert resolve_threads(3) == 5  # REDAL_THREADS overrides the config
    monkeypatch.setenv("REDAL_THREADS", "two")
    with pytest.raises(ValueError, match=r"REDAL_THREADS='two' must be a positive integer"):
        resolve_threads(None)
    monkeypatch.delenv("REDAL_THREADS")
    with pytest.raises(ValueError, match="jobs must be an integer >= 1"):
        resolve_threads(None, jobs=0)
    assert set(thread_env(2).values()) == {"2"} and "NUMBA_NUM_THREADS" in thread_env(2)


@pytest.mark.parametrize("layer", ["omp", "workqueue"])
def test_computing_regions_does_not_change_torch_threads(layer):
    """The defect of issue 9, in a fresh process: torch at 1 thread, then region features (numba, parallel)."""
    proc = _python(
        """
        import numpy as np, torch
        torch.set_num_threads(1)
        torch.ones(64, 64) @ torch.ones(64, 64)  # torch's pool is up, as in a run that built its model
        from redal_core.regions import region_features
        from redal_core.regions.vccs import VCCS_PRESETS, vccs
        xyz = np.random.default_rng(0).uniform(0, 4, (4000, 3))
        vccs(xyz, None, **{**VCCS_PRESETS["semantickitti"], "color_weight": 0.0})
        region_features(xyz, None, k=8)
        import numba
        print(torch.get_num_threads(), numba.threading_layer())
        """,
        env_extra={"NUMBA_THREADING_LAYER": layer},
        drop=("REDAL_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["1", layer]


def test_apply_threads_holds_every_pool_and_the_report_says_so():
    proc = _python(
        """
        import json, numpy as np, torch
        torch.ones(64, 64) @ torch.ones(64, 64)
        from redal_core.threads import apply_threads, thread_report
        apply_threads(1)
        from redal_core.regions import region_features
        region_features(np.random.default_rng(0).uniform(0, 1, (2000, 3)), None, k=8)
        print(json.dumps(thread_report()))
        """,
        env_extra={"NUMBA_THREADING_LAYER": "omp"},
        drop=("REDAL_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["torch_intra_op"] == 1 and report["numba"] == 1
    assert report["numba_threading_layer"] == "omp"
    assert report["numba_pool"] == available_cores()
    assert report["openmp_blas"] and set(report["openmp_blas"].values()) == {1}


def test_a_prepare_worker_computes_cues_at_its_count_without_importing_torch():
    proc = _python(
        """
        import json, sys, numpy as np
        import numba
        from redal_core.threads import apply_threads
        apply_threads(1, load_torch=False)
        from redal_core.regions import region_features
        region_features(np.random.default_rng(0).uniform(0, 1, (2000, 3)), None, k=8)
        print(json.dumps({"torch": "torch" in sys.modules, "numba": numba.get_num_threads()}))
        """,
        env_extra={"NUMBA_THREADING_LAYER": "omp"},
        drop=("REDAL_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"torch": False, "numba": 1}


def test_current_threads_and_scikit_learn_loaded_after_apply_threads():
    """current_threads reads the applied count without starting a pool; scikit-learn, imported after
    apply_threads (its OpenMP runtime then starts at every core), is held at that count inside the fit."""
    proc = _python(
        """
        import json, os, sys
        import numpy as np
        from redal_core.threads import available_cores, current_threads
        first = current_threads()                      # nothing started: the cores
        os.environ["REDAL_THREADS"] = "3"
        second = current_threads()                     # REDAL_THREADS
        started = "numba.np.ufunc.parallel" in sys.modules and sys.modules["numba.np.ufunc.parallel"]._is_initialized
        import torch
        from redal_core.threads import apply_threads
        apply_threads(1)
        third = current_threads()                      # the applied count wins over REDAL_THREADS
        from sklearn.cluster import KMeans
        from threadpoolctl import threadpool_info
        seen = []
        fit_predict = KMeans.fit_predict
        def recording(self, *a, **k):
            seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp")
            return fit_predict(self, *a, **k)
        KMeans.fit_predict = recording
        from redal_core.active.diversity import cluster_regions
        cluster_regions(np.random.default_rng(0).normal(size=(60, 3)), 3, 0)
        print(json.dumps([first == available_cores(), second, bool(started), third, seen]))
        """,
        env_extra={"NUMBA_THREADING_LAYER": "omp"},
        drop=("REDAL_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    first, second, started, third, seen = json.loads(proc.stdout.splitlines()[-1])
    assert first and second == 3 and not started and third == 1
    assert seen and set(seen) == {1}, seen


def test_a_resume_at_another_thread_count_warns_naming_both(tmp_path):
    from redal_core.active.environment import check_resume_threads

    paths = RunPaths(tmp_path / "runs" / "r")
    paths.root.mkdir(parents=True)
    paths.env.write_text(json.dumps({"threads": 1}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_resume_threads(paths, 1)  # same count: silent
    with pytest.warns(UserWarning, match=r"resuming at 2 thread\(s\), but the run started at 1 .*REDAL_THREADS=1"):
        check_resume_threads(paths, 2)


# -- backends that cannot load ---------------------------------------------------------------------------
BROKEN_TORCHSPARSE = '''
"""A planted torchsparse: importable, but its import fails the way 2.1 does on a CPU-only torch."""
raise AssertionError("Torch not compiled with CUDA enabled")
'''


@pytest.fixture()
def broken_torchsparse(tmp_path) -> Path:
    folder = tmp_path / "planted"
    (folder / "torchsparse").mkdir(parents=True)
    (folder / "torchsparse" / "__init__.py").write_text(BROKEN_TORCHSPARSE)
    return folder


def test_a_backend_whose_import_raises_is_listed_unavailable_with_the_reason(broken_torchsparse):
    proc = _python(
        """
        import json
        from redal_core.models import available_backends, get_backend
        from redal_core.models.sparse import backend_status
        print(json.dumps({"available": available_backends(), "status": backend_status(),
                          "auto": get_backend("auto").name}))
        """,
        pythonpath=[str(broken_torchsparse)],
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "torch" in out["available"] and "torchsparse" not in out["available"]
    assert out["status"]["torchsparse"] == (
        "sparse backend 'torchsparse' failed to load: AssertionError: Torch not compiled with CUDA enabled")
    assert out["auto"] in out["available"]


def test_redal_run_naming_a_broken_backend_fails_with_its_reason(tmp_path, broken_torchsparse):
    config = {
        "results_dir": str(tmp_path / "results"),
        "dataset": {"name": "synthetic-indoor", "root": str(tmp_path / "rooms"), "knn": 8,
                    "generate": {"scans": 6, "points_per_room": 500, "seed": 0}},
        "model": {"name": "minkunet", "width": 0.125, "backend": "torchsparse"},
        "train": {"epochs_init": 1, "epochs_finetune": 1, "batch_size": 2, "device": "cpu"},
        "active": {"strategy": "RAND", "x_init": 20.0, "x_active": 10.0, "rounds": 1},
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = _python(f"import sys; from redal_core.cli import main; sys.exit(main(['run', {str(path)!r}]))",
                   pythonpath=[str(broken_torchsparse)])
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        "redal run: error: sparse backend 'torchsparse' failed to load: AssertionError: Torch not compiled with "
        "CUDA enabled")


def test_a_backend_that_fails_at_first_use_is_unavailable(monkeypatch):
    from redal_core.models.sparse import backends
    from redal_core.models.sparse.backend_torch import TorchBackend

    class Broken(TorchBackend):
        name = "broken"

        def native_order(self) -> bool:
            return False

        def _subm3(self, x, weight):
            raise RuntimeError("no kernel image is available for execution on the device")

    monkeypatch.setitem(backends.BACKENDS._items, "broken", Broken)
    status = backends.backend_status()
    assert status["broken"] == ("sparse backend 'broken' loaded but its first convolution failed on cpu: "
                                "RuntimeError: no kernel image is available for execution on the device")
    assert "broken" not in backends.available_backends() and "torch" in backends.available_backends()
    with pytest.raises(backends.BackendUnavailable, match="first convolution failed"):
        backends.get_backend("broken")
