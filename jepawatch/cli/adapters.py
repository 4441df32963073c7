"""`jepawatch adapters`."""

from __future__ import annotations

from rich.table import Table

from jepawatch.adapters import ENV_VAR
from jepawatch.app.adapters import adapter_listing
from jepawatch.cli import output
from jepawatch.cli.options import JsonOption


def adapters(as_json: JsonOption = False) -> None:
    """List the installed data adapters: name, package, formats and description.

    Plugins come from the `jepawatch` entry-point group; set JEPAWATCH_PLUGINS to a
    comma-separated list of distributions to load only those (empty: built-ins only).
    """
    listing = adapter_listing()
    output.result(listing, as_json, lambda: _show(listing))


def _show(listing: list[dict]) -> None:
    table = Table(show_header=True, header_style="bold", expand=False)
    for column in ("name", "package", "formats", "description"):
        table.add_column(column, no_wrap=column in ("name", "package"))
    for a in listing:
        formats = "\n".join(a["formats"]) if len(" ".join(a["formats"])) > 30 else " ".join(a["formats"])
        table.add_row(a["name"], a["package"], formats, a["description"])
    output.stdout.print(table)
    output.stderr.print(f"[dim]--adapter NAME picks one; otherwise the adapter that recognises the input is used. "
                        f"{ENV_VAR} limits which plugins load.[/]")
