"""Score every series of a long-format Parquet table on Spark with one jepawatch bundle.

    spark-submit examples/spark_score.py hosts.parquet models/web scores.parquet --series-col host
    python examples/spark_score.py hosts.parquet models/web scores.parquet --series-col host   # local Spark

The bundle needs an ONNX export (`jepawatch export --onnx --model models/web`): the executors
run it with ONNX Runtime. The scores are written as a Parquet directory (Spark's layout); an
existing output is never replaced.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jepawatch
from jepawatch import spark as jepawatch_spark


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="a Parquet file or directory: one row per time step of a series")
    parser.add_argument("bundle", help="a jepawatch bundle directory with an ONNX export")
    parser.add_argument("out", help="where to write the window scores (a Parquet directory; must not exist)")
    parser.add_argument("--series-col", default=None, help="the column naming each row's series (default: series_id)")
    parser.add_argument("--time-col", default=None, help="the column ordering each series (default: found by name)")
    args = parser.parse_args()

    if "://" not in args.out and Path(args.out).exists():
        print(f"error: {args.out} already exists; give a new output path (nothing was replaced)", file=sys.stderr)
        return 2
    try:
        from pyspark.errors import PySparkException
        from pyspark.sql import SparkSession
    except ImportError:
        print('error: this example needs pyspark: pip install "jepawatch[spark]"', file=sys.stderr)
        return 2
    try:
        spark = SparkSession.builder.appName("jepawatch-score").getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")  # Spark's own notes and stack traces off; errors are one line
    except Exception as exc:  # pyspark's own error types; most often no Java
        print(f"error: Spark did not start ({type(exc).__name__}); it needs Java 17 or newer on PATH", file=sys.stderr)
        return 2
    try:
        frame = spark.read.parquet(args.data)
        scores = jepawatch_spark.score(frame, args.bundle, series_col=args.series_col, time_col=args.time_col,
                                       warn=lambda line: print(f"warning: {line}", file=sys.stderr))
        scores.write.parquet(args.out)  # mode "errorifexists": nothing already written is replaced
        print(f"wrote {args.out}", file=sys.stderr)
    except jepawatch.JepawatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PySparkException as exc:  # e.g. an input path that is not there, an output that appeared meanwhile
        print(f"error: Spark: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
