"""`jepawatch train` end to end: read -> preprocess -> split -> train -> code statistics -> bundle."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import math

import numpy as np
import pandas as pd
import torch

from jepawatch.adapters import ReadOptions, read_dataset, reading_report, source_name
from jepawatch.atomic import ensure_dir
from jepawatch.bundle import CHECKPOINT, check_name, mark_latest, save_bundle
from jepawatch.data.preprocess import Preprocessor
from jepawatch.data.windows import WindowPairs, chronological_split
from jepawatch.devices import resolve_device
from jepawatch.errors import ConfigError, TrainingDiverged
from jepawatch.run_config import RunConfig
from jepawatch.scoring.features import window_statistics
from jepawatch.scoring.label_free import DEFAULT_COMPONENTS, FusedRisk
from jepawatch.scoring.backends import TorchBackend
from jepawatch.scoring.windows import scorable_starts, signals_at
from jepawatch.training.checkpoint import load_checkpoint
from jepawatch.training.code_stats import code_frequencies
from jepawatch.training.distributed import init_distributed, shutdown_distributed
from jepawatch.training.loop import NullReporter, Reporter, Trainer

MIN_CALIBRATION_WINDOWS = 50
FRAME_BUNDLE_NAME = "dataframe"  # the bundle of a DataFrame trained on without a name


@dataclass
class TrainRequest:
    data: Path | pd.DataFrame
    run: RunConfig
    out_dir: Path = Path("models")
    name: str | None = None
    resume: bool = False
    adapter: str | None = None  # None: chosen by sniffing the path
    read_options: ReadOptions = field(default_factory=ReadOptions)

    @property
    def bundle_name(self) -> str:
        if self.name is None and isinstance(self.data, pd.DataFrame):
            return FRAME_BUNDLE_NAME
        return check_name(self.name or _stem(self.data))


def _stem(path: Path) -> str:
    name = path.resolve().name if path.name in ("", ".", "..") else path.name
    for suffix in (".csv.gz", ".parquet", ".csv", ".pq", ".tsv", ".txt"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def train(request: TrainRequest, reporter: Reporter | None = None, warn=print, after_epoch=None) -> Path:
    """Train a model on `request.data` and write its bundle; returns the bundle's path."""
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

    device = resolve_device(run.train.device)
    dist_ctx = init_distributed(device)
    if dist_ctx.enabled and device.type == "cuda":
        device = torch.device("cuda", dist_ctx.local_rank)
        torch.cuda.set_device(device)
    try:
        dataset = read_dataset(request.data, request.adapter, request.read_options)
        table = dataset.part("train")
        if dist_ctx.is_main:
            if dataset.is_benchmark:
                warn(f"{dataset.adapter} benchmark layout: training on its train part ({table.n_steps} steps)")
            for message in reading_report(dataset, table):
                warn(message)
        if resume is not None:
            preprocess = Preprocessor.from_dict(resume.context["preprocess"])
        else:
            preprocess = Preprocessor.fit(table.values, table.channels, table.metadata.get("timestamp_column"))
        series = preprocess.transform(table.values, table.channels)  # (T, V_kept)
        run.kind.set_channels(run.model, preprocess.n_kept)

        window = run.model.window
        split = chronological_split(series, window, run.train.val_fraction)
        if split.val is None and dist_ctx.is_main:
            warn("too little data for a validation split: validating on the training pairs")
        train_pairs = WindowPairs(split.train, window, run.train.stride or window)
        val_pairs = WindowPairs(split.val, window) if split.val is not None else None
        kind = run.kind

        torch.manual_seed(run.train.seed)
        model = kind.build(run.model)
        data_info = {
            "source": source_name(request.data),
            "adapter": dataset.adapter,
            "part": "train" if dataset.is_benchmark else "whole file",
            "layout": dataset.metadata.get("layout"),
            "fingerprint": table.fingerprint(),
            "rows": table.n_steps,
            "channels_in": table.n_channels,
            "channels_kept": preprocess.n_kept,
            "timestamp_column": table.metadata.get("timestamp_column"),
            "dropped_columns": sorted(table.metadata.get("dropped_columns", {})),
            "missing_cells": table.missing_cells(),
            "train_pairs": len(train_pairs),
            "val_pairs": len(val_pairs) if val_pairs is not None else 0,
        }
        trainer = Trainer(
            kind, model, run.train, kind.samples(train_pairs),
            kind.samples(val_pairs) if val_pairs is not None else None, device,
            checkpoint_path=checkpoint_path,
            checkpoint_context={"run": run.to_dict(), "preprocess": preprocess.to_dict(), "data": data_info},
            reporter=reporter if dist_ctx.is_main else NullReporter(),
            dist_ctx=dist_ctx,
            after_epoch=after_epoch,
        )
        result = trainer.fit(resume)
        if dist_ctx.is_main:
            _refuse_divergence(result, checkpoint_path, run.train.lr)
            codes, risk = None, None
            if kind.scorable and run.model.use_codebook:
                codes = code_frequencies(result.model, WindowPairs(split.train, window).contexts(), device)
                if run.model.use_prediction:
                    risk = calibrate_label_free(result.model, split, window, codes, device, warn,
                                                run.train.risk_components)
            history = {
                "epochs": result.state.history,
                "selected_epoch": result.state.best_epoch,
                "best_val_loss": result.state.best_val,
                "stopped_early": result.state.stopped_early,
            }
            if risk is not None and not all(math.isfinite(v) for values in risk["validation"].values() for v in values):
                raise TrainingDiverged(_diverged("the label-free calibration is not finite", checkpoint_path, run.train.lr))
            save_bundle(bundle_path, run, data_info, preprocess, result.model, history, codes, risk)
            mark_latest(request.out_dir, name)
        dist_ctx.barrier()
        return bundle_path
    finally:
        shutdown_distributed(dist_ctx)


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


