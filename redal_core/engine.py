"""Train, fine-tune, evaluate and predict: one process on CPU/CUDA, or several under ``torchrun`` (DDP).

Samples are ``(xyz (N,3) float32, feats (N,C) float32, labels (N,) int64 | None)`` tuples, taken from any
sequence (``ScanSamples`` reads them lazily from a dataset), collated a batch at a time with
``redal_core.data.voxelize.collate``, in this process or in DataLoader workers (``redal_core.batches``). Models follow the models contract:
``model(batch) -> (logits (P, K), features (P, F))`` per point.

Distributed: when ``torch.distributed`` is initialized with more than one process (``init_distributed``
does it from torchrun's ``WORLD_SIZE`` / ``RANK`` environment: gloo on CPU, nccl on CUDA), ``train`` wraps
the model in ``DistributedDataParallel`` and gives each rank every ``world``-th batch of the shared
permutation, ``evaluate`` shards the scans and all-reduces the confusion matrix. ``predict`` is per
process; callers shard the scans (``shard``) and gather their reductions.

Randomness: batch order comes from the ``rng`` passed in; weight initialisation and dropout use torch's
generator, which the caller seeds (the loop seeds it from ``(seed, round)``).
"""

from __future__ import annotations

import copy
import gc
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from redal_core import IGNORE_INDEX
from redal_core.batches import BatchStream
from redal_core.data.voxelize import input_features

if TYPE_CHECKING:
    import torch
    from torch import nn

Sample = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]


# -- samples --------------------------------------------------------------------------------------------
class ScanSamples(Sequence):
    """Lazy ``(xyz, feats, labels)`` samples of a dataset's scans ``indices``.

    label_fn   : ``label_fn(index, scan) -> (N,) int64`` training labels (IGNORE_INDEX where unlabeled);
                 None gives the ground truth; ``with_labels=False`` gives None (prediction).
    transforms : a training pipeline (``redal_core.data.augment``) that ``augmented(j, rng)`` applies;
                 ``samples[j]`` is never augmented.
    """

    def __init__(
        self,
        dataset: Any,
        indices: Sequence[int],
        *,
        label_fn: Callable[[int, Any], np.ndarray] | None = None,
        with_labels: bool = True,
        transforms: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.dataset = dataset
        self.indices = [int(i) for i in indices]
        self.label_fn = label_fn
        self.with_labels = with_labels
        self.transforms = transforms or {}

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, j: int) -> Sample:  # type: ignore[override]
        return self.augmented(j, None)

    def augmented(self, j: int, rng: np.random.Generator | None) -> Sample:
        """Sample j with the training pipeline applied, drawing from ``rng`` (None: not augmented)."""
        index = self.indices[j]
        scan = self.dataset[index]
        xyz, rgb = scan.xyz, scan.rgb
        if rng is not None and self.transforms:
            from redal_core.data.augment import apply_transforms

            xyz, rgb = apply_transforms(xyz, rgb, rng, self.transforms)
        feats = input_features(xyz, rgb, scan.intensity)
        if not self.with_labels:
            labels = None
        elif self.label_fn is None:
            labels = np.asarray(scan.labels, np.int64)
        else:
            labels = self.label_fn(index, scan)
        return np.asarray(xyz, np.float32), feats, labels


