"""`jepawatch train` end to end: read -> preprocess -> split -> train -> code statistics -> bundle."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from jepawatch.adapters import AUTO, ReadOptions, read_dataset, reading_report, source_name, url_name, url_scheme
from jepawatch.atomic import ensure_dir
from jepawatch.bundle import CHECKPOINT, check_name, load_bundle, mark_latest, save_bundle
from jepawatch.data.preprocess import Preprocessor
from jepawatch.data.windows import segment_pairs, split_segments
from jepawatch.devices import resolve_device
from jepawatch.errors import ConfigError, DataError, TrainingDiverged
from jepawatch.run_config import RunConfig
from jepawatch.scoring.fleet import split_series
from jepawatch.scoring.label_free_calibration import calibration_windows, scoring_state
from jepawatch.training.checkpoint import load_checkpoint
from jepawatch.training.distributed import init_distributed, shutdown_distributed
from jepawatch.training.loop import NullReporter, Reporter, Trainer

FRAME_BUNDLE_NAME = "dataframe"  # the bundle of a DataFrame trained on without a name


@dataclass
class TrainRequest:
    data: Path | pd.DataFrame | list[Path | pd.DataFrame]  # several: one bundle trained on all of them
    run: RunConfig
    out_dir: Path = Path("models")
    name: str | None = None
    resume: bool = False
    adapter: str | None = None  # None: chosen by sniffing the path
    read_options: ReadOptions = field(default_factory=ReadOptions)
    init: Path | None = None  # a bundle whose weights training starts from (fine-tuning)

    @property
    def sources(self) -> list[Path | pd.DataFrame]:
        return list(self.data) if isinstance(self.data, (list, tuple)) else [self.data]

    @property
    def bundle_name(self) -> str:
        if self.name is not None:
            return check_name(self.name)
        stems = [FRAME_BUNDLE_NAME if isinstance(d, pd.DataFrame) else source_stem(d) for d in self.sources]
        more = f"-and-{len(stems) - 3}-more" if len(stems) > 3 else ""
        return check_name("-".join(stems[:3]) + more)


def source_stem(path: Path | str) -> str:
    """A source's name without its data suffix: the default bundle name (a URL's host and port:
    `http://localhost:9090` -> "localhost-9090")."""
    if url_scheme(path) is not None:
        return url_name(str(path))
    path = Path(path)
    name = path.resolve().name if path.name in ("", ".", "..") else path.name
    for suffix in (".csv.gz", ".parquet", ".csv", ".pq", ".tsv", ".txt"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


@dataclass
class TrainingSource:
    """One source as read for training: its table, its own standardisation, what the bundle records."""

    data: Path | pd.DataFrame
    dataset: object  # adapters.Dataset
    table: object  # adapters.Series, the part trained on
    preprocess: Preprocessor
    channel_offset: int  # the model's index of its first kept channel

    def parts(self, index: int) -> list[tuple[str, np.ndarray, int, int]]:
        """Its segments' rows, standardised: the whole table, or each series of a long-format table."""
        name = source_name(self.data)
        if self.table.series_ids is None:
            return [(name, self.preprocess.transform(self.table.values, self.table.channels), self.channel_offset, index)]
        return [(f"{name}: {sid}", self.preprocess.transform(part.values, part.channels), self.channel_offset, index)
                for sid, part in split_series(self.table)]


def read_sources(sources: list, adapter: str | None, options: ReadOptions, saved_preprocess: list[dict] | None = None,
                 warn=print) -> list[TrainingSource]:
    """Each source's training part with its standardisation (fitted on its training rows, or the
    saved one when resuming). A long-format table (a series column, or one named series_id) is one
    source: one standardisation over every series, as scoring applies one to each series."""
    options = replace(options, series_column=AUTO if options.series_column is None else options.series_column)
    read, offset = [], 0
    for i, data in enumerate(sources):
        dataset = read_dataset(data, adapter, options)
        table = dataset.part("train")
        if dataset.is_benchmark:
            warn(f"{dataset.adapter} benchmark layout: training on its train part ({table.n_steps} steps)")
        for message in reading_report(dataset, table):
            warn(message)
        if saved_preprocess is not None:
            preprocess = Preprocessor.from_dict(saved_preprocess[i])
        else:
            preprocess = Preprocessor.fit(table.values, table.channels, table.metadata.get("timestamp_column"))
        read.append(TrainingSource(data, dataset, table, preprocess, offset))
        offset += preprocess.n_kept
    return read


