"""Sparse adapter: torch backend against dense F.conv3d references (float64, forward and gradients), every
other installed backend against the torch backend (float32, <= 1e-4), offset order, point <-> voxel ops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from redal_core.data.voxelize import collate
from redal_core.models.sparse import (
    STRIDE2_OFFSETS,
    SUBM3_OFFSETS,
    BackendUnavailable,
    SparseTensor,
    available_backends,
    devoxelize,
    get_backend,
    point_map,
    voxelize,
)
from redal_core.models.sparse.backends import calibrate_offsets

OTHER_BACKENDS = [name for name in available_backends() if name != "torch"]
TOL = 1e-4


def _random_coords(seed: int, size: int = 6, density: float = 0.35, batches: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for b in range(batches):
        occupied = torch.rand((size, size, size), generator=gen) < density
        occupied[0, 0, 0] = True  # never empty
        xyz = occupied.nonzero().to(torch.int32)
        rows.append(torch.cat([torch.full((len(xyz), 1), b, dtype=torch.int32), xyz], dim=1))
    return torch.cat(rows)


def _densify(coords: torch.Tensor, feats: torch.Tensor, size: int, stride: int = 1) -> torch.Tensor:
    """(B, C, size, size, size) dense grid with feats at coords // stride (differentiable in feats)."""
    batches = int(coords[:, 0].max()) + 1
    dense = feats.new_zeros((batches, size, size, size, feats.shape[1]))
    c = coords.long()
    dense = dense.index_put((c[:, 0], c[:, 1] // stride, c[:, 2] // stride, c[:, 3] // stride), feats)
    return dense.permute(0, 4, 1, 2, 3)


def _read(dense: torch.Tensor, coords: torch.Tensor, stride: int = 1) -> torch.Tensor:
    c = coords.long()
    return dense.permute(0, 2, 3, 4, 1)[c[:, 0], c[:, 1] // stride, c[:, 2] // stride, c[:, 3] // stride]


# ---------------------------------------------------------------- torch backend vs dense reference (float64)
@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), c_in=st.integers(1, 4), c_out=st.integers(1, 4), batches=st.integers(1, 2))
def test_subm3_matches_dense_conv3d_forward_and_gradients(seed, c_in, c_out, batches):
    coords = _random_coords(seed, batches=batches)
    gen = torch.Generator().manual_seed(seed + 1)
    feats = torch.randn((len(coords), c_in), dtype=torch.float64, generator=gen, requires_grad=True)
    weight = torch.randn((27, c_in, c_out), dtype=torch.float64, generator=gen, requires_grad=True)
    probe = torch.randn((len(coords), c_out), dtype=torch.float64, generator=gen)

    backend = get_backend("torch")
    out = backend.subm3(SparseTensor.from_input(coords=coords, feats=feats, backend=backend), weight).feats
    grads = torch.autograd.grad((out * probe).sum(), (feats, weight))

    dense_w = weight.reshape(3, 3, 3, c_in, c_out).permute(4, 3, 0, 1, 2)
    ref = _read(F.conv3d(_densify(coords, feats, 6), dense_w, padding=1), coords)
    ref_grads = torch.autograd.grad((ref * probe).sum(), (feats, weight))
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-10)
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), c_in=st.integers(1, 4), c_out=st.integers(1, 4), batches=st.integers(1, 2))
def test_strided_and_transposed_match_dense_references(seed, c_in, c_out, batches):
    coords = _random_coords(seed, batches=batches)
    gen = torch.Generator().manual_seed(seed + 2)
    feats = torch.randn((len(coords), c_in), dtype=torch.float64, generator=gen, requires_grad=True)
    w_down = torch.randn((8, c_in, c_out), dtype=torch.float64, generator=gen, requires_grad=True)
    w_up = torch.randn((8, c_out, c_in), dtype=torch.float64, generator=gen, requires_grad=True)

    backend = get_backend("torch")
    x = SparseTensor.from_input(coords=coords, feats=feats, backend=backend)
    coarse = backend.down2(x, w_down)
    fine = backend.up2(coarse, w_up)
    assert coarse.stride == 2 and fine.stride == 1
    assert torch.equal(fine.coords, x.coords)  # back onto the encoder's own coordinates
    assert bool((coarse.coords[:, 1:] % 2 == 0).all())
    probe_c = torch.randn(coarse.feats.shape, dtype=torch.float64, generator=gen)
    probe_f = torch.randn(fine.feats.shape, dtype=torch.float64, generator=gen)
    loss = (coarse.feats * probe_c).sum() + (fine.feats * probe_f).sum()
    grads = torch.autograd.grad(loss, (feats, w_down, w_up))

    dense_down = F.conv3d(_densify(coords, feats, 6), w_down.reshape(2, 2, 2, c_in, c_out).permute(4, 3, 0, 1, 2), stride=2)
    ref_coarse = _read(dense_down, coarse.coords, stride=2)
    # the transposed reference sees only the active coarse voxels (a sparse tensor's zeros elsewhere)
    active = _densify(coarse.coords, ref_coarse, 3, stride=2)
    dense_up = F.conv_transpose3d(active, w_up.reshape(2, 2, 2, c_out, c_in).permute(3, 4, 0, 1, 2), stride=2)
    ref_fine = _read(dense_up, coords)
    ref_loss = (ref_coarse * probe_c).sum() + (ref_fine * probe_f).sum()
    ref_grads = torch.autograd.grad(ref_loss, (feats, w_down, w_up))
    torch.testing.assert_close(coarse.feats, ref_coarse, rtol=0, atol=1e-10)
    torch.testing.assert_close(fine.feats, ref_fine, rtol=0, atol=1e-10)
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


