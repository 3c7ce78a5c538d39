"""plots.py from planted DataFrames in the read_runs format, and a headless-Chromium check of a 3D view."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redal_core import plots

CLASSES = ["ceiling", "floor", "wall", "chair"]


def _frames(dataset="synthetic-indoor", backbone="minkunet"):
    """Two strategies x two seeds x rounds 0..2 with planted mIoU values (% here, fractions in the frames)."""
    planted = {  # (strategy, seed) -> miou per round
        ("RAND", 0): [20.0, 30.0, 40.0],
        ("RAND", 1): [22.0, 34.0, 44.0],
        ("ReDAL", 0): [21.0, 41.0, 51.0],
        ("ReDAL", 1): [21.0, 45.0, 57.0],
    }
    rounds, per_class, dist = [], [], []
    for (strategy, seed), values in planted.items():
        run_id = f"{dataset}-{backbone}-{strategy.lower()}-s{seed}"
        for r, miou in enumerate(values):
            pct = 3.0 + 2.0 * r + 0.1 * seed
            common = dict(run_id=run_id, dataset=dataset, backbone=backbone, strategy=strategy, seed=seed, round=r)
            rounds.append(dict(common, labeled_points=1000 * (r + 1), labeled_pct=pct, miou=miou / 100,
                               wall_s=1.0, train_s=0.5, select_s=0.1))
            for k, name in enumerate(CLASSES):
                iou = np.nan if (name == "chair" and seed == 1) else (miou + k) / 100
                per_class.append(dict(common, **{"class": name, "iou": iou}))
                dist.append(dict(common, **{"class": name, "labeled_points": 10 * (k + 1), "permille": 100.0 * (k + 1) + seed}))
    return pd.DataFrame(rounds), pd.DataFrame(per_class), pd.DataFrame(dist)


def test_curve_stats_mean_and_sample_std():
    rounds, _, _ = _frames()
    stats = plots.curve_stats(rounds)
    row = stats[(stats.strategy == "ReDAL") & (stats["round"] == 2)].iloc[0]
    assert row.miou == pytest.approx(54.0)
    assert row.miou_std == pytest.approx(np.std([51.0, 57.0], ddof=1))
    assert row.labeled_pct == pytest.approx(7.05)
    assert row.seeds == 2
    single = plots.curve_stats(rounds[rounds.seed == 0])
    assert (single.miou_std == 0.0).all()


def test_compare_figure_draws_the_means_and_a_separate_paper_panel_for_synthetic():
    rounds, _, _ = _frames()
    figure = plots.plot_compare(rounds, dataset="synthetic-indoor", backbone="minkunet")
    ours, paper = figure.axes[0], figure.axes[1]
    lines = {line.get_label(): line for line in ours.get_lines()}
    assert set(lines) == {"RAND (n=2)", "ReDAL (n=2)"}
    np.testing.assert_allclose(lines["RAND (n=2)"].get_ydata(), [21.0, 32.0, 42.0])
    np.testing.assert_allclose(lines["RAND (n=2)"].get_xdata(), [3.05, 5.05, 7.05])
    paper_labels = {line.get_label() for line in paper.get_lines()}
    assert "ReDAL" in paper_labels and "MCDR" not in paper_labels  # s3dis / MinkowskiNet has no MCDR
    assert "NOT comparable" in figure._suptitle.get_text()


def test_compare_figure_overlays_the_paper_on_a_paper_combo():
    rounds, _, _ = _frames(dataset="s3dis", backbone="spvcnn")
    figure = plots.plot_compare(rounds, dataset="s3dis", backbone="spvcnn")
    assert len(figure.axes) == 1
    lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
    paper = lines["ReDAL (paper)"]
    assert paper.get_linestyle() == "--"
    np.testing.assert_allclose(paper.get_ydata()[:2], [27.86, 41.27])
    assert "RAND (paper)" in lines and "ENT (paper)" not in lines  # only the strategies we ran


def test_compare_rejects_a_missing_combo():
    rounds, _, _ = _frames()
    with pytest.raises(ValueError, match="no runs for s3dis x spvcnn"):
        plots.plot_compare(rounds, dataset="s3dis", backbone="spvcnn")
    with pytest.raises(ValueError, match="missing column"):
        plots.curve_stats(rounds.drop(columns=["miou"]))


def test_ablation_only_draws_ablation_strategies():
    rounds, _, _ = _frames()
    figure = plots.plot_ablation(rounds, dataset="synthetic-indoor", backbone="minkunet")
    assert {line.get_label() for line in figure.axes[0].get_lines()} == {"ReDAL (n=2)"}


def test_tables_at_a_budget(tmp_path):
    rounds, per_class, dist = _frames()
    chosen = plots.budget_rounds(rounds, 5.0)
    assert set(chosen["round"]) == {1}
    table = plots.per_class_table(per_class, rounds, dataset="synthetic-indoor", backbone="minkunet", budget_pct=5.0)
    redal = table[table.strategy == "ReDAL"].iloc[0]
    assert redal.mIoU == pytest.approx(43.0)
    assert redal.floor == pytest.approx(44.0)
    assert redal.chair == pytest.approx(41.0 + 3)  # seed 1's missing chair IoU is left out, not counted as 0
    assert list(table.columns[5:]) == CLASSES
    final = plots.per_class_table(per_class, rounds, dataset="synthetic-indoor", backbone="minkunet")
    assert final[final.strategy == "RAND"].iloc[0].mIoU == pytest.approx(42.0)
    distribution = plots.class_distribution_table(dist, rounds, dataset="synthetic-indoor", backbone="minkunet")
    assert distribution[distribution.strategy == "RAND"].iloc[0].wall == pytest.approx(300.5)
    paths = plots.write_table(table, tmp_path, "per_class", title="t")
    md = paths[1].read_text()
    assert md.startswith("## t\n\n| source | strategy | labeled_pct | seeds | mIoU | ceiling |")
    assert "| ours | ReDAL | 5.05 | 2 | 43.00 | 43.00 | 44.00 | 45.00 | 44.00 |" in md
    assert pd.read_csv(paths[0]).shape == table.shape
    assert plots.to_markdown(pd.DataFrame({"a": [np.nan, 1.0]})).splitlines()[2:] == ["| - |", "| 1.00 |"]


def test_paper_rows_join_semantickitti_minkunet_tables():
    rounds, per_class, dist = _frames(dataset="semantickitti", backbone="minkunet")
    table = plots.per_class_table(per_class, rounds, dataset="semantickitti", backbone="minkunet", budget_pct=5)
    paper = table[table.source == "paper"].set_index("strategy")
    assert paper.loc["ReDAL", "mIoU"] == 59.8 and paper.loc["ReDAL", "bicyclist"] == 84.1
    dtable = plots.class_distribution_table(dist, rounds, dataset="semantickitti", backbone="minkunet")
    assert dtable[dtable.source == "paper"].set_index("strategy").loc["ReDAL", "road"] == 168.16


def test_final_miou_table():
    rounds, _, _ = _frames()
    table = plots.final_miou_table(rounds)
    assert table.strategy.tolist() == ["ReDAL", "RAND"]
    redal = table.iloc[0]
    assert redal.miou == pytest.approx(54.0) and redal.gain == pytest.approx(33.0) and redal.rounds == 2
    md = plots.to_markdown(table)
    assert md.splitlines()[2].startswith("| synthetic-indoor | minkunet | ReDAL | 2 | 2 |")


def test_save_figure_and_region_histogram(tmp_path):
    region = np.repeat(np.arange(30), np.arange(1, 31))
    figure = plots.plot_region_sizes(region)
    png, svg = plots.save_figure(figure, tmp_path, "sizes")
    assert png.stat().st_size > 1000 and svg.read_text().lstrip().startswith("<?xml")
    assert "30 regions" in figure.axes[0].get_title()
    with pytest.raises(ValueError):
        plots.plot_region_sizes(np.array([-1, 0]))


def test_scatter3d_subsamples_reproducibly():
    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(5000, 3)).astype(np.float32)
    values = (xyz[:, 0] > 0).astype(np.int64)
    a = plots.scatter3d(xyz, values, categorical=True, max_points=700, rng=np.random.default_rng(1))
    b = plots.scatter3d(xyz, values, categorical=True, max_points=700, rng=np.random.default_rng(1))
    assert len(a.data[0].x) == 700
    np.testing.assert_array_equal(a.data[0].x, b.data[0].x)
    # colours follow the values: the two classes get two colours
    assert len(set(a.data[0].marker.color)) == 2
    cont = plots.scatter3d(xyz, xyz[:, 2], categorical=False, rng=rng)
    assert len(cont.data[0].x) == 5000
    with pytest.raises(ValueError, match="values must have shape"):
        plots.scatter3d(xyz, values[:10], categorical=True, rng=rng)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)")
def test_plotly_html_screenshot_is_not_blank(tmp_path):
    import matplotlib.image

    rng = np.random.default_rng(0)
    xyz = rng.uniform(0, 4, size=(4000, 3))
    figure = plots.scatter3d(xyz, (xyz[:, 0] * 3).astype(np.int64), categorical=True, rng=rng, point_size=4)
    html = plots.write_html(figure, tmp_path / "view.html")
    assert "plotly" in html.read_text()[:5_000_000].lower()
    png = tmp_path / "shot.png"
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}", "--window-size=800,600",
        "--virtual-time-budget=5000", html.as_uri(),
    ]
    subprocess.run(command, check=True, timeout=120, capture_output=True)
    image = matplotlib.image.imread(png)[..., :3]
    pixels = (image.reshape(-1, 3) * 255).round().astype(np.int64)
    background = np.all(pixels >= 250, axis=1)
    distinct = np.unique(pixels[:, 0] * 65536 + pixels[:, 1] * 256 + pixels[:, 2]).size
    assert (~background).mean() > 0.02, "the screenshot is (almost) all white"
    assert distinct > 20, f"only {distinct} distinct colours in the screenshot"


def test_verdict_is_honest_about_the_gap():
    rounds, _, _ = _frames()
    final = plots.final_miou_table(rounds)
    text = plots.verdict(final)
    assert "BEAT scan-level selection by 12.00 points" in text and "ReDAL 54.00" in text
    swapped = rounds.assign(strategy=rounds.strategy.map({"RAND": "ReDAL", "ReDAL": "RAND"}))
    assert "did NOT beat" in plots.verdict(plots.final_miou_table(swapped))
    close = final.assign(miou=[42.5, 42.0])
    assert "no clear winner" in plots.verdict(close)
    only = final[final.strategy == "RAND"]
    assert "no comparison" in plots.verdict(only)


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=6))
def test_curve_stats_matches_numpy_over_seeds(values):
    rows = [dict(run_id=f"r{s}", dataset="d", backbone="b", strategy="RAND", seed=s, round=0, labeled_pct=5.0,
                 miou=v) for s, v in enumerate(values)]
    stats = plots.curve_stats(pd.DataFrame(rows)).iloc[0]
    percent = np.asarray(values) * 100
    assert stats.miou == pytest.approx(percent.mean())
    assert stats.miou_std == pytest.approx(percent.std(ddof=1) if len(values) > 1 else 0.0, abs=1e-9)
    assert stats.seeds == len(values)


# -- one seed, paper rows, legends outside the data -------------------------------------------------------
def test_seeds_caption_and_mean_std():
    assert plots.seeds_caption(1) == "one seed"
    assert plots.seeds_caption([1, 1]) == "one seed"
    assert plots.seeds_caption([3, 3]) == "mean +- std over 3 seeds"
    assert plots.seeds_caption([3], spread=False) == "mean over 3 seeds"
    mixed = plots.seeds_caption([1, 3])
    assert "1-3 seeds" in mixed and "one seed: the mean alone" in mixed
    with pytest.raises(ValueError, match=">= 1"):
        plots.seeds_caption([0, 2])
    assert plots.format_mean_std(54.0, float("nan"), 1) == "54.00 (one seed)"
    assert plots.format_mean_std(54.0, 4.2426, 2) == "54.00 +- 4.24 (n=2)"


def test_one_seed_prints_the_mean_alone_and_says_so():
    rounds, _, _ = _frames()
    single = rounds[rounds.seed == 0]
    final = plots.final_miou_table(single)
    assert final.miou_std.isna().all() and (final.seeds == 1).all()
    row = plots.to_markdown(final).splitlines()[2].split(" | ")
    assert row[list(final.columns).index("miou_std")] == "-"  # not 0.00
    text = plots.verdict(final)
    assert "+-" not in text and "ReDAL 51.00 (one seed)" in text and "RAND 40.00 (one seed)" in text
    figure = plots.plot_compare(single, dataset="synthetic-indoor", backbone="minkunet")
    caption = figure._suptitle.get_text()
    assert "one seed" in caption and "+- std" not in caption and "band" not in caption
    assert len(figure.axes[0].collections) == 0  # no std band for one seed
    ablation = plots.plot_ablation(single, dataset="synthetic-indoor", backbone="minkunet")
    assert "one seed" in ablation._suptitle.get_text()
    # two seeds: mean +- std, with n stated
    two = plots.plot_compare(rounds, dataset="synthetic-indoor", backbone="minkunet")
    assert "mean +- std over 2 seeds (band)" in two._suptitle.get_text()
    assert len(two.axes[0].collections) == 2
    assert "ReDAL 54.00 +- 4.24 (n=2)" in plots.verdict(plots.final_miou_table(rounds))
    assert plots.final_miou_table(rounds).miou_std.notna().all()


def test_paper_full_row_is_full_supervision():
    rounds, per_class, dist = _frames(dataset="semantickitti", backbone="minkunet")
    table = plots.per_class_table(per_class, rounds, dataset="semantickitti", backbone="minkunet", budget_pct=5)
    paper = table[table.source == "paper"].set_index("strategy")
    assert paper.loc["Full", "labeled_pct"] == 100.0
    assert paper.loc["RAND", "labeled_pct"] == 5.0 and paper.loc["ReDAL", "labeled_pct"] == 5.0
    md = plots.to_markdown(table)
    assert "| paper | Full | 100.00 |" in md and "| paper | Full | 5.00 |" not in md
    dtable = plots.class_distribution_table(dist, rounds, dataset="semantickitti", backbone="minkunet")
    assert dtable[dtable.source == "paper"].set_index("strategy").loc["Full", "labeled_pct"] == 100.0


def _legend_boxes(figure):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure).draw()
    renderer = figure.canvas.get_renderer()
    boxes = []
    for ax in figure.axes:
        legend = ax.get_legend()
        assert legend is not None
        boxes.append((ax.get_window_extent(renderer), legend.get_window_extent(renderer)))
    return figure.bbox, boxes


@pytest.mark.parametrize("combo", [("semantickitti", "minkunet"), ("synthetic-outdoor", "minkunet"),
                                   ("s3dis", "spvcnn")])
def test_compare_legends_sit_outside_the_data(combo):
    dataset, backbone = combo
    rounds, _, _ = _frames(dataset=dataset, backbone=backbone)
    figures = [plots.plot_compare(rounds, dataset=dataset, backbone=backbone),
               plots.plot_ablation(rounds, dataset=dataset, backbone=backbone)]
    for figure in figures:
        page, boxes = _legend_boxes(figure)
        for axes_box, legend_box in boxes:
            assert not axes_box.overlaps(legend_box), (axes_box, legend_box)
            assert page.x0 <= legend_box.x0 and legend_box.x1 <= page.x1 + 1  # inside the figure, not cut off
            assert page.y0 <= legend_box.y0 and legend_box.y1 <= page.y1 + 1


# -- 3D views ---------------------------------------------------------------------------------------------
def _corners_in_view(scene) -> float:
    """The largest angle (radians) between the view axis and a corner of the scene's box, seen from the eye."""
    aspect = np.array([scene.aspectratio.x, scene.aspectratio.y, scene.aspectratio.z])
    eye = np.array([scene.camera.eye.x, scene.camera.eye.y, scene.camera.eye.z])
    center = np.array([scene.camera.center.x, scene.camera.center.y, scene.camera.center.z])
    axis = (center - eye) / np.linalg.norm(center - eye)
    corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * aspect / 2
    rays = corners - eye
    cosines = rays @ axis / np.linalg.norm(rays, axis=1)
    return float(np.arccos(np.clip(cosines, -1, 1)).max())


