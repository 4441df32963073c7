"""`jepawatch info`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.panel import Panel
from rich.table import Table

from jepawatch.cli import output
from jepawatch.cli.options import ModelsDirOption


def info(
    model: Annotated[Optional[str], typer.Argument(help="Bundle name or directory. Default: the latest trained.")] = None,
    models_dir: ModelsDirOption = Path("models"),
) -> None:
    """Show a model bundle: configuration, channels, data, training curve and code usage."""
    import torch  # here, not at the top: `jepawatch --help` should not wait for torch

    from jepawatch.bundle import load_bundle, resolve_bundle_path
    from jepawatch.training.code_stats import code_usage
    from jepawatch.training.health import perplexity
    from jepawatch.training.job import MIN_CALIBRATION_WINDOWS

    bundle = load_bundle(resolve_bundle_path(model, models_dir))
    console = output.stdout
    run, data, history = bundle.run, bundle.data, bundle.history

    head = Table.grid(padding=(0, 2))
    head.add_row("bundle", str(bundle.path))
    head.add_row("model", run.model_kind)
    head.add_row("created", f"{bundle.meta.get('created')} (jepawatch {bundle.meta.get('jepawatch_version')})")
    head.add_row("trained on", f"{data.get('source')}: {data.get('rows')} rows, "
                 f"{data.get('train_pairs')} train / {data.get('val_pairs')} validation pairs")
    if data.get("adapter"):
        head.add_row("read by", f"{data['adapter']} adapter ({data.get('part')}); data fingerprint {data.get('fingerprint')}")
    kept = bundle.preprocess.kept_channels
    dropped = [c for c, k in zip(bundle.preprocess.channels, bundle.preprocess.kept) if not k]
    head.add_row("channels", f"{len(kept)} kept of {len(bundle.preprocess.channels)}: {_short(kept)}")
    if dropped:
        head.add_row("constant, dropped", _short(dropped))
    if data.get("timestamp_column"):
        head.add_row("timestamp column", data["timestamp_column"])
    head.add_row("selected epoch", f"{history.get('selected_epoch')} of {len(history.get('epochs', []))}"
                 + (" (stopped early)" if history.get("stopped_early") else ""))
    if bundle.risk:
        windows = bundle.risk.get("windows") or 0
        components = " + ".join(bundle.risk.get("components", ["surprise_fine", "surprise_coarse", "rarity"]))
        coarse = (f"; [yellow]only {windows} windows (fewer than {MIN_CALIBRATION_WINDOWS}): the alert level is rough[/]"
                  if windows < MIN_CALIBRATION_WINDOWS else "")
        head.add_row("label-free risk", f"{components}; calibrated on {windows} {bundle.risk.get('part')} windows; "
                     f"alert at {bundle.risk.get('alert_at')}{coarse}")
    if bundle.code_frequencies:
        usage = code_usage(bundle.code_frequencies["fine_token"])
        size = len(bundle.code_frequencies["fine_token"])
        collapsed = usage["perplexity"] < size / 8
        head.add_row("codes", f"{usage['dominant']} of {size} codes dominant on training windows, perplexity "
                     f"{usage['perplexity']:.1f}" + (f" [yellow](below K/8 = {size / 8:g}: collapsed)[/]" if collapsed else ""))
    if bundle.head:
        quality = bundle.head.get("on_threshold_part", {})
        head.add_row("supervised head", f"threshold {bundle.head['threshold']:.3f} (F1 {quality.get('f1', float('nan')):.3f} "
                     f"on {bundle.head.get('threshold_windows')} windows of {bundle.head.get('source')}); `score` uses it")
    if bundle.onnx:
        stale = bundle.onnx.get("head_sha256") != bundle.meta.get("head_sha256")
        worst = max(bundle.onnx.get("max_abs_diff", {}).values(), default=float("nan"))
        head.add_row("ONNX export", f"{bundle.onnx['file']} (opset {bundle.onnx.get('opset')}, max |onnx - torch| "
                     f"{worst:.1e})" + ("; stale: the head was calibrated since" if stale else "; `score` and `watch` use it"))
    console.print(Panel(head, title=f"jepawatch bundle [bold]{bundle.name}[/]"))

    cfg = Table(title="configuration", show_header=True)
    cfg.add_column("setting")
    cfg.add_column("value")
    for section, values in (("model", run.to_dict()["model"]), ("train", run.to_dict()["train"])):
        for key, value in values.items():
            cfg.add_row(f"{section}.{key}", str(value))
    console.print(cfg)

    curve = Table(title="training curve")
    for col in ("epoch", "train loss", "val loss", "code perplexity", "codes used", "tr cov z", "note"):
        curve.add_column(col, justify="right" if col != "note" else "left")
    for rec in history.get("epochs", []):
        curve.add_row(
            str(rec["epoch"]), _fmt(rec.get("train_total")), _fmt(rec.get("val_loss")),
            _fmt(rec.get("code_perplexity")), _fmt(rec.get("codes_used")), _fmt(rec.get("z_cov_trace")),
            " ".join(note for note in (
                "selected" if rec["epoch"] == history.get("selected_epoch") else "",
                "[yellow]collapse[/]" if rec.get("warning") else "",
            ) if note),
        )
    console.print(curve)
    warnings = [rec for rec in history.get("epochs", []) if rec.get("warning")]
    if warnings:
        console.print(f"[yellow]warning:[/] {warnings[-1]['warning']} (epoch {warnings[-1]['epoch']})", highlight=False)

    if bundle.code_frequencies:
        usage = Table(title="code usage on the training windows")
        for col in ("view", "codes used", "perplexity", "top codes (share)"):
            usage.add_column(col)
        for view, counts in bundle.code_frequencies.items():
            total = sum(counts) or 1
            shares = [c / total for c in counts]
            ppl = perplexity(torch.tensor(counts))
            top = sorted(range(len(counts)), key=lambda k: -counts[k])[:5]
            usage.add_row(view, str(sum(1 for c in counts if c)), f"{ppl:.1f}",
                          ", ".join(f"#{k} ({shares[k]:.0%})" for k in top if counts[k]))
        console.print(usage)


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _short(names: list[str], limit: int = 12) -> str:
    return ", ".join(names[:limit]) + (f", … (+{len(names) - limit})" if len(names) > limit else "")
