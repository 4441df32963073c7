"""Training on several sources and on long-format tables (segments), adapted bundles (`--adapt`), `--init`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import jepawatch
from jepawatch.adapters import ReadOptions
from jepawatch.bundle import load_bundle
from jepawatch.cli.app import app
from jepawatch.data.windows import segment_pairs, split_segments
from jepawatch.jobs.train import read_sources

from conftest import TINY_MTS, make_frame

TINY = dict(item.split("=", 1) for item in TINY_MTS)
WINDOW = 20
runner = CliRunner()


def other_system(rows: int = 1200, seed: int = 7) -> pd.DataFrame:
    """A system with channels of its own (names and count unlike make_frame's)."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    return pd.DataFrame({"timestamp": pd.date_range("2026-02-01", periods=rows, freq="s").astype(str),
                         "pump_pressure": 3 + np.sin(2 * np.pi * t / 23) + 0.2 * rng.standard_normal(rows),
                         "pump_flow": 10 * np.cos(2 * np.pi * t / 31) + rng.standard_normal(rows)})


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """One bundle trained on two sources with different channels (3 + a constant, and 2)."""
    root = tmp_path_factory.mktemp("pretrained")
    make_frame(rows=500).to_csv(root / "web.csv", index=False)
    other_system(rows=400, seed=3).to_csv(root / "pumps.csv", index=False)
    monitor = jepawatch.train([root / "web.csv", root / "pumps.csv"], epochs=1, preset="paper", settings=TINY,
                              out=root / "models", name="pretrained", warn=lambda m: None)
    return root, monitor


def test_several_sources_with_different_channels_train_one_bundle_that_records_each(pretrained):
    root, monitor = pretrained
    bundle = monitor.bundle
    sources = bundle.data["sources"]
    assert [s["source"].split("/")[-1] for s in sources] == ["web.csv", "pumps.csv"]
    assert [s["preprocess"]["channels"] for s in sources] == [["ch0", "ch1", "ch2", "flag"], ["pump_pressure", "pump_flow"]]
    assert [s["channel_offset"] for s in sources] == [0, 3]  # each source its own channel indices
    assert bundle.run.model.n_channels == 5 and bundle.preprocess.kept_channels == ["ch0", "ch1", "ch2"]
    # each source standardised with its own statistics
    pumps = pd.read_csv(root / "pumps.csv")
    assert sources[1]["preprocess"]["mean"][1] == pytest.approx(pumps["pump_flow"].mean(), rel=1e-6)
    # the bundle scores data like its first source's without --adapt
    assert len(monitor.score(make_frame(rows=200, seed=5))) == 200 // WINDOW - 1


def test_pairs_of_a_long_format_table_never_cross_two_hosts(tmp_path):
    # host k's ch0 sits at level 100 k: a pair holding rows of two hosts would mix levels
    frames = []
    for k, n in enumerate([130, 95, 210]):  # not multiples of the window: the boundaries fall inside windows
        frame = make_frame(rows=n, seed=k, constant=False)
        frame["ch0"] += 100 * k
        frames.append(frame.assign(host=f"h{k}"))
    table = pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=0)
    path = tmp_path / "fleet.csv"
    table.to_csv(path, index=False)
    sources = read_sources([path], None, ReadOptions(series_column="host"), warn=lambda m: None)
    assert len(sources) == 1  # one source, one standardisation over every host
    segments = split_segments(sources[0].parts(0), WINDOW, 0.1)
    assert sorted(s.name.split(": ")[1] for s in segments) == ["h0", "h1", "h2"]  # in order of first appearance
    std = sources[0].preprocess.std[0]
    for part in ("train", "val"):
        for pairs in segment_pairs(segments, WINDOW, 5, part):
            for i in range(len(pairs)):
                context, target = pairs[i]
                levels = torch.cat([context[:, 0], target[:, 0]]) * std
                assert float(levels.max() - levels.min()) < 50, "a pair holds rows of two hosts"
    # trained end to end: the pairs are those of each host on its own
    result = runner.invoke(app, ["train", str(path), "--series-col", "host", "--out", str(tmp_path / "models"),
                                 "--epochs", "1", "--preset", "paper", *sum((["--set", s] for s in TINY_MTS), []), "--json"])
    assert result.exit_code == 0, result.output
    data = load_bundle(tmp_path / "models" / "fleet").data
    per_host = sum(len(p) for p in segment_pairs(segments, WINDOW, WINDOW))
    assert data["segments"] == 3 and data["train_pairs"] == per_host
    assert data["sources"][0]["series"] == 3 and data["sources"][0]["series_column"] == "host"