def source_record(source: TrainingSource) -> dict:
    """What the bundle records of one training source."""
    table, dataset = source.table, source.dataset
    return {"source": source_name(source.data), "adapter": dataset.adapter,
            "part": "train" if dataset.is_benchmark else "whole range" if url_scheme(source.data) else "whole file",
            "fingerprint": table.fingerprint(),
            "rows": table.n_steps, "series": 1 if table.series_ids is None else len(set(table.series_ids)),
            "series_column": table.metadata.get("series_column"), "channel_offset": source.channel_offset,
            "preprocess": source.preprocess.to_dict()}


def train(request: TrainRequest, reporter: Reporter | None = None, warn=print, after_epoch=None) -> Path:
    """Train a model on `request.data` (one source or several) and write its bundle; returns its path.

    Every source keeps its own standardisation and its own channel indices; each source (and each
    series of a long-format table) is split in time order on its own, and no training or validation
    pair crosses from one to the next. The bundle scores data like the first source's without
    `--adapt`: its preprocessing, code frequencies and label-free calibration are the first source's."""
    reporter = reporter or NullReporter()
    name = request.bundle_name
    ensure_dir(Path(request.out_dir))  # an unwritable models directory fails now, not after the first epoch
    bundle_path = Path(request.out_dir) / name
    checkpoint_path = bundle_path / CHECKPOINT
    run = request.run
    resume = None
    if request.resume:
        resume = load_checkpoint(checkpoint_path)
        requested_device = run.train.device
        run = RunConfig.from_dict(resume.context["run"])  # the interrupted run's own configuration
        run.train.device = requested_device
    if len(request.sources) > 1 and not run.kind.channel_independent:
        raise ConfigError(f"{run.model_kind} mixes its channels in its first layer, so it trains on one source "
                          "(a long-format table of many series is one); train mts-jepa on several sources")
    init = load_init(request.init, run) if request.init is not None and resume is None else None

    device = resolve_device(run.train.device)
    dist_ctx = init_distributed(device)
    if dist_ctx.enabled and device.type == "cuda":
        device = torch.device("cuda", dist_ctx.local_rank)
        torch.cuda.set_device(device)
    try:
        saved = None
        if resume is not None:
            saved = resume.context.get("source_preprocess") or [resume.context["preprocess"]]
        sources = read_sources(request.sources, request.adapter, request.read_options, saved,
                               warn if dist_ctx.is_main else (lambda message: None))
        n_channels = sum(s.preprocess.n_kept for s in sources)
        run.kind.set_channels(run.model, n_channels)

        window = run.model.window
        parts = [part for i, source in enumerate(sources) for part in source.parts(i)]
        segments = split_segments(parts, window, run.train.val_fraction, warn if dist_ctx.is_main else (lambda m: None))
        train_pairs = segment_pairs(segments, window, run.train.stride or window)
        val_pairs = segment_pairs(segments, window, part="val")
        kind = run.kind
        home = [s.split for s in segments if s.source == 0]  # what the bundle scores like (its first source)
        if not home:
            raise DataError(f"{source_name(sources[0].data)} (the first source, the one the bundle scores) is shorter "
                            f"than two windows of {window} rows; put a longer source first")
        if kind.scorable and run.model.use_codebook and run.model.use_prediction:  # what scoring_state calibrates
            calibration_windows(home, window, run.model.n_patches)
        if not val_pairs and dist_ctx.is_main:
            warn("too little data for a validation split: validating on the training pairs")

        torch.manual_seed(run.train.seed)
        model = kind.build(run.model)
        if init is not None:
            model.load_state_dict(init_state(init, [c for s in sources for c in s.preprocess.kept_channels]))
        first = sources[0]
        data_info = {
            **{k: v for k, v in source_record(first).items() if k not in ("preprocess", "channel_offset")},
            "layout": first.dataset.metadata.get("layout"),
            "channels_in": first.table.n_channels,
            "channels_kept": first.preprocess.n_kept,
            "timestamp_column": first.table.metadata.get("timestamp_column"),
            "dropped_columns": sorted(first.table.metadata.get("dropped_columns", {})),
            "missing_cells": first.table.missing_cells(),
            "train_pairs": sum(len(p) for p in train_pairs),
            "val_pairs": sum(len(p) for p in val_pairs),
            "segments": len(segments),
            "sources": [source_record(s) for s in sources],
        }
        if init is not None:
            data_info["init"] = {"bundle": str(init.path), "weights_sha256": init.meta["weights_sha256"]}
        trainer = Trainer(
            kind, model, run.train, kind.samples(train_pairs),
            kind.samples(val_pairs) if val_pairs else None, device,
            checkpoint_path=checkpoint_path,
            checkpoint_context={"run": run.to_dict(), "preprocess": first.preprocess.to_dict(),
                                "source_preprocess": [s.preprocess.to_dict() for s in sources], "data": data_info},
            reporter=reporter if dist_ctx.is_main else NullReporter(),
            dist_ctx=dist_ctx,
            after_epoch=after_epoch,
        )
        result = trainer.fit(resume)
        if dist_ctx.is_main:
            _refuse_divergence(result, checkpoint_path, run.train.lr)
            codes, risk = scoring_state(kind, result.model, run, home, device, warn)
            history = {
                "epochs": result.state.history,
                "selected_epoch": result.state.best_epoch,
                "best_val_loss": result.state.best_val,
                "stopped_early": result.state.stopped_early,
            }
            if risk is not None and not all(math.isfinite(v) for values in risk["validation"].values() for v in values):
                raise TrainingDiverged(_diverged("the label-free calibration is not finite", checkpoint_path, run.train.lr))
            save_bundle(bundle_path, run, data_info, first.preprocess, result.model, history, codes, risk)
            mark_latest(request.out_dir, name)
        dist_ctx.barrier()
        return bundle_path
    finally:
        shutdown_distributed(dist_ctx)


