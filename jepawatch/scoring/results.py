"""Writing scored windows to .jsonl, .csv or .parquet, whole or not at all.

`keep_rows` supports incremental runs (`score --state`): the first `keep_rows` rows of an
existing file are kept and the new rows appended; anything after them (left by a run that
crashed before saving its state) is dropped, so a window is never written twice.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from jepawatch.atomic import atomic_write
from jepawatch.errors import ConfigError, DataError

FORMATS = (".jsonl", ".csv", ".parquet")


def check_output_path(path: Path) -> None:
    if path.suffix.lower() not in FORMATS:
        raise ConfigError(f"--out {path}: write .jsonl, .csv or .parquet")


def write_results(path: Path, rows: list[dict], keep_rows: int | None = None) -> int:
    """Write (or extend) `path` atomically; returns the number of rows it holds."""
    check_output_path(path)
    new = pd.DataFrame(rows)
    if keep_rows and path.exists():
        old = _read(path).head(keep_rows)
        if len(old) < keep_rows:
            raise DataError(f"{path} holds {len(old)} rows but the state says {keep_rows} were written; "
                            "it was changed by something else: move it away or delete the state file")
        new = pd.concat([old, new], ignore_index=True) if len(new) else old
    suffix = path.suffix.lower()

    def write(tmp: Path) -> None:
        if suffix == ".parquet":
            new.to_parquet(tmp, index=False)
        elif suffix == ".csv":
            new.to_csv(tmp, index=False)
        elif len(new):
            new.to_json(tmp, orient="records", lines=True)
        else:
            tmp.write_text("")

    atomic_write(path, write)
    return len(new)


def _read(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix == ".csv":
            return pd.read_csv(path)
        return pd.read_json(path, lines=True) if path.stat().st_size else pd.DataFrame()
    except (ValueError, OSError) as exc:
        raise DataError(f"{path} (the existing output) could not be read: {str(exc).splitlines()[0]}; "
                        "move it away or delete the state file") from exc
