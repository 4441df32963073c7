"""`jepawatch adapters`."""

from __future__ import annotations

from rich.table import Table

from jepawatch.adapters import ENV_VAR, installed
from jepawatch.cli import output


def adapters() -> None:
    """List the installed data adapters: name, package, formats and description.

    Plugins come from the `jepawatch` entry-point group; set JEPAWATCH_PLUGINS to a
    comma-separated list of distributions to load only those (empty: built-ins only).
    """
    table = Table(show_header=True, header_style="bold", expand=False)
    table.add_column("name", no_wrap=True)
    table.add_column("package", no_wrap=True)
    table.add_column("formats")
    table.add_column("description")
    for info in installed().infos():
        table.add_row(info.name, info.package, "\n".join(info.formats) if len(" ".join(info.formats)) > 30 else " ".join(info.formats), info.description)
    output.stdout.print(table)
    output.stderr.print(f"[dim]--adapter NAME picks one; otherwise the adapter that recognises the input is used. "
                        f"{ENV_VAR} limits which plugins load.[/]")
