"""`jepawatch train`."""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from jepawatch.cli import output
from jepawatch.cli.options import (
    AdapterOption,
    AdapterSettingOption,
    DeviceOption,
    LabelColOption,
    TimestampColOption,
    read_options,
)


def train(
    data: Annotated[Path, typer.Argument(help="A CSV (.csv, .csv.gz) or Parquet file (numeric columns are channels), or a benchmark folder (its train part).")],
    name: Annotated[Optional[str], typer.Option(help="Bundle name. Default: the data file's name without extension.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Directory the bundle is written into.", envvar="JEPAWATCH_MODELS_DIR")] = Path("models"),
    model: Annotated[str, typer.Option("--model", help="mts-jepa (the paper) or temporal-jepa (the single-scale baseline).")] = "mts-jepa",
    epochs: Annotated[Optional[int], typer.Option(help="Maximum epochs (paper: 100); selection and patience scale with it.")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Samples per batch (paper: 128): channel-windows for mts-jepa, windows for temporal-jepa.")] = None,
    device: DeviceOption = None,
    preset: Annotated[Optional[str], typer.Option("--preset", help="Named MTS-JEPA settings: watch (the default: the paper's architecture at a CPU-friendly size whose codes do not collapse, 20 epochs; see README), paper (the paper's configuration, App. B.2) or levels (the paper's with RevIN without per-window statistics).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML file with \\[model] and \\[train] tables.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override one setting, e.g. --set model.temperature=0.1 (repeatable).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (weights, shuffling, dropout).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the interrupted run of this bundle from its last epoch checkpoint, with its configuration.")] = False,
    adapter: AdapterOption = None,
    label_col: LabelColOption = None,
    timestamp_col: TimestampColOption = None,
    adapter_option: AdapterSettingOption = None,
) -> None:
    """Train MTS-JEPA (or the Temporal JEPA baseline) on DATA and write a model bundle.

    DATA is read by an adapter (`jepawatch adapters`): a plain file is trained on whole, a
    benchmark folder (NASA, SWaT, PSM) on its train part. Labels are never channels.

    The bundle goes to OUT/NAME/ and becomes the latest, so later commands find it without
    --model. A checkpoint is saved after every epoch; Ctrl-C keeps it and --resume continues.
    Multi-GPU: torchrun --nproc-per-node N -m jepawatch train DATA ...

    The progress bar shows the step count, loss (the total training loss; negative is normal: the
    batch-entropy term, which keeps the codebook in use, is subtracted), val (the validation loss of
    the last epoch; the epoch with the lowest is kept), codes (dominant codes in use on the
    validation windows) and the time left. It ends with the kept epoch, its validation loss, the
    codes in use, the time taken and the bundle's path.
    """
    # imported here so that `jepawatch --help` and `jepawatch adapters` do not wait for torch
    from jepawatch.cli.progress import RichReporter
    from jepawatch.configuration import resolve_config
    from jepawatch.training.job import TrainRequest
    from jepawatch.training.job import train as run_training
    from jepawatch.training.summary import closing_line
    from rich.markup import escape

    run = resolve_config(
        model,
        config_file=config,
        overrides=set_,
        flags={"train": {"epochs": epochs, "batch_size": batch_size, "seed": seed, "device": device}},
        preset=preset,
    )
    reporter = RichReporter(output.stderr)
    request = TrainRequest(data=data, run=run, out_dir=out, name=name, resume=resume, adapter=adapter,
                           read_options=read_options(label_col, timestamp_col, adapter_option))
    started = time.monotonic()
    with _sigterm_as_interrupt():
        path = run_training(request, reporter=reporter, warn=output.warn)
    output.stderr.print(f"[green]saved[/]: {escape(closing_line(path, time.monotonic() - started))} (now the latest; "
                        "`jepawatch info` shows it)", highlight=False)


TERMINATED_EXIT_CODE = 143  # 128 + SIGTERM, what a shell reports for a terminated process


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (systemd, kill, a batch scheduler) stops training as Ctrl-C does -- the checkpoint of the
    last epoch is kept and the message says how to resume -- but exits with 143."""
    from jepawatch.errors import TrainingInterrupted

    terminated = []

    def on_sigterm(*_):
        terminated.append(True)
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    except TrainingInterrupted as exc:
        if not terminated:
            raise
        stopped = TrainingInterrupted(str(exc).replace("training interrupted", "training terminated (SIGTERM)", 1))
        stopped.exit_code = TERMINATED_EXIT_CODE
        raise stopped from None
    except KeyboardInterrupt:
        if not terminated:
            raise
        stopped = TrainingInterrupted("training terminated (SIGTERM) before its first epoch ended; nothing was saved")
        stopped.exit_code = TERMINATED_EXIT_CODE
        raise stopped from None
    finally:
        signal.signal(signal.SIGTERM, previous)
