"""Batches for the engine: read, augmented and collated in the calling process or in DataLoader workers.

``BatchStream`` turns lists of sample positions into collated ``SparseBatch`` es on the device. With
``workers = 0`` it collates in the calling thread (the reference path). With ``workers > 0`` a
``torch.utils.data.DataLoader`` does it in spawned worker processes (persistent for the stream's life,
``prefetch_factor`` batches ahead each, pinned memory and non-blocking copies on CUDA), each worker at one
thread of every pool (``redal_core.threads``) so workers and training never oversubscribe the cores. A
batch depends only on its positions and its epoch seed, never on which process built it, so both paths
give the same batches in the same order, and the same results.

Worker rule (``train.loader_workers: null``): none on the CPU, where the batches would compete with the
training for the same cores; on CUDA ``min(MAX_WORKERS, threads - 1)`` (at least 1): the main process
needs one thread to feed the device.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from redal_core.data.voxelize import SparseBatch, collate

__all__ = ["MAX_WORKERS", "BatchStream", "loader_workers"]

#: Loader workers the rule gives at most (a GPU step takes tens of ms; four workers keep it fed).
MAX_WORKERS = 4


def loader_workers(configured: int | None, *, device: Any, threads: int) -> int:
    """Worker processes of a run's loader: ``configured`` when set, else the rule of the module docstring."""
    if configured is not None:
        if isinstance(configured, bool) or not isinstance(configured, int) or configured < 0:
            raise ValueError(f"train.loader_workers must be null or an integer >= 0, got {configured!r}")
        return configured
    if str(device).startswith("cuda"):
        return max(1, min(MAX_WORKERS, threads - 1))
    return 0


class _Chunks:
    """Map-style dataset whose keys are ``(positions, epoch_seed)``: one collated batch per key."""

    def __init__(self, samples: Sequence[Any], voxel_size: float) -> None:
        self.samples = samples
        self.voxel_size = voxel_size

    def __getitem__(self, key: tuple[tuple[int, ...], int | None]) -> SparseBatch:
        positions, epoch_seed = key
        if epoch_seed is None:
            items = [self.samples[j] for j in positions]
        else:
            items = [self.samples.augmented(j, np.random.default_rng([epoch_seed, j])) for j in positions]
        return collate(items, self.voxel_size)

    def __len__(self) -> int:  # the sampler, not the length, drives the loader
        return len(self.samples)


class _Keys:
    """A sampler whose keys are replaced before each pass (persistent workers keep one loader)."""

    def __init__(self) -> None:
        self.keys: list[tuple[tuple[int, ...], int | None]] = []

    def __iter__(self) -> Iterator[tuple[tuple[int, ...], int | None]]:
        return iter(list(self.keys))

    def __len__(self) -> int:
        return len(self.keys)


def _one_thread(_worker_id: int) -> None:
    from redal_core.threads import apply_threads

    apply_threads(1)


class BatchStream:
    """Collated batches of ``samples`` on ``device``; ``workers`` loader processes (0: in this process).

    ``stream(chunks, epoch_seed=None)`` yields one batch per chunk (a sequence of sample positions), in
    order; ``epoch_seed`` draws sample j through ``samples.augmented(j, default_rng([epoch_seed, j]))``.
    ``data_wait_s`` accumulates the seconds spent waiting for batches (collating, in-process).
    Use as a context manager (the workers end with it).
    """

    def __init__(self, samples: Sequence[Any], *, voxel_size: float, device: Any, workers: int = 0,
                 prefetch_factor: int = 2) -> None:
        import torch

        self._chunks = _Chunks(samples, voxel_size)
        self.device = torch.device(device)
        self.workers = int(workers)
        self.data_wait_s = 0.0
        self._keys = _Keys()
        self._loader = None
        if self.workers > 0:
            self._loader = torch.utils.data.DataLoader(
                self._chunks, batch_size=None, sampler=self._keys, num_workers=self.workers,
                persistent_workers=True, prefetch_factor=prefetch_factor, pin_memory=self.device.type == "cuda",
                worker_init_fn=_one_thread, multiprocessing_context="spawn",
            )

    def stream(self, chunks: Iterable[Sequence[int]], epoch_seed: int | None = None) -> Iterator[SparseBatch]:
        keys = [(tuple(int(j) for j in chunk), epoch_seed) for chunk in chunks]
        if self._loader is None:
            source: Iterator[SparseBatch] = (self._chunks[key] for key in keys)
        else:
            self._keys.keys = keys
            source = iter(self._loader)
        while True:
            started = time.perf_counter()
            try:
                batch = next(source)
            except StopIteration:
                return
            batch = batch.to(self.device)
            self.data_wait_s += time.perf_counter() - started
            yield batch

    def close(self) -> None:
        if self._loader is not None:
            # ending persistent workers: dropping the loader's iterator shuts them down
            self._loader = None

    def __enter__(self) -> BatchStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
