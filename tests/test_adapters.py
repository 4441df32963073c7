"""The adapter contract, the CSV and Parquet adapters, and the plugin registry."""

from __future__ import annotations

import gzip
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jepawatch.adapters import (
    Adapter,
    AdapterError,
    AdapterRegistry,
    Dataset,
    ReadOptions,
    Series,
    hookimpl,
    iter_batches,
    read_dataset,
)
from jepawatch.data.preprocess import Preprocessor, fill_forward
from jepawatch.errors import DataError, JepawatchError

from conftest import make_frame


def read(path, **options) -> Series:
    return read_dataset(Path(path), options.pop("adapter", None), ReadOptions(**options)).part("train")


# --- CSV ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_csv_delimiters_read_the_same(tmp_path, sep):
    frame = make_frame(rows=50)
    frame.to_csv(tmp_path / "d.csv", sep=sep, index=False)
    series = read(tmp_path / "d.csv")
    assert series.channels == ["ch0", "ch1", "ch2", "flag"]
    np.testing.assert_allclose(series.values, frame[series.channels].to_numpy(), rtol=1e-6)
    assert series.values.dtype == np.float32 and series.values.shape == (50, 4)
    assert series.metadata["timestamp_column"] == "timestamp"
    assert series.timestamps.dtype.kind == "M"


def test_semicolon_csv_with_decimal_commas(tmp_path):
    (tmp_path / "eu.csv").write_text("zeit;temp;druck\n2026-01-01 00:00;1,5;10,25\n2026-01-01 00:01;2,5;11,0\n")
    series = read(tmp_path / "eu.csv", timestamp_column="zeit")
    np.testing.assert_allclose(series.values, [[1.5, 10.25], [2.5, 11.0]])


def test_utf16_tab_export_from_excel_is_text(tmp_path):
    make_frame(rows=20).to_csv(tmp_path / "u.csv", sep="\t", index=False, encoding="utf-16")
    make_frame(rows=20).to_csv(tmp_path / "p.csv", index=False)
    np.testing.assert_array_equal(read(tmp_path / "u.csv").values, read(tmp_path / "p.csv").values)


def test_headerless_numeric_csv_gets_generated_names(tmp_path):
    (tmp_path / "raw.csv").write_text("1,2,3\n4,5,6\n7,8,9\n")
    series = read(tmp_path / "raw.csv")
    assert series.channels == ["c0", "c1", "c2"]
    np.testing.assert_array_equal(series.values[0], [1, 2, 3])  # the first row is data, not a header


def test_gzip_csv_equals_plain_csv(tmp_path):
    frame = make_frame(rows=80)
    frame.to_csv(tmp_path / "d.csv", index=False)
    with gzip.open(tmp_path / "d.csv.gz", "wt") as handle:
        frame.to_csv(handle, index=False)
    np.testing.assert_array_equal(read(tmp_path / "d.csv").values, read(tmp_path / "d.csv.gz").values)


def test_timestamp_found_by_parsing_and_by_flag(tmp_path):
    frame = make_frame(rows=20).rename(columns={"timestamp": "when"})
    frame.to_csv(tmp_path / "d.csv", index=False)
    assert read(tmp_path / "d.csv").metadata["timestamp_column"] == "when"
    frame["epoch"] = np.arange(20) * 60
    frame.to_csv(tmp_path / "e.csv", index=False)
    series = read(tmp_path / "e.csv", timestamp_column="epoch")
    assert "epoch" not in series.channels and series.timestamps[1] == 60
    with pytest.raises(DataError, match="no column 'nope' for --timestamp-col"):
        read(tmp_path / "e.csv", timestamp_column="nope")


def test_label_column_found_parsed_and_never_a_channel(tmp_path):
    frame = make_frame(rows=10)
    frame["label"] = [0, 1] * 5
    frame.to_csv(tmp_path / "auto.csv", index=False)
    series = read(tmp_path / "auto.csv")
    assert "label" not in series.channels
    np.testing.assert_array_equal(series.labels, [0, 1] * 5)
    assert "label" in read(tmp_path / "auto.csv", label_column=None).channels  # --label-col none

    frame = make_frame(rows=4).assign(incident=["false", "TRUE", "True", "false"])
    frame.to_csv(tmp_path / "bool.csv", index=False)
    np.testing.assert_array_equal(read(tmp_path / "bool.csv", label_column="incident").labels, [0, 1, 1, 0])

    frame = make_frame(rows=4).assign(incident=[0, 2, 1, 0])
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="not 0/1"):
        read(tmp_path / "bad.csv", label_column="incident")


