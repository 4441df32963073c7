"""Bundles round-trip from their files alone, and a damaged bundle is refused."""

from __future__ import annotations

import json

import pytest
import torch

from jepawatch.bundle import load_bundle, resolve_bundle_path
from jepawatch.errors import BundleError
from jepawatch.jobs.train import TrainRequest, train

from conftest import tiny_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from conftest import make_frame
    root = tmp_path_factory.mktemp("bundle")
    csv = root / "metrics.csv"
    make_frame().to_csv(csv, index=False)
    path = train(TrainRequest(data=csv, run=tiny_run(epochs=2, seed=1), out_dir=root / "models"), warn=lambda m: None)
    return path


def test_bundle_round_trips(trained):
    a = load_bundle(trained)
    b = load_bundle(trained)
    assert a.run == b.run and a.run.model.n_channels == 3
    x = torch.randn(2, 20, 3)
    torch.testing.assert_close(a.model.encode_window(x).codes.probs, b.model.encode_window(x).codes.probs)
    files = {p.name for p in trained.iterdir()}
    assert files == {"config.json", "weights.safetensors", "preprocess.json", "history.json", "code_frequencies.json", "risk.json"}
    assert not any(p.suffix in (".pt", ".pkl", ".pth") for p in trained.iterdir())


def test_latest_and_names_resolve(trained):
    models = trained.parent
    assert resolve_bundle_path(None, models) == models / "metrics"
    assert resolve_bundle_path("metrics", models) == models / "metrics"
    with pytest.raises(BundleError, match="bundles in"):
        resolve_bundle_path("nope", models)
    with pytest.raises(BundleError, match="jepawatch train"):
        resolve_bundle_path(None, models.parent / "empty")


@pytest.mark.parametrize("damage", ["flip_weights", "truncate_weights", "delete_preprocess", "garbage_config"])
def test_damaged_bundles_are_refused(trained, tmp_path, damage):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    if damage == "flip_weights":
        data = bytearray((copy / "weights.safetensors").read_bytes())
        data[-10] ^= 0xFF
        (copy / "weights.safetensors").write_bytes(bytes(data))
    elif damage == "truncate_weights":
        (copy / "weights.safetensors").write_bytes((copy / "weights.safetensors").read_bytes()[:100])
    elif damage == "delete_preprocess":
        (copy / "preprocess.json").unlink()
    else:
        (copy / "config.json").write_text("{not json")
    with pytest.raises(BundleError, match="corrupted"):
        load_bundle(copy)


def test_config_json_records_everything_needed(trained):
    config = json.loads((trained / "config.json").read_text())
    assert config["model_kind"] == "mts-jepa"
    assert set(config) >= {"model", "train", "data", "files", "jepawatch_version", "created"}
    assert config["data"]["channels_in"] == 4 and config["data"]["channels_kept"] == 3


# --- hostile or diverged bundles: one-line errors, found at load time ----------------------------

def _rechecksum(copy) -> None:
    from jepawatch.bundle import _sha256

    config = json.loads((copy / "config.json").read_text())
    config["files"] = {name: _sha256(copy / name) for name in config["files"]}
    (copy / "config.json").write_text(json.dumps(config))


def _edit_json(name: str, change):
    def edit(copy):
        data = json.loads((copy / name).read_text())
        change(data)
        (copy / name).write_text(json.dumps(data))
    return edit


def _add_json(name: str, content):
    def add(copy):
        (copy / name).write_text(json.dumps(content))
        config = json.loads((copy / "config.json").read_text())
        config["files"][name] = ""  # checksummed by _rechecksum
        (copy / "config.json").write_text(json.dumps(config))
    return add


def _nan_weights(copy):
    from safetensors.torch import load_file, save_file

    weights = load_file(str(copy / "weights.safetensors"))
    key = next(k for k, v in weights.items() if v.is_floating_point())
    weights[key] = torch.full_like(weights[key], float("nan"))
    save_file(weights, str(copy / "weights.safetensors"))


