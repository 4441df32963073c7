"""Batch scoring on Spark: `jepawatch.spark.score(spark_df, bundle, series_col=..., time_col=...)`.

A long-format Spark DataFrame (one row per time step of a series, a column naming the series, a time
column, the bundle's channels as columns) in; a Spark DataFrame of window scores out, the columns
of `Monitor.score` (`series` first), one row per scored window of each series. Each series is
scored on its own, in time order, with `groupBy(series).applyInPandas`: the same code as
`jepawatch score --series-col`, so both give the same rows.

The bundle travels as files, never as a pickle: its files are copied into a staging directory
named by the SHA-256 of its config.json (which holds the checksum of every other file) and shipped
with `SparkContext.addFile`, or read from `shared_path` (a directory every executor sees, such as a
mounted network file system). Each Python worker loads it once, with its own ONNX Runtime session
(`backend="onnx"`, the default: the bundle needs `jepawatch export --onnx`), and reuses it for
every series it is given. Executors need jepawatch with ONNX Runtime installed (`pip install
"jepawatch[cpu]"` in the cluster's Python environment).

Spark does not keep row order, so the time column orders each series; rows of one series with equal
times come in no defined order. A series shorter than two windows gives no rows and is counted in
one warning (this needs one extra pass over the series column, made when `score` is called).

Needs pyspark (`pip install "jepawatch[spark]"`) and Java 17 or newer.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from jepawatch.adapters import ReadOptions
from jepawatch.adapters.columns import SERIES_NAMES, TIMESTAMP_NAMES
from jepawatch.app import score as score_app
from jepawatch.app.common import Warn, warn_python
from jepawatch.bundle import Bundle, load_bundle
from jepawatch.errors import ConfigError, DataError, MissingExtra
from jepawatch.scoring.fleet import SHOWN_NAMES, short_series_warning
from jepawatch.scoring.scorer import Scorer
from jepawatch.scoring.settings import TOP_CHANNELS, ScoreSettings

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame as SparkDataFrame

STAGED_BUNDLE, STAGED_PARENT = "bundle", "parent"  # inside a staged copy (stage_bundle)

# Spark SQL types of score_app.COLUMNS (the scored row), in the same order.
SPARK_TYPES = {"string": "string", "int64": "bigint", "float64": "double", "bool": "boolean", "object": "string"}


@dataclass(frozen=True)
class _Job:
    """What every Python worker needs to score a series: where the bundle is and how to score."""

    bundle_dir: str  # a directory on the executors (shared_path), or the name given to addFile
    shipped: bool  # True: `bundle_dir` is a SparkFiles name
    time_col: str
    settings: ScoreSettings  # its `threads`: spark.task.cpus, for torch and ONNX Runtime alike


_SCORERS: dict[tuple, Scorer] = {}  # per Python worker: each bundle loaded once, one ONNX session


def score(frame: "SparkDataFrame", bundle: str | Path | Bundle, *, series_col: str | None = None,
          time_col: str | None = None, stride: int | None = None, alert_at: float | None = None,
          top_channels: int = TOP_CHANNELS, batch_size: int = 256, backend: str = "onnx",
          shared_path: str | Path | None = None, warn: Warn = warn_python) -> "SparkDataFrame":
    """Score every series of the long-format Spark DataFrame `frame` with `bundle` (a bundle
    directory, or a `Monitor`'s bundle); returns a Spark DataFrame of window scores.

    `series_col`: the column naming each row's series (default: one named series_id). `time_col`:
    the column that orders each series (default: one named timestamp, time, date, datetime or ts).
    The result has the columns of `Monitor.score`, `series` first (the series id as text);
    `start_time`/`end_time` are timestamps when the time column is one. `backend`: "onnx" (the
    bundle's ONNX export, ONNX Runtime on the executors) or "torch". `shared_path`: a copy of the
    bundle directory that every executor can read at that path; without it the bundle is shipped
    with `SparkContext.addFile`. The computation is lazy, like any Spark transformation, except
    one pass that counts the series too short to score (warned of in one line).
    """
    try:
        from pyspark import SparkFiles  # noqa: F401  (checked here, used on the executors)
        from pyspark.sql import functions as F
        from pyspark.sql.types import DateType, TimestampNTZType, TimestampType
    except ImportError:
        raise MissingExtra('Spark scoring needs pyspark, which is not installed: pip install "jepawatch[spark]"') from None
    bundle = bundle if isinstance(bundle, Bundle) else load_bundle(Path(bundle))
    session = frame.sparkSession
    threads = int(session.sparkContext.getConf().get("spark.task.cpus", "1"))
    settings = ScoreSettings(stride=stride, alert_at=alert_at, top_channels=top_channels, batch_size=batch_size,
                             backend=backend, threads=threads)
    Scorer(bundle, _cpu(), settings)  # every setting and the backend checked here, not on an executor
    series_col = _column(frame.columns, series_col, SERIES_NAMES, "series_col", "names each row's series")
    time_col = _column(frame.columns, time_col, TIMESTAMP_NAMES, "time_col",
                       "orders each series (Spark does not keep the order of rows)")
    channels = list(bundle.preprocess.channels)
    missing = [c for c in channels if c not in frame.columns]
    if missing:
        raise DataError(f"the Spark DataFrame lacks {len(missing)} of the bundle's channels ({', '.join(missing[:5])}"
                        f"{' ...' if len(missing) > 5 else ''}); score it with the bundle trained on its channels")
    if shared_path is None:
        staged = stage_bundle(bundle)
        session.sparkContext.addFile(str(staged), recursive=True)
        where, shipped = staged.name, True
    else:
        where, shipped = str(shared_path), False
    job = _Job(where, shipped, time_col, settings)
    _warn_short_series(frame, series_col, 2 * bundle.run.model.window, warn)

    schema = ", ".join(f"{name} {SPARK_TYPES[kind]}" for name, kind in score_app.COLUMNS.items())
    series_id = "__jepawatch_series"
    inputs = frame.select(F.col(series_col).cast("string").alias(series_id), time_col, *channels)
    scored = inputs.groupBy(series_id).applyInPandas(lambda part: _score_series(job, series_id, part), schema)
    if isinstance(frame.schema[time_col].dataType, (TimestampType, TimestampNTZType, DateType)):
        scored = (scored.withColumn("start_time", F.to_timestamp("start_time"))
                        .withColumn("end_time", F.to_timestamp("end_time")))
    return scored


def stage_bundle(bundle: Bundle) -> Path:
    """A copy of the files the bundle loader reads, in a temporary directory named by the SHA-256 of
    the bundle's config.json (which checksums every other file, and an adapted bundle's parent by its
    weights): `ROOT/bundle`, and for an adapted bundle its parent as `ROOT/parent`, the copy's
    config.json pointing there. The same bundle always stages under the same name, so shipping it
    twice is shipping one thing."""
    config = json.loads((bundle.path / "config.json").read_text(encoding="utf-8"))
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:20]
    staged = Path(tempfile.gettempdir()) / f"jepawatch-bundle-{digest}"
    if (staged / STAGED_BUNDLE / "config.json").is_file():
        return staged
    tmp = Path(tempfile.mkdtemp(prefix=".jepawatch-stage-", dir=staged.parent))
    _copy_files(bundle.path, tmp / STAGED_BUNDLE, config)
    if "parent" in bundle.meta:
        parent = Path(bundle.meta["parent"]["path"])
        _copy_files(parent, tmp / STAGED_PARENT, json.loads((parent / "config.json").read_text(encoding="utf-8")))
        config["parent"] = {**config["parent"], "path": f"../{STAGED_PARENT}"}
        (tmp / STAGED_BUNDLE / "config.json").write_text(json.dumps(config), encoding="utf-8")
    shutil.rmtree(staged, ignore_errors=True)
    tmp.rename(staged)
    return staged


def _copy_files(source: Path, target: Path, config: dict) -> None:
    """config.json and the files it checksums (the loader reads exactly these)."""
    target.mkdir()
    for name in ["config.json", *config["files"]]:
        shutil.copyfile(source / name, target / name)


def _column(columns: list[str], given: str | None, names: tuple[str, ...], option: str, role: str) -> str:
    if given is not None:
        if given not in columns:
            raise DataError(f"{option}={given!r} is not a column of the Spark DataFrame (it has {', '.join(columns[:8])}"
                            f"{' ...' if len(columns) > 8 else ''}); give the column that {role}")
        return given
    found = [c for c in columns if c.lower() in names]
    if not found:
        raise ConfigError(f"no column of the Spark DataFrame is named {' or '.join(names)}: give {option}=, "
                          f"the column that {role}")
    return found[0]


def _warn_short_series(frame, series_col: str, rows_needed: int, warn: Warn) -> None:
    from pyspark.sql import functions as F

    counts = frame.groupBy(series_col).agg(F.count(F.lit(1)).alias("rows")).where(F.col("rows") < rows_needed)
    short = counts.select(F.col(series_col).cast("string").alias("name")).limit(SHOWN_NAMES).collect()
    if short:
        total = counts.count() if len(short) == SHOWN_NAMES else len(short)
        warn(short_series_warning([row["name"] for row in short], total, rows_needed))


def _score_series(job: _Job, series_id: str, part: pd.DataFrame) -> pd.DataFrame:
    """On an executor: the window scores of one series (`part`: its rows, in any order)."""
    key = (job.bundle_dir, job.shipped, *job.settings.__dict__.values())
    scorer = _SCORERS.get(key)
    if scorer is None:
        scorer = _SCORERS[key] = _open_scorer(job)
    name = str(part[series_id].iloc[0])
    ordered = part.drop(columns=[series_id]).sort_values(job.time_col, kind="stable").reset_index(drop=True)
    options = ReadOptions(timestamp_column=job.time_col, series_column="none")
    rows = score_app.score(scorer, ordered, options=options, warn=lambda line: None)
    frame = pd.DataFrame(rows, columns=list(score_app.COLUMNS))
    frame["series"] = name
    return frame


def _open_scorer(job: _Job) -> Scorer:
    import torch
    from pyspark import SparkFiles

    torch.set_num_threads(job.settings.threads)
    path = Path(SparkFiles.get(job.bundle_dir)) / STAGED_BUNDLE if job.shipped else Path(job.bundle_dir)
    return Scorer(load_bundle(path), _cpu(), job.settings)


def _cpu():
    import torch

    return torch.device("cpu")
