"""`info`: what a bundle holds, as plain data (`info --json`, `Monitor.info()`)."""

from __future__ import annotations

import torch

from jepawatch.bundle import Bundle
from jepawatch.scoring.alert_rule import alert_rule
from jepawatch.scoring.label_free_calibration import MIN_CALIBRATION_WINDOWS
from jepawatch.training.code_stats import code_usage
from jepawatch.training.health import perplexity

LEGACY_COMPONENTS = ["surprise_fine", "surprise_coarse", "rarity"]  # what a risk.json without `components` fused


def bundle_info(bundle: Bundle) -> dict:
    """The bundle's identity, data, channels, configuration, training curve, risks, head, export and code
    usage: everything `jepawatch info` shows, decided here (the CLI only renders it)."""
    preprocess, history = bundle.preprocess, bundle.history
    rule = alert_rule(bundle) if bundle.risk or bundle.head else None
    info: dict = {
        "bundle": str(bundle.path), "name": bundle.name, "model_kind": bundle.run.model_kind,
        "format": bundle.meta.get("format"), "format_version": bundle.meta.get("format_version"),"created": bundle.meta.get("created"),
        "jepawatch_version": bundle.meta.get("jepawatch_version"), "data": bundle.data,
        "channels": list(preprocess.channels), "channels_kept": list(preprocess.kept_channels),
        "channels_dropped": [c for c, k in zip(preprocess.channels, preprocess.kept) if not k],
        "window": bundle.run.model.window, "configuration": bundle.run.to_dict(),
        "selected_epoch": history.get("selected_epoch"), "stopped_early": bool(history.get("stopped_early")),
        "epochs": history.get("epochs", []), "label_free_risk": None, "codes": None, "supervised_head": None,
        "onnx": None, "code_usage": {}, "parent": bundle.meta.get("parent"),
        "risk_source": rule.risk_source if rule else None, "alert_at": rule.alert_at if rule else None,
    }
    if bundle.risk:
        windows = bundle.risk.get("windows") or 0
        info["label_free_risk"] = {"components": bundle.risk.get("components", LEGACY_COMPONENTS), "windows": windows,
                                   "part": bundle.risk.get("part"), "alert_at": bundle.risk.get("alert_at"),
                                   "rough": windows < MIN_CALIBRATION_WINDOWS, "rough_below": MIN_CALIBRATION_WINDOWS}
    info["refits"] = {"count": len(bundle.refits), "applied": sum(1 for r in bundle.refits if r["applied"]),
                      "last": bundle.refits[-1] if bundle.refits else None,
                      "trained_calibration_kept": bundle.trained_risk is not None}
    if bundle.code_frequencies:
        usage = code_usage(bundle.code_frequencies["fine_token"])
        size = len(bundle.code_frequencies["fine_token"])
        info["codes"] = {"dominant": usage["dominant"], "size": size, "perplexity": usage["perplexity"],
                         "collapsed": usage["perplexity"] < size / 8}
        for view, counts in bundle.code_frequencies.items():
            total = sum(counts) or 1
            top = sorted(range(len(counts)), key=lambda k: -counts[k])[:5]
            info["code_usage"][view] = {"used": sum(1 for c in counts if c), "perplexity": perplexity(torch.tensor(counts)),
                                        "counts": list(counts),
                                        "top": [{"code": k, "share": counts[k] / total} for k in top if counts[k]]}
    if bundle.head:
        quality = bundle.head.get("on_threshold_part", {})
        info["supervised_head"] = {"threshold": bundle.head["threshold"], "features": bundle.head.get("features", "codes"),
                                   "f1": quality.get("f1"), "auc": quality.get("auc"),
                                   "threshold_windows": bundle.head.get("threshold_windows"),
                                   "source": bundle.head.get("source")}
    if bundle.onnx:
        info["onnx"] = {"file": bundle.onnx["file"], "opset": bundle.onnx.get("opset"),
                        "max_abs_diff": bundle.onnx.get("max_abs_diff", {}),
                        "worst_abs_diff": max(bundle.onnx.get("max_abs_diff", {}).values(), default=float("nan")),
                        "stale": bundle.onnx_is_stale}
    return info
