"""The line `train` ends with: which epoch was kept, its validation loss, codes in use, time, bundle."""

from __future__ import annotations

import json
import math
from pathlib import Path


def closing_line(bundle_path: Path, seconds: float) -> str:
    """From the bundle's history.json: e.g. 'kept epoch 9 of 12: validation loss -1.36, 27 codes in
    use (perplexity 24.1); trained in 18.2 s; bundle models/demo'."""
    history = json.loads((Path(bundle_path) / "history.json").read_text())
    epochs = history.get("epochs", [])
    kept = history.get("selected_epoch")
    record = next((e for e in epochs if e.get("epoch") == kept), epochs[-1] if epochs else {})
    best = history.get("best_val_loss", record.get("val_loss", math.nan))
    text = f"kept epoch {kept} of {len(epochs)}{' (stopped early)' if history.get('stopped_early') else ''}"
    text += f": validation loss {best:.4g}"
    if "codes_used" in record:
        text += f", {int(record['codes_used'])} codes in use (perplexity {record.get('code_perplexity', math.nan):.1f})"
    return f"{text}; trained in {_duration(seconds)}; bundle {bundle_path}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min {rest} s"
