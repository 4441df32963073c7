"""The benchmark-format plugin (jepawatch-adapters): NASA MSL/SMAP, SWaT and PSM, on small files made here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from jepawatch.adapters import ReadOptions, read_dataset
from jepawatch.cli.app import app
from jepawatch.errors import DataError

from conftest import TINY_MTS

runner = CliRunner()
COLUMNS = 5  # the real files have 55; the layout logic does not care


def tiny_args() -> list[str]:
    return [arg for item in TINY_MTS for arg in ("--set", item)]


# --- NASA --------------------------------------------------------------------------------------

# chan_id -> (spacecraft, train rows, test rows, anomaly sequences as written: unsorted, end inclusive)
CHANNELS = {
    "T-4": ("MSL", 60, 50, [[30, 34], [2, 3]]),
    "C-1": ("MSL", 70, 40, [[10, 19]]),
    "D-15": ("MSL", 50, 45, [[0, 0], [44, 44]]),
    "A-1": ("SMAP", 40, 30, [[5, 9]]),
    "P-2": ("SMAP", 40, 30, [[1, 2]]),
}


def make_telemanom(root: Path, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A telemanom folder with its quirks: unsorted sequences, odd `class` cells, SMAP's P-2 listed
    twice, and a channel (X-9) with data but no row."""
    rng = np.random.default_rng(seed)
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    arrays = {}
    for chan, (_, n_train, n_test, _) in {**CHANNELS, "X-9": ("MSL", 20, 20, [])}.items():
        train = np.column_stack([rng.standard_normal(n_train), rng.integers(0, 2, (n_train, COLUMNS - 1))])
        test = np.column_stack([rng.standard_normal(n_test), rng.integers(0, 2, (n_test, COLUMNS - 1))])
        np.save(root / "train" / f"{chan}.npy", train)
        np.save(root / "test" / f"{chan}.npy", test)
        arrays[chan] = (train, test)
    lines = ["chan_id,spacecraft,anomaly_sequences,class,num_values"]
    for chan, (craft, _, n_test, sequences) in CHANNELS.items():
        classes = "[" + ", ".join(["contextual"] * len(sequences)) + "]"
        lines.append(f'{chan},{craft},"{json.dumps(sequences)}","{classes}",{n_test}')
    lines.append('P-2,SMAP,"[[20, 25]]",[point],30')
    (root / "labeled_anomalies.csv").write_text("\n".join(lines) + "\n")
    return arrays


