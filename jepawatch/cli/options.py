"""Option aliases shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

ModelOption = Annotated[
    Optional[str],
    typer.Option("--model", "-m", help="Bundle name under --models-dir, or a bundle directory. Default: the latest trained."),
]
ModelsDirOption = Annotated[
    Path, typer.Option("--models-dir", help="Where bundles live.", envvar="JEPAWATCH_MODELS_DIR")
]
DeviceOption = Annotated[
    Optional[str],
    typer.Option("--device", help="auto (CUDA with bf16 autocast when present, else CPU), cpu or cuda. Default: auto."),
]
