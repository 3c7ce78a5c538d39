"""Two CPU processes under torchrun (gloo) train with DistributedDataParallel and end identical."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ddp")]

SCRIPT = textwrap.dedent(
    '''
    import json, os, sys
    import numpy as np
    import torch
    from torch import nn
    from redal_core.engine import init_distributed, resolve_device, train, confusion, world

    torch.set_num_threads(1)

    class TinyNet(nn.Module):
        has_dropout = False
        def __init__(self):
            super().__init__()
            self.point = nn.Linear(6, 16)
            self.voxel = nn.Linear(6, 16, bias=False)
            self.head = nn.Linear(16, 3)
        def forward(self, batch):
            h = torch.relu(self.point(batch.point_feats) + self.voxel(batch.feats)[batch.inverse])
            return self.head(h), h

    device = resolve_device("cpu")
    assert init_distributed(device)
    rank, size = world()
    data = np.random.default_rng(0)
    samples = []
    for _ in range(7):  # odd: the batch list is padded so both ranks take as many steps
        xyz = data.uniform(0, 2, (150, 3)).astype(np.float32)
        labels = data.integers(0, 3, 150).astype(np.int64)
        feats = np.concatenate([np.eye(3, dtype=np.float32)[labels], xyz - xyz.mean(0)], axis=1)
        samples.append((xyz, feats, labels))
    torch.manual_seed(100 + rank)  # different initial weights: DDP must broadcast rank 0's
    model = TinyNet()
    result = train(model, samples, epochs=6, lr=0.01, batch_size=2, voxel_size=0.1, device=device,
                   rng=np.random.default_rng(3), progress=False)
    matrix = confusion(model, samples, voxel_size=0.1, device=device, num_classes=3)
    out = {"rank": rank, "size": size, "losses": result.epoch_losses, "confusion": matrix.tolist(),
           "params": [p.detach().numpy().ravel().tolist() for p in model.parameters()]}
    with open(os.path.join(sys.argv[1], f"rank{rank}.json"), "w") as f:
        json.dump(out, f)
    torch.distributed.destroy_process_group()
    '''
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_end_identical(tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1",
        "--master_addr=127.0.0.1", f"--master_port={_free_port()}", str(script), str(tmp_path),
    ]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in ranks] == [0, 1] and ranks[0]["size"] == 2
    for a, b in zip(ranks[0]["params"], ranks[1]["params"], strict=True):
        np.testing.assert_array_equal(a, b)
    assert ranks[0]["losses"] == ranks[1]["losses"]  # all-reduced
    assert ranks[0]["losses"][-1] < ranks[0]["losses"][0]
    assert ranks[0]["confusion"] == ranks[1]["confusion"]  # all-reduced over both shards
    assert np.sum(ranks[0]["confusion"]) == 7 * 150


def test_loop_under_torchrun_two_ranks(tmp_path):
    """`torchrun --nproc_per_node=2 -m redal_core.cli run` completes; rank 0 alone writes the files."""
    import pandas as pd
    import yaml

    config = {
        "results_dir": str(tmp_path / "results"),
        "dataset": {"name": "synthetic-indoor", "root": str(tmp_path / "rooms"), "knn": 16,
                    "generate": {"scans": 7, "points_per_room": 1500, "seed": 1}},
        "model": {"name": "minkunet", "width": 0.125, "backend": "torch"},
        "train": {"epochs_init": 1, "epochs_finetune": 1, "batch_size": 1, "device": "cpu"},
        "active": {"strategy": "ReDAL", "x_init": 40.0, "x_active": 10.0, "rounds": 1, "clusters": 3},
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "REDAL_THREADS": "1"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1",
        "--master_addr=127.0.0.1", f"--master_port={_free_port()}", "-m", "redal_core.cli", "run", str(path),
    ]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp_path / "results" / "runs" / "synthetic-indoor-minkunet-redal-s0"
    assert json.loads((run_dir / "env.json").read_text())["world_size"] == 2
    assert json.loads((run_dir / "state.json").read_text())["status"] == "complete"
    rounds = pd.read_csv(run_dir / "rounds.csv")
    assert rounds["round"].tolist() == [0, 1]
    selection = pd.read_csv(run_dir / "selections" / "round_00.csv")
    assert selection["points"].sum() == rounds["labeled_points"].diff().iloc[1]
    assert not [p for p in run_dir.rglob("*") if ".tmp" in p.name]
    # one voice: rank 0's header names both ranks; its epochs are logged once; its run.lock is gone
    assert proc.stdout.count("| minkunet x0.125 / torch / cpu x 2 ranks |") == 1, proc.stdout
    assert pd.read_csv(run_dir / "train_log.csv")["round"].tolist() == [0, 1]
    assert not (run_dir / "run.lock").exists() and not (run_dir / "failed.json").exists()
