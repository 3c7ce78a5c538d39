"""Views of scans: the region-size histogram, the plotly 3D views (``scatter3d``, ``scatter_classes``,
``scatter_selection``) with a camera fitted to the cloud (``scene_layout``), and the run notebook 06
explores by default (``best_region_run``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from .style import _strategy_order
from .tables import final_miou_table

if TYPE_CHECKING:
    import plotly.graph_objects as go


def plot_region_sizes(region: np.ndarray, *, bins: int = 40, title: str = "region sizes") -> Figure:
    """Histogram of points per region. region : (N,) int64 region id of every point (>= 0)."""
    region = np.asarray(region)
    if region.ndim != 1 or region.size == 0 or region.min() < 0:
        raise ValueError(f"region must be a non-empty (N,) array of ids >= 0, got shape {region.shape}")
    sizes = np.bincount(region)
    sizes = sizes[sizes > 0]
    figure = Figure(figsize=(6, 3.6), layout="constrained")
    ax = figure.subplots()
    ax.hist(sizes, bins=np.geomspace(max(1, sizes.min()), sizes.max() + 1, bins), color="#1f77b4")
    ax.set_xscale("log")
    ax.set_xlabel("points per region")
    ax.set_ylabel("regions")
    ax.set_title(f"{title}: {sizes.size} regions, median {int(np.median(sizes))} points", fontsize=10)
    return figure


#: plotly's default vertical field of view (perspective projection), radians.
PLOTLY_FOVY = np.pi / 4
#: Direction from the scene's centre to the eye: plotly's default three-quarter view, from above.
VIEW_DIRECTION = (1.25, 1.25, 1.25)
#: Grey of the points outside the highlighted sets of a 3D view (regions never selected, ignored labels).
UNSELECTED_COLOR = "rgb(200, 200, 200)"


def scene_layout(xyz: np.ndarray, *, margin: float = 1.05, min_aspect: float = 0.02) -> dict:
    """A plotly ``layout.scene`` that fits a point cloud: axis ranges, aspect and camera from its extent.

    xyz : (N, 3) float coordinates (N >= 1). Returns ``{"xaxis": {"range"}, "yaxis", "zaxis",
    "aspectmode": "manual", "aspectratio": {x, y, z}, "camera": {eye, center, up, projection}}``.
    The aspect ratio is the extent of each axis over the largest one (so a street is long and flat, a
    room boxy; an axis with no extent gets ``min_aspect``). plotly draws the box with edges of
    ``aspectratio`` units around the origin; the eye looks at its centre along ``VIEW_DIRECTION`` from
    ``margin`` times the distance at which the box's bounding sphere fills the vertical field of view,
    so the whole cloud is in view whatever its shape.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or xyz.shape[0] == 0:
        raise ValueError(f"scene_layout: xyz must be a non-empty (N, 3) array, got shape {xyz.shape}")
    if not np.isfinite(xyz).all():
        raise ValueError("scene_layout: xyz has non-finite coordinates")
    if not margin >= 1.0:
        raise ValueError(f"scene_layout: margin must be >= 1 (1 = the bounding sphere just fits), got {margin}")
    low, high = xyz.min(axis=0), xyz.max(axis=0)
    extent = high - low
    largest = float(extent.max())
    aspect = np.full(3, 1.0) if largest == 0 else np.maximum(extent / largest, min_aspect)
    # an axis of zero extent still needs a range for plotly: pad it to its share of the largest axis
    pad = np.where(extent > 0, 0.0, 0.5 * aspect * (largest if largest > 0 else 1.0))
    radius = 0.5 * float(np.linalg.norm(aspect))
    distance = margin * radius / np.sin(PLOTLY_FOVY / 2)
    direction = np.asarray(VIEW_DIRECTION, dtype=np.float64)
    eye = distance * direction / np.linalg.norm(direction)
    axes = ("x", "y", "z")
    scene = {f"{a}axis": {"range": [float(low[i] - pad[i]), float(high[i] + pad[i])]} for i, a in enumerate(axes)}
    scene.update(
        aspectmode="manual",
        aspectratio={a: float(aspect[i]) for i, a in enumerate(axes)},
        camera={
            "eye": {a: float(eye[i]) for i, a in enumerate(axes)},
            "center": {"x": 0.0, "y": 0.0, "z": 0.0},
            "up": {"x": 0.0, "y": 0.0, "z": 1.0},
            "projection": {"type": "perspective"},
        },
    )
    return scene


