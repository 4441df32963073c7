"""`jepawatch report`: the HTML's figures and their data, the PNG files, alert runs, and bad input."""

from __future__ import annotations

import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from jepawatch.cli.app import app
from jepawatch.evaluation.events import segments
from jepawatch.report.alerts import alert_runs

from conftest import make_labelled_frame, train_tiny

runner = CliRunner()
WINDOW = 20  # TINY_MTS
FIGURE_IDS = {"risk-timeline", "regime-strip", "code-histogram", "training-curves"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    frame = make_labelled_frame(rows=1600, window=WINDOW, seed=3)
    frame.iloc[:1000].drop(columns="label").to_csv(root / "train.csv", index=False)
    frame.iloc[1000:].to_csv(root / "live.csv", index=False)
    frame.iloc[1000:].drop(columns="label").to_csv(root / "unlabelled.csv", index=False)
    return root, train_tiny(root, epochs=2)


def scored(bundle: Path, data: Path, *extra: str) -> list[dict]:
    result = runner.invoke(app, ["score", str(data), "--model", str(bundle), *extra])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


class Page(HTMLParser):
    """The figures (id -> their SVG's elements as (tag, attrs, id of the enclosing <g>)) and table rows."""

    def __init__(self):
        super().__init__()
        self.figures: dict[str, list[tuple[str, dict, str | None]]] = {}
        self.figure: str | None = None
        self.groups: list[str | None] = []
        self.alert_rows = 0
        self.in_alert_table = False
        self.headers: list[str] = []
        self.in_th = False
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if tag == "figure":
            self.figure = attrs["id"]
            self.figures[self.figure] = []
        elif self.figure is not None:
            if tag == "g":
                self.groups.append(attrs.get("id") or (self.groups[-1] if self.groups else None))
            self.figures[self.figure].append((tag, attrs, self.groups[-1] if self.groups else None))
        if tag == "table" and attrs.get("id") == "alert-table":
            self.in_alert_table = True
        if self.in_alert_table and tag == "tr":
            self.alert_rows += 1
        self.in_th = tag == "th"

    def handle_endtag(self, tag):
        if tag == "figure":
            self.figure = None
        elif tag == "g" and self.figure is not None and self.groups:
            self.groups.pop()
        elif tag == "table":
            self.in_alert_table = False

    def handle_data(self, data):
        if self.in_th and self.in_alert_table:
            self.headers.append(data)
            self.in_th = False

    def elements(self, figure: str, group: str) -> list[tuple[str, dict]]:
        """The drawing elements inside groups whose id is `group` or starts with `group-`."""
        return [(tag, attrs) for tag, attrs, g in self.figures[figure]
                if g is not None and (g == group or g.startswith(group + "-")) and tag != "g"]


def read_page(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def vertices(d: str) -> int:
    """The points of an SVG path made of M/L commands."""
    return len(re.findall(r"[ML]\s*-?[\d.]+\s+-?[\d.]+", d))


def runs_of(alerts: list[bool]) -> int:
    return sum(1 for i, a in enumerate(alerts) if a and (i == 0 or not alerts[i - 1]))


def test_report_has_every_figure_with_one_point_per_window_and_the_pngs(setup, tmp_path):
    root, bundle = setup
    rows = scored(bundle, root / "live.csv", "--alert-at", "0.9")
    assert rows and any(r["alert"] for r in rows)
    out, pngs = tmp_path / "r.html", tmp_path / "png"
    result = runner.invoke(app, ["report", str(root / "live.csv"), "--model", str(bundle), "--out", str(out),
                                 "--png", str(pngs), "--alert-at", "0.9"])
    assert result.exit_code == 0, result.output
    assert str(out) in result.stdout
    page = read_page(out)
    assert set(page.figures) == FIGURE_IDS
    # the risk line has one vertex per scored window; one alert mark per alerted window
    (_, line), = [(t, a) for t, a in page.elements("risk-timeline", "risk-line") if t == "path"]
    assert vertices(line["d"]) == len(rows)
    marks = [t for t, _ in page.elements("risk-timeline", "alert-marks") if t == "use"]
    assert len(marks) == sum(r["alert"] for r in rows)
    # labelled anomalies shaded in the risk panel and each of the channels beneath it
    labels = make_labelled_frame(rows=1600, window=WINDOW, seed=3)["label"].to_numpy()[1000:]
    spans = [t for t, _ in page.elements("risk-timeline", "label-span") if t == "path"]
    channels = {g for _, _, g in page.figures["risk-timeline"] if g and g.startswith("channel-")}
    assert len(channels) == 3 and len(spans) == len(segments(labels)) * (1 + len(channels))
    for strip in ("regime-patch", "regime-coarse", "regime-labels"):
        assert page.elements("regime-strip", strip), strip
    assert page.elements("code-histogram", "code-bars-normal") and page.elements("code-histogram", "code-bars-anomalous")
    assert page.elements("training-curves", "training-train_total")
    assert page.alert_rows - 1 == runs_of([r["alert"] for r in rows])  # one row per run, and the heading
    assert "lead time" in page.headers and "outcome" in page.headers
    # self-contained: nothing to fetch, nothing to run
    text = out.read_text()
    assert "<script" not in text and "<link" not in text and not re.search(r"""(src|href)=["']https?:""", text)
    assert "percentile" in text  # the risk says what it is
    written = sorted(p.name for p in pngs.iterdir())
    assert written == ["codes.png", "regimes.png", "risk.png", "training.png"]
    from matplotlib.image import imread

    for name in written:
        image = imread(pngs / name)
        assert image.shape[0] > 200 and image.shape[1] > 1000, (name, image.shape)
        assert (pngs / name).stat().st_size > 10_000
        assert image[..., :3].std() > 0.05, name  # drawn, not blank


def test_without_labels_the_codes_figure_shows_their_use(setup, tmp_path):
    root, bundle = setup
    out = tmp_path / "u.html"
    result = runner.invoke(app, ["report", str(root / "unlabelled.csv"), "--model", str(bundle), "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = read_page(out)
    assert set(page.figures) == FIGURE_IDS
    assert page.elements("code-histogram", "code-bars-scored") and page.elements("code-histogram", "code-bars-training")
    assert not page.elements("code-histogram", "code-bars-anomalous")
    assert not page.elements("risk-timeline", "label-span") and not page.elements("regime-strip", "regime-labels")
    assert "outcome" not in page.headers


def test_bad_input_is_one_line_and_keeps_the_previous_report(setup, tmp_path, monkeypatch):
    root, bundle = setup
    out = tmp_path / "keep.html"
    out.write_text("previous report")
    (tmp_path / "file").write_text("x")
    (tmp_path / "short.csv").write_text((root / "live.csv").read_text().splitlines()[0] + "\n")
    cases = [
        (["--out", str(tmp_path / "r.txt")], "ending in .html"),
        (["--out", str(out), "--png", str(tmp_path / "file")], "is a file"),
        (["--out", str(out), "--label-col", "nope"], "nope"),
    ]
    for extra, fragment in cases:
        result = runner.invoke(app, ["report", str(root / "live.csv"), "--model", str(bundle), *extra])
        assert result.exit_code == 1, result.output
        assert result.output.startswith("error:") and fragment in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
    result = runner.invoke(app, ["report", str(tmp_path / "short.csv"), "--model", str(bundle), "--out", str(out)])
    assert result.exit_code == 1 and result.output.startswith("error:"), result.output
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # the report extra is not installed
    result = runner.invoke(app, ["report", str(root / "live.csv"), "--model", str(bundle), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert 'pip install "jepawatch[report]"' in result.output and len(result.output.strip().splitlines()) == 1
    assert out.read_text() == "previous report"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def window(i: int, alert: bool, risk: float = 0.5) -> dict:
    return {"window_start": i * 10, "window_end": i * 10 + 9, "alert": alert, "next_window_risk": risk}


def test_alert_runs_say_what_followed_them():
    labels = np.zeros(200, dtype=np.int64)
    labels[55:75] = 1  # onset in window 5, on into window 7
    labels[150:160] = 1  # onset in window 15
    labels[175:182] = 1  # within window 17
    alerts = {3, 4, 6, 9, 11, 14, 15, 16, 18}
    rows = [window(i, i in alerts, 0.995 if i == 4 else 0.99) for i in range(1, 20)]
    runs = alert_runs(rows, labels, 10)
    got = [(rows[r.first]["window_start"], rows[r.last]["window_start"], r.outcome, r.lead_rows) for r in runs]
    assert got == [
        (30, 40, "warned", 55 - 40),  # alerts on windows 3 and 4 (normal) announce the onset at row 55
        (60, 60, "during anomaly", None),
        (90, 90, "false alarm", None),  # raised at row 99, 51 rows before the onset at 150: more than 5 windows
        (110, 110, "early alert", None),  # raised at row 119, within 5 windows of it, but the run stops short
        (140, 160, "warned", 150 - 150),  # the alert on window 14 is about window 15, where it begins
        (180, 180, "during anomaly", None),  # window 18 overlaps the anomaly (19 is normal): not a false alarm
    ]
    assert rows[runs[0].peak]["next_window_risk"] == 0.995
    assert [r.outcome for r in alert_runs(rows, None, 10)] == [""] * 6