def expected_concatenation(arrays, craft: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The concatenated layout, computed here independently: listed-once channels sorted by chan_id."""
    chans = sorted(c for c, (s, *_) in CHANNELS.items() if s == craft and c != "P-2")
    labels = []
    for chan in chans:
        label = np.zeros(CHANNELS[chan][2], dtype=bool)
        for start, end in CHANNELS[chan][3]:
            label[start : end + 1] = True
        labels.append(label)
    return (np.concatenate([arrays[c][0] for c in chans]), np.concatenate([arrays[c][1] for c in chans]),
            np.concatenate(labels))


@pytest.fixture
def nasa_folder(tmp_path):
    root = tmp_path / "msl"
    arrays = make_telemanom(root / "telemanom")
    train, test, labels = expected_concatenation(arrays, "MSL")
    np.save(root / "MSL_train.npy", train)
    np.save(root / "MSL_test.npy", test)
    np.save(root / "MSL_test_label.npy", labels)
    return root


def test_telemanom_reads_exactly_as_the_concatenated_layout(nasa_folder):
    concatenated = read_dataset(nasa_folder)
    telemanom = read_dataset(nasa_folder / "telemanom", options=ReadOptions(extra={"spacecraft": "msl"}))
    assert concatenated.adapter == telemanom.adapter == "nasa"
    assert concatenated.metadata["layout"] == "concatenated" and telemanom.metadata["layout"] == "telemanom"
    for part in ("train", "test"):
        a, b = concatenated.part(part), telemanom.part(part)
        assert a.channels == b.channels == [f"c{i:02d}" for i in range(COLUMNS)]
        np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(concatenated.test.labels, telemanom.test.labels)
    assert telemanom.test.labels.sum() == 5 + 2 + 10 + 2  # T-4's two sequences (end inclusive), C-1, D-15
    assert [e["name"] for e in telemanom.metadata["entities"]] == ["C-1", "D-15", "T-4"]
    assert telemanom.metadata["left_out_without_labels"] == ["X-9"]


def test_telemanom_spacecraft_choice_and_the_channel_listed_twice(nasa_folder):
    folder = nasa_folder / "telemanom"
    with pytest.raises(DataError, match="holds MSL and SMAP; choose one with --adapter-option spacecraft"):
        read_dataset(folder)
    smap = read_dataset(folder, options=ReadOptions(extra={"spacecraft": "SMAP"}))
    assert [e["name"] for e in smap.metadata["entities"]] == ["A-1"]  # P-2 left out, as the usual convention does
    assert smap.metadata["left_out_listed_twice"] == ["P-2"]
    merged = read_dataset(folder, options=ReadOptions(extra={"spacecraft": "SMAP", "duplicates": "merge"}))
    p2 = merged.test.labels[30:]  # P-2 follows A-1 (30 test steps)
    assert p2[1:3].all() and p2[20:26].all() and p2.sum() == 2 + 6  # the union of both rows' sequences


def test_nasa_bad_layouts_say_what_is_wrong(nasa_folder, tmp_path):
    folder = nasa_folder / "telemanom"
    (folder / "labeled_anomalies.csv").rename(tmp_path / "kept.csv")
    with pytest.raises(DataError, match="has no labeled_anomalies.csv; put the release's"):
        read_dataset(folder, options=ReadOptions(extra={"spacecraft": "MSL"}))
    text = (tmp_path / "kept.csv").read_text().replace(",50\n", ",51\n")  # T-4's num_values no longer matches
    (folder / "labeled_anomalies.csv").write_text(text)
    with pytest.raises(DataError, match="num_values 51 for T-4 but test/T-4.npy has 50 steps"):
        read_dataset(folder, options=ReadOptions(extra={"spacecraft": "MSL"}))
    np.save(nasa_folder / "MSL_test_label.npy", np.zeros(7, dtype=bool))
    with pytest.raises(DataError, match="has 7 labels but MSL_test.npy has"):
        read_dataset(nasa_folder)
    np.save(nasa_folder / "MSL_test.npy", np.array(["a", "b"], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="not a readable NumPy array"):
        read_dataset(nasa_folder)


def test_train_on_both_nasa_layouts_trains_on_the_same_data(nasa_folder, monkeypatch):
    monkeypatch.chdir(nasa_folder.parent)
    prints = []
    for path, extra in (("msl", []), ("msl/telemanom", ["--adapter-option", "spacecraft=MSL"])):
        result = runner.invoke(app, ["train", path, "--epochs", "1", *extra, *tiny_args()])
        assert result.exit_code == 0, result.output
        assert "training on its train part (180 steps)" in " ".join(result.output.split())
        config = json.loads((nasa_folder.parent / "models" / Path(path).name / "config.json").read_text())
        assert config["data"]["adapter"] == "nasa"
        prints.append(config["data"]["fingerprint"])
    assert prints[0] == prints[1]


# --- SWaT --------------------------------------------------------------------------------------

SENSORS = ["FIT101", " LIT101", " MV101", "P101"]


def swat_frame(rows: int, labels: list[str], start: str = "2015-12-22 16:00:00", seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    times = pd.date_range(start, periods=rows, freq="s")
    frame = pd.DataFrame({" Timestamp": [" " + t.strftime("%d/%m/%Y %I:%M:%S %p").replace(" 0", " ") for t in times]})
    for name in SENSORS:
        frame[name] = rng.standard_normal(rows).round(4)
    frame["Normal/Attack"] = (labels * rows)[:rows]
    return frame


def write_swat_csv(path: Path, frame: pd.DataFrame, group_row: bool = False) -> None:
    text = frame.to_csv(index=False)
    if group_row:
        text = "," * (frame.shape[1] - 1) + "\n" + text
    path.write_text(text)


def test_swat_folder_is_a_benchmark_with_day_first_times_and_messy_labels(tmp_path):
    write_swat_csv(tmp_path / "SWaT_Dataset_Normal_v1.csv", swat_frame(40, ["Normal"]), group_row=True)
    attack = swat_frame(30, ["Normal", "Attack", "A ttack", "Normal "], start="2016-01-02 10:00:00", seed=1)
    write_swat_csv(tmp_path / "SWaT_Dataset_Attack_v0.csv", attack)
    dataset = read_dataset(tmp_path)
    assert dataset.adapter == "swat" and dataset.is_benchmark
    assert dataset.train.channels == ["FIT101", "LIT101", "MV101", "P101"]  # names stripped
    assert dataset.train.labels is None
    np.testing.assert_array_equal(dataset.test.labels[:4], [0, 1, 1, 0])
    assert pd.Timestamp(dataset.test.timestamps[0]) == pd.Timestamp("2016-01-02 10:00:00")  # 2 January, not 1 February
    single = read_dataset(tmp_path / "SWaT_Dataset_Attack_v0.csv")
    assert single.adapter == "swat" and not single.is_benchmark and single.series.labels.sum() == 15


def test_swat_xlsx_reads_like_the_csv(tmp_path):
    pytest.importorskip("openpyxl")
    frame = swat_frame(20, ["Normal", "Attack"])
    write_swat_csv(tmp_path / "a.csv", frame)
    with pd.ExcelWriter(tmp_path / "SWaT_Dataset_Attack_v0.xlsx") as writer:
        frame.to_excel(writer, index=False, startrow=1)  # a group row above the header, as in the original
    from_csv = read_dataset(tmp_path / "a.csv", adapter="swat").series
    from_xlsx = read_dataset(tmp_path / "SWaT_Dataset_Attack_v0.xlsx").series
    np.testing.assert_array_equal(from_csv.values, from_xlsx.values)
    np.testing.assert_array_equal(from_csv.labels, from_xlsx.labels)


def test_swat_unknown_label_is_refused(tmp_path):
    write_swat_csv(tmp_path / "SWaT_Dataset_Attack_v0.csv", swat_frame(10, ["Normal", "Maybe"]))
    with pytest.raises(DataError, match="neither Normal nor Attack \\('Maybe'"):
        read_dataset(tmp_path / "SWaT_Dataset_Attack_v0.csv")


# --- PSM ---------------------------------------------------------------------------------------

def make_psm(root: Path, rows: int = 120, shuffle_labels: bool = True) -> np.ndarray:
    rng = np.random.default_rng(0)
    root.mkdir()
    columns = {f"feature_{i}": rng.standard_normal(rows) for i in range(4)}
    train = pd.DataFrame({"timestamp_(min)": np.arange(rows, dtype=float), **columns})
    train.loc[3:5, "feature_1"] = np.nan  # PSM's train has gaps
    train.to_csv(root / "train.csv", index=False)
    test = pd.DataFrame({"timestamp_(min)": 1000.0 + np.arange(rows), **{k: v[::-1] for k, v in columns.items()}})
    test.to_csv(root / "test.csv", index=False)
    labels = (np.arange(rows) % 10 < 3).astype(int)
    label_frame = pd.DataFrame({"timestamp_(min)": test["timestamp_(min)"], "label": labels})
    if shuffle_labels:
        label_frame = label_frame.sample(frac=1.0, random_state=0)
    label_frame.to_csv(root / "test_label.csv", index=False)
    return labels


def test_psm_labels_are_joined_on_timestamp_not_row_order(tmp_path):
    labels = make_psm(tmp_path / "psm")
    dataset = read_dataset(tmp_path / "psm")
    assert dataset.adapter == "psm"
    np.testing.assert_array_equal(dataset.test.labels, labels)
    assert dataset.train.channels == [f"feature_{i}" for i in range(4)]
    assert dataset.train.missing_cells() == 3 and dataset.train.timestamps[0] == 0.0


def test_psm_label_file_that_does_not_match_is_refused(tmp_path):
    make_psm(tmp_path / "psm")
    labels = pd.read_csv(tmp_path / "psm" / "test_label.csv")
    labels.iloc[:-1].to_csv(tmp_path / "psm" / "test_label.csv", index=False)
    with pytest.raises(DataError, match="has 119 labels but test.csv has 120 rows"):
        read_dataset(tmp_path / "psm")
    labels.loc[labels.index[0], "timestamp_(min)"] = 5.5
    labels.to_csv(tmp_path / "psm" / "test_label.csv", index=False)
    with pytest.raises(DataError, match="no label for test timestamp"):
        read_dataset(tmp_path / "psm")


def test_cli_one_line_errors_for_benchmark_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tm" / "train").mkdir(parents=True)
    (tmp_path / "tm" / "test").mkdir()
    np.save(tmp_path / "tm" / "train" / "A-1.npy", np.zeros((5, 2)))
    result = runner.invoke(app, ["train", "tm"])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert text.startswith("error:") and "no labeled_anomalies.csv" in text and "Traceback" not in text
    result = runner.invoke(app, ["train", "tm", "--adapter", "nope"])
    assert result.exit_code == 1 and "unknown adapter 'nope'; installed: csv, parquet, nasa, swat, psm" in " ".join(result.output.split())


def test_adapters_command_lists_the_builtins_and_the_benchmark_plugin():
    result = runner.invoke(app, ["adapters"])
    assert result.exit_code == 0, result.output
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in result.output.splitlines() if "│" in line]
    listed = {(row[0], row[1]) for row in rows if row[0]}  # (name, package) of each adapter's first table line
    assert listed == {("csv", "jepawatch"), ("parquet", "jepawatch"), ("nasa", "jepawatch-adapters"),
                      ("swat", "jepawatch-adapters"), ("psm", "jepawatch-adapters"),
                      ("prometheus", "jepawatch-adapters")}


def test_malformed_adapter_option_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["train", "x.csv", "--adapter-option", "spacecraft"])
    assert result.exit_code == 1 and "write KEY=VALUE" in result.output
