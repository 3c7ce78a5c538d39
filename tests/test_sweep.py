"""Sweep machinery: grid expansion, kernel, skip/resume, failure isolation, process pool and Dask.

The machinery is exercised with a small stand-in run notebook (written here) that records rounds the
way the loop does, so these tests do not train; notebook 02 itself runs in test_notebooks.py.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from redal_core import sweep
from redal_core.config import RunConfig
from redal_core.threads import available_cores

STAND_IN = '''
import json, os, pathlib, yaml
config = yaml.safe_load(config_yaml)
run_dir = pathlib.Path(config["results_dir"]) / "runs" / config["run_id"]
rounds_csv = run_dir / "rounds.csv"
done = rounds_csv.read_text().splitlines()[1:] if rounds_csv.exists() else []
start = len(done)
with open(run_dir / "executions.txt", "a") as log:
    log.write(f"{start} {os.environ['REDAL_THREADS']} {threads} {os.getcwd()}\\n")
if config["seed"] == 13:
    raise RuntimeError("planted failure for seed 13")
crash = run_dir / "crashed-once"
rows = done
K = config["active"]["rounds"]
for r in range(start, K + 1):
    rows.append(f"{r},{100 * (r + 1)},{1.0 + r},{(10.0 * (r + 1) + config['seed']) / 100}")
    rounds_csv.write_text("round,labeled_points,labeled_pct,miou\\n" + "\\n".join(rows) + "\\n")
    status = "complete" if r == K else "incomplete"
    (run_dir / "state.json").write_text(json.dumps({"last_round": r, "rounds": K, "status": status}))
    if config["active"]["alpha"] == 0.5 and not crash.exists():
        crash.touch()
        raise RuntimeError("planted crash after a round")
'''


def _stand_in(tmp_path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('config_yaml = ""\nthreads = 0')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(STAND_IN)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "stand_in.ipynb"
    nbformat.write(nb, path)
    return path


def _grid(tmp_path: Path, **active) -> dict:
    return {
        "results_dir": str(tmp_path / "results"),
        "seed": [0, 1],
        "dataset": {"name": "synthetic-indoor", "root": str(tmp_path / "data")},
        "model": {"name": "minkunet", "width": 0.25},
        "active": {"strategy": ["RAND", "ReDAL"], "rounds": 2, **active},
    }


def test_expand_grid_cartesian_product_in_key_order(tmp_path):
    runs = sweep.expand_grid(_grid(tmp_path))
    assert [r["run_id"] for r in runs] == [
        "synthetic-indoor-minkunet-rand-s0", "synthetic-indoor-minkunet-redal-s0",
        "synthetic-indoor-minkunet-rand-s1", "synthetic-indoor-minkunet-redal-s1",
    ]
    assert all(r["model"]["width"] == 0.25 and r["active"]["rounds"] == 2 for r in runs)
    assert RunConfig.from_dict(runs[0]).to_dict() == runs[0]


def test_expand_grid_names_keys_that_the_run_id_lacks(tmp_path):
    grid = _grid(tmp_path)
    grid["seed"] = 0
    grid["model"]["width"] = [0.25, 0.5]
    grid["active"]["strategy"] = "ENT+Region+Color/Structure"
    ids = [r["run_id"] for r in sweep.expand_grid(grid)]
    assert ids == ["synthetic-indoor-minkunet-ent_region_color-structure-s0-width0.25",
                   "synthetic-indoor-minkunet-ent_region_color-structure-s0-width0.5"]
    grid["run_id"] = "fixed"
    with pytest.raises(ValueError, match="would both write run_id 'fixed'"):
        sweep.expand_grid(grid, source="p.yaml")


def test_expand_grid_errors_name_the_file_and_key(tmp_path):
    grid = _grid(tmp_path)
    grid["active"]["x_init"] = [3.0, 150.0]
    with pytest.raises(ValueError, match=r"p\.yaml.*active\.x_init=150\.0.*x_init"):
        sweep.expand_grid(grid, source="p.yaml")
    grid = _grid(tmp_path)
    grid["active"]["strategy"] = []
    with pytest.raises(ValueError, match="p.yaml: key 'active.strategy' is an empty list"):
        sweep.expand_grid(grid, source="p.yaml")
    grid = _grid(tmp_path)
    grid["model"]["depth"] = [1, 2]
    with pytest.raises(ValueError, match="unknown key 'depth'.*valid keys: name, width, backend"):
        sweep.expand_grid(grid, source="p.yaml")


def test_load_params_splits_and_checks_the_figures_section(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({**_grid(tmp_path), "figures": {"budget_pct": 5}}))
    grid, figures = sweep.load_params(path)
    assert figures == {"budget_pct": 5} and "figures" not in grid
    path.write_text(yaml.safe_dump({"figures": {"budget": 5}}))
    with pytest.raises(ValueError, match="unknown key 'budget' in section 'figures'"):
        sweep.load_params(path)
    path.write_text(yaml.safe_dump({"figures": {"budget_pct": 0}}))
    with pytest.raises(ValueError, match="figures.budget_pct"):
        sweep.load_params(path)


def test_every_shipped_params_file_expands():
    params = Path(sweep.REPO) / "params"
    files = sorted(params.glob("*.yaml"))
    assert {p.name for p in files} >= {"demo.yaml", "ablation.yaml", "s3dis_minkunet.yaml", "s3dis_spvcnn.yaml",
                                       "semantickitti_minkunet.yaml", "semantickitti_spvcnn.yaml"}
    for path in files:
        grid, _ = sweep.load_params(path)
        runs = sweep.expand_grid(grid, source=str(path))
        assert runs, path
    demo = sweep.expand_grid(sweep.load_params(params / "demo.yaml")[0])
    assert {r["active"]["strategy"] for r in demo} == {"RAND", "ENT", "RAND+Region", "ENT+Region+Div", "ReDAL"}
    assert {r["seed"] for r in demo} == {0, 1} and all(r["active"]["rounds"] >= 3 for r in demo)
    assert len({(r["dataset"]["name"], r["model"]["name"]) for r in demo}) == 1
    paper = sweep.expand_grid(sweep.load_params(params / "semantickitti_spvcnn.yaml")[0])
    assert len(paper) == 8 * 3 and {r["active"]["x_init"] for r in paper} == {1.0}


def test_kernel_runs_this_interpreter():
    from jupyter_client.kernelspec import KernelSpecManager

    name = sweep.ensure_kernel()
    assert sweep.ensure_kernel() == name
    spec = KernelSpecManager().get_kernel_spec(name)
    assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve()


@pytest.mark.slow
def test_local_pool_skips_complete_runs_resumes_partial_ones_and_survives_failures(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    notebook = _stand_in(tmp_path)
    grid = _grid(tmp_path, alpha=[1.0, 0.5])
    grid["seed"] = [0, 13]
    grid["active"]["strategy"] = "RAND"
    configs = sweep.expand_grid(grid)
    ids = [c["run_id"] for c in configs]
    first = sweep.sweep(configs, jobs=2, notebook=notebook, echo=False, prepare=False)
    assert first.run.tolist() == ids
    status = dict(zip(first.run, first.status, strict=True))
    ok, crashing = "synthetic-indoor-minkunet-rand-s0-alpha1.0", "synthetic-indoor-minkunet-rand-s0-alpha0.5"
    assert status[ok] == "complete" and status[crashing] == "failed"
    assert "planted crash" in first.set_index("run").error[crashing]
    assert all(status[r] == "failed" for r in ids if "-s13-" in r)
    assert first.set_index("run").final_miou[ok] == pytest.approx(30.0) and first.set_index("run").rounds[ok] == 2
    results = tmp_path / "results" / "runs"
    assert (results / ok / "run.ipynb").is_file()
    executed = nbformat.read(results / ok / "run.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    mtime = (results / ok / "run.ipynb").stat().st_mtime_ns

    second = sweep.sweep(configs, jobs=1, notebook=notebook, echo=False, prepare=False)
    status = dict(zip(second.run, second.status, strict=True))
    assert status[ok] == "skipped" and status[crashing] == "complete"
    assert (results / ok / "run.ipynb").stat().st_mtime_ns == mtime
    starts = [line.split() for line in (results / crashing / "executions.txt").read_text().splitlines()]
    assert [s[0] for s in starts] == ["0", "1"]  # the second execution resumed after round 0
    assert starts[0][1] == starts[0][2] == str(max(1, (available_cores() - 1) // 2))  # threads per job: the rule
    assert Path(starts[0][3]) == tmp_path
    table = pd.read_csv(results / crashing / "rounds.csv")
    assert table["round"].tolist() == [0, 1, 2]


@pytest.mark.slow
def test_dask_local_cluster_runs_the_grid(tmp_path, monkeypatch):
    from distributed import LocalCluster

    monkeypatch.chdir(tmp_path)
    notebook = _stand_in(tmp_path)
    grid = _grid(tmp_path)
    grid["active"]["strategy"] = "RAND"
    configs = sweep.expand_grid(grid)
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        summary = sweep.sweep(configs, scheduler=cluster.scheduler_address, notebook=notebook, echo=False,
                              prepare=False)
    assert summary.status.tolist() == ["complete", "complete"]
    assert summary.final_miou.tolist() == pytest.approx([30.0, 31.0])
    for rid in summary.run:
        assert (tmp_path / "results" / "runs" / rid / "run.ipynb").is_file()


@pytest.mark.slow
def test_cli_sweep_writes_the_summary_and_fails_on_a_failed_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    notebook = _stand_in(tmp_path)
    grid = _grid(tmp_path)
    grid["seed"] = [0, 13]
    grid["active"]["strategy"] = "RAND"
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(grid))
    script = (
        "import sys, redal_core.sweep as s; from pathlib import Path; "
        f"s.RUN_NOTEBOOK = Path({str(notebook)!r}); "
        "s.sweep.__kwdefaults__['notebook'] = s.RUN_NOTEBOOK; s.sweep.__kwdefaults__['prepare'] = False; "
        "from redal_core.cli import main; sys.exit(main(['sweep', 'p.yaml', '--jobs', '1']))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "sweep summary" in done.stdout and "planted failure for seed 13" in done.stdout
    summary = pd.read_csv(tmp_path / "results" / "sweep_summary.csv")
    assert summary.status.tolist() == ["complete", "failed"]
    assert json.loads(json.dumps(summary.columns.tolist())) == sweep.SUMMARY_COLUMNS


@pytest.mark.slow
def test_a_killed_sweep_leaves_no_worker_or_kernel_behind(tmp_path, session_members, process_alive):
    import signal
    import time

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('config_yaml = ""\nthreads = 0')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "import os, pathlib, time, yaml\nconfig = yaml.safe_load(config_yaml)\n"
        "(pathlib.Path(config['results_dir']) / f\"started-{config['seed']}\").write_text(str(os.getpid()))\n"
        "time.sleep(600)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "sleeps.ipynb")
    grid = _grid(tmp_path)
    grid["active"]["strategy"] = "RAND"
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(grid))
    script = (
        "import sys, redal_core.sweep as s; from pathlib import Path; "
        f"s.sweep.__kwdefaults__['notebook'] = Path({str(tmp_path / 'sleeps.ipynb')!r}); "
        "s.sweep.__kwdefaults__['prepare'] = False; "
        "from redal_core.cli import main; sys.exit(main(['sweep', 'p.yaml', '--jobs', '2']))"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    results, kernels = tmp_path / "results", []
    try:
        deadline = time.monotonic() + 240
        while len(list(results.glob("started-*"))) < 2:  # both runs' kernels are executing their notebook
            assert parent.poll() is None and time.monotonic() < deadline, "the sweep did not start both runs"
            time.sleep(0.5)
        kernels = [int(p.read_text()) for p in results.glob("started-*")]  # in sessions of their own
        assert all(process_alive(pid) for pid in kernels) and len(session_members(parent.pid)) > 1
        parent.kill()
        parent.wait(timeout=30)
        deadline = time.monotonic() + 30
        while (session_members(parent.pid) or any(map(process_alive, kernels))) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert session_members(parent.pid) == []  # the pool's workers left with the sweep
        assert not any(map(process_alive, kernels))  # and their notebook kernels with them
    finally:
        for pid in [*session_members(parent.pid), *(k for k in kernels if process_alive(k))]:
            os.kill(pid, signal.SIGKILL)


@settings(max_examples=25, deadline=None)
@given(
    seeds=st.lists(st.integers(0, 50), min_size=1, max_size=3, unique=True),
    strategies=st.lists(st.sampled_from(["RAND", "ENT", "RAND+Region", "ENT+Region+Div", "ReDAL"]),
                        min_size=1, max_size=3, unique=True),
    widths=st.lists(st.sampled_from([0.125, 0.25, 0.5, 1.0]), min_size=1, max_size=2, unique=True),
)
def test_expand_grid_is_the_cartesian_product(seeds, strategies, widths):
    grid = {"seed": seeds, "model": {"width": widths}, "active": {"strategy": strategies}}
    runs = sweep.expand_grid(grid)
    combos = [(r["seed"], r["model"]["width"], r["active"]["strategy"]) for r in runs]
    assert sorted(combos) == sorted(itertools.product(seeds, widths, strategies))
    assert len({r["run_id"] for r in runs}) == len(runs)  # every run gets its own folder
