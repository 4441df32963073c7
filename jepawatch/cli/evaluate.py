"""`jepawatch evaluate`: the paper's protocol on labelled data, and what it hides."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

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
    """
    from jepawatch.errors import ConfigError
    from jepawatch.evaluation.labelled import labelled_pairs, read_labelled
    from jepawatch.evaluation.protocol import run_protocol
    from jepawatch.scoring.scorer import Scorer

    if seeds < 1:
        raise ConfigError("--seeds must be at least 1")
    scorer = Scorer.load(model, models_dir, device)
    bundle = scorer.bundle
    series, labels, source = read_labelled(data, adapter, read_options(label_col, timestamp_col, adapter_option), bundle)
    result = run_protocol(labelled_pairs(scorer, series, labels), list(range(seeds)))
    result = {"model": str(bundle.path), "data": source, **result}
    if as_json:
        output.stdout.print_json(json.dumps(_finite(result)))
        return
    _print(result)


def _print(result: dict) -> None:
    pairs = result["pairs"]
    output.stdout.print(
        f"[bold]{result['model']}[/] on {result['data']}: windows of {result['window']} steps; pairs (W_t, y_t+1) "
        f"train {pairs['train']['windows']} ({pairs['train']['positives']}+), val {pairs['val']['windows']} "
        f"({pairs['val']['positives']}+), test {pairs['test']['windows']} ({pairs['test']['positives']}+); "
        f"{len(result['seeds'])} seeds", highlight=False)
    table = Table(title="next-window prediction, test 20% (%, mean ± std over seeds)")
    for column in ("", "MTS-JEPA head", "raw-stats head", "label-free", "always +"):
        table.add_column(column, justify="right" if column else "left")
    jepa, raw = result["mts_jepa"], result["raw_stats_head"]
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
    output.stdout.print(table)
    s = result["mts_jepa"]
    output.stdout.print(
        f"base rate {_pct(result['base_rate'])}% of test windows are followed by an anomalous window; "
        f"{_pct(result['continuation_share'])}% of those follow a window that is itself anomalous (continuation). "
        f"Alerts (MTS-JEPA head) warned of {s['warned']['mean']:.1f} of {s['segments']['mean']:.0f} anomalous segments starting "
        f"in the test part, {s['mean_lead_steps']['mean']:.0f} steps ahead on average.", highlight=False)


def _pm(stat: dict) -> str:
    if not math.isfinite(stat["mean"]):
        return "n/a"
    return f"{100 * stat['mean']:.1f} ± {100 * stat['std']:.1f}"


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
