"""RunConfig: YAML -> frozen dataclasses, validated once with messages that name the key."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from redal_core.config import RunConfig, default_run_id, preset, strategy_slug


def test_defaults_resolve():
    config = RunConfig.from_dict({})
    assert config.seed == 0
    assert config.dataset.root == "data/synthetic-indoor"
    assert config.dataset.vccs == "s3dis"
    assert config.dataset.generate is not None and config.dataset.generate.scans == 12
    assert config.active.strategy == "ReDAL" and config.active.rounds == 6
    assert config.run_id == "synthetic-indoor-minkunet-redal-s0"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 3  # type: ignore[misc]


def test_run_id_slug():
    config = RunConfig.from_dict({"active": {"strategy": "ENT+Region+Color/Structure"}})
    assert config.run_id == "synthetic-indoor-minkunet-ent_region_color-structure-s0"
    assert strategy_slug("RAND+Region") == "rand_region"
    assert RunConfig.from_dict({"run_id": "mine"}).run_id == "mine"


def test_outdoor_family_defaults():
    config = RunConfig.from_dict({"dataset": {"name": "synthetic-outdoor"}})
    assert config.dataset.vccs == "semantickitti"
    assert config.dataset.root == "data/synthetic-outdoor"


def test_real_dataset_needs_root_and_rejects_generate():
    with pytest.raises(ValueError, match=r"dataset\.root.*required.*s3dis"):
        RunConfig.from_dict({"dataset": {"name": "s3dis"}})
    with pytest.raises(ValueError, match=r"dataset\.generate.*synthetic datasets only"):
        RunConfig.from_dict({"dataset": {"name": "semantickitti", "root": "x", "generate": {"scans": 2}}})
    config = RunConfig.from_dict({"dataset": {"name": "semantickitti", "root": "/data/kitti"}})
    assert config.dataset.generate is None


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ValueError) as info:
        RunConfig.from_dict({"train": {"epoch": 3}})
    message = str(info.value)
    assert "unknown key 'epoch'" in message and "section 'train'" in message
    assert "epochs_init" in message and "eval_every_round" in message
    with pytest.raises(ValueError, match=r"unknown key 'sed' in the top level; valid keys: seed, run_id"):
        RunConfig.from_dict({"sed": 1})
    with pytest.raises(ValueError, match=r"unknown key 'n' in section 'dataset.generate'"):
        RunConfig.from_dict({"dataset": {"generate": {"n": 1}}})


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ({"seed": "1"}, r"key 'seed' must be an integer, got '1' \(str\)"),
        ({"seed": True}, r"key 'seed' must be an integer, got True"),
        ({"train": {"lr": "fast"}}, r"key 'train.lr' must be a number, got 'fast'"),
        ({"train": {"eval_every_round": 1}}, r"'train.eval_every_round' must be true/false"),
        ({"dataset": {"max_train_scans": 2.5}}, r"'dataset.max_train_scans' must be an integer or null"),
        ({"dataset": "s3dis"}, r"key 'dataset' must be a mapping"),
        ({"model": {"name": "pointnet"}}, r"'model.name' = 'pointnet' is not valid; valid values: minkunet, spvcnn"),
        ({"train": {"device": "gpu"}}, r"'train.device' = 'gpu' is not valid"),
        ({"active": {"oracle": "crowd"}}, r"valid values: simulated, human"),
        ({"active": {"strategy": "SUPER"}}, r"'active.strategy' = 'SUPER' is not a known strategy; valid names: RAND, MAR"),  # BALD is one now
    ],
)
def test_wrong_types_and_choices_name_the_key(data, pattern):
    with pytest.raises(ValueError, match=pattern):
        RunConfig.from_dict(data, source="params/x.yaml")


@pytest.mark.parametrize("key", ["x_init", "x_active"])
@pytest.mark.parametrize("value", [0, -1.0, 100.5, float("nan")])
def test_percentage_out_of_range(key, value):
    with pytest.raises(ValueError, match=rf"'active.{key}' = .* out of range; allowed: a percentage in \(0, 100\]"):
        RunConfig.from_dict({"active": {key: value}})


def test_int_accepted_for_float_and_stored_as_float():
    config = RunConfig.from_dict({"active": {"x_init": 3}, "train": {"lr": 1}})
    assert isinstance(config.active.x_init, float) and config.active.x_init == 3.0
    assert isinstance(config.train.lr, float)


def test_from_yaml_names_the_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("active:\n  x_init: 0\n")
    with pytest.raises(ValueError, match=str(path)):
        RunConfig.from_yaml(path)
    path.write_text("seed: 4\nactive: {strategy: ENT, rounds: 2}\n")
    config = RunConfig.from_yaml(path)
    assert config.seed == 4 and config.active.rounds == 2
    with pytest.raises(FileNotFoundError):
        RunConfig.from_yaml(tmp_path / "none.yaml")


def test_preset_values():
    s3dis = preset("s3dis", "spvcnn")
    assert s3dis["active"]["x_init"] == 3.0 and s3dis["active"]["x_active"] == 2.0 and s3dis["active"]["rounds"] == 6
    assert (s3dis["train"]["epochs_init"], s3dis["train"]["epochs_finetune"]) == (200, 150)
    assert s3dis["active"]["clusters"] == 400 and s3dis["model"]["name"] == "spvcnn"
    kitti = preset("synthetic-outdoor", "minkunet")
    assert (kitti["active"]["x_init"], kitti["active"]["x_active"], kitti["active"]["rounds"]) == (1.0, 1.0, 4)
    assert (kitti["train"]["epochs_init"], kitti["train"]["epochs_finetune"]) == (100, 30)
    assert (kitti["active"]["alpha"], kitti["active"]["beta"], kitti["active"]["gamma"]) == (1.0, 0.0, 0.05)
    assert kitti["active"]["clusters"] == 150
    for p in (s3dis, kitti):
        assert p["dataset"]["voxel_size"] == 0.05 and p["active"]["decay"] == 0.95
        assert p["train"]["batch_size"] == 16 and p["train"]["lr"] == 0.001 and p["active"]["mc_passes"] == 10
    config = RunConfig.from_dict({**kitti, "dataset": {"name": "synthetic-outdoor", **kitti["dataset"]}})
    assert config.active.clusters == 150
    with pytest.raises(ValueError, match="unknown dataset family"):
        preset("scannet", "minkunet")


def test_replace_rederives_run_id():
    config = RunConfig.from_dict({"active": {"strategy": "ENT"}})
    other = config.replace(seed=3, active={"strategy": "MCDR"})
    assert other.run_id == "synthetic-indoor-minkunet-mcdr-s3"
    assert other.active.x_init == config.active.x_init
    fixed = RunConfig.from_dict({"run_id": "keep"}).replace(seed=2)
    assert fixed.run_id == "keep"
    with pytest.raises(ValueError, match="x_active"):
        config.replace(active={"x_active": 0})


_configs = st.fixed_dictionaries(
    {},
    optional={
        "seed": st.integers(0, 10_000),
        "results_dir": st.sampled_from(["results", "/tmp/r"]),
        "dataset": st.fixed_dictionaries(
            {},
            optional={
                "name": st.sampled_from(["synthetic-indoor", "synthetic-outdoor"]),
                "voxel_size": st.floats(0.01, 1.0),
                "max_train_scans": st.none() | st.integers(1, 50),
                "generate": st.fixed_dictionaries({}, optional={"scans": st.integers(1, 40)}),
            },
        ),
        "model": st.fixed_dictionaries({}, optional={"name": st.sampled_from(["minkunet", "spvcnn"]),
                                                     "width": st.floats(0.1, 2.0)}),
        "train": st.fixed_dictionaries({}, optional={"epochs_init": st.integers(1, 300), "batch_size": st.integers(1, 32)}),
        "active": st.fixed_dictionaries(
            {},
            optional={
                "strategy": st.sampled_from(["ReDAL", "ENT+Region+Color/Structure", "RAND", "MCDR"]),
                "x_init": st.floats(0.001, 100.0),
                "x_active": st.floats(0.001, 100.0),
                "rounds": st.integers(0, 10),
            },
        ),
    },
)


@settings(max_examples=60, deadline=None)
@given(_configs)
def test_to_dict_round_trips_through_yaml(data):
    config = RunConfig.from_dict(data)
    again = RunConfig.from_dict(yaml.safe_load(yaml.safe_dump(config.to_dict())))
    assert again == config
    assert again.run_id == config.run_id
    if "run_id" not in data:
        assert config.run_id == default_run_id(config)


def test_keep_checkpoints_is_a_choice():
    assert RunConfig.from_dict({"train": {"keep_checkpoints": "last"}}).train.keep_checkpoints == "last"
    with pytest.raises(ValueError, match=r"'train.keep_checkpoints' = 'none' is not valid; valid values: all, last"):
        RunConfig.from_dict({"train": {"keep_checkpoints": "none"}})


def test_generated_rooms_need_at_least_100_points():
    with pytest.raises(ValueError, match=r"points_per_room' = 50 is out of range; allowed: an integer >= 100"):
        RunConfig.from_dict({"dataset": {"generate": {"points_per_room": 50}}})