def test_a_series_id_column_is_found_by_name_and_short_series_are_left_out_with_a_warning(tmp_path):
    table = pd.concat([make_frame(rows=200, seed=1).assign(series_id="a"), make_frame(rows=30, seed=2).assign(series_id="b")])
    warnings = []
    monitor = jepawatch.train(table, epochs=1, preset="paper", settings=TINY, out=tmp_path / "models", warn=warnings.append)
    assert monitor.bundle.data["segments"] == 1
    assert any("1 series shorter than two windows" in w and "b" in w for w in warnings), warnings


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in result.output, result.output
    return lines[0]


def test_an_adapted_bundle_scores_other_channels_calibrated_on_the_normal_stretch(pretrained, tmp_path):
    root, monitor = pretrained
    normal, live = other_system(rows=3000, seed=11), other_system(rows=6000, seed=12)
    normal.to_csv(tmp_path / "normal.csv", index=False)
    live.to_csv(tmp_path / "live.csv", index=False)
    assert monitor.channels != list(normal.columns[1:])
    out = tmp_path / "scores.jsonl"
    result = invoke("score", tmp_path / "live.csv", "--model", monitor.path, "--adapt", tmp_path / "normal.csv", "--out", out)
    assert result.exit_code == 0, result.output
    adapted_path = root / "models" / "pretrained-on-normal"
    assert f"adapted pretrained to {tmp_path / 'normal.csv'}" in result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6000 // WINDOW - 1
    assert {d for r in rows for d in r["drivers"].split(", ")} <= {"pump_pressure", "pump_flow"}
    # calibrated on the adapt stretch: on more normal data of that system the alerts are about as rare
    # as the alert level (0.99) says, and the risk spreads over [0, 1]
    risks = np.array([r["next_window_risk"] for r in rows])
    assert np.mean(risks >= 0.99) < 0.06 and 0.2 < np.median(risks) < 0.8
    adapted = load_bundle(adapted_path)
    assert sorted(p.name for p in adapted_path.iterdir()) == ["code_frequencies.json", "config.json", "preprocess.json",
                                                              "risk.json"]  # no copy of the weights
    assert adapted.meta["parent"]["weights_sha256"] == monitor.bundle.meta["weights_sha256"]
    assert adapted.preprocess.mean[1] == pytest.approx(normal["pump_flow"].mean(), abs=1e-4)  # fitted on --adapt only
    parent_state, state = monitor.bundle.model.state_dict(), adapted.model.state_dict()
    assert all(torch.equal(parent_state[k], v) for k, v in state.items() if not k.startswith("revin."))
    assert torch.allclose(state["revin.weight"], parent_state["revin.weight"].mean().expand(2))  # channels never seen
    # the same through the API
    again = monitor.adapt(normal, out=tmp_path / "api-adapted", warn=lambda m: None)
    assert again.channels == ["pump_pressure", "pump_flow"] and len(again.score(live)) == len(rows)


def test_adapt_rows_fits_on_the_first_rows_and_scores_only_what_follows(pretrained, tmp_path):
    root, monitor = pretrained
    live = other_system(rows=2000, seed=13)
    live.to_csv(tmp_path / "live.csv", index=False)
    out = tmp_path / "scores.jsonl"
    result = invoke("score", tmp_path / "live.csv", "--model", monitor.path, "--adapt-rows", 800, "--out", out)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["window_start"] == 800 and len(rows) == (2000 - 800) // WINDOW
    adapted = load_bundle(root / "models" / "pretrained-on-live-first800")
    assert adapted.data["rows"] == 800 and adapted.data["part"] == "first 800 rows"
    assert adapted.preprocess.mean[0] == pytest.approx(live["pump_pressure"][:800].mean(), abs=1e-4)
    short = invoke("score", tmp_path / "live.csv", "--model", monitor.path, "--adapt-rows", 50)
    assert "fewer than the 80 (4 windows of 20) that --adapt needs" in one_line_error(short)
    whole = invoke("evaluate", tmp_path / "live.csv", "--model", monitor.path, "--adapt-rows", 800)
    assert "give the normal stretch as --adapt FILE" in one_line_error(whole)


