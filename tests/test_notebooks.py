"""Every notebook executed by papermill with tiny parameters, asserting on the files it writes.

One tiny synthetic study is shared by the module: notebook 02 runs through ``sweep.sweep`` (the real
template, kernel and papermill path of ``redal sweep``), then ``render_figures`` executes 03-05 over it and
06 explores one of its runs. 00 and 01 run on their own tiny parameters.
"""

from __future__ import annotations

import nbformat
import pandas as pd
import pytest

from redal_core import sweep

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("notebooks")]

NOTEBOOKS = sweep.NOTEBOOKS
TINY = {"scans": 7, "seed": 0, "points_per_room": 1500}


def test_notebooks_are_committed_clean():
    names = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert names == ["00_quickstart", "01_prepare_dataset", "02_active_learning_run", "03_compare_strategies",
                     "04_per_class_tables", "05_ablation", "06_explore_selection"]
    for path in NOTEBOOKS.glob("*.ipynb"):
        book = nbformat.read(path, as_version=4)
        tagged = [c for c in book.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: exactly one cell tagged 'parameters'"
        for cell in book.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name} is committed with outputs"


def _execute(name: str, out, **parameters):
    import papermill

    target = out / f"{name}.ipynb"
    papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(target), parameters=parameters,
                               kernel_name=sweep.ensure_kernel(), progress_bar=False, cwd=str(out))
    return nbformat.read(target, as_version=4)


