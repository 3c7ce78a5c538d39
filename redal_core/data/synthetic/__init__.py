"""Procedural datasets written in the ORIGINAL on-disk formats, so the real readers read them.

* ``write_synthetic_indoor``: rooms in the Stanford3dDataset_v1.2_Aligned_Version layout
  ``root/Area_N/<room>/Annotations/<class>_<k>.txt`` plus the room file ``root/Area_N/<room>/<room>.txt``
  (lines ``x y z r g b``, 3 decimals). Points are sampled on the SURFACES of planes, boxes, prisms and
  discs (offices, conference rooms, hallways, lounges, ...; box or L-shaped), coloured per class with
  texture (wood grain, carpet, ceiling tiles, books, boards with frames, glass), lit, jittered (~5 mm),
  with occlusion holes (behind/under furniture, above beams) and random dropout blobs.
* ``write_synthetic_outdoor``: sweeps of a rotating 64-beam scanner (HDL-64E-like elevations, sensor at
  1.73 m) ray-cast against an analytic street scene, in the SemanticKITTI layout
  ``root/sequences/XX/velodyne/NNNNNN.bin`` (float32 x, y, z, remission) and ``labels/NNNNNN.label``
  (uint32: raw semantic id in the low 16 bits, instance id in the high 16 bits for things). With
  ``frames_per_drive`` the sweeps are consecutive frames of drives through one static street each (one
  sequence per drive) with KITTI's ``poses.txt`` / ``calib.txt`` / ``times.txt``.

Both are deterministic: the same arguments give byte-identical files. Scan ``i`` is generated from
``np.random.SeedSequence(seed).spawn(scans)[i]``; the split assignment is a pure function of ``scans``.

Modules (each imports only those above it; this package re-exports the public API):

- ``validation``  argument checks shared by the generators and writers
- ``materials``   indoor paints and palettes, ``_paint_points``; outdoor material / remission tables
- ``room``        the room model: ``_Frame``, ``_Room`` (quads, holes, occluders), ``_Wall``, ``_Plan``
- ``furniture``   wall slots, floor claims and the builders of doors, windows, ..., chairs, clutter, beams
- ``indoor``      ``generate_room``: layout (``_ROOM_SPECS``), structure, surface sampling
- ``solids``      ``KITTI_RAW_IDS`` / ``KITTI_THING_IDS``, ``_Solid``, ``_Street``, ``_add`` / ``_part``
- ``road_users``  vehicles, two-wheelers and pedestrians built of solids
- ``outdoor``     ``_street_scene``: the street layout and its objects
- ``scanner``     ``hdl64_elevations``, ``generate_sweep``, the ray caster (``_cast``, ``_intersect``)
- ``drives``      ``drive_trajectory``, ``generate_drive`` -> ``Drive``: consecutive sweeps of one street
- ``writers``     ``write_synthetic_indoor`` / ``write_synthetic_outdoor``, ``assign_areas`` /
  ``assign_sequences``, ``format_xyzrgb`` and the file-format helpers
"""

from __future__ import annotations

from .drives import MAX_DRIVE_FRAMES, Drive, drive_trajectory, generate_drive
from .indoor import _ROOM_SPECS as _ROOM_SPECS
from .indoor import generate_room
from .scanner import MAX_RANGE, SENSOR_HEIGHT, generate_sweep, hdl64_elevations
from .scanner import _cast as _cast
from .scanner import _intersect as _intersect
from .solids import _BOX as _BOX
from .solids import _CYLINDER as _CYLINDER
from .solids import _ELLIPSOID as _ELLIPSOID
from .solids import KITTI_RAW_IDS, KITTI_THING_IDS
from .solids import _Solid as _Solid
from .writers import (
    KITTI_CALIB,
    MAX_DRIVES,
    VALIDATION_AREA,
    VALIDATION_SEQUENCE,
    assign_areas,
    assign_sequences,
    format_xyzrgb,
    kitti_velodyne_to_camera,
    write_synthetic_indoor,
    write_synthetic_outdoor,
)

__all__ = [
    "KITTI_CALIB",
    "KITTI_RAW_IDS",
    "KITTI_THING_IDS",
    "MAX_DRIVES",
    "MAX_DRIVE_FRAMES",
    "MAX_RANGE",
    "SENSOR_HEIGHT",
    "Drive",
    "VALIDATION_AREA",
    "VALIDATION_SEQUENCE",
    "assign_areas",
    "assign_sequences",
    "drive_trajectory",
    "format_xyzrgb",
    "generate_drive",
    "generate_room",
    "generate_sweep",
    "hdl64_elevations",
    "kitti_velodyne_to_camera",
    "write_synthetic_indoor",
    "write_synthetic_outdoor",
]
