"""`train`: settings resolved (defaults -> preset -> TOML -> `--set` -> flags), then the train job."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from jepawatch.adapters import ReadOptions
from jepawatch.app.common import DataSource, Warn, as_data, settings_overrides, warn_python
from jepawatch.bundle import Bundle
from jepawatch.config_sources import resolve_config
from jepawatch.errors import ConfigError
from jepawatch.kinds import DEFAULT_KIND
from jepawatch.jobs.train import TrainRequest
from jepawatch.jobs.train import train as run_training
from jepawatch.training.loop import Reporter


def train(data: DataSource | Sequence[DataSource], *, model: str = DEFAULT_KIND, epochs: int | None = None, batch_size: int | None = None,
          seed: int | None = None, device: str | None = None, preset: str | None = None,
          config: str | Path | None = None, settings: Mapping[str, object] | Sequence[str] | None = None,
          out: str | Path = "models", name: str | None = None, resume: bool = False, adapter: str | None = None,
          options: ReadOptions | None = None, reporter: Reporter | None = None, warn: Warn = warn_python,
          init: str | Path | None = None) -> Path:
    """Train a bundle on `data` (one source, or a list of sources each with its own channels) and mark it
    the latest in `out`; returns the bundle's path. `init`: a bundle whose weights training starts from."""
    run = resolve_config(model, config_file=Path(config) if config is not None else None,
                         overrides=settings_overrides(settings), preset=preset,
                         flags={"train": {"epochs": epochs, "batch_size": batch_size, "seed": seed, "device": device}})
    sources = [as_data(d) for d in data] if isinstance(data, (list, tuple)) else as_data(data)
    if isinstance(sources, list) and not sources:
        raise ConfigError("no data to train on: give one source or more")
    request = TrainRequest(data=sources, run=run, out_dir=Path(out), name=name, resume=resume, adapter=adapter,
                           read_options=options or ReadOptions(), init=None if init is None else Path(init))
    return run_training(request, reporter=reporter, warn=warn)


def trained_summary(bundle: Bundle) -> dict:
    """What `train --json` prints: where the bundle is and how its training went."""
    history = bundle.history
    epochs = history.get("epochs", [])
    selected = next((e for e in epochs if e.get("epoch") == history.get("selected_epoch")), epochs[-1] if epochs else {})
    return {"bundle": str(bundle.path), "name": bundle.name, "model_kind": bundle.run.model_kind,
            "epochs_run": len(epochs), "selected_epoch": history.get("selected_epoch"),
            "best_val_loss": history.get("best_val_loss"), "stopped_early": bool(history.get("stopped_early")),
            "code_perplexity": selected.get("code_perplexity"), "channels": list(bundle.preprocess.channels),
            "channels_kept": list(bundle.preprocess.kept_channels), "window": bundle.run.model.window}
