"""The CLI as a user meets it: train, info, and one-line errors for bad input."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from jepawatch.cli.app import app

from conftest import TINY_MTS, make_frame

runner = CliRunner()


def tiny_args() -> list[str]:
    return [arg for item in TINY_MTS for arg in ("--set", item)]


def run(*args: str, cwd=None):
    return runner.invoke(app, list(args))


def assert_one_line_error(result, *fragments: str):
    assert result.exit_code != 0, result.output
    text = result.output.strip()
    assert "Traceback" not in text
    assert text.startswith("error:"), text
    assert len(text.splitlines()) <= 3, text  # one message (a long line may wrap in a narrow terminal)
    flat = " ".join(text.split())
    for fragment in fragments:
        assert fragment in flat, flat


def test_train_then_info(csv_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("train", str(csv_file), "--epochs", "2", *tiny_args())
    assert result.exit_code == 0, result.output
    assert (tmp_path / "models" / "metrics" / "config.json").exists()
    assert "saved" in result.output
    info = run("info")
    assert info.exit_code == 0, info.output
    for fragment in ("metrics", "mts-jepa", "ch0", "flag", "training curve", "code usage"):
        assert fragment in info.output


def test_dropped_columns_and_nans_are_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frame = make_frame()
    frame["host"] = "web-1"
    frame.loc[5:9, "ch1"] = None
    frame.to_csv(tmp_path / "d.csv", index=False)
    result = run("train", "d.csv", "--epochs", "1", *tiny_args())
    assert result.exit_code == 0, result.output
    assert "dropped columns: host (not numeric)" in result.output
    assert "filled 5 missing cells" in result.output


def test_parquet_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_frame().to_parquet(tmp_path / "d.parquet")
    result = run("train", "d.parquet", "--epochs", "1", "--name", "pq", *tiny_args())
    assert result.exit_code == 0, result.output
    assert (tmp_path / "models" / "pq" / "weights.safetensors").exists()


@pytest.mark.parametrize(
    "setup, fragments",
    [
        (lambda p: None, ["no such file"]),
        (lambda p: p.write_text(""), ["is empty"]),
        (lambda p: p.write_text("a,b,c\n"), ["no data rows"]),
        (lambda p: pd.DataFrame({"name": ["x"] * 50, "host": ["y"] * 50}).to_csv(p, index=False), ["no numeric column"]),
        (lambda p: make_frame(rows=30).to_csv(p, index=False), ["fewer than two windows"]),
        (lambda p: p.write_bytes(bytes(range(256)) * 20), ["not a text file"]),
    ],
    ids=["missing", "empty", "header-only", "no-numeric", "too-short", "binary"],
)
def test_bad_data_gets_one_line(tmp_path, monkeypatch, setup, fragments):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bad.csv"
    setup(path)
    assert_one_line_error(run("train", str(path), "--epochs", "1", *tiny_args()), *fragments)


def test_unknown_set_key(csv_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(run("train", str(csv_file), "--set", "model.temprature=0.2"), "did you mean model.temperature")


def test_resume_without_checkpoint_and_with_a_corrupted_one(csv_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(run("train", str(csv_file), "--resume", *tiny_args()), "no checkpoint", "without --resume")
    ckpt = tmp_path / "models" / "metrics" / "checkpoint.safetensors"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"\x00garbage" * 50)
    assert_one_line_error(run("train", str(csv_file), "--resume", *tiny_args()), "corrupted", "delete it")


def test_corrupted_bundle_on_info(csv_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("train", str(csv_file), "--epochs", "1", *tiny_args()).exit_code == 0
    weights = tmp_path / "models" / "metrics" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-7])
    assert_one_line_error(run("info"), "corrupted", "retrain")
    assert_one_line_error(run("info", "nope"), "no model bundle")


def test_no_model_yet(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(run("info"), "no trained model", "jepawatch train")