def test_subm3_at_stride_two_uses_offsets_times_stride():
    coords = _random_coords(3, size=8, density=0.5)
    backend = get_backend("torch")
    gen = torch.Generator().manual_seed(0)
    x = SparseTensor.from_input(coords=coords, feats=torch.randn((len(coords), 2), dtype=torch.float64, generator=gen),
                                backend=backend)
    coarse = backend.down2(x, torch.randn((8, 2, 3), dtype=torch.float64, generator=gen))
    weight = torch.randn((27, 3, 2), dtype=torch.float64, generator=gen)
    out = backend.subm3(coarse, weight)
    dense = F.conv3d(_densify(coarse.coords, coarse.feats, 4, stride=2),
                     weight.reshape(3, 3, 3, 3, 2).permute(4, 3, 0, 1, 2), padding=1)
    torch.testing.assert_close(out.feats, _read(dense, coarse.coords, stride=2), rtol=0, atol=1e-10)


# ---------------------------------------------------------------- planted offsets: one non-zero weight
@pytest.mark.parametrize("backend_name", available_backends())
def test_offset_order_is_canonical_for_every_backend(backend_name):
    """A weight that is the identity at one offset and zero elsewhere copies the neighbour at that offset."""
    coords = _random_coords(11, size=6, density=0.6)
    feats = torch.arange(1, len(coords) + 1, dtype=torch.float32)[:, None]
    backend = get_backend(backend_name)
    ref = get_backend("torch")
    x = SparseTensor.from_input(coords=coords, feats=feats, backend=backend)
    lookup = SparseTensor.from_input(coords=coords, feats=feats, backend=ref).context.level(1)
    for k, offset in enumerate(SUBM3_OFFSETS):
        weight = torch.zeros((27, 1, 1))
        weight[k] = 1.0
        out = backend.subm3(x, weight).feats[:, 0]
        neighbour = lookup.lookup(coords.long() + torch.tensor([0, *offset]))
        want = torch.where(neighbour >= 0, feats[neighbour.clamp(min=0), 0], torch.zeros(()))
        assert torch.equal(out, want), f"{backend_name}: offset {offset} (index {k})"
    for k, offset in enumerate(STRIDE2_OFFSETS):
        weight = torch.zeros((8, 1, 1))
        weight[k] = 1.0
        coarse = backend.down2(x, weight)
        child = lookup.lookup(coarse.coords.long() + torch.tensor([0, *offset]))
        want = torch.where(child >= 0, feats[child.clamp(min=0), 0], torch.zeros(()))
        assert torch.equal(coarse.feats[:, 0], want), f"{backend_name}: strided offset {offset}"
        up = backend.up2(coarse.with_feats(torch.ones_like(coarse.feats)), weight).feats[:, 0]
        is_child = torch.tensor([tuple((c % 2).tolist()) == offset for c in coords[:, 1:]], dtype=torch.float32)
        assert torch.equal(up, is_child), f"{backend_name}: transposed offset {offset}"


