"""The parameters of one active-learning run: frozen dataclasses read from YAML and validated once.

``RunConfig.from_yaml(path)`` / ``RunConfig.from_dict(mapping)`` are the only ways in. They check every
key against the dataclass fields (an unknown key names itself, its section and the valid keys), every value
against the field's type (a wrong type names the key, the value given and what is allowed) and every range
(a percentage outside (0, 100] names the key and the allowed range). ``to_dict`` returns the resolved
configuration (defaults filled in, run_id derived when not given), which ``from_dict`` accepts unchanged.

``preset(dataset_family, backbone)`` gives the paper's protocol values as a partial config mapping.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATASETS = ("s3dis", "semantickitti", "synthetic-indoor", "synthetic-outdoor")
SYNTHETIC = ("synthetic-indoor", "synthetic-outdoor")
#: dataset name -> protocol family (S3DIS-like rooms with colour, SemanticKITTI-like LiDAR sweeps).
FAMILY = {"s3dis": "s3dis", "synthetic-indoor": "s3dis", "semantickitti": "semantickitti", "synthetic-outdoor": "semantickitti"}
MODELS = ("minkunet", "spvcnn")
BACKENDS = ("auto", "torch", "spconv", "minkowski", "torchsparse")
VCCS_PRESETS = ("s3dis", "semantickitti")
ORACLES = ("simulated", "human")
KEEP_CHECKPOINTS = ("all", "last")
AUGMENT = ("official", "none", "custom")
SCORING = ("official", "paper")
DIVISIONS = ("vccs", "grid")
FINE_TUNE_FROM = ("last", "best_val")
_DEVICE = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")


@dataclass(frozen=True, kw_only=True)
class GenerateConfig:
    """How a synthetic dataset is generated when its root is absent."""

    scans: int = 12
    seed: int = 0
    points_per_room: int = 40000  # synthetic-indoor
    beams: int | None = None  # synthetic-outdoor: the scanner's beams (null: 64) ...
    azimuth_steps: int | None = None  # ... and rays per beam (null: 1920)
    frames_per_drive: int | None = None  # synthetic-outdoor: consecutive frames of drives, with poses (null: none)


@dataclass(frozen=True, kw_only=True)
class DatasetConfig:
    name: str = "synthetic-indoor"
    root: str | None = None  # resolved: data/<name> for synthetic data; required for real data
    cache_dir: str | None = None  # None: <root>/.cache
    generate: GenerateConfig | None = None  # resolved: defaults for synthetic data, None for real data
    voxel_size: float = 0.05
    vccs: str | None = None  # resolved from the dataset family
    knn: int = 50
    max_train_scans: int | None = None
    max_val_scans: int | None = None

    @property
    def family(self) -> str:
        return FAMILY[self.name]


@dataclass(frozen=True, kw_only=True)
class RegionsConfig:
    """How regions are made selectable (beyond the VCCS preset ``dataset.vccs``)."""

    division: str | None = None  # vccs | grid; resolved: the strategy's own (grid for Annotator, else vccs)
    grid_size: float = 0.25  # grid cells, metres (Annotator's coarse voxels)
    min_points: int = 0  # regions under this many points are never selected nor labeled (official code: 100)


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    name: str = "minkunet"
    width: float = 1.0
    backend: str = "auto"


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    epochs_init: int = 200
    epochs_finetune: int = 150
    lr: float = 0.001
    batch_size: int = 16
    device: str = "auto"
    eval_every_round: bool = True
    keep_checkpoints: str = "all"  # "last": delete round r-1's model checkpoint once round r is complete
    threads: int | None = None  # CPU threads (torch, numba, OpenMP/BLAS); None: (cores - 1) // jobs, >= 1 (redal_core.threads)
    augment: str = "official"  # official: the official code's pipeline for the dataset family; none; custom
    transforms: dict[str, dict[str, Any]] | None = None  # resolved: the pipeline (redal_core.data.augment)
    fine_tune_from: str = "last"  # best_val: the round's best validation mIoU of its last epochs (official code)
    loader_workers: int | None = None  # DataLoader workers; null: 0 on CPU, min(4, threads - 1) on CUDA


@dataclass(frozen=True, kw_only=True)
class ActiveConfig:
    strategy: str = "ReDAL"
    x_init: float = 3.0
    x_active: float = 2.0
    rounds: int = 6
    alpha: float = 1.0
    beta: float = 0.1
    gamma: float = 0.05
    clusters: int = 400
    decay: float = 0.95
    mc_passes: int = 10
    oracle: str = "simulated"
    scoring: str = "official"  # official: the official code's scale of Eq. 1-3; paper: Eq. 1-3 as printed
    trim_top: float | None = None  # keep this top fraction of candidate regions by score before k-means
    pseudo_labels: bool = False  # LiDAL only: its pseudo-labels of agreeing regions for the next round


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """One run: dataset x backbone x strategy x seed, and the protocol around it."""

    seed: int = 0
    run_id: str | None = None  # resolved: default_run_id(config) when not given
    results_dir: str = "results"
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    regions: RegionsConfig = field(default_factory=RegionsConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    active: ActiveConfig = field(default_factory=ActiveConfig)

    # -- construction -------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, source: str = "config") -> RunConfig:
        """Validate ``data`` (a nested mapping as in the YAML schema) and return the resolved config.

        ``source`` names the origin (a file path) in error messages.
        """
        config = _build(cls, {} if data is None else data, section="", source=source)
        _check_ranges(config, source)
        return _resolve(config, source)

    @classmethod
    def from_yaml(cls, path: str | Path) -> RunConfig:
        import yaml

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"run config {path} does not exist")
        with open(path, encoding="utf-8") as handle:
            try:
                data = yaml.safe_load(handle)
            except yaml.YAMLError as error:
                raise ValueError(f"{path}: not valid YAML: {error}") from error
        return cls.from_dict(data, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration as plain YAML-able data (``from_dict(to_dict())`` is the identity)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with top-level keys changed (sections as mappings of their changed keys), validated again.

        A run_id that was derived (the default) is derived again from the changed values.
        """
        data = self.to_dict()
        if "run_id" not in changes and self.run_id == default_run_id(self):
            data["run_id"] = None
        for key, value in changes.items():
            if isinstance(value, Mapping) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return RunConfig.from_dict(data)

    @property
    def run_dir(self) -> Path:
        return Path(self.results_dir) / "runs" / self.run_id


