"""A model bundle is untrusted input (a user downloads one): read its files safely, check what they hold.

- Every file a bundle names is a plain name inside the bundle directory (no `/`, no `..`), and a
  regular file: a symlink, a FIFO or a device is refused before anything is read from it (opened
  with O_NOFOLLOW | O_NONBLOCK, then checked with fstat), and no file is read past a size limit.
  The checksum is taken over the very bytes that are then parsed.
- The weights' names and shapes are read from the safetensors header and compared with the
  model the config describes, built on the meta device (no memory), before anything is allocated.
- Scaling and calibration values are finite numbers of the right count.
Every problem is a ValueError with one line saying what is wrong; `load_bundle` wraps it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import stat
import struct
from pathlib import Path

import torch
from torch import nn

from jepawatch.onnx_runtime import CHECK_TOLERANCE

MAX_JSON_BYTES = 64 * 1024 * 1024
MAX_FILE_BYTES = 8 * 1024 * 1024 * 1024  # weights and ONNX exports
MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit


def check_member_name(name: object) -> str:
    """`name` when it is a plain file name (the bundle's files sit directly in its directory)."""
    if not isinstance(name, str) or not name or name in (".", "..") or any(c in name for c in "/\\\x00"):
        raise ValueError(f"{name!r} is not a file name inside the bundle")
    return name


def read_member(bundle: Path, name: str, limit: int = MAX_JSON_BYTES) -> bytes:
    """The bytes of the regular file `bundle/name`, at most `limit` of them."""
    check_member_name(name)
    try:
        fd = os.open(bundle / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ValueError(f"{name} is missing") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError(f"{name} is a symlink; a bundle holds its own files") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{name} is not a regular file (a FIFO, a device or a directory)")
        if info.st_size > limit:
            raise ValueError(f"{name} is {info.st_size:,} bytes, more than the {limit:,} a bundle file may have")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise ValueError(f"{name} grew past {limit:,} bytes while being read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_json_member(bundle: Path, name: str) -> object:
    return json.loads(read_member(bundle, name).decode("utf-8"))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def safetensors_shapes(data: bytes, name: str) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, from the safetensors header alone."""
    if len(data) < 8:
        raise ValueError(f"{name} is too short to be a safetensors file")
    (size,) = struct.unpack("<Q", data[:8])
    if size > min(MAX_HEADER_BYTES, len(data) - 8):
        raise ValueError(f"{name} has a header of {size:,} bytes, longer than the file allows")
    try:
        header = json.loads(data[8:8 + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError(f"{name} has no readable safetensors header") from None
    if not isinstance(header, dict):
        raise ValueError(f"{name} has no readable safetensors header")
    shapes = {}
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise ValueError(f"{name}: tensor {key!r} has no valid shape in its header")
        shapes[key] = tuple(shape)
    return shapes


def check_weight_shapes(shapes: dict[str, tuple[int, ...]], build) -> None:
    """Compare the header's shapes with the model `build()` makes, built on the meta device."""
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in build().state_dict().items()}
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    if missing or unexpected:
        raise ValueError(f"weights.safetensors does not fit config.json: {len(missing)} tensor(s) missing"
                         f"{' (' + missing[0] + ', ...)' if missing else ''}, {len(unexpected)} unexpected"
                         f"{' (' + unexpected[0] + ', ...)' if unexpected else ''}")
    for key, shape in shapes.items():
        if shape != expected[key]:
            raise ValueError(f"weights.safetensors does not fit config.json: {key} has shape {shape}, "
                             f"the configured model needs {expected[key]}")


def check_finite_weights(weights: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights, when every floating tensor is finite (a diverged run is no model)."""
    expected = model.state_dict()
    for key, tensor in weights.items():
        if key in expected and tuple(tensor.shape) != tuple(expected[key].shape):  # the header lied
            raise ValueError(f"weights.safetensors does not fit config.json: {key} has shape {tuple(tensor.shape)}")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ValueError(f"weights.safetensors holds non-finite values ({key}): the training diverged")
    return weights


FLOAT32_MAX = 3.4028234663852886e38  # scoring runs in float32: a scale or a statistic beyond it is no value
NEGATIVE_ROUNDING = 1e-4  # a divergence summed in float32 can come out a hair below 0 (measured -8e-7)


def finite_numbers(values, what: str, positive: bool = False, non_negative: bool = False) -> None:
    """A list of numbers, each finite and within float32 (positive, or not negative, when asked)."""
    if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{what} is not a list of numbers")
    if not all(math.isfinite(v) and (v > 0 or not positive) for v in values):
        raise ValueError(f"{what} holds {'non-positive or ' if positive else ''}non-finite values")
    if non_negative and any(v < -NEGATIVE_ROUNDING for v in values):
        raise ValueError(f"{what} holds negative values (they are distances or divergences)")
    if any(abs(v) > FLOAT32_MAX for v in values):
        raise ValueError(f"{what} holds values beyond float32's range")


def is_count(value: object, most: int = 2**63 - 1) -> bool:
    """A whole number from 0 to `most` (not a bool, not a float)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= most


def is_text(value: object, optional: bool = False) -> bool:
    return isinstance(value, str) or (optional and value is None)


def is_probability(value: object, optional: bool = False) -> bool:
    if optional and value is None:
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0  # NaN fails


def check_config_record(config: dict, preprocess) -> None:
    """config.json's record of the run (`model` and `train` are checked by `run_config`): its
    provenance is text, and the data summary (`info` shows it; `evaluate` reads the timestamp
    column) has text, counts and per-source scaling of the right kinds, its channel counts those
    of preprocess.json."""
    for key in ("name", "jepawatch_version", "torch_version", "created"):
        if not is_text(config.get(key, "")):
            raise ValueError(f"config.json's {key} is not text")
    data = config.get("data", {})
    if not isinstance(data, dict):
        raise ValueError("config.json's data is not an object")
    _check_source_record(data, "config.json's data")
    for key in ("layout", "timestamp_column"):
        if not is_text(data.get(key), optional=True):
            raise ValueError(f"config.json's data {key} is not text")
    for key in ("missing_cells", "train_pairs", "val_pairs", "segments"):
        if not is_count(data.get(key, 0)):
            raise ValueError(f"config.json's data {key} is not a count")
    for key, count in (("channels_in", len(preprocess.channels)), ("channels_kept", preprocess.n_kept)):
        if key in data and data[key] != count:
            raise ValueError(f"config.json's data {key} is {data[key]!r}, preprocess.json has {count}")
    dropped = data.get("dropped_columns", [])
    if not isinstance(dropped, list) or not all(isinstance(c, str) for c in dropped):
        raise ValueError("config.json's data dropped_columns is not a list of names")
    sources = data.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, dict) for s in sources):
        raise ValueError("config.json's data sources is not a list of records")
    for index, source in enumerate(sources):
        _check_source_record(source, f"config.json's data source {index + 1}")
        if not is_count(source.get("channel_offset", 0), 10_000_000):
            raise ValueError(f"config.json's data source {index + 1}'s channel_offset is not a channel number")
        scaling = source.get("preprocess", {})
        if not isinstance(scaling, dict):
            raise ValueError(f"config.json's data source {index + 1}'s preprocess is not an object")
        _check_scaling_record(scaling, f"config.json's data source {index + 1}'s preprocess")


def _check_source_record(record: dict, what: str) -> None:
    for key in ("source", "adapter", "part", "fingerprint", "series_column"):
        if not is_text(record.get(key), optional=True):
            raise ValueError(f"{what} {key} is not text")
    for key in ("rows", "series"):
        if not is_count(record.get(key, 0)):
            raise ValueError(f"{what} {key} is not a count")


def _check_scaling_record(record: dict, what: str) -> None:
    """A preprocess record as preprocess.json holds it: names, kept flags, means and scales."""
    check_scaling(record.get("channels", []), record.get("kept", []), record.get("mean", []), record.get("std", []), what)
    for key in ("fill_policy", "timestamp_column"):
        if not is_text(record.get(key), optional=True):
            raise ValueError(f"{what} {key} is not text")


def check_preprocess(preprocess) -> None:
    check_scaling(preprocess.channels, preprocess.kept, preprocess.mean, preprocess.std, "preprocess.json's")


def check_scaling(channels: object, kept: object, mean: object, std: object, what: str) -> None:
    """A standardisation: channel names, one kept flag each, and a finite mean and a positive scale
    per kept channel. `what` names it in messages ("preprocess.json's")."""
    if not isinstance(channels, list) or not isinstance(kept, list):
        raise ValueError(f"{what} channels and kept are not lists")
    if not all(isinstance(c, str) for c in channels) or not all(isinstance(k, bool) for k in kept):
        raise ValueError(f"{what} channels are not names, or its kept flags not true/false")
    if len(kept) != len(channels):
        raise ValueError(f"{what} {len(channels)} channels have {len(kept)} kept flags")
    n_kept = sum(kept)
    finite_numbers(mean, f"{what} mean")
    finite_numbers(std, f"{what} std (the scale)", positive=True)
    if len(mean) != n_kept or len(std) != n_kept:
        raise ValueError(f"{what} {n_kept} kept channels have {len(mean)} means and {len(std)} stds")


def check_refits(refits: object) -> list:
    """refits.json: a list of refit records (scoring.refit), each with the fields `info` and the report
    show, of the types they show them as."""
    if not isinstance(refits, list) or len(refits) > 1000:
        raise ValueError("refits.json is not a list of refit records")
    for record in refits:
        if not isinstance(record, dict):
            raise ValueError("refits.json holds an entry that is not an object")
        if not isinstance(record.get("at"), str) or not isinstance(record.get("source"), str) or \
                not isinstance(record.get("applied"), bool) or not isinstance(record.get("reason"), (str, type(None))):
            raise ValueError("a refits.json record lacks its time, source, outcome or reason")
        rows, check, moved = record.get("rows"), record.get("check"), record.get("moved")
        if not isinstance(rows, dict) or not all(isinstance(rows.get(k), int) for k in ("first", "last")):
            raise ValueError("a refits.json record's rows are not two row numbers")
        if not isinstance(check, dict) or not all(isinstance(check.get(k), int) for k in ("windows", "alerting_after")):
            raise ValueError("a refits.json record's check is not two window counts")
        if not isinstance(moved, dict) or not isinstance(moved.get("channels"), list):
            raise ValueError("a refits.json record's movement is not an object with its channels")
        finite_numbers([moved.get("largest_level_shift")], "a refits.json record's largest level shift")
        for channel in moved["channels"]:
            if not isinstance(channel, dict) or not isinstance(channel.get("channel"), str):
                raise ValueError("a refits.json record's moved channel has no name")
            finite_numbers([channel.get("level"), channel.get("spread")], "a refits.json record's movement")
    return refits


def check_risk(risk: object, n_channels: int) -> None:
    """risk.json: the fused label-free risk (format "fused-tails/1", scoring.label_free) or the earlier formula."""
    if not isinstance(risk, dict):
        raise ValueError("risk.json is not an object")
    alert_at = risk.get("alert_at", 0.99)
    if not isinstance(alert_at, (int, float)) or isinstance(alert_at, bool) or not 0.0 <= alert_at <= 1.0:
        raise ValueError("risk.json's alert_at is not a risk level from 0 to 1")  # NaN fails the range too
    for key in ("windows", "validation_windows", "reference_windows"):  # counts `info` shows
        count = risk.get(key, 0)
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 10**9:
            raise ValueError(f"risk.json's {key} is not a count of windows")
    if not isinstance(risk.get("part", ""), str) or not isinstance(risk.get("formula", ""), str):
        raise ValueError("risk.json's part or formula is not text")
    if risk.get("format") in ("fused-tails/1", "fused-tails/2"):  # scoring.label_free.FORMATS
        _check_fused_risk(risk, n_channels)
        return
    finite_numbers(risk.get("center"), "risk.json's center")
    finite_numbers(risk.get("scale"), "risk.json's scale", positive=True)
    finite_numbers(risk.get("reference"), "risk.json's reference")
    if not risk["reference"]:
        raise ValueError("risk.json's calibration is empty (no reference windows)")


def _check_fused_risk(risk: dict, n_channels: int) -> None:
    components, validation, reference = risk.get("components"), risk.get("validation"), risk.get("reference")
    if not isinstance(validation, dict) or not isinstance(reference, dict):
        raise ValueError("risk.json's validation or reference is not an object")
    known = ("surprise_fine", "surprise_coarse", "rarity", "stats_deviation", "stats_neighbours")  # scoring.label_free
    if sorted(validation) != sorted(known):
        raise ValueError(f"risk.json's validation values are not those of the components {', '.join(known)}")
    if not isinstance(components, list) or not components or not all(isinstance(c, str) and c in known for c in components):
        raise ValueError("risk.json's components are not a non-empty list of the components it calibrates")
    if risk.get("fusion", "sum") not in ("sum", "max"):  # scoring.label_free.FUSIONS
        raise ValueError("risk.json's fusion is neither sum nor max")
    lengths = set()
    for name, values in validation.items():
        finite_numbers(values, f"risk.json's validation values of {name}", non_negative=True)
        lengths.add(len(values))
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError("risk.json's calibration is empty or its components have different numbers of windows")
    training = risk.get("training", {})
    if not isinstance(training, dict) or not set(training) <= {"stats_deviation", "stats_neighbours"}:
        raise ValueError("risk.json's training values are not an object of the statistics components")
    for name, values in training.items():
        finite_numbers(values, f"risk.json's training values of {name}", non_negative=True)
    if len({len(values) for values in training.values()}) > 1:
        raise ValueError("risk.json's training values have different numbers of windows")
    if reference.get("n_channels") != n_channels:
        raise ValueError(f"risk.json's reference is for {reference.get('n_channels')} channels, the model has {n_channels}")
    finite_numbers(reference.get("median"), "risk.json's reference median")
    per_channel = len(reference["median"]) // max(n_channels, 1)  # statistics per channel: 6, or 5 in older bundles
    if per_channel not in (5, 6):  # scoring.features: window_statistics, reference_statistics
        raise ValueError(f"risk.json's reference median has {len(reference['median'])} values, not 5 or 6 per channel")
    for key, size in (("median", per_channel * n_channels), ("iqr", per_channel * n_channels),
                      ("mean", 2 * per_channel * n_channels), ("std", 2 * per_channel * n_channels)):
        finite_numbers(reference.get(key), f"risk.json's reference {key}", positive=key in ("iqr", "std"))
        if len(reference[key]) != size:
            raise ValueError(f"risk.json's reference {key} has {len(reference[key])} values, not {size}")
    points = reference.get("points")
    width = 2 * per_channel * n_channels
    if not isinstance(points, list) or not points or not all(isinstance(p, list) and len(p) == width for p in points):
        raise ValueError("risk.json's reference points are empty or not rows of the statistics")
    for row in points:
        finite_numbers(row, "risk.json's reference points")
    relative = reference.get("relative", [])  # channels judged within each window (scoring.stats_reference)
    if not isinstance(relative, list) or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c < n_channels
                                                 for c in relative) or len(set(relative)) != len(relative):
        raise ValueError("risk.json's reference relative channels are not distinct channel numbers of the model")


