"""The checkout's own files: ignore rules for what the kit writes, and the documented demo time."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GIT = shutil.which("git")

#: What a demo, the notebooks and the tests write under results/ (and where Jupyter runs notebooks).
WRITTEN = [
    "results/runs/synthetic-indoor-minkunet-redal-s0/rounds.csv",
    "results/runs/synthetic-indoor-minkunet-redal-s0/selections/round_00.csv",
    "results/runs/synthetic-indoor-minkunet-redal-s0/checkpoints/round_03.pt",
    "results/runs/synthetic-indoor-minkunet-redal-s0/run.ipynb",
    "results/figures/compare_synthetic-indoor_minkunet.png",
    "results/figures/notebooks/03_compare_strategies.ipynb",
    "results/figures/explore/synthetic-indoor-minkunet-redal-s0/scan3_regions.html",
    "results/figures/explore/synthetic-indoor-minkunet-redal-s0/plotly.min.js",
    "results/tables/final_miou.md",
    "results/sweep_summary.csv",
    "results/quickstart/runs/synthetic-indoor-minkunet-rand-s0/rounds.csv",
    "results/quickstart/figures/quickstart_curves.png",
    "results/quickstart/tables/quickstart_final_miou.csv",
    "results/anything_new.txt",
    "notebooks/results/quickstart/tables/quickstart_final_miou.csv",
    "notebooks/data/synthetic-indoor/Area_1/office_1/office_1.txt",
    "data/synthetic-indoor/Area_1/office_1/office_1.txt",
]
#: Sources that must stay visible to git.
KEPT = ["redal_core/results.py", "notebooks/00_quickstart.ipynb", "params/demo.yaml", "tests/test_plots.py",
        "README.md"]


def _placeholders() -> list[str]:
    """The files git tracks under results/ (at least the .gitkeep)."""
    tracked = {"results/.gitkeep"}
    if GIT is not None and (REPO / ".git").exists():
        out = subprocess.run([GIT, "-C", str(REPO), "ls-files", "results"], capture_output=True, text=True)
        if out.returncode == 0:
            tracked |= set(out.stdout.split())
    return sorted(tracked)


def _ignored(repo: Path, paths: list[str]) -> set[str]:
    """The paths the ignore rules of ``repo`` exclude (rules only: --no-index, tracked or not)."""
    out = subprocess.run([GIT, "-C", str(repo), "check-ignore", "--no-index", "--stdin"],
                         input="\n".join(paths) + "\n", capture_output=True, text=True)
    assert out.returncode in (0, 1), out.stderr
    return set(out.stdout.split())


@pytest.mark.skipif(GIT is None, reason="git is not installed")
def test_gitignore_covers_what_the_kit_writes_and_keeps_placeholders(tmp_path):
    subprocess.run([GIT, "init", "-q", str(tmp_path)], check=True)
    shutil.copy(REPO / ".gitignore", tmp_path / ".gitignore")
    placeholders = _placeholders()
    ignored = _ignored(tmp_path, WRITTEN + KEPT + placeholders)
    assert sorted(set(WRITTEN) - ignored) == [], "written by the kit but not ignored"
    assert sorted(ignored & set(KEPT + placeholders)) == [], "ignored but must stay tracked"


def _minutes(text: str, where: str) -> int:
    found = re.findall(r"(?:about|~)\s*(\d+)\s*minutes", text)
    assert found, f"{where}: no 'about N minutes'"
    return int(found[0])


def test_readme_and_demo_params_give_the_same_demo_time():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    bullet = readme.split("- **`make demo`**", 1)[1].split("\n- **", 1)[0]
    header = (REPO / "params" / "demo.yaml").read_text(encoding="utf-8").split("\nseed:", 1)[0]
    assert _minutes(bullet, "README make demo") == _minutes(header, "params/demo.yaml header")
