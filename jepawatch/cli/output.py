"""Where the CLI writes: results to stdout, progress, warnings and errors to stderr."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

stdout = Console()
# Messages are never hard-wrapped: a line in cron mail or a log stays one line for grep.
stderr = Console(stderr=True, soft_wrap=True)


def warn(message: str) -> None:
    stderr.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)  # a message is text, not markup


def error(message: str) -> None:
    stderr.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
