"""What runs the network when scoring: PyTorch (any bundle) or ONNX Runtime (a bundle with an export).

Both take preprocessed windows (B, T, V) and return `WindowOutputs`; everything after that (the
signals, the risks) is shared, so both backends give the same rows. The ONNX graph takes raw
windows (its input is what a third party would feed it), so the ONNX backend turns the
standardised windows back into raw values first (x * std + mean). ONNX Runtime uses
CUDAExecutionProvider when onnxruntime-gpu and a GPU are there and the device allows it, else
the CPU, and says which (`provider`).

`auto` with a current export runs each call on the faster runtime for its size: ONNX Runtime for
fewer than `SMALL_BATCH` windows (what `watch` meets: a window at a time), PyTorch for larger
batches (what `score` meets). Measured 2026-12-02 on 2 CPU cores with the allocator tuned
(jepawatch.allocator), windows/s torch vs ONNX Runtime: paper size (25 channels) batch 1 29.5 vs
41.8, 4: 51.0 vs 49.0, 16: 62.5 vs 47.5, 256: 64.6 vs 43.8; demo size (8 channels) batch 1 190 vs
983, 8: 1041 vs 1552, 16: 1692 vs 1782, 32: 2367 vs 1886, 256: 3463 vs 1913. Both give the same
outputs to the export's 1e-4 check.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from jepawatch.bundle import Bundle
from jepawatch.errors import BundleError, ConfigError
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
        import onnxruntime as ort

        path = bundle.onnx_path
        if path is None:
            raise ConfigError(f"{bundle.name} has no ONNX export; run `jepawatch export --onnx --model {bundle.path}` "
                              "or use --backend torch")
        if bundle.onnx_is_stale:
            raise BundleError(f"the ONNX export of {bundle.name} predates its current head (calibrated since); "
                              f"run `jepawatch export --onnx --model {bundle.path}` again, or use --backend torch")
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
        self.mean = np.asarray(bundle.preprocess.mean, dtype=np.float32)
        self.std = np.asarray(bundle.preprocess.std, dtype=np.float32)
        self.provider = f"ONNX Runtime, {self.session.get_providers()[0]}"

    def outputs(self, windows: np.ndarray, targets: bool = True) -> WindowOutputs:
        raw = (windows * self.std + self.mean).astype(np.float32)  # (B, T, V): the graph standardises again
        wanted = [n for n in self.outputs_named if targets or n in ("codes", "next_fine", "next_coarse")]
        tensor = {k: torch.from_numpy(v) for k, v in zip(wanted, self.session.run(wanted, {"window": raw}))}
        return WindowOutputs(tensor["codes"], tensor["next_fine"], tensor.get("next_coarse"), tensor.get("ema_fine"),
                             tensor.get("ema_coarse"))


SMALL_BATCH = 8


class SizeSplitBackend:
    """ONNX Runtime for calls with fewer than SMALL_BATCH windows, PyTorch for the rest."""

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
    """`auto` (or None): with a current ONNX export, ONNX Runtime for small batches and PyTorch for
    large ones (SizeSplitBackend); else PyTorch. `threads`: ONNX Runtime's intra-op threads."""
    name = (name or "auto").lower()
    if name not in BACKENDS:
        raise ConfigError(f"--backend {name!r}: use one of {', '.join(BACKENDS)}")
    stale = bundle.onnx_is_stale
    if name == "onnx":
        return OnnxBackend(bundle, device, threads)
    backend = TorchBackend(bundle.model, device)
    if name == "auto" and bundle.onnx is not None and not stale:
        return SizeSplitBackend(OnnxBackend(bundle, device, threads), backend)
    if name == "auto" and stale:
        backend.provider += " (the ONNX export predates the calibrated head: run `jepawatch export --onnx` again)"
    return backend
