"""The report's figures (matplotlib, imported only here and only when a report is made).

Each function takes the gathered `ReportData` and returns a matplotlib `Figure`. The figures of
the data share one time axis, width and margins, so that they line up one above the other in the
HTML. Artists that tests and readers look for carry an SVG id (`gid`): `risk-line`,
`alert-marks`, `alert-level`, `label-span-<panel>-<n>`, `channel-<k>`, `regime-patch`,
`regime-coarse`, `regime-labels`, `code-bars-<series>-<i>`, `training-<key>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from jepawatch.errors import MissingExtra
from jepawatch.scoring.risk_text import alert_text, one_in_text, risk_name

if TYPE_CHECKING:
    from jepawatch.report.gather import ReportData

WIDTH_INCHES = 12.0
MARGINS = {"left": 0.09, "right": 0.98}  # the same for every time-axis figure, so they line up
RISK_FLOOR, RISK_CEILING = 1e-3, 1 - 1e-4  # the logit axis cannot show 0 or 1
MAX_LINE_POINTS = 4000  # a channel longer than this is drawn as its min/max envelope
LABEL_COLOUR, ALERT_COLOUR, RISK_COLOUR = "#f4a261", "#d62828", "#1d3557"
LEGEND_CODES = 10
STRIP_IDS = {"patch codes": "regime-patch", "coarse regime": "regime-coarse", "labels": "regime-labels"}
RISK_TICKS = (0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999)


def require_matplotlib():
    """The matplotlib module, or a one-line error naming the extra that installs it."""
    try:
        import matplotlib
    except ImportError:
        raise MissingExtra('the report needs matplotlib, which is not installed: pip install "jepawatch[report]"') from None
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text in the SVG: smaller, and searchable
    return matplotlib


def _figure(height: float, rows: int = 1, ratios=None, sharex: bool = True):
    require_matplotlib()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_INCHES, height), dpi=100)
    axes = fig.subplots(rows, 1, sharex=sharex, squeeze=False, gridspec_kw={"height_ratios": ratios} if ratios else None)
    fig.subplots_adjust(hspace=0.08, top=0.93, bottom=0.12 if rows == 1 else 0.08, **MARGINS)
    return fig, [ax for (ax,) in axes]


def x_of(data: "ReportData") -> np.ndarray:
    """(T,) float x of every row: matplotlib date numbers, or the row index."""
    if data.has_dates:
        from matplotlib.dates import date2num

        return date2num(data.times.astype("datetime64[us]"))
    return data.times.astype(np.float64)


def _time_axis(ax, data: "ReportData") -> None:
    if data.has_dates:
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    else:
        ax.set_xlabel("row")


def _shade_labels(ax, data: "ReportData", x: np.ndarray, panel: int, legend: bool = False) -> None:
    from jepawatch.evaluation.events import segments

    if data.labels is None:
        return
    step = _step(x)
    for n, (first, last) in enumerate(segments(data.labels)):
        span = ax.axvspan(x[first], x[last] + step, color=LABEL_COLOUR, alpha=0.35, lw=0,
                          label="labelled anomaly" if legend and n == 0 else None)
        span.set_gid(f"label-span-{panel}-{n}")


def _step(x: np.ndarray) -> float:
    return float(np.median(np.diff(x))) if len(x) > 1 else 1.0


def risk_figure(data: "ReportData"):
    """The risk over time with the alert level, alerts marked, labelled anomalies shaded, and the
    chosen channels beneath it on the same time axis. The label-free risk is drawn as how far out
    each window is, "1 in N normal windows" on a log axis (its percentile would pin every window far
    out at the top); the supervised probability on a logit axis."""
    matplotlib = require_matplotlib()

    n = len(data.channels)
    with matplotlib.rc_context({"path.simplify": False}):  # every window a vertex: the SVG holds the data
        fig, axes = _figure(3.2 + 1.3 * n, 1 + n, [2.4] + [1.0] * n)
    x = x_of(data)
    ends = np.asarray([r["window_end"] for r in data.rows])
    alerts = np.asarray([bool(r["alert"]) for r in data.rows])
    ax = axes[0]
    far_out = data.risk_source == "label-free" and all(r.get("one_in") is not None for r in data.rows)
    values, level_value = (_one_in_axis if far_out else _risk_axis)(ax, data)
    line, = ax.plot(x[ends], values, color=RISK_COLOUR, lw=1.2, label="next-window risk (at each window's end)")
    line.set_gid("risk-line")
    level = ax.axhline(level_value, color=ALERT_COLOUR, ls="--", lw=1, label=f"alert level {alert_text(data.alert_at)}")
    level.set_gid("alert-level")
    marks = ax.scatter(x[ends][alerts], values[alerts], color=ALERT_COLOUR, s=28, zorder=3,
                       label=f"alert ({int(alerts.sum())})")
    marks.set_gid("alert-marks")
    _shade_labels(ax, data, x, 0, legend=True)
    ax.legend(loc="upper left" if far_out else "lower left", fontsize=8, ncol=4, framealpha=0.85)
    ax.set_title(f"Next-window risk of {data.model} on {Path(data.source).name}", loc="left", fontsize=11)
    for k, name in enumerate(data.channels):
        cax = axes[1 + k]
        cx, cy = envelope(x, data.values[:, k], MAX_LINE_POINTS)
        trace, = cax.plot(cx, cy, lw=0.8, color="#457b9d")
        trace.set_gid(f"channel-{k}")
        for end in x[ends][alerts]:
            cax.axvline(end, color=ALERT_COLOUR, lw=0.6, alpha=0.5)
        _shade_labels(cax, data, x, 1 + k)
        cax.text(0.003, 0.92, name, transform=cax.transAxes, fontsize=8, va="top",
                 bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1})
        cax.tick_params(labelsize=7)
    axes[0].set_xlim(x[0], x[-1] + _step(x))
    _time_axis(axes[-1], data)
    return fig


def _risk_axis(ax, data: "ReportData") -> tuple[np.ndarray, float]:
    """A logit axis of the risk: its values (clipped to what the axis shows) and the alert level."""
    from matplotlib.ticker import NullFormatter

    risk = np.clip([r["next_window_risk"] for r in data.rows], RISK_FLOOR, RISK_CEILING)
    ax.set_yscale("logit")
    low = max(RISK_FLOOR, min(0.05, float(risk.min())))
    ax.set_ylim(low, RISK_CEILING)
    ticks = [t for t in RISK_TICKS if low <= t <= RISK_CEILING]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel(f"risk ({risk_name(data.risk_source)})")
    return risk, data.alert_at


def _one_in_axis(ax, data: "ReportData") -> tuple[np.ndarray, float]:
    """A log axis of "1 in N normal windows" (1 / (1 - label-free risk)): its values and the alert level's N."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    one_in = np.asarray([float(r["one_in"]) for r in data.rows])
    level = 1.0 / max(1.0 - data.alert_at, 1e-300)
    ax.set_yscale("log")
    ax.set_ylim(1.0, max(10.0 * level, 3.0 * float(one_in.max())))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: one_in_text(v)))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("as unusual as 1 in N\nnormal windows")
    return one_in, level


