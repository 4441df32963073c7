"""How the CLI shows results: the tables and lines of `info`, `score`, `evaluate` and `adapters`."""

from __future__ import annotations

import math

from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from jepawatch.cli import output
from jepawatch.kinds import kind_of


def show_info(info: dict) -> None:
    """Render what `app.info.bundle_info` computed: the bundle's panel, configuration, training curve
    and code usage."""
    console = output.stdout
    config = info["configuration"]
    console.print(Panel(_info_panel(info), title=f"jepawatch bundle [bold]{info['name']}[/]"))

    cfg = Table(title="configuration", show_header=True)
    cfg.add_column("setting")
    cfg.add_column("value")
    for section in ("model", "train"):
        for key, value in config[section].items():
            cfg.add_row(f"{section}.{key}", str(value))
    console.print(cfg)

    curve = Table(title="training curve")
    for col in ("epoch", "train loss", "val loss", "code perplexity", "codes used", "tr cov z", "note"):
        curve.add_column(col, justify="right" if col != "note" else "left")
    for rec in info["epochs"]:
        notes = ("selected" if rec["epoch"] == info["selected_epoch"] else "", "[yellow]collapse[/]" if rec.get("warning") else "")
        curve.add_row(str(rec["epoch"]), _fmt(rec.get("train_total")), _fmt(rec.get("val_loss")),
                      _fmt(rec.get("code_perplexity")), _fmt(rec.get("codes_used")), _fmt(rec.get("z_cov_trace")),
                      " ".join(note for note in notes if note))
    console.print(curve)
    warnings = [rec for rec in info["epochs"] if rec.get("warning")]
    if warnings:
        console.print(f"[yellow]warning:[/] {warnings[-1]['warning']} (epoch {warnings[-1]['epoch']})", highlight=False)

    if info["code_usage"]:
        usage = Table(title="code usage on the training windows")
        for col in ("view", "codes used", "perplexity", "top codes (share)"):
            usage.add_column(col)
        for view, used in info["code_usage"].items():
            usage.add_row(view, str(used["used"]), f"{used['perplexity']:.1f}",
                          ", ".join(f"#{t['code']} ({t['share']:.0%})" for t in used["top"]))
        console.print(usage)


def _info_panel(info: dict) -> Table:
    data = info["data"]
    head = Table.grid(padding=(0, 2))
    head.add_row("bundle", info["bundle"])
    head.add_row("model", info["model_kind"])
    head.add_row("created", f"{info['created']} (jepawatch {info['jepawatch_version']})")
    parent = info["parent"]
    if parent:
        head.add_row("adapted from", f"{parent['name']} ({parent['path']}; weights SHA-256 {parent['weights_sha256'][:12]}...)")
        head.add_row("adapted on", escape(f"{data.get('source')}: {data.get('rows')} rows"))
    else:
        head.add_row("trained on", escape(f"{data.get('source')}: {data.get('rows')} rows, "
                                          f"{data.get('train_pairs')} train / {data.get('val_pairs')} validation pairs"))
        if len(data.get("sources", [])) > 1:
            head.add_row("sources", _short([f"{s['source']} ({len(s['preprocess']['channels'])} channels)"
                                            for s in data["sources"]]) + " (scores the first's channels; others: --adapt)")
    if data.get("adapter"):
        head.add_row("read by", escape(f"{data['adapter']} adapter ({data.get('part')}); data fingerprint {data.get('fingerprint')}"))
    kept, dropped = info["channels_kept"], info["channels_dropped"]
    head.add_row("channels", f"{len(kept)} kept of {len(info['channels'])}: {_short(kept)}")
    if dropped:
        head.add_row("constant, dropped", _short(dropped))
    if data.get("timestamp_column"):
        head.add_row("timestamp column", escape(str(data["timestamp_column"])))  # config.json is untrusted
    head.add_row("selected epoch", f"{info['selected_epoch']} of {len(info['epochs'])}"
                 + (" (stopped early)" if info["stopped_early"] else ""))
    _scoring_rows(head, info)
    return head


