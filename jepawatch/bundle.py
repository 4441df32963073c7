"""Model bundles: a directory rebuilt from its files alone, with nothing in it that can run code.

    config.json            resolved configs, data summary, versions, SHA-256 of every other file
    weights.safetensors    the module's state dict: online branch and EMA branch (`ema_*` keys)
    preprocess.json        channel names in order, kept-channel mask, scaling, fill policy
    history.json           per-epoch metrics, selected epoch
    code_frequencies.json  dominant-code counts on the training windows (MTS-JEPA only)
    risk.json              the label-free risk's calibration on the validation windows (MTS-JEPA only)
    head.json              (after `jepawatch calibrate`) the supervised head's config, threshold, provenance
    head.safetensors       (after `jepawatch calibrate`) the supervised head's weights

A bundle is written into a temporary directory and renamed into place, so an existing bundle of
the same name is replaced whole or not at all. `models/LATEST` names the newest bundle.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from jepawatch import __version__
from jepawatch.atomic import atomic_write_text, ensure_dir, umask_mode
from jepawatch.configuration import RunConfig
from jepawatch.data.preprocess import Preprocessor
from jepawatch.errors import BundleError, ConfigError, JepawatchError
from jepawatch.model import build_model

BUNDLE_FORMAT = "jepawatch-bundle/1"
WEIGHTS, PREPROCESS, HISTORY, CODES = "weights.safetensors", "preprocess.json", "history.json", "code_frequencies.json"
RISK, HEAD_CONFIG, HEAD_WEIGHTS = "risk.json", "head.json", "head.safetensors"
ONNX_RECORD = "onnx.json"
LATEST = "LATEST"
CHECKPOINT = "checkpoint.safetensors"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class Bundle:
    path: Path
    run: RunConfig
    data: dict  # what it was trained on: source, rows, channel counts, dropped columns, NaNs filled
    preprocess: Preprocessor
    history: dict
    code_frequencies: dict | None
    model: nn.Module
    meta: dict  # format, jepawatch version, created, name
    risk: dict | None = None  # label-free calibration (scoring.label_free)
    head: dict | None = None  # supervised head: config, threshold, provenance (scoring.head)
    head_state: dict | None = None  # its weights
    onnx: dict | None = None  # the ONNX export this bundle records: file, opset, check (export.onnx_export)

    @property
    def name(self) -> str:
        return self.meta.get("name", self.path.name)

    @property
    def onnx_path(self) -> Path | None:
        return self.path / self.onnx["file"] if self.onnx else None


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(f"model name {name!r} is not allowed; use letters, digits, '.', '_' and '-'")
    return name


def save_bundle(path: Path, run: RunConfig, data: dict, preprocess: Preprocessor, model: nn.Module,
                history: dict, code_frequencies: dict | None, risk: dict | None = None) -> None:
    path = Path(path)
    ensure_dir(path.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS), metadata={"format": BUNDLE_FORMAT})
        (tmp / PREPROCESS).write_text(json.dumps(preprocess.to_dict(), indent=2) + "\n")
        (tmp / HISTORY).write_text(json.dumps(history, indent=2) + "\n")
        files = [WEIGHTS, PREPROCESS, HISTORY]
        for name, content in ((CODES, code_frequencies), (RISK, risk)):
            if content is not None:
                (tmp / name).write_text(json.dumps(content) + "\n")
                files.append(name)
        config = {
            "format": BUNDLE_FORMAT,
            "name": path.name,
            "jepawatch_version": __version__,
            "torch_version": torch.__version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **run.to_dict(),
            "data": data,
            "files": {f: _sha256(tmp / f) for f in files},
        }
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        _swap_into_place(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def update_bundle(path: Path, json_files: dict[str, dict], tensor_files: dict[str, dict[str, torch.Tensor]],
                  copied_files: dict[str, Path] | None = None) -> None:
    """Add or replace files of an existing bundle, whole or not at all: copy, write, re-checksum, swap.
    `copied_files` maps a bundle file name to a file to copy in as it is (e.g. an ONNX export)."""
    path = Path(path)
    load_bundle(path)  # refuse to extend a corrupted bundle
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        shutil.copytree(path, tmp, dirs_exist_ok=True)
        config = json.loads((tmp / "config.json").read_text())
        for name, content in json_files.items():
            (tmp / name).write_text(json.dumps(content, indent=2) + "\n")
        for name, tensors in tensor_files.items():
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp / name),
                      metadata={"format": BUNDLE_FORMAT})
        for name, source in (copied_files or {}).items():
            shutil.copyfile(source, tmp / name)
        for name in [*json_files, *tensor_files, *(copied_files or {})]:
            config["files"][name] = _sha256(tmp / name)
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        _swap_into_place(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_into_place(tmp: Path, path: Path) -> None:
    # mkdtemp makes 0700: give the bundle the modes the umask gives any new directory and file, so a
    # service user can read a bundle another user trained (umask 022: 0755 and 0644)
    os.chmod(tmp, umask_mode(0o777))
    for file in tmp.iterdir():
        if file.is_file() and not file.is_symlink():
            os.chmod(file, umask_mode(0o666))
    if not path.exists():
        tmp.rename(path)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
    old.rmdir()
    path.rename(old)
    tmp.rename(path)
    shutil.rmtree(old, ignore_errors=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_bundle(path: Path, device: str | torch.device = "cpu") -> Bundle:
    """Rebuild a bundle from its files; a missing, altered or inconsistent file is a BundleError."""
    path = Path(path)
    fix = "retrain it with `jepawatch train` or restore the bundle from a backup"
    config_path = path / "config.json"
    if not config_path.exists():
        raise BundleError(f"{path} is not a model bundle (no config.json); train one with `jepawatch train DATA`")
    try:
        config = json.loads(config_path.read_text())
        if not isinstance(config, dict):
            raise ValueError(f"config.json holds a JSON {type(config).__name__}, not an object")
        if config.get("format") != BUNDLE_FORMAT:
            raise ValueError(f"unknown format {config.get('format')!r}")
        if not isinstance(config.get("files"), dict) or not all(isinstance(d, str) for d in config["files"].values()):
            raise ValueError("config.json's files is not an object of file names and checksums")
        for name, digest in config["files"].items():
            if not (path / name).exists():
                raise ValueError(f"{name} is missing")
            if _sha256(path / name) != digest:
                raise ValueError(f"{name} does not match its checksum")
        run = RunConfig.from_dict(config)
        preprocess = Preprocessor.from_dict(json.loads((path / PREPROCESS).read_text()))
        history = json.loads((path / HISTORY).read_text())
        codes, risk, head, onnx = (json.loads((path / name).read_text()) if name in config["files"] else None
                                   for name in (CODES, RISK, HEAD_CONFIG, ONNX_RECORD))
        head_state = load_file(str(path / HEAD_WEIGHTS)) if HEAD_WEIGHTS in config["files"] else None
        _check_preprocess(preprocess)
        if risk is not None:
            _check_risk(risk)
        model = build_model(run.model_kind, run.model)
        model.load_state_dict(_checked_weights(load_file(str(path / WEIGHTS)), model))
    except (ValueError, KeyError, TypeError, AttributeError, RuntimeError, SafetensorError, JepawatchError, OSError) as exc:
        raise BundleError(f"model bundle {path} is corrupted: {str(exc).splitlines()[0]}; {fix}") from None
    model.to(device).eval()
    meta = {k: config.get(k) for k in ("format", "name", "jepawatch_version", "torch_version", "created")}
    meta["weights_sha256"] = config["files"][WEIGHTS]
    meta["head_sha256"] = config["files"].get(HEAD_WEIGHTS)
    return Bundle(path, run, config.get("data", {}), preprocess, history, codes, model, meta, risk, head, head_state, onnx)


def _finite_numbers(values, what: str, positive: bool = False) -> None:
    if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{what} is not a list of numbers")
    if not all(math.isfinite(v) and (v > 0 or not positive) for v in values):
        raise ValueError(f"{what} holds {'non-positive or ' if positive else ''}non-finite values")


def _check_preprocess(preprocess: Preprocessor) -> None:
    if not isinstance(preprocess.channels, list) or not isinstance(preprocess.kept, list):
        raise ValueError("preprocess.json's channels and kept are not lists")
    if len(preprocess.kept) != len(preprocess.channels):
        raise ValueError(f"preprocess.json names {len(preprocess.channels)} channels but has {len(preprocess.kept)} kept flags")
    if len(preprocess.mean) != preprocess.n_kept or len(preprocess.std) != preprocess.n_kept:
        raise ValueError(f"preprocess.json keeps {preprocess.n_kept} channels but has {len(preprocess.mean)} means "
                         f"and {len(preprocess.std)} stds")
    _finite_numbers(preprocess.mean, "preprocess.json's mean")
    _finite_numbers(preprocess.std, "preprocess.json's std (the scale)", positive=True)


def _check_risk(risk: dict) -> None:
    if not isinstance(risk, dict):
        raise ValueError("risk.json is not an object")
    _finite_numbers(risk.get("center"), "risk.json's center")
    _finite_numbers(risk.get("scale"), "risk.json's scale", positive=True)
    _finite_numbers(risk.get("reference"), "risk.json's reference")
    if not risk["reference"]:
        raise ValueError("risk.json's calibration is empty (no reference windows)")
    if not isinstance(risk.get("alert_at", 0.0), (int, float)):
        raise ValueError("risk.json's alert_at is not a number")


def _checked_weights(weights: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights, when they are exactly the tensors the configured model has, each finite."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise ValueError(f"weights.safetensors does not fit config.json: {len(missing)} tensor(s) missing"
                         f"{' (' + missing[0] + ', ...)' if missing else ''}, {len(unexpected)} unexpected"
                         f"{' (' + unexpected[0] + ', ...)' if unexpected else ''}")
    for key, tensor in weights.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise ValueError(f"weights.safetensors does not fit config.json: {key} has shape {tuple(tensor.shape)}, "
                             f"the configured model needs {tuple(expected[key].shape)}")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ValueError(f"weights.safetensors holds non-finite values ({key}): the training diverged")
    return weights


def mark_latest(models_dir: Path, name: str) -> None:
    atomic_write_text(Path(models_dir) / LATEST, name + "\n")


def resolve_bundle_path(model: str | None, models_dir: Path) -> Path:
    """`model` is a name under `models_dir` or a bundle directory; None means the latest bundle.

    A bare name (`demo`) is looked up in `models_dir` first, so a folder of the same name in the
    working directory (a `data/` beside `data.csv`) does not shadow the bundle; a path (`./demo`,
    `models/demo`, `/srv/bundles/demo`) is taken as one. The latest bundle is always in `models_dir`."""
    models_dir = Path(models_dir)
    if model is None:
        latest = models_dir / LATEST
        if not latest.exists():
            raise BundleError(f"no trained model in {models_dir}/; train one with `jepawatch train DATA` or pass --model")
        name = latest.read_text().strip()
        if not (models_dir / name).is_dir():
            raise BundleError(f"{latest} names {name!r}, which is not a bundle in {models_dir}/; pass --model or train again")
        return models_dir / name
    candidate, named = Path(model), models_dir / model
    looks_like_path = os.sep in model or model.startswith((".", "~")) or candidate.is_absolute()
    if not looks_like_path and (named / "config.json").exists():
        return named
    if (candidate / "config.json").exists() or candidate.is_dir():
        return candidate
    if named.exists():
        return named
    known = sorted(p.name for p in models_dir.iterdir() if (p / "config.json").exists()) if models_dir.is_dir() else []
    listing = f"; bundles in {models_dir}/: {', '.join(known)}" if known else ""
    raise BundleError(f"no model bundle {model!r}{listing}")
