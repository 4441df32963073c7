"""`jepawatch info`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from jepawatch.cli import output
from jepawatch.cli.options import JsonOption, ModelsDirOption


def info(
    model: Annotated[Optional[str], typer.Argument(help="Bundle name or directory. Default: the latest trained.")] = None,
    models_dir: ModelsDirOption = Path("models"),
    as_json: JsonOption = False,
) -> None:
    """Show a model bundle: configuration, channels, data, training curve and code usage."""
    # here, not at the top: `jepawatch --help` should not wait for torch
    from jepawatch.app.info import bundle_info
    from jepawatch.bundle import load_bundle, resolve_bundle_path
    from jepawatch.cli.render import show_info

    info = bundle_info(load_bundle(resolve_bundle_path(model, models_dir)))
    output.result(info if as_json else None, as_json, lambda: show_info(info))
