"""What runs the network when scoring: PyTorch (any bundle) or ONNX Runtime (a bundle with an export).

Both take preprocessed windows (B, T, V) and return `WindowOutputs`; everything after that (the
signals, the risks) is shared, so both backends give the same rows. The ONNX graph takes raw
windows (its input is what a third party would feed it), so the ONNX backend turns the
standardised windows back into raw values first (x * std + mean). ONNX Runtime uses
CUDAExecutionProvider when onnxruntime-gpu and a GPU are there and the device allows it, else
the CPU, and says which (`provider`).

`auto` with a current export runs ONNX Runtime on the CPU at every batch size; on a GPU device
(no GPU measurement yet), or with an export made before the graph forms of export/onnx_layers.py,
it splits by size: ONNX Runtime under `SMALL_BATCH` windows, PyTorch above. Measured 2026-12-02
on 2 CPU cores (Intel Xeon, allocator tuned as `score` runs, `benchmarks/inference_speed.py
--batches ...`, exports of export/onnx_layers.py), ms a window torch vs ONNX Runtime: paper size
(25 channels) batch 1 33.5 vs 18.2, 4: 20.9 vs 15.2, 16: 16.9 vs 15.3, 32: 15.7 vs 15.1, 64: 16.6
vs 15.6; demo size (8 channels) 1: 6.36 vs 0.77, 8: 1.13 vs 0.37, 32: 0.50 vs 0.28, 64: 0.36 vs
0.25, 256: 0.26 vs 0.24. (Before those exports PyTorch was the faster from 8 windows: the split.)

ONNX Runtime runs a large batch in chunks (`windows_per_run`): its MatMuls slow down once the
activations outgrow the cache, so a chunk keeps the widest one (the feed-forward layer's: windows
x channels x (P + 1) tokens x 4D floats) within `ACTIVATION_BUDGET`. Paper size, 2026-12-02, same
machine, one ONNX Runtime call: 14.3 ms a window at batch 32 against 15.6 at 256.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from jepawatch.bundle import Bundle
from jepawatch.errors import BundleError, ConfigError
from jepawatch.model.config import MTSJEPAConfig
from jepawatch.onnx_runtime import INSTALL_HINT, import_onnxruntime, installed
from jepawatch.scoring.features import WindowOutputs, window_outputs

BACKENDS = ("auto", "torch", "onnx")


class TorchBackend:
    name = "torch"

    def __init__(self, model, device: torch.device):
        self.model = model
        self.device = device
        self.provider = f"PyTorch on {device}"

    def outputs(self, windows: np.ndarray, targets: bool = True) -> WindowOutputs:
        return window_outputs(self.model, torch.from_numpy(np.ascontiguousarray(windows)).to(self.device), targets)


class OnnxBackend:
    name = "onnx"

    def __init__(self, bundle: Bundle, device: torch.device, threads: int | None = None):
        ort = import_onnxruntime()
        path = bundle.onnx_path
        if path is None:
            raise ConfigError(f"{bundle.name} has no ONNX export; run `jepawatch export --onnx --model {bundle.path}` "
                              "or use --backend torch")
        if bundle.onnx_is_stale:
            raise BundleError(f"the ONNX export of {bundle.name} predates its current head (calibrated since); "
                              f"run `jepawatch export --onnx --model {bundle.path}` again, or use --backend torch")
        self.device = device
        available = ort.get_available_providers()
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in available:
            providers.insert(0, "CUDAExecutionProvider")
        try:
            options = ort.SessionOptions()
            if threads is not None:
                options.intra_op_num_threads = threads
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise BundleError(f"the ONNX file {path} cannot be loaded ({type(exc).__name__}); "
                              "export it again with `jepawatch export --onnx`") from None
        props = self.session.get_modelmeta().custom_metadata_map
        channels = json.loads(props.get("channels", "[]"))
        if channels != list(bundle.preprocess.kept_channels) or props.get("window") != str(bundle.run.model.window):
            raise BundleError(f"the ONNX file {path} was exported for other channels or another window "
                              f"({len(channels)} channels, window {props.get('window')}); export it again")
        self.outputs_named = json.loads(props["outputs"])
        form = props.get("graph_form", "")
        self.graph_form = int(form) if form.isdigit() else 1  # export.onnx_export.GRAPH_FORM; 1 before it existed
        self.mean = np.asarray(bundle.preprocess.mean, dtype=np.float32)
        self.std = np.asarray(bundle.preprocess.std, dtype=np.float32)
        self.provider = f"ONNX Runtime, {self.session.get_providers()[0]}"
        self.windows_per_run = windows_per_run(bundle)

    def outputs(self, windows: np.ndarray, targets: bool = True) -> WindowOutputs:
        raw = (windows * self.std + self.mean).astype(np.float32)  # (B, T, V): the graph standardises again
        wanted = [n for n in self.outputs_named if targets or n in ("codes", "next_fine", "next_coarse")]
        step = self.windows_per_run
        starts = range(0, len(raw), step) if len(raw) else [0]
        runs = [self.session.run(wanted, {"window": raw[i:i + step]}) for i in starts]
        tensor = {k: torch.from_numpy(np.concatenate(parts) if len(parts) > 1 else parts[0])
                  for k, parts in zip(wanted, zip(*runs))}
        return WindowOutputs(tensor["codes"], tensor["next_fine"], tensor.get("next_coarse"), tensor.get("ema_fine"),
                             tensor.get("ema_coarse"))


ACTIVATION_BUDGET = 24 * 2**20  # bytes


def windows_per_run(bundle: Bundle) -> int:
    """Windows per ONNX Runtime call: the feed-forward activation of a chunk within ACTIVATION_BUDGET."""
    cfg = bundle.run.model
    if not isinstance(cfg, MTSJEPAConfig):
        return 2**16  # no chunks
    tokens = bundle.preprocess.n_kept * (cfg.n_patches + 1)  # a window's tokens, fine and coarse
    return max(1, ACTIVATION_BUDGET // (tokens * cfg.encoder_ff_mult * cfg.d_model * 4))


SMALL_BATCH = 8


class SizeSplitBackend:
    """ONNX Runtime for calls with fewer than SMALL_BATCH windows, PyTorch for the rest (`auto` on a GPU)."""

    name = "auto"

    def __init__(self, small: OnnxBackend, large: TorchBackend):
        self.small, self.large = small, large
        self.provider = f"{small.provider} under {SMALL_BATCH} windows a batch, {large.provider} above"

    def outputs(self, windows: np.ndarray, targets: bool = True) -> WindowOutputs:
        if len(windows) >= SMALL_BATCH:
            return self.large.outputs(windows, targets)
        out = self.small.outputs(windows, targets)  # on the CPU; one call may mix both: same device as torch's
        device = self.large.device
        return WindowOutputs(*(None if t is None else t.to(device) for t in
                               (out.codes, out.next_fine, out.next_coarse, out.ema_fine, out.ema_coarse)))


def make_backend(name: str | None, bundle: Bundle, device: torch.device, threads: int | None = None):
    """`auto` (or None): with a current ONNX export and ONNX Runtime installed, ONNX Runtime (on a GPU
    device: for small batches, PyTorch for large ones, SizeSplitBackend); else PyTorch. `threads`: ONNX Runtime's intra-op threads."""
    name = (name or "auto").lower()
    if name not in BACKENDS:
        raise ConfigError(f"--backend {name!r}: use one of {', '.join(BACKENDS)}")
    stale = bundle.onnx_is_stale
    if name == "onnx":
        return OnnxBackend(bundle, device, threads)
    backend = TorchBackend(bundle.model, device)
    if name == "auto" and bundle.onnx is not None and not installed():
        backend.provider += f" (ONNX Runtime is not installed, so the bundle's export is not used: {INSTALL_HINT})"
        return backend
    if name == "auto" and bundle.onnx is not None and not stale:
        onnx = OnnxBackend(bundle, device, threads)
        if device.type == "cpu" and onnx.graph_form >= 2:
            return onnx
        split = SizeSplitBackend(onnx, backend)
        if onnx.graph_form < 2:
            split.provider += (" (an export of an earlier version: `jepawatch export --onnx` again makes ONNX Runtime "
                               "the faster at every size)")
        return split
    if name == "auto" and stale:
        backend.provider += " (the ONNX export predates the calibrated head: run `jepawatch export --onnx` again)"
    return backend
