"""redal_core: region-based, diversity-aware active learning for point-cloud segmentation.

Data flows one way: data -> regions -> models -> active -> engine -> results -> notebooks.
Importing this package is cheap and has no side effects (no torch import, no global state).
"""

__version__ = "0.1.0"

#: Label value of points that carry no label (unlabeled, or classes mapped to ignore).
#: Matches ``torch.nn.CrossEntropyLoss``'s default ``ignore_index``.
IGNORE_INDEX: int = -100

__all__ = ["IGNORE_INDEX", "__version__"]