HOSTILE = {  # name: (edit, re-checksum, what the error says)
    "non-finite weights": (_nan_weights, True, "non-finite values"),
    "zero scale": (_edit_json("preprocess.json", lambda d: d["std"].__setitem__(0, 0.0)), True, "non-positive"),
    "empty calibration": (_edit_json("risk.json", lambda d: d.__setitem__("validation", {k: [] for k in d["validation"]})), True, "calibration is empty"),
    "non-finite calibration": (_edit_json("risk.json", lambda d: d["validation"]["stats_neighbours"].__setitem__(0, float("nan"))), True, "non-finite"),
    "strings in risk.json": (_edit_json("risk.json", lambda d: d["reference"].__setitem__("iqr", ["a", "b", "c"])), True, "not a list of numbers"),
    "risk reference for other channels": (_edit_json("risk.json", lambda d: d["reference"].__setitem__("n_channels", 99)), True, "reference is for 99 channels"),
    "risk without a component's calibration": (_edit_json("risk.json", lambda d: d["validation"].pop("stats_deviation")), True, "validation values are not those"),
    "unknown risk component": (_edit_json("risk.json", lambda d: d.__setitem__("components", ["magic"])), True, "components are not"),
    "unknown risk fusion": (_edit_json("risk.json", lambda d: d.__setitem__("fusion", "product")), True, "fusion is neither"),
    "negative batch size in the train section": (_edit_json("config.json", lambda d: d["train"].__setitem__("batch_size", -5)),
                                                  False, "batch_size must be at least 1"),
    "code as a risk component": (_edit_json("config.json", lambda d: d["train"].__setitem__(
        "risk_components", ['__import__("os")'])), False, "risk_components must be a non-empty subset"),
    "NaN learning rate": (_edit_json("config.json", lambda d: d["train"].__setitem__("lr", float("nan"))), False,
                          "lr must be a finite number"),
    "text epochs": (_edit_json("config.json", lambda d: d["train"].__setitem__("epochs", "many")), False,
                    "epochs must be an integer"),
    "NaN alert level": (_edit_json("risk.json", lambda d: d.__setitem__("alert_at", float("nan"))), True,
                        "alert_at is not a risk level"),
    "alert level above 1": (_edit_json("risk.json", lambda d: d.__setitem__("alert_at", 7)), True,
                            "alert_at is not a risk level"),
    "text window count": (_edit_json("risk.json", lambda d: d.__setitem__("windows", "x")), True,
                          "windows is not a count"),
    "negative window count": (_edit_json("risk.json", lambda d: d.__setitem__("reference_windows", -5)), True,
                              "reference_windows is not a count"),
    "relative channel out of range": (_edit_json("risk.json", lambda d: d["reference"].__setitem__("relative", [7])), True,
                                      "relative channels are not"),
    "refit history not a list": (_add_json("refits.json", {"at": "now"}), True, "refits.json is not a list"),
    "refit record of the wrong types": (_add_json("refits.json", [{"at": 1, "source": "x", "applied": "yes", "reason": None}]),
                                        True, "lacks its time"),
    "channel list of the wrong length": (_edit_json("preprocess.json", lambda d: d["channels"].pop()), True, "kept flags"),
    "state dict of another shape": (_edit_json("config.json", lambda d: d["model"].__setitem__("d_model", 32)), False, "does not fit config.json"),
    "config.json an array": (lambda copy: (copy / "config.json").write_text("[]"), False, "not an object"),
    "files a list": (_edit_json("config.json", lambda d: d.__setitem__("files", list(d["files"]))), False, "files is not an object"),
}


@pytest.mark.parametrize("change", [lambda d: d["data"].__setitem__("source", "[/] [bold]x"),
                                    lambda d: d["data"].__setitem__("timestamp_column", "[red]t")])
def test_info_shows_an_odd_data_summary_as_text(trained, tmp_path, change):
    """Markup in config.json's data summary is printed as text (a value of the wrong type is refused:
    test_bundle_tamper.py)."""
    import shutil

    from typer.testing import CliRunner

    from jepawatch.cli.app import app

    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    _edit_json("config.json", change)(copy)
    result = CliRunner().invoke(app, ["info", str(copy)])
    assert result.exit_code == 0 and "internal error" not in result.output, result.output


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_bundles_are_one_line_errors(trained, tmp_path, case):
    import shutil

    from typer.testing import CliRunner

    from jepawatch.cli.app import app

    edit, rechecksum, fragment = HOSTILE[case]
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    edit(copy)
    if rechecksum:
        _rechecksum(copy)
    with pytest.raises(BundleError, match="corrupted") as caught:
        load_bundle(copy)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
    data = tmp_path / "d.csv"
    (data).write_text("timestamp,ch0,ch1,ch2,flag\n")
    for command in (["info", str(copy)], ["score", str(data), "--model", str(copy)]):
        result = CliRunner().invoke(app, command)
        text = " ".join(result.output.split())
        assert result.exit_code == 1 and text.startswith("error:") and "internal error" not in text, (command, result.output)


# --- a downloaded bundle is untrusted: hostile paths, files and sizes ------------------------------