def check_head(head: object, has_weights: bool) -> None:
    """head.json: the supervised head's record (scoring.head.head_to_bundle), checked by type and range
    before anything reads it; its weights must come with it."""
    if not isinstance(head, dict):
        raise ValueError("head.json is not an object")
    if not has_weights:
        raise ValueError("head.json has no head.safetensors beside it")
    threshold = head.get("threshold")
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0.0 <= threshold <= 1.0:
        raise ValueError("head.json's threshold is not a probability from 0 to 1")
    n_features = head.get("n_features")
    if not isinstance(n_features, int) or isinstance(n_features, bool) or not 0 < n_features <= 10_000_000:
        raise ValueError("head.json's n_features is not a positive whole number")
    if not isinstance(head.get("config"), dict):
        raise ValueError("head.json's config is not an object")
    for key, value in head["config"].items():  # the head's sizes and rates (scoring.head.HeadConfig)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
                or value > 10_000_000 or (key == "dropout" and value >= 1):
            raise ValueError(f"head.json's config {key} is not a number in its range")
    quality = head.get("on_threshold_part", {})  # precision, recall, F1, AUC
    if not isinstance(quality, dict) or not all(is_probability(v, optional=True) for v in quality.values()):
        raise ValueError("head.json's quality on its threshold part is not scores from 0 to 1")
    if not is_text(head.get("source", ""), optional=True) or not is_count(head.get("seed", 0), 2**64 - 1):
        raise ValueError("head.json's source is not text or its seed not a whole number")
    for key in ("train_windows", "threshold_windows", "train_positives", "threshold_positives"):
        if not is_count(head.get(key, 0), 10**12):
            raise ValueError(f"head.json's {key} is not a count of windows")
    if not is_text(head.get("features", "codes")):
        raise ValueError("head.json's features is not the name of the head's inputs")
    if head.get("features", "codes") not in ("codes", "codes+stats"):  # scoring.head.HEAD_FEATURES
        return  # an unknown kind of head: head_from_bundle says to upgrade
    shape = head.get("stats_shape")
    if head.get("features") == "codes+stats" and not (
            isinstance(shape, list) and len(shape) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) and 0 < n <= 1_000_000 for n in shape)):
        raise ValueError("head.json's stats_shape is not two positive whole numbers")


