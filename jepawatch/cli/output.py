"""Where the CLI writes: results to stdout, progress, warnings and errors to stderr.

One sink for results, and the one place that chooses between a table and JSON:
`result(data, as_json, human)` prints `data` as JSON (NaN as null) with `--json`, else calls
`human()`; `scored_rows` and `watch_sink` print windows as a table on a terminal and as JSON (or
plain) lines when stdout is a pipe or a file.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape

from jepawatch.atomic import finite, json_line

stdout = Console()
# Messages are never hard-wrapped: a line in cron mail or a log stays one line for grep.
stderr = Console(stderr=True, soft_wrap=True)


def warn(message: str) -> None:
    stderr.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)  # a message is text, not markup


def note(message: str) -> None:
    """A line of news that is not a problem (an alert firing or resolved), on stderr."""
    stderr.print(escape(message), highlight=False, soft_wrap=True)


def error(message: str) -> None:
    stderr.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def result(data: object, as_json: bool, human: Callable[[], None]) -> None:
    """The command's result: JSON on stdout with --json, else what `human` prints."""
    if as_json:
        stdout.print_json(json.dumps(finite(data), default=str))
    else:
        human()


def scored_rows(rows: list[dict], table: Callable[[list[dict]], object]) -> None:
    """Scored windows: the rich table `table(rows)` makes on a terminal, else one JSON object a line."""
    if not sys.stdout.isatty():
        for row in rows:
            sys.stdout.write(json_line(row))
        return
    stdout.print(table(rows))


def watch_sink(stats, jsonl: bool = False):
    """Where watched windows go: JSON lines with --jsonl, plain lines when stdout is not a terminal,
    else the live table."""
    from jepawatch.live.watch import JsonLinesSink, LiveTableSink, PlainLinesSink

    if jsonl:
        return JsonLinesSink()
    if not sys.stdout.isatty():
        return PlainLinesSink(alert_at=stats.alert_at)
    return LiveTableSink(stdout, stats)


