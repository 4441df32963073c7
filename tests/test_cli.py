"""The CLI as a user meets it: train, info, and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

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
    closing = " ".join(result.output.split())  # the closing line: kept epoch, its loss, codes, time, bundle
    for fragment in ("kept epoch", "of 2: validation loss", "codes in use (perplexity", "trained in",
                     f"bundle {Path('models') / 'metrics'}"):
        assert fragment in closing, closing
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
        # 3 windows of 20 train, but leave no held-out window to calibrate the risk on (was an internal error)
        (lambda p: make_frame(rows=70).to_csv(p, index=False), ["too few for the label-free risk's calibration",
                                                                 "at least 80 rows"]),
        (lambda p: p.write_bytes(bytes(range(256)) * 20), ["not a text file"]),
    ],
    ids=["missing", "empty", "header-only", "no-numeric", "too-short", "too-short-to-calibrate", "binary"],
)
def test_bad_data_gets_one_line(tmp_path, monkeypatch, setup, fragments):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bad.csv"
    setup(path)
    assert_one_line_error(run("train", str(path), "--epochs", "1", *tiny_args()), *fragments)
    assert not (tmp_path / "models" / "bad").exists()  # nothing trained, nothing written


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


# --- operations: what the machine refuses is one line, never "internal error" ------------------------

@pytest.fixture(scope="module")
def ops(tmp_path_factory):
    """A tiny bundle and a data file for the operational checks."""
    from jepawatch.jobs.train import TrainRequest, train
    from conftest import tiny_run

    root = tmp_path_factory.mktemp("ops")
    make_frame(rows=600).to_csv(root / "data.csv", index=False)
    bundle = train(TrainRequest(data=root / "data.csv", run=tiny_run(epochs=1), out_dir=root / "models"), warn=lambda m: None)
    return root, bundle


def test_operational_failures_are_one_line_errors(ops, tmp_path):
    root, bundle = ops
    data = str(root / "data.csv")
    (tmp_path / "a-dir.jsonl").mkdir()
    (tmp_path / "plain").write_text("a file, not a directory")
    cases = [
        (["score", data, "--model", str(bundle), "--out", str(tmp_path / "a-dir.jsonl")], "is a directory"),
        (["score", data, "--model", str(bundle), "--batch-size", "0"], "--batch-size must be at least 1"),
        (["score", data, "--model", str(bundle), "--out", str(tmp_path / "plain" / "s.jsonl")], "Not a directory"),
        (["score", data, "--model", str(bundle), "--state", str(tmp_path / "plain" / "st.json")], "Not a directory"),
        (["train", data, "--out", str(tmp_path / "plain" / "models"), *tiny_args()], "Not a directory"),
        (["train", data, "--out", str(tmp_path / "m"), *tiny_args(), "--set", "model.n_patches=0"], "n_patches must be at least 1"),
    ]
    for args, fragment in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 1, (args, result.output)
        assert_one_line_error(result, fragment)
        assert "internal error" not in result.output, (args, result.output)


def _limited(args: list[str], max_bytes: int):
    """Run jepawatch with a file size limit (`ulimit -f`): writing past it fails with EFBIG."""
    import resource
    import signal
    import subprocess
    import sys

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return subprocess.run([sys.executable, "-m", "jepawatch", *args], capture_output=True, text=True, preexec_fn=limit,
                          timeout=300)


def test_a_file_too_large_is_one_line_for_score_and_train(ops, tmp_path):
    root, bundle = ops
    for args in (["score", str(root / "data.csv"), "--model", str(bundle), "--out", str(tmp_path / "s.jsonl")],
                 ["train", str(root / "data.csv"), "--out", str(tmp_path / "models"), *tiny_args(), "--epochs", "1"]):
        result = _limited(args, 4000)
        err = result.stderr.strip()
        assert result.returncode == 1, (args, err)
        last = err.splitlines()[-1]
        assert last.startswith("error:") and "File too large" in last and "internal error" not in err, (args, err)


def test_a_closed_stdout_ends_quietly_with_0(ops):
    import subprocess
    import sys

    root, bundle = ops
    for args in (["score", str(root / "data.csv"), "--model", str(bundle)], ["--help"], ["score", "--help"]):
        process = subprocess.Popen([sys.executable, "-m", "jepawatch", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        process.stdout.close()  # `| head -1` that has already gone
        err = process.stderr.read().decode()
        assert process.wait(120) == 0, (args, err)
        assert "error" not in err and "Traceback" not in err, (args, err)


def test_temporaries_left_by_a_killed_run_are_removed_by_the_next(ops, tmp_path):
    root, bundle = ops
    state, out = tmp_path / "st.json", tmp_path / "out.jsonl"
    leftovers = [tmp_path / ".st.json.k9abc_12.tmp", tmp_path / ".out.jsonl.x7y8z9w0.tmp"]
    unrelated = [tmp_path / ".other.csv.abcdefgh.tmp", tmp_path / "out.jsonl.notours.tmp"]
    for path in leftovers + unrelated:
        path.write_text("half written")
    result = runner.invoke(app, ["score", str(root / "data.csv"), "--model", str(bundle), "--state", str(state), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert not any(p.exists() for p in leftovers) and all(p.exists() for p in unrelated)


def test_paths_that_are_not_plain_files_are_named_for_what_they_are(ops, tmp_path):
    import os
    import subprocess
    import sys

    root, bundle = ops
    (tmp_path / "loop1.csv").symlink_to(tmp_path / "loop2.csv")
    (tmp_path / "loop2.csv").symlink_to(tmp_path / "loop1.csv")
    (tmp_path / "dangling.csv").symlink_to(tmp_path / "gone.csv")
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes((root / "data.csv").read_text().encode("utf-16-le"))
    duplicated = tmp_path / "dup.csv"
    lines = (root / "data.csv").read_text().splitlines()
    duplicated.write_text("\n".join([lines[0].replace("ch2", "ch1"), *lines[1:]]) + "\n")
    model = ["--model", str(bundle)]
    follow = ["--follow", "--jsonl", "--stop-after-idle", "0.2"]
    cases = [
        (["score", str(tmp_path / "loop1.csv"), *model], "is a symlink loop"),
        (["watch", str(tmp_path / "loop1.csv"), *model, *follow], "is a symlink loop"),
        (["watch", str(tmp_path / "loop1.csv"), *model, "--replay"], "is a symlink loop"),
        (["score", str(tmp_path / "dangling.csv"), *model], "which does not exist"),
        (["score", str(utf16), *model], "UTF-16 text without a byte-order mark"),
        (["watch", str(utf16), *model, "--replay"], "UTF-16 text without a byte-order mark"),
        (["watch", str(utf16), *model, *follow], "UTF-16 text without a byte-order mark"),
        (["score", str(duplicated), *model], "'ch1' appears more than once"),
        (["watch", str(duplicated), *model, "--replay"], "'ch1' appears more than once"),
        (["watch", str(duplicated), *model, *follow], "'ch1' appears more than once"),
    ]
    for args, fragment in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 1, (args, result.output)
        assert_one_line_error(result, fragment)
    fifo = tmp_path / "live.csv"
    os.mkfifo(fifo)
    try:  # a FIFO would block open() for ever; it is refused at once
        done = subprocess.run([sys.executable, "-m", "jepawatch", "watch", str(fifo), *model, *follow],
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("watch --follow on a FIFO blocked")
    assert done.returncode == 1 and "is not a regular file" in done.stderr, done.stderr


def test_sigterm_stops_training_keeping_the_checkpoint_with_143(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    make_frame(rows=2000).to_csv(tmp_path / "big.csv", index=False)
    models = tmp_path / "models"
    process = subprocess.Popen([sys.executable, "-m", "jepawatch", "train", str(tmp_path / "big.csv"), "--out", str(models),
                                "--name", "m", "--epochs", "200", *tiny_args()],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoint = models / "m" / "checkpoint.safetensors"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    assert checkpoint.exists(), "no epoch finished"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    flat = " ".join(err.split())
    assert process.returncode == 143, err
    assert "error: training terminated (SIGTERM)" in flat and "checkpoint" in flat and "--resume" in flat, err


def test_a_bare_bundle_name_is_looked_up_in_the_models_directory_first(ops, tmp_path, monkeypatch):
    import shutil

    root, bundle = ops
    models = tmp_path / "models"
    shutil.copytree(bundle, models / "data")
    (models / "LATEST").write_text("data\n")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()  # a data/ folder beside data.csv, as in the issue
    shutil.copy(root / "data.csv", tmp_path / "data.csv")
    for args in (["score", "data.csv"], ["score", "data.csv", "--model", "data"], ["info"], ["info", "data"]):
        result = runner.invoke(app, [*args, "--models-dir", str(models)] if args[0] == "score" else args)
        assert result.exit_code == 0, (args, result.output)
    result = runner.invoke(app, ["score", "data.csv", "--model", "./data"])  # a path is a path
    assert_one_line_error(result, "not a model bundle")


def test_messages_on_a_non_terminal_stderr_are_never_wrapped(ops, tmp_path):
    root, bundle = ops
    deep = tmp_path / ("a-rather-long-directory-name-" * 3) / "scores-of-the-metrics-file.jsonl"
    result = runner.invoke(app, ["score", str(root / "data.csv"), "--model", str(bundle), "--out", str(deep)])
    assert result.exit_code == 0, result.output
    summary = [line for line in result.stderr.splitlines() if "scored" in line]
    assert len(summary) == 1 and summary[0].endswith(str(deep)) and len(summary[0]) > 80, result.stderr


def test_bundles_get_the_umasks_modes(tmp_path):
    import os
    import stat

    from jepawatch.jobs.train import TrainRequest, train
    from conftest import tiny_run

    make_frame(rows=300).to_csv(tmp_path / "d.csv", index=False)
    previous = os.umask(0o022)
    try:
        path = train(TrainRequest(data=tmp_path / "d.csv", run=tiny_run(epochs=1), out_dir=tmp_path / "models"),
                     warn=lambda m: None)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in path.iterdir()} == {0o644}


def test_permission_denied_on_the_output_is_one_line(ops, tmp_path, monkeypatch):
    import errno
    import os

    from jepawatch import atomic

    root, bundle = ops

    def refused(*args, dir=None, **kwargs):  # what mkstemp meets in a directory this user cannot write (not root)
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dir))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refused)
    result = runner.invoke(app, ["score", str(root / "data.csv"), "--model", str(bundle), "--out", str(tmp_path / "s.jsonl")])
    assert result.exit_code == 1, result.output
    assert_one_line_error(result, f"{tmp_path}: Permission denied", "check the permissions")