@pytest.mark.parametrize("backend_name", OTHER_BACKENDS)
def test_calibration_probe_recovers_a_permutation(backend_name):
    perms = calibrate_offsets(get_backend(backend_name))
    assert sorted(perms["subm3"].tolist()) == list(range(27))
    assert sorted(perms["down2"].tolist()) == list(range(8))
    assert sorted(perms["up2"].tolist()) == list(range(8))


# ---------------------------------------------------------------- other backends vs torch (float32)
def _layer_stack(backend_name, coords: torch.Tensor, seed: int):
    gen = torch.Generator().manual_seed(seed)
    feats = (torch.randn((len(coords), 5), generator=gen)).requires_grad_()
    weights = [
        (torch.randn((27, 5, 8), generator=gen) / np.sqrt(5 * 27)).requires_grad_(),
        (torch.randn((8, 8, 12), generator=gen) / np.sqrt(8 * 8)).requires_grad_(),
        (torch.randn((27, 12, 12), generator=gen) / np.sqrt(12 * 27)).requires_grad_(),
        (torch.randn((8, 12, 12), generator=gen) / np.sqrt(12 * 8)).requires_grad_(),
        (torch.randn((27, 12, 12), generator=gen) / np.sqrt(12 * 27)).requires_grad_(),
        (torch.randn((8, 12, 6), generator=gen) / np.sqrt(12 * 8)).requires_grad_(),
        (torch.randn((8, 6, 4), generator=gen) / np.sqrt(6 * 8)).requires_grad_(),
    ]
    backend = get_backend(backend_name)
    x = SparseTensor.from_input(coords=coords, feats=feats, backend=backend)
    outs = [backend.subm3(x, weights[0])]
    outs.append(backend.down2(outs[-1], weights[1]))   # stride 2
    outs.append(backend.subm3(outs[-1], weights[2]))
    outs.append(backend.down2(outs[-1], weights[3]))   # stride 4
    outs.append(backend.subm3(outs[-1], weights[4]))
    outs.append(backend.up2(outs[-1], weights[5]))     # back to 2
    outs.append(backend.up2(outs[-1], weights[6]))     # back to 1
    # probes scaled by 1/sqrt(rows) keep every gradient O(1), so 1e-4 is a float32-level tolerance
    probes = [torch.randn(o.feats.shape, generator=gen) / o.feats.shape[0] ** 0.5 for o in outs]
    loss = sum((o.feats * p).sum() for o, p in zip(outs, probes, strict=True))
    grads = torch.autograd.grad(loss, [feats, *weights])
    return [o.feats.detach() for o in outs], grads, [o.coords for o in outs]


@pytest.mark.parametrize("backend_name", OTHER_BACKENDS)
def test_backend_matches_torch_layer_by_layer(backend_name):
    coords = _random_coords(5, size=14, density=0.25, batches=2)
    want_out, want_grads, want_coords = _layer_stack("torch", coords, seed=1)
    got_out, got_grads, got_coords = _layer_stack(backend_name, coords, seed=1)
    for i, (got, want) in enumerate(zip(got_out, want_out, strict=True)):
        assert torch.equal(got_coords[i], want_coords[i])
        assert _max_error(got, want) <= TOL, f"layer {i}"
    for i, (got, want) in enumerate(zip(got_grads, want_grads, strict=True)):
        assert _max_error(got, want) <= TOL, f"gradient {i}"


def _max_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """Max abs difference, relative to the reference's largest entry when that exceeds 1 (float32 sums of
    many pairs accumulated in another order differ by ~1e-6 of their magnitude)."""
    return (got - want).abs().max().item() / max(1.0, want.abs().max().item())


