"""The crash-recovery testing hook: ``REDAL_FAULT=<phase>:<round>`` makes a run SIGKILL itself.

Phases, in a round's order: ``train:R`` after the first epoch of round R's training (before its
checkpoint), ``eval:R`` after round R's evaluation, ``predict:R`` after round R's predictions and scores
(before the selection), ``select:R`` after round R's selection file and metrics are written but before
its label state and ``state.json``. The fault tests kill a run at these points and check that the resumed
run ends exactly as an uninterrupted one.
"""

from __future__ import annotations

import os
import signal

__all__ = ["PHASES", "maybe_fault", "parse_fault"]

PHASES = ("train", "eval", "predict", "select")


def parse_fault(spec: str | None) -> tuple[str, int] | None:
    """``"train:2" -> ("train", 2)``; None for an empty spec; ValueError naming the allowed forms."""
    if not spec:
        return None
    phase, _, round_ = spec.partition(":")
    if phase not in PHASES or not round_.isdigit():
        raise ValueError(f"REDAL_FAULT={spec!r} must be <phase>:<round> with phase one of {', '.join(PHASES)} "
                         "(a testing hook)")
    return phase, int(round_)


def maybe_fault(fault: tuple[str, int] | None, phase: str, round_: int) -> None:
    """SIGKILL this process when ``fault`` names ``phase`` of ``round_``."""
    if fault == (phase, round_):
        os.kill(os.getpid(), signal.SIGKILL)
