"""`jepawatch export --onnx`: the bundle's inference path as one ONNX file, checked against torch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from jepawatch.cli import output
from jepawatch.cli.options import JsonOption, ModelOption, ModelsDirOption


def export(
    model: ModelOption = None,
    models_dir: ModelsDirOption = Path("models"),
    onnx: Annotated[bool, typer.Option("--onnx", help="Export to ONNX (the one format so far).")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the ONNX file here. Default: into the bundle, which then records it (and `score` / `watch` use it).")] = None,
    opset: Annotated[Optional[int], typer.Option("--opset", help="ONNX opset version (default 23: fused attention; 18 for older runtimes).")] = None,
    check_data: Annotated[Optional[Path], typer.Option("--check-data", help="Data to check the export on besides random windows. Default: the bundle's training data, when it is still there.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Export a bundle's whole inference path, from a raw window [batch, T_w, V] (standardisation
    and RevIN inside the graph) to the code probabilities, the fine and coarse predicted
    next-code distributions, the EMA codes and (when calibrated) the supervised head's
    probability, with a dynamic batch axis.

    The export checks itself before it reports success: ONNX Runtime and PyTorch run random
    windows and windows of the training data, and the largest absolute difference of every
    output is printed; one above 1e-4 is an error and nothing is kept.
    """
    from jepawatch.app.export import export as export_bundle
    from jepawatch.bundle import load_bundle, resolve_bundle_path
    from jepawatch.errors import ConfigError

    if not onnx:
        raise ConfigError("say which format: `jepawatch export --onnx` (the only one so far)")
    result = export_bundle(load_bundle(resolve_bundle_path(model, models_dir)), out, opset, check_data, output.warn)
    for name, diff in result.max_abs_diff.items():
        output.stderr.print(f"  {name:<24} max |onnx - torch| = {diff:.2e}", highlight=False)
    where = f"{result.path}" + (" (recorded in the bundle; `score` and `watch` now use it)" if result.recorded else "")
    output.stderr.print(f"[green]exported[/] {result.name} to {where}: opset {result.opset}, dynamic batch, checked on "
                        f"{' and '.join(result.checked_on)}{' from ' + result.check_source if result.check_source else ''} "
                        f"(tolerance {result.tolerance:g})", highlight=False)
    output.result(result.to_dict(), as_json, lambda: None)
