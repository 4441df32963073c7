"""A trained bundle made ready for a system it was not trained on (`--adapt`), its weights as they are.

MTS-JEPA encodes each channel on its own with shared weights (the paper's cross-domain setting,
its Table 2), so its weights apply to data with other channels. What depends on the system is
fitted on a stretch of its normal data, exactly as training fits it on the training data: the
constant-channel mask and per-channel standardisation (`Preprocessor.fit`), the code frequencies
and the label-free risk's calibration (`scoring.label_free_calibration.scoring_state`: the statistics reference from
the stretch's first 90%, the calibration on its last 10%). RevIN's per-channel affine is the one
parameter with a channel count: a channel of the same name as one the model was trained on keeps
its affine, any other takes the mean over the trained channels. The result is a small adapted
bundle (`bundle.save_adapted_bundle`) beside its parent, pointing at it by SHA-256.

Leak-free: nothing is fitted on the data scored. With `rows` the adaptation reads the first `rows`
rows only; when those are the first rows of the scored data itself (`score --adapt-rows N`), the
scorer starts at row N (the stretch's last window is the first scored window's context only).
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pandas as pd

from jepawatch.adapters import AUTO, ReadOptions, read_dataset, reading_report, source_name
from jepawatch.bundle import Bundle, check_name, save_adapted_bundle
from jepawatch.data.preprocess import Preprocessor
from jepawatch.data.windows import split_segments
from jepawatch.devices import resolve_device
from jepawatch.errors import ConfigError, DataError
from jepawatch.jobs.train import FRAME_BUNDLE_NAME, TrainingSource, affine_map, source_stem
from jepawatch.scoring.label_free_calibration import scoring_state

MIN_ADAPT_WINDOWS = 4  # two to fit the statistics' reference on, two for the calibration's validation
GOOD_ADAPT_WINDOWS = 50 * 10 // 9 + 2  # enough that the calibration has its 50 validation windows


def adapted_name(parent: Bundle, data: Path | pd.DataFrame, rows: int | None) -> str:
    stem = FRAME_BUNDLE_NAME if isinstance(data, pd.DataFrame) else source_stem(data)
    return check_name(f"{parent.name}-on-{stem}" + (f"-first{rows}" if rows is not None else ""))


def adapt(parent: Bundle, data: Path | pd.DataFrame, *, rows: int | None = None, adapter: str | None = None,
          options: ReadOptions | None = None, out: Path | None = None, device: str | None = None,
          warn=lambda message: None, scored: tuple[str, list[str]] | None = None) -> Path:
    """Fit `parent`'s standardisation, channel mask, code frequencies and label-free calibration on
    normal `data` (its first `rows` rows when given; a benchmark folder's train part), and write the
    adapted bundle to `out` (default: beside the parent, named PARENT-on-DATA); returns its path.
    `scored`: (name, channels) of the data the adapted bundle will score next; a channel it lacks is
    a DataError before anything is written."""
    kind = parent.run.kind
    if not kind.channel_independent:
        raise ConfigError(f"{parent.name} is a {kind.name} bundle, which mixes the channels it was trained on in its "
                          "first layer; --adapt needs an mts-jepa bundle (or train on this data)")
    kind.check_scorable(parent.name, parent.model, "--adapt")
    if "parent" in parent.meta:
        raise ConfigError(f"{parent.name} is itself adapted; adapt its parent ({parent.meta['parent']['path']}) instead")
    if rows is not None and rows < 1:
        raise ConfigError("--adapt-rows must be at least 1")
    window = parent.run.model.window
    options = options or ReadOptions()
    options = replace(options, columns=None,
                      series_column=AUTO if options.series_column is None else options.series_column)
    dataset = read_dataset(data, adapter, options)
    table = dataset.part("train")
    for message in reading_report(dataset, table):
        warn(message)
    if rows is not None:
        if table.series_ids is not None:
            raise ConfigError("--adapt-rows takes the first rows of one series; for a long-format table give its "
                              "normal stretch as --adapt FILE")
        if rows > table.n_steps:
            raise DataError(f"--adapt-rows {rows}: {source_name(data)} has only {table.n_steps} rows")
        table = table.slice(0, rows)
    if table.n_steps < MIN_ADAPT_WINDOWS * window:
        raise DataError(f"the adaptation data has {table.n_steps} rows, fewer than the {MIN_ADAPT_WINDOWS * window} "
                        f"({MIN_ADAPT_WINDOWS} windows of {window}) that --adapt needs; give a longer normal stretch "
                        f"(better {GOOD_ADAPT_WINDOWS * window}+ rows)")
    preprocess = Preprocessor.fit(table.values, table.channels, table.metadata.get("timestamp_column"))
    if scored is not None:
        missing = [c for c in preprocess.kept_channels if c not in scored[1]]
        if missing:
            raise DataError(f"{scored[0]} has no column {', '.join(repr(c) for c in missing[:5])}"
                            f"{' and more' if len(missing) > 5 else ''} of the adaptation data {source_name(data)}; "
                            "adapt on normal data of the same system as the data scored (same columns)")
    parts = TrainingSource(data, dataset, table, preprocess, channel_offset=0).parts(0)  # as training splits a source
    segments = split_segments(parts, window, parent.run.train.val_fraction, warn)

    affine_of = affine_map(parent.preprocess.kept_channels, preprocess.kept_channels)
    run = replace(parent.run, model=replace(parent.run.model))
    kind.set_channels(run.model, preprocess.n_kept)
    model = kind.build(run.model)
    model.load_state_dict(kind.adapt_channels(parent.model.state_dict(), affine_of))
    model.eval()
    codes, risk = scoring_state(kind, model, run, [s.split for s in segments], resolve_device(device), warn)
    if risk is None or not all(math.isfinite(v) for values in risk["validation"].values() for v in values):
        raise DataError(f"the label-free calibration on {source_name(data)} is not finite; give other normal data")
    info = {"source": source_name(data), "adapter": dataset.adapter,
            "part": "train" if dataset.is_benchmark else ("whole file" if rows is None else f"first {rows} rows"),
            "fingerprint": table.fingerprint(), "rows": table.n_steps, "channels_in": table.n_channels,
            "channels_kept": preprocess.n_kept, "timestamp_column": table.metadata.get("timestamp_column"),
            "dropped_columns": sorted(table.metadata.get("dropped_columns", {})), "segments": len(segments),
            "channels_seen_in_training": sum(i is not None for i in affine_of)}
    path = Path(out) if out is not None else Path(parent.path).parent / adapted_name(parent, data, rows)
    save_adapted_bundle(path, parent, preprocess, info, codes, risk, affine_of)
    return path
