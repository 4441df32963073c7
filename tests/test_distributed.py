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


def test_a_torchrun_launch_of_one_process_joins_a_group_of_one(monkeypatch):
    """torchrun with one process (one GPU) still trains through DDP: the code path of many GPUs."""
    import torch

    from jepawatch.training.distributed import init_distributed, shutdown_distributed

    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not init_distributed(torch.device("cpu")).enabled  # a process started on its own
    for key, value in {"TORCHELASTIC_RUN_ID": "test", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": "29531"}.items():
        monkeypatch.setenv(key, value)
    ctx = init_distributed(torch.device("cpu"))
    try:
        assert ctx.enabled and ctx.is_main and torch.distributed.is_initialized()
        assert torch.distributed.get_world_size() == 1
    finally:
        shutdown_distributed(ctx)
    assert not torch.distributed.is_initialized()