def load_init(path: Path, run: RunConfig):
    """The bundle `train --init` starts from, when its model is this run's (the channel count aside)."""
    parent = load_bundle(Path(path))
    if parent.run.model_kind != run.model_kind:
        raise ConfigError(f"--init {path} is a {parent.run.model_kind} bundle; this run trains {run.model_kind} "
                          f"(give --model {parent.run.model_kind})")
    mine, theirs = dataclasses.asdict(run.model), dataclasses.asdict(parent.run.model)
    differ = [k for k in mine if k not in ("n_channels", "input_dim") and mine[k] != theirs[k]]  # set from the data
    if differ:
        shown = ", ".join(f"model.{k}={theirs[k]} (this run: {mine[k]})" for k in differ[:3])
        raise ConfigError(f"--init {path} has another model: {shown}{' ...' if len(differ) > 3 else ''}; fine-tuning "
                          "keeps its architecture: give the --preset and --set it was trained with")
    return parent


def init_state(parent, channels: list[str]) -> dict:
    """The parent's weights for a model of `channels` (the kept channels of every source, in order)."""
    state = parent.model.state_dict()
    if channels == parent.preprocess.kept_channels and len(channels) == parent_channels(parent):
        return state  # the same channels: the weights as they are (any kind)
    return parent.run.kind.adapt_channels(state, affine_map(parent.preprocess.kept_channels, channels))


def parent_channels(parent) -> int:
    """How many channels the parent's model has (more than its preprocessing keeps after several sources)."""
    return int(getattr(parent.run.model, "n_channels", getattr(parent.run.model, "input_dim", 0)))


def affine_map(trained: list[str], channels: list[str]) -> list[int | None]:
    """For each of `channels`, the index of the trained channel of the same name (the parent's first
    source's kept channels, whose model indices start at 0), else None: its per-channel parameters
    are then the mean over the trained channels."""
    known = {name: i for i, name in enumerate(trained)}
    return [known.get(c) for c in channels]


def _refuse_divergence(result, checkpoint_path: Path, lr: float) -> None:
    """A run whose selected epoch has a non-finite loss, or whose weights are not finite, is no model."""
    state = result.state
    if state.best_epoch is None and state.history and not math.isfinite(state.history[-1].get("val_loss", math.nan)):
        raise TrainingDiverged(_diverged(f"every epoch has a non-finite validation loss ({state.history[-1]['val_loss']})",
                                         checkpoint_path, lr))
    if state.best_val is not None and not math.isfinite(state.best_val):
        raise TrainingDiverged(_diverged(f"the selected epoch {state.best_epoch} has a non-finite validation loss",
                                         checkpoint_path, lr))
    bad = next((k for k, v in result.model.state_dict().items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise TrainingDiverged(_diverged(f"the weights are not finite ({bad})", checkpoint_path, lr))


def _diverged(why: str, checkpoint_path: Path, lr: float) -> str:
    kept = f"the last epoch's checkpoint is kept in {checkpoint_path}" if checkpoint_path.exists() else "no checkpoint was kept"
    return (f"training diverged: {why}; no bundle was saved ({kept}); lower train.lr (now {lr:g}), "
            "e.g. --set train.lr=5e-4, and train again")