def strategy_slug(strategy: str) -> str:
    """``ENT+Region+Color/Structure`` -> ``ent_region_color-structure``."""
    return strategy.lower().replace("+", "_").replace("/", "-")


def default_run_id(config: RunConfig) -> str:
    return f"{config.dataset.name}-{config.model.name}-{strategy_slug(config.active.strategy)}-s{config.seed}"


# -- paper presets --------------------------------------------------------------------------------------
_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "s3dis": {
        "dataset": {"voxel_size": 0.05},
        "regions": {"min_points": 100},
        "train": {"epochs_init": 200, "epochs_finetune": 150, "lr": 0.001, "batch_size": 16, "augment": "official"},
        "active": {"x_init": 3.0, "x_active": 2.0, "rounds": 6, "alpha": 1.0, "beta": 0.1, "gamma": 0.05,
                   "clusters": 400, "decay": 0.95, "mc_passes": 10, "scoring": "official"},
    },
    "semantickitti": {
        "dataset": {"voxel_size": 0.05},
        "regions": {"min_points": 100},
        "train": {"epochs_init": 100, "epochs_finetune": 30, "lr": 0.001, "batch_size": 16, "augment": "official"},
        "active": {"x_init": 1.0, "x_active": 1.0, "rounds": 4, "alpha": 1.0, "beta": 0.0, "gamma": 0.05,
                   "clusters": 150, "decay": 0.95, "mc_passes": 10, "scoring": "official", "trim_top": 0.1},
    },
}


