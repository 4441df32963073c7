"""DDP through torchrun: two CPU processes on the gloo backend; rank 0 writes the bundle."""

from __future__ import annotations

import os
import subprocess
import sys

from jepawatch.bundle import load_bundle

from conftest import TINY_MTS, make_frame


def test_torchrun_two_processes_gloo(tmp_path):
    csv = tmp_path / "d.csv"
    make_frame().to_csv(csv, index=False)
    sets = [arg for item in TINY_MTS for arg in ("--set", item)]
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29517",
        "-m", "jepawatch", "train", str(csv), "--epochs", "2", "--device", "cpu",
        "--out", str(tmp_path / "models"), *sets,
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    bundle = load_bundle(tmp_path / "models" / "d")
    assert len(bundle.history["epochs"]) == 2
