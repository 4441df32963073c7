"""Model bundles: a directory rebuilt from its files alone, with nothing in it that can run code.

    config.json            resolved configs, data summary, versions, SHA-256 of every other file
    weights.safetensors    the module's state dict: online branch and EMA branch (`ema_*` keys)
    preprocess.json        channel names in order, kept-channel mask, scaling, fill policy
    history.json           per-epoch metrics, selected epoch
    code_frequencies.json  dominant-code counts on the training windows (MTS-JEPA only)
    risk.json              the label-free risk's calibration on the validation windows (MTS-JEPA only)
    head.json              (after `jepawatch calibrate`) the supervised head's config, threshold, provenance
    head.safetensors       (after `jepawatch calibrate`) the supervised head's weights
    refits.json            (after `jepawatch refit`) each refit of risk.json on recent data: when, on what,
                           how far it moved the reference, applied or refused (`scoring.refit`)
    risk.trained.json      (after the first refit) risk.json as training fitted it, for `refit --reset`

An adapted bundle (`score --adapt`, format version 2) holds no weights: config.json names its
`parent` (a path relative to the adapted bundle, and the SHA-256 of the parent's weights file)
beside its own preprocess.json, code_frequencies.json and risk.json, fitted on the new system's
normal data. Loading it loads the parent, checks the SHA-256, and gives the parent's weights the
adapted channels (`ModelKind.adapt_channels`, with the `channel_affine` map in config.json).

A bundle is written into a temporary directory and renamed into place, so an existing bundle of
the same name is replaced whole or not at all. `models/LATEST` names the newest bundle.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as safetensors_load
from safetensors.torch import save_file
from torch import nn

from jepawatch import bundle_checks as checks
from jepawatch._version import __version__
from jepawatch.atomic import atomic_write_text, ensure_dir, finite, umask_mode
from jepawatch.data.preprocess import Preprocessor
from jepawatch.errors import BundleError, ConfigError, JepawatchError
from jepawatch.run_config import RunConfig

# The bundle format's version, in config.json as `format_version` (and in `format`). A change that an
# older jepawatch could not read raises it; a bundle of another version is refused in one line that
# says which way to go. Bundles written before `format_version` existed carry only
# `format: jepawatch-bundle/1`, which is the same version 1 and loads as it did.
BUNDLE_FORMAT_VERSION = 1  # what a trained bundle is written as
ADAPTED_FORMAT_VERSION = 2  # an adapted bundle (a `parent` and no weights): an older jepawatch cannot read it
NEWEST_FORMAT_VERSION = 2  # the newest this jepawatch reads
OLDEST_FORMAT_VERSION = 1  # the oldest this jepawatch still reads
BUNDLE_FORMAT = f"jepawatch-bundle/{BUNDLE_FORMAT_VERSION}"
_FORMAT = re.compile(r"^jepawatch-bundle/(\d+)$")
WEIGHTS, PREPROCESS, HISTORY, CODES = "weights.safetensors", "preprocess.json", "history.json", "code_frequencies.json"
RISK, HEAD_CONFIG, HEAD_WEIGHTS = "risk.json", "head.json", "head.safetensors"
ONNX_RECORD = "onnx.json"
REFITS, TRAINED_RISK = "refits.json", "risk.trained.json"
MAX_REFITS = 100  # refits.json keeps the newest this many
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
    refits: list = field(default_factory=list)  # refit history, oldest first (scoring.refit)
    trained_risk: dict | None = None  # risk.json as training fitted it, once refitted

    @property
    def name(self) -> str:
        return self.meta.get("name", self.path.name)

    @property
    def onnx_path(self) -> Path | None:
        return self.path / self.onnx["file"] if self.onnx else None

    @property
    def onnx_is_stale(self) -> bool:
        """The bundle records an ONNX export made before its current head (calibrated since)."""
        return self.onnx is not None and self.onnx.get("head_sha256") != self.meta.get("head_sha256")


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(f"model name {name!r} is not allowed; use letters, digits, '.', '_' and '-'")
    return name


STALE_AFTER_S = 3600  # a bundle's temporary directory lives for the seconds of one save


def remove_stale_bundle_temporaries(path: Path, older_than_s: float = STALE_AFTER_S) -> int:
    """Remove the `.NAME.XXXXXXXX.tmp` / `.old` directories a save of bundle `path` killed mid-way
    left beside it; returns how many. Only those older than `older_than_s`: a save in progress
    (seconds) keeps its own."""
    ours = re.compile(rf"^\.{re.escape(path.name)}\.[A-Za-z0-9_]{{8}}\.(tmp|old)$")
    removed, now = 0, time.time()
    try:
        candidates = list(path.parent.iterdir())
    except OSError:
        return 0
    for candidate in candidates:
        if not ours.match(candidate.name) or candidate.is_symlink() or not candidate.is_dir():
            continue
        try:
            if now - candidate.stat().st_mtime > older_than_s:
                shutil.rmtree(candidate, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed


def save_bundle(path: Path, run: RunConfig, data: dict, preprocess: Preprocessor, model: nn.Module,
                history: dict, code_frequencies: dict | None, risk: dict | None = None) -> None:
    path = Path(path)
    ensure_dir(path.parent)
    remove_stale_bundle_temporaries(path)
    with _staged(path) as tmp:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS), metadata={"format": BUNDLE_FORMAT})
        (tmp / PREPROCESS).write_text(json.dumps(preprocess.to_dict(), indent=2) + "\n")
        (tmp / HISTORY).write_text(json.dumps(finite(history), indent=2) + "\n")
        files = [WEIGHTS, PREPROCESS, HISTORY]
        for name, content in ((CODES, code_frequencies), (RISK, risk)):
            if content is not None:
                (tmp / name).write_text(json.dumps(finite(content)) + "\n")
                files.append(name)
        config = {
            "format": BUNDLE_FORMAT,
            "format_version": BUNDLE_FORMAT_VERSION,
            "name": path.name,
            "jepawatch_version": __version__,
            "torch_version": torch.__version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **run.to_dict(),
            "data": data,
            "files": {f: _sha256(tmp / f) for f in files},
        }
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def update_bundle(path: Path, json_files: dict[str, dict], tensor_files: dict[str, dict[str, torch.Tensor]],
                  copied_files: dict[str, Path] | None = None) -> None:
    """Add or replace files of an existing bundle, whole or not at all: copy, write, re-checksum, swap.
    `copied_files` maps a bundle file name to a file to copy in as it is (e.g. an ONNX export)."""
    path = Path(path)
    load_bundle(path)  # refuse to extend a corrupted bundle
    with _staged(path) as tmp:
        shutil.copytree(path, tmp, dirs_exist_ok=True)
        config = json.loads((tmp / "config.json").read_text())
        for name, content in json_files.items():
            (tmp / name).write_text(json.dumps(finite(content), indent=2) + "\n")
        for name, tensors in tensor_files.items():
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp / name),
                      metadata={"format": BUNDLE_FORMAT})
        for name, source in (copied_files or {}).items():
            shutil.copyfile(source, tmp / name)
        for name in [*json_files, *tensor_files, *(copied_files or {})]:
            config["files"][name] = _sha256(tmp / name)
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")


@contextlib.contextmanager
def _staged(path: Path):
    """A temporary directory beside `path` to write a whole bundle in; swapped into place when the
    block ends, removed (and `path` left as it was) when it raises."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
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