def _text(book) -> str:
    chunks = []
    for cell in book.cells:
        for output in cell.get("outputs", []):
            chunks.append(output.get("text", ""))
            chunks.append(str(output.get("data", {}).get("text/markdown", "")))
            chunks.append(str(output.get("data", {}).get("text/plain", "")))
    return "\n".join(chunks)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Two strategies x one seed, one selection round, executed with notebook 02 via the sweep."""
    tmp = tmp_path_factory.mktemp("study")
    grid = {
        "seed": 0,
        "results_dir": str(tmp / "results"),
        "dataset": {"name": "synthetic-indoor", "root": str(tmp / "data"), "generate": TINY, "knn": 8},
        "model": {"name": "minkunet", "width": 0.125, "backend": "torch"},
        "train": {"epochs_init": 1, "epochs_finetune": 1, "batch_size": 4, "device": "cpu"},
        "active": {"strategy": ["RAND", "ReDAL"], "x_init": 20.0, "x_active": 5.0, "rounds": 1, "clusters": 5},
    }
    configs = sweep.expand_grid(grid, source="tiny study")
    summary = sweep.sweep(configs, jobs=1, echo=False)
    return tmp, configs, summary


def test_02_runs_every_combination_through_the_sweep(study):
    tmp, configs, summary = study
    assert summary.status.tolist() == ["complete", "complete"], summary.to_dict("records")
    assert (summary.rounds == 1).all() and summary.final_miou.between(0, 100).all()
    for config in configs:
        run_dir = tmp / "results" / "runs" / config["run_id"]
        for name in ("run.ipynb", "params.yaml", "rounds.csv", "per_class.csv", "class_distribution.csv",
                     "selections/round_00.csv", "label_state.npz", "state.json"):
            assert (run_dir / name).is_file(), name
        executed = nbformat.read(run_dir / "run.ipynb", as_version=4)
        assert config["run_id"] in _text(executed) and "complete" in _text(executed)
        assert pd.read_csv(run_dir / "rounds.csv")["round"].tolist() == [0, 1]
    again = sweep.sweep(configs, jobs=1, echo=False)
    assert again.status.tolist() == ["skipped", "skipped"]


def test_03_to_05_write_figures_and_tables(study):
    tmp, configs, _ = study
    written = sweep.render_figures(configs)
    names = {p.name for p in written}
    combo = "synthetic-indoor_minkunet"
    assert {f"compare_{combo}.png", f"compare_{combo}.svg", f"ablation_{combo}.png", f"ablation_{combo}.svg",
            "final_miou.csv", "final_miou.md", f"per_class_{combo}.csv", f"per_class_{combo}.md",
            f"class_distribution_{combo}.csv", f"class_distribution_{combo}.md"} <= names
    for path in written:
        assert path.stat().st_size > 100, path
    final = pd.read_csv(tmp / "results" / "tables" / "final_miou.csv")
    assert set(final.strategy) == {"RAND", "ReDAL"} and (final.seeds == 1).all()
    note = (tmp / "results" / "tables" / "final_miou.md").read_text()
    assert "synthetic-indoor / minkunet:" in note and ("BEAT" in note or "NOT" in note or "no clear winner" in note)
    assert note.startswith("## Final mIoU (%) per strategy, one seed\n") and "+-" not in note  # n = 1: the mean alone
    per_class = pd.read_csv(tmp / "results" / "tables" / f"per_class_{combo}.csv")
    assert list(per_class.columns[:5]) == ["source", "strategy", "labeled_pct", "seeds", "mIoU"]
    assert "ceiling" in per_class.columns and set(per_class.source) == {"ours"}
    for name in sweep.FIGURE_NOTEBOOKS:
        assert (tmp / "results" / "figures" / "notebooks" / f"{name}.ipynb").is_file()


def test_06_explores_a_selection(study):
    tmp, configs, _ = study
    assert configs[1]["active"]["strategy"] == "ReDAL"  # the study's one region-unit strategy
    out = tmp / "explore"
    # no run_dir: the notebook explores the best region strategy's run (not the alphabetically first, RAND)
    book = _execute("06_explore_selection", tmp, results_dir=str(tmp / "results"), max_points=2000, out_dir=str(out))
    assert f"{configs[1]['run_id']}: scan" in _text(book)
    views = sorted(p.stem.split("_", 1)[1] for p in out.glob("scan*.html"))
    assert views == ["errors", "ground_truth", "kmeans_clusters", "prediction", "region_score", "regions",
                     "selected_round"]
    assert (out / "plotly.min.js").is_file()
    assert "point accuracy on this scan" in _text(book)


def test_00_quickstart(study, tmp_path):
    data = study[0] / "data"  # the study's rooms (same generator arguments): generated and cached once
    book = _execute("00_quickstart", tmp_path, results_dir=str(tmp_path / "results"), data_root=str(data),
                    scans=TINY["scans"], points_per_room=TINY["points_per_room"], strategies=["RAND", "ENT"],
                    x_init=20.0, rounds=1, epochs_init=1, epochs_finetune=1, width=0.125)
    assert (tmp_path / "results" / "figures" / "quickstart_curves.png").is_file()
    final = pd.read_csv(tmp_path / "results" / "tables" / "quickstart_final_miou.csv")
    assert sorted(final.strategy) == ["ENT", "RAND"] and (final.rounds == 1).all()
    assert "synthetic-indoor / minkunet: no comparison" in _text(book)


def test_01_prepare_dataset(study, tmp_path):
    out = tmp_path / "prepare"
    _execute("01_prepare_dataset", tmp_path, root=str(study[0] / "data"), scans=TINY["scans"],
             points_per_room=TINY["points_per_room"], knn=8, histogram_scans=3, max_points=2000, out_dir=str(out))
    html = sorted(p.name for p in out.glob("*.html"))
    for view in ("regions", "color_discontinuity", "surface_variation", "ground_truth"):
        assert sum(name.endswith(f"_{view}.html") for name in html) == 1, (view, html)
    assert (out / "region_sizes.png").is_file() and (out / "region_sizes.svg").is_file()


def test_export_of_a_scan_level_selection(study):
    """RAND selects whole scans: each exported scan's selected points are the regions that scan had unlabeled."""
    from plyfile import PlyData

    from redal_core import annotate
    from redal_core.active.pool import LabelState

    tmp, configs, _ = study
    run_dir = tmp / "results" / "runs" / configs[0]["run_id"]
    assert configs[0]["active"]["strategy"] == "RAND"
    manifest = annotate.export_round(run_dir, 0, tmp / "export_rand")
    selection = pd.read_csv(run_dir / "selections" / "round_00.csv").sort_values("scan")
    assert (selection.region == -1).all() and [s["index"] for s in manifest["scans"]] == selection.scan.tolist()
    state = LabelState.load(run_dir / "checkpoints" / "label_state_01.npz")
    for entry, row in zip(manifest["scans"], selection.itertuples(), strict=True):
        assert entry["units"] == [-1]
        vertex = PlyData.read(str(tmp / "export_rand" / entry["file"]), mmap=False)["vertex"].data
        labeled_in_1 = set(state.units_labeled_in(1)[1][state.units_labeled_in(1)[0] == row.scan].tolist())
        chosen = vertex["selected"] == 1
        assert set(vertex["region"][chosen].tolist()) == labeled_in_1 == set(entry["selected_regions"])
        assert chosen.sum() == row.points and len(vertex) == entry["total_points"]


def test_02_through_a_dask_local_cluster(study):
    """The real run template on a Dask LocalCluster (2 worker processes, 1 thread each)."""
    from distributed import LocalCluster

    tmp, configs, _ = study
    moved = [{**c, "results_dir": str(tmp / "dask_results")} for c in configs]
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        summary = sweep.sweep(moved, scheduler=cluster.scheduler_address, echo=False)
    assert summary.status.tolist() == ["complete", "complete"], summary.to_dict("records")
    local = pd.read_csv(tmp / "results" / "runs" / configs[1]["run_id"] / "rounds.csv")
    remote = pd.read_csv(tmp / "dask_results" / "runs" / configs[1]["run_id"] / "rounds.csv")
    pd.testing.assert_series_equal(local.labeled_points, remote.labeled_points)  # same selections
