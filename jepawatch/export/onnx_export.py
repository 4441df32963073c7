"""`jepawatch export --onnx`: the whole inference path of a bundle as one ONNX graph, checked.

The graph takes a raw window `window` (B, T_w, V) in the bundle's kept-channel order (missing
cells filled beforehand; the training standardisation and RevIN are inside the graph) and
returns, per window (B dynamic):

- `codes` (B, V, P, K): online fine code probabilities;
- `next_fine` (B, V, P, K) and `next_coarse` (B, V, 1, K): log-probabilities of the codes
  predicted for the next window (no `next_coarse` for a "w/o Downsample" bundle);
- `ema_fine` (B, V, P, K) and `ema_coarse` (B, V, 1, K): the EMA branch's code log-probabilities
  (what the surprise compares the previous window's predictions with);
- `next_window_probability` (B,): the supervised head's probability, when the bundle has one.

Metadata (ONNX `metadata_props`): channels (JSON list), window, jepawatch version, bundle name and
weights SHA-256, outputs. The export is exported with torch.onnx's dynamo exporter and then checked
against torch on random windows and on windows of the training data: any output differing by
more than `TOLERANCE` is an error.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from jepawatch._version import __version__
from jepawatch.bundle import Bundle
from jepawatch.errors import BundleError
from jepawatch.export.onnx_layers import ATTENTION_OPSET, export_window_outputs, onnx_friendly
from jepawatch.onnx_runtime import CHECK_TOLERANCE, import_onnxruntime
from jepawatch.scoring.features import window_outputs, window_statistics
from jepawatch.scoring.head import head_from_bundle

ONNX_FILE = "model.onnx"
# Opset 23 has the fused Attention and Gelu operators: on CPU (onnxruntime >= 1.23) the paper-size
# graph runs about 1.3x faster than at opset 18, where attention is spelled out as MatMul/Softmax/
# Transpose (BENCHMARKS.md). onnxruntime-gpu builds before the CUDA Attention kernel run those nodes
# on the CPU; `--opset 18` avoids that.
DEFAULT_OPSET = 23
MIN_OPSET = 18  # the lowest PyTorch's exporter writes (it silently raised a lower one to 18)
TOLERANCE = CHECK_TOLERANCE
# 2: the forms of export/onnx_layers.py (faster than PyTorch at every batch size on CPU); 1: as
# PyTorch exports its modules (earlier exports, and below opset 23). `auto` reads it.
GRAPH_FORM = 2
CHECK_WINDOWS = 16
INPUT = "window"


class InferenceGraph(nn.Module):
    """Raw window (B, T, V) -> the outputs named in `output_names`."""

    def __init__(self, bundle: Bundle, network_outputs=window_outputs):
        super().__init__()
        self.model = bundle.model.eval()
        self.network_outputs = network_outputs  # (model, (B, T, V) standardised windows) -> WindowOutputs
        self.register_buffer("mean", torch.tensor(bundle.preprocess.mean, dtype=torch.float32))  # (V,) kept channels
        self.register_buffer("std", torch.tensor(bundle.preprocess.std, dtype=torch.float32))  # (V,)
        self.head = head_from_bundle(bundle.head, bundle.head_state)[0] if bundle.head else None
        self.has_coarse = self.model.coarse_predictor is not None

    @property
    def output_names(self) -> list[str]:
        names = ["codes", "next_fine", *(["next_coarse"] if self.has_coarse else []), "ema_fine", "ema_coarse"]
        return names + (["next_window_probability"] if self.head is not None else [])

    def forward(self, window: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = (window - self.mean) / self.std  # (B, T, V) standardised as in training
        out = self.network_outputs(self.model, x)
        results = [out.codes, out.next_fine, *([out.next_coarse] if self.has_coarse else []), out.ema_fine, out.ema_coarse]
        if self.head is not None:
            inputs = self.head.inputs(out.codes.amax(dim=1), window_statistics(x))  # (B, F)
            results.append(torch.sigmoid(self.head(inputs)))  # (B,)
        return tuple(results)


@dataclass
class ExportReport:
    path: Path
    outputs: list[str]
    max_abs_diff: dict[str, float]  # per output, over every check
    checked_on: list[str]  # what the check ran on


def export_onnx(bundle: Bundle, out: Path, opset: int = DEFAULT_OPSET, check_windows: np.ndarray | None = None) -> ExportReport:
    """Export `bundle` to `out` (written atomically) and check it; `check_windows` (N, T, V) raw
    windows of real data, besides the random ones."""
    import onnx

    import_onnxruntime()  # the check needs it: say so before anything is exported or written

    from jepawatch.atomic import atomic_write

    graph = InferenceGraph(bundle).eval()  # what the export is checked against: the PyTorch modules
    # the same network on the same weights, in nodes ONNX Runtime runs faster (export/onnx_layers.py)
    outputs = export_window_outputs if opset >= ATTENTION_OPSET else window_outputs
    exported = onnx_friendly(InferenceGraph(bundle, outputs), opset).eval()
    # the channels scored data has (a bundle trained on several sources has more in its model)
    window, n_channels = bundle.run.model.window, bundle.preprocess.n_kept
    example = _random_windows(graph, 2, window, n_channels, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / ONNX_FILE
        with warnings.catch_warnings(), torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")  # the exporter's progress lines and warnings are not ours to show
            try:
                torch.onnx.export(exported, (example,), str(raw), input_names=[INPUT], output_names=graph.output_names,
                                  dynamic_shapes={"window": {0: torch.export.Dim("batch", min=1, max=65536)}},
                                  opset_version=opset, dynamo=True, verbose=False)
            except Exception as exc:  # the exporter's own failure, as one line
                raise BundleError(f"ONNX export failed at opset {opset}: {type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
        model = onnx.load(str(raw), load_external_data=True)
        onnx.helper.set_model_props(model, {
            "jepawatch_version": __version__,
            "bundle_name": bundle.name,
            "bundle_weights_sha256": bundle.meta.get("weights_sha256", ""),
            "channels": json.dumps(list(bundle.preprocess.kept_channels)),
            "window": str(window),
            "outputs": json.dumps(graph.output_names),
            "graph_form": str(GRAPH_FORM if opset >= ATTENTION_OPSET else 1),
        })
        atomic_write(out, lambda p: onnx.save(model, str(p)))
    checks = [("random windows", _random_windows(graph, CHECK_WINDOWS, window, n_channels, seed=1))]
    if check_windows is not None and len(check_windows):
        checks.append((f"{len(check_windows)} windows of the training data", torch.as_tensor(check_windows, dtype=torch.float32)))
    diffs = compare(graph, out, [x for _, x in checks])
    report = ExportReport(out, graph.output_names, diffs, [name for name, _ in checks])
    bad = {k: v for k, v in diffs.items() if not v <= TOLERANCE}
    if bad:
        out.unlink(missing_ok=True)
        raise BundleError("the ONNX export does not match the bundle: largest differences "
                          + ", ".join(f"{k} {v:.2g}" for k, v in bad.items()) + f" (tolerance {TOLERANCE:g}); not saved")
    return report


def compare(graph: InferenceGraph, path: Path, batches: list[torch.Tensor]) -> dict[str, float]:
    """Largest |onnxruntime - torch| of every output over `batches` of raw windows."""
    ort = import_onnxruntime()

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    diffs = {name: 0.0 for name in graph.output_names}
    for batch in batches:
        with torch.no_grad():
            expected = graph(batch)
        got = session.run(None, {INPUT: batch.numpy()})
        for name, e, g in zip(graph.output_names, expected, got):
            diff = float(np.max(np.abs(e.numpy() - g))) if e.numel() else 0.0
            diffs[name] = max(diffs[name], diff if np.isfinite(diff) else float("inf"))
    return diffs


def _random_windows(graph: InferenceGraph, n: int, window: int, n_channels: int, seed: int) -> torch.Tensor:
    """Raw windows around the training distribution: mean + std * (smooth signal + noise)."""
    generator = torch.Generator().manual_seed(seed)
    walk = torch.randn(n, window, n_channels, generator=generator).cumsum(1) / window**0.5
    noise = torch.randn(n, window, n_channels, generator=generator)
    return graph.mean + graph.std * (walk + 0.3 * noise)
