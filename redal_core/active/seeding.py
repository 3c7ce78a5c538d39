"""Where a run's randomness comes from: ``(seed, round, phase)``, never global state.

numpy generators are ``default_rng([seed, round, phase])``; torch's generator is re-seeded from the same
triple before each phase (weight init, training, MC-dropout prediction), so a resumed run draws exactly
what an uninterrupted one drew.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PHASE_INIT", "PHASE_PREDICT", "PHASE_SELECT", "PHASE_TRAIN", "round_rng", "seed_torch"]

PHASE_INIT, PHASE_TRAIN, PHASE_PREDICT, PHASE_SELECT = 0, 1, 2, 3


def round_rng(seed: int, round_: int, phase: int) -> np.random.Generator:
    """The numpy generator of ``phase`` in round ``round_`` of a run seeded ``seed``."""
    return np.random.default_rng([seed, round_, phase])


def seed_torch(seed: int, round_: int, phase: int) -> None:
    """Seed torch's global generator for ``phase`` of round ``round_`` (from ``round_rng``)."""
    import torch

    torch.manual_seed(int(round_rng(seed, round_, phase).integers(2**62)))
