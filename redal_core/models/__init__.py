"""Backbones: MinkUNet and SPVCNN written once against the sparse adapter, on any installed backend.

``build_model(name, *, in_channels, num_classes, width=1.0, backend="auto")`` and ``enable_mc_dropout``.
"""

from __future__ import annotations

from torch import nn

from .base import MODELS, SegmentationNet
from .minkunet import MinkUNet
from .sparse import BACKENDS, Backend, available_backends, get_backend
from .spvcnn import SPVCNN

__all__ = [
    "BACKENDS",
    "MODELS",
    "SPVCNN",
    "MinkUNet",
    "SegmentationNet",
    "available_backends",
    "build_model",
    "enable_mc_dropout",
    "get_backend",
]


def build_model(
    name: str, *, in_channels: int, num_classes: int, width: float = 1.0, backend: str | Backend = "auto"
) -> SegmentationNet:
    """A segmentation backbone by name (``minkunet`` or ``spvcnn``).

    in_channels : 6 for S3DIS (rgb + xyz), 4 for SemanticKITTI (xyz + remission); width : channel multiplier
    (channels = max(1, round(c * width))); backend : ``auto``, ``torch``, ``spconv``, ``minkowski``,
    ``torchsparse``. The state_dict does not depend on the backend.
    """
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS.names())}")
    return MODELS.get(name)(in_channels=in_channels, num_classes=num_classes, width=width, backend=backend)


def enable_mc_dropout(model: nn.Module) -> nn.Module:
    """Put the model in eval mode except its dropout layers (train mode) for MC-dropout passes; returns it.

    BatchNorm and everything else use their running statistics. Raises ValueError for a model without
    dropout layers (MinkUNet), for which MC dropout would silently return identical passes.
    """
    dropouts = [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    if not dropouts:
        raise ValueError(f"{type(model).__name__} has no dropout layers: MC dropout needs a model like 'spvcnn'")
    model.eval()
    for module in dropouts:
        module.train()
    return model
