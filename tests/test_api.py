"""The Python API: the README's example runs as written, every verb does from Python what its command
does (same rows, same errors), and nothing in the library exits the process."""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import jepawatch
from jepawatch.cli.app import app
from jepawatch.cli.output import finite

from conftest import TINY_MTS, make_frame, make_labelled_frame, tiny_monitor

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()
TINY = dict(item.split("=", 1) for item in TINY_MTS)


def readme_api_code() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_is_the_examples_script():
    script = (REPO / "examples" / "api_quickstart.py").read_text()
    assert readme_api_code() in script, "README's API example and examples/api_quickstart.py differ"


def test_readme_api_example_runs(tmp_path, monkeypatch):
    """The README's code, unchanged, in a fresh directory whose examples/ holds the demo files (the
    training file cut to its first 2,500 rows, so the test takes seconds, not minutes)."""
    (tmp_path / "examples").mkdir()
    train = pd.read_csv(REPO / "examples" / "demo_train.csv", nrows=2500)
    train.to_csv(tmp_path / "examples" / "demo_train.csv", index=False)
    shutil.copy(REPO / "examples" / "demo_live.csv", tmp_path / "examples" / "demo_live.csv")
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        namespace = runpy.run_path(str(REPO / "examples" / "api_quickstart.py"), run_name="__main__")
    monitor = namespace["monitor"]
    assert isinstance(monitor, jepawatch.Monitor) and monitor.name == "demo_train"
    assert monitor.risk_source == "supervised" and (monitor.path / "model.onnx").exists()
    scores = namespace["scores"]
    assert len(scores) == 3000 // 100 - 1 and scores["next_window_risk"].between(0, 1).all()
    assert namespace["report"].to_dict()["model_kind"] == "mts-jepa"


def test_help_documents_every_public_method():
    text = subprocess.run([sys.executable, "-c", "import jepawatch; help(jepawatch.Monitor)"], capture_output=True,
                          text=True, env={**os.environ, "PAGER": "cat"}, check=True).stdout
    public = [name for name in dir(jepawatch.Monitor) if not name.startswith("_")]
    for name in public:
        member = getattr(jepawatch.Monitor, name)
        assert (member.__doc__ or "").strip(), f"Monitor.{name} has no docstring"
        assert name in text
    for name in ("train", "load", "evaluate"):
        assert getattr(jepawatch, name).__doc__


def test_import_does_not_load_torch():
    code = "import sys, jepawatch; assert 'torch' not in sys.modules; jepawatch.Monitor; assert 'torch' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    return root, root / "metrics.csv", tiny_monitor(root, epochs=2)


def test_train_returns_the_bundle_the_cli_finds(trained):
    root, _, monitor = trained
    assert monitor.path == root / "models" / "metrics" and monitor.window == 20
    assert monitor.channels == ["ch0", "ch1", "ch2", "flag"]
    assert jepawatch.load(models_dir=root / "models").path == monitor.path  # the latest
    info = runner.invoke(app, ["info", "--models-dir", str(root / "models"), "--json"])
    assert info.exit_code == 0, info.output
    assert json.loads(info.stdout)["channels_kept"] == monitor.info()["channels_kept"] == ["ch0", "ch1", "ch2"]


def test_score_from_python_is_score_from_the_cli(trained, tmp_path):
    root, _, monitor = trained
    live = tmp_path / "live.csv"
    make_frame(rows=300, seed=3).to_csv(live, index=False)
    frame = monitor.score(live)
    from_frame = monitor.score(pd.read_csv(live))
    cli = runner.invoke(app, ["score", str(live), "--models-dir", str(root / "models"), "--out", str(tmp_path / "s.jsonl")])
    assert cli.exit_code == 0, cli.output
    rows = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert len(frame) == len(rows) == 300 // 20 - 1
    assert frame["next_window_risk"].tolist() == [r["next_window_risk"] for r in rows]
    assert frame["drivers"].tolist() == [r["drivers"] for r in rows]
    pd.testing.assert_frame_equal(frame, from_frame)
    assert frame["window_start"].dtype == "int64" and frame["alert"].dtype == bool
    assert str(frame["end_time"].dtype).startswith("datetime64")


def test_watch_iterator_gives_the_rows_of_score(trained, tmp_path):
    _, _, monitor = trained
    live = tmp_path / "live.csv"
    make_frame(rows=200, seed=4).to_csv(live, index=False)
    rows = list(monitor.watch(live, follow=False))
    assert [r["window_start"] for r in rows] == monitor.score(live)["window_start"].tolist()


def test_train_on_a_dataframe_then_calibrate(tmp_path):
    labelled = make_labelled_frame(rows=2000)
    monitor = jepawatch.train(labelled.drop(columns="label"), epochs=1, preset="paper", settings=TINY,
                              out=tmp_path / "models")
    assert monitor.name == "dataframe" and monitor.risk_source == "label-free"
    result = monitor.calibrate(labelled, label="label")
    assert monitor.risk_source == "supervised" and monitor.alert_at == pytest.approx(result["threshold"])
    assert monitor.score(labelled)["risk_source"].eq("supervised").all()


