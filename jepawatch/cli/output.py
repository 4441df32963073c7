"""Where the CLI writes: results to stdout, progress, warnings and errors to stderr."""

from __future__ import annotations

from rich.console import Console

stdout = Console()
stderr = Console(stderr=True)


def warn(message: str) -> None:
    stderr.print(f"[yellow]warning:[/] {message}", highlight=False)


def error(message: str) -> None:
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
