"""S3DIS reader: planted rooms, the release's defects repaired with a warning, one error test per bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redal_core import IGNORE_INDEX
from redal_core.data.s3dis import S3DIS_CLASSES, read_room


def _points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xyz = np.round(rng.uniform(-5, 5, (n, 3)), 3)
    rgb = rng.integers(0, 256, (n, 3))
    return xyz, rgb


def test_class_order_is_the_usual_one():
    assert S3DIS_CLASSES == (
        "ceiling", "floor", "wall", "beam", "column", "window", "door",
        "table", "chair", "sofa", "bookcase", "board", "clutter",
    )  # fmt: skip


def test_planted_room_reads_points_colours_and_labels(tmp_path, write_annotation):
    room = tmp_path / "Area_2" / "office_7"
    parts = {"wall_1.txt": _points(4, 1), "ceiling_1.txt": _points(3, 2), "stairs_1.txt": _points(2, 3),
             "table_12.txt": _points(5, 4)}  # fmt: skip
    for filename, (xyz, rgb) in parts.items():
        write_annotation(room, filename, xyz, rgb)
    (room / "office_7.txt").write_text("this room-level file is never read\n")

    scan = read_room(room)

    order = sorted(parts)  # files are read in sorted name order
    assert scan.name == "Area_2/office_7"
    assert scan.intensity is None
    np.testing.assert_array_equal(scan.xyz, np.concatenate([parts[f][0] for f in order]).astype(np.float32))
    np.testing.assert_array_equal(scan.rgb, np.concatenate([parts[f][1] for f in order]).astype(np.uint8))
    expected = {"ceiling_1.txt": 0, "stairs_1.txt": 12, "table_12.txt": 7, "wall_1.txt": 2}
    np.testing.assert_array_equal(scan.labels, np.concatenate([np.full(len(parts[f][0]), expected[f]) for f in order]))


def test_crlf_line_endings_are_read(tmp_path, write_annotation):
    room = tmp_path / "Area_1" / "WC_1"
    write_annotation(room, "floor_1.txt", raw=b"1.0 2.0 3.0 4 5 6\r\n7.5 8.5 9.5 10 11 12\r\n")
    scan = read_room(room)
    np.testing.assert_array_equal(scan.xyz, np.array([[1, 2, 3], [7.5, 8.5, 9.5]], np.float32))
    np.testing.assert_array_equal(scan.rgb, np.array([[4, 5, 6], [10, 11, 12]], np.uint8))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), seed=st.integers(0, 2**16), k=st.integers(1, 30))
def test_roundtrip_of_written_rooms(tmp_path_factory, n, seed, k):
    room = tmp_path_factory.mktemp("rooms") / "Area_3" / "lounge_1"
    xyz, rgb = _points(n, seed)
    cls = S3DIS_CLASSES[seed % len(S3DIS_CLASSES)]
    folder = room / "Annotations"
    folder.mkdir(parents=True)
    (folder / f"{cls}_{k}.txt").write_text("".join(f"{a:.3f} {b:.3f} {c:.3f} {r} {g} {bl}\n"
                                                   for (a, b, c), (r, g, bl) in zip(xyz, rgb, strict=True)))
    scan = read_room(room)
    np.testing.assert_array_equal(scan.xyz, xyz.astype(np.float32))
    np.testing.assert_array_equal(scan.rgb, rgb.astype(np.uint8))
    assert (scan.labels == S3DIS_CLASSES.index(cls)).all()


def test_nul_byte_between_two_numbers_becomes_a_separator(tmp_path, write_annotation):
    room = tmp_path / "Area_5" / "hallway_6"
    raw = b"1.000 2.000 3.000 10 20 30\n22.350 6.692 3.048 185\x00187 183\n4.000 5.000 6.000 40 50 60\n"
    path = write_annotation(room, "ceiling_1.txt", raw=raw)
    with pytest.warns(UserWarning, match=rf"{re.escape(str(path))}: line 2: control byte\(s\) .* replaced by spaces"):
        scan = read_room(room)
    assert scan.num_points == 3
    np.testing.assert_array_equal(scan.rgb[1], [185, 187, 183])
    np.testing.assert_allclose(scan.xyz[1], [22.35, 6.692, 3.048], rtol=1e-6)


def test_control_byte_inside_a_number_is_deleted(tmp_path, write_annotation):
    room = tmp_path / "Area_5" / "hallway_6"
    path = write_annotation(room, "ceiling_1.txt", raw=b"1.000 2.000 3.000 10 20 30\n1.5 2.5 3.5 18\x105 187 183\n")
    with pytest.warns(UserWarning, match=rf"{re.escape(str(path))}: line 2: control byte\(s\) .* deleted"):
        scan = read_room(room)
    np.testing.assert_array_equal(scan.rgb[1], [185, 187, 183])


def test_unrepairable_control_bytes_are_an_error_naming_file_and_line(tmp_path, write_annotation):
    room = tmp_path / "Area_5" / "hallway_6"
    write_annotation(room, "ceiling_1.txt", raw=b"1.0 2.0 3.0 10 20 30\n1.0 2.0\x00\x00 10 20 30\n")
    with pytest.raises(ValueError, match=r"ceiling_1\.txt: line 2 holds control bytes that cannot be repaired"):
        read_room(room)


def test_duplicate_with_same_content_is_skipped_with_a_warning(tmp_path, write_annotation):
    room = tmp_path / "Area_5" / "office_36"
    xyz, rgb = _points(6, 7)
    write_annotation(room, "wall_3.txt", xyz, rgb)
    write_annotation(room, "wall_3 (1).txt", xyz, rgb)
    with pytest.warns(UserWarning, match=r"wall_3 \(1\)\.txt: duplicate of wall_3\.txt \(same content\); skipped"):
        scan = read_room(room)
    assert scan.num_points == 6


def test_duplicate_with_different_content_is_kept_as_its_class(tmp_path, write_annotation):
    room = tmp_path / "Area_5" / "office_36"
    write_annotation(room, "wall_3.txt", *_points(6, 7))
    write_annotation(room, "wall_3 (1).txt", *_points(4, 8))
    with pytest.warns(UserWarning, match=r"wall_3 \(1\)\.txt: duplicate-style name that differs from wall_3\.txt"):
        scan = read_room(room)
    assert scan.num_points == 10
    assert (scan.labels == S3DIS_CLASSES.index("wall")).all()


def test_stray_copy_of_the_room_file_is_skipped(tmp_path, write_annotation):
    room = tmp_path / "Area_1" / "copyRoom_1"
    a, b = _points(5, 1), _points(3, 2)
    write_annotation(room, "floor_1.txt", *a)
    write_annotation(room, "wall_2.txt", *b)
    write_annotation(room, "copy_Room_1.txt", np.concatenate([b[0], a[0]]), np.concatenate([b[1], a[1]]))
    with pytest.warns(UserWarning, match=r"copy_Room_1\.txt: .*all its 8 points repeat annotated points.*skipped"):
        scan = read_room(room)
    assert scan.num_points == 8
    assert (scan.labels != IGNORE_INDEX).all()


def test_misnamed_file_with_new_points_is_kept_unlabeled(tmp_path, write_annotation):
    room = tmp_path / "Area_1" / "copyRoom_1"
    write_annotation(room, "floor_1.txt", *_points(5, 1))
    write_annotation(room, "copy_Room_1.txt", *_points(3, 99))
    with pytest.warns(UserWarning, match=r"copy_Room_1\.txt: .*its 3 points are kept unlabeled"):
        scan = read_room(room)
    assert scan.num_points == 8
    assert (scan.labels == IGNORE_INDEX).sum() == 3


def test_non_text_file_in_annotations_is_skipped_with_a_warning(tmp_path, write_annotation):
    room = tmp_path / "Area_1" / "office_1"
    write_annotation(room, "door_1.txt", *_points(3, 1))
    (room / "Annotations" / ".DS_Store").write_bytes(b"\x00\x01")
    with pytest.warns(UserWarning, match=r"\.DS_Store: not an annotation file"):
        scan = read_room(room)
    assert scan.num_points == 3


def test_unknown_class_file_name_is_an_error_listing_valid_classes(tmp_path, write_annotation):
    room = tmp_path / "Area_1" / "office_1"
    write_annotation(room, "chair_1.txt", *_points(3, 1))
    write_annotation(room, "spaceship_1.txt", *_points(3, 2))
    with pytest.raises(ValueError, match=r"spaceship_1\.txt: unknown S3DIS class 'spaceship'") as error:
        read_room(room)
    assert "ceiling, floor, wall, beam, column, window, door, table, chair, sofa, bookcase, board, clutter, stairs" in str(
        error.value
    )


def test_line_with_missing_field_is_an_error_naming_the_line(tmp_path, write_annotation):
    room = tmp_path / "Area_1" / "office_1"
    write_annotation(room, "chair_1.txt", raw=b"1 2 3 4 5 6\n1 2 3 4 5 6\n1 2 3 4 5\n")
    with pytest.raises(ValueError, match=r"chair_1\.txt: line 3 has 5 fields, expected 6"):
        read_room(room)


def test_line_with_extra_field_is_an_error_naming_the_line(tmp_path, write_annotation):
    room = tmp_path / "Area_1" / "office_1"
    write_annotation(room, "chair_1.txt", raw=b"1 2 3 4 5 6\n1 2 3 4 5 6 7\n")
    with pytest.raises(ValueError, match=r"chair_1\.txt: line 2 has 7 fields, expected 6"):
        read_room(room)


def test_nan_coordinates_are_an_error(tmp_path, write_annotation):
    room = tmp_path / "Area_1" / "office_1"
    write_annotation(room, "chair_1.txt", raw=b"1 2 3 4 5 6\nnan 2 3 4 5 6\n")
    with pytest.raises(ValueError, match=r"chair_1\.txt: line 2 has NaN/inf coordinates"):
        read_room(room)


def test_colour_out_of_range_is_an_error(tmp_path, write_annotation):
    room = tmp_path / "Area_1" / "office_1"
    write_annotation(room, "chair_1.txt", raw=b"1 2 3 4 5 6\n1 2 3 4 256 6\n")
    with pytest.raises(ValueError, match=r"chair_1\.txt: line 2 has colours outside the integers 0\.\.255"):
        read_room(room)


def test_empty_room_is_an_error(tmp_path, write_annotation):
    room = tmp_path / "Area_1" / "office_1"
    write_annotation(room, "chair_1.txt", raw=b"")
    with pytest.warns(UserWarning, match="empty annotation file"), pytest.raises(ValueError, match=r"office_1 is empty"):
        read_room(room)


def test_missing_annotations_folder_is_an_error(tmp_path):
    (tmp_path / "Area_1" / "office_1").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"no Annotations folder"):
        read_room(tmp_path / "Area_1" / "office_1")
