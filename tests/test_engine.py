"""engine: train / evaluate / predict against a tiny per-point network with planted answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from redal_core import IGNORE_INDEX
from redal_core.engine import (
    ScanSamples,
    TrainResult,
    confusion,
    evaluate,
    predict,
    resolve_device,
    shard,
    train,
)

K = 3
VOXEL = 0.1


class TinyNet(nn.Module):
    """Per-point MLP plus its voxel's mean feature (read back through ``batch.inverse``)."""

    def __init__(self, in_channels: int = 6, num_classes: int = K, *, dropout: float = 0.0) -> None:
        super().__init__()
        self.point = nn.Linear(in_channels, 16)
        self.voxel = nn.Linear(in_channels, 16, bias=False)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(16, num_classes)
        self.has_dropout = dropout > 0
        self.feature_dim = 16

    def forward(self, batch):
        h = torch.relu(self.point(batch.point_feats) + self.voxel(batch.feats)[batch.inverse])
        return self.head(self.drop(h)), h


class PointNet(TinyNet):
    """Only per-point inputs: a point's output does not depend on any other point."""

    def forward(self, batch):
        h = torch.relu(self.point(batch.point_feats))
        return self.head(self.drop(h)), h


class OracleNet(nn.Module):
    """Planted predictions: class = the point's first feature channel (rgb[0] / 255 * (K-1), rounded)."""

    has_dropout = False

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, batch):
        cls = torch.round(batch.point_feats[:, 0] * (K - 1)).long()
        return torch.nn.functional.one_hot(cls, K).float() * 10 + self.dummy, batch.point_feats