def load_bundle(path: Path) -> Bundle:
    """Rebuild a bundle from its files; a missing, altered, inconsistent or hostile file is a BundleError
    (see `bundle_checks`: a bundle is untrusted input)."""
    path = Path(path)
    fix = "retrain it with `jepawatch train` or restore the bundle from a backup"
    if not os.path.lexists(path / "config.json"):
        raise BundleError(f"{path} is not a model bundle (no config.json); train one with `jepawatch train DATA`")
    try:
        config = checks.read_json_member(path, "config.json")
        if not isinstance(config, dict):
            raise ValueError(f"config.json holds a JSON {type(config).__name__}, not an object")
        version = format_version(config)
    except (ValueError, KeyError, TypeError, AttributeError, RuntimeError, JepawatchError, OSError) as exc:
        raise BundleError(f"model bundle {path} is corrupted: {str(exc).splitlines()[0]}; {fix}") from None
    if version > NEWEST_FORMAT_VERSION:
        raise BundleError(f"model bundle {path} has format version {version}, newer than this jepawatch "
                          f"{__version__} reads ({NEWEST_FORMAT_VERSION}); upgrade jepawatch (pip install -U jepawatch)")
    if version < OLDEST_FORMAT_VERSION:
        raise BundleError(f"model bundle {path} has format version {version}, older than this jepawatch "
                          f"{__version__} reads ({OLDEST_FORMAT_VERSION}-{NEWEST_FORMAT_VERSION}); retrain it with `jepawatch train`")
    parent = _load_parent(path, config) if "parent" in config else None
    try:
        files = config.get("files")
        if not isinstance(files, dict) or not all(isinstance(d, str) for d in files.values()):
            raise ValueError("config.json's files is not an object of file names and checksums")
        for name in (WEIGHTS, PREPROCESS, HISTORY) if parent is None else (PREPROCESS, CODES, RISK):
            if name not in files:
                raise ValueError(f"config.json does not checksum {name}")
        contents = {}
        for name, digest in files.items():
            limit = checks.MAX_JSON_BYTES if name.endswith(".json") else checks.MAX_FILE_BYTES
            contents[name] = checks.read_member(path, name, limit)
            if checks.sha256(contents[name]) != digest:
                raise ValueError(f"{name} does not match its checksum")

        def parsed(name: str):
            return json.loads(contents[name].decode("utf-8")) if name in contents else None

        run = RunConfig.from_dict(config if parent is None else parent.run.to_dict())
        preprocess_dict = parsed(PREPROCESS)
        if not isinstance(preprocess_dict, dict):
            raise ValueError("preprocess.json is not an object")
        preprocess = Preprocessor.from_dict(preprocess_dict)
        checks.check_preprocess(preprocess)
        checks.check_config_record(config, preprocess)
        history = parsed(HISTORY) if parent is None else parent.history
        codes, risk, head, onnx = (parsed(name) for name in (CODES, RISK, HEAD_CONFIG, ONNX_RECORD))
        if risk is not None:
            checks.check_risk(risk, preprocess.n_kept)
        trained_risk = parsed(TRAINED_RISK)
        if trained_risk is not None:
            checks.check_risk(trained_risk, preprocess.n_kept)
        refits = checks.check_refits(parsed(REFITS)) if REFITS in contents else []
        if onnx is not None:
            checks.check_onnx_record(onnx, files)
        if head is not None:
            checks.check_head(head, HEAD_WEIGHTS in contents)
        head_state = safetensors_load(contents[HEAD_WEIGHTS]) if HEAD_WEIGHTS in contents else None
        if parent is None:
            # shapes from the header against the model built on the meta device: nothing allocated yet
            checks.check_weight_shapes(checks.safetensors_shapes(contents[WEIGHTS], WEIGHTS),
                                       lambda: run.kind.build(run.model))
            model = run.kind.build(run.model)
            model.load_state_dict(checks.check_finite_weights(safetensors_load(contents.pop(WEIGHTS)), model))
        else:
            affine_of = checks.check_affine_map(config.get("channel_affine"), preprocess.n_kept,
                                                _model_channels(parent.run))
            run.kind.set_channels(run.model, preprocess.n_kept)
            model = run.kind.build(run.model)
            model.load_state_dict(run.kind.adapt_channels(parent.model.state_dict(), affine_of))
    except (ValueError, KeyError, TypeError, AttributeError, RuntimeError, SafetensorError, JepawatchError, OSError) as exc:
        raise BundleError(f"model bundle {path} is corrupted: {str(exc).splitlines()[0]}; {fix}") from None
    model.eval()  # on the CPU; a scorer moves it where it runs
    meta = {k: config.get(k) for k in ("format", "name", "jepawatch_version", "torch_version", "created")}
    meta["format_version"] = version
    meta["weights_sha256"] = files[WEIGHTS] if parent is None else parent.meta["weights_sha256"]
    meta["head_sha256"] = files.get(HEAD_WEIGHTS)
    if parent is not None:
        meta["parent"] = {"path": str(parent.path), "name": parent.name, "weights_sha256": parent.meta["weights_sha256"]}
    return Bundle(path, run, config.get("data", {}), preprocess, history, codes, model, meta, risk, head, head_state, onnx,
                  refits, trained_risk)