def calibrate_label_free(model, split, window: int, codes: dict, device, warn,
                         components: tuple[str, ...] | None = None) -> dict:
    """The label-free risk's calibration (scoring.label_free): the statistics reference from the
    training windows, every component's distribution on the held-out validation windows (a window
    at every patch offset; at every row when that leaves fewer than MIN_CALIBRATION_WINDOWS)."""
    reference_rows, held_out, part = split.train, split.val, "validation"
    if held_out is None or len(scorable_starts(len(held_out), window, 1)) == 0:
        # no usable validation part: the reference from the first half of the training rows, the
        # calibration on the second half, so that no window is scored against itself
        half = len(split.train) // 2
        reference_rows, held_out, part = split.train[:half], split.train[half:], "second half of the training data"
    starts = scorable_starts(len(held_out), window, max(1, window // model.cfg.n_patches))
    if len(starts) < MIN_CALIBRATION_WINDOWS:
        starts = scorable_starts(len(held_out), window, 1)  # finer, though neighbouring windows overlap
    if len(starts) < MIN_CALIBRATION_WINDOWS:
        warn(f"the label-free risk is calibrated on only {len(starts)} windows (fewer than {MIN_CALIBRATION_WINDOWS}): "
             "expect more alerts on normal data than its alert level says; more training data gives a truer calibration")
    signals = signals_at(TorchBackend(model, device), held_out, starts, window, codes, model.cfg.patch_len)
    # Non-overlapping training windows as the statistics' reference: with overlapping ones the nearest
    # neighbours of a window are mostly shifted copies of one stretch of time (demo data: next-window
    # AUC of the neighbours' distance 73.8 with stride = patch length, 78.3 with stride = window).
    train_starts = np.arange(0, len(reference_rows) - window + 1, window)
    if len(train_starts) == 0:
        raise ConfigError(f"the training data is too short for the label-free risk's reference (fewer than "
                          f"{2 * window} rows for windows of {window}); give more data or a shorter model.window")
    train_windows = torch.from_numpy(reference_rows[train_starts[:, None] + np.arange(window)])  # (N, T, V)
    calibration = FusedRisk.fit(window_statistics(train_windows), window_statistics(train_windows[:, -model.cfg.patch_len:]),
                                signals, components or DEFAULT_COMPONENTS)
    return {**calibration.to_dict(), "windows": len(starts), "reference_windows": len(train_starts), "part": part}