def _subsample(xyz: np.ndarray, n_values: int, rng, max_points: int, what: str) -> np.ndarray:
    """Validate a cloud and its per-point values; return the sorted indices of a random subsample."""
    if xyz.ndim != 2 or xyz.shape[1] != 3 or xyz.shape[0] == 0:
        raise ValueError(f"{what}: xyz must be a non-empty (N, 3) array, got shape {xyz.shape}")
    if n_values != xyz.shape[0]:
        raise ValueError(f"{what}: values must have shape ({xyz.shape[0]},), got ({n_values},)")
    if max_points < 1:
        raise ValueError(f"{what}: max_points must be >= 1, got {max_points}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"{what}: rng must be a numpy Generator, got {type(rng).__name__}")
    keep = np.arange(xyz.shape[0])
    if keep.size > max_points:
        keep = np.sort(rng.choice(keep.size, size=max_points, replace=False))
    return keep


def _layout_3d(figure: go.Figure, points: np.ndarray, title: str, shown: int, total: int, *, legend: bool,
               legend_title: str = "") -> None:
    figure.update_layout(
        title={"text": f"{title} ({shown} of {total} points)", "font": {"size": 12}},
        scene=scene_layout(points), margin={"l": 0, "r": 0, "t": 30, "b": 0}, showlegend=legend,
        # plotly's default legend place, right of the scene (the margin grows to hold it), never over the cloud;
        # constant item size: legend markers readable whatever the point size
        legend={"itemsizing": "constant", "font": {"size": 11}, "title": {"text": legend_title}},
    )


def _rgb(color) -> str:
    if isinstance(color, str):
        return color
    r, g, b = (int(c) for c in color)
    return f"rgb({r}, {g}, {b})"


def _points_trace(p: np.ndarray, *, name: str, color: str, point_size: float):
    import plotly.graph_objects as go

    return go.Scatter3d(
        x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="markers", name=name,
        marker={"size": point_size, "color": color}, hovertemplate=f"{name}<extra></extra>",
    )


def scatter3d(
    xyz: np.ndarray,
    values: np.ndarray,
    *,
    categorical: bool,
    rng: np.random.Generator,
    max_points: int = 30000,
    title: str = "",
    names: Sequence[str] | None = None,
    point_size: float = 1.6,
) -> go.Figure:
    """A plotly 3D scatter of a point cloud coloured by ``values``, randomly subsampled: one trace, no legend.

    xyz    : (N, 3) float coordinates;  values : (N,) per-point values (ids when ``categorical``,
    e.g. regions or clusters, shuffled onto a qualitative palette; floats otherwise, e.g. scores, with a
    colour bar). ``names`` labels categorical ids in the hover text; ``rng`` draws the subsample of at
    most ``max_points`` points. The camera is fitted to the cloud (``scene_layout``). For classes with a
    legend in the dataset's colours use ``scatter_classes``; for selections, ``scatter_selection``.
    """
    import plotly.graph_objects as go

    xyz = np.asarray(xyz)
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"scatter3d: values must have shape ({len(xyz)},), got {values.shape}")
    keep = _subsample(xyz, values.shape[0], rng, max_points, "scatter3d")
    p, v = xyz[keep], values[keep]
    marker = {"size": point_size}
    hover = None
    if categorical:
        ids = v.astype(np.int64)
        # shuffle ids to colours so that neighbouring ids (adjacent regions) get distinct colours
        palette = np.array(_qualitative(), dtype=object)
        marker["color"] = palette[(ids * 7919) % len(palette)].tolist()
        hover = [names[i] if names is not None and 0 <= i < len(names) else str(i) for i in ids]
    else:
        marker.update(color=v.astype(np.float64), colorscale="Viridis", showscale=True, colorbar={"thickness": 12})
    trace = go.Scatter3d(
        x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="markers", marker=marker,
        text=hover, hoverinfo="text" if hover is not None else "all",
    )
    figure = go.Figure(trace)
    _layout_3d(figure, p, title, keep.size, xyz.shape[0], legend=False)
    return figure