def test_stray_words_become_missing_cells_and_text_columns_are_dropped(tmp_path):
    rows = 200_000  # past pyarrow's first block, so the whole-file fallback is exercised
    a = np.arange(rows).astype(str).astype(object)
    a[rows - 3] = "error"
    frame = pd.DataFrame({"a": a, "b": np.ones(rows), "host": ["web"] * rows})
    frame.to_csv(tmp_path / "d.csv", index=False)
    series = read(tmp_path / "d.csv")
    assert series.channels == ["a", "b"]
    assert series.metadata["dropped_columns"] == {"host": "not numeric"}
    assert series.metadata["unparsed_cells"] == 1 and np.isnan(series.values[rows - 3, 0])
    assert series.missing_cells() == 1


def test_csv_streams_in_batches_that_add_up_to_the_whole_file(tmp_path):
    frame = make_frame(rows=1000)
    frame["label"] = (np.arange(1000) % 7 == 0).astype(int)
    frame.to_csv(tmp_path / "d.csv", index=False)
    batches = list(iter_batches(tmp_path / "d.csv", batch_rows=300))
    assert [b.n_steps for b in batches] == [300, 300, 300, 100]
    whole = read(tmp_path / "d.csv")
    joined = Series.concat(batches)
    np.testing.assert_array_equal(joined.values, whole.values)
    np.testing.assert_array_equal(joined.labels, whole.labels)
    np.testing.assert_array_equal(joined.timestamps, whole.timestamps)


# --- Parquet -----------------------------------------------------------------------------------

def test_parquet_reads_like_csv_and_projects_columns(tmp_path):
    frame = make_frame(rows=100).assign(host="web", label=0)
    frame.to_parquet(tmp_path / "d.parquet")
    frame.to_csv(tmp_path / "d.csv", index=False)
    pq_series, csv_series = read(tmp_path / "d.parquet"), read(tmp_path / "d.csv")
    assert pq_series.channels == csv_series.channels
    np.testing.assert_array_equal(pq_series.values, csv_series.values)
    assert pq_series.metadata["dropped_columns"] == {"host": "not numeric"}
    only = read(tmp_path / "d.parquet", columns=("ch2", "ch0"))
    assert only.channels == ["ch2", "ch0"]
    np.testing.assert_array_equal(only.values, csv_series.values[:, [2, 0]])
    with pytest.raises(DataError, match="lacks channels the model needs: 'cpu'"):
        read(tmp_path / "d.parquet", columns=("ch0", "cpu"))
    with pytest.raises(DataError, match="'host' is not numeric"):
        read(tmp_path / "d.parquet", columns=("host",))


def test_parquet_streams_row_group_by_row_group(tmp_path):
    frame = make_frame(rows=1000)
    frame.to_parquet(tmp_path / "d.parquet", row_group_size=250)
    batches = list(iter_batches(tmp_path / "d.parquet", batch_rows=100))
    assert sum(b.n_steps for b in batches) == 1000 and max(b.n_steps for b in batches) <= 100
    np.testing.assert_array_equal(Series.concat(batches).values, read(tmp_path / "d.parquet").values)


# --- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("empty.csv", b"", "is empty"),
        ("blank.csv", b"\n\n  \n", "has no rows"),
        ("header.csv", b"a,b,c\n", "no data rows"),
        ("binary.csv", bytes(range(256)) * 8, "not a text file"),
        ("words.csv", b"name,host\nx,y\nz,w\n", "no numeric column"),
        ("dupes.csv", b"a,a,b\n1,2,3\n4,5,6\n", "appears more than once"),
        ("ragged.csv", b"a,b\n1,2\n3,4,5,6\n7,8\n", "could not be parsed as CSV"),
        ("bad.csv.gz", b"\x1f\x8b\x08\x00garbage", "could not be read"),
        ("bad.parquet", b"PAR1 this is not parquet", "could not be read as Parquet"),
        ("empty.parquet", None, "no rows"),
    ],
)
def test_bad_files_are_refused_with_a_data_error(tmp_path, name, content, fragment):
    path = tmp_path / name
    if content is None:
        pd.DataFrame({"a": pd.Series([], dtype=float)}).to_parquet(path)
    else:
        path.write_bytes(content)
    with pytest.raises(DataError, match=fragment):
        read(path)