def check_onnx_record(onnx: object, files: dict) -> None:
    """The ONNX record names a checksummed file of the bundle, never one outside it."""
    if not isinstance(onnx, dict):
        raise ValueError("onnx.json is not an object")
    name = check_member_name(onnx.get("file"))
    if name not in files:
        raise ValueError(f"onnx.json names {name}, which config.json does not checksum")
    diffs = onnx.get("max_abs_diff", {})  # shown by `info`
    if not isinstance(diffs, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                              and 0 <= v <= CHECK_TOLERANCE for v in diffs.values()):  # NaN fails too
        raise ValueError(f"onnx.json's max_abs_diff is not the differences of a check that passed (0 to {CHECK_TOLERANCE:g})")
    outputs = onnx.get("outputs", [])
    if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
        raise ValueError("onnx.json's outputs are not names")
    opset = onnx.get("opset", 18)
    if not isinstance(opset, int) or isinstance(opset, bool) or not 1 <= opset <= 1000:
        raise ValueError("onnx.json's opset is not an opset number")
    checked_on = onnx.get("checked_on", [])
    if not is_text(onnx.get("head_sha256"), optional=True) or not isinstance(checked_on, list) \
            or not all(isinstance(c, str) for c in checked_on):
        raise ValueError("onnx.json's head checksum or what it was checked on is not text")


def check_affine_map(affine_of: object, n_channels: int, parent_channels: int) -> list[int | None]:
    """An adapted bundle's `channel_affine`: one trained channel index (or null) per kept channel."""
    if not isinstance(affine_of, list) or len(affine_of) != n_channels:
        raise ValueError(f"config.json's channel_affine is not a list of {n_channels} entries")
    for i in affine_of:
        if i is not None and (not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < parent_channels):
            raise ValueError(f"config.json's channel_affine holds {i!r}, not a channel of the parent's {parent_channels}")
    return affine_of