def _add_file(copy, name: str, content: bytes | None = None, digest: str | None = None) -> None:
    import hashlib

    config = json.loads((copy / "config.json").read_text())
    config["files"][name] = digest or hashlib.sha256(content or b"").hexdigest()
    (copy / "config.json").write_text(json.dumps(config))


def _outside_file(copy):
    outside = copy.parent / "outside.txt"
    outside.write_text("a file the bundle must not read\n")
    _add_file(copy, "../outside.txt", outside.read_bytes())


def _symlinked(name: str, target: str | None = None):
    def edit(copy):
        import os

        real = copy.parent / f"real-{name}"
        (copy / name).rename(real)
        os.symlink(target or real, copy / name)
    return edit


def _fifo_weights(copy):
    import os

    (copy / "weights.safetensors").unlink()
    os.mkfifo(copy / "weights.safetensors")


def _onnx_outside(file: str):
    def edit(copy):
        record = json.dumps({"file": file, "opset": 17}).encode()
        (copy / "onnx.json").write_bytes(record)
        _add_file(copy, "onnx.json", record)
    return edit


def _head(record: dict, weights: bool = True):
    """A head.json (and a small head.safetensors) added with their checksums (issue 30: these were
    internal errors in info and score)."""
    def edit(copy):
        from safetensors.torch import save as save_tensors

        content = json.dumps(record).encode()
        (copy / "head.json").write_bytes(content)
        _add_file(copy, "head.json", content)
        if weights:
            tensors = save_tensors({"net.0.weight": torch.zeros(2, 2)})
            (copy / "head.safetensors").write_bytes(tensors)
            _add_file(copy, "head.safetensors", tensors)
    return edit


UNTRUSTED = {  # name: (edit, what the error says)
    "head.json alone, a string threshold and a path": (_head({"threshold": "x", "file": "../../etc/passwd"}, weights=False),
                                                       "no head.safetensors"),
    "head.json with a string threshold": (_head({"threshold": "x", "n_features": 4, "config": {}}), "threshold"),
    "head.json with a threshold of 2": (_head({"threshold": 2.0, "n_features": 4, "config": {}}), "threshold"),
    "head.json without n_features": (_head({"threshold": 0.5, "config": {}}), "n_features"),
    "config.json without its model section": (_edit_json("config.json", lambda d: d.pop("model")), "has no 'model'"),
    "a NaN temperature": (_edit_json("config.json", lambda d: d["model"].__setitem__("temperature", float("nan"))),
                          "temperature must be a finite number"),
    "files entry /dev/zero": (lambda copy: _add_file(copy, "/dev/zero", digest="0" * 64), "not a file name inside the bundle"),
    "files entry outside the bundle": (_outside_file, "not a file name inside the bundle"),
    "preprocess.json a symlink to /dev/zero": (_symlinked("preprocess.json", "/dev/zero"), "is a symlink"),
    "weights a symlink": (_symlinked("weights.safetensors"), "is a symlink"),
    "weights a FIFO": (_fifo_weights, "not a regular file"),
    "onnx.json naming an absolute file": (_onnx_outside("/etc/hostname"), "not a file name inside the bundle"),
    "onnx.json naming ../": (_onnx_outside("../model.onnx"), "not a file name inside the bundle"),
    "encoder_layers=100000": (_edit_json("config.json", lambda d: d["model"].__setitem__("encoder_layers", 100000)), "at most 256"),
    "d_model=8192": (_edit_json("config.json", lambda d: d["model"].__setitem__("d_model", 8192)), "does not fit config.json"),
    "a string as window": (_edit_json("config.json", lambda d: d["model"].__setitem__("window", "20")), "must be an integer"),
}


@pytest.mark.parametrize("case", list(UNTRUSTED))
def test_untrusted_bundles_are_refused_fast_by_info_score_and_export(trained, tmp_path, case):
    import shutil
    import signal
    import time

    from typer.testing import CliRunner

    from jepawatch.cli.app import app

    edit, fragment = UNTRUSTED[case]
    copy = tmp_path / "models" / "copy"
    shutil.copytree(trained, copy)
    edit(copy)
    data = tmp_path / "d.csv"
    data.write_text("timestamp,ch0,ch1,ch2,flag\n")

    def too_slow(*_):
        raise TimeoutError(f"{case}: loading the bundle hung")

    previous = signal.signal(signal.SIGALRM, too_slow)
    try:
        for command in (["info", str(copy)], ["score", str(data), "--model", str(copy)], ["export", "--onnx", "--model", str(copy)]):
            started = time.monotonic()
            signal.alarm(20)
            result = CliRunner().invoke(app, command)
            signal.alarm(0)
            text = " ".join(result.output.split())
            assert result.exit_code == 1 and text.startswith("error:") and "internal error" not in text, (command, result.output)
            assert "corrupted" in text and fragment in text, (command, text)
            assert time.monotonic() - started < 10, command
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert "a file the bundle must not read" not in text