@pytest.mark.parametrize("extent", [(100.0, 60.0, 5.0), (6.0, 4.0, 3.0), (2.0, 30.0, 0.0)])
def test_3d_camera_fits_the_scene(extent):
    rng = np.random.default_rng(0)
    xyz = rng.uniform(0, 1, size=(3000, 3)) * np.array(extent) - 7.0
    figure = plots.scatter3d(xyz, xyz[:, 2], categorical=False, rng=rng)
    scene = figure.layout.scene
    assert scene.aspectmode == "manual"
    aspect = np.array([scene.aspectratio.x, scene.aspectratio.y, scene.aspectratio.z])
    expected = np.maximum(np.ptp(xyz, axis=0) / np.ptp(xyz, axis=0).max(), 0.02)
    np.testing.assert_allclose(aspect, expected, rtol=1e-9)
    # every corner of the data's box is inside the vertical field of view: nothing is cropped
    assert _corners_in_view(scene) <= plots.PLOTLY_FOVY / 2
    for name, i in (("xaxis", 0), ("yaxis", 1), ("zaxis", 2)):
        low, high = getattr(scene, name).range
        assert low <= xyz[:, i].min() and high >= xyz[:, i].max() and high > low


def test_scene_layout_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        plots.scene_layout(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        plots.scene_layout(np.array([[0.0, 0.0, np.nan]]))
    one = plots.scene_layout(np.ones((4, 3)))  # a single position still gets a box and a camera
    assert all(one[f"{a}axis"]["range"][1] > one[f"{a}axis"]["range"][0] for a in "xyz")


@pytest.mark.parametrize("dataset", ["s3dis", "semantickitti"])
def test_class_view_has_a_legend_in_the_dataset_colours(dataset):
    from redal_core.data.class_colors import class_colors

    colors = class_colors(dataset)
    names = list(colors)
    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(4000, 3))
    labels = rng.choice([0, 2, 5, -100], size=4000).astype(np.int64)
    figure = plots.scatter_classes(xyz, labels, class_names=names, colors=colors, rng=rng, max_points=1000)
    assert [t.name for t in figure.data] == [names[0], names[2], names[5], "ignored"]
    for trace in figure.data[:3]:
        r, g, b = colors[trace.name]
        assert trace.marker.color == f"rgb({r}, {g}, {b})"
    assert figure.data[3].marker.color == plots.UNSELECTED_COLOR
    assert sum(len(t.x) for t in figure.data) == 1000
    assert figure.layout.showlegend is True and figure.layout.legend.itemsizing == "constant"
    assert _corners_in_view(figure.layout.scene) <= plots.PLOTLY_FOVY / 2
    with pytest.raises(ValueError, match="no colour"):
        plots.scatter_classes(xyz, labels, class_names=[*names[:5], "unknown"], colors=colors, rng=rng)
    with pytest.raises(ValueError, match="has no name"):
        plots.scatter_classes(xyz, labels, class_names=names[:3], colors=colors, rng=rng)


