"""The shipped paper numbers, checked against the paper's own text (when the shared copy is present)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from redal_core import paper_reference as ref

SHARED = Path(__file__).resolve().parents[2] / "shared"
PAPER = SHARED / "paper" / "redal_iccv2021.txt"


def test_curves_spot_values():
    curves = ref.miou_curves()
    def value(dataset, backbone, strategy, pct):
        row = curves[
            (curves.dataset == dataset) & (curves.backbone == backbone)
            & (curves.strategy == strategy) & (curves.labeled_pct == pct)
        ]
        assert len(row) == 1
        return float(row.miou.iloc[0])

    # Table 3 (S3DIS, SPVCNN), Table 4 (S3DIS, MinkowskiNet), Table 6 (SemanticKITTI, MinkowskiNet)
    assert value("s3dis", "spvcnn", "ReDAL", 5) == 41.27
    assert value("s3dis", "minkunet", "CSET", 15) == 47.26
    assert value("semantickitti", "minkunet", "ReDAL", 5) == 59.76
    assert value("semantickitti", "spvcnn", "MCDR", 1) == 42.92


def test_curves_shape_and_rounds():
    curves = ref.miou_curves()
    # 4 combos; S3DIS 7 points, SemanticKITTI 5 points; MCDR missing for MinkowskiNet
    counts = curves.groupby(["dataset", "backbone"]).strategy.nunique().to_dict()
    assert counts == {("s3dis", "minkunet"): 7, ("s3dis", "spvcnn"): 8,
                      ("semantickitti", "minkunet"): 7, ("semantickitti", "spvcnn"): 8}
    assert len(curves) == (7 + 8) * 7 + (7 + 8) * 5
    assert "MCDR" not in set(ref.miou_curves("s3dis", "minkunet").strategy)
    one = ref.miou_curves("semantickitti", "spvcnn")
    assert set(one.dataset) == {"semantickitti"} and set(one.backbone) == {"spvcnn"}
    redal = one[one.strategy == "ReDAL"]
    assert redal["round"].tolist() == [0, 1, 2, 3, 4]
    assert redal.labeled_pct.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_unknown_names_are_rejected_with_the_valid_ones():
    with pytest.raises(ValueError, match="s3dis, semantickitti"):
        ref.miou_curves(dataset="S3DIS-area5")
    with pytest.raises(ValueError, match="minkunet"):
        ref.miou_curves(backbone="pointnet")


def test_per_class_and_distribution():
    iou = ref.per_class_iou()
    assert len(iou) == 3 * 19
    assert ref.class_names() == list(iou[iou.method == "ReDAL"]["class"])
    bicyclist = iou[(iou.method == "ReDAL") & (iou["class"] == "bicyclist")].iou.item()
    assert bicyclist == 84.1
    miou = ref.per_class_miou()
    assert miou.to_dict() == {"Full": 61.4, "RAND": 54.7, "ReDAL": 59.8}
    # the printed mIoU is the mean of the 19 printed IoUs (to the paper's rounding)
    means = iou.groupby("method").iou.mean()
    for method, printed in miou.items():
        assert abs(means[method] - printed) < 0.06, method
    dist = ref.class_distribution()
    assert len(dist) == 3 * 19 and "first_column_unnamed" not in set(dist["class"])
    road = dist[(dist.method == "ReDAL") & (dist["class"] == "road")].permille.item()
    assert road == 168.16
    # per mille over the 19 classes sums to ~1000 for every method
    sums = dist.groupby("method").permille.sum()
    assert np.all(np.abs(sums - 1000) < 1.0)
    assert ref.is_paper_combo("s3dis", "spvcnn") and not ref.is_paper_combo("synthetic-indoor", "minkunet")


def _paper_tables(text: str) -> dict[int, dict[str, list[float]]]:
    """Tables 3-6 parsed from the paper text: {table: {strategy: [values by row]}}."""
    tables: dict[int, dict[str, list[float]]] = {}
    blocks = re.split(r"% Labeled Data", text)[1:]
    for block in blocks:
        header, _, rest = block.partition("\n")
        names = [n for n in header.replace("(Ours)", "").split()]
        number = int(re.search(r"Table (\d+)\.", rest).group(1))
        body = rest[: rest.index("Table ")]
        columns: dict[str, list[float]] = {n: [] for n in names}
        for line in body.splitlines():
            tokens = line.split()
            if len(tokens) == len(names) + 1:
                for name, token in zip(names, tokens[1:], strict=True):
                    columns[name].append(float(token))
        tables[number] = columns
    return tables


@pytest.mark.skipif(not PAPER.exists(), reason=f"the paper text is not at {PAPER}")
def test_every_curve_value_matches_the_paper_text():
    tables = _paper_tables(PAPER.read_text(encoding="utf-8"))
    combos = {3: ("s3dis", "spvcnn"), 4: ("s3dis", "minkunet"),
              5: ("semantickitti", "spvcnn"), 6: ("semantickitti", "minkunet")}
    assert set(tables) == set(combos)
    for number, (dataset, backbone) in combos.items():
        curves = ref.miou_curves(dataset, backbone)
        for strategy, values in tables[number].items():
            ours = curves[curves.strategy == strategy].sort_values("labeled_pct").miou.tolist()
            assert ours == values, (number, strategy)


@pytest.mark.skipif(not PAPER.exists(), reason=f"the paper text is not at {PAPER}")
def test_table7_and_table8_rows_match_the_paper_text():
    text = PAPER.read_text(encoding="utf-8")
    iou = ref.per_class_iou()
    dist = ref.class_distribution()
    for method in ("Full", "RAND", "ReDAL"):
        seven = iou[iou.method == method].iou.tolist()
        printed = f"{method} {ref.per_class_miou()[method]} " + " ".join(f"{v:.1f}" for v in seven)
        assert printed in text, method
        eight = " ".join(f"{v:.2f}" for v in dist[dist.method == method].permille)
        assert f"{method} 103 {eight}" in text, method
