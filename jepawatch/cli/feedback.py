"""`jepawatch feedback`: an operator's verdict on an alert or a stretch, kept beside the state file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from jepawatch.cli import output
from jepawatch.cli.options import JsonOption


def feedback(
    state: Annotated[Optional[Path], typer.Argument(help="The --state file of score or watch; the verdicts go beside it, in STATE.feedback.jsonl.")] = None,
    false_alarm: Annotated[bool, typer.Option("--false-alarm", help="The stretch was normal: its windows join the normal reference at the next refit.")] = False,
    incident: Annotated[bool, typer.Option("--incident", help="The stretch was an incident: its windows are kept out of the normal reference.")] = False,
    start: Annotated[Optional[str], typer.Option("--from", help="The stretch's first row (as window_start counts rows) or ISO date-time (naive: UTC).")] = None,
    end: Annotated[Optional[str], typer.Option("--to", help="Its last row or ISO date-time; both ends count.")] = None,
    alert: Annotated[Optional[str], typer.Option("--alert", help="The fingerprint of an alert STATE knows (--alerts lists them): the stretch is that alert's.")] = None,
    series: Annotated[Optional[str], typer.Option("--series", help="The series the verdict is about (a long-format table). Default: every series (with --alert: the alert's).")] = None,
    note: Annotated[str, typer.Option("--note", help="Free text kept with the verdict (a ticket, a reason).")] = "",
    file: Annotated[Optional[Path], typer.Option("--file", help="Keep the verdicts in this .jsonl file instead of beside STATE (STATE is then needed only for --alert and --alerts).")] = None,
    list_verdicts: Annotated[bool, typer.Option("--list", help="Print the recorded verdicts instead of recording one.")] = False,
    list_alerts: Annotated[bool, typer.Option("--alerts", help="Print the alerts STATE knows (the open one and the last 100 closed), with their fingerprints.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Record an operator's verdict on an alert or a stretch of data: --false-alarm (its windows join
    the normal reference at the next refit) or --incident (they are kept out of it).

    The stretch is --from X --to Y (row numbers as window_start/window_end count them, or ISO
    date-times), or --alert FINGERPRINT, an alert of STATE (its times when the data has dates, else
    its rows). Verdicts are appended as JSON lines to STATE.feedback.jsonl (or --file) and never
    change a bundle; `evaluate --feedback` and `report --feedback` show them.

    jepawatch feedback state.json --false-alarm --alert 3f2a9c0e1b7d4a65 --note "deploy at 10:00"
    jepawatch feedback state.json --incident --from 2026-01-05T10:00 --to 2026-01-05T12:30
    jepawatch feedback state.json --alerts      (the alerts and their fingerprints)
    jepawatch feedback state.json --list        (the verdicts recorded)
    """
    from jepawatch.app import feedback as app
    from jepawatch.errors import ConfigError

    recording = false_alarm or incident or start is not None or end is not None or alert is not None or bool(note)
    if list_verdicts + list_alerts + recording > 1:
        raise ConfigError("--list, --alerts and recording a verdict go one at a time; give one of them")
    if list_alerts:
        if state is None:
            raise ConfigError("--alerts lists the alerts of a state file: jepawatch feedback STATE --alerts")
        known = app.state_alerts(state)
        output.result(known, as_json, lambda: _show_alerts(known, state))
        return
    if list_verdicts:
        where = app.feedback_file(state, file)
        rows = [v.to_dict() for v in app.verdicts(state, file)]
        output.result(rows, as_json, lambda: _show_verdicts(rows, where))
        return
    if false_alarm == incident:
        raise ConfigError("give --false-alarm or --incident (one of them), with --from and --to or --alert")
    verdict, path = app.record("false_alarm" if false_alarm else "incident", state=state, file=file, start=start,
                               end=end, alert=alert, series=series, note=note)
    output.result(verdict.to_dict(), as_json, lambda: output.stdout.print(_recorded(verdict, path), highlight=False,
                                                                         soft_wrap=True, markup=False))


def _recorded(verdict, path: Path) -> str:
    stretch = f"rows {verdict.start} to {verdict.end}" if verdict.by_rows else f"{verdict.start} to {verdict.end}"
    about = (f" (alert {verdict.alert})" if verdict.alert else "") + (f" of series {verdict.series}" if verdict.series else "")
    return f"recorded {verdict.verdict.replace('_', ' ')} on {stretch}{about} in {path}"


# The tables are here, not in render.py: that module imports torch, which this command never needs.
def _show_verdicts(rows: list[dict], where: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    if not rows:
        output.stdout.print(f"no verdicts in {where}", highlight=False, soft_wrap=True, markup=False)
        return
    table = Table(title=escape(f"verdicts in {where}"))
    for column in ("recorded", "verdict", "from", "to", "series", "alert", "note"):
        table.add_column(column)
    for r in rows:
        table.add_row(*(escape(str(r.get(k) or "")) for k in ("recorded_at", "verdict", "start", "end", "series", "alert", "note")))
    output.stdout.print(table)


def _show_alerts(known: list[dict], state: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    if not known:
        output.stdout.print(f"state file {state} knows no alerts", highlight=False, soft_wrap=True, markup=False)
        return
    table = Table(title=escape(f"alerts in {state} (give the fingerprint to --alert)"))
    table.add_column("fingerprint", no_wrap=True, min_width=16)
    for column in ("series", "status", "rows", "from", "to", "peak risk"):
        table.add_column(column, justify="right" if column == "peak risk" else "left")
    for a in known:
        table.add_row(a["fingerprint"], escape(a["series"]), a["status"], f"{a['first_window_start']}-{a['last_window_end']}",
                      (a.get("start_time") or "").replace("T", " "), (a.get("end_time") or "").replace("T", " "),
                      f"{a['peak_risk']:.4f}")
    output.stdout.print(table)
