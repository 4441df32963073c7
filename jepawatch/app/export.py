"""`export --onnx`: the bundle's whole inference path as one ONNX file, checked against torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from jepawatch.adapters import ReadOptions, read_dataset, source_name
from jepawatch.app.common import DataSource, Warn, as_data, warn_python
from jepawatch.bundle import ONNX_RECORD, Bundle, update_bundle
from jepawatch.errors import ConfigError, JepawatchError
from jepawatch.export.onnx_export import CHECK_WINDOWS, DEFAULT_OPSET, MIN_OPSET, ONNX_FILE, TOLERANCE, export_onnx


@dataclass
class ExportResult:
    name: str  # the bundle's
    path: Path  # the .onnx file
    recorded: bool  # written into the bundle (which `score` and `watch` then use), not to --out
    opset: int
    max_abs_diff: dict[str, float]  # per output: the largest |onnx - torch| on the check windows
    checked_on: list[str]  # "random windows", and the training data's windows when it was read
    check_source: str | None  # the data the real windows came from
    tolerance: float = TOLERANCE
    outputs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {**asdict(self), "path": str(self.path)}


def export(bundle: Bundle, out: str | Path | None = None, opset: int | None = None,
           check_data: DataSource | None = None, warn: Warn = warn_python) -> ExportResult:
    """Export `bundle` to ONNX (into the bundle, or to `out`), after checking it on random windows and
    on windows of `check_data` (default: the bundle's training data, when it is still there). An
    export that differs from torch by more than the tolerance is an error and nothing is kept."""
    bundle.run.kind.check_scorable(bundle.name, bundle.model, "export")
    opset = DEFAULT_OPSET if opset is None else opset
    if not MIN_OPSET <= opset <= DEFAULT_OPSET:
        raise ConfigError(f"--opset {opset}: jepawatch exports opsets {MIN_OPSET} to {DEFAULT_OPSET} ({DEFAULT_OPSET}, the "
                          f"default, has the fused attention; {MIN_OPSET} suits older runtimes)")
    out = Path(out) if out is not None else None
    explicit = check_data is not None
    windows, source = None, None
    candidate = as_data(check_data) if explicit else (Path(bundle.data["source"]) if bundle.data.get("source") else None)
    if candidate is not None and (isinstance(candidate, pd.DataFrame) or candidate.exists()):
        try:
            windows = _check_windows(bundle, candidate)
            source = source_name(candidate)
        except JepawatchError as exc:
            if explicit:
                raise
            warn(f"could not read the training data {candidate} to check the export ({exc}); checking on random windows only")
    elif not explicit:
        warn("the bundle's training data is not where it was; checking the export on random windows only "
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
    return ExportResult(bundle.name, target, out is None, opset, dict(report.max_abs_diff), list(report.checked_on), source,
                        outputs=list(report.outputs))


def _check_windows(bundle: Bundle, data: Path | pd.DataFrame) -> np.ndarray | None:
    """Up to CHECK_WINDOWS raw windows (N, T_w, V) spread over `data`'s train part; None when it is shorter than one."""
    adapter = bundle.data.get("adapter") if not isinstance(data, pd.DataFrame) else None
    series = read_dataset(data, adapter, ReadOptions(columns=tuple(bundle.preprocess.channels))).part("train")
    values = bundle.preprocess.transform(series.values, series.channels)  # (T, V) standardised, filled
    raw = values * np.asarray(bundle.preprocess.std, np.float32) + np.asarray(bundle.preprocess.mean, np.float32)
    w = bundle.run.model.window
    if len(raw) < w:
        return None
    starts = np.linspace(0, len(raw) - w, num=min(CHECK_WINDOWS, max(1, len(raw) - w + 1))).astype(int)
    return np.stack([raw[s:s + w] for s in starts])
