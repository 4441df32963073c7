"""The label-free risk's calibration, fitted once a model is trained (or fitted to another system):
the code frequencies on the training rows, the statistics reference and every component's
distribution on held-out validation windows (`FusedRisk`, scoring/label_free.py, reads them).
Nothing here is fitted on data that is scored."""

from __future__ import annotations

import numpy as np
import torch

from jepawatch.data.windows import SplitSeries, WindowPairs
from jepawatch.errors import ConfigError, DataError
from jepawatch.run_config import RunConfig
from jepawatch.scoring.backends import TorchBackend
from jepawatch.scoring.features import WindowSignals, reference_statistics
from jepawatch.scoring.label_free import FusedRisk
from jepawatch.scoring.scored_windows import scorable_starts, signals_at
from jepawatch.training.code_stats import code_frequencies
from jepawatch.training.config import DEFAULT_RISK_COMPONENTS

MIN_CALIBRATION_WINDOWS = 50  # fewer calibration windows than this: the alert level is rough (said, and shown by info)
EXCLUSION_WINDOWS = 2  # a training window is calibrated against reference windows at least this many windows away


def scoring_state(kind, model, run: RunConfig, splits: list[SplitSeries], device, warn) -> tuple[dict | None, dict | None]:
    """What scoring reads besides the weights, fitted on `splits` (one per segment, all with the same
    channels): the code frequencies on the training rows and the label-free calibration."""
    codes, risk = None, None
    if kind.scorable and run.model.use_codebook:
        window = run.model.window
        contexts = torch.cat([WindowPairs(s.train, window).contexts() for s in splits])
        codes = code_frequencies(model, contexts, device)
        if run.model.use_prediction:
            risk = calibrate_label_free(model, splits, window, codes, device, warn, run.train.risk_components)
    return codes, risk


