"""MinkUNet and SPVCNN: contract (shapes, feature_dim, dropout), backend-independent state_dicts, whole-network
equivalence across installed backends, training on a synthetic room, a real SemanticKITTI scan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from redal_core.data.voxelize import collate, input_features
from redal_core.models import available_backends, build_model, enable_mc_dropout
from redal_core.models.blocks import BASE_CHANNELS, scaled
from redal_core.models.sparse import SparseTensor, point_map, voxelize

SHARED = Path(__file__).resolve().parents[2] / "shared"
BACKENDS = available_backends()
OTHER_BACKENDS = [name for name in BACKENDS if name != "torch"]
NAMES = ["minkunet", "spvcnn"]


def _room(seed: int, n: int = 2500):
    """A tiny synthetic room: floor (0), two walls (1, 2) and a table (3) with class-typical colours."""
    rng = np.random.default_rng(seed)
    parts = []
    for label, (lo, hi), colour in [
        (0, ((0, 0, 0), (2, 2, 0.02)), (120, 100, 80)),
        (1, ((0, 0, 0), (0.02, 2, 1.2)), (200, 200, 210)),
        (2, ((0, 0, 0), (2, 0.02, 1.2)), (180, 190, 200)),
        (3, ((0.8, 0.8, 0.6), (1.4, 1.3, 0.65)), (90, 60, 30)),
    ]:
        m = n // 4
        xyz = rng.uniform(lo, hi, (m, 3))
        rgb = np.clip(rng.normal(colour, 12, (m, 3)), 0, 255).astype(np.uint8)
        parts.append((xyz, rgb, np.full(m, label)))
    xyz = np.concatenate([p[0] for p in parts]).astype(np.float32)
    rgb = np.concatenate([p[1] for p in parts])
    labels = np.concatenate([p[2] for p in parts]).astype(np.int64)
    return xyz, input_features(xyz, rgb, None), labels


@pytest.fixture(scope="module")
def room_batch():
    return collate([_room(0), _room(1, n=1600)], voxel_size=0.08)


def _forward_backward(name: str, backend: str, batch, state=None):
    torch.manual_seed(0)
    model = build_model(name, in_channels=6, num_classes=4, width=0.25, backend=backend)
    if state is not None:
        model.load_state_dict(state)
    model.train()
    logits, features = model(batch)
    gen = torch.Generator().manual_seed(5)
    scale = logits.shape[0] ** -0.5  # keeps every gradient O(1), so 1e-4 is a float32-level tolerance
    loss = scale * ((logits * torch.randn(logits.shape, generator=gen)).sum()
                    + (features * torch.randn(features.shape, generator=gen)).sum())
    loss.backward()
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    return model, logits.detach(), features.detach(), grads


@pytest.mark.parametrize("name", NAMES)
def test_output_contract(name, room_batch):
    model = build_model(name, in_channels=6, num_classes=4, width=0.5, backend="torch")
    logits, features = model(room_batch)
    n_points = room_batch.point_coords.shape[0]
    assert logits.shape == (n_points, 4) and features.shape == (n_points, model.feature_dim)
    assert model.feature_dim == scaled(96, 0.5) == 48
    assert model.has_dropout is (name == "spvcnn")
    assert bool(torch.isfinite(logits).all())


def test_width_multiplier_and_channel_plan():
    model = build_model("minkunet", in_channels=4, num_classes=19, width=0.3, backend="torch")
    assert model.channels == tuple(max(1, round(c * 0.3)) for c in BASE_CHANNELS)
    assert model.trunk.stem[0][0].kernel.shape == (27, 4, round(32 * 0.3))
    tiny = build_model("minkunet", in_channels=4, num_classes=19, width=0.01, backend="torch")
    assert min(tiny.channels) == 1
    full = build_model("minkunet", in_channels=4, num_classes=19, backend="torch")
    assert full.channels == BASE_CHANNELS
    assert full.trunk.stages[3][2].net[0].kernel.shape == (27, 256, 256)
    assert full.trunk.ups[3][1][0].net[0].kernel.shape == (27, 96 + 32, 96)


def test_invalid_arguments_are_rejected(room_batch):
    with pytest.raises(ValueError, match="unknown model 'pointnet'.*minkunet"):
        build_model("pointnet", in_channels=6, num_classes=4)
    with pytest.raises(ValueError, match="in_channels must be a positive int"):
        build_model("minkunet", in_channels=0, num_classes=4)
    with pytest.raises(ValueError, match="width must be a positive finite number"):
        build_model("spvcnn", in_channels=6, num_classes=4, width=float("nan"))
    with pytest.raises(ValueError, match="unknown sparse backend"):
        build_model("spvcnn", in_channels=6, num_classes=4, backend="dense")
    model = build_model("minkunet", in_channels=4, num_classes=4, width=0.25, backend="torch")
    with pytest.raises(ValueError, match="in_channels=4.*6 voxel"):
        model(room_batch)


def test_spvcnn_initial_voxelization_equals_batch_feats(room_batch):
    from redal_core.models.sparse import get_backend

    x = SparseTensor.from_input(coords=room_batch.coords, feats=room_batch.feats, backend=get_backend("torch"))
    pmap = point_map(x, room_batch.point_coords, room_batch.inverse)
    torch.testing.assert_close(voxelize(x, room_batch.point_feats, pmap).feats, room_batch.feats, rtol=1e-5, atol=1e-6)


def test_mc_dropout_mode(room_batch):
    model = build_model("spvcnn", in_channels=6, num_classes=4, width=0.25, backend="torch")
    model.train()
    assert enable_mc_dropout(model) is model
    modes = {type(m).__name__: m.training for m in model.modules() if isinstance(m, (nn.Dropout, nn.BatchNorm1d))}
    assert modes == {"Dropout": True, "SparseBatchNorm": False, "BatchNorm1d": False}
    with torch.no_grad():
        first, second = model(room_batch)[0], model(room_batch)[0]
    assert not torch.allclose(first, second)  # dropout samples differ between passes
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(room_batch)[0], model(room_batch)[0])
    with pytest.raises(ValueError, match="no dropout layers"):
        enable_mc_dropout(build_model("minkunet", in_channels=6, num_classes=4, width=0.25, backend="torch"))


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_does_not_depend_on_backend(name):
    shapes = {}
    for backend in BACKENDS:
        model = build_model(name, in_channels=6, num_classes=4, width=0.25, backend=backend)
        shapes[backend] = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert all(s == shapes["torch"] for s in shapes.values())
    assert not any("backend" in key for key in shapes["torch"])


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_whole_network_matches_torch_backend(name, backend, room_batch):
    """Same weights (a checkpoint written on the torch backend), same input: outputs and gradients agree."""
    ref_model, ref_logits, ref_features, ref_grads = _forward_backward(name, "torch", room_batch)
    state = {k: v.clone() for k, v in ref_model.state_dict().items()}
    _, logits, features, grads = _forward_backward(name, backend, room_batch, state=state)
    assert _max_error(logits, ref_logits) <= 1e-4
    assert _max_error(features, ref_features) <= 1e-4
    assert grads.keys() == ref_grads.keys()
    worst = max((_max_error(grads[k], ref_grads[k]), k) for k in grads)
    assert worst[0] <= 1e-4, worst


def _max_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """Max abs difference, relative to the reference's largest entry when that exceeds 1: float32 sums over
    thousands of pairs in another order (MinkowskiEngine) differ by ~1e-6 of their magnitude."""
    return (got - want).abs().max().item() / max(1.0, want.abs().max().item())


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_training_steps_lower_the_loss(name, backend, room_batch):
    torch.manual_seed(1)
    model = build_model(name, in_channels=6, num_classes=4, width=0.25, backend=backend)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(5):
        logits, _ = model(room_batch)
        loss = nn.functional.cross_entropy(logits, room_batch.labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False)), losses


def test_set_backend_keeps_weights_and_copies_survive(room_batch):
    import copy
    import pickle

    model = build_model("minkunet", in_channels=6, num_classes=4, width=0.25, backend="torch").eval()
    with torch.no_grad():
        before = model(room_batch)[0]
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert clone.backend_name == "torch"
        with torch.no_grad():
            torch.testing.assert_close(clone(room_batch)[0], before)
    if OTHER_BACKENDS:
        model.set_backend(OTHER_BACKENDS[0])
        assert model.backend_name == OTHER_BACKENDS[0]
        with torch.inference_mode():
            assert _max_error(model(room_batch)[0], before) <= 1e-4


@pytest.mark.real
def test_real_semantickitti_scan_runs_through_both_networks():
    path = SHARED / "real_samples" / "semantickitti" / "sequences" / "08" / "velodyne"
    scans = sorted(path.glob("*.bin")) if path.is_dir() else []
    if not scans:
        pytest.skip(f"real SemanticKITTI scans are absent at {path}")
    scan = np.fromfile(scans[0], dtype=np.float32).reshape(-1, 4)
    near = scan[np.linalg.norm(scan[:, :2], axis=1) < 6.0]  # a crop keeps the test fast
    batch = collate([(near[:, :3], input_features(near[:, :3], None, near[:, 3]), None)], voxel_size=0.05)
    for name in NAMES:
        model = build_model(name, in_channels=4, num_classes=19, width=0.25, backend="torch").eval()
        with torch.inference_mode():
            logits, features = model(batch)
        assert logits.shape == (len(near), 19) and features.shape == (len(near), model.feature_dim)
        assert bool(torch.isfinite(logits).all())