def envelope(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most about `max_points` points: (x, y) itself, or each bucket's min and max (spikes survive)."""
    if len(x) <= max_points:
        return x, y
    buckets = max_points // 2
    edges = np.linspace(0, len(x), buckets + 1).astype(int)
    xs, ys = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        part = y[lo:hi]
        if np.isnan(part).all():
            xs += [x[lo], x[hi - 1]]
            ys += [np.nan, np.nan]
            continue
        low, high = int(np.nanargmin(part)), int(np.nanargmax(part))
        for k in sorted((low, high)):
            xs.append(x[lo + k])
            ys.append(part[k])
    return np.asarray(xs), np.asarray(ys)


def code_colours(k: int):
    """K distinguishable colours: tab20, tab20b and tab20c, repeated beyond 60 codes."""
    require_matplotlib()
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    palette = [c for name in ("tab20", "tab20b", "tab20c") for c in colormaps[name].colors]
    return ListedColormap([palette[i % len(palette)] for i in range(max(1, k))])


def _runs(per_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(edges, values) of the runs of equal values in `per_row` (T,): edges (R+1,) row indices."""
    change = np.flatnonzero(np.diff(per_row) != 0) + 1
    starts = np.concatenate([[0], change])
    return np.concatenate([starts, [len(per_row)]]), per_row[starts]


def regime_figure(data: "ReportData"):
    """The dominant code of each patch over time and the coarse regime of each window, coloured by
    code (labelled anomalies as a third strip), on the risk figure's time axis."""
    strips = ["patch codes", "coarse regime"] + (["labels"] if data.labels is not None else [])
    fig, axes = _figure(1.0 + 0.55 * len(strips), len(strips))
    x = x_of(data)
    xs = np.concatenate([x, [x[-1] + _step(x)]])  # (T+1,) the edges of every row
    T = len(x)
    patch, coarse = np.full(T, -1), np.full(T, -1)
    codes = data.patch_codes()
    for row, row_codes in zip(data.rows, codes):
        start = row["window_start"]
        coarse[start: row["window_end"] + 1] = row["coarse_regime"]
        for p, code in enumerate(row_codes):
            patch[start + p * data.patch_len: start + (p + 1) * data.patch_len] = code
    cmap = code_colours(data.codebook_size)
    for ax, name in zip(axes, strips):
        if name == "labels":
            per_row, colours, vmax = data.labels, _two_colours(), 1
        else:
            per_row, colours, vmax = (patch if name == "patch codes" else coarse), cmap, data.codebook_size - 1
        edges, values = _runs(per_row)
        masked = np.ma.masked_less(values.astype(float), 0)[None, :]
        mesh = ax.pcolormesh(xs[edges], [0, 1], masked, cmap=colours, vmin=-0.5, vmax=vmax + 0.5, shading="flat")
        mesh.set_gid(STRIP_IDS[name])
        ax.set_yticks([0.5], [name], fontsize=8)
        ax.tick_params(axis="y", length=0)
    counts = np.bincount(codes.ravel(), minlength=data.codebook_size)
    common = np.argsort(-counts)[:LEGEND_CODES]
    from matplotlib.patches import Patch

    handles = [Patch(color=cmap(int(c)), label=f"{int(c)} ({counts[c] / counts.sum():.0%})") for c in common if counts[c]]
    axes[0].legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.02), ncol=len(handles), fontsize=7,
                   frameon=False, title="most frequent patch codes (share of patches)", title_fontsize=8,
                   alignment="left")
    axes[0].set_xlim(x[0], xs[-1])
    _time_axis(axes[-1], data)
    fig.subplots_adjust(top=0.68)
    return fig