def make_samples(n_scans: int, seed: int, points: int = 200) -> list:
    """Scans whose label is encoded in the red channel (a learnable, planted rule)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_scans):
        xyz = rng.uniform(0, 2, size=(points, 3)).astype(np.float32)
        labels = rng.integers(0, K, size=points).astype(np.int64)
        rgb = np.zeros((points, 3), np.float32)
        rgb[:, 0] = labels / (K - 1)
        rgb[:, 1:] = rng.uniform(0, 1, size=(points, 2))
        feats = np.concatenate([rgb, xyz - xyz.mean(0)], axis=1).astype(np.float32)
        out.append((xyz, feats, labels))
    return out


def params_of(model) -> list[np.ndarray]:
    return [p.detach().clone().numpy() for p in model.parameters()]


def fit(model, samples, *, epochs=3, seed=0, state=None, rng=None):
    return train(
        model, samples, epochs=epochs, lr=0.01, batch_size=2, voxel_size=VOXEL, device="cpu",
        rng=rng if rng is not None else np.random.default_rng(seed), optimizer_state=state, progress=False,
    )


def test_training_learns_a_planted_rule():
    torch.manual_seed(0)
    model = TinyNet()
    samples = make_samples(6, seed=1)
    result = fit(model, samples, epochs=15)
    assert isinstance(result, TrainResult) and len(result.epoch_losses) == 15
    assert result.epoch_losses[-1] < 0.5 * result.epoch_losses[0]
    matrix = confusion(model, make_samples(2, seed=2), voxel_size=VOXEL, device="cpu", num_classes=K)
    assert np.trace(matrix) / matrix.sum() > 0.9


def test_unlabeled_points_do_not_count():
    """IGNORE_INDEX points give exactly the same training as removing them (per-point network)."""
    samples = make_samples(4, seed=3)
    rng = np.random.default_rng(0)
    masked, removed = [], []
    for xyz, feats, labels in samples:
        keep = rng.random(labels.shape[0]) < 0.3
        masked.append((xyz, feats, np.where(keep, labels, IGNORE_INDEX)))
        removed.append((xyz[keep], feats[keep], labels[keep]))
    torch.manual_seed(1)
    a = PointNet()
    torch.manual_seed(1)
    b = PointNet()
    la = fit(a, masked).epoch_losses
    lb = fit(b, removed).epoch_losses
    np.testing.assert_allclose(la, lb, rtol=1e-5)
    for pa, pb in zip(params_of(a), params_of(b), strict=True):
        np.testing.assert_allclose(pa, pb, rtol=1e-5, atol=1e-6)


def test_training_is_deterministic_and_resumable():
    samples = make_samples(5, seed=4)
    torch.manual_seed(2)
    a = TinyNet()
    fit(a, samples, epochs=2, seed=7)
    torch.manual_seed(2)
    b = TinyNet()
    rng = np.random.default_rng(7)
    first = fit(b, samples, epochs=1, rng=rng)
    fit(b, samples, epochs=1, rng=rng, state=first.optimizer_state)
    for pa, pb in zip(params_of(a), params_of(b), strict=True):
        np.testing.assert_array_equal(pa, pb)


def test_train_rejects_empty_and_zero_epochs_is_a_no_op():
    model = TinyNet()
    with pytest.raises(ValueError, match="at least one sample"):
        fit(model, [])
    before = params_of(model)
    assert fit(model, make_samples(1, 0), epochs=0).epoch_losses == []
    for pa, pb in zip(before, params_of(model), strict=True):
        np.testing.assert_array_equal(pa, pb)


def test_train_reports_per_epoch_stats():
    samples = make_samples(5, seed=6)
    torch.manual_seed(3)
    result = fit(TinyNet(), samples, epochs=3)
    assert len(result.epoch_losses) == 3
    assert result.epoch_steps == [3, 3, 3]  # 5 samples in batches of 2
    assert result.epoch_lrs == [0.01, 0.01, 0.01]
    assert len(result.epoch_seconds) == 3 and all(s > 0 for s in result.epoch_seconds)
    assert result.epoch_scores == [None, None, None] and result.best_epoch is None
    scores = iter([0.3, 0.5])
    torch.manual_seed(3)
    best = train(TinyNet(), samples, epochs=3, lr=0.01, batch_size=2, voxel_size=VOXEL, device="cpu",
                 rng=np.random.default_rng(0), progress=False, keep_best=lambda: next(scores), best_from_epoch=1)
    assert best.epoch_scores == [None, 0.3, 0.5] and best.best_epoch == 2 and best.best_score == 0.5
    assert best.epoch_losses == result.epoch_losses  # scoring changes nothing in training
    assert fit(TinyNet(), samples, epochs=0).epoch_steps == []


def test_bars_go_to_stderr_only_when_asked_and_stay(capfd):
    samples = make_samples(4, seed=7)
    fit(TinyNet(), samples, epochs=2)
    confusion(OracleNet(), samples, voxel_size=VOXEL, device="cpu", num_classes=K)
    assert capfd.readouterr() == ("", "")  # progress=False: silent
    train(TinyNet(), samples, epochs=2, lr=0.01, batch_size=2, voxel_size=VOXEL, device="cpu",
          rng=np.random.default_rng(0), progress=True, desc="round 7")
    confusion(OracleNet(), samples, voxel_size=VOXEL, device="cpu", num_classes=K, batch_size=3, progress=True)
    out, err = capfd.readouterr()
    assert out == ""
    last = [line.rsplit("\r", 1)[-1] for line in err.splitlines() if line.strip()]
    # leave=True: each bar's final state stays on its own line
    assert any(line.startswith("round 7: 100%") and "2/2" in line and "loss=" in line for line in last), err
    assert any(line.startswith("evaluate: 100%") and "4/4" in line for line in last), err


def test_confusion_planted_and_ignores_unlabeled():
    samples = make_samples(3, seed=5)
    xyz, feats, labels = samples[0]
    labels = labels.copy()
    labels[:50] = IGNORE_INDEX
    samples[0] = (xyz, feats, labels)
    matrix = confusion(OracleNet(), samples, voxel_size=VOXEL, device="cpu", num_classes=K, batch_size=2)
    truth = np.concatenate([s[2] for s in samples])
    expected = np.bincount(truth[truth != IGNORE_INDEX], minlength=K)
    np.testing.assert_array_equal(matrix, np.diag(expected))
    assert matrix.dtype == np.int64


def test_confusion_matches_dense_reference():
    torch.manual_seed(3)
    model = TinyNet()
    samples = make_samples(3, seed=6)
    matrix = confusion(model, samples, voxel_size=VOXEL, device="cpu", num_classes=K, batch_size=2)
    reference = np.zeros((K, K), np.int64)
    for sample, pred in zip(samples, predict(model, samples, voxel_size=VOXEL, device="cpu"), strict=True):
        np.add.at(reference, (sample[2], pred.probs.argmax(1)), 1)
    np.testing.assert_array_equal(matrix, reference)


def test_confusion_rejects_out_of_range_labels():
    xyz, feats, labels = make_samples(1, seed=0)[0]
    with pytest.raises(ValueError, match="outside 0..2"):
        confusion(OracleNet(), [(xyz, feats, labels + 5)], voxel_size=VOXEL, device="cpu", num_classes=K)


def test_predict_shapes_and_batching():
    torch.manual_seed(4)
    model = TinyNet(dropout=0.5)
    samples = make_samples(3, seed=8, points=120)
    one = list(predict(model, samples, voxel_size=VOXEL, device="cpu", batch_size=1))
    two = list(predict(model, samples, voxel_size=VOXEL, device="cpu", batch_size=2))
    assert len(one) == len(two) == 3
    for a, b in zip(one, two, strict=True):
        assert a.probs.shape == (120, K) and a.probs.dtype == np.float32
        assert a.features.shape == (120, 16) and a.mc_probs is None
        np.testing.assert_allclose(a.probs.sum(1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(a.probs, b.probs, rtol=1e-5, atol=1e-6)


def test_predict_mc_passes_vary_and_leave_eval_mode(monkeypatch):
    import redal_core.models as models

    def enable(model):  # the models contract: only dropout layers in train mode
        for m in model.modules():
            if isinstance(m, nn.Dropout):
                m.train()

    if not hasattr(models, "enable_mc_dropout"):
        monkeypatch.setattr(models, "enable_mc_dropout", enable, raising=False)
    torch.manual_seed(5)
    model = TinyNet(dropout=0.5)
    samples = make_samples(2, seed=9, points=100)
    preds = list(predict(model, samples, voxel_size=VOXEL, device="cpu", mc_passes=4))
    assert preds[0].mc_probs.shape == (4, 100, K)
    np.testing.assert_allclose(preds[0].mc_probs.sum(2), 1.0, rtol=1e-5)
    assert not np.allclose(preds[0].mc_probs[0], preds[0].mc_probs[1])
    assert not model.training and not model.drop.training
    plain = list(predict(model, samples, voxel_size=VOXEL, device="cpu"))
    np.testing.assert_allclose(plain[0].probs, preds[0].probs, rtol=1e-6)
    with pytest.raises(ValueError, match="no dropout.*spvcnn"):
        list(predict(TinyNet(), samples, voxel_size=VOXEL, device="cpu", mc_passes=2))


class _Dataset:
    """A minimal dataset: ``ds[i] -> Scan``."""

    def __init__(self, samples):
        from redal_core.data.scan import Scan

        self.scans = [
            Scan(xyz=xyz, rgb=(feats[:, :3] * 255).round().astype(np.uint8), intensity=None, labels=labels, name=str(i))
            for i, (xyz, feats, labels) in enumerate(samples)
        ]

    def __len__(self):
        return len(self.scans)

    def __getitem__(self, i):
        return self.scans[i]


def test_evaluate_and_scan_samples_on_a_dataset():
    ds = _Dataset(make_samples(4, seed=10))
    matrix = evaluate(OracleNet(), ds, [1, 3], voxel_size=VOXEL, device="cpu", num_classes=K)
    truth = np.concatenate([ds[1].labels, ds[3].labels])
    np.testing.assert_array_equal(matrix, np.diag(np.bincount(truth, minlength=K)))
    samples = ScanSamples(ds, [2], label_fn=lambda i, scan: np.full(scan.num_points, IGNORE_INDEX, np.int64))
    xyz, feats, labels = samples[0]
    assert feats.shape == (200, 6) and (labels == IGNORE_INDEX).all()
    assert ScanSamples(ds, [0], with_labels=False)[0][2] is None


def test_devices_and_shards():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="tpu"):
        resolve_device("tpu")
    assert shard(range(7), 1, 3) == [1, 4]
    assert sorted(shard(range(7), 0, 2) + shard(range(7), 1, 2)) == list(range(7))


class ConstantNet(nn.Module):
    """Planted: predicts class ``c`` at every point."""

    has_dropout = False

    def __init__(self, c: int, num_classes: int) -> None:
        super().__init__()
        self.c, self.k = c, num_classes
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, batch):
        logits = torch.zeros(batch.point_feats.shape[0], self.k) + self.dummy
        logits[:, self.c] = 1.0
        return logits, batch.point_feats


@pytest.mark.real
def test_evaluate_real_semantickitti_all_points_absent_classes_missing(real_samples, tmp_path):
    from redal_core.data.datasets import build_dataset
    from redal_core.metrics import per_class_iou

    ds = build_dataset("semantickitti", real_samples, "val", cache_dir=tmp_path / "cache")
    k = ds.num_classes
    truth = np.concatenate([ds[i].labels for i in range(len(ds))])
    hist = np.bincount(truth[truth != IGNORE_INDEX], minlength=k)
    road = ds.class_names.index("road")
    matrix = evaluate(ConstantNet(road, k), ds, range(len(ds)), voxel_size=0.05, device="cpu", num_classes=k)
    np.testing.assert_array_equal(matrix[:, road], hist)  # every labeled point of the split is counted once
    assert matrix.sum() == hist.sum()
    iou = per_class_iou(matrix)
    assert np.isnan(iou[hist == 0]).all() and (hist == 0).any()  # absent classes are missing, not 1
    assert iou[road] == pytest.approx(hist[road] / hist.sum())


@pytest.mark.real
def test_predict_real_scan_with_minkunet_covers_every_point(real_samples, tmp_path):
    from redal_core.data.datasets import build_dataset
    from redal_core.models import build_model

    ds = build_dataset("semantickitti", real_samples, "val", cache_dir=tmp_path / "cache")
    torch.manual_seed(0)
    model = build_model("minkunet", in_channels=ds.in_channels, num_classes=ds.num_classes, width=0.125,
                        backend="torch")
    (pred,) = predict(model, ScanSamples(ds, [0], with_labels=False), voxel_size=0.05, device="cpu")
    n = ds[0].num_points
    assert pred.probs.shape == (n, ds.num_classes) and pred.features.shape == (n, model.feature_dim)
    np.testing.assert_allclose(pred.probs.sum(1), 1.0, rtol=1e-4)


class EncodedNet(nn.Module):
    """Planted: the prediction of a point is written in its 4th input channel."""

    has_dropout = False

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, batch):
        pred = batch.point_feats[:, 3].round().long()
        return torch.nn.functional.one_hot(pred, self.k).float() + self.dummy, batch.point_feats


@settings(max_examples=25, deadline=None)
@given(data=st.data(), k=st.integers(1, 6), n_scans=st.integers(1, 4), batch_size=st.integers(1, 3))
def test_confusion_property_matches_bincount_reference(data, k, n_scans, batch_size):
    samples, truth_all, pred_all = [], [], []
    for s in range(n_scans):
        n = data.draw(st.integers(1, 40), label=f"points{s}")
        seed = data.draw(st.integers(0, 2**16), label=f"seed{s}")
        rng = np.random.default_rng(seed)
        xyz = rng.uniform(0, 1, (n, 3)).astype(np.float32)  # several points share voxels
        truth = rng.integers(0, k, n)
        truth[rng.random(n) < 0.3] = IGNORE_INDEX
        pred = rng.integers(0, k, n)
        feats = np.zeros((n, 4), np.float32)
        feats[:, 3] = pred
        samples.append((xyz, feats, truth.astype(np.int64)))
        truth_all.append(truth)
        pred_all.append(pred)
    truth, pred = np.concatenate(truth_all), np.concatenate(pred_all)
    keep = truth != IGNORE_INDEX
    reference = np.zeros((k, k), np.int64)
    np.add.at(reference, (truth[keep], pred[keep]), 1)
    matrix = confusion(EncodedNet(k), samples, voxel_size=0.3, device="cpu", num_classes=k, batch_size=batch_size)
    np.testing.assert_array_equal(matrix, reference)