def test_a_folder_of_no_benchmark_and_a_fifo_are_said_as_what_they_are(tmp_path):
    import os

    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "notes.md").write_text("# nothing tabular here\n")
    with pytest.raises(DataError, match=r"logs is a folder that no installed adapter recognises as a benchmark layout"):
        read(folder)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.csv")
        with pytest.raises(DataError, match=r"pipe.csv is not a regular file \(a FIFO"):
            read(tmp_path / "pipe.csv")


def test_a_label_named_column_that_is_not_zero_one_is_a_channel_said_so(tmp_path):
    from jepawatch.adapters import reading_report
    from jepawatch.adapters.quality import ReadTally

    path = tmp_path / "d.csv"
    pd.DataFrame({"x": np.arange(50.0), "label": np.arange(50) % 3}).to_csv(path, index=False)  # 0, 1 and 2
    series = read(path)
    assert series.channels == ["x", "label"] and series.labels is None
    lines = reading_report(read_dataset(path, None, ReadOptions()), series)
    assert any("column 'label' is named like a label column but holds values other than 0/1" in line for line in lines)
    tally = ReadTally("d.csv")
    tally.add(series)
    assert "--label-col none" in tally.warning()
    pd.DataFrame({"x": np.arange(50.0), "label": np.arange(50) % 2}).to_csv(path, index=False)  # a real label
    series = read(path)
    assert series.channels == ["x"] and not any("named like a label" in line for line in
                                                 reading_report(read_dataset(path, None, ReadOptions()), series))


def test_a_url_goes_to_the_adapter_of_its_scheme_and_options_are_given_once(tmp_path):
    from jepawatch.adapters import AdapterRegistry

    builtins = AdapterRegistry.load(selection="")  # csv and parquet only: no adapter reads a server
    with pytest.raises(DataError, match=r"no installed adapter reads ftp:// sources"):
        read_dataset("ftp://example.org/data", None, ReadOptions(), registry=builtins)
    path = tmp_path / "d.csv"
    pd.DataFrame({"x": np.arange(10.0)}).to_csv(path, index=False)
    with pytest.raises(DataError, match="has no option 'a'"):
        read_dataset(path, None, ReadOptions(extra={"a": ("1", "2")}), registry=builtins)


def test_a_header_less_files_zero_one_last_column_is_a_channel_said_so(tmp_path):
    from jepawatch.adapters import reading_report

    path = tmp_path / "d.csv"
    rows = np.column_stack([np.sin(np.arange(60.0)), np.cos(np.arange(60.0)), np.arange(60) % 7 == 3])
    np.savetxt(path, rows, delimiter=",", fmt=["%.4f", "%.4f", "%d"])  # no header: c0, c1, c2
    series = read(path)
    assert series.channels == ["c0", "c1", "c2"] and series.labels is None
    lines = reading_report(read_dataset(path, None, ReadOptions()), series)
    assert any("column c2, the last of a file without a header, holds only 0 and 1" in line
               and "--label-col c2" in line for line in lines), lines
    labelled = read(path, label_column="c2")
    assert labelled.channels == ["c0", "c1"] and labelled.labels.sum() == 9
    assert not any("without a header" in line for line in reading_report(read_dataset(path, None, ReadOptions(label_column="c2")), labelled))
    np.savetxt(path, rows[:, [0, 2, 1]], delimiter=",", fmt=["%.4f", "%d", "%.4f"])  # a 0/1 channel not last: quiet
    series = read(path)
    assert not any("without a header" in line for line in reading_report(read_dataset(path, None, ReadOptions()), series))


