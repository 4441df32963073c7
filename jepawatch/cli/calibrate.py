"""`jepawatch calibrate`: fit the supervised next-window head on labelled data and store it in the bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jepawatch.cli import output
from jepawatch.cli.options import (AdaptOption, AdaptRowsOption, AdapterOption, AdapterSettingOption, DeviceOption,
                                   JsonOption, LabelColOption,
                                   ModelOption, ModelsDirOption, TimestampColOption, read_options)


def calibrate(
    data: Annotated[Path, typer.Argument(help="Labelled data: a file with --label-col, or a benchmark folder (its test part).")],
    model: ModelOption = None,
    models_dir: ModelsDirOption = Path("models"),
    train_fraction: Annotated[float, typer.Option("--train-fraction", help="Share of the labelled windows (the earliest) that trains the head; the rest picks the threshold.")] = 0.75,
    seed: Annotated[int, typer.Option(help="Seed of the head's initialisation and batch order.")] = 0,
    features: Annotated[str, typer.Option("--features", help="What the head reads: codes+stats (the pooled codes and each window's per-channel statistics) or codes (the paper's head).")] = "codes+stats",
    device: DeviceOption = None,
    adapter: AdapterOption = None,
    label_col: LabelColOption = None,
    timestamp_col: TimestampColOption = None,
    adapter_option: AdapterSettingOption = None,
    adapt: AdaptOption = None,
    adapt_rows: AdaptRowsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train the paper's downstream head on labelled DATA and store it, with its threshold, in the bundle.

    The head (frozen encoder and codebook, max-pooled code probabilities, MLP, BCE) learns from
    the earliest windows; the F1-optimal threshold is chosen on the later ones. From then on
    `score` reports the supervised risk and alerts at that threshold. By default the head also
    reads each window's per-channel statistics (mean, std, min, max, last), which RevIN hides
    from the encoder; `--features codes` is the paper's head.
    """
    from jepawatch.app.calibrate import calibrate as calibrate_head
    from jepawatch.app.transfer import adapt_for
    from jepawatch.app.score import open_scorer
    from jepawatch.errors import ConfigError
    from jepawatch.scoring.head import HEAD_FEATURES

    if features not in HEAD_FEATURES:  # said before the bundle is loaded
        raise ConfigError(f"--features must be one of {', '.join(HEAD_FEATURES)}, not {features!r}")
    if not 0 < train_fraction < 1:
        raise ConfigError("--train-fraction must be between 0 and 1")
    model = adapt_for(data, model, models_dir, adapt, adapt_rows, device=device, warn=output.warn, notify=output.note,
                      scores_all_rows=True).model
    result = calibrate_head(open_scorer(model, models_dir, device), data, adapter=adapter, features=features,
                            options=read_options(label_col, timestamp_col, adapter_option),
                            train_fraction=train_fraction, seed=seed)
    quality = result["on_threshold_part"]
    output.stderr.print(
        f"[green]calibrated[/] {result['name']}: head ({features}) trained on {result['train_windows']} windows "
        f"({result['train_positives']} positive), threshold {result['threshold']:.3f} from {result['threshold_windows']} "
        f"({result['threshold_positives']} positive): F1 {quality['f1']:.3f}, AUC {quality['auc']:.3f} on that part. "
        "`score` now reports the supervised risk.", highlight=False)
    output.result(result, as_json, lambda: None)
