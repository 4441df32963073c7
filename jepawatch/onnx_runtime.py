"""ONNX Runtime, which comes from one of two extras: `jepawatch[cpu]` (onnxruntime) or `jepawatch[gpu]`
(onnxruntime-gpu). The two distributions install the same `onnxruntime` package over each other (and
uninstalling one breaks the other), so jepawatch depends on neither and a user picks one; without
either, everything but the ONNX backend and `export --onnx` works on PyTorch."""

from __future__ import annotations

from jepawatch.errors import MissingExtra

INSTALL_HINT = "pip install 'jepawatch[cpu]' (or 'jepawatch[gpu]' on an NVIDIA GPU)"
# `export --onnx` saves a graph only when every output agrees with PyTorch within this (max abs diff);
# a bundle's onnx.json that records more was not written by it.
CHECK_TOLERANCE = 1e-4


def installed() -> bool:
    """Whether an ONNX Runtime (CPU or GPU build) can be imported."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def import_onnxruntime():
    """The onnxruntime module, or a MissingExtra error that names the extra to install."""
    try:
        import onnxruntime
    except ImportError:
        raise MissingExtra(f"ONNX Runtime is not installed: {INSTALL_HINT}") from None
    return onnxruntime
