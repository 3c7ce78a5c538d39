"""The per-unit table: one row per labeling unit (a region, or a whole scan) of the pool.

The engine predicts one scan at a time; ``scan_unit_rows`` reduces that scan's per-point arrays to
its unit rows at once, so nothing per point is kept for the whole pool. ``UnitTable.concat`` joins
the scans' rows, and a strategy's ``select`` ranks the table's candidate rows.

Statistics are means over a unit's points (paper Eq. 1-3 for regions; supplementary B for scans).
For a SCAN unit, ``segent`` is the mean of the segment entropies of the scan's VCCS regions
weighted by region size (= the mean over the scan's points of their region's segment entropy),
and ``features`` is the mean decoder feature over the scan's points. The paper's CSET takes the
middle layer of the encoder-decoder instead; using the decoder's per-point features is a deliberate
deviation (the backbones expose only those, per the models contract).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from redal_core.active import scores as S
from redal_core.active.diversity import region_features

#: Statistics a table can carry; a strategy's ``needs`` is a subset of these plus ``"features"``.
STAT_KEYS: tuple[str, ...] = ("entropy", "margin", "confidence", "mc_entropy", "segent", "color", "structure",
                               "bald", "vcd", "lidal_div", "lidal_ent")
NEED_KEYS: frozenset[str] = frozenset(STAT_KEYS) | {"features", "centers"}
UNITS: tuple[str, ...] = ("scan", "region")

# which per-point input each need reads
_SOURCE = {
    "entropy": "probs",
    "margin": "probs",
    "confidence": "probs",
    "segent": "probs",
    "mc_entropy": "mc_probs",
    "color": "color",
    "structure": "structure",
    "features": "features",
    "bald": "mc_probs",
    "vcd": "probs",
    "lidal_div": "interframe",
    "lidal_ent": "interframe",
    "centers": "world_xyz",
}


@dataclass(frozen=True, kw_only=True, eq=False)
class UnitTable:
    """Rows of labeling units, all arrays of length U.

    scan     : (U,) int64 dataset index of the scan
    region   : (U,) int64 region id within the scan, -1 for a whole-scan unit
    points   : (U,) int64 unlabeled points the unit would add if selected
    labeled  : (U,) bool the unit is fully labeled already
    stats    : {key: (U,) float64} with keys among ``STAT_KEYS``
    features : (U, F) float32 mean point features, or None
    centers  : (U, 3) float64 mean world coordinates of the unit's points (LiDAL's spatial dedup), or None
    """

    scan: np.ndarray
    region: np.ndarray
    points: np.ndarray
    labeled: np.ndarray
    stats: dict[str, np.ndarray] = field(default_factory=dict)
    features: np.ndarray | None = None
    centers: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = None
        for name, dtype in (("scan", np.int64), ("region", np.int64), ("points", np.int64), ("labeled", np.bool_)):
            arr = getattr(self, name)
            if not isinstance(arr, np.ndarray) or arr.ndim != 1 or arr.dtype != dtype:
                raise ValueError(f"UnitTable.{name} must be a 1-D {np.dtype(dtype).name} array, got {_describe(arr)}")
            n = arr.shape[0] if n is None else n
            if arr.shape[0] != n:
                raise ValueError(f"UnitTable.{name} has length {arr.shape[0]}, expected {n} (length of scan)")
        if (self.points < 0).any():
            raise ValueError("UnitTable.points must be >= 0")
        if (self.region < -1).any():
            raise ValueError("UnitTable.region must be >= 0 (a region) or -1 (a whole scan)")
        for key, arr in self.stats.items():
            if key not in STAT_KEYS:
                raise ValueError(f"UnitTable.stats key {key!r} is unknown; allowed: {', '.join(STAT_KEYS)}")
            if not isinstance(arr, np.ndarray) or arr.shape != (n,) or arr.dtype != np.float64:
                raise ValueError(f"UnitTable.stats[{key!r}] must be a float64 array of shape ({n},), got {_describe(arr)}")
        if self.features is not None and (
            not isinstance(self.features, np.ndarray) or self.features.ndim != 2 or self.features.shape[0] != n
        ):
            raise ValueError(f"UnitTable.features must be a ({n}, F) array or None, got {_describe(self.features)}")
        if self.centers is not None and (not isinstance(self.centers, np.ndarray) or self.centers.shape != (n, 3)):
            raise ValueError(f"UnitTable.centers must be a ({n}, 3) array or None, got {_describe(self.centers)}")

    def __len__(self) -> int:
        return int(self.scan.shape[0])

    @property
    def unit(self) -> str | None:
        """"scan" when every row is a whole scan, "region" when every row is a region, None if empty/mixed."""
        if len(self) == 0:
            return None
        if (self.region == -1).all():
            return "scan"
        if (self.region >= 0).all():
            return "region"
        return None

    def candidates(self) -> np.ndarray:
        """(U,) bool: units that may be selected (not fully labeled and adding at least one point)."""
        return ~self.labeled & (self.points > 0)

    def take(self, index: np.ndarray) -> UnitTable:
        """The rows at ``index`` (int positions or a bool mask), as a new table."""
        return UnitTable(
            scan=self.scan[index],
            region=self.region[index],
            points=self.points[index],
            labeled=self.labeled[index],
            stats={key: arr[index] for key, arr in self.stats.items()},
            features=None if self.features is None else self.features[index],
            centers=None if self.centers is None else self.centers[index],
        )

    @staticmethod
    def concat(tables: Sequence[UnitTable]) -> UnitTable:
        """Rows of all ``tables`` in order; they must carry the same stats keys and feature width."""
        tables = list(tables)
        if not tables:
            return UnitTable(
                scan=np.zeros(0, np.int64), region=np.zeros(0, np.int64), points=np.zeros(0, np.int64),
                labeled=np.zeros(0, bool),
            )
        keys = set(tables[0].stats)
        has_features = tables[0].features is not None
        for i, t in enumerate(tables):
            if set(t.stats) != keys:
                raise ValueError(
                    f"UnitTable.concat: table {i} has stats {sorted(t.stats)}, table 0 has {sorted(keys)}"
                )
            if (t.features is not None) != has_features:
                raise ValueError(f"UnitTable.concat: table {i} {'lacks' if has_features else 'has'} features, table 0 does not")
        if has_features:
            widths = {t.features.shape[1] for t in tables}
            if len(widths) > 1:
                raise ValueError(f"UnitTable.concat: feature widths differ: {sorted(widths)}")
        has_centers = tables[0].centers is not None
        if any((t.centers is not None) != has_centers for t in tables):
            raise ValueError("UnitTable.concat: some tables have centers and some do not")
        return UnitTable(
            scan=np.concatenate([t.scan for t in tables]),
            region=np.concatenate([t.region for t in tables]),
            points=np.concatenate([t.points for t in tables]),
            labeled=np.concatenate([t.labeled for t in tables]),
            stats={key: np.concatenate([t.stats[key] for t in tables]) for key in sorted(keys)},
            features=np.concatenate([t.features for t in tables]) if has_features else None,
            centers=np.concatenate([t.centers for t in tables]) if has_centers else None,
        )


def scan_unit_rows(
    scan_index: int,
    *,
    unit: str,
    region_ids: np.ndarray,
    labeled_mask: np.ndarray,
    needs: set[str] | frozenset[str],
    probs: np.ndarray | None = None,
    features: np.ndarray | None = None,
    color: np.ndarray | None = None,
    structure: np.ndarray | None = None,
    mc_probs: np.ndarray | None = None,
    num_classes: int | None = None,
    scoring: str = "paper",
    interframe: tuple[np.ndarray, np.ndarray] | None = None,
    world_xyz: np.ndarray | None = None,
) -> UnitTable:
    """One scan's unit rows, computing only what ``needs`` asks for.

    scan_index   : dataset index of the scan
    unit         : "region" (one row per region id 0..R-1, R = region_ids.max() + 1) or "scan" (one row)
    region_ids   : (N,) int VCCS region of every point (dense ids from ``vccs``)
    labeled_mask : (N,) bool points already labeled
    needs        : subset of ``NEED_KEYS``; each one requires its input:
                   entropy / margin / confidence / segent -> probs (N, K);
                   mc_entropy -> mc_probs (T, N, K); color -> color (N,); structure -> structure (N,);
                   features -> features (N, F)
    num_classes  : K for segent (default probs.shape[1])
    scoring      : the entropy scale of ``entropy`` and ``mc_entropy`` (``scores.entropy``): ``paper``
                   (nats, summed over classes) or ``official`` (bits, averaged over classes)
    interframe   : (divergence (N,), entropy (N,)) per point (``scores.interframe_scores``) for
                   ``lidal_div`` / ``lidal_ent``; world_xyz : (N, 3) registered coordinates for ``centers``
    bald -> mc_probs (per-point BALD, unit mean); vcd -> probs (voxel confusion degree of the unit's
    argmax predictions, ``scores.voxel_confusion_degree``)
    A region row's ``points`` counts its unlabeled points and ``labeled`` is True when all its
    points are labeled; a scan row does the same over the whole scan.
    """
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
    needs = set(needs)
    unknown = needs - NEED_KEYS
    if unknown:
        raise ValueError(f"unknown needs {sorted(unknown)}; allowed: {', '.join(sorted(NEED_KEYS))}")
    if not isinstance(region_ids, np.ndarray) or region_ids.ndim != 1 or not np.issubdtype(region_ids.dtype, np.integer):
        raise ValueError(f"scan {scan_index}: region_ids must be a 1-D integer array, got {_describe(region_ids)}")
    n = region_ids.shape[0]
    if n == 0:
        raise ValueError(f"scan {scan_index}: region_ids is empty (a scan has at least one point)")
    if region_ids.min() < 0:
        raise ValueError(f"scan {scan_index}: region_ids holds negative id {int(region_ids.min())}")
    if not isinstance(labeled_mask, np.ndarray) or labeled_mask.shape != (n,) or labeled_mask.dtype != bool:
        raise ValueError(f"scan {scan_index}: labeled_mask must be a bool ({n},) array, got {_describe(labeled_mask)}")
    inputs = {"probs": probs, "mc_probs": mc_probs, "color": color, "structure": structure, "features": features,
              "interframe": None if interframe is None else np.asarray(interframe[0]), "world_xyz": world_xyz}
    for need in sorted(needs):
        source = _SOURCE[need]
        arr = inputs[source]
        if arr is None:
            raise ValueError(f"scan {scan_index}: need {need!r} requires {source}, which was not given")
        length = arr.shape[1] if source == "mc_probs" and arr.ndim == 3 else (arr.shape[0] if arr.ndim else -1)
        if length != n:
            raise ValueError(f"scan {scan_index}: {source} covers {length} points, region_ids has {n}")

    regions = region_ids.astype(np.int64, copy=False)
    n_regions = int(regions.max()) + 1
    # a scan unit is one group (0) for every point
    groups = regions if unit == "region" else np.zeros(n, dtype=np.int64)
    n_groups = n_regions if unit == "region" else 1

    sizes = np.bincount(groups, minlength=n_groups)
    unlabeled = np.bincount(groups, weights=(~labeled_mask).astype(np.float64), minlength=n_groups).astype(np.int64)
    stats: dict[str, np.ndarray] = {}
    if needs & {"entropy", "margin", "confidence", "segent"}:
        if not isinstance(probs, np.ndarray) or probs.ndim != 2:
            raise ValueError(f"scan {scan_index}: probs must be (N, K), got {_describe(probs)}")
    if "entropy" in needs:
        stats["entropy"] = S.reduce_mean(S.entropy(probs, scoring), groups, n_groups)
    if "margin" in needs:
        stats["margin"] = S.reduce_mean(S.margin(probs), groups, n_groups)
    if "confidence" in needs:
        stats["confidence"] = S.reduce_mean(S.confidence(probs), groups, n_groups)
    if "mc_entropy" in needs:
        stats["mc_entropy"] = S.reduce_mean(S.mc_entropy_scaled(mc_probs, scoring), groups, n_groups)
    if "segent" in needs:
        k = probs.shape[1] if num_classes is None else num_classes
        per_region = S.segment_entropy(probs.argmax(axis=1), regions, k, n_regions)
        if unit == "region":
            stats["segent"] = per_region
        else:
            present = ~np.isnan(per_region)
            region_sizes = np.bincount(regions, minlength=n_regions)
            stats["segent"] = np.array([(per_region[present] * region_sizes[present]).sum() / n])
    for key, arr in (("color", color), ("structure", structure)):
        if key in needs:
            if arr.ndim != 1:
                raise ValueError(f"scan {scan_index}: {key} must be (N,), got {_describe(arr)}")
            stats[key] = S.reduce_mean(arr, groups, n_groups)
    if "bald" in needs:
        stats["bald"] = S.reduce_mean(S.bald(mc_probs), groups, n_groups)
    if "vcd" in needs:
        k = probs.shape[1] if num_classes is None else num_classes
        per_unit = S.voxel_confusion_degree(probs.argmax(axis=1), groups, k, n_groups)
        stats["vcd"] = np.nan_to_num(per_unit, nan=0.0)
    if needs & {"lidal_div", "lidal_ent"}:
        stats["lidal_div"] = S.reduce_mean(np.asarray(interframe[0], np.float64), groups, n_groups)
        stats["lidal_ent"] = S.reduce_mean(np.asarray(interframe[1], np.float64), groups, n_groups)
    centers = None
    if "centers" in needs:
        xyz = np.asarray(world_xyz, np.float64)
        counts = np.maximum(np.bincount(groups, minlength=n_groups), 1)[:, None]
        centers = np.stack([np.bincount(groups, weights=xyz[:, d], minlength=n_groups) for d in range(3)], axis=1) / counts
    feats = None
    if "features" in needs:
        if features.ndim != 2:
            raise ValueError(f"scan {scan_index}: features must be (N, F), got {_describe(features)}")
        feats = region_features(features, groups, n_groups)
    return UnitTable(
        scan=np.full(n_groups, int(scan_index), dtype=np.int64),
        region=np.arange(n_groups, dtype=np.int64) if unit == "region" else np.full(1, -1, dtype=np.int64),
        points=unlabeled,
        labeled=(unlabeled == 0) & (sizes > 0),
        stats=stats,
        features=feats,
        centers=centers,
    )


def _describe(a: object) -> str:
    if isinstance(a, np.ndarray):
        return f"{a.dtype} array of shape {a.shape}"
    return type(a).__name__
