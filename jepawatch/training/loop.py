"""The training loop: Adam, gradient clipping, EMA after every step, lambda_r annealed over the run,
validation with training-health metrics, model selection with early stopping, epoch checkpoints.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, DistributedSampler

from jepawatch.errors import TrainingInterrupted
from jepawatch.training.checkpoint import Checkpoint, LoopState, save_checkpoint
from jepawatch.training.config import TrainConfig
from jepawatch.training.distributed import DistContext
from jepawatch.training.ema import ema_update
from jepawatch.training.health import HealthAccumulator, collapse_warning
from jepawatch.training.schedules import linear

if TYPE_CHECKING:  # the kind is passed in; the loop never imports the layer above it
    from jepawatch.kinds import ModelKind


class Reporter(Protocol):
    """Where the loop reports progress (a rich progress bar in the CLI; nothing in tests)."""

    def start(self, epochs: int, steps_per_epoch: int, first_epoch: int) -> None: ...
    def step(self, epoch: int, step: int, terms: dict[str, float]) -> None: ...
    def epoch_end(self, record: dict) -> None: ...
    def warn(self, message: str) -> None: ...
    def stop(self) -> None: ...


class NullReporter:
    def start(self, epochs, steps_per_epoch, first_epoch): pass
    def step(self, epoch, step, terms): pass
    def epoch_end(self, record): pass
    def warn(self, message): pass
    def stop(self): pass


LONG_EPOCH_SECONDS = 60.0  # an epoch longer than this is said up front, with the whole run's time
CLOCK_SECONDS = 5.0  # the estimate waits for this much of the first epoch


class EpochClock:
    """How long an epoch will take, from its first steps: said once, when it is long (wide data,
    a slow machine), so that nobody waits blind."""

    def __init__(self, steps_per_epoch: int, epochs_left: int, now: Callable[[], float] | None = None):
        self.now = now or time.monotonic
        self.started, self.steps, self.epochs_left = self.now(), steps_per_epoch, epochs_left

    def after(self, step: int) -> str | None:
        """None while it is too early to tell; then "" (short epochs: nothing to say) or the line to say."""
        elapsed = self.now() - self.started
        if elapsed < CLOCK_SECONDS and step < self.steps:
            return None
        per_epoch = elapsed / step * self.steps
        if per_epoch <= LONG_EPOCH_SECONDS:
            return ""
        return (f"an epoch takes about {_duration(per_epoch)} here ({self.steps:,} steps), the {self.epochs_left} epoch(s) "
                f"left about {_duration(per_epoch * self.epochs_left)}; fewer channels or rows, --epochs, or a GPU "
                "(--device cuda) shorten it; Ctrl-C keeps the last finished epoch")


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


@dataclass
class TrainResult:
    model: nn.Module  # with the selected epoch's weights
    state: LoopState


class Trainer:
    def __init__(
        self,
        kind: ModelKind,
        model: nn.Module,
        train_cfg: TrainConfig,
        train_samples: Dataset,
        val_samples: Dataset | None,
        device: torch.device,
        checkpoint_path: Path | None = None,
        checkpoint_context: dict | None = None,
        reporter: Reporter | None = None,
        dist_ctx: DistContext | None = None,
        after_epoch: Callable[[int], None] | None = None,
    ):
        self.kind = kind
        self.model = model.to(device)
        self.cfg = train_cfg
        self.train_samples = train_samples  # ChannelPairs for MTS-JEPA, WindowPairs for the Temporal JEPA
        self.val_samples = val_samples if val_samples is not None and len(val_samples) else train_samples
        self.device = device
        self.checkpoint_path = checkpoint_path
        self.checkpoint_context = checkpoint_context or {}
        self.reporter = reporter or NullReporter()
        self._timed = False  # the epoch's length was estimated (and said when long): once a run
        self.dist = dist_ctx or DistContext()
        self.after_epoch = after_epoch  # test hook: called after each epoch's checkpoint
        self.objective = kind.objective(model.cfg)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(trainable, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
        self.sampler = DistributedSampler(
            train_samples, num_replicas=self.dist.world_size, rank=self.dist.rank, shuffle=True, seed=train_cfg.seed
        )
        self.steps_per_epoch = math.ceil(len(self.sampler) / train_cfg.batch_size)
        self.total_steps = self.steps_per_epoch * train_cfg.epochs
        self.forward_model = (
            DistributedDataParallel(self.model, device_ids=[device.index] if device.type == "cuda" else None)
            if self.dist.enabled else self.model
        )
        self.autocast = device.type == "cuda" and train_cfg.amp  # bf16 autocast on CUDA, fp32 on CPU

    # -- one pass ---------------------------------------------------------------------------
    def _forward(self, model: nn.Module, batch: tuple[torch.Tensor, ...],
                 mask_generator: torch.Generator | None = None) -> dict:
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            return self.kind.forward(model, self.model.cfg, batch, mask_generator)

    def _batches(self, samples: Dataset, indices: list[int]):
        """Collate samples (tuples of tensors) into batches on the device."""
        for start in range(0, len(indices), self.cfg.batch_size):
            items = [samples[i] for i in indices[start : start + self.cfg.batch_size]]
            yield tuple(torch.stack(column).to(self.device, non_blocking=True) for column in zip(*items))

    def lambda_rec(self, global_step: int) -> float:
        mcfg = self.model.cfg
        if not self.kind.anneals_reconstruction():
            return 0.0
        return linear(mcfg.lambda_rec_start, mcfg.lambda_rec_end, global_step, self.total_steps)

    def training_batches(self, epoch: int):
        """This process's batches of epoch `epoch` (its shard, shuffled with the epoch's seed), on the device."""
        self.sampler.set_epoch(epoch)
        return self._batches(self.train_samples, list(self.sampler))

    def train_step(self, batch: tuple[torch.Tensor, ...], lam: float) -> dict[str, float]:
        """One optimiser step on `batch` (forward, backward, clip, Adam, EMA); the loss terms as floats."""
        out = self._forward(self.forward_model, batch)
        loss, terms = self.objective(self.model, out, lam)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.optimizer.param_groups[0]["params"], self.cfg.grad_clip)
        self.optimizer.step()
        ema_update(self.model.ema_pairs(), self.cfg.ema_decay)
        return {k: float(v.detach()) for k, v in terms.items()}

    def train_epoch(self, epoch: int, state: LoopState) -> dict[str, float]:
        self.model.train()
        sums: dict[str, float] = {}
        n = 0
        clock = EpochClock(self.steps_per_epoch, self.cfg.epochs - epoch + 1) if not self._timed else None
        for step, batch in enumerate(self.training_batches(epoch), start=1):
            lam = self.lambda_rec(state.global_step)
            values = self.train_step(batch, lam)
            state.global_step += 1
            for k, v in values.items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
            self.reporter.step(epoch, step, values | {"lambda_rec": lam})
            if clock is not None:
                said = clock.after(step)
                if said is not None:
                    self._timed = True
                    clock = None
                    if said:
                        self.reporter.warn(said)
        return {f"train_{k}": v / max(n, 1) for k, v in sums.items()}

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Validation loss (lambda_r at its final value, so epochs compare) and health metrics."""
        self.model.eval()
        health = HealthAccumulator()
        generator = torch.Generator().manual_seed(self.cfg.seed)  # the same masks every epoch
        lam = self.lambda_rec(self.total_steps)
        total, n = 0.0, 0
        for batch in self._batches(self.val_samples, list(range(len(self.val_samples)))):
            out = self._forward(self.model, batch, generator)
            loss, _ = self.objective(self.model, out, lam)
            total += float(loss) * batch[0].shape[0]
            n += batch[0].shape[0]
            self.kind.add_health(health, out)
        return {"val_loss": total / max(n, 1)} | health.summary()

    # -- the run ------------------------------------------------------------------------------
    def fit(self, resume: Checkpoint | None = None) -> TrainResult:
        state = LoopState()
        best_weights: dict[str, torch.Tensor] | None = None
        if resume is not None:
            state = resume.state
            self.model.load_state_dict(resume.model)
            self.optimizer.load_state_dict(resume.optimizer)
            torch.set_rng_state(resume.rng)
            best_weights = resume.best_model
        self.reporter.start(self.cfg.epochs, self.steps_per_epoch, state.epoch + 1)
        try:
            while state.epoch < self.cfg.epochs and not state.stopped_early:
                epoch = state.epoch + 1
                record = {"epoch": epoch} | self.train_epoch(epoch, state) | self.validate()
                record["lambda_rec"] = self.lambda_rec(state.global_step - 1)
                best_weights = self._select(epoch, record, state, best_weights)
                state.history.append(record)
                state.epoch = epoch
                warning = collapse_warning(record, self.cfg.collapse_perplexity)
                if warning:
                    record["warning"] = warning
                    self.reporter.warn(f"epoch {epoch}: {warning}")
                self.reporter.epoch_end(record)
                self._save(state, best_weights)
                if self.after_epoch is not None:
                    self.after_epoch(epoch)
        except KeyboardInterrupt:
            self.reporter.stop()
            where = (f"the checkpoint of epoch {state.epoch} is in {self.checkpoint_path}"
                     if state.epoch and self.checkpoint_path else "no epoch had finished, so nothing was saved")
            raise TrainingInterrupted(
                f"training interrupted in epoch {state.epoch + 1}; {where}; continue with the same command and --resume"
            ) from None
        self.reporter.stop()
        if best_weights is not None:
            self.model.load_state_dict(best_weights)
        return TrainResult(model=self.model, state=state)

    def _select(self, epoch: int, record: dict, state: LoopState, best_weights):
        """Model selection from `selection_start` on, with early stopping after `patience` stale epochs."""
        if epoch < self.cfg.selection_start:
            return best_weights
        val = record["val_loss"]
        if math.isfinite(val) and (state.best_val is None or not math.isfinite(state.best_val) or val < state.best_val):
            state.best_val, state.best_epoch, state.stale_epochs = val, epoch, 0
            return {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        state.stale_epochs += 1
        if state.stale_epochs >= self.cfg.patience:
            state.stopped_early = True
        return best_weights

    def _save(self, state: LoopState, best_weights) -> None:
        if self.checkpoint_path is None or not self.dist.is_main:
            return
        save_checkpoint(
            self.checkpoint_path,
            Checkpoint(
                state=copy.deepcopy(state),
                model=self.model.state_dict(),
                best_model=best_weights,
                optimizer=self.optimizer.state_dict(),
                rng=torch.get_rng_state(),
                context=self.checkpoint_context,
            ),
        )
