"""Neural networks only: no I/O, no CLI. `jepawatch.kinds` builds a model of each kind from its config."""

from __future__ import annotations

from jepawatch.model.config import MTSJEPAConfig, TemporalJEPAConfig
from jepawatch.model.mts_jepa import MTSJEPA
from jepawatch.model.temporal_jepa import TemporalJEPA

__all__ = ["MTSJEPA", "MTSJEPAConfig", "TemporalJEPA", "TemporalJEPAConfig"]
