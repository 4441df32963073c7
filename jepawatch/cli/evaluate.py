"""`jepawatch evaluate`: the paper's protocol on labelled data, and what it hides."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from jepawatch.cli import output
from jepawatch.cli.options import (AdaptOption, AdaptRowsOption, AdapterOption, AdapterSettingOption, DeviceOption,
                                   LabelColOption, ModelOption,
                                   ModelsDirOption, TimestampColOption, read_options)


def evaluate(
    data: Annotated[Path, typer.Argument(help="Labelled data: a benchmark folder (its test part) or a file with --label-col.")],
    model: ModelOption = None,
    models_dir: ModelsDirOption = Path("models"),
    seeds: Annotated[int, typer.Option("--seeds", help="Runs of the head (seeds 0..N-1); mean and std are reported.")] = 5,
    features: Annotated[Optional[str], typer.Option("--features", help="What the head reads: codes (the paper's eq. 31), codes-mean, latent, codes+stats; context for temporal-jepa. Default: codes, or latent without a codebook.")] = None,
    train_data: Annotated[Optional[Path], typer.Option("--train-data", help="Unlabelled normal data the label-free baselines are fitted on. Default: DATA's train part (a benchmark folder), else the file the bundle was trained on.")] = None,
    ablate_risk: Annotated[bool, typer.Option("--ablate-risk", help="Also measure the label-free risk recalibrated without each component, with the statistics or the model components only, and each component alone.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON instead of tables.")] = False,
    feedback: Annotated[Optional[Path], typer.Option("--feedback", help="Operators' verdicts (`jepawatch feedback`): a .feedback.jsonl file, or the state file it is beside. Adds how many evaluated windows they cover and how many of those alert.")] = None,
    device: DeviceOption = None,
    adapter: AdapterOption = None,
    label_col: LabelColOption = None,
    timestamp_col: TimestampColOption = None,
    adapter_option: AdapterSettingOption = None,
    adapt: AdaptOption = None,
    adapt_rows: AdaptRowsOption = None,
) -> None:
    """Evaluate next-window prediction on labelled DATA with the paper's protocol (6:2:2 split, head, F1
    threshold from validation), and beside it AUPRC, the base rate, always-positive F1, the
    label-free risk's AUC, a head on raw window statistics, AUC for normal-context and
    continuation windows, and the lead time of alerts. Nothing is fitted on the last 20%.
    Works for every bundle: MTS-JEPA, its ablations and the Temporal JEPA baseline (those that
    cannot score have no label-free risk).

    Then the label-free risk against simple detectors fitted on the training data (robust z-score,
    IsolationForest, kNN on window statistics, PCA reconstruction), on the whole labelled data and
    on the last 20%, and its alerts as events (warned before onset, lead time, false alarms).
    Labelled data too small or without positives for the protocol still gets this comparison.
    """
    from jepawatch.app.transfer import adapt_for
    from jepawatch.app.evaluate import evaluate as evaluate_bundle
    from jepawatch.bundle import load_bundle, resolve_bundle_path
    from jepawatch.cli.render import show_evaluation
    from jepawatch.errors import ConfigError

    if seeds < 1:  # said before the bundle is loaded
        raise ConfigError("--seeds must be at least 1")
    model = adapt_for(data, model, models_dir, adapt, adapt_rows, device=device, warn=output.warn, notify=output.note,
                      scores_all_rows=True).model
    report = evaluate_bundle(load_bundle(resolve_bundle_path(model, models_dir)), data, seeds=seeds, features=features,
                             train_data=train_data, ablate_risk=ablate_risk, device=device, adapter=adapter,
                             options=read_options(label_col, timestamp_col, adapter_option), warn=output.warn,
                             feedback=feedback)
    result = report.to_dict()
    output.result(result, as_json, lambda: show_evaluation(result))