def test_an_oversized_config_is_refused_before_its_memory_is_allocated(trained, tmp_path):
    import shutil
    import subprocess
    import sys

    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    _edit_json("config.json", lambda d: d["model"].__setitem__("d_model", 8192))(copy)
    code = ("import resource, sys\n"
            "from jepawatch.bundle import load_bundle\n"
            "from jepawatch.errors import BundleError\n"
            "try:\n    load_bundle(sys.argv[1])\nexcept BundleError as e:\n    print(e)\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    done = subprocess.run([sys.executable, "-c", code, str(copy)], capture_output=True, text=True, timeout=120)
    message, peak_kib = done.stdout.strip().splitlines()
    assert "does not fit config.json" in message, done.stdout + done.stderr
    assert int(peak_kib) < 1_500_000, f"peak RSS {int(peak_kib) // 1024} MiB"  # 8192-wide weights would be ~2.8 GB


def test_a_latest_file_that_is_a_fifo_is_refused_not_waited_on(trained, tmp_path):
    import os
    import shutil
    import signal

    models = tmp_path / "models"
    shutil.copytree(trained, models / "metrics")
    os.mkfifo(models / "LATEST")

    def too_slow(*_):
        raise TimeoutError("reading LATEST hung")

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(10)
    try:
        with pytest.raises(BundleError, match="LATEST is unreadable"):
            resolve_bundle_path(None, models)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert resolve_bundle_path("metrics", models) == models / "metrics"


def test_temporary_directories_of_a_killed_save_are_removed_by_the_next_save(tmp_path):
    import os
    import time

    from jepawatch.bundle import remove_stale_bundle_temporaries

    path = tmp_path / "models" / "m"
    path.parent.mkdir()
    stale, fresh, other = (path.parent / ".m.abcd1234.tmp", path.parent / ".m.efgh5678.old", path.parent / ".n.abcd1234.tmp")
    for d in (stale, fresh, other):
        d.mkdir()
        (d / "weights.safetensors").write_bytes(b"x")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    assert remove_stale_bundle_temporaries(path) == 1
    assert not stale.exists() and fresh.exists() and other.exists()  # a save in progress and another bundle's are kept


def test_format_version_is_recorded_and_other_versions_are_refused_in_one_line(trained, tmp_path):
    """A bundle of a newer or older format is said to be one (not corrupted); a bundle from before
    `format_version` existed (only `format: jepawatch-bundle/1`) loads as version 1."""
    import shutil

    from jepawatch.bundle import BUNDLE_FORMAT_VERSION, NEWEST_FORMAT_VERSION

    path = tmp_path / "copy"
    shutil.copytree(trained, path)
    config_path = path / "config.json"
    config = json.loads(config_path.read_text())
    assert config["format_version"] == BUNDLE_FORMAT_VERSION == 1 and config["format"] == "jepawatch-bundle/1"
    del config["format_version"]  # as every bundle written before issue 16
    config_path.write_text(json.dumps(config))
    assert load_bundle(path).meta["format_version"] == 1
    # a trained bundle is written as version 1; this jepawatch reads up to 2 (adapted bundles)
    for version, words in ((NEWEST_FORMAT_VERSION + 1, "newer than this jepawatch"), (0, "older than this jepawatch")):
        config_path.write_text(json.dumps({**config, "format_version": version}))
        with pytest.raises(BundleError) as caught:
            load_bundle(path)
        message = str(caught.value)
        assert words in message and "corrupted" not in message and "\n" not in message
    config_path.write_text(json.dumps({**config, "format": "something-else/3"}))
    with pytest.raises(BundleError, match="corrupted: unknown format"):
        load_bundle(path)


def test_a_head_whose_config_does_not_build_is_a_one_line_error_in_score(trained, tmp_path):
    import shutil

    from typer.testing import CliRunner

    from jepawatch.cli.app import app

    copy = tmp_path / "models" / "copy"
    shutil.copytree(trained, copy)
    _head({"threshold": 0.5, "n_features": 4, "config": {"no_such_setting": 1}})(copy)
    data = tmp_path / "d.csv"
    data.write_text("timestamp,ch0,ch1,ch2,flag\n")
    result = CliRunner().invoke(app, ["score", str(data), "--model", str(copy)])
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and text.startswith("error:") and "supervised head is corrupted" in text, text