def test_errors_are_jepawatch_errors_never_system_exit(trained, tmp_path):
    root, data, monitor = trained
    with pytest.raises(jepawatch.BundleError, match="no model bundle 'nope'"):
        jepawatch.load("nope", models_dir=root / "models")
    with pytest.raises(jepawatch.ConfigError, match="unknown setting"):
        jepawatch.train(data, epochs=1, settings={"model.d_modle": 8}, out=tmp_path)
    missing = pd.DataFrame({"ch0": [1.0] * 100})
    with pytest.raises(jepawatch.DataError) as caught:
        monitor.score(missing)
    missing.to_csv(tmp_path / "m.csv", index=False)
    cli = runner.invoke(app, ["score", str(tmp_path / "m.csv"), "--models-dir", str(root / "models")])
    assert cli.exit_code == 1 and str(caught.value).replace("DataFrame", str(tmp_path / "m.csv")) in " ".join(cli.output.split())


def test_library_code_never_exits():
    """`SystemExit` and `typer.Exit` belong to the CLI boundary only."""
    package = Path(jepawatch.__file__).parent
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py") if not p.is_relative_to(package / "cli")
                 and re.search(r"SystemExit|typer\.Exit|sys\.exit\(", p.read_text())]
    assert not offenders, offenders


@pytest.mark.parametrize("command", ["adapters", "info"])
def test_json_output(command, trained):
    root, _, _ = trained
    args = [command, "--json"] + (["--models-dir", str(root / "models")] if command == "info" else [])
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    parsed = json.loads(result.stdout)
    if command == "adapters":
        assert {"csv", "parquet"} <= {a["name"] for a in parsed} and parsed == jepawatch.installed_adapters()
    else:
        assert parsed["model_kind"] == "mts-jepa" and parsed["window"] == 20


def test_calibrate_evaluate_export_agree_between_cli_and_python(tmp_path):
    """The same verb on two copies of one bundle, once from the CLI (--json) and once from Python."""
    labelled = make_labelled_frame(rows=2000)
    labelled.drop(columns="label").to_csv(tmp_path / "train.csv", index=False)
    labelled.to_csv(tmp_path / "labelled.csv", index=False)
    trained = runner.invoke(app, ["train", str(tmp_path / "train.csv"), "--out", str(tmp_path / "models"), "--epochs", "1",
                                  "--preset", "paper", "--json", *[a for s in TINY_MTS for a in ("--set", s)]])
    assert trained.exit_code == 0, trained.output
    summary = json.loads(trained.stdout)
    assert summary["name"] == "train" and summary["epochs_run"] == 1 and summary["window"] == 20
    cli_copy, api_copy = tmp_path / "cli", tmp_path / "api"
    shutil.copytree(summary["bundle"], cli_copy)
    shutil.copytree(summary["bundle"], api_copy)

    cli = runner.invoke(app, ["calibrate", str(tmp_path / "labelled.csv"), "--model", str(cli_copy), "--json"])
    assert cli.exit_code == 0, cli.output
    monitor = jepawatch.load(api_copy)
    assert json.loads(cli.stdout)["threshold"] == pytest.approx(monitor.calibrate(tmp_path / "labelled.csv")["threshold"])

    cli = runner.invoke(app, ["evaluate", str(tmp_path / "labelled.csv"), "--model", str(cli_copy), "--seeds", "1", "--json"])
    assert cli.exit_code == 0, cli.output
    from_cli = json.loads(cli.stdout)
    report = jepawatch.evaluate(monitor, tmp_path / "labelled.csv", seeds=1)
    from_python = finite(report.to_dict())  # NaN as JSON's null
    assert from_cli["model_head"]["auc"] == from_python["model_head"]["auc"]
    table = report.table()
    assert list(table.columns) == ["model_head", "raw_stats_head", "label_free"]
    assert table.loc["AUC (paper)", "model_head"] == pytest.approx(100 * from_cli["model_head"]["auc"]["mean"])
    assert from_cli["early_warning"]["events"] == from_python["early_warning"]["events"]

    cli = runner.invoke(app, ["export", "--onnx", "--model", str(cli_copy), "--json"])
    assert cli.exit_code == 0, cli.output
    exported = json.loads(cli.stdout)
    assert exported["recorded"] and Path(exported["path"]) == cli_copy / "model.onnx"
    assert exported["max_abs_diff"] == jepawatch.load(cli_copy).bundle.onnx["max_abs_diff"]  # what the bundle records


def test_verbs_refuse_bad_options_alike_from_cli_and_python(trained, tmp_path):
    root, data, monitor = trained
    models = str(root / "models")
    for args, call, fragment in (
        (["score", str(data), "--models-dir", models, "--stride", "-1"], lambda: monitor.score(data, stride=-1), "--stride"),
        (["watch", str(data), "--models-dir", models, "--replay", "--speed", "fast"],
         lambda: list(monitor.watch(data, follow=False, speed="fast")), "--speed"),
        (["calibrate", str(data), "--models-dir", models, "--train-fraction", "1.5"],
         lambda: monitor.calibrate(data, train_fraction=1.5), "--train-fraction"),
        (["evaluate", str(data), "--models-dir", models, "--seeds", "0"], lambda: jepawatch.evaluate(monitor, data, seeds=0),
         "--seeds"),
    ):
        result = runner.invoke(app, args)
        with pytest.raises(jepawatch.JepawatchError) as caught:
            call()
        assert result.exit_code == 1 and fragment in str(caught.value)
        assert " ".join(result.output.split()) == f"error: {caught.value}"