def _model_channels(run: RunConfig) -> int:
    return int(getattr(run.model, "n_channels", getattr(run.model, "input_dim", 0)))


def _load_parent(path: Path, config: dict) -> Bundle:
    """The trained bundle an adapted bundle points at, when its weights are the ones it was adapted to.

    The parent's path is data from an untrusted file: it is resolved, must name a trained bundle (not
    another adapted one), and its weights must have the recorded SHA-256; nothing else is followed."""
    record = config.get("parent")
    if not isinstance(record, dict) or not isinstance(record.get("path"), str) or \
            not isinstance(record.get("weights_sha256"), str) or not record["path"]:
        raise BundleError(f"model bundle {path} is corrupted: its parent entry is not a path and a SHA-256; "
                          "adapt again (`jepawatch score DATA --model PARENT --adapt NORMAL_DATA`)")
    where = (path / record["path"]).resolve()
    if not (where / "config.json").is_file():
        raise BundleError(f"adapted bundle {path} needs its parent {record['path']} ({where}), which is not there; "
                          "restore the parent bundle beside it, or adapt again from another bundle")
    try:
        parent_config = checks.read_json_member(where, "config.json")
    except (ValueError, OSError) as exc:
        raise BundleError(f"parent {where} of adapted bundle {path} is unreadable: {str(exc).splitlines()[0]}") from None
    if isinstance(parent_config, dict) and "parent" in parent_config:
        raise BundleError(f"adapted bundle {path} names another adapted bundle ({where}) as its parent; "
                          "adapt from the trained bundle itself")
    parent = load_bundle(where)
    if parent.meta["weights_sha256"] != record["weights_sha256"]:
        raise BundleError(f"the parent {where} of adapted bundle {path} has other weights than it was adapted to "
                          f"(SHA-256 {parent.meta['weights_sha256'][:12]}..., expected {record['weights_sha256'][:12]}...: "
                          "retrained or replaced); adapt again, or restore the parent it was made from")
    return parent


