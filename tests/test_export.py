"""`jepawatch export --onnx`, the ONNX backend of `score`, and their bad inputs."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from jepawatch.bundle import load_bundle
from jepawatch.cli.app import app
from jepawatch.config_sources import resolve_config
from jepawatch.jobs.train import TrainRequest, train

from conftest import TINY_MTS, make_frame, make_labelled_frame

runner = CliRunner()


def test_export_checks_itself_records_the_file_and_carries_metadata(exported):
    root, path, text = exported
    for name in ("codes", "next_fine", "next_coarse", "ema_fine", "ema_coarse", "next_window_probability"):
        assert f"{name}" in text and "max |onnx - torch|" in text
    assert "windows of the training data" in text
    bundle = load_bundle(path)
    assert bundle.onnx is not None and bundle.onnx_path.exists()
    assert all(v <= 1e-4 for v in bundle.onnx["max_abs_diff"].values())
    props = {p.key: p.value for p in onnx.load(str(bundle.onnx_path)).metadata_props}
    assert json.loads(props["channels"]) == list(bundle.preprocess.kept_channels)
    assert props["window"] == str(bundle.run.model.window)
    assert props["bundle_weights_sha256"] == bundle.meta["weights_sha256"] and props["jepawatch_version"]
    info = runner.invoke(app, ["info", str(path)])
    assert info.exit_code == 0 and "ONNX export" in info.output, info.output
    graph_input = onnx.load(str(bundle.onnx_path)).graph.input[0]
    assert graph_input.type.tensor_type.shape.dim[0].dim_param  # a named, dynamic batch axis


def test_score_is_the_same_with_either_backend(exported):
    root, path, _ = exported
    rows = {}
    for backend in ("torch", "onnx"):
        result = runner.invoke(app, ["score", str(root / "test.csv"), "--model", str(path), "--backend", backend])
        assert result.exit_code == 0, result.output
        assert ("ONNX Runtime" if backend == "onnx" else "PyTorch") in result.output
        rows[backend] = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    torch_rows, onnx_rows = rows["torch"], rows["onnx"]
    assert len(torch_rows) == len(onnx_rows) > 10
    assert [r["regime"] for r in torch_rows] == [r["regime"] for r in onnx_rows]
    assert [r["alert"] for r in torch_rows] == [r["alert"] for r in onnx_rows]
    np.testing.assert_allclose([r["next_window_risk"] for r in torch_rows], [r["next_window_risk"] for r in onnx_rows], atol=1e-5)
    np.testing.assert_allclose([r["surprise_fine"] for r in torch_rows], [r["surprise_fine"] for r in onnx_rows], atol=1e-3)
    default = runner.invoke(app, ["score", str(root / "test.csv"), "--model", str(path)])
    # auto with an export, on the CPU: ONNX Runtime
    assert "ONNX Runtime" in default.output and "PyTorch" not in default.output, default.output


def test_auto_runs_onnx_runtime_at_every_size_on_the_cpu_in_chunks(exported, monkeypatch):
    from jepawatch.scoring import backends
    from jepawatch.scoring.backends import OnnxBackend, TorchBackend, make_backend

    _, path, _ = exported
    bundle = load_bundle(path)
    backend = make_backend("auto", bundle, torch.device("cpu"))
    assert isinstance(backend, OnnxBackend) and backend.graph_form == 2
    reference = TorchBackend(bundle.model, torch.device("cpu"))
    shape = (bundle.run.model.window, len(bundle.preprocess.kept_channels))
    windows = np.random.default_rng(0).standard_normal((23, *shape)).astype(np.float32)
    whole = backend.outputs(windows)
    backend.windows_per_run = 5  # 23 windows in runs of 5, 5, 5, 5, 3: the same outputs
    runs = []
    run = backend.session.run
    monkeypatch.setattr(backend.session, "run", lambda names, feed: runs.append(len(feed["window"])) or run(names, feed),
                        raising=False)
    chunked = backend.outputs(windows)
    assert runs == [5, 5, 5, 5, 3]
    expected = reference.outputs(windows)
    for name in ("codes", "next_fine", "next_coarse", "ema_fine", "ema_coarse"):
        assert torch.equal(getattr(chunked, name), getattr(whole, name))
        assert torch.allclose(getattr(chunked, name), getattr(expected, name), atol=1e-4)
    assert backends.windows_per_run(bundle) >= 1


def test_auto_splits_by_size_for_an_export_of_the_earlier_graph_form(exported, monkeypatch):
    from jepawatch.scoring import backends
    from jepawatch.scoring.backends import SMALL_BATCH, SizeSplitBackend, make_backend

    class EarlierExport(backends.OnnxBackend):  # an export without `graph_form` in its metadata
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.graph_form = 1

    monkeypatch.setattr(backends, "OnnxBackend", EarlierExport)
    _, path, _ = exported
    bundle = load_bundle(path)
    split = make_backend("auto", bundle, torch.device("cpu"))
    assert isinstance(split, SizeSplitBackend) and "export --onnx` again" in split.provider
    calls = []
    for part in (split.small, split.large):
        run = part.outputs
        part.outputs = lambda windows, targets=True, run=run, name=part.name: calls.append((name, len(windows))) or run(windows, targets)
    shape = (bundle.run.model.window, len(bundle.preprocess.kept_channels))
    for n in (1, SMALL_BATCH - 1, SMALL_BATCH, 3 * SMALL_BATCH):
        out = split.outputs(np.zeros((n, *shape), dtype=np.float32))
        assert out.codes.shape[0] == n
    assert calls == [("onnx", 1), ("onnx", SMALL_BATCH - 1), ("torch", SMALL_BATCH), ("torch", 3 * SMALL_BATCH)]


def one_line_error(args: list[str], *fragments: str) -> None:
    result = runner.invoke(app, args)
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and text.startswith("error:") and "Traceback" not in text, result.output
    for fragment in fragments:
        assert fragment in text, text


def test_export_and_onnx_backend_bad_inputs(exported, tmp_path):
    root, path, _ = exported
    one_line_error(["export", "--onnx", "--models-dir", str(tmp_path / "none")], "no trained model")
    one_line_error(["export", "--model", str(path)], "--onnx")
    plain = tmp_path / "plain"
    shutil.copytree(path, plain)
    config = json.loads((plain / "config.json").read_text())
    del config["files"]["onnx.json"], config["files"]["model.onnx"]
    (plain / "config.json").write_text(json.dumps(config))
    one_line_error(["score", str(root / "test.csv"), "--model", str(plain), "--backend", "onnx"], "has no ONNX export")
    # an opset the exporter does not write (it used to say "opset 3" and write 18)
    for opset in ("3", "17", "24"):
        one_line_error(["export", "--onnx", "--model", str(path), "--opset", opset, "--out", str(tmp_path / "o.onnx")],
                       f"--opset {opset}", "opsets 18 to 23")
    assert not (tmp_path / "o.onnx").exists()
    # an ONNX file for other channels: the metadata does not match the bundle
    other = tmp_path / "other"
    shutil.copytree(path, other)
    model = onnx.load(str(other / "model.onnx"))
    for prop in model.metadata_props:
        if prop.key == "channels":
            prop.value = json.dumps(["a", "b"])
    onnx.save(model, str(other / "model.onnx"))
    _recompute_checksum(other, "model.onnx")
    one_line_error(["score", str(root / "test.csv"), "--model", str(other), "--backend", "onnx"], "other channels")
    # a corrupted ONNX file: the bundle's checksum catches it
    broken = tmp_path / "broken"
    shutil.copytree(path, broken)
    with open(broken / "model.onnx", "r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00" * 64)
    one_line_error(["score", str(root / "test.csv"), "--model", str(broken)], "corrupted", "model.onnx")
    # corrupted and re-checksummed: onnxruntime cannot load it
    _recompute_checksum(broken, "model.onnx")
    one_line_error(["score", str(root / "test.csv"), "--model", str(broken)], "cannot be loaded")
    one_line_error(["score", str(root / "test.csv"), "--model", str(path), "--backend", "tpu"], "--backend")
    wrong = tmp_path / "wrong.csv"
    make_frame(rows=100).drop(columns=["ch1"]).to_csv(wrong, index=False)
    one_line_error(["score", str(wrong), "--model", str(path)], "ch1")


def test_a_calibration_after_the_export_makes_it_stale(exported, tmp_path):
    root, path, _ = exported
    copy = tmp_path / "recalibrated"
    shutil.copytree(path, copy)
    result = runner.invoke(app, ["calibrate", str(root / "test.csv"), "--model", str(copy), "--seed", "7"])
    assert result.exit_code == 0, result.output
    auto = runner.invoke(app, ["score", str(root / "test.csv"), "--model", str(copy)])
    assert auto.exit_code == 0 and "PyTorch" in auto.output and "predates" in " ".join(auto.output.split())
    one_line_error(["score", str(root / "test.csv"), "--model", str(copy), "--backend", "onnx"], "predates")


def test_export_to_a_file_leaves_the_bundle_alone(exported, tmp_path):
    root, path, _ = exported
    out = tmp_path / "copy.onnx"
    result = runner.invoke(app, ["export", "--onnx", "--model", str(path), "--out", str(out), "--check-data", str(root / "train.csv")])
    assert result.exit_code == 0, result.output
    assert out.exists() and str(out) in " ".join(result.output.split())


def _recompute_checksum(bundle: Path, name: str) -> None:
    import hashlib

    config = json.loads((bundle / "config.json").read_text())
    config["files"][name] = hashlib.sha256((bundle / name).read_bytes()).hexdigest()
    (bundle / "config.json").write_text(json.dumps(config))


def test_label_free_risk_with_every_component_is_the_same_with_either_backend(tmp_path):
    """Torch and ONNX Runtime give the same label-free risk to 2e-3 on every window of a 3,000-row
    file, with the model components fused too (they are what the two runtimes compute; the default
    risk, of the statistics only, agrees to 1e-5 in the test above). The model components differ by up to
    2e-6 between the runtimes (float32), and where two of the 121 validation values of a component
    lie 5e-6 apart its interpolated CDF is steep: measured 2026-12-04, the risk then moves by up to
    1.005e-3 on one window of this file."""
    frame = make_labelled_frame(rows=4500)
    frame.iloc[:1500].drop(columns="label").to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[1500:].drop(columns="label").to_csv(tmp_path / "live.csv", index=False)  # 3,000 rows
    components = "surprise_fine,surprise_coarse,rarity,stats_deviation,stats_neighbours"
    run = resolve_config("mts-jepa", overrides=TINY_MTS + [f"train.risk_components={components}"],
                         flags={"train": {"epochs": 1}})
    path = train(TrainRequest(data=tmp_path / "train.csv", run=run, out_dir=tmp_path / "models"), warn=lambda m: None)
    assert load_bundle(path).risk["components"] == components.split(",")
    assert runner.invoke(app, ["export", "--onnx", "--model", str(path)]).exit_code == 0
    risks = {}
    for backend in ("torch", "onnx"):
        result = runner.invoke(app, ["score", str(tmp_path / "live.csv"), "--model", str(path), "--backend", backend,
                                     "--stride", "5"])
        assert result.exit_code == 0, result.output
        rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        risks[backend] = np.array([r["label_free_risk"] for r in rows])
    assert len(risks["torch"]) == (3000 - 2 * 20) // 5 + 1
    assert np.abs(risks["torch"] - risks["onnx"]).max() < 2e-3


def test_the_export_runs_attention_on_flat_tokens_and_2d_convolutions(exported):
    """export/onnx_layers.py: attention nodes take (N, S, D) with the heads as an attribute, no
    Transpose next to them, and the tokenizer's convolutions are 2-D (ONNX Runtime's fast kernels)."""
    _, path, _ = exported
    graph = onnx.load(str(load_bundle(path).onnx_path)).graph
    producer = {out: node for node in graph.node for out in node.output}
    consumers = {name for node in graph.node if node.op_type == "Transpose" for name in node.input}
    attention = [node for node in graph.node if node.op_type == "Attention"]
    assert attention
    for node in attention:
        heads = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert heads.get("q_num_heads", 0) > 0 and heads.get("kv_num_heads", 0) > 0
        assert all(producer[name].op_type != "Transpose" for name in node.input[:3] if name in producer)
        assert node.output[0] not in consumers
    weights = {init.name: init for init in graph.initializer}
    convolutions = [node for node in graph.node if node.op_type == "Conv"]
    assert convolutions and all(len(weights[node.input[1]].dims) == 4 for node in convolutions)


def test_an_export_at_opset_18_still_checks_itself(exported, tmp_path):
    from jepawatch.export.onnx_export import export_onnx

    _, path, _ = exported
    report = export_onnx(load_bundle(path), tmp_path / "model18.onnx", opset=18)
    assert max(report.max_abs_diff.values()) <= 1e-4
    assert not any(node.op_type == "Attention" for node in onnx.load(str(report.path)).graph.node)


def test_without_onnx_runtime_auto_runs_pytorch_and_onnx_uses_say_which_extra(exported, tmp_path, monkeypatch):
    """ONNX Runtime comes from the [cpu] or [gpu] extra; without either, scoring runs on PyTorch and
    the ONNX-only commands fail in one line naming the extras, writing nothing."""
    root, path, _ = exported
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError
    default = runner.invoke(app, ["score", str(root / "test.csv"), "--model", str(path)])
    assert default.exit_code == 0, default.output
    assert "PyTorch" in default.output and "jepawatch[cpu]" in default.output
    one_line_error(["score", str(root / "test.csv"), "--model", str(path), "--backend", "onnx"],
                   "ONNX Runtime is not installed", "jepawatch[cpu]", "jepawatch[gpu]")
    out = tmp_path / "model.onnx"
    one_line_error(["export", "--onnx", "--model", str(path), "--out", str(out)], "ONNX Runtime is not installed")
    assert not out.exists()


def test_the_extras_install_one_onnx_runtime_never_both():
    """onnxruntime and onnxruntime-gpu install the same package over each other: no dependency set of
    jepawatch names both, and the base install names neither."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    sets = {"base": project["dependencies"], **project["optional-dependencies"]}
    names = {key: {re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].strip().lower() for d in deps} for key, deps in sets.items()}
    runtimes = {"onnxruntime", "onnxruntime-gpu"}
    assert not names["base"] & runtimes
    assert names["cpu"] & runtimes == {"onnxruntime"} and names["gpu"] & runtimes == {"onnxruntime-gpu"}
    assert all(len(found & runtimes) <= 1 for found in names.values())


