"""`jepawatch evaluate`: the paper's protocol on labelled data, and what it hides."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

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


def evaluate(
    data: Annotated[Path, typer.Argument(help="Labelled data: a benchmark folder (its test part) or a file with --label-col.")],
    model: ModelOption = None,
    models_dir: ModelsDirOption = Path("models"),
    seeds: Annotated[int, typer.Option("--seeds", help="Runs of the head (seeds 0..N-1); mean and std are reported.")] = 5,
    features: Annotated[Optional[str], typer.Option("--features", help="What the head reads: codes (the paper's eq. 31), codes-mean, latent, codes+stats; context for temporal-jepa. Default: codes, or latent without a codebook.")] = None,
    train_data: Annotated[Optional[Path], typer.Option("--train-data", help="Unlabelled normal data the label-free baselines are fitted on. Default: DATA's train part (a benchmark folder), else the file the bundle was trained on.")] = None,
    ablate_risk: Annotated[bool, typer.Option("--ablate-risk", help="Also measure the label-free risk recalibrated without each component, with the statistics or the model components only, and each component alone.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON instead of tables.")] = False,
    device: DeviceOption = None,
    adapter: AdapterOption = None,
    label_col: LabelColOption = None,
    timestamp_col: TimestampColOption = None,
    adapter_option: AdapterSettingOption = None,
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
    from jepawatch.bundle import load_bundle, resolve_bundle_path
    from jepawatch.errors import ConfigError, DataError, JepawatchError
    from jepawatch.evaluation.baselines import fit_baselines, windows_of
    from jepawatch.evaluation.early_warning import compare
    from jepawatch.evaluation.labelled import labelled_pairs, read_labelled, read_training
    from jepawatch.evaluation.protocol import run_protocol
    from jepawatch.evaluation.representation import Representation
    from jepawatch.scoring.scorer import Scorer
    from jepawatch.training.job import resolve_device

    if seeds < 1:
        raise ConfigError("--seeds must be at least 1")
    bundle = load_bundle(resolve_bundle_path(model, models_dir))
    torch_device = resolve_device(device or "auto")
    representation = Representation(bundle, torch_device, features)
    try:
        scorer, no_label_free = Scorer(bundle, torch_device), None
    except JepawatchError as exc:  # an ablation without codes or predictors, or the Temporal JEPA
        scorer, no_label_free = None, str(exc)
    options = read_options(label_col, timestamp_col, adapter_option)
    series, labels, source = read_labelled(data, adapter, options, bundle)
    training = read_training(data, adapter, options, bundle, train_data, warn=output.warn)
    baselines = fit_baselines(windows_of(training, representation.window))
    pairs = labelled_pairs(representation, series, labels, scorer, baselines)
    if pairs.target.sum() == 0:
        raise DataError(f"{data} has no anomalous window (every label is 0): nothing to evaluate; "
                        "give labelled data with anomalies")
    try:
        result, no_protocol = run_protocol(pairs, list(range(seeds)), add_window_stats=representation.adds_window_stats), None
    except DataError as exc:  # too few positives for a head: the label-free comparison still stands
        result, no_protocol = {}, str(exc)
    result = {"model": str(bundle.path), "model_kind": bundle.run.model_kind, "features": representation.features,
              "data": source, "window": pairs.window, "label_free_unavailable": no_label_free,
              "protocol_unavailable": no_protocol, **result}
    if scorer is not None:
        result["early_warning"] = compare(pairs, pairs.baseline_scores, scorer.calibration, scorer.calibration.alert_at,
                                          ablate_risk)
    if as_json:
        output.stdout.print_json(json.dumps(_finite(result)))
        return
    _print(result)


def _print(result: dict) -> None:
    if result["protocol_unavailable"]:
        output.stdout.print(f"[bold]{result['model']}[/] on {result['data']}: no supervised protocol "
                            f"({result['protocol_unavailable']})", highlight=False)
    else:
        _print_protocol(result)
    if "early_warning" in result:
        _print_early_warning(result["early_warning"])


def _print_early_warning(ew: dict) -> None:
    table = Table(title="label-free next-window AUC (%): the risk against simple detectors fitted on the training data")
    for column in ("score", "whole data: next", "normal context", "last 20%: next", "normal context"):
        table.add_column(column, justify="left" if column == "score" else "right")
    whole, test = ew["scores"]["whole"], ew["scores"]["test"]
    names = ["label_free_risk", *ew["baselines"], *ew["ablation"]]
    for name in names:
        label = "label-free risk (" + " + ".join(ew["risk_components"]) + ")" if name == "label_free_risk" else name
        table.add_row(label, _pct(whole[name]["next"]), _pct(whole[name]["normal_context"]),
                      _pct(test[name]["next"]), _pct(test[name]["normal_context"]))
        if name == "label_free_risk" or name == ew["baselines"][-1]:
            table.add_section()
    output.stdout.print(table)
    for part, best in ew["best_baseline"].items():
        text = "; ".join(f"{measure.replace('_', ' ')}: best baseline {b['name']} {_pct(b['auc'])}, risk "
                         f"{'+' if b['margin'] >= 0 else ''}{100 * b['margin']:.1f} points" for measure, b in best.items())
        output.stdout.print(f"{'whole data' if part == 'whole' else 'last 20%'}: {text}", highlight=False)
    e = ew["events"]
    lead = f"{e['mean_lead_steps']:.0f} steps" if e["warned"] else "n/a"
    output.stdout.print(
        f"alerts at risk >= {e['alert_at']} on the whole data: warned of {e['warned']} of {e['anomalies']} anomalies "
        f"before they began (mean lead {lead}), alerted while under way on {e['alerted_during']}; {e['alerts']} alerts, "
        f"{e['false_alarms']} before a normal window ({_rate(e['false_alarms_per_1000'])} per 1,000 normal windows)",
        highlight=False)


def _rate(value) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.1f}"


def _print_protocol(result: dict) -> None:
    pairs = result["pairs"]
    output.stdout.print(
        f"[bold]{result['model']}[/] on {result['data']}: windows of {result['window']} steps; pairs (W_t, y_t+1) "
        f"train {pairs['train']['windows']} ({pairs['train']['positives']}+), val {pairs['val']['windows']} "
        f"({pairs['val']['positives']}+), test {pairs['test']['windows']} ({pairs['test']['positives']}+); "
        f"{len(result['seeds'])} seeds", highlight=False)
    table = Table(title="next-window prediction, test 20% (%, mean ± std over seeds)")
    head_name = f"{'Temporal JEPA' if result['model_kind'] == 'temporal-jepa' else 'MTS-JEPA'} head ({result['features']})"
    for column in ("", head_name, "raw-stats head", "label-free", "always +"):
        table.add_column(column, justify="right" if column else "left")
    jepa, raw = result["model_head"], result["raw_stats_head"]
    rows = [
        ("F1 (paper)", "f1", _pct(result["always_positive_f1"]), ""),
        ("precision", "precision", _pct(result["base_rate"]), ""),
        ("recall", "recall", "100.0", ""),
        ("AUC (paper)", "auc", "50.0", _pct(result["label_free_auc"])),
        ("AUPRC", "auprc", _pct(result["base_rate"]), ""),
        ("AUC, y_t = 0", "auc_normal_context", "", _pct(result["label_free_auc_normal_context"])),
        ("AUC, y_t = 1", "auc_continuation", "", ""),
    ]
    for label, key, always, label_free in rows:
        table.add_row(label, _pm(jepa[key]), _pm(raw[key]), label_free, always)
    table.add_row("AUC 95% (test windows resampled)", _interval(jepa), _interval(raw), "", "")
    output.stdout.print(table)
    s = result["model_head"]
    output.stdout.print(
        f"base rate {_pct(result['base_rate'])}% of test windows are followed by an anomalous window; "
        f"{_pct(result['continuation_share'])}% of those follow a window that is itself anomalous (continuation). "
        f"Alerts ({head_name}) warned of {s['warned']['mean']:.1f} of {s['segments']['mean']:.0f} anomalous segments starting "
        f"in the test part, {s['mean_lead_steps']['mean']:.0f} steps ahead on average.", highlight=False)


def _pm(stat: dict) -> str:
    if not math.isfinite(stat["mean"]):
        return "n/a"
    return f"{100 * stat['mean']:.1f} ± {100 * stat['std']:.1f}"


def _interval(summary: dict) -> str:
    low, high = summary["auc_low95"]["mean"], summary["auc_high95"]["mean"]
    return f"{100 * low:.1f} – {100 * high:.1f}" if math.isfinite(low) else "n/a"


def _pct(value: float) -> str:
    return f"{100 * value:.1f}" if math.isfinite(value) else "n/a"


def _finite(value):
    """JSON has no NaN: write null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