def test_explicitly_requested_missing_backend_names_the_install_step():
    for name in ("minkowski", "torchsparse", "spconv"):
        if name in available_backends():
            continue
        with pytest.raises(BackendUnavailable, match="install|PyPI|build"):
            get_backend(name)
    with pytest.raises(ValueError, match="valid names: auto, .*torch"):
        get_backend("cuda-magic")


def test_auto_backend_prefers_spconv_on_cpu_when_installed():
    expected = "spconv" if "spconv" in available_backends() else "torch"
    if torch.cuda.is_available() and "torchsparse" in available_backends():
        expected = "torchsparse"
    assert get_backend("auto").name == expected


# ---------------------------------------------------------------- caching, validation
def test_kernel_maps_are_built_once_per_stride_and_shared():
    coords = _random_coords(2, size=8)
    backend = get_backend("torch")
    x = SparseTensor.from_input(coords=coords, feats=torch.randn(len(coords), 2), backend=backend)
    y = backend.subm3(x, torch.randn(27, 2, 3))
    assert x.context.subm3_map(1) is y.context.subm3_map(1)
    coarse = backend.down2(y, torch.randn(8, 3, 3))
    assert coarse.context is x.context
    assert coarse.context.stride2_map(1) is x.context.stride2_map(1)


def test_invalid_inputs_are_rejected_with_clear_messages():
    backend = get_backend("torch")
    dup = torch.tensor([[0, 1, 1, 1], [0, 2, 2, 2], [0, 1, 1, 1]], dtype=torch.int32)
    with pytest.raises(ValueError, match="duplicate rows.*row 0"):
        SparseTensor.from_input(coords=dup, feats=torch.zeros(3, 1), backend=backend)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        SparseTensor.from_input(coords=torch.zeros(3, 3, dtype=torch.int32), feats=torch.zeros(3, 1), backend=backend)
    with pytest.raises(ValueError, match="int32 or int64"):
        SparseTensor.from_input(coords=torch.zeros(3, 4), feats=torch.zeros(3, 1), backend=backend)
    x = SparseTensor.from_input(coords=_random_coords(0), feats=torch.zeros(len(_random_coords(0)), 2), backend=backend)
    with pytest.raises(ValueError, match=r"shape \(27, 2, C_out\)"):
        backend.subm3(x, torch.zeros(27, 3, 4))
    with pytest.raises(ValueError, match="stride >= 2"):
        backend.up2(x, torch.zeros(8, 2, 2))
    huge = torch.tensor([[0, 0, 0, 0], [0, 2**30, 2**30, 2**30]], dtype=torch.int32)
    with pytest.raises(ValueError, match="too large to index"):
        SparseTensor.from_input(coords=huge, feats=torch.zeros(2, 1), backend=backend)


def test_negative_coordinates_downsample_by_floor():
    coords = torch.tensor([[0, -1, -1, -1], [0, -2, -2, -2], [0, 0, 0, 0], [0, 1, 1, 1]], dtype=torch.int32)
    backend = get_backend("torch")
    x = SparseTensor.from_input(coords=coords, feats=torch.ones(4, 1), backend=backend)
    coarse = backend.down2(x, torch.ones(8, 1, 1))
    assert sorted(map(tuple, coarse.coords.tolist())) == [(0, -2, -2, -2), (0, 0, 0, 0)]
    assert sorted(coarse.feats[:, 0].tolist()) == [2.0, 2.0]