def save_adapted_bundle(path: Path, parent: Bundle, preprocess: Preprocessor, data: dict, code_frequencies: dict,
                        risk: dict, channel_affine: list[int | None]) -> None:
    """Write an adapted bundle of `parent` (a trained bundle) atomically: no weights, only what was fitted
    on the new system's data, and the parent's relative path and weights' SHA-256."""
    path = Path(path)
    if "parent" in parent.meta:
        raise ConfigError(f"{parent.path} is itself an adapted bundle; adapt from its parent {parent.meta['parent']['path']}")
    if path.resolve() == Path(parent.path).resolve():
        raise ConfigError(f"the adapted bundle would replace its parent {parent.path}; give it another name")
    ensure_dir(path.parent)
    remove_stale_bundle_temporaries(path)
    with _staged(path) as tmp:
        contents = {PREPROCESS: preprocess.to_dict(), CODES: code_frequencies, RISK: risk}
        for name, content in contents.items():
            (tmp / name).write_text(json.dumps(finite(content)) + "\n")
        run = RunConfig.from_dict(parent.run.to_dict())
        run.kind.set_channels(run.model, preprocess.n_kept)
        config = {
            "format": f"jepawatch-bundle/{ADAPTED_FORMAT_VERSION}",
            "format_version": ADAPTED_FORMAT_VERSION,
            "name": path.name,
            "jepawatch_version": __version__,
            "torch_version": torch.__version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "parent": {"path": os.path.relpath(Path(parent.path).resolve(), path.resolve()), "name": parent.name,
                       "weights_sha256": parent.meta["weights_sha256"]},
            "channel_affine": list(channel_affine),
            **run.to_dict(),  # for reading only: the model is rebuilt from the parent's configuration
            "data": data,
            "files": {f: _sha256(tmp / f) for f in contents},
        }
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def format_version(config: dict) -> int:
    """The format version config.json declares: `format_version`, else the one in `format`
    (bundles from before `format_version`: version 1)."""
    declared = config.get("format_version")
    match = _FORMAT.match(str(config.get("format", "")))
    if "format" in config and not match:
        raise ValueError(f"unknown format {config.get('format')!r}")
    if declared is None:
        return int(match.group(1)) if match else 1
    if not isinstance(declared, int) or isinstance(declared, bool):
        raise ValueError(f"format_version is {declared!r}, not a whole number")
    return declared


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
        try:
            name = checks.read_member(models_dir, LATEST, 4096).decode("utf-8").strip()
        except (ValueError, UnicodeDecodeError) as exc:
            raise BundleError(f"{latest} is unreadable ({str(exc).splitlines()[0]}); pass --model or train again") from None
        if not _NAME.match(name) or not (models_dir / name).is_dir():
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
