"""`refit`: a bundle's label-free reference of normal behaviour fitted again on recent data
(`jepawatch.scoring.refit` says what it reads, leaves out and refuses), recorded in the bundle."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from jepawatch.adapters import ReadOptions, read_dataset, source_name
from jepawatch.app.common import DataSource, Warn, as_data, warn_python
from jepawatch.errors import ConfigError
from jepawatch.scoring import refit as refitting
from jepawatch.scoring.scorer import Scorer, display_times


def refit(scorer: Scorer, data: DataSource, *, adapter: str | None = None, options: ReadOptions | None = None,
          last_rows: int | None = None, state: Path | None = None, feedback: Path | None = None,
          series: str | None = None, margin_windows: int = refitting.MARGIN_WINDOWS, force: bool = False,
          dry_run: bool = False, warn: Warn = warn_python) -> dict:
    """Refit on DATA (its newest `last_rows` rows when given), leaving out what the operators' verdicts
    (`feedback`, a `jepawatch feedback` file, or the one beside `state`) mark as incidents and keeping
    what they mark as false alarms; write the outcome to the bundle (risk.json when applied, refits.json
    always) unless `dry_run`, and score with it from now on. Returns the refit's record (`applied`
    false when the guard refused it)."""
    from jepawatch.feedback import feedback_path, read_feedback

    if feedback is not None and state is not None:
        raise ConfigError("give --state (its feedback file) or --feedback FILE, not both")
    if feedback is None and state is not None:
        feedback = feedback_path(Path(state))
    if last_rows is not None and last_rows < 1:
        raise ConfigError("--last must be at least 1 row")
    data = as_data(data)
    bundle = scorer.bundle
    options = replace(options or ReadOptions(), columns=tuple(bundle.preprocess.channels), series_column=None)
    part = read_dataset(data, adapter, options).part("test")
    if part.series_ids is not None:
        raise ConfigError("refit reads one series; give the series' own rows (one series per file)")
    first = 0 if last_rows is None else max(0, part.n_steps - last_rows)
    values = bundle.preprocess.transform(part.values[first:], part.channels)
    times = display_times(part.timestamps[first:]) if part.timestamps is not None else None
    labels = part.labels[first:] if part.labels is not None else None
    verdicts = read_feedback(feedback)
    recent = refitting.RecentData(values, first, times, labels, source=source_name(data),
                                  **refitting.marked_rows(verdicts, first, len(values), times, series))
    result = refitting.refit_calibration(scorer, recent, margin_windows=margin_windows, force=force, warn=warn)
    if not dry_run:
        refitting.write(bundle, result)
        if result.applied:
            refitting.apply(scorer, result.risk)
    return {**result.record, "bundle": str(bundle.path), "dry_run": dry_run, "feedback": len(verdicts)}


def reset(scorer: Scorer) -> dict:
    """Back to the calibration training fitted, recorded in the bundle's refit history."""
    result = refitting.reset(scorer)
    refitting.write(scorer.bundle, result)
    refitting.apply(scorer, result.risk)
    return {**result.record, "bundle": str(scorer.bundle.path), "dry_run": False, "feedback": 0}


def describe(record: dict) -> str:
    """One line saying what a refit did (or would do, with --dry-run)."""
    return ("dry run: " if record.get("dry_run") else "") + refitting.describe(record)


def refused_message(record: dict) -> str:
    return (f"the refit was refused: {record['reason']}; the bundle scores as before. Look at the newest data, "
            "mark an incident with `jepawatch feedback`, or refit with --force")



