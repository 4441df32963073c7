"""The Python API: `train`, `load` and `evaluate`, and `Monitor`, a trained bundle you call on data.

    import jepawatch

    monitor = jepawatch.train("examples/demo_train.csv", epochs=10)   # or a DataFrame
    monitor = jepawatch.load("demo")                                 # a bundle by name or path
    scores = monitor.score(frame_or_path)                            # a DataFrame, one row per window
    pretrained = jepawatch.train(["a.csv", "b.csv", "msl/"])          # several systems, one model
    new = pretrained.adapt(normal_frame)                             # another system's channels (`--adapt`)

Every function takes a path or a pandas DataFrame wherever it takes data, does what the command of
the same name does (the CLI is a thin shell over `jepawatch.app`, as this module is), and raises a
`JepawatchError` subclass with a one-line message for anything known to go wrong. Warnings about the
data (dropped columns, filled cells) are `JepawatchWarning`s.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pandas as pd

from jepawatch.adapters import AUTO
from jepawatch.alerts.pipeline import AlertSettings
from jepawatch.app.adapters import adapter_listing
from jepawatch.jobs.transfer import adapt as adapt_bundle
from jepawatch.app import calibrate as calibrate_app
from jepawatch.app import evaluate as evaluate_app
from jepawatch.app import export as export_app
from jepawatch.app import feedback as feedback_app
from jepawatch.app import info as info_app
from jepawatch.app import score as score_app
from jepawatch.app import train as train_app
from jepawatch.app import watch as watch_app
from jepawatch.app.common import DataSource, Warn, as_data, read_options, warn_python
from jepawatch.app.evaluate import EvaluationReport
from jepawatch.bundle import Bundle, load_bundle, resolve_bundle_path
from jepawatch.devices import resolve_device
from jepawatch.feedback import Verdict
from jepawatch.kinds import DEFAULT_KIND
from jepawatch.scoring.alert_rule import alert_rule
from jepawatch.scoring.scorer import Scorer
from jepawatch.scoring.settings import DEFAULT_BATCH_SIZE, TOP_CHANNELS, ScoreSettings
from jepawatch.training.loop import Reporter

DEFAULT_MODELS_DIR = "models"


class Monitor:
    """A trained model bundle, ready to score data. Make one with `jepawatch.train` or `jepawatch.load`.

    Attributes: `path` (the bundle directory), `name`, `channels` (the columns data must have),
    `window` (rows per scored window), `kind` ("mts-jepa" or "temporal-jepa"), `risk_source`
    ("label-free", or "supervised" after `calibrate`) and `alert_at` (the risk an alert starts at).
    """

    def __init__(self, path: str | Path, *, device: str | None = None) -> None:
        """Open the bundle at `path` (a directory); `device`: auto (default), cpu or cuda."""
        self.device = device
        self._bundle = load_bundle(Path(path))

    # -- what the bundle is ----------------------------------------------------------------------
    @property
    def bundle(self) -> Bundle:
        """The loaded bundle (configuration, preprocessing, weights, calibrations)."""
        return self._bundle

    @property
    def path(self) -> Path:
        """The bundle's directory."""
        return self._bundle.path

    @property
    def name(self) -> str:
        """The bundle's name (its directory's, as `--model NAME` takes it)."""
        return self._bundle.name

    @property
    def channels(self) -> list[str]:
        """The columns data must have, in training order (constant ones included: they are dropped on reading)."""
        return list(self._bundle.preprocess.channels)

    @property
    def window(self) -> int:
        """Rows per window: each scored row covers this many rows of data."""
        return int(self._bundle.run.model.window)

    @property
    def kind(self) -> str:
        """The model kind: "mts-jepa" or "temporal-jepa" (which cannot score; `evaluate` only)."""
        return self._bundle.run.model_kind

    @property
    def risk_source(self) -> str:
        """`supervised` once `calibrate` has stored a head, else `label-free`."""
        return alert_rule(self._bundle).risk_source

    @property
    def alert_at(self) -> float:
        """The risk at which a window alerts: the head's threshold, else the label-free risk's alert level."""
        return alert_rule(self._bundle).alert_at

    def info(self) -> dict:
        """What the bundle holds, as plain data: what `jepawatch info --json` prints."""
        return info_app.bundle_info(self._bundle)

    def reload(self) -> None:
        """Read the bundle again from disk (after another process calibrated or exported it)."""
        self._bundle = load_bundle(self._bundle.path)

    def __repr__(self) -> str:
        return (f"Monitor({str(self.path)!r}: {self.kind}, {len(self.channels)} channels, window {self.window}, "
                f"{self.risk_source} risk)")

    # -- the verbs -------------------------------------------------------------------------------
    def score(self, data: DataSource, *, stride: int | None = None, alert_at: float | None = None,
              top_channels: int = TOP_CHANNELS, batch_size: int = DEFAULT_BATCH_SIZE, backend: str | None = None,
              adapter: str | None = None, label: str | None = AUTO, timestamp: str | None = None,
              adapter_options: Mapping[str, object] | None = None, out: str | Path | None = None,
              state: str | Path | None = None, lock_wait: float = 10.0, warn: Warn = warn_python,
              alerts: AlertSettings | None = None, series_col: str | None = None, refit_every: int | None = None,
              refit_rows: int | None = None) -> pd.DataFrame:
        """Score `data` (a path or a DataFrame) window by window, as `jepawatch score` does.

        Returns one row per scored window (every complete window with a complete predecessor, every
        `stride` rows): `window_start`, `window_end`, `start_time`, `end_time`, `next_window_risk`,
        `alert`, `risk_source`, `label_free_risk`, `label_free_score`, `surprise_fine`,
        `surprise_coarse`, `next_code_rarity`, `regime`, `coarse_regime`, `next_regime`, `drivers`.
        `out` also writes them (.jsonl, .csv, .parquet); `state` makes runs incremental (only windows
        not scored before are returned and written). `alerts` (`jepawatch.AlertSettings`): alerts with
        hysteresis (`for_windows`, `clear_windows`), a `webhook`, a Prometheus `prom_textfile`, as
        `score --for/--clear/--webhook/--prom-textfile`; each event is also warned of in one line.

        `series_col`: the column of a long-format table that names each row's series (default: one
        named series_id, if any; "none": the data is one series). Each series is then scored on its
        own, in time order, and the frame's `series` column says which (<NA> for one series);
        `window_start`/`window_end` count rows of that series. `state` keeps a cursor per series.

        `refit_every=N` (`--refit-every`): the label-free reference refitted on the newest `refit_rows`
        rows (default 100 windows') every N windows while scoring, as `refit` does (one series only).
        """
        scorer = self._scorer(ScoreSettings(stride=stride, alert_at=alert_at, top_channels=top_channels,
                                            batch_size=batch_size, backend=backend))
        options = read_options(label, timestamp, adapter_options, series_col)
        rows = score_app.score(scorer, data, adapter=adapter, options=options,
                               out=None if out is None else Path(out), state=None if state is None else Path(state),
                               lock_wait=lock_wait, warn=warn, alerts=alerts, notify=warn,
                               refit=_schedule(refit_every, refit_rows))
        if refit_every is not None:
            self.reload()
        return score_app.rows_frame(rows)

    def watch(self, path: str | Path, *, follow: bool | None = None, speed: str = "max", state: str | Path | None = None,
              lock_wait: float = 10.0, stride: int | None = None, alert_at: float | None = None,
              top_channels: int = TOP_CHANNELS, poll: float = 0.05, stop_after_idle: float | None = None,
              backend: str | None = None, adapter: str | None = None, timestamp: str | None = None,
              adapter_options: Mapping[str, object] | None = None,
              alerts: AlertSettings | None = None, series_col: str | None = None, refit_every: int | None = None,
              refit_rows: int | None = None) -> Iterator[dict]:
        """The live stream of `jepawatch watch` as an iterator: one dict per scored window (the fields
        of `score`), as the windows complete.

        `follow=True` tails a growing CSV (tail -F: rotation, truncation and partial lines handled) and
        never ends unless `stop_after_idle` seconds pass without new rows; `follow=False` replays the
        file at `speed` ("max", rows per second "300", or a multiple of real time "60x"). Default:
        follow a CSV modified in the last 10 s. `state` resumes where a previous watch stopped.
        Leaving the loop early (`break`) stops watching. `alerts` and `refit_every` as for `score`
        (plus `metrics_port`).
        `series_col` as for `score`: each series of a long-format file is scored on its own as its
        rows arrive (in the file's order), and each row carries its `series`. A Prometheus server
        ("http://HOST:9090" with adapter_options={"query": ...}) is followed by default.
        """
        settings = ScoreSettings(stride=stride, alert_at=alert_at, top_channels=top_channels, backend=backend)
        request = watch_app.WatchRequest(as_data(path), follow, speed, None if state is None else Path(state), lock_wait,
                                         poll, stop_after_idle, None, adapter,
                                         read_options(AUTO, timestamp, adapter_options, series_col), alerts=alerts,
                                         warn=warn_python, refit=_schedule(refit_every, refit_rows))
        with watch_app.open_watch(lambda: self._scorer(settings), request) as session:
            for rows in session.windows():
                yield from rows

    def calibrate(self, labelled: DataSource, *, label: str | None = AUTO, train_fraction: float = 0.75,
                  seed: int = 0, features: str = "codes+stats", adapter: str | None = None,
                  timestamp: str | None = None, adapter_options: Mapping[str, object] | None = None) -> dict:
        """Fit the supervised next-window head on `labelled` data (0/1 column `label`; "auto" finds a
        column named label, labels, is_anomaly, anomaly or attack) and store it with its F1-optimal
        threshold in the bundle, as `jepawatch calibrate` does. From then on `score` reports the
        supervised risk. Returns the head's threshold and its quality on the threshold part."""
        result = calibrate_app.calibrate(self._scorer(), labelled, adapter=adapter,
                                         options=read_options(label, timestamp, adapter_options),
                                         train_fraction=train_fraction, seed=seed, features=features)
        self.reload()
        return result

    def export_onnx(self, out: str | Path | None = None, *, opset: int | None = None,
                    check_data: DataSource | None = None, warn: Warn = warn_python) -> Path:
        """Export the inference path to ONNX, checked against torch, as `jepawatch export --onnx` does;
        returns the .onnx file's path. Without `out` it goes into the bundle, which `score` and `watch`
        then run with ONNX Runtime."""
        result = export_app.export(self._bundle, out, opset, check_data, warn)
        if result.recorded:
            self.reload()
        return result.path

    def evaluate(self, labelled: DataSource, **options: object) -> EvaluationReport:
        """`jepawatch.evaluate(self, labelled, **options)`."""
        return evaluate(self, labelled, **options)  # type: ignore[arg-type]

    def feedback(self, state: str | Path | None, verdict: str, *, start: str | int | None = None,
                 end: str | int | None = None, alert: str | None = None, series: str | None = None, note: str = "",
                 file: str | Path | None = None) -> Verdict:
        """Record an operator's verdict, as `jepawatch feedback` does, and return it: `verdict`
        "false_alarm" (the stretch was normal: its windows join the normal reference at the next
        refit) or "incident" (they are kept out of it), on the rows or ISO date-times `start`..`end`
        (both ends count) or on the alert of `state` whose fingerprint is `alert`. `state` is the
        `score(state=...)` or `watch(state=...)` file; the verdict is appended to the JSON lines file
        beside it (STATE.feedback.jsonl), or to `file`. Nothing of the bundle changes.
        `jepawatch.verdicts(state)` reads them back."""
        made, _ = feedback_app.record(verdict, state=None if state is None else Path(state),
                                      file=None if file is None else Path(file), start=start, end=end, alert=alert,
                                      series=series, note=note)
        return made

    def refit(self, recent: DataSource | None = None, *, last: int | None = None, state: str | Path | None = None,
              feedback: str | Path | None = None, series: str | None = None, margin: int = 10, force: bool = False,
              dry_run: bool = False, reset: bool = False, label: str | None = AUTO, timestamp: str | None = None,
              adapter: str | None = None, adapter_options: Mapping[str, object] | None = None,
              warn: Warn = warn_python) -> dict:
        """Refit the label-free risk's reference of normal behaviour on `recent` normal data (its newest
        `last` rows), the weights as they are, as `jepawatch refit` does; returns the refit's record
        (`applied` false when the guard refused it: the newest `margin` windows still alert against
        the new reference). The verdicts of `state`'s feedback file (or `feedback`) are honoured:
        incidents stay out of the reference, false alarms join it. `reset=True` goes back to the
        calibration training fitted. The bundle on disk and this monitor score with it from then on."""
        from jepawatch.app import refit as refit_app
        from jepawatch.errors import ConfigError

        scorer = self._scorer()
        if reset:
            record = refit_app.reset(scorer)
        else:
            if recent is None:
                raise ConfigError("give the recent data to refit on (or reset=True)")
            record = refit_app.refit(scorer, recent, adapter=adapter, options=read_options(label, timestamp, adapter_options),
                                     last_rows=last, state=None if state is None else Path(state),
                                     feedback=None if feedback is None else Path(feedback), series=series,
                                     margin_windows=margin, force=force, dry_run=dry_run, warn=warn)
        if not dry_run:
            self.reload()
        return record

    def adapt(self, normal: DataSource, *, rows: int | None = None, out: str | Path | None = None,
              adapter: str | None = None, timestamp: str | None = None, series_col: str | None = None,
              adapter_options: Mapping[str, object] | None = None, warn: Warn = warn_python) -> "Monitor":
        """This model made ready for another system, as `--adapt` does: `normal` data of that system (any
        channels; its first `rows` rows when given) fits the standardisation, channel mask, code
        frequencies and label-free calibration, the weights staying as they are. Returns the Monitor of
        the adapted bundle, written to `out` (default: beside this bundle, named NAME-on-DATA), a small
        directory that points at this bundle by the SHA-256 of its weights. Nothing of `normal` should
        be scored afterwards: score what follows it (e.g. `live.iloc[rows:]`)."""
        path = adapt_bundle(self._bundle, as_data(normal), rows=rows, adapter=adapter,
                            options=read_options(AUTO, timestamp, adapter_options, series_col),
                            out=None if out is None else Path(out), device=self.device, warn=warn)
        return Monitor(path, device=self.device)

    def _scorer(self, settings: ScoreSettings | None = None) -> Scorer:
        return Scorer(self._bundle, resolve_device(self.device), settings)


