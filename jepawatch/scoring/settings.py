"""How a scorer runs (`ScoreSettings`): no torch here, so the CLI declares its options without loading it.
Every caller builds one by keyword from these defaults: the CLI (`cli/scoring_options.py`), the API,
Spark and the report."""

from __future__ import annotations

from dataclasses import dataclass

from jepawatch.errors import ConfigError

TOP_CHANNELS = 3  # driving channels named per window
DEFAULT_BATCH_SIZE = 64  # windows per forward pass


@dataclass
class ScoreSettings:
    stride: int | None = None  # None: the window length
    alert_at: float | None = None  # None: the bundle's alert level (scoring.alert_rule)
    top_channels: int = TOP_CHANNELS
    batch_size: int = DEFAULT_BATCH_SIZE  # windows per forward pass
    backend: str | None = None  # auto (ONNX when the bundle has an export), torch or onnx
    first_row: int | None = None  # the first window to score starts here (`--adapt-rows`: the rows before were fitted on)
    threads: int | None = None  # ONNX Runtime's intra-op threads (None: its default, the physical cores)


def check_stride(stride: int | None) -> None:
    """A ConfigError unless `stride` (--stride) is None (the window length) or at least 1."""
    if stride is not None and stride < 1:
        raise ConfigError(f"--stride {stride}: give at least 1 row between scored windows (leave it out for the window length)")
