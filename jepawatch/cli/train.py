"""`jepawatch train`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from jepawatch.cli import output
from jepawatch.cli.options import (AdapterOption, AdapterSettingOption, DeviceOption, JsonOption, LabelColOption,
                                   TimestampColOption, TrainSeriesColOption, read_options)


def train(
    data: Annotated[list[str], typer.Argument(help="A CSV (.csv, .csv.gz) or Parquet file (numeric columns are channels), a benchmark folder (its train part), or a Prometheus server (http://HOST:9090 with -o query=PROMQL); several: one bundle trained on all of them, each with its own channels and standardisation.")],
    name: Annotated[Optional[str], typer.Option(help="Bundle name. Default: the data file's name without extension.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Directory the bundle is written into.", envvar="JEPAWATCH_MODELS_DIR")] = Path("models"),
    model: Annotated[str, typer.Option("--model", help="mts-jepa (the paper) or temporal-jepa (the single-scale baseline).")] = "mts-jepa",
    epochs: Annotated[Optional[int], typer.Option(help="Maximum epochs (paper: 100); selection and patience scale with it.")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Samples per batch (paper: 128): channel-windows for mts-jepa, windows for temporal-jepa.")] = None,
    device: DeviceOption = None,
    preset: Annotated[Optional[str], typer.Option("--preset", help="Named MTS-JEPA settings: watch (the default: the paper's architecture at a CPU-friendly size whose codes do not collapse, 20 epochs; see docs/method.md), paper (the paper's configuration, App. B.2) or levels (the paper's with RevIN without per-window statistics).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML file with \\[model] and \\[train] tables.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override one setting, e.g. --set model.temperature=0.1 (repeatable).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (weights, shuffling, dropout).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the interrupted run of this bundle from its last epoch checkpoint, with its configuration.")] = False,
    adapter: AdapterOption = None,
    label_col: LabelColOption = None,
    timestamp_col: TimestampColOption = None,
    adapter_option: AdapterSettingOption = None,
    series_col: TrainSeriesColOption = None,
    init: Annotated[Optional[Path], typer.Option("--init", help="Fine-tune: start from this bundle's weights (same kind and model settings; other channels are fine for mts-jepa), e.g. --init models/pretrained --epochs 3.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Train MTS-JEPA (or the Temporal JEPA baseline) on DATA and write a model bundle.

    DATA is read by an adapter (`jepawatch adapters`): a plain file is trained on whole, a
    benchmark folder (NASA, SWaT, PSM) on its train part. Labels are never channels.

    Several DATA (train A B C): one bundle trained on the windows of all of them; each keeps its
    own channels and standardisation, and windows never cross from one to the next. The bundle
    scores data like the first's; any other system's with `score --adapt`. A long-format table
    (--series-col host, or a series_id column) is one source: one standardisation, each series
    split on its own, no window across two series.

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
    from jepawatch.app.train import train as train_bundle, trained_summary
    from jepawatch.bundle import load_bundle
    from jepawatch.cli.progress import RichReporter
    from jepawatch.cli.signals import sigterm_as_interrupt
    from jepawatch.training.summary import closing_line
    from rich.markup import escape

    started = time.monotonic()
    with sigterm_as_interrupt():
        path = train_bundle(data if len(data) > 1 else data[0], model=model, epochs=epochs, batch_size=batch_size, seed=seed, device=device,
                            preset=preset, config=config, settings=set_, out=out, name=name, resume=resume,
                            adapter=adapter, options=read_options(label_col, timestamp_col, adapter_option, series_col),
                            reporter=RichReporter(output.stderr), warn=output.warn, init=init)
    output.stderr.print(f"[green]saved[/]: {escape(closing_line(path, time.monotonic() - started))} (now the latest; "
                        "`jepawatch info` shows it)", highlight=False)
    if as_json:
        output.result(trained_summary(load_bundle(path)), True, lambda: None)
