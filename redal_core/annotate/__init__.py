"""Annotation hand-off: a round's selection out to annotators' tools as whole scans, their labels back in.

``export_round(run_dir, round_, out_dir=None)`` (``redal export``) writes the scans holding the units selected
after a round, their classes and a manifest (the layout: ``redal_core.annotate.export``);
``import_labels(run_dir, labels_dir)`` (``redal import``) reads annotators' labels back into the run
(``redal_core.annotate.imports``).

Modules (each imports only those above it; this package re-exports the public API, ``annotate.<name>``):

- ``manifest``    ``FORMAT_VERSION``, ``MANIFEST``, ``CLASSES``, ``read_manifest``, the selection hash
- ``formats``     ``scan_file_stems``, ``kitti_paths``, ``classes_table``, ``write_scan_ply`` and the label
  readers ``read_ply_labels`` / ``read_csv_labels`` / ``read_kitti_labels``; ``UNLABELED``
- ``run_folder``  ``open_run`` -> ``RunContext``, ``ScanUnits`` (a round's units per scan)
- ``export``      ``export_round``, ``cli_export``
- ``imports``     ``import_labels`` (``REPORT_COLUMNS``), ``cli_import``
"""

from __future__ import annotations

from .export import cli_export, export_round
from .formats import KITTI_UNLABELED as KITTI_UNLABELED
from .formats import (
    UNLABELED,
    classes_table,
    kitti_paths,
    read_csv_labels,
    read_kitti_labels,
    read_ply_labels,
    scan_file_stems,
    write_scan_ply,
)
from .imports import REPORT_COLUMNS as REPORT_COLUMNS
from .imports import cli_import, import_labels
from .manifest import CLASSES as CLASSES
from .manifest import FORMAT as FORMAT
from .manifest import FORMAT_VERSION, read_manifest
from .manifest import MANIFEST as MANIFEST
from .run_folder import RunContext, open_run
from .run_folder import ScanUnits as ScanUnits

# names outside __all__ (as ``redal_core.annotate`` had them) are re-exported as ``X as X``
__all__ = [
    "FORMAT_VERSION", "UNLABELED", "RunContext", "open_run", "scan_file_stems", "classes_table", "kitti_paths",
    "write_scan_ply", "read_ply_labels", "read_csv_labels", "read_kitti_labels", "export_round", "read_manifest",
    "import_labels", "cli_export", "cli_import",
]