def scatter_classes(
    xyz: np.ndarray,
    labels: np.ndarray,
    *,
    class_names: Sequence[str],
    colors: Mapping[str, tuple[int, int, int] | str],
    rng: np.random.Generator,
    max_points: int = 30000,
    title: str = "",
    point_size: float = 1.6,
    ignored: str = "ignored",
) -> go.Figure:
    """A plotly 3D view of per-point classes, one trace (legend entry) per class present, in ``colors``.

    xyz : (N, 3) float coordinates;  labels : (N,) int class ids in ``0..len(class_names)-1``, negative
    (``IGNORE_INDEX``) for points without a label, drawn grey as ``ignored`` (the last entry) when present.
    colors : class name -> (r, g, b) 0..255 or a CSS colour, e.g.
    ``redal_core.data.class_colors.class_colors(dataset)``; a class it lacks raises ValueError.
    One legend entry per class present in ``labels`` (the whole scan), in ``class_names`` order.
    ``rng`` draws the subsample of at most ``max_points`` points; the camera is fitted to the cloud.
    """
    import plotly.graph_objects as go

    xyz = np.asarray(xyz)
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"scatter_classes: labels must be a (N,) integer array, got {labels.dtype} {labels.shape}")
    keep = _subsample(xyz, labels.shape[0], rng, max_points, "scatter_classes")
    names = list(class_names)
    if labels.size and labels.max() >= len(names):
        raise ValueError(f"scatter_classes: label {int(labels.max())} has no name ({len(names)} class names)")
    missing = [n for n in names if n not in colors]
    if missing:
        raise ValueError(f"scatter_classes: no colour for class(es) {missing}; colours given for {list(colors)}")
    p, v = xyz[keep], labels[keep].astype(np.int64)
    figure = go.Figure()
    for k in np.unique(labels[labels >= 0]):
        figure.add_trace(_points_trace(p[v == k], name=names[k], color=_rgb(colors[names[k]]),
                                       point_size=point_size))
    if (labels < 0).any():
        figure.add_trace(_points_trace(p[v < 0], name=ignored, color=UNSELECTED_COLOR, point_size=point_size))
    _layout_3d(figure, p, title, keep.size, xyz.shape[0], legend=True)
    return figure