def _two_colours():
    from matplotlib.colors import ListedColormap

    return ListedColormap(["#e9ecef", LABEL_COLOUR])


def code_histogram_figure(data: "ReportData"):
    """With labels: the share of each dominant patch code in normal and in anomalous windows,
    codes sorted by the difference (the paper's Figure 4). Without: the codes' use on this data
    beside their use on the training windows."""
    fig, (ax,) = _figure(3.4, 1, sharex=False)
    codes = data.patch_codes()  # (N, P)
    k = data.codebook_size
    labels = data.window_labels()
    if labels is not None and labels.any() and (labels == 0).any():
        normal = _shares(codes[labels == 0], k)
        anomalous = _shares(codes[labels == 1], k)
        used = np.flatnonzero(normal + anomalous > 0)
        order = used[np.argsort(-(anomalous[used] - normal[used]), kind="stable")]
        series = [(normal[order], "normal windows", "#457b9d", "code-bars-normal"),
                  (anomalous[order], "anomalous windows", ALERT_COLOUR, "code-bars-anomalous")]
        title = (f"Dominant patch codes in normal ({int((labels == 0).sum())}) and anomalous ({int(labels.sum())}) "
                 "windows, sorted by the difference")
    else:
        scored = _shares(codes, k)
        training = data.training_codes if data.training_codes is not None and len(data.training_codes) == k else None
        used = np.flatnonzero(scored + (training if training is not None else 0) > 0)
        order = used[np.argsort(-scored[used], kind="stable")]
        series = [(scored[order], "this data", "#457b9d", "code-bars-scored")]
        if training is not None:
            series.append((training[order], "training windows", "#a8dadc", "code-bars-training"))
        title = "Code usage: dominant patch codes on this data" + (" and in training" if training is not None else "") \
            + (" (no labels, so no normal/anomalous split)" if labels is None else "")
    width = 0.8 / len(series)
    positions = np.arange(len(order))
    for n, (values, label, colour, gid) in enumerate(series):
        bars = ax.bar(positions + (n - (len(series) - 1) / 2) * width, values, width, label=label, color=colour)
        for i, bar in enumerate(bars):
            bar.set_gid(f"{gid}-{i}")
    ax.set_xticks(positions, [str(int(c)) for c in order], fontsize=7 if len(order) <= 64 else 5)
    ax.set_xlabel("code")
    ax.set_ylabel("share of patches")
    ax.set_xlim(-0.6, len(order) - 0.4)
    ax.legend(fontsize=8)
    ax.set_title(title, loc="left", fontsize=11)
    fig.subplots_adjust(bottom=0.16)
    return fig