def _scoring_rows(head: Table, info: dict) -> None:
    """The panel's rows on what scoring reads: the label-free risk, the codes, the head, the export."""
    risk = info["label_free_risk"]
    if risk:
        rough = (f"; [yellow]only {risk['windows']} windows (fewer than {risk['rough_below']}): the alert level is rough[/]"
                 if risk["rough"] else "")
        head.add_row("label-free risk", f"{' + '.join(risk['components'])}; calibrated on {risk['windows']} {risk['part']} "
                     f"windows; alert at {risk['alert_at']}{rough}")
    refits = info.get("refits")
    if refits and refits["count"]:
        last = refits["last"]
        moved = ", ".join(f"{c['channel']} {c['level']:+.2f} sd" for c in last["moved"]["channels"][:3]) or "nothing"
        outcome = "applied" if last["applied"] else f"[yellow]refused[/] ({escape(str(last['reason']))})"
        head.add_row("refits", f"{refits['count']} ({refits['applied']} applied); last {last['at']} on "
                     f"{escape(last['source'])}, {outcome}; levels moved {escape(moved)}"
                     + ("; training's calibration kept (`refit --reset`)" if refits["trained_calibration_kept"] else ""))
    codes = info["codes"]
    if codes:
        head.add_row("codes", f"{codes['dominant']} of {codes['size']} codes dominant on training windows, perplexity "
                     f"{codes['perplexity']:.1f}" + (f" [yellow](below K/8 = {codes['size'] / 8:g}: collapsed)[/]"
                                                      if codes["collapsed"] else ""))
    supervised = info["supervised_head"]
    if supervised:
        f1 = supervised["f1"] if supervised["f1"] is not None else float("nan")
        head.add_row("supervised head", f"threshold {supervised['threshold']:.3f} (F1 {f1:.3f} on "
                     f"{supervised['threshold_windows']} windows of {supervised['source']}); `score` uses it")
    onnx = info["onnx"]
    if onnx:
        head.add_row("ONNX export", f"{onnx['file']} (opset {onnx['opset']}, max |onnx - torch| {onnx['worst_abs_diff']:.1e})"
                     + ("; stale: the head was calibrated since" if onnx["stale"] else "; `score` and `watch` use it"))


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _short(names: list[str], limit: int = 12) -> str:
    return ", ".join(names[:limit]) + (f", … (+{len(names) - limit})" if len(names) > limit else "")


def show_scores(rows: list[dict], alert_at: float, risk_source: str) -> None:
    """Scored windows as `output.scored_rows` chooses: a table on a terminal, JSON lines otherwise."""
    from jepawatch.live.display import score_table

    output.scored_rows(rows, lambda shown: score_table(shown, alert_at, risk_source, output.stdout.width))


def show_evaluation(result: dict) -> None:
    if result["protocol_unavailable"]:
        output.stdout.print(f"[bold]{result['model']}[/] on {result['data']}: no supervised protocol "
                            f"({result['protocol_unavailable']})", highlight=False)
    else:
        _print_protocol(result)
    if "early_warning" in result:
        _print_early_warning(result["early_warning"])
    if "feedback" in result:
        output.stdout.print(feedback_line(result["feedback"]), highlight=False, soft_wrap=True, markup=False)


def feedback_line(fb: dict) -> str:
    """One line of `evaluate --feedback`: per verdict kind, its verdicts, the windows they cover, how many alert."""
    parts = []
    for kind, name in (("false_alarm", "false-alarm"), ("incident", "incident")):
        k = fb[kind]
        alerted = "" if k["alerted"] is None else f", {k['alerted']} of them alerting"
        parts.append(f"{k['verdicts']} {name} verdict(s) on {k['windows']} window(s){alerted}")
    return f"feedback ({fb['file']}, {fb['windows']} evaluated windows): " + "; ".join(parts)


def _print_early_warning(ew: dict) -> None:
    table = Table(title="label-free next-window AUC (%): the risk against simple detectors fitted on the training data")
    for column in ("score", "whole data: next", "normal context", "last 20%: next", "normal context"):
        table.add_column(column, justify="left" if column == "score" else "right")
    whole, test = ew["scores"]["whole"], ew["scores"]["test"]
    names = ["label_free_risk", *ew["baselines"], *ew["ablation"]]
    for name in names:
        label = "label-free risk (" + " + ".join(ew["risk_components"]) + ")" if name == "label_free_risk" else name
        table.add_row(label, _pct(whole[name]["next"]), _pct(whole[name]["normal_context"]),
                      _pct(test[name]["next"]), _pct(test[name]["normal_context"]))
        if name == "label_free_risk" or name == ew["baselines"][-1]:
            table.add_section()
    output.stdout.print(table)
    for part, best in ew["best_baseline"].items():
        text = "; ".join(f"{measure.replace('_', ' ')}: best baseline {b['name']} {_pct(b['auc'])}, risk "
                         f"{'+' if b['margin'] >= 0 else ''}{100 * b['margin']:.1f} points" for measure, b in best.items())
        output.stdout.print(f"{'whole data' if part == 'whole' else 'last 20%'}: {text}", highlight=False)
    e = ew["events"]
    lead = f"{e['mean_lead_steps']:.0f} steps" if e["warned"] else "n/a"
    per_day = f", {_rate(e['false_alarms_per_day'])} per day" if math.isfinite(e.get("false_alarms_per_day", math.nan)) else ""
    output.stdout.print(
        f"alerts at risk >= {e['alert_at']} on the whole data: detected {e['detected']} of {e['anomalies']} anomalies, "
        f"warned of {e['warned']} before they began (mean lead {lead}), alerted while under way on {e['alerted_during']}; "
        f"{e['alerts']} alerts, {e['false_alarms']} of them false alarms ({_rate(e['false_alarms_per_1000'])} per 1,000 "
        f"normal windows{per_day}; {e['false_alarms_strict']} counting the early alerts of the 4 windows before an "
        f"incident); NAB-style score {_rate(e['nab'])}", highlight=False)
    if ew.get("at_alert_rate"):
        at = ew["at_alert_rate"]
        best = max(ew["baselines"], key=lambda b: (at[b]["detected"], at[b]["warned"]))
        output.stdout.print(
            f"at the same false-alarm rate (thresholds on the scored normal windows, a comparison): best baseline "
            f"{best} detected {at[best]['detected']}, warned of {at[best]['warned']}", highlight=False)
    if ew.get("budgets"):
        _print_budgets(ew["budgets"])


