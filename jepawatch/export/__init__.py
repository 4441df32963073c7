"""Exporting a bundle for other runtimes (ONNX)."""