@pytest.mark.parametrize("name, change, fragment", [
    ("head.json", lambda d: d["config"].__setitem__("dropout", float("nan")), "config dropout is not a number"),
    ("head.json", lambda d: d["on_threshold_part"].__setitem__("f1", "x"), "quality on its threshold part"),
    ("onnx.json", lambda d: d["max_abs_diff"].__setitem__("codes", "x"), "max_abs_diff is not"),
    ("onnx.json", lambda d: d.__setitem__("opset", -5), "opset is not"),
])
def test_a_tampered_head_or_onnx_record_is_refused_in_one_line(exported, tmp_path, name, change, fragment):
    import hashlib

    _, path, _ = exported
    copy = tmp_path / "copy"
    shutil.copytree(path, copy)
    data = json.loads((copy / name).read_text())
    change(data)
    (copy / name).write_text(json.dumps(data))
    config = json.loads((copy / "config.json").read_text())
    config["files"][name] = hashlib.sha256((copy / name).read_bytes()).hexdigest()
    (copy / "config.json").write_text(json.dumps(config))
    for command in (["info", str(copy)], ["score", str(path.parent.parent / "test.csv"), "--model", str(copy)]):
        result = runner.invoke(app, command)
        text = " ".join(result.output.split())
        assert result.exit_code == 1 and text.startswith("error:") and fragment in text, (command, result.output)
