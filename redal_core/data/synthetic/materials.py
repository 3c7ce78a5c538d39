"""Colours, paints and materials of the synthetic scenes.

* Indoor paints: the texture kinds (solid, wood grain, carpet, tiles, boards with frames, glass, fabric),
  the ``_Paint`` colour model, the wall / fabric / metal palettes, the colour draws (``_near``, ``_pick``,
  ``_wood``, ``_book_colour``) and ``_paint_points``, which colours sampled points by their quad's paint.
* Outdoor materials: per material the remission noise, instance spread and range noise (``_MATERIALS``),
  the material ids and the mean remission of each, which the street's solids and ground carry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SOLID, _WOOD, _CARPET, _TILES, _BOARD, _GLASS, _FABRIC = range(7)


@dataclass(frozen=True)
class _Paint:
    """A colour model: kind (texture), base/alt RGB, a kind-specific scale (grain frequency, tile size,
    frame width) and the per-point noise standard deviation."""

    kind: int
    base: tuple[float, float, float]
    alt: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: float = 0.0
    noise: float = 6.0


_WALL_COLOURS = (
    (205, 200, 190),
    (190, 186, 176),
    (214, 210, 200),
    (182, 176, 160),
    (172, 180, 186),
    (200, 190, 170),
)
_FABRIC_COLOURS = ((32, 32, 35), (70, 70, 75), (40, 52, 92), (120, 34, 34), (44, 82, 52), (170, 152, 122),
                   (150, 150, 155), (95, 60, 40), (180, 110, 40))  # fmt: skip
_METAL_COLOURS = ((40, 40, 42), (120, 122, 126), (170, 172, 176))


def _near(rng: np.random.Generator, colour, spread: float = 10.0) -> tuple[float, float, float]:
    shift = rng.normal(0.0, spread) + rng.normal(0.0, spread / 2, 3)
    return tuple(float(c) for c in np.clip(np.asarray(colour, float) + shift, 0, 255))


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _wood(rng: np.random.Generator) -> _Paint:
    tone = rng.uniform(95, 200)
    base = (tone, tone * rng.uniform(0.66, 0.76), tone * rng.uniform(0.42, 0.52))
    return _Paint(_WOOD, base, tuple(c * 0.62 for c in base), float(rng.uniform(14, 40)), 5.0)


def _book_colour(rng: np.random.Generator) -> tuple[float, float, float]:
    hue, sat, val = rng.uniform(0, 1), rng.uniform(0.25, 0.9), rng.uniform(0.2, 0.92)
    k = (np.array([5.0, 3.0, 1.0]) + hue * 6) % 6
    rgb = val - val * sat * np.clip(np.minimum(k, 4 - k), 0, 1)
    return tuple(float(c) for c in 255 * rgb)


def _paint_points(rng, paints: list[_Paint], paint: np.ndarray, sm, tm, s_len, t_len) -> np.ndarray:
    """(n, 3) float colours of points on quads with the given paints; ``sm, tm`` are local metres."""
    base = np.array([p.base for p in paints])[paint]
    alt = np.array([p.alt for p in paints])[paint]
    scale = np.array([p.scale for p in paints])[paint]
    kind = np.array([p.kind for p in paints])[paint]
    noise = np.array([p.noise for p in paints])[paint][:, None]
    n = len(paint)
    rgb = base + noise * (rng.normal(0.0, 1.0, (n, 1)) + 0.5 * rng.normal(0.0, 1.0, (n, 3)))
    wood = kind == _WOOD
    grain = (0.5 + 0.5 * np.sin(2 * np.pi * scale * (tm + 0.03 * np.sin(2.1 * sm + 4.0 * tm)))) ** 3
    rgb[wood] += grain[wood, None] * (alt[wood] - base[wood])
    tiles = kind == _TILES
    line = (np.mod(sm, np.maximum(scale, 1e-6)) < 0.012) | (np.mod(tm, np.maximum(scale, 1e-6)) < 0.012)
    rgb[tiles & line] += alt[tiles & line] - base[tiles & line]
    carpet = (kind == _CARPET) & (rng.random(n) < 0.08)
    rgb[carpet] = alt[carpet] + rgb[carpet] * 0.5
    board = kind == _BOARD
    edge = np.minimum(np.minimum(sm, s_len - sm), np.minimum(tm, t_len - tm)) < scale
    rgb[board & edge] += alt[board & edge] - base[board & edge]
    ink = (
        board
        & ~edge
        & (np.abs(np.mod(tm + 0.05 * np.sin(7.0 * sm), 0.14) - 0.07) < 0.004)
        & (np.mod(sm, 1.1) < 0.7)
    )
    rgb[ink] = (40.0, 55.0, 120.0)
    glass = kind == _GLASS
    rgb[glass] *= (0.8 + 0.35 * tm[glass] / np.maximum(t_len[glass], 1e-6))[:, None]
    fabric = kind == _FABRIC
    rgb[fabric] *= (
        1.0 + 0.06 * np.sin(2 * np.pi * sm[fabric] / 0.004) * np.sin(2 * np.pi * tm[fabric] / 0.004)
    )[:, None]
    return rgb


# material -> (remission std per point, instance spread, range noise std in metres)
_MATERIALS: dict[str, tuple[float, float, float]] = {
    "road": (0.035, 0.04, 0.02), "parking": (0.04, 0.04, 0.02), "sidewalk": (0.05, 0.04, 0.02),
    "other-ground": (0.05, 0.04, 0.02), "terrain": (0.08, 0.04, 0.035), "building": (0.06, 0.12, 0.02),
    "fence": (0.07, 0.08, 0.02), "vegetation": (0.08, 0.04, 0.03), "trunk": (0.04, 0.04, 0.02),
    "pole": (0.05, 0.08, 0.02), "sign": (0.04, 0.03, 0.02), "paint": (0.05, 0.15, 0.02),
    "glass": (0.03, 0.02, 0.02), "tire": (0.02, 0.01, 0.02), "cloth": (0.06, 0.1, 0.02),
    "metal": (0.08, 0.1, 0.02), "beyond": (0.06, 0.0, 0.03),
}  # fmt: skip
_MATERIAL_ID = {name: i for i, name in enumerate(_MATERIALS)}
_MEAN_REMISSION = {
    "road": 0.24, "parking": 0.27, "sidewalk": 0.36, "other-ground": 0.3, "terrain": 0.42, "building": 0.38,
    "fence": 0.34, "vegetation": 0.45, "trunk": 0.33, "pole": 0.4, "sign": 0.9, "paint": 0.32, "glass": 0.08,
    "tire": 0.06, "cloth": 0.25, "metal": 0.45, "beyond": 0.2,
}  # fmt: skip
