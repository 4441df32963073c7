"""The rich progress bar `jepawatch train` shows, laid out for an 80-column terminal.

`epoch 3/20 ━━━━━━━━━━ 120/900 loss -1.21 val -0.79 codes 27 0:00:12`:
- loss: the total training loss of the last step. It can be negative: the batch-entropy term,
  which keeps the codebook in use, is subtracted (eq. 14);
- val: the validation loss of the last finished epoch (the epoch with the lowest is kept);
- codes: how many codebook codes are dominant on some validation token (the codebook's health;
  a warning is printed when they collapse); the perplexity is in `jepawatch info`;
- the time left.
Every term of every epoch is in the bundle's history.json (`jepawatch info` shows them).
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

LOSS_KEY = "total"


class RichReporter:
    def __init__(self, console: Console):
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"),
            BarColumn(bar_width=10),
            MofNCompleteColumn(),
            TextColumn("{task.fields[terms]}"),
            TextColumn("{task.fields[health]}"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task = None
        self.epochs = 0
        self.health = ""

    def start(self, epochs: int, steps_per_epoch: int, first_epoch: int) -> None:
        self.epochs = epochs
        self.progress.start()
        done = (first_epoch - 1) * steps_per_epoch
        self.task = self.progress.add_task(
            "train", total=epochs * steps_per_epoch, completed=done,
            epoch=first_epoch, epochs=epochs, terms="", health="",
        )

    def step(self, epoch: int, step: int, terms: dict[str, float]) -> None:
        shown = f"loss {terms[LOSS_KEY]:.3g}" if LOSS_KEY in terms else ""
        self.progress.update(self.task, advance=1, epoch=epoch, terms=shown, health=self.health)

    def epoch_end(self, record: dict) -> None:
        parts = [f"val {record['val_loss']:.3g}"]
        if "codes_used" in record:
            parts.append(f"codes {int(record['codes_used'])}")
        self.health = " ".join(parts)
        self.progress.update(self.task, health=self.health)

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)

    def stop(self) -> None:
        self.progress.stop()
