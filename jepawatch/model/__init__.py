"""Neural networks only: no I/O, no CLI. Build a model from its config with `build_model`."""

from __future__ import annotations

from torch import nn

from jepawatch.model.config import MODEL_CONFIGS, MTSJEPAConfig, TemporalJEPAConfig
from jepawatch.model.mts_jepa import MTSJEPA
from jepawatch.model.temporal_jepa import TemporalJEPA

MODEL_KINDS = tuple(MODEL_CONFIGS)


def build_model(kind: str, cfg: MTSJEPAConfig | TemporalJEPAConfig) -> nn.Module:
    """The model of `kind` ("mts-jepa" or "temporal-jepa") for its config."""
    if kind == "mts-jepa":
        return MTSJEPA(cfg)
    if kind == "temporal-jepa":
        return TemporalJEPA(cfg)
    raise ValueError(f"unknown model kind {kind!r}; expected one of {', '.join(MODEL_KINDS)}")


__all__ = ["MODEL_KINDS", "MTSJEPA", "MTSJEPAConfig", "TemporalJEPA", "TemporalJEPAConfig", "build_model"]
