"""Scoring runs every window through the network once and gives what the two-pass definition gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jepawatch.bundle import load_bundle
from jepawatch.scoring.backends import TorchBackend
from jepawatch.scoring.features import WindowSignals, reference_statistics, signals_from_outputs, window_outputs
from jepawatch.scoring.scored_windows import scorable_starts, signals_at

from conftest import make_frame, train_tiny


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("once")
    make_frame(rows=600).to_csv(root / "train.csv", index=False)
    return load_bundle(train_tiny(root, epochs=1))


class CountingBackend(TorchBackend):
    """Counts the windows run, with and without their EMA views."""

    def __init__(self, model):
        super().__init__(model, torch.device("cpu"))
        self.full = self.predecessors_only = 0

    def outputs(self, windows, targets=True):
        if targets:
            self.full += len(windows)
        else:
            self.predecessors_only += len(windows)
        return super().outputs(windows, targets)


def two_pass(bundle, series, starts) -> WindowSignals:
    """The definition: each window and its predecessor (T rows before it) run side by side."""
    window, offsets = bundle.run.model.window, np.arange(bundle.run.model.window)
    current = torch.from_numpy(series[starts[:, None] + offsets])
    previous = torch.from_numpy(series[starts[:, None] - window + offsets])
    model = bundle.model.eval()
    before = window_outputs(model, previous, targets=False)
    return signals_from_outputs(before.next_fine, before.next_coarse, window_outputs(model, current),
                                bundle.code_frequencies, reference_statistics(current),
                                reference_statistics(current[:, -bundle.run.model.patch_len:]))


@pytest.mark.parametrize("stride, batch_size", [(None, 64), (None, 3), (10, 4), (7, 5), (1, 16)])
def test_signals_equal_the_two_pass_definition_and_each_window_runs_once(bundle, stride, batch_size):
    window = bundle.run.model.window
    stride = stride or window
    rng = np.random.default_rng(1)
    series = rng.standard_normal((437, len(bundle.preprocess.kept_channels))).astype(np.float32)
    starts = scorable_starts(len(series), window, stride)
    backend = CountingBackend(bundle.model.eval())
    got = signals_at(backend, series, starts, window, bundle.code_frequencies, bundle.run.model.patch_len, batch_size)
    want = two_pass(bundle, series, starts)
    for field in WindowSignals.__dataclass_fields__:
        a, b = getattr(got, field), getattr(want, field)
        assert a.shape == b.shape, field
        if a.is_floating_point():
            torch.testing.assert_close(a, b.float(), rtol=1e-5, atol=1e-5, msg=field)
        else:
            assert torch.equal(a, b), field
    assert backend.full == len(starts)
    predecessors = set((starts - window).tolist())
    assert backend.predecessors_only == len(predecessors - set(starts.tolist()))


@pytest.mark.parametrize("stride, unscored_predecessors", [(None, 1), (10, 2), (7, None)])
def test_a_stream_pushed_window_by_window_runs_each_window_once(bundle, stride, unscored_predecessors):
    """watch pushes a few rows at a time: the window before each new one was scored in an earlier push,
    and its predictions are kept for it, so the network sees each window once (and the rows equal
    those of the same pushes without the cache). A predecessor that is not itself scored (the first
    ones; every one when the stride does not divide the window) runs on its own."""
    from jepawatch.adapters import Series
    from jepawatch.scoring.scorer import Scorer, ScoreSettings

    rng = np.random.default_rng(2)
    channels = bundle.preprocess.channels
    values = rng.standard_normal((300, len(channels))).astype(np.float32)
    scorer = Scorer(bundle, torch.device("cpu"), ScoreSettings(stride=stride))
    counting = scorer.backend = CountingBackend(bundle.model)
    cursor, rows = scorer.cursor(), []
    for start in range(0, len(values), 9):  # 9 rows a push: about one window completes at a time
        rows += cursor.push(Series(values[start:start + 9], list(channels)))
    assert counting.full == len(rows) > 10
    assert counting.predecessors_only == (len(rows) if unscored_predecessors is None else unscored_predecessors)
    uncached, before = Scorer(bundle, torch.device("cpu"), ScoreSettings(stride=stride)).cursor(), []
    for start in range(0, len(values), 9):
        uncached.kept = None  # each push on its own, as before the cache
        before += uncached.push(Series(values[start:start + 9], list(channels)))
    assert rows == before
