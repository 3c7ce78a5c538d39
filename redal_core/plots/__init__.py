"""Figures and tables of the study: Fig. 5 curves, Fig. 8 ablation, Tables 1/2/7/8, plotly 3D views.

The table/figure functions take the tidy DataFrames of ``redal_core.results.read_runs`` (columns
``run_id, dataset, backbone, strategy, seed`` plus ``round, labeled_pct, miou`` for rounds, ``round,
class, iou`` for per-class IoU, ``round, class, labeled_points, permille`` for the class distribution)
and return a matplotlib ``Figure`` (built without pyplot: no global state) or a DataFrame. The run files
hold mIoU and IoU as fractions in [0, 1]; every figure and table here shows them as percentages, like the
paper. Saving is explicit (``save_figure``, ``write_table``, ``write_html``).

Modules (each imports only those above it; this package re-exports the public API, ``plots.<name>``):

- ``style``    strategy colours and order (``strategy_color``), the seed-count wording (``seeds_caption``,
  ``format_mean_std``), the check of the tidy frames
- ``curves``   Fig. 5 ``plot_compare``, Fig. 8 ``plot_ablation``, ``curve_stats``, ``verdict``
- ``tables``   ``budget_rounds``, ``final_miou_table``, ``per_class_table``, ``class_distribution_table``,
  ``to_markdown``
- ``views3d``  ``plot_region_sizes``, plotly 3D views (``scatter3d``, ``scatter_classes``, ``scatter_selection``)
  and their camera (``scene_layout``), ``best_region_run``
- ``output``   ``save_figure``, ``show``, ``write_table``, ``write_html``
"""

from __future__ import annotations

from .curves import (
    ABLATION_STRATEGIES,
    PAPER_FAMILY,
    REGION_DIVERSITY,
    SCAN_LEVEL,
    curve_stats,
    plot_ablation,
    plot_compare,
    verdict,
)
from .output import save_figure, show, write_html, write_table
from .style import format_mean_std, seeds_caption, strategy_color
from .tables import budget_rounds, class_distribution_table, final_miou_table, per_class_table, to_markdown
from .views3d import (
    PLOTLY_FOVY,
    UNSELECTED_COLOR,
    VIEW_DIRECTION,
    best_region_run,
    plot_region_sizes,
    scatter3d,
    scatter_classes,
    scatter_selection,
    scene_layout,
)

__all__ = [
    "ABLATION_STRATEGIES",
    "PAPER_FAMILY",
    "PLOTLY_FOVY",
    "REGION_DIVERSITY",
    "SCAN_LEVEL",
    "UNSELECTED_COLOR",
    "VIEW_DIRECTION",
    "best_region_run",
    "budget_rounds",
    "class_distribution_table",
    "curve_stats",
    "final_miou_table",
    "format_mean_std",
    "per_class_table",
    "plot_ablation",
    "plot_compare",
    "plot_region_sizes",
    "save_figure",
    "scatter3d",
    "scatter_classes",
    "scatter_selection",
    "scene_layout",
    "seeds_caption",
    "show",
    "strategy_color",
    "to_markdown",
    "verdict",
    "write_html",
    "write_table",
]