def test_selection_view_draws_one_trace_per_round_and_greys_the_rest():
    rng = np.random.default_rng(0)
    region = np.repeat(np.arange(10), 200)
    xyz = rng.normal(size=(region.size, 3)) + region[:, None]
    by_region = np.full(10, -1)
    by_region[[2, 3]] = 0
    by_region[5] = 2
    figure = plots.scatter_selection(xyz, by_region[region], region, rng=rng, max_points=1500)
    names = [t.name for t in figure.data]
    assert names == ["round 0 (2 regions)", "round 2 (1 region)", "not selected"]
    grey = figure.data[2]
    assert grey.marker.color == plots.UNSELECTED_COLOR
    assert len({t.marker.color for t in figure.data}) == 3
    assert sum(len(t.x) for t in figure.data) == 1500
    # the grey points are exactly the subsample's points of never-selected regions
    never = np.isin(region, np.flatnonzero(by_region < 0))
    assert len(grey.x) == sum(len(t.x) for t in figure.data) - sum(len(t.x) for t in figure.data[:2])
    assert set(np.round(grey.x, 9)) <= set(np.round(xyz[never, 0], 9))
    assert figure.layout.showlegend is True
    with pytest.raises(ValueError, match="region has shape"):
        plots.scatter_selection(xyz, by_region[region], region[:10], rng=rng)


