"""The rich progress bar `jepawatch train` shows: epoch, step, loss terms, code perplexity, val loss, ETA."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

# Short labels keep the line readable in an 80-column terminal.
SHOWN_TERMS = {"total": "loss", "kl_fine": "kl", "rec": "rec", "smooth_l1": "sl1"}


class RichReporter:
    def __init__(self, console: Console):
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"),
            BarColumn(bar_width=12),
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
        shown = " ".join(f"{label} {terms[key]:.3g}" for key, label in SHOWN_TERMS.items() if key in terms)
        self.progress.update(self.task, advance=1, epoch=epoch, terms=shown, health=self.health)

    def epoch_end(self, record: dict) -> None:
        parts = [f"val {record['val_loss']:.3g}"]
        if "code_perplexity" in record:
            parts.append(f"ppl {record['code_perplexity']:.1f}/{int(record['codes_used'])}c")
        self.health = " ".join(parts)
        self.progress.update(self.task, health=self.health)

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/] {message}", highlight=False)

    def stop(self) -> None:
        self.progress.stop()