def _schedule(every: int | None, rows: int | None):
    """`refit_every`/`refit_rows` as the scoring's refit schedule (None without `refit_every`)."""
    from jepawatch.errors import ConfigError
    from jepawatch.scoring.refit_schedule import RefitSchedule

    if every is None:
        if rows is not None:
            raise ConfigError("refit_rows goes with refit_every=N (how often to refit)")
        return None
    return RefitSchedule(every, rows)


def train(data: DataSource | Sequence[DataSource], *, epochs: int | None = None, preset: str | None = None,
          settings: Mapping[str, object] | Sequence[str] | None = None, out: str | Path = DEFAULT_MODELS_DIR,
          name: str | None = None, model: str = DEFAULT_KIND, batch_size: int | None = None, seed: int | None = None,
          device: str | None = None, config: str | Path | None = None, resume: bool = False,
          adapter: str | None = None, label: str | None = AUTO, timestamp: str | None = None,
          adapter_options: Mapping[str, object] | None = None, reporter: Reporter | None = None,
          warn: Warn = warn_python, series_col: str | None = None, init: str | Path | Monitor | None = None) -> Monitor:
    """Train MTS-JEPA (or `model="temporal-jepa"`) on `data`, a path or a DataFrame, as `jepawatch train`
    does, and return the Monitor of the bundle written to `out/name` (default name: the file's stem,
    or "dataframe"), which becomes the latest there.

    `data` may be a list of sources (`jepawatch.train([a, b, c])`), each with its own channels: one
    bundle trained on the windows of all of them, each source standardised with its own statistics;
    it scores data like the first source's, and any other system's after `Monitor.adapt`.
    `series_col`: the series column of a long-format table (default: one named series_id; "none":
    one series); every series is split on its own and no window crosses two. `init`: a bundle (or
    Monitor) whose weights training starts from: fine-tuning, e.g. `epochs=3`.

    Settings flow as on the command line: defaults -> `preset` ("watch" unless another is named) ->
    `config` (a TOML file) -> `settings` (`{"model.d_model": 64, "train.lr": 1e-3}`) -> `epochs`,
    `batch_size`, `seed`, `device`. `resume=True` continues an interrupted run of the same bundle.
    """
    path = train_app.train(data, model=model, epochs=epochs, batch_size=batch_size, seed=seed, device=device,
                           preset=preset, config=config, settings=settings, out=out, name=name, resume=resume,
                           adapter=adapter, options=read_options(label, timestamp, adapter_options, series_col),
                           reporter=reporter, warn=warn, init=init.path if isinstance(init, Monitor) else init)
    return Monitor(path, device=device)


