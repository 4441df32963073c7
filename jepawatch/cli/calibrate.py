"""`jepawatch calibrate`: fit the supervised next-window head on labelled data and store it in the bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jepawatch.cli import output
from jepawatch.cli.options import (
    AdapterOption,
    AdapterSettingOption,
    DeviceOption,
    LabelColOption,
    ModelOption,
    ModelsDirOption,
    TimestampColOption,
    read_options,
)


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
) -> None:
    """Train the paper's downstream head on labelled DATA and store it, with its threshold, in the bundle.

    The head (frozen encoder and codebook, max-pooled code probabilities, MLP, BCE) learns from
    the earliest windows; the F1-optimal threshold is chosen on the later ones. From then on
    `score` reports the supervised risk and alerts at that threshold. By default the head also
    reads each window's per-channel statistics (mean, std, min, max, last), which RevIN hides
    from the encoder; `--features codes` is the paper's head.
    """
    from jepawatch.bundle import (
        HEAD_CONFIG,
        HEAD_WEIGHTS,
        update_bundle,
    )
    from jepawatch.errors import ConfigError, DataError
    from jepawatch.evaluation.labelled import labelled_pairs, read_labelled
    from jepawatch.evaluation.metrics import auc, threshold_metrics
    from jepawatch.evaluation.representation import Representation
    from jepawatch.scoring.head import (
        HEAD_FEATURES,
        HeadConfig,
        best_f1_threshold,
        fit_standardiser,
        head_inputs,
        head_to_bundle,
        predict,
        train_head,
    )
    from jepawatch.scoring.scorer import Scorer

    if features not in HEAD_FEATURES:
        raise ConfigError(f"--features must be one of {', '.join(HEAD_FEATURES)}, not {features!r}")
    if not 0 < train_fraction < 1:
        raise ConfigError("--train-fraction must be between 0 and 1")
    scorer = Scorer.load(model, models_dir, device)
    bundle = scorer.bundle
    series, labels, source = read_labelled(data, adapter, read_options(label_col, timestamp_col, adapter_option), bundle)
    pairs = labelled_pairs(Representation(bundle, scorer.device), series, labels)  # the head reads eq. 31's pooled codes
    cut = int(round(len(pairs) * train_fraction))
    fit, pick = slice(0, cut), slice(cut, len(pairs))
    for name, part in (("training", fit), ("threshold", pick)):
        if pairs.target[part].sum() == 0:
            raise DataError(f"the {name} part of the labelled windows has no anomalous next window; "
                            "give more labelled data or change --train-fraction")
    cfg = HeadConfig()
    standardiser = fit_standardiser(pairs.raw_stats[fit]) if features == "codes+stats" else None
    inputs = head_inputs(pairs.features, pairs.raw_stats, standardiser)  # (N, F)
    head = train_head(inputs[fit], pairs.target[fit], cfg, seed, standardiser)
    probabilities = predict(head, inputs[pick])
    threshold = best_f1_threshold(probabilities, pairs.target[pick])
    quality = {**threshold_metrics(pairs.target[pick], probabilities, threshold), "auc": auc(pairs.target[pick], probabilities)}
    provenance = {"source": source, "seed": seed, "train_windows": cut, "threshold_windows": len(pairs) - cut,
                  "train_positives": int(pairs.target[fit].sum()), "threshold_positives": int(pairs.target[pick].sum()),
                  "on_threshold_part": quality}
    meta, state = head_to_bundle(head, int(inputs.shape[1]), cfg, threshold, provenance)
    update_bundle(bundle.path, {HEAD_CONFIG: meta}, {HEAD_WEIGHTS: state})
    output.stderr.print(
        f"[green]calibrated[/] {bundle.name}: head ({features}) trained on {cut} windows ({provenance['train_positives']} positive), "
        f"threshold {threshold:.3f} from {len(pairs) - cut} ({provenance['threshold_positives']} positive): "
        f"F1 {quality['f1']:.3f}, AUC {quality['auc']:.3f} on that part. `score` now reports the supervised risk.",
        highlight=False,
    )
