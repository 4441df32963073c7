"""NASA MSL / SMAP telemetry (Hundman et al., KDD 2018) in its two layouts.

Concatenated (what most papers use): `<NAME>_train.npy` (T, 55), `<NAME>_test.npy`,
`<NAME>_test_label.npy` (bool, one per test step).

Telemanom (the original release): `train/<chan>.npy`, `test/<chan>.npy` and
`labeled_anomalies.csv` (`chan_id, spacecraft, anomaly_sequences, class, num_values`), where
`anomaly_sequences` is a quoted list of `[start, end]` pairs, 0-based into the channel's test
array, end inclusive, in any order, and `class` is neither JSON nor a Python literal (ignored).

Reading telemanom gives the concatenated arrays, by the convention that produced them
(OmniAnomaly's preprocessing): the spacecraft's channels sorted by `chan_id`, their train and
test arrays stacked in that order, each channel's labels `num_values` long. Decisions:
- A channel listed twice (SMAP's P-2, with two different sequences) is left out, as that
  convention does; it is what gives SMAP its 427,617 test steps. `duplicates=merge` keeps it
  with the union of its sequences instead.
- A channel with data files but no row has no labels: it is left out and named in the metadata.
- Channels are named c00..c54 (column 0 is the telemetry value, the rest are command flags), the
  same in both layouts, so a model trained on one reads the other.

Options (`--adapter-option KEY=VALUE`): `spacecraft` (MSL or SMAP; needed when a folder holds
both), `duplicates` (drop or merge).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from jepawatch.adapters import Adapter, Dataset, ReadOptions, Series
from jepawatch.errors import DataError

LABELS_FILE = "labeled_anomalies.csv"
LABEL_COLUMNS = ("chan_id", "spacecraft", "anomaly_sequences", "num_values")
SUFFIXES = ("_train.npy", "_test.npy", "_test_label.npy")


class NasaAdapter(Adapter):
    name = "nasa"
    description = "NASA MSL/SMAP telemetry, concatenated or telemanom layout."
    formats = ("folder: <NAME>_train.npy, _test.npy, _test_label.npy",
               "folder: train/ test/ labeled_anomalies.csv")
    options = ("spacecraft", "duplicates")

    def sniff(self, path: Path) -> float:
        if path.is_file():
            return 0.95 if _prefix_of(path) is not None and _concatenated_names(path.parent) else 0.0
        if not path.is_dir():
            return 0.0
        if _concatenated_names(path):
            return 1.0
        if (path / "train").is_dir() and (path / "test").is_dir() and any((path / "train").glob("*.npy")):
            return 1.0 if (path / LABELS_FILE).is_file() else 0.6  # read() says what is missing
        return 0.0

    def read(self, path: Path, options: ReadOptions) -> Dataset:
        spacecraft = options.extra.get("spacecraft")
        duplicates = options.extra.get("duplicates", "drop").lower()
        if duplicates not in ("drop", "merge"):
            raise DataError(f"--adapter-option duplicates={duplicates!r}: use drop or merge")
        if path.is_file():
            spacecraft, path = spacecraft or _prefix_of(path), path.parent
        if _concatenated_names(path):
            train, test, meta = _read_concatenated(path, spacecraft)
        elif (path / "train").is_dir() and (path / "test").is_dir():
            train, test, meta = _read_telemanom(path, spacecraft, duplicates)
        else:
            raise DataError(f"{path} is neither NASA layout: give a folder with <NAME>_train.npy and <NAME>_test.npy, "
                            f"or a telemanom folder with train/, test/ and {LABELS_FILE}")
        return Dataset(source=str(path), adapter=self.name, train=train, test=test, metadata=meta)


def _prefix_of(path: Path) -> str | None:
    for suffix in SUFFIXES:
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return path.name[: -len(suffix)]
    return None


def _concatenated_names(folder: Path) -> list[str]:
    """Spacecraft names with both <NAME>_train.npy and <NAME>_test.npy in `folder`."""
    if not folder.is_dir():
        return []
    trains = {p.name[: -len("_train.npy")] for p in folder.glob("*_train.npy")}
    return sorted(n for n in trains if n and (folder / f"{n}_test.npy").is_file())


def _channel_names(n_columns: int) -> list[str]:
    return [f"c{i:02d}" for i in range(n_columns)]


def _load(path: Path, ndim: int) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path} is missing; the NASA layout needs it")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable NumPy array ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                        "replace it with the original file") from exc
    if ndim == 1 and array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != ndim or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise DataError(f"{path} holds a {array.dtype} array of shape {array.shape}; "
                        f"expected {'(steps, channels) numbers' if ndim == 2 else '(steps,) labels'}")
    return array


def _read_concatenated(folder: Path, spacecraft: str | None) -> tuple[Series, Series, dict]:
    names = _concatenated_names(folder)
    name = _choose_spacecraft(folder, names, spacecraft)
    train = _load(folder / f"{name}_train.npy", 2)
    test = _load(folder / f"{name}_test.npy", 2)
    if train.shape[1] != test.shape[1]:
        raise DataError(f"{folder}: {name}_train.npy has {train.shape[1]} columns but {name}_test.npy has {test.shape[1]}")
    label_path = folder / f"{name}_test_label.npy"
    labels = None
    if label_path.is_file():
        labels = _load(label_path, 1)
        if len(labels) != len(test):
            raise DataError(f"{label_path} has {len(labels)} labels but {name}_test.npy has {len(test)} steps; "
                            "they must be the same files' pair")
        if not np.isin(labels, (0, 1)).all():
            raise DataError(f"{label_path} has labels other than 0/1")
        labels = labels.astype(np.uint8)
    meta = {"layout": "concatenated", "spacecraft": name, "labels": label_path.is_file()}
    channels = _channel_names(train.shape[1])
    return (Series(train.astype(np.float32), channels, metadata={"source": str(folder / f"{name}_train.npy")}),
            Series(test.astype(np.float32), channels, labels=labels, metadata={"source": str(folder / f"{name}_test.npy")}),
            meta)


def _choose_spacecraft(folder: Path, names: list[str], spacecraft: str | None) -> str:
    if spacecraft is not None:
        matches = [n for n in names if n.lower() == spacecraft.lower()]
        if not matches:
            raise DataError(f"{folder} has no {spacecraft} data (it has: {', '.join(names) or 'none'}); "
                            "check --adapter-option spacecraft")
        return matches[0]
    if len(names) > 1:
        raise DataError(f"{folder} holds {' and '.join(names)}; choose one with --adapter-option spacecraft=NAME")
    return names[0]


def _read_label_rows(folder: Path) -> list[dict]:
    labels_path = folder / LABELS_FILE
    if not labels_path.is_file():
        raise DataError(f"{folder} looks like a telemanom folder (train/, test/) but has no {LABELS_FILE}; "
                        "put the release's labeled_anomalies.csv next to train/ and test/")
    try:
        with open(labels_path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{labels_path} could not be read ({exc})") from exc
    header = set(rows[0]) if rows else set()
    missing = [c for c in LABEL_COLUMNS if c not in header]
    if missing:
        raise DataError(f"{labels_path} lacks the column(s) {', '.join(missing)}; "
                        f"expected the telemanom header {','.join(LABEL_COLUMNS[:3])},class,num_values")
    for number, row in enumerate(rows, start=2):
        row["line"] = number
        row["sequences"] = _parse_sequences(row["anomaly_sequences"], labels_path, number)
        try:
            row["num_values"] = int(row["num_values"])
        except (TypeError, ValueError):
            raise DataError(f"{labels_path} line {number}: num_values {row['num_values']!r} is not a whole number") from None
    return rows


def _parse_sequences(text: str | None, labels_path: Path, line: int) -> list[tuple[int, int]]:
    try:
        pairs = json.loads(text or "")
        if not isinstance(pairs, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(v, int) for v in p) for p in pairs
        ):
            raise ValueError
    except ValueError:
        raise DataError(f"{labels_path} line {line}: anomaly_sequences {text!r} is not a list of [start, end] pairs") from None
    return [(start, end) for start, end in pairs]


def _read_telemanom(folder: Path, spacecraft: str | None, duplicates: str) -> tuple[Series, Series, dict]:
    rows = _read_label_rows(folder)
    with_data = {p.stem for p in (folder / "train").glob("*.npy")}
    crafts = sorted({r["spacecraft"].strip() for r in rows if r["chan_id"].strip() in with_data})
    if not crafts:
        raise DataError(f"{folder}/train has no .npy file for any channel listed in {LABELS_FILE}")
    name = _choose_spacecraft(folder, crafts, spacecraft)
    by_channel: dict[str, list[dict]] = {}
    for row in rows:
        if row["spacecraft"].strip().lower() == name.lower():
            by_channel.setdefault(row["chan_id"].strip(), []).append(row)
    repeated = sorted(c for c, rs in by_channel.items() if len(rs) > 1)
    if duplicates == "drop":
        for chan in repeated:
            del by_channel[chan]
    listed = {r["chan_id"].strip() for r in rows}
    unlisted = sorted(with_data - listed)
    train_parts, test_parts, label_parts, entities = [], [], [], []
    for chan in sorted(by_channel):
        chan_rows = by_channel[chan]
        train = _load(folder / "train" / f"{chan}.npy", 2)
        test = _load(folder / "test" / f"{chan}.npy", 2)
        lengths = {r["num_values"] for r in chan_rows}
        if lengths != {len(test)}:
            raise DataError(f"{folder / LABELS_FILE} line {chan_rows[0]['line']}: num_values {sorted(lengths)[0]} "
                            f"for {chan} but test/{chan}.npy has {len(test)} steps; the labels do not belong to this data")
        labels = np.zeros(len(test), dtype=np.uint8)
        for row in chan_rows:
            for start, end in row["sequences"]:
                if not 0 <= start <= end < len(test):
                    raise DataError(f"{folder / LABELS_FILE} line {row['line']}: sequence [{start}, {end}] lies outside "
                                    f"{chan}'s {len(test)} test steps")
                labels[start : end + 1] = 1  # end inclusive
        train_parts.append(train)
        test_parts.append(test)
        label_parts.append(labels)
        entities.append({"name": chan, "train_steps": len(train), "test_steps": len(test)})
    if not entities:
        raise DataError(f"{folder}: no {name} channel is left to read")
    widths = {p.shape[1] for p in train_parts + test_parts}
    if len(widths) > 1:
        raise DataError(f"{folder}: the channels' arrays have different numbers of columns ({sorted(widths)})")
    channels = _channel_names(widths.pop())
    meta = {
        "layout": "telemanom",
        "spacecraft": name,
        "entities": entities,
        "left_out_listed_twice" if duplicates == "drop" else "merged_listed_twice": repeated,
        "left_out_without_labels": unlisted,
    }
    train_series = Series(np.concatenate(train_parts).astype(np.float32), channels, metadata={"source": str(folder / "train")})
    test_series = Series(np.concatenate(test_parts).astype(np.float32), channels, labels=np.concatenate(label_parts),
                         metadata={"source": str(folder / "test")})
    return train_series, test_series, meta
