"""The options `score` and `watch` share, declared once: `@scoring_options` adds them to a command,
which receives them as one `ScoringOptions` (`opts`) and builds its settings from it."""

from __future__ import annotations

import functools
import inspect
import typing
from dataclasses import dataclass, fields
from pathlib import Path

from jepawatch.adapters import ReadOptions
from jepawatch.cli.options import (AdaptOption, AdaptRowsOption, AdapterOption, AdapterSettingOption, AlertAtOption,
                                   BackendOption, ClearOption, DeviceOption, ForOption, LabelColOption, LockWaitOption,
                                   MaxAlertsOption, ModelOption, ModelsDirOption, RefitEveryOption, RefitRowsOption,
                                   SeriesColOption, SeriesOption, StrideOption, TimestampColOption, TopChannelsOption,
                                   WebhookHeaderOption, WebhookOption, alert_settings, read_options)
from jepawatch.scoring.settings import TOP_CHANNELS, ScoreSettings, check_stride


@dataclass
class ScoringOptions:
    model: ModelOption = None
    models_dir: ModelsDirOption = Path("models")
    stride: StrideOption = None
    alert_at: AlertAtOption = None
    top_channels: TopChannelsOption = TOP_CHANNELS
    lock_wait: LockWaitOption = 10.0
    for_windows: ForOption = 1
    clear_windows: ClearOption = 1
    max_alerts: MaxAlertsOption = 10
    webhook: WebhookOption = None
    webhook_header: WebhookHeaderOption = None
    series: SeriesOption = None
    backend: BackendOption = None
    device: DeviceOption = None
    adapter: AdapterOption = None
    label_col: LabelColOption = None
    timestamp_col: TimestampColOption = None
    series_col: SeriesColOption = None
    adapter_option: AdapterSettingOption = None
    adapt: AdaptOption = None
    adapt_rows: AdaptRowsOption = None
    refit_every: RefitEveryOption = None
    refit_rows: RefitRowsOption = None

    def __post_init__(self) -> None:
        from jepawatch.locking import check_lock_wait
        from jepawatch.scoring.alert_rule import check_alert_at

        # before anything runs (an --adapt writes a bundle first)
        check_alert_at(self.alert_at)
        check_lock_wait(self.lock_wait)
        check_stride(self.stride)
        schedule = self.refit_schedule()
        if schedule is not None:
            schedule.check()
        elif self.refit_rows is not None:
            from jepawatch.errors import ConfigError

            raise ConfigError("--refit-rows goes with --refit-every N (how often to refit)")

    def refit_schedule(self):
        """`--refit-every`'s schedule (None without it); its feedback file is the one beside --state."""
        from jepawatch.scoring.refit_schedule import RefitSchedule

        return None if self.refit_every is None else RefitSchedule(self.refit_every, self.refit_rows, series=self.series)

    def read_options(self) -> ReadOptions:
        return read_options(self.label_col, self.timestamp_col, self.adapter_option, self.series_col)

    def score_settings(self, **more):
        """The scorer's settings from these options (`more`: the command's own, e.g. batch_size)."""
        return ScoreSettings(stride=self.stride, alert_at=self.alert_at, top_channels=self.top_channels,
                             backend=self.backend, **more)

    def alert_settings(self, **outputs):
        """The alerting settings (`outputs`: prom_textfile for score, metrics_port for watch)."""
        return alert_settings(self.for_windows, self.clear_windows, self.webhook, self.webhook_header, self.series,
                              max_alerts=self.max_alerts, **outputs)


def scoring_options(command):
    """Give `command` (whose last parameter is `opts: ScoringOptions`) the shared options as its own."""
    # annotations as objects (the modules use postponed annotations): Typer reads them off the signature
    own = [p for name, p in inspect.signature(command, eval_str=True).parameters.items() if name != "opts"]
    hints = typing.get_type_hints(ScoringOptions, include_extras=True)
    shared = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name])
              for f in fields(ScoringOptions)]

    @functools.wraps(command)
    def with_options(*args, **kwargs):
        opts = ScoringOptions(**{name: kwargs.pop(name) for name in hints if name in kwargs})
        return command(*args, opts=opts, **kwargs)

    with_options.__signature__ = inspect.Signature(own + shared)
    with_options.__annotations__ = {p.name: p.annotation for p in own} | hints
    return with_options
