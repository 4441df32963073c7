"""`jepawatch refit`: the label-free reference of normal behaviour fitted again on recent data, the weights as they are."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from jepawatch.cli import output
from jepawatch.cli.options import (AdapterOption, AdapterSettingOption, DeviceOption, JsonOption, LabelColOption,
                                   ModelOption, ModelsDirOption, TimestampColOption, read_options)


def refit(
    data: Annotated[Optional[str], typer.Argument(help="Recent data of the system the bundle watches (same columns): a file, or a Prometheus server with -o query=...; not needed with --reset.")] = None,
    model: ModelOption = None,
    models_dir: ModelsDirOption = Path("models"),
    last: Annotated[Optional[int], typer.Option("--last", help="Refit on DATA's newest this many rows. Default: all of DATA.")] = None,
    state: Annotated[Optional[Path], typer.Option("--state", help="The --state file of score or watch: its operator feedback (STATE.feedback.jsonl) is read.")] = None,
    feedback: Annotated[Optional[Path], typer.Option("--feedback", help="A `jepawatch feedback` file to read instead: incidents stay out of the reference, false alarms join it.")] = None,
    series: Annotated[Optional[str], typer.Option("--series", help="The series name the feedback's verdicts are matched against (default: verdicts without a series).")] = None,
    margin: Annotated[int, typer.Option("--margin", help="Newest windows held out as the guard's check (never in the reference until they pass).")] = 10,
    force: Annotated[bool, typer.Option("--force", help="Write the refit even when the guard refuses it (the data still moving away).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what the refit would do; write nothing.")] = False,
    reset: Annotated[bool, typer.Option("--reset", help="Go back to the calibration training fitted.")] = False,
    device: DeviceOption = None,
    adapter: AdapterOption = None,
    label_col: LabelColOption = None,
    timestamp_col: TimestampColOption = None,
    adapter_option: AdapterSettingOption = None,
    as_json: JsonOption = False,
) -> None:
    """Refit the bundle's label-free risk (its statistics reference and calibration) on recent normal
    DATA, without retraining: for a system whose normal behaviour moved (a new operating point, a
    season, a wandering level).

    Left out of the reference: labelled rows, stretches an operator marked as incidents (`jepawatch
    feedback`), and windows that alert in a run of fewer than 6 windows (an incident's shape) or that
    stand out among DATA's own windows (an incident within a longer run: a longer run is the data
    moving, which is what a refit is for); a marked false alarm is kept. A channel whose level wanders
    like a random walk in training is judged from then on by its shape within each window. The newest
    --margin windows are the guard: when more than half of them still alert against the new
    reference, the data is still moving away (an incident building up?) and the refit is refused
    (exit 1, nothing written but the record). Every refit is recorded in the bundle (`info`, the
    report); the training calibration is kept for --reset.

    jepawatch refit last-week.csv --model web --state web.state
    jepawatch refit live.csv --model web --last 4000 --dry-run
    """
    from jepawatch.app import refit as app
    from jepawatch.app.score import open_scorer
    from jepawatch.errors import ConfigError, DataError

    if reset and data is not None:
        raise ConfigError("--reset takes no DATA: it goes back to the calibration training fitted")
    if not reset and data is None:
        raise ConfigError("give the recent DATA to refit on (or --reset)")
    if feedback is not None and state is not None:  # said before the bundle is loaded
        raise ConfigError("give --state (its feedback file) or --feedback FILE, not both")
    scorer = open_scorer(model, models_dir, device)
    if reset:
        record = app.reset(scorer)
    else:
        record = app.refit(scorer, data, adapter=adapter, options=read_options(label_col, timestamp_col, adapter_option),
                           last_rows=last, state=state, feedback=feedback, series=series, margin_windows=margin,
                           force=force, dry_run=dry_run, warn=output.warn)
    output.result(record, as_json, lambda: output.note(app.describe(record)))
    if not record["applied"]:
        raise DataError(app.refused_message(record))