def _shares(codes: np.ndarray, k: int) -> np.ndarray:
    counts = np.bincount(codes.ravel(), minlength=k)[:k].astype(np.float64)
    return counts / counts.sum() if counts.sum() else counts


TRAINING_PANELS = (
    ("loss (negative is normal: the batch-entropy term is subtracted)", (("train_total", "training"), ("val_loss", "validation"))),
    ("loss terms (training)", (("train_mse_fine", "fine prediction MSE"), ("train_kl_fine", "fine KL"),
                               ("train_kl_coarse", "coarse KL"), ("train_rec", "reconstruction"),
                               ("train_smooth_l1", "smooth L1"))),
    ("codebook health (validation)", (("code_perplexity", "code perplexity"), ("codes_used", "dominant codes in use"))),
)


def training_figure(data: "ReportData"):
    """Loss, loss terms and codebook health per epoch from history.json, the kept epoch marked."""
    epochs = data.history.get("epochs", [])
    panels = [(title, [(key, name) for key, name in keys if any(key in e for e in epochs)]) for title, keys in TRAINING_PANELS]
    panels = [p for p in panels if p[1]] or [("no training history in the bundle", [])]
    fig, axes = _figure(2.0 + 1.6 * len(panels), len(panels))
    x = [e.get("epoch", i + 1) for i, e in enumerate(epochs)]
    kept = data.history.get("selected_epoch")
    for ax, (title, keys) in zip(axes, panels):
        for key, name in keys:
            curve, = ax.plot(x, [e.get(key, np.nan) for e in epochs], marker="o", ms=3, lw=1.2, label=name)
            curve.set_gid(f"training-{key}")
        if kept is not None:
            ax.axvline(kept, color="#2a9d8f", ls=":", lw=1.2, label=f"kept epoch {kept}")
        ax.set_title(title, loc="left", fontsize=9)
        ax.tick_params(labelsize=7)
        if keys:
            ax.legend(fontsize=7, loc="upper right", ncol=3)
    axes[-1].set_xlabel("epoch")
    fig.suptitle("Training", x=MARGINS["left"], ha="left", fontsize=11)
    fig.subplots_adjust(top=0.9, hspace=0.35)
    return fig
