"""The report as one self-contained HTML file: inline CSS, the figures as inline SVG, no scripts,
nothing fetched from the network. Every string that came from the user (file, model, channel
names) is escaped."""

from __future__ import annotations

import html
from datetime import datetime, timezone

import numpy as np

from jepawatch._version import __version__
from jepawatch.feedback import windows_marked
from jepawatch.report.gather import ReportData
from jepawatch.scoring.risk_text import alert_text, one_in_text, risk_meaning, shown_risk

FIGURES = (  # id, caption
    ("risk-timeline", "Next-window risk per window, with the alert level and the alerts; labelled anomalies shaded. "
                      "Beneath: the channels that drove the alerts most, on the same time axis (red lines: alerts)."),
    ("regime-strip", "Regimes: the dominant codebook code of each patch (top) and the coarse code of each window, "
                     "coloured by code; a change of colour is a change of regime."),
    ("code-histogram", "Codes in normal and anomalous windows (the paper's Figure 4), or the codes' use when the data "
                       "has no labels."),
    ("training-curves", "Training: the losses and the codebook's health per epoch (history.json)."),
)
MAX_ALERT_ROWS = 500

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1240px;color:#1d3557;
background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px}
.meta{color:#555;font-size:13px;margin:2px 0}.meaning{background:#f1faee;border-left:4px solid #457b9d;padding:6px 10px;
font-size:13px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:14px 0}.card{border:1px solid #dde;border-radius:6px;padding:8px 14px;
min-width:120px}.card b{display:block;font-size:20px}.card span{font-size:12px;color:#555}
figure{margin:10px 0 18px}figcaption{font-size:13px;color:#444;margin:2px 0 4px}figure svg{width:100%;height:auto}
table{border-collapse:collapse;font-size:13px}th,td{padding:3px 10px;border-bottom:1px solid #e5e5e5;text-align:left}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.warned{color:#2a9d8f;font-weight:600}.false{color:#b5651d}.during{color:#6c757d}footer{color:#888;font-size:12px;margin-top:30px}
"""


def render_html(data: ReportData, svgs: dict[str, str]) -> str:
    """The whole page; `svgs` maps a figure id of FIGURES to its SVG text."""
    e = html.escape
    title = f"jepawatch report: {data.model} on {data.source}"
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{e(title)}</h1>",
        f'<p class="meta">{len(data.rows):,} windows of {data.window} rows scored · {_span(data)} · '
        f"{data.risk_source} risk · jepawatch {e(__version__)}</p>",
        f'<p class="meaning">{e(risk_meaning(data.risk_source, data.alert_at))}. Each window\'s risk is about the '
        "next window.</p></header>",
        _cards(data),
    ]
    for figure_id, caption in FIGURES:
        if figure_id in svgs:
            parts.append(f'<figure id="{figure_id}"><figcaption>{e(caption)}</figcaption>{_inline(svgs[figure_id])}'
                         "</figure>")
    parts.append(_alert_table(data))
    notices = [r["notice"] for r in data.rows if r.get("notice")]
    if notices:
        parts.append(f'<section id="data-moved"><h2>The data moved</h2><p class="meta">{len(notices):,} windows '
                     f"under the notice, the last: {e(notices[-1])}. Their alerts are held (an incident far out even "
                     "against the moved windows still alerts).</p></section>")
    if data.refits:
        parts.append(_refit_table(data))
    if data.feedback_file is not None:
        parts.append(_feedback_table(data))
    parts.append(f"<footer>Made by <code>jepawatch report</code> on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. "
                 "Self-contained: no scripts, nothing loaded from the network.</footer></body></html>")
    return "\n".join(parts) + "\n"


def _span(data: ReportData) -> str:
    if data.has_dates:
        return f"{str(data.times[0])[:19].replace('T', ' ')} to {str(data.times[-1])[:19].replace('T', ' ')}"
    return f"rows 0 to {len(data.times) - 1:,}"


def _cards(data: ReportData) -> str:
    cards = [(f"{len(data.rows):,}", "windows scored"), (f"{sum(r['alert'] for r in data.rows):,}", "alerted windows"),
             (f"{len(data.alerts):,}", "alert runs")]
    if data.events is not None:
        ev = data.events
        lead = f"{ev.mean_lead_steps:.0f} rows" if ev.warned else "n/a"
        if ev.warned and data.has_dates:
            lead = _duration(ev.mean_lead_steps * _row_seconds(data))
        cards += [(f"{ev.anomalies}", "labelled anomalies"), (f"{ev.detected} of {ev.anomalies}", "detected"),
                  (f"{ev.warned} of {ev.anomalies}", "warned before they began"),
                  (lead, "mean lead time"), (f"{ev.alerted_during} of {ev.anomalies}", "alerted while under way"),
                  (f"{ev.false_alarms}", "false alarms (alerts on a normal window before a normal one, early alerts aside)")]
    return '<div class="cards" id="summary">' + "".join(
        f"<div class=\"card\"><b>{html.escape(value)}</b><span>{html.escape(what)}</span></div>" for value, what in cards) + "</div>"


def _one_in(row: dict) -> str:
    """' (1 in N)': how far out the window is, when the row says."""
    return f" (1 in {one_in_text(row['one_in'])})" if row.get("one_in") is not None else ""


def _alert_table(data: ReportData) -> str:
    e = html.escape
    head = ["#", "time (end of the first alerted window)", "windows", "peak risk (1 in N normal windows)", "outcome",
            "lead time", "top channels"]
    if data.labels is None:
        head.remove("outcome")
        head.remove("lead time")
    rows = []
    for n, run in enumerate(data.alerts[:MAX_ALERT_ROWS], start=1):
        first, peak = data.rows[run.first], data.rows[run.peak]
        cells = [f'<td class="num">{n}</td>', f"<td>{e(_when(data, first))}</td>",
                 f'<td class="num">{run.last - run.first + 1}</td>',
                 f'<td class="num">{shown_risk(peak["next_window_risk"], True, data.alert_at)}{_one_in(peak)}</td>']
        if data.labels is not None:
            css = "false" if run.outcome.startswith("false") else {"warned": "warned", "during anomaly": "during"}.get(run.outcome, "")
            cells.append(f'<td class="{css}">{e(run.outcome)}</td>')
            cells.append(f'<td class="num">{e(_lead(data, run))}</td>')
        cells.append(f"<td>{e(peak['drivers'])}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = (f"<p class=\"meta\">{len(data.alerts) - MAX_ALERT_ROWS:,} more alert runs are not listed.</p>"
            if len(data.alerts) > MAX_ALERT_ROWS else "")
    if not rows:
        body = f"<p class=\"meta\">No window reached the alert level ({alert_text(data.alert_at)}).</p>"
    else:
        body = ("<table id=\"alert-table\"><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head)
                + "</tr></thead><tbody>" + "\n".join(rows) + "</tbody></table>" + more)
    return ('<section id="alerts"><h2>Alerts</h2><p class="meta">Each run of consecutive alerted windows; its '
            "peak risk and that window's top channels. Lead time: from the end of the first alert raised on a "
            "normal window to the onset of the anomaly that followed.</p>" + body + "</section>")


def _refit_table(data: ReportData) -> str:
    """The bundle's refits (`jepawatch refit`, `--refit-every`): when, on what, how far, applied or refused."""
    e = html.escape
    head = ["when", "on", "rows", "applied", "levels moved (training sd)", "newest windows alerting", "why refused"]
    body = []
    for r in data.refits[-20:]:
        moved = ", ".join(f"{c['channel']} {c['level']:+.2f}" for c in r["moved"]["channels"][:3]) or "nothing"
        cells = [r["at"], r["source"], f"{r['rows']['first']}-{r['rows']['last']}", "yes" if r["applied"] else "no",
                 moved, f"{r['check']['alerting_after']} of {r['check']['windows']}", r.get("reason") or ""]
        body.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in cells) + "</tr>")
    return ('<section id="refits"><h2>Refits of the reference</h2><p class="meta">The newest '
            f"{min(len(data.refits), 20)} of {len(data.refits)} refits recorded in the bundle.</p>"
            '<table id="refit-table"><thead><tr>' + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(body) + "</tbody></table></section>")


def _feedback_table(data: ReportData) -> str:
    """The operators' verdicts (`jepawatch feedback`), each with the windows of this report it covers."""
    e = html.escape
    starts = np.asarray([r["window_start"] for r in data.rows])
    ends = np.asarray([r["window_end"] for r in data.rows])
    start_times, end_times = (data.times[starts], data.times[ends]) if data.has_dates else (None, None)
    alerts = np.asarray([bool(r["alert"]) for r in data.rows])
    rows = []
    for v in data.verdicts:
        marked = windows_marked([v], v.verdict, starts, ends, start_times, end_times)
        cells = [v.recorded_at.replace("T", " "), v.verdict.replace("_", " "), v.start.replace("T", " "),
                 v.end.replace("T", " "), v.series or "", v.alert or "", v.note]
        rows.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells)
                    + f'<td class="num">{int(marked.sum())}</td><td class="num">{int((marked & alerts).sum())}</td></tr>')
    head = ["recorded", "verdict", "from", "to", "series", "alert", "note", "windows here", "alerted here"]
    body = ("<table id=\"feedback-table\"><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head)
            + "</tr></thead><tbody>" + "\n".join(rows) + "</tbody></table>") if rows else \
        '<p class="meta">No verdicts recorded yet.</p>'
    return ('<section id="feedback"><h2>Operator feedback</h2><p class="meta">Verdicts from '
            f"<code>{e(data.feedback_file)}</code>: a false alarm's windows join the normal reference at the next "
            "refit, an incident's are kept out of it. Windows here: the scored windows of this report the verdict "
            "covers.</p>" + body + "</section>")


def _when(data: ReportData, row: dict) -> str:
    return (row.get("end_time") or f"row {row['window_end']}").replace("T", " ")


def _lead(data: ReportData, run) -> str:
    if run.lead_rows is None:
        return ""
    if data.has_dates:
        start = data.times[data.rows[run.warned_from]["window_end"] + 1]
        return _duration((data.times[run.onset] - start) / np.timedelta64(1, "s"))
    return f"{run.lead_rows} rows"


def _row_seconds(data: ReportData) -> float:
    steps = np.diff(data.times[: 10_000]) / np.timedelta64(1, "s")
    return float(np.median(steps)) if len(steps) else 0.0


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _inline(svg: str) -> str:
    """matplotlib's SVG document without its XML prologue, for inlining."""
    return svg[svg.index("<svg"):]