def preset(dataset_family: str, backbone: str) -> dict[str, dict[str, Any]]:
    """The paper's protocol values (Sec. 4.1, and the official code where the paper is silent: FIDELITY.md)
    for a dataset family and backbone, as a partial config.

    dataset_family : ``s3dis`` | ``semantickitti`` (a dataset name such as ``synthetic-indoor`` maps to
    its family); backbone : ``minkunet`` | ``spvcnn``. Merge the result into a config mapping, e.g.
    ``RunConfig.from_dict({**preset("s3dis", "spvcnn"), "seed": 1})``.
    """
    family = FAMILY.get(dataset_family, dataset_family)
    if family not in _PRESETS:
        raise ValueError(f"unknown dataset family {dataset_family!r}; valid: {', '.join(sorted(set(FAMILY) | set(_PRESETS)))}")
    if backbone not in MODELS:
        raise ValueError(f"unknown backbone {backbone!r}; valid: {', '.join(MODELS)}")
    out = {section: dict(values) for section, values in _PRESETS[family].items()}
    out["model"] = {"name": backbone}
    return out


# -- validation internals -------------------------------------------------------------------------------
def _where(section: str, key: str, source: str) -> str:
    return f"{source}: key '{section + '.' if section else ''}{key}'"


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if typing.get_origin(tp) is dict:
        return "a mapping"
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def _convert(value: Any, tp: Any, section: str, key: str, source: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            if dataclasses.is_dataclass(option) or _matches(value, option):
                return _convert(value, option, section, key, source)
        allowed = " or ".join(_type_name(o) for o in options)
        raise ValueError(f"{_where(section, key, source)} must be {allowed}, got {value!r} ({type(value).__name__})")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ValueError(f"{_where(section, key, source)} must be a mapping of keys, got {value!r}")
        return _build(tp, value, section=f"{section + '.' if section else ''}{key}", source=source)
    if not _matches(value, tp):
        raise ValueError(
            f"{_where(section, key, source)} must be {_type_name(tp)}, got {value!r} ({type(value).__name__})"
        )
    if typing.get_origin(tp) is dict:
        return _plain(value)
    return float(value) if tp is float else value


def _plain(value: Any) -> Any:
    """Nested mappings as plain dicts (a YAML-able copy)."""
    return {key: _plain(item) for key, item in value.items()} if isinstance(value, Mapping) else value


def _matches(value: Any, tp: Any) -> bool:
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if typing.get_origin(tp) is dict:
        return isinstance(value, Mapping)
    return isinstance(value, tp)


def _build(cls: type, data: Mapping[str, Any], *, section: str, source: str) -> Any:
    if not isinstance(data, Mapping):
        where = f"section '{section}'" if section else "the top level"
        raise ValueError(f"{source}: {where} must be a mapping of keys, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            where = f"section '{section}'" if section else "the top level"
            raise ValueError(f"{source}: unknown key '{key}' in {where}; valid keys: {', '.join(names)}")
    values = {key: _convert(value, hints[key], section, key, source) for key, value in data.items()}
    return cls(**values)


def _check_ranges(config: RunConfig, source: str) -> None:
    def need(ok: bool, section: str, key: str, value: Any, allowed: str) -> None:
        if not ok:
            raise ValueError(f"{_where(section, key, source)} = {value!r} is out of range; allowed: {allowed}")

    def choice(section: str, key: str, value: Any, valid: tuple[str, ...]) -> None:
        if value not in valid:
            raise ValueError(f"{_where(section, key, source)} = {value!r} is not valid; valid values: {', '.join(valid)}")

    need(config.seed >= 0, "", "seed", config.seed, "an integer >= 0")
    rid = config.run_id
    if rid is not None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", rid):
            raise ValueError(f"{_where('', 'run_id', source)} = {rid!r} is not a valid folder name; "
                             "allowed: letters, digits and . _ + - (not starting with . or -)")
    need(bool(config.results_dir), "", "results_dir", config.results_dir, "a non-empty path")

    d = config.dataset
    choice("dataset", "name", d.name, DATASETS)
    if d.vccs is not None:
        choice("dataset", "vccs", d.vccs, VCCS_PRESETS)
    need(math.isfinite(d.voxel_size) and d.voxel_size > 0, "dataset", "voxel_size", d.voxel_size, "a number > 0 (metres)")
    need(d.knn >= 1, "dataset", "knn", d.knn, "an integer >= 1")
    for key in ("max_train_scans", "max_val_scans"):
        value = getattr(d, key)
        need(value is None or value >= 1, "dataset", key, value, "null or an integer >= 1")
    if d.generate is not None:
        if d.name not in SYNTHETIC:
            raise ValueError(f"{_where('dataset', 'generate', source)} applies to synthetic datasets only "
                             f"({', '.join(SYNTHETIC)}), not to {d.name!r}; remove it")
        g = d.generate
        need(g.scans >= 1, "dataset.generate", "scans", g.scans, "an integer >= 1")
        need(g.seed >= 0, "dataset.generate", "seed", g.seed, "an integer >= 0")
        need(g.points_per_room >= 100, "dataset.generate", "points_per_room", g.points_per_room, "an integer >= 100")
        outdoor = {"beams": (2, 256), "azimuth_steps": (64, 8192), "frames_per_drive": (1, None)}
        for key, (low, high) in outdoor.items():
            value = getattr(g, key)
            if value is None:
                continue
            if d.name != "synthetic-outdoor":
                raise ValueError(f"{_where('dataset.generate', key, source)} applies to synthetic-outdoor only, not to "
                                 f"{d.name!r}; remove it")
            need(value >= low and (high is None or value <= high), "dataset.generate", key, value,
                 f"an integer in [{low}, {high}]" if high else f"an integer >= {low}")
    if d.root is None and d.name not in SYNTHETIC:
        raise ValueError(f"{_where('dataset', 'root', source)} is required for the real dataset {d.name!r} "
                         "(the folder holding the original files)")

    m = config.model
    choice("model", "name", m.name, MODELS)
    choice("model", "backend", m.backend, BACKENDS)
    need(math.isfinite(m.width) and m.width > 0, "model", "width", m.width, "a number > 0")

    t = config.train
    need(t.epochs_init >= 1, "train", "epochs_init", t.epochs_init, "an integer >= 1")
    need(t.epochs_finetune >= 0, "train", "epochs_finetune", t.epochs_finetune, "an integer >= 0")
    need(math.isfinite(t.lr) and t.lr > 0, "train", "lr", t.lr, "a number > 0")
    need(t.batch_size >= 1, "train", "batch_size", t.batch_size, "an integer >= 1")
    choice("train", "keep_checkpoints", t.keep_checkpoints, KEEP_CHECKPOINTS)
    choice("train", "augment", t.augment, AUGMENT)
    choice("train", "fine_tune_from", t.fine_tune_from, FINE_TUNE_FROM)
    need(t.loader_workers is None or t.loader_workers >= 0, "train", "loader_workers", t.loader_workers,
         "null (0 on CPU, min(4, threads - 1) on CUDA) or an integer >= 0")
    need(config.regions.min_points >= 0, "regions", "min_points", config.regions.min_points,
         "an integer >= 0 (0: every region is selectable)")
    if config.regions.division is not None:
        choice("regions", "division", config.regions.division, DIVISIONS)
    need(math.isfinite(config.regions.grid_size) and config.regions.grid_size > 0, "regions", "grid_size",
         config.regions.grid_size, "a number > 0 (metres)")
    need(t.threads is None or t.threads >= 1, "train", "threads", t.threads, "null (the rule of redal_core.threads) or an integer >= 1")
    if not _DEVICE.match(t.device):
        raise ValueError(f"{_where('train', 'device', source)} = {t.device!r} is not valid; valid values: auto, cpu, cuda, cuda:N")

    a = config.active
    from redal_core.active.strategies import STRATEGIES  # numpy-only, cheap

    if a.strategy not in STRATEGIES:
        raise ValueError(f"{_where('active', 'strategy', source)} = {a.strategy!r} is not a known strategy; "
                         f"valid names: {', '.join(STRATEGIES.names())}")
    for key in ("x_init", "x_active"):
        value = getattr(a, key)
        need(math.isfinite(value) and 0 < value <= 100, "active", key, value, "a percentage in (0, 100]")
    need(a.rounds >= 0, "active", "rounds", a.rounds, "an integer >= 0")
    for key in ("alpha", "beta", "gamma"):
        value = getattr(a, key)
        need(math.isfinite(value) and value >= 0, "active", key, value, "a number >= 0")
    need(a.clusters >= 1, "active", "clusters", a.clusters, "an integer >= 1")
    need(math.isfinite(a.decay) and 0 < a.decay <= 1, "active", "decay", a.decay, "a number in (0, 1]")
    need(a.mc_passes >= 1, "active", "mc_passes", a.mc_passes, "an integer >= 1")
    choice("active", "oracle", a.oracle, ORACLES)
    choice("active", "scoring", a.scoring, SCORING)
    need(a.trim_top is None or (math.isfinite(a.trim_top) and 0 < a.trim_top <= 1), "active", "trim_top", a.trim_top,
         "null (cluster every candidate) or a fraction in (0, 1]")


def _resolve(config: RunConfig, source: str) -> RunConfig:
    d = config.dataset
    synthetic = d.name in SYNTHETIC
    dataset = dataclasses.replace(
        d,
        root=d.root if d.root is not None else f"data/{d.name}",
        generate=(d.generate or GenerateConfig()) if synthetic else None,
        vccs=d.vccs if d.vccs is not None else d.family,
    )
    from redal_core.active.strategies import STRATEGIES  # numpy-only, cheap

    strategy = STRATEGIES.get(config.active.strategy)
    if strategy.requires_poses and (d.family != "semantickitti" or (synthetic and (d.generate is None or
                                                                                   d.generate.frames_per_drive is None))):
        raise ValueError(
            f"{_where('active', 'strategy', source)} = {strategy.name!r} needs consecutive frames with sensor poses, "
            f"which {d.name!r} " + ("does not have" if d.family != "semantickitti" else
                                    "writes only with dataset.generate.frames_per_drive set (e.g. 10)")
        )
    if config.active.pseudo_labels and strategy.name != "LiDAL":
        raise ValueError(f"{_where('active', 'pseudo_labels', source)} applies to the LiDAL strategy only, not to "
                         f"{strategy.name!r}; remove it")
    active = dataclasses.replace(config.active, strategy=strategy.name)
    train = dataclasses.replace(config.train, transforms=_resolve_transforms(config.train, dataset, source))
    regions = dataclasses.replace(config.regions, division=config.regions.division or strategy.division)
    resolved = dataclasses.replace(config, dataset=dataset, regions=regions, active=active, train=train)
    if resolved.run_id is None:
        resolved = dataclasses.replace(resolved, run_id=default_run_id(resolved))
    return resolved


def _resolve_transforms(t: TrainConfig, d: DatasetConfig, source: str) -> dict[str, dict[str, Any]]:
    """The training pipeline ``train.transforms`` that ``train.augment`` names, validated."""
    from redal_core.data.augment import check_transforms, official_transforms

    where = f"{source}: train.transforms"
    has_color = d.family == "s3dis"
    wanted = {"official": official_transforms(d.family), "none": {}}.get(t.augment)
    if t.augment == "custom":
        if t.transforms is None:
            raise ValueError(f"{_where('train', 'augment', source)} = 'custom' needs train.transforms "
                             "(a mapping of transform name -> parameters; see redal_core/data/augment.py)")
        return check_transforms(t.transforms, has_color=has_color, where=where)
    if t.transforms is not None and check_transforms(t.transforms, has_color=has_color, where=where) != wanted:
        raise ValueError(f"{_where('train', 'transforms', source)} differs from the {t.augment!r} pipeline of "
                         f"{d.family}; set train.augment: custom to train with your own transforms")
    return wanted