def scatter_selection(
    xyz: np.ndarray,
    selected_round: np.ndarray,
    region: np.ndarray,
    *,
    rng: np.random.Generator,
    max_points: int = 30000,
    title: str = "",
    point_size: float = 1.6,
    unit: str = "region",
) -> go.Figure:
    """A plotly 3D view of the regions selected in each round: one trace per round, the rest grey.

    xyz : (N, 3) float coordinates;  selected_round : (N,) int round in which each point's region was
    selected (-1: never);  region : (N,) int region id of each point (>= 0), used to count the regions of
    each round on the whole scan. Legend entries read ``round r (k regions)`` (``unit`` names the unit),
    in round order, then ``not selected`` for the grey points. ``rng`` draws the subsample of at most ``max_points``
    points; the camera is fitted to the cloud.
    """
    import plotly.graph_objects as go

    xyz = np.asarray(xyz)
    selected_round = np.asarray(selected_round)
    region = np.asarray(region)
    for name, array in (("selected_round", selected_round), ("region", region)):
        if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"scatter_selection: {name} must be a (N,) integer array, got {array.dtype} {array.shape}")
    if region.shape != selected_round.shape:
        raise ValueError(f"scatter_selection: region has shape {region.shape}, selected_round {selected_round.shape}")
    if region.size and region.min() < 0:
        raise ValueError(f"scatter_selection: region ids must be >= 0, got {int(region.min())}")
    if selected_round.size and selected_round.min() < -1:
        raise ValueError(f"scatter_selection: rounds must be >= -1 (-1: never selected), got {int(selected_round.min())}")
    keep = _subsample(xyz, selected_round.shape[0], rng, max_points, "scatter_selection")
    p, v = xyz[keep], selected_round[keep].astype(np.int64)
    palette = _qualitative()
    figure = go.Figure()
    for r in np.unique(selected_round[selected_round >= 0]):
        count = np.unique(region[selected_round == r]).size
        label = f"round {int(r)} ({count} {unit}{'s' if count != 1 else ''})"
        figure.add_trace(_points_trace(p[v == r], name=label, color=palette[int(r) % len(palette)],
                                       point_size=point_size))
    if (selected_round < 0).any():
        figure.add_trace(_points_trace(p[v < 0], name="not selected", color=UNSELECTED_COLOR, point_size=point_size))
    _layout_3d(figure, p, title, keep.size, xyz.shape[0], legend=True, legend_title="selected in")
    return figure


def best_region_run(results_dir: str | Path, *, dataset: str | None = None, backbone: str | None = None) -> Path:
    """The run folder that notebook 06 explores by default: a run of the best region-unit strategy.

    Among the runs under ``<results_dir>/runs`` with at least one complete selection round (optionally of
    one ``dataset`` / ``backbone``), keeps the region-unit strategies (``get_strategy(name).unit ==
    "region"``: RAND+Region, ENT+Region, ENT+Region+Div, ENT+Region+Color/Structure, ReDAL), takes the
    strategy with the highest final mIoU, mean over its seeds (``final_miou_table``; across several
    dataset x backbone combinations, the highest row), and returns its run with the lowest seed.
    Raises FileNotFoundError when no run has a selection, ValueError when none is region-unit.
    """
    from redal_core.active.strategies import STRATEGIES, get_strategy
    from redal_core.results import read_runs

    tables = read_runs(results_dir)
    rounds = tables.rounds[tables.rounds.run_id.isin(set(tables.selections.run_id))]
    if dataset is not None:
        rounds = rounds[rounds.dataset == dataset]
    if backbone is not None:
        rounds = rounds[rounds.backbone == backbone]
    if rounds.empty:
        where = "".join(f" {k}={v}" for k, v in (("dataset", dataset), ("backbone", backbone)) if v is not None)
        raise FileNotFoundError(f"best_region_run: no run with a selection under {Path(results_dir) / 'runs'}{where}")
    known = set(STRATEGIES.names())
    region = [n for n in sorted(set(rounds.strategy)) if n in known and get_strategy(n).unit == "region"]
    if not region:
        raise ValueError(
            f"best_region_run: no region-unit strategy among the runs under {results_dir} "
            f"(strategies: {', '.join(_strategy_order(rounds.strategy))}); give run_dir explicitly"
        )
    rounds = rounds[rounds.strategy.isin(region)]
    best = final_miou_table(rounds).sort_values("miou", ascending=False, kind="stable").iloc[0]
    runs = rounds[(rounds.dataset == best.dataset) & (rounds.backbone == best.backbone)
                  & (rounds.strategy == best.strategy)]
    run_id = runs.sort_values(["seed", "run_id"]).run_id.iloc[0]
    return Path(results_dir) / "runs" / run_id


def _qualitative() -> list[str]:
    import plotly.express as px

    return list(px.colors.qualitative.Dark24) + list(px.colors.qualitative.Light24)
