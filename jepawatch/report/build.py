"""Check a report request, make every figure in memory, then write the files atomically.

Nothing is written before everything is drawn, and each file replaces its old version in one
rename, so a failure (bad input, a missing extra, a full disk) never leaves a half-written report
or loses the previous one.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from jepawatch.adapters import ReadOptions
from jepawatch.atomic import atomic_write, atomic_write_text
from jepawatch.errors import ConfigError

HTML_SUFFIXES = (".html", ".htm")
PNG_NAMES = {"risk-timeline": "risk.png", "regime-strip": "regimes.png", "code-histogram": "codes.png",
             "training-curves": "training.png"}
PNG_DPI = 110


@dataclass
class ReportRequest:
    data: Path
    model: str | None = None  # a bundle name or directory; None: the latest
    models_dir: Path = Path("models")
    out: Path = Path("report.html")
    png_dir: Path | None = None
    adapter: str | None = None
    options: ReadOptions = field(default_factory=ReadOptions)
    device: str | None = None  # None: auto
    alert_at: float | None = None  # None: the bundle's threshold
    stride: int | None = None  # rows between scored windows; None: the window length
    feedback: Path | None = None  # operators' verdicts: a feedback file, or the state file it is beside


@dataclass
class ReportFiles:
    html: Path
    pngs: list[Path]
    windows: int
    alerts: int  # alerted windows


def check_request(request: ReportRequest) -> None:
    out = request.out
    if out.suffix.lower() not in HTML_SUFFIXES:
        raise ConfigError(f"--out {out}: the report is an HTML file; give a name ending in .html")
    if out.is_dir():
        raise ConfigError(f"--out {out} is a directory; give a file name ending in .html")
    if request.data.exists() and out.exists() and out.resolve() == request.data.resolve():
        raise ConfigError(f"--out {out} is the input; write the report to another file")
    if request.png_dir is not None and request.png_dir.exists() and not request.png_dir.is_dir():
        raise ConfigError(f"--png {request.png_dir} is a file; give a directory for the PNG files")


def write_report(request: ReportRequest) -> ReportFiles:
    """Score `request.data` with the bundle, draw the figures, write the HTML (and the PNGs)."""
    from jepawatch.feedback import feedback_file_of, read_feedback
    from jepawatch.report import figures
    from jepawatch.report.gather import gather
    from jepawatch.report.html import render_html
    from jepawatch.scoring.scorer import Scorer, ScoreSettings

    check_request(request)
    figures.require_matplotlib()  # before the scoring, which takes a while
    feedback = None if request.feedback is None else feedback_file_of(request.feedback)
    verdicts = read_feedback(feedback)  # a bad file is said before the scoring too
    scorer = Scorer.load(request.model, request.models_dir, request.device, ScoreSettings(alert_at=request.alert_at,
                                                                                          stride=request.stride))
    data = gather(scorer, request.data, request.adapter, request.options)
    data.verdicts, data.feedback_file = verdicts, None if feedback is None else str(feedback)
    data.refits = list(scorer.bundle.refits)
    drawn = {"risk-timeline": figures.risk_figure(data), "regime-strip": figures.regime_figure(data),
             "code-histogram": figures.code_histogram_figure(data), "training-curves": figures.training_figure(data)}
    svgs = {name: _saved(fig, "svg").decode("utf-8") for name, fig in drawn.items()}
    pngs = {name: _saved(fig, "png") for name, fig in drawn.items()} if request.png_dir is not None else {}
    page = render_html(data, svgs)
    written = []
    for name, content in pngs.items():
        path = request.png_dir / PNG_NAMES[name]
        atomic_write(path, lambda tmp, content=content: tmp.write_bytes(content))
        written.append(path)
    atomic_write_text(request.out, page)
    return ReportFiles(request.out, written, len(data.rows), sum(bool(r["alert"]) for r in data.rows))


def _saved(fig, fmt: str) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=PNG_DPI if fmt == "png" else None, metadata=_metadata(fmt))
    return buffer.getvalue()


def _metadata(fmt: str) -> dict:
    # no creation date: the same report twice is the same file
    return {"Date": None} if fmt == "svg" else {"Software": "jepawatch"}


def write_demo_report(live: Path, bundle: Path, out: Path, warn, stride: int | None = None) -> Path | None:
    """The demo's report of its live part, scored at `stride` as the replay was; without the report
    extra, a warning that says how to get it and None (the demo itself needs no plotting)."""
    from jepawatch.errors import MissingExtra

    try:
        return write_report(ReportRequest(data=live, model=str(bundle), out=out, device="cpu", stride=stride)).html
    except MissingExtra as exc:
        warn(f"no report written: {exc}")
        return None
