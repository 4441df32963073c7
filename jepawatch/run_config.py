"""A training run's resolved configuration: the model kind, its model config and the train config.

Written into every bundle and checkpoint, and rebuilt from them; `configuration.resolve_config`
makes one from defaults, presets, a TOML file and `--set` overrides.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass

from jepawatch.errors import ConfigError
from jepawatch.kinds import KINDS, ModelKind
from jepawatch.model.config import MTSJEPAConfig, TemporalJEPAConfig
from jepawatch.training.config import TrainConfig


@dataclass
class RunConfig:
    model_kind: str
    model: MTSJEPAConfig | TemporalJEPAConfig
    train: TrainConfig

    @property
    def kind(self) -> ModelKind:
        """What this kind of model is (`kinds`): how to build, train, evaluate and score it."""
        return KINDS[self.model_kind]

    def to_dict(self) -> dict:
        return {"model_kind": self.model_kind, "model": dataclasses.asdict(self.model), "train": dataclasses.asdict(self.train)}

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        for key, kind_of, what in (("model_kind", str, "a name"), ("model", dict, "an object"), ("train", dict, "an object")):
            if key not in d:
                raise ConfigError(f"the run configuration has no {key!r}")
            if not isinstance(d[key], kind_of):
                raise ConfigError(f"the run configuration's {key!r} is not {what}")
        kind = d["model_kind"]
        if kind not in KINDS:
            raise ConfigError(f"unknown model kind {kind!r}")
        model = dataclass_from_dict(KINDS[kind].config_class, d["model"])
        check_values(model)
        model.validate()
        train = dataclass_from_dict(TrainConfig, d["train"])
        check_values(train, may_be_zero={"stride", "seed"})  # a bundle's train section is untrusted too
        train.validate()
        return cls(kind, model, train)


def dataclass_from_dict(cls, values: dict):
    """Build a config dataclass from plain values (JSON/TOML), converting lists to tuples; unknown keys fail."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} keys: {', '.join(unknown)}")
    kwargs = {k: (tuple(v) if isinstance(v, list) and _is_tuple(hints[k]) else v) for k, v in values.items()}
    return cls(**kwargs)


def _is_tuple(tp) -> bool:
    return typing.get_origin(tp) is tuple


# Model sizes may be 0 only where nothing breaks (no residual block); every other size is at least 1.
_MAY_BE_ZERO = {"tokenizer_blocks"}
# Upper bounds, so that a hostile config.json cannot make building the model take unbounded time and
# memory (the paper uses 2-6 layers; widths are checked against the weights before anything is allocated).
MAX_DEPTH = 256  # any *_layers, *_depth, *_blocks
MAX_SIZE = 10_000_000  # any other integer
MAX_SEED = 2**64 - 1  # torch.manual_seed takes up to 64 bits
# Every real-valued setting of the model and of training is a weight, a rate, a scale or a threshold:
# from 0 to MAX_REAL, and the shares and probabilities (dropout, decay, validation share, mask ratio)
# to 1. (The fractions of the epochs, selection_start_fraction and patience_fraction, may pass 1:
# then no selection or no early stopping.)
MAX_REAL = 1_000_000.0
_SHARES = {"dropout", "ema_decay", "val_fraction", "mask_ratio"}


def check_values(config, may_be_zero: set[str] | frozenset[str] = frozenset()) -> None:
    """Types and ranges the model's own `validate` takes for granted (a bundle's config.json is
    untrusted input): numbers are numbers, sizes are positive integers (`may_be_zero`: those that
    may be 0 besides the model's)."""
    hints = typing.get_type_hints(type(config))
    zero_ok = _MAY_BE_ZERO | set(may_be_zero)
    for f in dataclasses.fields(config):
        value, tp = getattr(config, f.name), hints[f.name]
        if tp is int:
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{f.name} must be an integer, not {value!r}")
            if value < (0 if f.name in zero_ok else 1):
                raise ValueError(f"{f.name} must be at least {0 if f.name in zero_ok else 1}, not {value}")
            most = (MAX_SEED if f.name == "seed" else MAX_DEPTH if f.name.endswith(("_layers", "_depth", "_blocks"))
                    else MAX_SIZE)
            if value > most:
                raise ValueError(f"{f.name} must be at most {most:,}, not {value:,}")
        elif tp is float and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            raise ValueError(f"{f.name} must be a number, not {value!r}")
        elif tp is float and not math.isfinite(value):  # JSON's NaN and Infinity parse as floats
            raise ValueError(f"{f.name} must be a finite number, not {value}")
        elif tp is float and not 0 <= value <= (1.0 if f.name in _SHARES else MAX_REAL):
            raise ValueError(f"{f.name} must be from 0 to {1 if f.name in _SHARES else f'{MAX_REAL:,.0f}'}, not {value:g}")
        elif tp is bool and not isinstance(value, bool):
            raise ValueError(f"{f.name} must be true or false, not {value!r}")
