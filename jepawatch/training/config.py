"""Training configuration (App. B.2 defaults). Saved in every bundle beside the model config."""

from __future__ import annotations

import math
from dataclasses import dataclass


# What the label-free risk can fuse (scoring/label_free.py says what each is) and what it fuses by
# default (its docstring says why: measured, BENCHMARKS.md "Early warning").
RISK_COMPONENTS = ("surprise_fine", "surprise_coarse", "rarity", "stats_deviation", "stats_neighbours")
DEFAULT_RISK_COMPONENTS = ("stats_neighbours",)


@dataclass
class TrainConfig:
    epochs: int = 100  # the paper's maximum
    batch_size: int = 128
    lr: float = 5e-4  # Adam
    weight_decay: float = 1e-5  # Adam's L2 weight decay, as the paper says Adam (not AdamW)
    grad_clip: float = 0.5  # gradient-norm clip
    ema_decay: float = 0.996  # after every optimiser step
    val_fraction: float = 0.1  # 9:1 chronological train/validation split of the training windows
    selection_start_fraction: float = 0.5  # model selection from epoch 50 of 100 ...
    patience_fraction: float = 0.1  # ... with early-stopping patience 10 of 100
    stride: int = 0  # step between training pairs; 0 = one window (the paper's non-overlapping pairs)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # bf16 autocast on CUDA (mixed precision); no effect on the CPU, which trains in fp32
    collapse_perplexity: float = 4.0  # warn when validation code perplexity falls below this (MSL, 2 epochs: 2.4)
    # What the label-free risk fuses (scoring.label_free.COMPONENTS; its docstring says why these).
    risk_components: tuple[str, ...] = DEFAULT_RISK_COMPONENTS

    @property
    def selection_start(self) -> int:
        """First epoch (1-based) eligible for model selection; 50 for 100 epochs, scaled in proportion."""
        return max(1, math.ceil(self.selection_start_fraction * self.epochs))

    @property
    def patience(self) -> int:
        """Epochs without validation improvement before stopping; 10 for 100 epochs, scaled in proportion."""
        return max(1, round(self.patience_fraction * self.epochs))

    def validate(self) -> None:
        if self.epochs < 1:
            raise ValueError("epochs must be at least 1")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError("val_fraction must be in [0, 1)")
        if not 0.0 < self.ema_decay < 1.0:
            raise ValueError("ema_decay must be strictly between 0 and 1")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be auto, cpu or cuda, not {self.device!r}")
        if self.stride < 0:
            raise ValueError("stride must be >= 0")
        if not self.risk_components or any(c not in RISK_COMPONENTS for c in self.risk_components):
            raise ValueError(f"risk_components must be a non-empty subset of {', '.join(RISK_COMPONENTS)}")