def test_the_same_channels_keep_their_own_affine(pretrained, tmp_path):
    root, monitor = pretrained
    adapted = monitor.adapt(make_frame(rows=600, seed=9), out=tmp_path / "same", warn=lambda m: None)
    assert adapted.bundle.meta["parent"]["name"] == "pretrained"
    weight = adapted.bundle.model.state_dict()["revin.weight"]
    assert torch.equal(weight, monitor.bundle.model.state_dict()["revin.weight"][:3])


def test_a_missing_or_changed_parent_is_a_one_line_error(pretrained, tmp_path):
    root, monitor = pretrained
    parent = tmp_path / "models" / "parent"
    jepawatch.train(root / "web.csv", epochs=1, preset="paper", settings=TINY, out=tmp_path / "models", name="parent",
                    warn=lambda m: None)
    other_system(rows=600).to_csv(tmp_path / "pumps.csv", index=False)
    adapted = jepawatch.load(parent).adapt(tmp_path / "pumps.csv", warn=lambda m: None).path
    jepawatch.train(root / "web.csv", epochs=1, seed=5, preset="paper", settings=TINY, out=tmp_path / "models",
                    name="parent", warn=lambda m: None)  # retrained: other weights
    message = one_line_error(invoke("score", tmp_path / "pumps.csv", "--model", adapted))
    assert "has other weights than it was adapted to" in message and "adapt again" in message
    parent.rename(tmp_path / "models" / "moved")
    assert "which is not there" in one_line_error(invoke("info", adapted))


def test_a_kind_that_mixes_channels_refuses_adaptation():
    from jepawatch.errors import ConfigError
    from jepawatch.kinds import kind_of

    assert kind_of("mts-jepa").channel_independent and not kind_of("temporal-jepa").channel_independent
    with pytest.raises(ConfigError, match="mixes the channels it was trained on"):
        kind_of("temporal-jepa").adapt_channels({}, [None])


def test_train_init_fine_tunes_from_the_parent_weights(pretrained, tmp_path):
    root, monitor = pretrained
    other_system(rows=600).to_csv(tmp_path / "pumps.csv", index=False)
    tiny = {**TINY, "train.lr": 1e-12}  # so small a step that the weights stay where they started
    tuned = jepawatch.train(tmp_path / "pumps.csv", epochs=1, preset="paper", settings=tiny, out=tmp_path / "models",
                            init=monitor, warn=lambda m: None)
    scratch = jepawatch.train(tmp_path / "pumps.csv", epochs=1, preset="paper", settings=tiny, out=tmp_path / "models",
                              name="scratch", warn=lambda m: None)
    parent_state = monitor.bundle.model.state_dict()
    key = next(k for k in parent_state if k.startswith("encoder.") and parent_state[k].dim() == 2)
    assert torch.allclose(tuned.bundle.model.state_dict()[key], parent_state[key], atol=1e-6)
    assert not torch.allclose(scratch.bundle.model.state_dict()[key], parent_state[key], atol=1e-3)
    assert tuned.bundle.data["init"]["weights_sha256"] == monitor.bundle.meta["weights_sha256"]
    wrong = invoke("train", tmp_path / "pumps.csv", "--init", monitor.path, "--out", tmp_path / "models", "--epochs", 1)
    assert "fine-tuning keeps its architecture" in one_line_error(wrong)


def test_an_adaptation_to_data_that_lacks_its_channels_is_refused_before_it_writes(pretrained, tmp_path):
    """Issue 30 item 7: `score X --adapt OTHER` wrote models/NAME-on-OTHER, then failed on X's channels."""
    root, monitor = pretrained
    other_system(rows=3000, seed=11).to_csv(tmp_path / "normal.csv", index=False)
    elsewhere = other_system(rows=600, seed=12).rename(columns={"pump_flow": "valve_flow"})
    elsewhere.to_csv(tmp_path / "live.csv", index=False)
    before = sorted(p.name for p in (root / "models").iterdir())
    line = one_line_error(invoke("score", tmp_path / "live.csv", "--model", monitor.path, "--adapt", tmp_path / "normal.csv"))
    assert "has no column 'pump_flow'" in line and "same columns" in line, line
    assert sorted(p.name for p in (root / "models").iterdir()) == before  # nothing written
