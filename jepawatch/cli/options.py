"""Option aliases shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from jepawatch.adapters import AUTO, ReadOptions
from jepawatch.errors import ConfigError

ModelOption = Annotated[
    Optional[str],
    typer.Option("--model", "-m", help="Bundle name under --models-dir, or a bundle directory. Default: the latest trained."),
]
ModelsDirOption = Annotated[
    Path, typer.Option("--models-dir", help="Where bundles live.", envvar="JEPAWATCH_MODELS_DIR")
]
DeviceOption = Annotated[
    Optional[str],
    typer.Option("--device", help="auto (CUDA with bf16 autocast when present, else CPU), cpu or cuda. Default: auto."),
]

BackendOption = Annotated[
    Optional[str],
    typer.Option("--backend", help="What runs the network: torch, onnx (the bundle's `jepawatch export --onnx`), or auto: with an export, onnx (on a GPU device: under 8 windows a batch, torch above), else torch."),
]
LockWaitOption = Annotated[
    float,
    typer.Option("--lock-wait", help="With --state: seconds to wait for another run that holds the state's lock before giving up (exit code 75)."),
]

# Every data-reading command takes these four and turns them into ReadOptions with `read_options`.
AdapterOption = Annotated[
    Optional[str],
    typer.Option("--adapter", help="Read the data with this adapter (`jepawatch adapters` lists them). Default: the one that recognises it."),
]
LabelColOption = Annotated[
    Optional[str],
    typer.Option("--label-col", help="Column of 0/1 or true/false anomaly labels (never a channel). Default: a 0/1 column named label, labels, is_anomaly, anomaly or attack; 'none' for no labels."),
]
TimestampColOption = Annotated[
    Optional[str],
    typer.Option("--timestamp-col", help="The time column. Default: found by name (timestamp, time, date, ...), by type, or by parsing."),
]
AdapterSettingOption = Annotated[
    Optional[list[str]],
    typer.Option("--adapter-option", "-o", help="KEY=VALUE for the adapter, e.g. spacecraft=SMAP for nasa, query=PROMQL for prometheus (repeatable)."),
]


SeriesColOption = Annotated[
    Optional[str],
    typer.Option("--series-col", help="Long format: the column naming each row's series (a host, a pump); each series is scored on its own. Default: a column named series_id; 'none' for one series."),
]

TrainSeriesColOption = Annotated[
    Optional[str],
    typer.Option("--series-col", help="Long format: the column naming each row's series (a host, a pump); one standardisation over all rows, each series split on its own, no window across two. Default: a column named series_id; 'none' for one series."),
]
AdaptOption = Annotated[
    Optional[Path],
    typer.Option("--adapt", help="Normal data of the system to score, with channels of its own: its standardisation, channel mask, code frequencies and label-free calibration are fitted on it (the weights stay), written as a small adapted bundle beside the model."),
]
AdaptRowsOption = Annotated[
    Optional[int],
    typer.Option("--adapt-rows", help="Adapt on the first N rows (of --adapt's data, else of DATA itself: those rows are then not scored; scoring starts at row N)."),
]


def read_options(label_col: str | None, timestamp_col: str | None, adapter_settings: list[str] | None,
                 series_col: str | None = None) -> ReadOptions:
    extra = {}
    for item in adapter_settings or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--adapter-option {item!r}: write KEY=VALUE, e.g. spacecraft=MSL")
        key, value = key.strip(), value.strip()
        extra[key] = (*((extra[key],) if isinstance(extra[key], str) else extra[key]), value) if key in extra else value
    return ReadOptions(label_column=AUTO if label_col is None else label_col, timestamp_column=timestamp_col,
                       series_column=series_col, extra=extra)

# Scoring options that `score` and `watch` share.
StrideOption = Annotated[
    Optional[int], typer.Option("--stride", help="Rows between scored windows. Default: the window length.")
]
AlertAtOption = Annotated[
    Optional[float], typer.Option("--alert-at", help="Alert when next_window_risk >= this. Default: the bundle's threshold.")
]
TopChannelsOption = Annotated[int, typer.Option("--top-channels", help="How many driving channels to name per window.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON instead of tables.")]

# Alerting options that `score` and `watch` share (jepawatch.alerts).
RefitEveryOption = Annotated[Optional[int], typer.Option("--refit-every", help="Refit the label-free reference on the newest rows every N scored windows, as `jepawatch refit` does (recorded in the bundle; the state keeps the count). One series only.")]
RefitRowsOption = Annotated[Optional[int], typer.Option("--refit-rows", help="With --refit-every: the newest rows a refit reads. Default: 100 windows' rows.")]
MaxAlertsOption = Annotated[int, typer.Option("--max-alerts", help="The storm bound: at most this many alerts open per series within 100 windows; more are held back (said in one line, counted, never sent). 0: no bound.")]
ForOption = Annotated[int, typer.Option("--for", help="Open an alert after this many consecutive alerting windows (a `firing` event).")]
ClearOption = Annotated[int, typer.Option("--clear", help="Close an open alert after this many consecutive normal windows (a `resolved` event).")]
WebhookOption = Annotated[
    Optional[str],
    typer.Option("--webhook", help="POST each firing/resolved event to this URL (Alertmanager's webhook body); undelivered events are spooled and sent first next run.", envvar="JEPAWATCH_WEBHOOK"),
]
WebhookHeaderOption = Annotated[
    Optional[list[str]],
    typer.Option("--webhook-header", help="'Name: value' sent with each POST, e.g. an Authorization token (repeatable; never printed). Best from the environment: JEPAWATCH_WEBHOOK_HEADER (one header a line)."),
]
SeriesOption = Annotated[Optional[str], typer.Option("--series", help="Name of the series in events and metrics. Default: the input file's name.")]


def alert_settings(for_windows: int, clear_windows: int, webhook: str | None, headers: list[str] | None,
                   series: str | None, prom_textfile: Path | None = None, metrics_port: int | None = None,
                   max_alerts: int = 10):
    import os

    from jepawatch.alerts.pipeline import AlertSettings

    # read here, not by the option's envvar: Click splits a list option's variable on whitespace
    from_env = [line for line in os.environ.get("JEPAWATCH_WEBHOOK_HEADER", "").splitlines() if line.strip()]
    return AlertSettings(for_windows, clear_windows, webhook, list(headers or []) + from_env, None, prom_textfile,
                         metrics_port, series=series, max_alerts=max_alerts)
