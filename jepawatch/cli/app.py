"""The `jepawatch` entry point: assembles the commands; the error boundary is `BoundaryGroup`."""

from __future__ import annotations

import typer

from jepawatch import __version__
from jepawatch.cli.adapters import adapters
from jepawatch.cli.boundary import BoundaryGroup
from jepawatch.cli.calibrate import calibrate
from jepawatch.cli.demo import demo
from jepawatch.cli.evaluate import evaluate
from jepawatch.cli.export import export
from jepawatch.cli.feedback import feedback
from jepawatch.cli.info import info
from jepawatch.cli.refit import refit
from jepawatch.cli.report import report
from jepawatch.cli.score import score
from jepawatch.cli.train import train
from jepawatch.cli.watch import watch

app = typer.Typer(
    cls=BoundaryGroup,
    name="jepawatch",
    help="Early warning for multivariate time series with MTS-JEPA: next-window risk and regime codes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(train)
app.command()(info)
app.command()(score)
app.command()(watch)
app.command()(calibrate)
app.command()(evaluate)
app.command()(export)
app.command()(adapters)
app.command()(demo)
app.command()(report)
app.command()(refit)
app.command()(feedback)


@app.callback(invoke_without_command=True)
def _root(version: bool = typer.Option(False, "--version", help="Print the version and exit.")) -> None:
    if version:
        typer.echo(f"jepawatch {__version__}")
        raise typer.Exit()


def main() -> None:
    app()
