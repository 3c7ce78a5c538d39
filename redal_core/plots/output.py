"""Saving and showing: figures as PNG + SVG (``save_figure``) or inline (``show``), tables as CSV +
Markdown (``write_table``), plotly views as offline HTML (``write_html``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from matplotlib.figure import Figure

from .tables import to_markdown

if TYPE_CHECKING:
    import plotly.graph_objects as go


def save_figure(figure: Figure, directory: str | Path, stem: str, *, dpi: int = 130) -> list[Path]:
    """Write ``<directory>/<stem>.png`` and ``.svg``; returns both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{stem}.png", directory / f"{stem}.svg"]
    for path in paths:
        figure.savefig(path, dpi=dpi, bbox_inches="tight")
    return paths


def show(figure: Figure, *, dpi: int = 110):
    """An ``IPython.display.Image`` of ``figure`` (PNG), for notebooks; needs no pyplot backend."""
    import io

    from IPython.display import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return Image(data=buffer.getvalue())


def write_table(table: pd.DataFrame, directory: str | Path, stem: str, *, title: str | None = None) -> list[Path]:
    """Write ``<directory>/<stem>.csv`` and ``.md`` (with an optional heading); returns both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    csv, md = directory / f"{stem}.csv", directory / f"{stem}.md"
    table.to_csv(csv, index=False)
    heading = f"## {title}\n\n" if title else ""
    md.write_text(heading + to_markdown(table), encoding="utf-8")
    return [csv, md]


def write_html(figure: go.Figure, path: str | Path, *, include_plotlyjs: bool | str = True) -> Path:
    """Write an HTML file that works offline: plotly.js embedded (``True``, self-contained) or written
    once as ``plotly.min.js`` beside it (``"directory"``, for folders of many views)."""
    if include_plotlyjs not in (True, "directory"):
        raise ValueError(f"include_plotlyjs must be True or 'directory' (offline), got {include_plotlyjs!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.write_html(path, include_plotlyjs=include_plotlyjs, full_html=True)
    return path