def test_a_last_line_cut_short_is_left_out_and_said_and_a_delimiter_switch_is_named(tmp_path):
    from jepawatch.adapters import reading_report
    from jepawatch.adapters.quality import ReadTally

    lines = ["timestamp,a,b,label"] + [f"2026-01-01 00:{i // 60:02d}:{i % 60:02d},{i % 7}.5,{i % 5}.25,{int(i % 50 == 0)}"
                                       for i in range(300)]
    path = tmp_path / "cut.csv"
    path.write_text("\n".join(lines) + "\n2026-01-01 00:05:00,0.1")  # the writer was cut off mid-line
    dataset = read_dataset(path, None, ReadOptions())
    series = dataset.part("train")
    assert series.channels == ["a", "b"] and series.n_steps == 300 and series.labels.sum() == 6
    assert "the last line is cut short (no label): left out" in reading_report(dataset, series)
    tally = ReadTally("cut.csv")
    tally.add(series)
    assert "cut.csv: the last line is cut short" in tally.warning()
    switched = tmp_path / "switched.csv"  # the second half written with another delimiter
    switched.write_text("\n".join(lines[:151] + [line.replace(",", ";") for line in lines[151:]]) + "\n")
    with pytest.raises(DataError, match=r"empty cells, the first in data row 151 .*a delimiter that changes"):
        read(switched, label_column="label")


def test_unknown_and_unrecognised_inputs_list_the_candidates(tmp_path):
    (tmp_path / "notes.md").write_text("# nothing tabular here\n")
    with pytest.raises(DataError, match=r"no installed adapter can read .*csv: \.csv"):
        read(tmp_path / "notes.md")
    (tmp_path / "d.csv").write_text("a\n1\n")
    with pytest.raises(AdapterError, match=r"unknown adapter 'excel'; installed: csv, parquet, nasa"):
        read(tmp_path / "d.csv", adapter="excel")
    with pytest.raises(DataError, match="'csv' has no option 'spacecraft'"):
        read(tmp_path / "d.csv", extra={"spacecraft": "MSL"})


# --- missing cells -----------------------------------------------------------------------------

def test_missing_cells_take_the_last_value_then_the_training_mean():
    values = np.array([[np.nan, 1.0], [2.0, np.nan], [np.nan, np.nan], [4.0, 5.0]], dtype=np.float32)
    filled, last = fill_forward(values)
    np.testing.assert_array_equal(filled, [[0, 1], [2, 1], [2, 1], [4, 5]])
    # across batches, the carried row fills the next batch's leading gap
    again, _ = fill_forward(np.array([[np.nan, 7.0]], dtype=np.float32), last)
    np.testing.assert_array_equal(again, [[4, 7]])
    prep = Preprocessor.fit(np.array([[1.0, np.nan], [3.0, np.nan], [np.nan, np.nan]]), ["a", "empty"])
    assert prep.kept == [True, False] and prep.mean == [2.0]  # NaN ignored; an empty channel is dropped
    assert not np.isnan(prep.transform(np.array([[np.nan, 0.0]]), ["a", "empty"])).any()


# --- plugins -----------------------------------------------------------------------------------

class WordsAdapter(Adapter):
    """A third party's format: one number per line in a `.words` file."""

    name = "words"
    description = "one number per line"
    formats = (".words",)

    def sniff(self, path):
        return 1.0 if path.suffix == ".words" else 0.0

    def read(self, path, options):
        numbers = np.array([float(x) for x in path.read_text().split()], dtype=np.float32)
        return Dataset(source=str(path), adapter=self.name, series=Series(numbers[:, None], ["value"]))


class WordsPlugin:
    @hookimpl
    def register_adapters(self, register):
        register(WordsAdapter())


def test_builtins_come_through_the_hook_and_the_env_var_limits_plugins(monkeypatch, fresh_registry):
    assert [i.name for i in AdapterRegistry.load("").infos()] == ["csv", "parquet"]
    everything = AdapterRegistry.load("jepawatch-adapters").infos()
    assert {i.name: i.package for i in everything} == {
        "csv": "jepawatch", "parquet": "jepawatch",
        "nasa": "jepawatch-adapters", "swat": "jepawatch-adapters", "psm": "jepawatch-adapters",
        "prometheus": "jepawatch-adapters",
    }
    with pytest.raises(AdapterError, match="JEPAWATCH_PLUGINS names no-such-plugin"):
        AdapterRegistry.load("no-such-plugin")


