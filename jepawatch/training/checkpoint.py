"""Epoch checkpoints: one safetensors file (tensors) whose metadata holds the JSON state. No pickle.

Holds everything `--resume` needs to end exactly where an uninterrupted run would: online and
EMA weights, the weights of the best epoch so far, Adam's state, the torch RNG state, and the
loop's counters and history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from jepawatch.atomic import atomic_write
from jepawatch.errors import BundleError

CHECKPOINT_FORMAT = "jepawatch-checkpoint/1"


@dataclass
class LoopState:
    """The training loop's counters; saved in every checkpoint."""

    epoch: int = 0  # completed epochs
    global_step: int = 0
    history: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    best_val: float | None = None
    stale_epochs: int = 0
    stopped_early: bool = False


@dataclass
class Checkpoint:
    state: LoopState
    model: dict[str, torch.Tensor]
    best_model: dict[str, torch.Tensor] | None
    optimizer: dict
    rng: torch.Tensor
    context: dict  # what the run was started with: configs, preprocessing, data source


def save_checkpoint(path: Path, ckpt: Checkpoint) -> None:
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in ckpt.model.items()}
    if ckpt.best_model is not None:
        tensors.update({f"best.{k}": v for k, v in ckpt.best_model.items()})
    for idx, per_param in ckpt.optimizer["state"].items():
        for key, value in per_param.items():
            tensors[f"optim.{idx}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    tensors["rng.torch"] = ckpt.rng
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {
        "format": CHECKPOINT_FORMAT,
        "state": json.dumps(ckpt.state.__dict__),
        "optimizer_param_groups": json.dumps(ckpt.optimizer["param_groups"]),
        "context": json.dumps(ckpt.context),
    }
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))


def load_checkpoint(path: Path) -> Checkpoint:
    if not path.exists():
        raise BundleError(f"no checkpoint at {path}: there is no interrupted run to resume; train without --resume")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise ValueError("not a jepawatch checkpoint")
        state = LoopState(**json.loads(meta["state"]))
        param_groups = json.loads(meta["optimizer_param_groups"])
        context = json.loads(meta["context"])
    except (SafetensorError, ValueError, KeyError, TypeError, OSError) as exc:
        raise BundleError(
            f"checkpoint {path} is corrupted ({exc}); delete it and train again without --resume"
        ) from exc
    model, best, optim_state = {}, {}, {}
    for key, value in tensors.items():
        head, _, rest = key.partition(".")
        if head == "model":
            model[rest] = value
        elif head == "best":
            best[rest] = value
        elif head == "optim":
            idx, _, name = rest.partition(".")
            optim_state.setdefault(int(idx), {})[name] = value
    return Checkpoint(
        state=state,
        model=model,
        best_model=best or None,
        optimizer={"state": optim_state, "param_groups": param_groups},
        rng=tensors["rng.torch"],
        context=context,
    )
