"""Where the CLI writes: results to stdout, progress, warnings and errors to stderr.

One sink for results: `result(data, as_json, human)` prints `data` as JSON (NaN as null) with
`--json`, else calls `human()`, which prints tables and lines.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape

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


def finite(value: object) -> object:
    """JSON has no NaN: write null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