def calibration_windows(splits: list[SplitSeries], window: int, n_patches: int):
    """Where the calibration reads: per segment (reference rows, held-out rows), the starts of the
    held-out windows it scores (every patch offset; every row when that leaves fewer than
    MIN_CALIBRATION_WINDOWS), and which parts they are. A DataError when no window can be scored:
    the data is too short (`jepawatch train` checks this before training)."""
    pieces, parts = [], set()
    for split in splits:
        reference_rows, held_out, part = split.train, split.val, "validation"
        if held_out is None:  # a validation part holds two windows or more when there is one
            # no validation part (short data): the reference from the first half of the training rows,
            # the calibration on the second half, so that no window is scored against itself
            half = len(split.train) // 2
            reference_rows, held_out, part = split.train[:half], split.train[half:], "second half of the training data"
        pieces.append((reference_rows, held_out))
        parts.add(part)
    stride = max(1, window // n_patches)
    starts = [scorable_starts(len(held_out), window, stride) for _, held_out in pieces]
    if sum(len(s) for s in starts) < MIN_CALIBRATION_WINDOWS:
        starts = [scorable_starts(len(held_out), window, 1) for _, held_out in pieces]  # finer, though neighbours overlap
    if sum(len(s) for s in starts) == 0:
        rows = sum(len(split.train) + (0 if split.val is None else len(split.val)) for split in splits)
        raise DataError(f"{rows} rows of whole windows are too few for the label-free risk's calibration, which "
                        f"scores held-out windows of {window} rows after a window of context; give at least "
                        f"{4 * window} rows (4 windows), or a shorter model.window (--set model.window=...)")
    return pieces, starts, parts


def calibrate_label_free(model, splits: SplitSeries | list[SplitSeries], window: int, codes: dict, device, warn,
                         components: tuple[str, ...] | None = None, reference_stride: int | None = None,
                         earlier: FusedRisk | None = None, also_normal: list[np.ndarray] | None = None,
                         relative: list[int] | tuple[int, ...] = ()) -> dict:
    """The label-free risk's calibration (scoring.label_free): the statistics reference from the
    training windows, every component's distribution on the held-out validation windows (a window
    at every patch offset; at every row when that leaves fewer than MIN_CALIBRATION_WINDOWS).
    `splits`: one per segment (a series of a long-format table), each with the same channels;
    no window spans two segments."""
    splits = [splits] if isinstance(splits, SplitSeries) else list(splits)
    pieces, starts, parts = calibration_windows(splits, window, model.cfg.n_patches)
    n_windows = sum(len(s) for s in starts)
    backend = TorchBackend(model, device)
    signals = WindowSignals.concat([signals_at(backend, held_out, s, window, codes, model.cfg.patch_len)
                                    for (_, held_out), s in zip(pieces, starts) if len(s)])
    # The statistics' reference: training windows at every patch offset, as the calibration's own
    # windows are, so that a window finds neighbours of its phase whatever the phase (issue 28,
    # measured 2026-12-04, BENCHMARKS.md "Events where an operator acts"). With non-overlapping
    # windows only, a window whose phase the reference lacked sat far from every reference point:
    # the validation windows, at every patch offset, set the alert level far above the scored
    # windows, which were in phase with the reference on the demo families, and at 0.99 the risk
    # detected 20-23 of 80 demo incidents, none before onset; with every patch offset it detects 80
    # of 80 and warns of 11-20, at 0 to 10.3 false alarms per 1,000 normal windows, and on MSL the
    # false alarms fall from 54.6 to 29.0 per 1,000 (detected 12 of 36 against 13). The AUC falls
    # (demo 79.1 -> 75.8 next-window), which is why the earlier choice, made on AUC, was the other.
    #
    # The statistics components are also calibrated on the training windows themselves, each against
    # the reference windows at least EXCLUSION_WINDOWS windows away in time (leave-neighbourhood-out,
    # the matrix profile's exclusion zone, widened): ten times the windows of the validation tail alone,
    # whose ~100 windows left the 99th percentile to one or two of them, and a stretch of the whole
    # training period instead of its last 10% (issue 28, measured 2026-12-04, BENCHMARKS.md "A
    # calibration on every training window": false alarms per 1,000 normal windows at 0.99 on the
    # precursor family 2.8 / 8.5 / 31.2 -> 0 / 5.7 / 5.7, on MSL 15.4 -> 3.4).
    references, rows, offset = [], [], 0
    for reference_rows, _ in pieces:
        train_starts = np.arange(0, len(reference_rows) - window + 1, reference_stride or model.cfg.patch_len)
        if len(train_starts):
            references.append(torch.from_numpy(reference_rows[train_starts[:, None] + np.arange(window)]))  # (N, T, V)
            rows.append(offset + train_starts)
        offset += len(reference_rows) + 2 * EXCLUSION_WINDOWS * window  # segments never exclude each other
    if not references:
        raise ConfigError(f"the training data is too short for the label-free risk's reference (fewer than "
                          f"{2 * window} rows for windows of {window}); give more data or a shorter model.window")
    train_windows = torch.cat(references)
    declared = None
    stretches = [torch.from_numpy(r[np.arange(len(r) - window + 1)[:, None] + np.arange(window)])
                 for r in also_normal or [] if len(r) >= window]  # every row's window: enough neighbours for one stretch
    if stretches:
        windows = torch.cat(stretches)
        declared = (reference_statistics(windows), reference_statistics(windows[:, -model.cfg.patch_len:]))
    calibration = FusedRisk.fit(reference_statistics(train_windows), reference_statistics(train_windows[:, -model.cfg.patch_len:]),
                                signals, components or DEFAULT_RISK_COMPONENTS, training_rows=np.concatenate(rows),
                                exclusion_zone=EXCLUSION_WINDOWS * window, earlier=earlier,
                                also_normal=declared, relative=relative)
    if calibration.n_windows < MIN_CALIBRATION_WINDOWS:
        warn(f"the label-free risk is calibrated on only {calibration.n_windows} windows (fewer than "
             f"{MIN_CALIBRATION_WINDOWS}): expect more alerts on normal data than its alert level says; more "
             "training data gives a truer calibration")
    reference_windows = (len(train_windows) + (0 if earlier is None else len(earlier.reference.points))
                         + (0 if declared is None else len(declared[0])))
    return {**calibration.to_dict(), "windows": calibration.n_windows, "validation_windows": n_windows,
            "reference_windows": reference_windows, "part": " and ".join(sorted(parts))}
