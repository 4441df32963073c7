"""`jepawatch report`: the risk, regimes, codes, training and alerts of a bundle on DATA, as HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from jepawatch.cli import output
from jepawatch.cli.options import (
    AdapterOption,
    AdapterSettingOption,
    AlertAtOption,
    DeviceOption,
    LabelColOption,
    ModelOption,
    ModelsDirOption,
    StrideOption,
    TimestampColOption,
    read_options,
)


def report(
    data: Annotated[Path, typer.Argument(help="A CSV or Parquet file, or a benchmark folder (its test part).")],
    model: ModelOption = None,
    models_dir: ModelsDirOption = Path("models"),
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write (self-contained: opens offline).")] = Path("report.html"),
    png: Annotated[Optional[Path], typer.Option("--png", help="Also write the figures as PNG files into this directory (for mail and tickets).")] = None,
    alert_at: AlertAtOption = None,
    stride: StrideOption = None,
    device: DeviceOption = None,
    adapter: AdapterOption = None,
    label_col: LabelColOption = None,
    timestamp_col: TimestampColOption = None,
    adapter_option: AdapterSettingOption = None,
    feedback: Annotated[Optional[Path], typer.Option("--feedback", help="Show operators' verdicts (`jepawatch feedback`) as a table: a .feedback.jsonl file, or the state file it is beside.")] = None,
) -> None:
    """Score DATA with a bundle and write one self-contained HTML report of what it saw.

    The report shows the next-window risk over time with the alert level, the alerts and (when
    DATA has labels) the labelled anomalies, with the channels that drove the alerts beneath it;
    the regime strip (dominant code per patch, coarse regime); the codes in normal vs anomalous
    windows (or their use, without labels); the training curves; a table of the alerts with their
    lead time; and with --feedback, the operators' verdicts, each with the windows it covers. Needs
    the report extra: pip install "jepawatch[report]".
    """
    from jepawatch.report import ReportRequest, write_report

    files = write_report(ReportRequest(data, model, models_dir, out, png, adapter,
                                       read_options(label_col, timestamp_col, adapter_option), device, alert_at,
                                       stride, feedback))
    output.stderr.print(f"scored {files.windows} window(s), {files.alerts} alerted", highlight=False)
    for path in files.pngs:
        output.stdout.print(f"wrote {path}", highlight=False, soft_wrap=True)
    output.stdout.print(f"wrote {files.html} (open it in a browser)", highlight=False, soft_wrap=True)
