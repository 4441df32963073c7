"""`jepawatch export --onnx`: the bundle's inference path as one ONNX file, checked against torch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from jepawatch.cli import output
from jepawatch.cli.options import ModelOption, ModelsDirOption


def export(
    model: ModelOption = None,
    models_dir: ModelsDirOption = Path("models"),
    onnx: Annotated[bool, typer.Option("--onnx", help="Export to ONNX (the one format so far).")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the ONNX file here. Default: into the bundle, which then records it (and `score` / `watch` use it).")] = None,
    opset: Annotated[Optional[int], typer.Option("--opset", help="ONNX opset version (default 23: fused attention; 18 for older runtimes).")] = None,
    check_data: Annotated[Optional[Path], typer.Option("--check-data", help="Data to check the export on besides random windows. Default: the bundle's training data, when it is still there.")] = None,
) -> None:
    """Export a bundle's whole inference path, from a raw window [batch, T_w, V] (standardisation
    and RevIN inside the graph) to the code probabilities, the fine and coarse predicted
    next-code distributions, the EMA codes and (when calibrated) the supervised head's
    probability, with a dynamic batch axis.

    The export checks itself before it reports success: ONNX Runtime and PyTorch run random
    windows and windows of the training data, and the largest absolute difference of every
    output is printed; one above 1e-4 is an error and nothing is kept.
    """
    import numpy as np

    from jepawatch.adapters import ReadOptions, read_dataset
    from jepawatch.bundle import ONNX_RECORD, load_bundle, resolve_bundle_path, update_bundle
    from jepawatch.errors import ConfigError, JepawatchError
    from jepawatch.export.onnx_export import CHECK_WINDOWS, DEFAULT_OPSET, ONNX_FILE, TOLERANCE, export_onnx

    if not onnx:
        raise ConfigError("say which format: `jepawatch export --onnx` (the only one so far)")
    opset = opset or DEFAULT_OPSET
    bundle = load_bundle(resolve_bundle_path(model, models_dir))
    if bundle.run.model_kind != "mts-jepa":
        raise ConfigError(f"{bundle.name} is a {bundle.run.model_kind} bundle; export needs an mts-jepa bundle")
    windows, source = None, None
    candidate = check_data or (Path(bundle.data["source"]) if bundle.data.get("source") else None)
    if candidate is not None and candidate.exists():
        try:
            series = read_dataset(candidate, bundle.data.get("adapter"), ReadOptions(columns=tuple(bundle.preprocess.channels))).part("train")
            values = bundle.preprocess.transform(series.values, series.channels)  # (T, V) standardised, filled
            raw = values * np.asarray(bundle.preprocess.std, np.float32) + np.asarray(bundle.preprocess.mean, np.float32)
            w = bundle.run.model.window
            starts = np.linspace(0, len(raw) - w, num=min(CHECK_WINDOWS, max(1, len(raw) - w + 1))).astype(int)
            windows, source = np.stack([raw[s:s + w] for s in starts]) if len(raw) >= w else None, str(candidate)
        except JepawatchError as exc:
            if check_data is not None:
                raise
            output.warn(f"could not read the training data {candidate} to check the export ({exc}); checking on random windows only")
    elif check_data is None:
        output.warn("the bundle's training data is not where it was; checking the export on random windows only "
                    "(--check-data DATA adds real windows)")
    target = out or (bundle.path / ONNX_FILE)
    staging = target if out is not None else bundle.path.parent / f".{bundle.name}.{ONNX_FILE}.tmp"
    try:
        report = export_onnx(bundle, staging, opset, windows)
        if out is None:
            record = {"file": ONNX_FILE, "opset": opset, "outputs": report.outputs, "max_abs_diff": report.max_abs_diff,
                      "checked_on": report.checked_on, "head_sha256": bundle.meta.get("head_sha256")}
            update_bundle(bundle.path, {ONNX_RECORD: record}, {}, {ONNX_FILE: staging})
    finally:
        if out is None:
            staging.unlink(missing_ok=True)
    for name, diff in report.max_abs_diff.items():
        output.stderr.print(f"  {name:<24} max |onnx - torch| = {diff:.2e}", highlight=False)
    where = f"{target}" + ("" if out else " (recorded in the bundle; `score` and `watch` now use it)")
    output.stderr.print(f"[green]exported[/] {bundle.name} to {where}: opset {opset}, dynamic batch, checked on "
                        f"{' and '.join(report.checked_on)}{' from ' + source if source else ''} "
                        f"(tolerance {TOLERANCE:g})", highlight=False)