# -- devices and processes ------------------------------------------------------------------------------
def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` -> the local CUDA device if available (``cuda:LOCAL_RANK`` under torchrun), else CPU."""
    import torch

    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cuda" and "LOCAL_RANK" in os.environ:
        spec = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {spec!r} was asked for but CUDA is not available here; use 'cpu' or 'auto'")
    if spec != "cpu" and not spec.startswith("cuda"):
        raise ValueError(f"device {spec!r} is not valid; valid: auto, cpu, cuda, cuda:N")
    return torch.device(spec)


def init_distributed(device: torch.device) -> bool:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1); True when distributed.

    gloo on CPU, nccl on CUDA. A no-op (False) in a single process; idempotent.
    """
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            import torch

            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return True


def shutdown_distributed() -> None:
    """The counterpart of ``init_distributed``: destroy the process group if one is initialized (idempotent).

    No barrier first: on an error path the other ranks may be gone, and a barrier would hang.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(distributed: bool) -> None:
    """Wait for every rank when ``distributed`` (a no-op in one process)."""
    if distributed:
        import torch.distributed as dist

        dist.barrier()


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) when not distributed."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard(items: Sequence[Any], rank: int, size: int) -> list[Any]:
    """Every ``size``-th item starting at ``rank`` (a rank's share, in order)."""
    return list(items)[rank::size]


def _unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)


# -- training -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainResult:
    """optimizer_state : the Adam state of the returned model (to fine-tune from, or checkpoint);
    epoch_losses : mean training loss of each epoch (averaged over ranks);
    best_epoch, best_score : the epoch whose model ``keep_best`` chose and its score (None without it);
    epoch_steps : optimizer steps of each epoch (per rank: every rank takes as many);
    epoch_seconds : wall seconds of each epoch's training (its ``keep_best`` scoring not included);
    epoch_lrs : the learning rate of each epoch;
    epoch_scores : ``keep_best``'s score of each epoch, None where the epoch was not scored;
    epoch_data_wait : seconds of each epoch spent waiting for batches (reading, augmenting, collating)."""

    optimizer_state: dict[str, Any]
    epoch_losses: list[float]
    best_epoch: int | None = None
    best_score: float | None = None
    epoch_steps: list[int] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    epoch_lrs: list[float] = field(default_factory=list)
    epoch_scores: list[float | None] = field(default_factory=list)
    epoch_data_wait: list[float] = field(default_factory=list)


def train(
    model: nn.Module,
    samples: Sequence[Sample],
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    voxel_size: float,
    device: torch.device | str,
    rng: np.random.Generator,
    optimizer_state: dict[str, Any] | None = None,
    progress: bool = True,
    desc: str = "train",
    on_epoch: Callable[[int], None] | None = None,
    augment: bool = False,
    keep_best: Callable[[], float] | None = None,
    best_from_epoch: int = 0,
    workers: int = 0,
) -> TrainResult:
    """Train ``model`` in place with Adam(lr) and cross entropy ignoring ``IGNORE_INDEX``.

    samples : sequence of (xyz (N,3), feats (N,C), labels (N,) int64) with at least one labeled point each
    epochs  : passes over ``samples`` (0 returns at once); each epoch draws a permutation from ``rng``
    optimizer_state : an Adam ``state_dict`` to continue from (fine-tuning), or None (from scratch)
    on_epoch : called with the epoch number (0-based) after each epoch
    augment : draw each sample through ``samples.augmented(j, gen)`` (``ScanSamples``' training pipeline),
              ``gen = default_rng([s, j])`` with one ``s`` drawn from ``rng`` per epoch after its permutation
              (so a sample's augmentation depends on the epoch and the sample only, not on the batch order
              or the process that reads it); False draws nothing more from ``rng``
    keep_best : after each epoch >= ``best_from_epoch``, called for a score (e.g. validation mIoU); the
              model and optimizer state of the best-scoring epoch (first on ties) are restored at the end
    progress : an epoch bar (``tqdm.auto``, on stderr, rank 0 only) that stays when training ends
    workers : DataLoader worker processes that read, augment and collate the batches (``batches.BatchStream``;
              0: in this process); the results are the same either way
    Under DDP every rank draws the same permutation and takes every ``world``-th batch; the batch list
    is padded (wrapping around) to a multiple of the world size so every rank takes as many steps.
    """
    import torch
    from torch.nn.parallel import DistributedDataParallel
    from tqdm.auto import tqdm

    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(samples) == 0:
        raise ValueError("train needs at least one sample (no scan has a labeled point)")
    device = torch.device(device)
    rank, size = world()
    model.to(device)
    net = DistributedDataParallel(model) if size > 1 else model
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
        for group in optimizer.param_groups:
            group["lr"] = lr
    criterion = torch.nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX)
    losses: list[float] = []
    steps: list[int] = []
    seconds: list[float] = []
    lrs: list[float] = []
    scores: list[float | None] = []
    bar = tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress or rank != 0, leave=True)
    if augment and not hasattr(samples, "augmented"):
        raise ValueError(f"augment=True needs samples with an augmented(j, rng) method (ScanSamples), got "
                         f"{type(samples).__name__}")
    best: tuple[float, int, dict[str, Any], dict[str, Any]] | None = None
    loader = BatchStream(samples, voxel_size=voxel_size, device=device, workers=workers)
    waits: list[float] = []
    for epoch in bar:
        started = time.perf_counter()
        waited = loader.data_wait_s
        order = rng.permutation(len(samples))
        epoch_seed = int(rng.integers(2**63)) if augment else None
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        if size > 1 and len(batches) % size:
            batches += batches[: size - len(batches) % size]
        net.train()
        total = torch.zeros(2, dtype=torch.float64, device=device)
        for batch in loader.stream(batches[rank::size], epoch_seed):
            logits, _ = net(batch)
            loss = criterion(logits, batch.labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += torch.stack([loss.detach().double(), torch.ones((), dtype=torch.float64, device=device)])
        if size > 1:
            torch.distributed.all_reduce(total)
        losses.append(float(total[0] / total[1]))
        steps.append(len(batches[rank::size]))
        lrs.append(float(optimizer.param_groups[0]["lr"]))
        seconds.append(time.perf_counter() - started)
        waits.append(loader.data_wait_s - waited)
        score = None
        if keep_best is not None and epoch >= best_from_epoch:
            score = float(keep_best())
            if best is None or score > best[0]:
                best = (score, epoch, copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()))
        scores.append(score)
        bar.set_postfix(loss=f"{losses[-1]:.4f}", **({} if score is None else {"score": f"{score:.4f}"}))
        if on_epoch is not None:
            on_epoch(epoch)
    bar.close()
    loader.close()
    if best is not None:
        model.load_state_dict(best[2])
        optimizer.load_state_dict(best[3])
    if net is not model:
        # Release DDP's reducer (and the gloo Work objects it holds) now, not at interpreter shutdown: torch
        # 2.13 keeps the gloo group's worker thread alive once DDP used it, and a Work destroyed while the
        # interpreter exits makes that thread call std::terminate in a rank whose work is done.
        del net
        gc.collect()
    return TrainResult(optimizer_state=optimizer.state_dict(), epoch_losses=losses,
                       best_epoch=None if best is None else best[1], best_score=None if best is None else best[0],
                       epoch_steps=steps, epoch_seconds=seconds, epoch_lrs=lrs, epoch_scores=scores,
                       epoch_data_wait=waits)


# -- evaluation -----------------------------------------------------------------------------------------
def evaluate(
    model: nn.Module,
    dataset: Any,
    indices: Sequence[int],
    *,
    voxel_size: float,
    device: torch.device | str,
    num_classes: int,
    batch_size: int = 1,
    progress: bool = False,
    desc: str = "evaluate",
    workers: int = 0,
) -> np.ndarray:
    """(num_classes, num_classes) int64 confusion over ALL points of scans ``indices`` (rows: truth).

    The model's per-point logits are read back at every original point (through the batch's inverse
    voxel map); points whose ground truth is ``IGNORE_INDEX`` are not counted. Under DDP each rank
    evaluates its share and the matrices are summed. ``progress``: a bar over the scans (``tqdm.auto``,
    on stderr, rank 0 only).
    """
    return confusion(
        model, ScanSamples(dataset, indices), voxel_size=voxel_size, device=device,
        num_classes=num_classes, batch_size=batch_size, progress=progress, desc=desc, workers=workers,
    )


def confusion(
    model: nn.Module,
    samples: Sequence[Sample],
    *,
    voxel_size: float,
    device: torch.device | str,
    num_classes: int,
    batch_size: int = 1,
    progress: bool = False,
    desc: str = "evaluate",
    workers: int = 0,
) -> np.ndarray:
    """As ``evaluate``, over any labeled samples (labels (N,) int64, IGNORE_INDEX not counted)."""
    import torch
    from tqdm.auto import tqdm

    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    device = torch.device(device)
    rank, size = world()
    model = _unwrap(model).to(device).eval()
    matrix = torch.zeros(num_classes * num_classes, dtype=torch.int64, device=device)
    mine = shard(range(len(samples)), rank, size)
    bar = tqdm(total=len(mine), desc=desc, unit="scan", disable=not progress or rank != 0, leave=True)
    chunks = [mine[start : start + batch_size] for start in range(0, len(mine), batch_size)]
    with torch.inference_mode(), bar, BatchStream(samples, voxel_size=voxel_size, device=device,
                                                  workers=workers) as loader:
        for chunk, batch in zip(chunks, loader.stream(chunks), strict=True):
            logits, _ = model(batch)
            truth = batch.labels
            valid = truth != IGNORE_INDEX
            if ((truth[valid] < 0) | (truth[valid] >= num_classes)).any():
                bad = truth[valid][(truth[valid] < 0) | (truth[valid] >= num_classes)][0].item()
                raise ValueError(f"ground truth label {bad} is outside 0..{num_classes - 1} (and not IGNORE_INDEX)")
            pred = logits.argmax(dim=1)
            matrix += torch.bincount(truth[valid] * num_classes + pred[valid], minlength=num_classes * num_classes)
            bar.update(len(chunk))
    if size > 1:
        torch.distributed.all_reduce(matrix)
    return matrix.view(num_classes, num_classes).cpu().numpy()


# -- prediction -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prediction:
    """One scan's predictions.

    probs    : (N, K) float32 softmax of the deterministic (eval-mode) pass
    features : (N, F) float32 per-point features of that pass
    mc_probs : (T, N, K) float32 softmax of T passes with dropout active, or None
    """

    probs: np.ndarray
    features: np.ndarray
    mc_probs: np.ndarray | None


def predict(
    model: nn.Module,
    samples: Sequence[Sample],
    *,
    voxel_size: float,
    device: torch.device | str,
    mc_passes: int = 0,
    batch_size: int = 1,
    workers: int = 0,
) -> Iterator[Prediction]:
    """Yield a ``Prediction`` per sample, in order, streaming one batch at a time.

    mc_passes : 0 for none, else T forward passes with only the dropout layers in train mode
                (``redal_core.models.enable_mc_dropout``); dropout draws from torch's generator.
    workers   : DataLoader workers that read and collate the batches (0: in this process).
    """
    import torch

    if mc_passes < 0:
        raise ValueError(f"mc_passes must be >= 0, got {mc_passes}")
    device = torch.device(device)
    model = _unwrap(model).to(device)
    if mc_passes and not getattr(model, "has_dropout", False):
        raise ValueError(f"{type(model).__name__} has no dropout, so MC-dropout passes are impossible (use spvcnn)")
    chunks = [list(range(start, min(start + batch_size, len(samples)))) for start in range(0, len(samples), batch_size)]
    with torch.inference_mode(), BatchStream(samples, voxel_size=voxel_size, device=device, workers=workers) as loader:
        for chunk, batch in zip(chunks, loader.stream(chunks), strict=True):
            model.eval()
            logits, features = model(batch)
            probs = torch.softmax(logits.float(), dim=1)
            mc = None
            if mc_passes:
                from redal_core.models import enable_mc_dropout

                enable_mc_dropout(model)
                mc = torch.stack([torch.softmax(model(batch)[0].float(), dim=1) for _ in range(mc_passes)])
                model.eval()
            per_probs = batch.split(probs)
            per_features = batch.split(features.float())
            per_mc = list(mc.split(batch.point_counts, dim=1)) if mc is not None else [None] * len(chunk)
            for p, f, m in zip(per_probs, per_features, per_mc, strict=True):
                yield Prediction(
                    probs=p.cpu().numpy(), features=f.cpu().numpy(), mc_probs=None if m is None else m.cpu().numpy()
                )
