"""Batch scoring on Spark (`jepawatch.spark.score`), local[2]: the same rows as `Monitor.score`.

Needs pyspark (in the dev extra) and Java; without Java these are skipped (CI installs a JRE)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import jepawatch
from jepawatch.errors import ConfigError, DataError

from conftest import TINY_MTS, make_frame, tiny_monitor

pyspark = pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java 17+ (no `java` on PATH)", allow_module_level=True)

from jepawatch import spark as jspark  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:::pyspark")  # pyspark's own notes about pandas 3

TINY = dict(item.split("=", 1) for item in TINY_MTS)
WINDOW = 20
LENGTHS = {"web-1": 200, "web-2": 130, "db": 95, "tiny": 30}  # rows per host; "tiny" < two windows
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "spark_score.py"


@pytest.fixture(scope="module")
def monitor(tmp_path_factory):
    monitor = tiny_monitor(tmp_path_factory.mktemp("spark"), epochs=1)
    monitor.export_onnx()
    return monitor


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("jepawatch-tests")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
               .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    yield session
    session.stop()


def long_table() -> pd.DataFrame:
    """The hosts' rows interleaved and out of time order, each host with its own hour of times."""
    frames = []
    for i, (host, n) in enumerate(LENGTHS.items()):
        frame = make_frame(rows=n, seed=i + 1)
        frame["timestamp"] = pd.date_range(f"2026-01-01 0{i}:00", periods=n, freq="s")
        frames.append(frame.assign(host=host))
    return pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=0).reset_index(drop=True)