def load(model: str | Path | None = None, *, models_dir: str | Path = DEFAULT_MODELS_DIR,
         device: str | None = None, adapt: DataSource | None = None, adapt_rows: int | None = None) -> Monitor:
    """The Monitor of a bundle: a name under `models_dir`, a bundle directory, or None for the latest.
    `adapt`: normal data of another system (its first `adapt_rows` rows when given): the Monitor of the
    bundle adapted to it (`Monitor.adapt`)."""
    monitor = Monitor(resolve_bundle_path(None if model is None else str(model), Path(models_dir)), device=device)
    return monitor if adapt is None else monitor.adapt(adapt, rows=adapt_rows)


def evaluate(monitor: Monitor, labelled: DataSource, *, seeds: int = 5, features: str | None = None,
             train_data: DataSource | None = None, ablate_risk: bool = False, label: str | None = AUTO,
             adapter: str | None = None, timestamp: str | None = None,
             adapter_options: Mapping[str, object] | None = None, warn: Warn = warn_python,
             feedback: str | Path | None = None) -> EvaluationReport:
    """Evaluate `monitor` on labelled data as `jepawatch evaluate` does: the paper's next-window
    protocol (6:2:2 split, head, threshold from validation; `seeds` runs of the head) beside the
    raw-statistics head and the label-free risk, then the label-free risk against simple detectors
    fitted on `train_data` (default: the data the bundle was trained on). `feedback`: a feedback
    file (or the state file it is beside) whose verdicts are counted on the evaluated windows (the
    report's `feedback`). Returns an `EvaluationReport` (`.to_dict()`, `.table()`)."""
    return evaluate_app.evaluate(monitor.bundle, labelled, seeds=seeds, features=features, train_data=train_data,
                                 ablate_risk=ablate_risk, device=monitor.device, adapter=adapter,
                                 options=read_options(label, timestamp, adapter_options), warn=warn, feedback=feedback)


def verdicts(state: str | Path | None = None, *, file: str | Path | None = None) -> list[Verdict]:
    """The verdicts recorded beside the state file `state` (or in the feedback file `file`), oldest
    first, as `jepawatch feedback STATE --list` prints them; [] before the first."""
    return feedback_app.verdicts(None if state is None else Path(state), None if file is None else Path(file))


def installed_adapters() -> list[dict]:
    """The installed data adapters, as `jepawatch adapters` lists them: name, package, formats, description."""
    return adapter_listing()


__all__ = ["AlertSettings", "EvaluationReport", "Monitor", "Verdict", "evaluate", "installed_adapters", "load", "train",
           "verdicts"]