# ---------------------------------------------------------------- point <-> voxel
def _point_batch(seed: int, n: int = 400, voxel: float = 0.1):
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(0, 1, (n, 3)).astype(np.float32)
    feats = rng.normal(size=(n, 3)).astype(np.float32)
    return collate([(xyz, feats, None), (xyz[: n // 2] * 0.7, feats[: n // 2], None)], voxel)


def test_point_voxelize_is_the_collate_mean():
    batch = _point_batch(0)
    x = SparseTensor.from_input(coords=batch.coords, feats=batch.feats, backend=get_backend("torch"))
    pmap = point_map(x, batch.point_coords, batch.inverse)
    torch.testing.assert_close(voxelize(x, batch.point_feats, pmap).feats, batch.feats, rtol=1e-6, atol=1e-6)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), level=st.sampled_from([1, 2, 4]))
def test_devoxelize_reproduces_linear_fields_and_weights_are_a_partition(seed, level):
    """Trilinear interpolation of a field linear in the voxel centres is exact where all 8 corners exist."""
    side = 8
    grid = torch.stack(torch.meshgrid(*[torch.arange(side)] * 3, indexing="ij"), dim=-1).reshape(-1, 3)
    coords = torch.cat([torch.zeros(len(grid), 1, dtype=torch.int64), grid], dim=1).to(torch.int32)
    rng = np.random.default_rng(seed)
    points = torch.from_numpy(rng.uniform(0, side, (300, 3))).to(torch.float64)
    point_coords = torch.cat([torch.zeros(300, 1, dtype=torch.float64), points], dim=1)
    rows = torch.from_numpy((points.floor().long() * torch.tensor([side * side, side, 1])).sum(1).numpy())
    backend = get_backend("torch")
    x = SparseTensor.from_input(coords=coords, feats=torch.zeros(len(coords), 1, dtype=torch.float64), backend=backend)
    while x.stride < level:
        x = backend.down2(x, torch.ones(8, 1, 1, dtype=torch.float64))
    slope = torch.from_numpy(rng.normal(size=3))
    centres = x.coords[:, 1:].double() + level / 2
    field = x.with_feats((centres @ slope + 0.5)[:, None])
    pmap = point_map(field, point_coords, rows)
    torch.testing.assert_close(pmap.corner_weights.sum(0), torch.ones(300, dtype=torch.float64))
    own = pmap.corner_rows == pmap.rows[None]
    assert bool(((pmap.corner_weights * own).sum(0) >= 1 / 8 - 1e-12).all())
    values = devoxelize(field, pmap)[:, 0]
    interior = ((points >= level / 2) & (points <= side - level / 2)).all(dim=1)
    want = points @ slope + 0.5
    torch.testing.assert_close(values[interior], want[interior], rtol=0, atol=1e-9)


def test_devoxelize_gradient_matches_autograd_reference():
    batch = _point_batch(3)
    coords = batch.coords
    x = SparseTensor.from_input(coords=coords, feats=batch.feats.double(), backend=get_backend("torch"))
    pmap = point_map(x, batch.point_coords.double(), batch.inverse)
    feats = torch.randn(len(coords), 4, dtype=torch.float64, requires_grad=True)
    probe = torch.randn(len(batch.inverse), 4, dtype=torch.float64)
    got = torch.autograd.grad((devoxelize(x.with_feats(feats), pmap) * probe).sum(), feats)[0]
    dense = (feats[pmap.corner_rows] * pmap.corner_weights[..., None]).sum(0)
    want = torch.autograd.grad((dense * probe).sum(), feats)[0]
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    # a point at its voxel's centre reads that voxel alone
    centre = x.coords[:1].double() + torch.tensor([0.0, 0.5, 0.5, 0.5], dtype=torch.float64)
    one = point_map(x, centre, torch.zeros(1, dtype=torch.int64))
    assert torch.allclose(devoxelize(x.with_feats(feats), one), feats[:1])


@pytest.mark.skipif("spconv" not in available_backends(), reason="spconv is not installed")
def test_spconv_own_cpu_kernels_and_backward_work_around():
    """spconv's own CPU gather/GEMM/scatter (its backward needs the CUDA-stream work-around) matches torch.

    Run at one thread: spconv 2.3.8's scatter_add_cpu races with more (see backend_spconv's docstring)."""
    from redal_core.models.sparse.backend_spconv import SpconvBackend

    coords = _random_coords(7, size=10, density=0.3, batches=2)
    assert torch.get_num_threads() == 1  # the autouse fixture
    got_out, got_grads, _ = _layer_stack(SpconvBackend(cpu_arithmetic="spconv"), coords, seed=2)
    want_out, want_grads, _ = _layer_stack("torch", coords, seed=2)
    for got, want in zip([*got_out, *got_grads], [*want_out, *want_grads], strict=True):
        assert _max_error(got, want) <= TOL