def _print_budgets(budgets: dict) -> None:
    """Each score's incidents detected / warned at the same false-alarm budgets (whole data)."""
    shares = [b["budget"] for b in next(iter(budgets.values()))]
    table = Table(title="incidents detected / warned before onset, at the same false-alarm budget (threshold on the "
                        "scored normal windows: a comparison, not the product's alert level)")
    table.add_column("score")
    for share in shares:
        table.add_column(f"{100 * share:g}% of normal windows", justify="right")
    for name, rows in budgets.items():
        table.add_row("label-free risk" if name == "label_free_risk" else name,
                      *(f"{r['detected']} / {r['warned']} of {r['anomalies']}" for r in rows))
    output.stdout.print(table)


def _rate(value) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.1f}"


def _print_protocol(result: dict) -> None:
    pairs = result["pairs"]
    output.stdout.print(
        f"[bold]{result['model']}[/] on {result['data']}: windows of {result['window']} steps; pairs (W_t, y_t+1) "
        f"train {pairs['train']['windows']} ({pairs['train']['positives']}+), val {pairs['val']['windows']} "
        f"({pairs['val']['positives']}+), test {pairs['test']['windows']} ({pairs['test']['positives']}+); "
        f"{len(result['seeds'])} seeds", highlight=False)
    table = Table(title="next-window prediction, test 20% (%, mean ± std over seeds)")
    head_name = f"{kind_of(result['model_kind']).title} head ({result['features']})"
    for column in ("", head_name, "raw-stats head", "label-free", "always +"):
        table.add_column(column, justify="right" if column else "left")
    jepa, raw = result["model_head"], result["raw_stats_head"]
    rows = [
        ("F1 (paper)", "f1", _pct(result["always_positive_f1"]), ""),
        ("precision", "precision", _pct(result["base_rate"]), ""),
        ("recall", "recall", "100.0", ""),
        ("AUC (paper)", "auc", "50.0", _pct(result["label_free_auc"])),
        ("AUPRC", "auprc", _pct(result["base_rate"]), ""),
        ("AUC, y_t = 0", "auc_normal_context", "", _pct(result["label_free_auc_normal_context"])),
        ("AUC, y_t = 1", "auc_continuation", "", ""),
    ]
    for label, key, always, label_free in rows:
        table.add_row(label, _pm(jepa[key]), _pm(raw[key]), label_free, always)
    table.add_row("AUC 95% (test windows resampled)", _interval(jepa), _interval(raw), "", "")
    output.stdout.print(table)
    s = result["model_head"]
    output.stdout.print(
        f"base rate {_pct(result['base_rate'])}% of test windows are followed by an anomalous window; "
        f"{_pct(result['continuation_share'])}% of those follow a window that is itself anomalous (continuation). "
        f"Alerts ({head_name}) warned of {s['warned']['mean']:.1f} of {s['segments']['mean']:.0f} anomalous segments starting "
        f"in the test part, {s['mean_lead_steps']['mean']:.0f} steps ahead on average.", highlight=False)


def _pm(stat: dict) -> str:
    if not math.isfinite(stat["mean"]):
        return "n/a"
    return f"{100 * stat['mean']:.1f} ± {100 * stat['std']:.1f}"


def _interval(summary: dict) -> str:
    low, high = summary["auc_low95"]["mean"], summary["auc_high95"]["mean"]
    return f"{100 * low:.1f} – {100 * high:.1f}" if math.isfinite(low) else "n/a"


def _pct(value: float) -> str:
    return f"{100 * value:.1f}" if math.isfinite(value) else "n/a"
