"""`score`: a bundle's scorer over data (a path or a DataFrame), batch or incremental (`--state`).

A long-format table (a series column: `--series-col`, or one named series_id) is scored series by
series with the same bundle (`jepawatch.scoring.fleet`); its rows carry the series id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd

from jepawatch.adapters import AUTO, ReadOptions
from jepawatch.alerts.pipeline import AlertSettings
from jepawatch.app.common import DataSource, Warn, as_data, warn_python
from jepawatch.errors import ConfigError
from jepawatch.scoring.incremental import ScoreRequest, score_file
from jepawatch.scoring.refit_schedule import RefitSchedule
from jepawatch.scoring.results import check_output_path
from jepawatch.scoring.scorer import Scorer, ScoreSettings

# The columns of a scored row, in order, with the type a DataFrame of them has.
COLUMNS: dict[str, str] = {
    "series": "string", "window_start": "int64", "window_end": "int64", "start_time": "object", "end_time": "object",
    "next_window_risk": "float64", "alert": "bool", "risk_source": "string", "label_free_risk": "float64", "one_in": "float64",
    "label_free_score": "float64", "surprise_fine": "float64", "surprise_coarse": "float64",
    "next_code_rarity": "float64", "regime": "string", "coarse_regime": "int64", "next_regime": "string",
    "drivers": "string", "notice": "string",
}


def open_scorer(model: str | Path | None, models_dir: str | Path, device: str | None,
                settings: ScoreSettings | None = None) -> Scorer:
    """The scorer of bundle `model` (a name under `models_dir`, a directory, or None for the latest)."""
    return Scorer.load(None if model is None else str(model), Path(models_dir), device, settings)


def score(scorer: Scorer, data: DataSource, *, adapter: str | None = None, options: ReadOptions | None = None,
          out: Path | None = None, state: Path | None = None, lock_wait: float = 10.0, warn: Warn = warn_python,
          emit: Callable[[list[dict]], None] | None = None, alerts: AlertSettings | None = None,
          notify: Callable[[str], None] = lambda line: None, refit: RefitSchedule | None = None) -> list[dict]:
    """The rows of the windows scored in this run (only new ones with a `state`); written to `out`
    when given, else handed to `emit` before the state is saved. With `alerts`, the alert state with
    hysteresis, webhook and textfile (`jepawatch.alerts`); each event's line goes to `notify`.
    `options.series_column` None looks for a column named series_id; "none" reads one series.
    `refit` (`--refit-every`): the label-free reference refitted on the newest rows on that schedule,
    each refit's line to `notify`."""
    data = as_data(data)
    check_paths(data, out, state)
    if alerts is not None:
        alerts.check()
    options = options or ReadOptions()
    options = replace(options, columns=tuple(scorer.bundle.preprocess.channels),
                      series_column=AUTO if options.series_column is None else options.series_column)
    if refit is not None:
        refit.check()
    return score_file(scorer, ScoreRequest(data, adapter, options, out, state, lock_wait, alerts, refit), warn, emit=emit,
                      notify=notify)


def check_paths(data: Path | pd.DataFrame, out: Path | None, state: Path | None) -> None:
    """Refuse an output or state file that is the input (or each other) before anything is read."""
    path = data if isinstance(data, Path) else None
    if out is not None:
        check_output_path(out, path, state)
    if state is not None and path is not None and path.exists() and state.exists() and state.resolve() == path.resolve():
        raise ConfigError(f"--state {state} is the input; give the state its own file")


def rows_frame(rows: list[dict]) -> pd.DataFrame:
    """Scored rows as a DataFrame, one row per window, with the types of `COLUMNS` (times as
    datetime64 when the data's times are dates, else text; None without times; `series` <NA>
    for data of one series)."""
    frame = pd.DataFrame(rows, columns=list(COLUMNS)).astype(COLUMNS)
    for column in ("start_time", "end_time"):
        values = frame[column]
        if len(values) and values.notna().all() and values.str.match(r"^\d{4}-\d{2}-\d{2}").all():
            parsed = pd.to_datetime(values, format="ISO8601", errors="coerce")
            if parsed.notna().all():
                frame[column] = parsed
    return frame
