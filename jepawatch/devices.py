"""Which torch device a command runs on: `auto` is CUDA when a GPU is present, else the CPU."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

from jepawatch.errors import ConfigError


def resolve_device(requested: str | None) -> torch.device:
    """The device for `requested` (auto, cpu, cuda, cuda:N; None means auto); CUDA without a GPU is a ConfigError."""
    requested = requested or "auto"
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA GPU is available; use --device cpu or auto")
    return torch.device(requested)


def cpu_name() -> str:
    """The CPU's model name (Linux), else what the platform says: for benchmark records."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