def _write_run(results, run_id, *, strategy, seed, mious, selections=True, dataset="synthetic-indoor"):
    import json

    import yaml

    run = results / "runs" / run_id
    (run / "selections").mkdir(parents=True)
    params = {"seed": seed, "dataset": {"name": dataset}, "model": {"name": "minkunet"},
              "active": {"strategy": strategy}}
    (run / "params.yaml").write_text(yaml.safe_dump(params))
    pd.DataFrame({"round": range(len(mious)), "labeled_points": 1, "labeled_pct": 5.0, "miou": mious,
                  "wall_s": 1.0, "train_s": 1.0, "eval_s": 0.0, "predict_s": 0.0, "select_s": 0.0}
                 ).to_csv(run / "rounds.csv", index=False)
    if selections:
        for r in range(len(mious) - 1):
            pd.DataFrame({"scan": [0], "scan_name": ["a"], "region": [r], "score": [1.0], "adjusted_score": [1.0],
                          "cluster": [-1], "points": [10]}).to_csv(run / "selections" / f"round_{r:02d}.csv", index=False)
    last = len(mious) - 1
    (run / "state.json").write_text(json.dumps({"last_round": last, "rounds": last, "status": "complete"}))
    return run


def test_best_region_run_is_the_best_region_strategy_not_the_first_run(tmp_path):
    results = tmp_path / "results"
    _write_run(results, "a-ent-s0", strategy="ENT", seed=0, mious=[0.2, 0.7])  # scan unit: never chosen
    _write_run(results, "b-randregion-s0", strategy="RAND+Region", seed=0, mious=[0.2, 0.50])
    _write_run(results, "b-randregion-s1", strategy="RAND+Region", seed=1, mious=[0.2, 0.30])
    _write_run(results, "c-redal-s1", strategy="ReDAL", seed=1, mious=[0.2, 0.47])
    _write_run(results, "c-redal-s0", strategy="ReDAL", seed=0, mious=[0.2, 0.45])
    _write_run(results, "d-nosel-s0", strategy="ENT+Region", seed=0, mious=[0.9], selections=False)
    # ReDAL has the best mean (46 vs 40 %); its lowest seed's run is explored
    assert plots.best_region_run(results) == results / "runs" / "c-redal-s0"
    with pytest.raises(FileNotFoundError, match="no run with a selection"):
        plots.best_region_run(results, dataset="s3dis")
    only_scan = tmp_path / "scan_only"
    _write_run(only_scan, "a-ent-s0", strategy="ENT", seed=0, mious=[0.2, 0.7])
    with pytest.raises(ValueError, match="no region-unit strategy.*ENT"):
        plots.best_region_run(only_scan)
