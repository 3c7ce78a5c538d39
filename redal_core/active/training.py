"""One round's training: from scratch (round 0) or fine-tuned from round r-1's checkpoint, on the labeled
points, with the run's augmentation, leaving its epochs in ``train_log.csv`` and then
``checkpoints/round_r.pt`` (model and Adam state) behind.

A checkpoint that exists is that round's model (trained before an interruption) and is reused as is; its
epochs are in ``train_log.csv`` already (written before the checkpoint), so a resumed run's log equals an
uninterrupted run's but for the seconds.
"""

from __future__ import annotations

from collections.abc import Callable

from redal_core.active.faults import maybe_fault
from redal_core.active.seeding import PHASE_TRAIN, round_rng, seed_torch
from redal_core.results import atomic_save_torch, write_train_log

__all__ = ["BEST_VAL_EPOCHS", "train_round"]

#: ``train.fine_tune_from: best_val`` chooses among a round's last epochs (the official code: 20).
BEST_VAL_EPOCHS = 20


def train_round(config, paths, model, dataset, labeled_scans, label_fn, r, device, *, progress, fault, rank,
                distributed, val_miou, heartbeat: Callable[[], None] | None = None, workers: int = 0) -> None:
    """Round r's training, leaving its rows of ``train_log.csv`` and ``checkpoints/round_r.pt`` (model + Adam
    state) behind; ``heartbeat`` is called after every epoch.

    ``train.fine_tune_from: best_val`` keeps the model of the epoch with the best validation mIoU among the
    round's last ``BEST_VAL_EPOCHS`` epochs (the official code's choice, made on the evaluation split);
    ``last`` keeps the last epoch's. Either way the next round fine-tunes from this checkpoint. The log
    holds each epoch's steps, mean loss, lr and seconds, the validation mIoU of the epochs ``best_val``
    scored (empty elsewhere) and ``kept`` = 1 on the epoch whose model the checkpoint holds."""
    import torch

    from redal_core.engine import ScanSamples, barrier, train

    checkpoint = paths.checkpoint(r)
    if checkpoint.exists():  # trained before an interruption: the checkpoint is exactly that model
        saved = torch.load(checkpoint, map_location=device, weights_only=True)
        model.load_state_dict(saved["model"])
        return
    optimizer_state = None
    if r > 0:
        saved = torch.load(paths.checkpoint(r - 1), map_location=device, weights_only=True)
        model.load_state_dict(saved["model"])
        optimizer_state = saved["optimizer"]
    epochs = config.train.epochs_init if r == 0 else config.train.epochs_finetune
    seed_torch(config.seed, r, PHASE_TRAIN)
    samples = ScanSamples(dataset, labeled_scans, label_fn=label_fn, transforms=config.train.transforms)
    def on_epoch(epoch: int) -> None:
        if heartbeat is not None:
            heartbeat()
        maybe_fault(fault, "train", r)

    best = config.train.fine_tune_from == "best_val"
    result = train(model, samples, epochs=epochs, lr=config.train.lr, batch_size=config.train.batch_size,
                   voxel_size=config.dataset.voxel_size, device=device, rng=round_rng(config.seed, r, PHASE_TRAIN),
                   optimizer_state=optimizer_state, progress=progress, desc=f"round {r}", on_epoch=on_epoch,
                   augment=bool(config.train.transforms), keep_best=val_miou if best else None,
                   best_from_epoch=max(0, epochs - BEST_VAL_EPOCHS), workers=workers)
    if rank == 0:
        kept = result.best_epoch if result.best_epoch is not None else epochs - 1
        write_train_log(paths, r, [
            {"epoch": e, "steps": result.epoch_steps[e], "loss": result.epoch_losses[e], "lr": result.epoch_lrs[e],
             "val_miou": result.epoch_scores[e], "kept": int(e == kept), "seconds": result.epoch_seconds[e],
             "data_s": result.epoch_data_wait[e]}
            for e in range(epochs)
        ])
        state = {"model": model.state_dict(), "optimizer": result.optimizer_state, "round": r}
        atomic_save_torch(checkpoint, state)
    barrier(distributed)
