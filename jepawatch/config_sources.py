"""Configuration flows one way: dataclass defaults -> a preset -> a TOML file -> `--set key=value` -> CLI flags.

Sections: [model] (MTSJEPAConfig or TemporalJEPAConfig), [train] (TrainConfig).
A `--set` key is `section.field` or a bare field name that exists in exactly one section.
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
import types
import typing
from pathlib import Path

from jepawatch.errors import ConfigError
from jepawatch.kinds import DEFAULT_KIND, kind_of
from jepawatch.run_config import RunConfig, check_values, dataclass_from_dict
from jepawatch.training.config import TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


# Named MTS-JEPA presets: `--set` overrides applied on top of the defaults (the paper's App. B.2).
PRESETS: dict[str, list[str]] = {
    # The product's default (issue 14, docs/method.md's decisions table; measured 2026-12-01, BENCHMARKS.md
    # "Early warning"): the paper's architecture at a CPU-friendly size with a batch-entropy weight of
    # 1.0. With the paper's weights (0.01) the codes collapse to 1-2 dominant codes on MSL (perplexity
    # 2.4-2.7 at 8 epochs); with 1.0 this size keeps 32 of 32 codes dominant on MSL (perplexity 8.2),
    # 32 of 32 on examples/machine_metrics.csv (23.4) and 30 of 32 on demo data (19.7). Its supervised head on MSL reads AUC 48.1 against the paper-size
    # bundle's 41.4 (both below the raw statistics' 61.7) after 1 min 46 s instead of 2 h 15 min of
    # CPU training, and the label-free risk reads the window statistics, not the model's size.
    "watch": ["model.d_model=64", "model.codebook_size=32", "model.encoder_layers=1", "model.encoder_heads=4",
              "model.predictor_layers=1", "model.predictor_heads=4", "model.predictor_hidden=64",
              "model.tokenizer_channels=16", "model.decoder_hidden=64", "model.lambda_ent_batch=1.0",
              "train.epochs=20"],
    "paper": [],  # the paper's configuration, unchanged
    # not the paper (issue 7, BENCHMARKS.md): RevIN keeps only its affine, so the encoder sees
    # each window's level and scale as well as its shape
    "levels": ["model.revin_per_window=false"],
}

DEFAULT_PRESET = "watch"


def parse_value(raw: str, tp):
    """Parse a `--set` value for a field of type `tp`."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if raw.lower() in ("none", "null", ""):
            return None
        return parse_value(raw, args[0])
    if tp is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {raw!r}")
    if tp is int:
        return int(raw)
    if tp is float:
        return float(raw)
    if origin is tuple:
        (item,) = {a for a in typing.get_args(tp) if a is not Ellipsis}
        return tuple(parse_value(p.strip(), item) for p in raw.strip("()[]").split(",") if p.strip())
    return raw


def resolve_config(
    model_kind: str,
    config_file: Path | None = None,
    overrides: list[str] | None = None,
    flags: dict[str, dict[str, object]] | None = None,
    preset: str | None = None,
) -> RunConfig:
    """Defaults -> preset -> TOML file -> `--set` overrides -> explicit CLI flags ({"train": {"epochs": 3}})."""
    kind = kind_of(model_kind)
    if preset is None and kind.takes_presets:
        preset = DEFAULT_PRESET
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        if not kind.takes_presets:
            raise ConfigError(f"--preset is for {DEFAULT_KIND}; {model_kind} has its own defaults")
    classes = {"model": kind.config_class, "train": TrainConfig}
    values: dict[str, dict[str, object]] = {"model": {}, "train": {}}
    for item in PRESETS.get(preset or "", []):
        section, key, raw = _split_override(classes, item)
        values[section][key] = parse_value(raw, typing.get_type_hints(classes[section])[key])
    if config_file is not None:
        for section, table in _read_toml(config_file).items():
            if section not in classes or not isinstance(table, dict):
                raise ConfigError(f"{config_file}: unknown section [{section}]; use [model] and [train]")
            for key, value in table.items():
                _check_key(classes, section, key)
                values[section][key] = value
    for item in overrides or []:
        section, key, raw = _split_override(classes, item)
        try:
            values[section][key] = parse_value(raw, typing.get_type_hints(classes[section])[key])
        except ValueError as exc:
            raise ConfigError(f"--set {item}: {exc}") from None
    for section, table in (flags or {}).items():
        values[section].update({k: v for k, v in table.items() if v is not None})
    try:
        model = dataclass_from_dict(classes["model"], values["model"])
        train = dataclass_from_dict(TrainConfig, values["train"])
        check_values(model)
        model.validate()
        train.validate()
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None
    return RunConfig(model_kind, model, train)


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _fields(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _check_key(classes: dict, section: str, key: str) -> None:
    if key not in _fields(classes[section]):
        close = difflib.get_close_matches(key, _fields(classes[section]), n=1)
        hint = f"; did you mean {section}.{close[0]}?" if close else f"; known keys: {', '.join(_fields(classes[section]))}"
        raise ConfigError(f"unknown setting {section}.{key}{hint}")


def _split_override(classes: dict, item: str) -> tuple[str, str, str]:
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set model.temperature=0.1")
    key, raw = (s.strip() for s in item.split("=", 1))
    if "." in key:
        section, name = key.split(".", 1)
        if section not in classes:
            raise ConfigError(f"--set {item}: unknown section {section!r}; use model.<key> or train.<key>")
        _check_key(classes, section, name)
        return section, name, raw
    owners = [s for s, cls in classes.items() if key in _fields(cls)]
    if len(owners) == 1:
        return owners[0], key, raw
    if len(owners) > 1:
        raise ConfigError(f"--set {item}: {key!r} is in several sections; write {' or '.join(f'{s}.{key}' for s in owners)}")
    everything = [f"{s}.{n}" for s, cls in classes.items() for n in _fields(cls)]
    close = difflib.get_close_matches(key, [e.split(".", 1)[1] for e in everything], n=1)
    hint = f"; did you mean {close[0]}?" if close else "; run `jepawatch train --help` for the settings"
    raise ConfigError(f"unknown setting {key!r}{hint}")