def test_a_registered_plugin_is_chosen_by_sniffing(tmp_path):
    registry = AdapterRegistry.load("")
    registry.add_plugin(WordsPlugin(), package="words-plugin")
    (tmp_path / "x.words").write_text("1 2 3")
    dataset = read_dataset(tmp_path / "x.words", registry=registry)
    assert dataset.adapter == "words" and dataset.series.values[:, 0].tolist() == [1, 2, 3]
    assert ("words", "words-plugin") in [(i.name, i.package) for i in registry.infos()]
    with pytest.raises(AdapterError, match="two plugins register an adapter named 'words'"):
        registry.add_plugin(WordsPlugin(), name="again")


def test_equally_sure_adapters_are_ambiguous(tmp_path):
    class Twin(WordsAdapter):
        name = "twin"

    class TwinPlugin:
        @hookimpl
        def register_adapters(self, register):
            register(Twin())

    registry = AdapterRegistry.load("")
    registry.add_plugin(WordsPlugin())
    registry.add_plugin(TwinPlugin())
    (tmp_path / "x.words").write_text("1")
    with pytest.raises(DataError, match=r"several adapters \((words, twin|twin, words)\); choose one with --adapter"):
        read_dataset(tmp_path / "x.words", registry=registry)
    assert read_dataset(tmp_path / "x.words", "twin", registry=registry).adapter == "twin"


def test_an_adapter_breaking_the_contract_is_named():
    with pytest.raises(AdapterError, match="float32"):
        Series(np.zeros((3, 2)), ["a", "b"])
    with pytest.raises(AdapterError, match="3 steps"):
        Series(np.zeros((3, 2), np.float32), ["a", "b"], labels=np.zeros(2, np.uint8))


def write_fake_distribution(root: Path) -> None:
    """An installed third-party plugin: a module plus dist-info with a `jepawatch` entry point."""
    root.mkdir()
    (root / "tab_words_plugin.py").write_text(textwrap.dedent('''
        import numpy as np
        from jepawatch.adapters import Adapter, Dataset, Series, hookimpl

        class TabWords(Adapter):
            name = "tabwords"
            description = "rows of whitespace-separated numbers"
            formats = (".tw",)

            def sniff(self, path):
                return 1.0 if path.suffix == ".tw" else 0.0

            def read(self, path, options):
                rows = [[float(x) for x in line.split()] for line in path.read_text().splitlines() if line.strip()]
                values = np.array(rows, dtype=np.float32)
                names = [f"w{i}" for i in range(values.shape[1])]
                return Dataset(source=str(path), adapter=self.name, series=Series(values, names))

        @hookimpl
        def register_adapters(register):
            register(TabWords())
    '''))
    info = root / "tab_words-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tab-words\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[jepawatch]\ntabwords = tab_words_plugin\n")


def test_third_party_plugin_installed_through_the_entry_point(tmp_path, monkeypatch, fresh_registry):
    from typer.testing import CliRunner

    from jepawatch.cli.app import app
    from test_cli import tiny_args

    write_fake_distribution(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("JEPAWATCH_PLUGINS", "jepawatch-adapters,tab-words")
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    lines = [" ".join(f"{v:.4f}" for v in np.sin(np.arange(3) + t / 5) + 0.01 * rng.standard_normal(3)) for t in range(300)]
    (tmp_path / "live.tw").write_text("\n".join(lines))

    runner = CliRunner()
    listing = runner.invoke(app, ["adapters"])
    assert listing.exit_code == 0, listing.output
    assert "tabwords" in listing.output and "tab-words" in listing.output
    trained = runner.invoke(app, ["train", "live.tw", "--epochs", "1", *tiny_args()])
    assert trained.exit_code == 0, trained.output
    assert (tmp_path / "models" / "live" / "weights.safetensors").exists()


def test_without_the_env_var_every_installed_plugin_loads(tmp_path, monkeypatch, fresh_registry):
    write_fake_distribution(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delenv("JEPAWATCH_PLUGINS")
    names = [i.name for i in AdapterRegistry.load().infos()]
    assert {"csv", "parquet", "nasa", "tabwords"} <= set(names)


def test_read_errors_are_jepawatch_errors(tmp_path):
    # the CLI turns exactly these into one line; nothing else may escape an adapter on bad input
    (tmp_path / "x.csv").write_bytes(b"\x00\x01")
    with pytest.raises(JepawatchError):
        read(tmp_path / "x.csv")