def test_spark_scores_equal_monitor_score_on_each_series(monitor, spark):
    table = long_table()
    warned = []
    scored = jspark.score(spark.createDataFrame(table), monitor.path, series_col="host", time_col="timestamp",
                          warn=warned.append).toPandas()
    expected = monitor.score(table, series_col="host", backend="onnx", batch_size=256)
    assert set(scored["series"]) == {"web-1", "web-2", "db"}  # "tiny" is too short: no rows ...
    assert warned == ["1 series shorter than two windows (40 rows) gave no rows: 'tiny'"]  # ... and one warning
    assert list(scored.columns) == list(expected.columns)
    key = ["series", "window_start"]
    scored = scored.sort_values(key).reset_index(drop=True)
    expected = expected.sort_values(key).reset_index(drop=True)
    assert len(scored) == sum(n // WINDOW - 1 for n in LENGTHS.values() if n >= 2 * WINDOW)
    exact = ["series", "window_start", "window_end", "alert", "risk_source", "regime", "coarse_regime",
             "next_regime", "drivers", "start_time", "end_time"]
    pd.testing.assert_frame_equal(scored[exact], expected[exact].astype({"series": object}), check_dtype=False)
    for column in ("next_window_risk", "label_free_risk", "label_free_score", "surprise_fine", "surprise_coarse",
                   "next_code_rarity"):
        np.testing.assert_allclose(scored[column], expected[column], rtol=0, atol=1e-6, err_msg=column)


def test_windows_never_mix_series_and_follow_each_series_times(monitor, spark):
    table = long_table()
    scored = jspark.score(spark.createDataFrame(table), monitor.path, series_col="host", time_col="timestamp",
                          warn=lambda line: None).toPandas()
    for host, rows in scored.groupby("series"):
        times = table.loc[table["host"] == host, "timestamp"].sort_values().reset_index(drop=True)
        assert rows["window_end"].max() < LENGTHS[host]
        # each window spans `WINDOW` consecutive rows of its own series, in time order
        np.testing.assert_array_equal(rows.sort_values("window_start")["start_time"].to_numpy(),
                                      times.iloc[rows.sort_values("window_start")["window_start"]].to_numpy())
        assert ((rows["end_time"] - rows["start_time"]) == pd.Timedelta(seconds=WINDOW - 1)).all()


def test_series_and_time_columns_found_by_name(monitor, spark):
    table = long_table().rename(columns={"host": "series_id"})
    scored = jspark.score(spark.createDataFrame(table), monitor.path, warn=lambda line: None)
    assert scored.select("series").distinct().count() == 3


def test_a_bundle_without_onnx_export_or_missing_columns_is_one_line_error(monitor, spark, tmp_path):
    table = long_table()
    frame = spark.createDataFrame(table.drop(columns=[monitor.channels[0]]))
    with pytest.raises(DataError, match="lacks 1 of the bundle's channels"):
        jspark.score(frame, monitor.path, series_col="host")
    with pytest.raises(DataError, match="series_col='hostname' is not a column"):
        jspark.score(spark.createDataFrame(table), monitor.path, series_col="hostname")
    with pytest.raises(ConfigError, match="give time_col="):
        jspark.score(spark.createDataFrame(table.rename(columns={"timestamp": "when"})), monitor.path,
                     series_col="host")
    bare = jepawatch.train(make_frame(rows=300), epochs=1, preset="paper", settings=TINY, out=tmp_path, name="bare")
    with pytest.raises(jepawatch.JepawatchError, match="has no ONNX export"):
        jspark.score(spark.createDataFrame(table), bare.path, series_col="host")
    # with the torch backend a bundle without an export scores too
    scored = jspark.score(spark.createDataFrame(table), bare.path, series_col="host", backend="torch",
                          warn=lambda line: None)
    assert scored.count() == sum(n // WINDOW - 1 for n in LENGTHS.values() if n >= 2 * WINDOW)


def test_staging_is_by_content(monitor):
    first = jspark.stage_bundle(monitor.bundle)
    assert jspark.stage_bundle(monitor.bundle) == first
    files = json.loads((monitor.path / "config.json").read_text())["files"]
    assert sorted(p.name for p in (first / "bundle").iterdir()) == sorted(["config.json", *files])
    assert jepawatch.load(first / "bundle").channels == monitor.channels


def test_an_adapted_bundle_scores_another_systems_hosts_on_spark(monitor, spark, tmp_path):
    """A bundle adapted to a system with other channels travels with its parent and scores like Monitor.score."""
    def other(frame):
        return frame.rename(columns={"ch0": "temp", "ch1": "pressure", "ch2": "flow"})

    adapted = monitor.adapt(other(make_frame(rows=400, seed=9)), out=tmp_path / "adapted", warn=lambda line: None)
    adapted.export_onnx()
    staged = jspark.stage_bundle(adapted.bundle)
    assert sorted(p.name for p in staged.iterdir()) == ["bundle", "parent"]
    table = other(long_table())
    scored = jspark.score(spark.createDataFrame(table), adapted.path, series_col="host", warn=lambda line: None).toPandas()
    expected = adapted.score(table, series_col="host", backend="onnx", batch_size=256)
    key = ["series", "window_start"]
    scored, expected = (f.sort_values(key).reset_index(drop=True) for f in (scored, expected))
    assert len(scored) == len(expected) > 0
    np.testing.assert_allclose(scored["next_window_risk"], expected["next_window_risk"], atol=1e-6)
    assert (scored["regime"] == expected["regime"]).all()


def test_spark_example_runs_as_written(monitor, tmp_path):
    """examples/spark_score.py, as docs/score.md gives it: a Parquet table of hosts in, scores out."""
    table = long_table()
    data, out = tmp_path / "hosts.parquet", tmp_path / "scores.parquet"
    table.to_parquet(data, index=False)
    done = subprocess.run([sys.executable, str(EXAMPLE), str(data), str(monitor.path), str(out), "--series-col", "host"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    scores = pd.read_parquet(out)
    assert len(scores) == sum(n // WINDOW - 1 for n in LENGTHS.values() if n >= 2 * WINDOW)
    assert "1 series shorter than two windows" in done.stderr


def test_a_shared_bundle_path_scores_the_same(monitor, spark):
    table = long_table()
    shipped = jspark.score(spark.createDataFrame(table), monitor.path, series_col="host", warn=lambda line: None)
    shared = jspark.score(spark.createDataFrame(table), monitor.path, series_col="host", shared_path=monitor.path,
                          warn=lambda line: None)
    key = ["series", "window_start"]
    pd.testing.assert_frame_equal(shipped.toPandas().sort_values(key).reset_index(drop=True),
                                  shared.toPandas().sort_values(key).reset_index(drop=True))


def test_spark_example_refuses_an_existing_output(monitor, tmp_path):
    out = tmp_path / "scores.parquet"
    out.mkdir()
    (out / "part-0.parquet").write_bytes(b"kept")
    done = subprocess.run([sys.executable, str(EXAMPLE), str(tmp_path / "hosts.parquet"), str(monitor.path), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == f"error: {out} already exists; give a new output path (nothing was replaced)"
    assert (out / "part-0.parquet").read_bytes() == b"kept"
