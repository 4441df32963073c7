"""`benchmarks/gpu_check.py --quick` on the CPU, as on a machine without a GPU, so the script cannot rot
before the first GPU runs it: every part runs, the figures land in JSON and Markdown."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


def test_gpu_check_quick_runs_every_part_on_the_cpu_and_writes_its_figures(tmp_path):
    cmd = [sys.executable, str(SCRIPT), "--quick", "--device", "cpu", "--presets", "watch", "--stand-in-rows", "1500",
           "--test-windows", "6", "--data", str(tmp_path / "no-msl-here"), "--out-dir", str(tmp_path / "results")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == "no CUDA GPU here: running the CPU rows only"
    [json_path] = (tmp_path / "results").glob("*-cpu.json")
    results = json.loads(json_path.read_text())
    assert results["errors"] == {} and results["data"].startswith("stand-in of MSL's shape (1500 rows x 55 channels)")
    assert results["environment"]["gpus"] == [] and "CPUExecutionProvider" in results["environment"]["onnxruntime_providers"]

    [train] = results["training"]
    assert (train["preset"], train["device"], train["amp"]) == ("watch", "cpu", False)
    assert train["loss_finite"] and math.isfinite(train["loss_first"]) and train["step_ms"] > 0
    assert train["channel_windows_per_s"] == pytest.approx(train["batch"] / (train["step_ms"] / 1e3))

    ddp = results["distributed"]
    assert ddp["returncode"] == 0 and ddp["processes"] == 1 and ddp["backend"] == "gloo" and ddp["epochs_trained"] == 1

    [scored] = results["scoring"]
    backends = {row["backend"]: row for row in scored["backends"]}
    assert set(backends) == {"torch", "onnx"}
    for row in backends.values():
        assert row["windows_scored"] == 5 and row["risk_within_tolerance"], row  # 6 windows: the first has no past
        assert row["batch1_ms"] > 0 and row["batch256_windows_per_s"] > 0
    assert scored["auto"]["choice_at_1"] == "onnx on cpu" and scored["auto"]["choice_at_256"] == "onnx on cpu"

    table = json_path.with_suffix(".md").read_text()
    assert "| watch | cpu | no | 128 |" in table and "| onnx | cpu | ONNX Runtime, CPUExecutionProvider |" in table
    assert table in done.stdout
