"""`jepawatch watch`: tail -F semantics under a real writer, resumable state, replay, the live table."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from jepawatch.cli.app import app
from jepawatch.live.display import WatchStats, compact_codes, render
from jepawatch.live.follow import FollowedFile
from jepawatch.live.sources import Speed, parse_speed

from conftest import append_in_pieces, make_frame, train_tiny

runner = CliRunner()
WINDOW = 20  # TINY_MTS
HEADER = "timestamp,ch0,ch1,ch2,flag"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("watch")
    make_frame(rows=1200).to_csv(root / "train.csv", index=False)
    return train_tiny(root, epochs=1)


def data_lines(rows: int, seed: int = 1) -> list[str]:
    """CSV lines (no header) with the training columns, some empty cells (missing values)."""
    frame = make_frame(rows=rows, seed=seed)
    frame.loc[frame.index % 37 == 5, "ch1"] = np.nan
    return frame.to_csv(index=False, header=False, na_rep="").splitlines()


class Watch:
    """`jepawatch watch --jsonl` in a child process; stdout lines collected by a thread."""

    def __init__(self, bundle: Path, path: Path, *args: str):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jepawatch", "watch", str(path), "--model", str(bundle), "--jsonl", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.rows: list[dict] = []
        self.err: deque[str] = deque()
        self._threads = [threading.Thread(target=self._read_out, daemon=True),
                         threading.Thread(target=self._read_err, daemon=True)]
        for thread in self._threads:
            thread.start()

    def _read_out(self):
        for line in self.process.stdout:
            self.rows.append(json.loads(line))

    def _read_err(self):
        for line in self.process.stderr:
            self.err.append(line)

    def wait_for(self, condition, timeout: float = 60.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None and not condition():
                time.sleep(0.2)
                if condition():
                    return
                raise AssertionError(f"watch exited ({self.process.returncode}) before {what}: {''.join(self.err)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {''.join(self.err)}")
            time.sleep(0.02)

    def started(self) -> None:
        self.wait_for(lambda: any("following" in line or "replaying" in line for line in self.err), what="start")

    def finish(self, timeout: float = 60.0) -> int:
        code = self.process.wait(timeout)
        for thread in self._threads:
            thread.join(5)
        return code


def score_rows(bundle: Path, path: Path) -> list[dict]:
    result = runner.invoke(app, ["score", str(path), "--model", str(bundle)])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def assert_same_windows(watched: list[dict], scored: list[dict]) -> None:
    assert [r["window_start"] for r in watched] == [r["window_start"] for r in scored]
    assert [r["end_time"] for r in watched] == [r["end_time"] for r in scored]
    np.testing.assert_allclose([r["next_window_risk"] for r in watched], [r["next_window_risk"] for r in scored], atol=1e-5)
    assert [r["regime"] for r in watched] == [r["regime"] for r in scored]


# --- follow mode under a real writer ------------------------------------------------------------

def spoiled(line: str, rng: random.Random) -> str:
    """A malformed copy of a data row: too few fields, or a word where a number goes."""
    fields = line.split(",")
    return ",".join(fields[:2]) if rng.random() < 0.5 else ",".join([fields[0], "oops", *fields[2:]])


def test_follow_scores_every_window_once_through_partial_lines_truncation_rotation_and_bad_rows(bundle, tmp_path):
    path = tmp_path / "live.csv"
    path.write_text(HEADER + "\n")
    lines = data_lines(900)
    rng = random.Random(3)
    watch = Watch(bundle, path, "--follow", "--poll", "0.01", "--stop-after-idle", "2")
    watch.started()
    written: list[str] = []  # the valid rows in the order the reader sees them
    malformed = 0

    def append(text: str) -> None:
        append_in_pieces(path, text, rng, longest=400, pause=0.004)

    def write_rows(batch: list[str]) -> None:
        nonlocal malformed
        out = []
        for line in batch:
            if rng.random() < 0.03:  # a malformed row: too few fields, or a word where a number goes
                out.append(spoiled(line, rng))
                malformed += 1
            out.append(line)
            written.append(line)
        append("".join(line + "\n" for line in out))

    def writer() -> None:
        write_rows(lines[:300])  # 300 rows = 15 windows
        # copytruncate: truncate only once everything written was read (its last window scored),
        # as a real one can lose rows written between the copy and the truncation.
        watch.wait_for(lambda: watch.rows and watch.rows[-1]["window_end"] == 299, what="window ending at row 299")
        with open(path, "r+") as handle:
            handle.truncate(0)
        append(HEADER + "\n")
        write_rows(lines[300:610])
        os.rename(path, tmp_path / "live.csv.1")  # rotation: rename, then a new file
        append(HEADER + "\n")
        write_rows(lines[610:])

    thread = threading.Thread(target=writer)
    thread.start()
    thread.join(120)
    assert watch.finish() == 0, "".join(watch.err)
    assert malformed > 0
    total = len(written)
    starts = [r["window_start"] for r in watch.rows]
    assert starts == list(range(WINDOW, total - WINDOW + 1, WINDOW))  # every complete window, once, in order
    summary = "".join(watch.err)
    assert "truncated" in summary and ("rotated" in summary or "vanished" in summary)
    assert f"{malformed} malformed row(s) skipped" in summary
    # the windows are the ones `score` finds in the same rows written as one file
    whole = tmp_path / "whole.csv"
    whole.write_text(HEADER + "\n" + "".join(line + "\n" for line in written))
    assert_same_windows(watch.rows, score_rows(bundle, whole))


def test_follow_resumes_after_ctrl_c_and_kill_9_without_repeating_or_skipping(bundle, tmp_path):
    path, state = tmp_path / "live.csv", tmp_path / "watch.state"
    lines = data_lines(700)
    path.write_text(HEADER + "\n" + "".join(line + "\n" for line in lines[:250]))
    seen: list[dict] = []

    first = Watch(bundle, path, "--follow", "--state", str(state), "--poll", "0.01")
    first.started()
    first.wait_for(lambda: len(first.rows) == 11, what="11 windows")  # rows 20..239 scored, 240..249 wait
    time.sleep(0.3)
    first.process.send_signal(signal.SIGINT)
    assert first.finish() == 0
    assert "interrupted" in "".join(first.err)
    seen += first.rows

    with open(path, "a") as handle:  # rows arrive while nothing watches, one cut mid-line
        handle.write("".join(line + "\n" for line in lines[250:500]) + lines[500][:7])
    second = Watch(bundle, path, "--follow", "--state", str(state), "--poll", "0.01")
    second.started()
    second.wait_for(lambda: second.rows and second.rows[-1]["window_end"] == 499, what="window ending at 499")
    time.sleep(0.3)
    second.process.kill()  # kill -9: no chance to save anything more
    second.finish()
    seen += second.rows

    with open(path, "a") as handle:
        handle.write(lines[500][7:] + "\n" + "".join(line + "\n" for line in lines[501:]))
    third = Watch(bundle, path, "--follow", "--state", str(state), "--poll", "0.01", "--stop-after-idle", "1")
    assert third.finish() == 0, "".join(third.err)
    seen += third.rows

    assert [r["window_start"] for r in seen] == list(range(WINDOW, 700 - WINDOW + 1, WINDOW))
    assert_same_windows(seen, score_rows(bundle, path))


def test_tail_torture_every_window_exactly_once(bundle, tmp_path):
    """Random chunks split mid-line, malformed rows, a SIGKILL and restart with --state, a rename rotation
    whose new file is empty for a moment, and a copytruncate the writer continues without a header."""
    path, state = tmp_path / "live.csv", tmp_path / "watch.state"
    lines = data_lines(25 * WINDOW, seed=5)  # 24 scored windows
    rng = random.Random(11)
    malformed = 0

    def append(text: str) -> None:
        append_in_pieces(path, text, rng, longest=300, pause=0.003)

    def rows_text(batch: list[str], bad_first: bool = False) -> str:
        nonlocal malformed
        out = []
        for k, line in enumerate(batch):
            if (bad_first and k == 0) or rng.random() < 0.05:
                out.append(spoiled(line, rng))
                malformed += 1
            out.append(line)
        return "".join(line + "\n" for line in out)

    def scored_to(watch: Watch, row: int) -> None:
        watch.wait_for(lambda: watch.rows and watch.rows[-1]["window_end"] == row, what=f"window ending at {row}")
        time.sleep(0.3)  # its state saved

    path.write_text("")
    first = Watch(bundle, path, "--follow", "--state", str(state), "--poll", "0.01")
    first.started()
    append(HEADER + "\n" + rows_text(lines[:120]))
    scored_to(first, 119)
    first.process.kill()  # SIGKILL: no chance to save anything more
    first.finish()
    append(rows_text(lines[120:200]) + lines[200][:9])  # written while nothing watches, cut mid-line

    second = Watch(bundle, path, "--follow", "--state", str(state), "--poll", "0.01", "--stop-after-idle", "3")
    second.started()
    append(lines[200][9:] + "\n" + rows_text(lines[201:260]))
    scored_to(second, 259)
    # rotation: the new file is empty for a moment, its header comes later. Put in place atomically (the
    # old file kept as live.csv.1 by a hard link), so that no poll finds the path missing in between,
    # which the watcher reports as "vanished" and "appeared" instead (correctly, but this test counts
    # the "rotated" event; a rename-then-create had that race under load on 2 cores).
    fresh = tmp_path / "fresh.csv"
    fresh.write_text("")
    os.link(path, tmp_path / "live.csv.1")
    os.replace(fresh, path)
    time.sleep(0.2)
    append(HEADER[:9])
    time.sleep(0.1)
    append(HEADER[9:] + "\n" + rows_text(lines[260:380]))
    scored_to(second, 379)
    with open(path, "r+") as handle:  # copytruncate: emptied in place, the writer carries on without a header
        handle.truncate(0)
    time.sleep(0.1)
    append(rows_text(lines[380:], bad_first=True))
    assert second.finish() == 0, "".join(second.err)

    seen = first.rows + second.rows
    assert [r["window_start"] for r in seen] == list(range(WINDOW, len(lines) - WINDOW + 1, WINDOW))
    summary = "".join(second.err)
    assert "rotated" in summary and "truncated" in summary and f"{malformed} malformed row(s) skipped" in summary
    whole = tmp_path / "whole.csv"
    whole.write_text(HEADER + "\n" + "".join(line + "\n" for line in lines))
    assert_same_windows(seen, score_rows(bundle, whole))


def killed_after(watch: Watch, row: int) -> list[dict]:
    """SIGKILL once the window ending at `row` is out and its state saved; the windows it wrote."""
    watch.wait_for(lambda: watch.rows and watch.rows[-1]["window_end"] == row, what=f"window ending at {row}")
    time.sleep(0.3)
    watch.process.kill()
    watch.finish()
    return watch.rows


def rows_text(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def test_rotation_while_nothing_watches_loses_no_row_in_either_mode(bundle, tmp_path):
    """Kill, keep writing, rotate (a rename, then a copytruncate whose copy is compressed later),
    restart: the rows written to the rotated-away file after the kill are read from it, every
    window scored exactly once, as `score` scores the rows written as one file."""
    path, state = tmp_path / "live.csv", tmp_path / "watch.state"
    lines = data_lines(30 * WINDOW, seed=3)  # 29 scored windows
    path.write_text(HEADER + "\n" + rows_text(lines[:130]))
    seen = killed_after(Watch(bundle, path, "--follow", "--state", str(state), "--poll", "0.01"), 119)
    with open(path, "a") as handle:  # written while nothing watches, then rotated away by a rename
        handle.write(rows_text(lines[130:250]))
    os.rename(path, tmp_path / "live.csv.1")
    path.write_text(HEADER + "\n" + rows_text(lines[250:300]))

    second = Watch(bundle, path, "--follow", "--state", str(state), "--poll", "0.01")
    seen += killed_after(second, 299)
    assert any("reading the rest of live.csv.1" in line for line in second.err), "".join(second.err)
    with open(path, "a") as handle:  # written while nothing watches, then copied away and emptied in place
        handle.write(rows_text(lines[300:420]))
    os.rename(tmp_path / "live.csv.1", tmp_path / "live.csv.2")
    (tmp_path / "live.csv.1").write_bytes(path.read_bytes())
    with open(path, "r+") as handle:
        handle.truncate(0)
    subprocess.run(["gzip", str(tmp_path / "live.csv.1")], check=True)  # logrotate's compress, no delaycompress
    with open(path, "a") as handle:  # the writer carries on without a header
        handle.write(rows_text(lines[420:]))

    third = Watch(bundle, path, "--follow", "--state", str(state), "--poll", "0.01", "--stop-after-idle", "1.5")
    assert third.finish() == 0, "".join(third.err)
    seen += third.rows
    assert any("reading the rest of live.csv.1.gz" in line for line in third.err), "".join(third.err)
    assert "gap" not in "".join(third.err) and all("rows_lost_before" not in r for r in seen)
    assert [r["window_start"] for r in seen] == list(range(WINDOW, len(lines) - WINDOW + 1, WINDOW))
    whole = tmp_path / "whole.csv"
    whole.write_text(HEADER + "\n" + rows_text(lines))
    assert_same_windows(seen, score_rows(bundle, whole))


def test_rows_rotated_away_and_deleted_while_nothing_watches_are_a_gap_no_window_spans(bundle, tmp_path):
    path, state = tmp_path / "live.csv", tmp_path / "watch.state"
    lines = data_lines(20 * WINDOW, seed=4)
    path.write_text(HEADER + "\n" + rows_text(lines[:130]))
    seen = killed_after(Watch(bundle, path, "--follow", "--state", str(state), "--poll", "0.01"), 119)
    with open(path, "a") as handle:
        handle.write(rows_text(lines[130:200]))
    os.remove(path)  # rotated away and deleted (logrotate's rotate 0), a new file written
    path.write_text(HEADER + "\n" + rows_text(lines[200:]))

    second = Watch(bundle, path, "--follow", "--state", str(state), "--poll", "0.01", "--stop-after-idle", "1.5")
    assert second.finish() == 0, "".join(second.err)
    errors = "".join(second.err)
    assert "in no file beside it" in errors and "about 70 row(s) lost, by the time stamps" in errors, errors
    assert "1 gap(s) in the file (about 70 rows lost)" in errors, errors
    # rows 120..129 (read before the kill) and 130..199 (lost) never join the rows after the gap: the
    # windows start afresh at row 130 of this run's count (200 of the file), the first after a window of context
    after = second.rows
    assert [r["window_start"] for r in after] == list(range(130 + WINDOW, 130 + 200 - WINDOW + 1, WINDOW))
    assert after[0]["rows_lost_before"] == 70 and all("rows_lost_before" not in r for r in after[1:])
    for row in seen + after:
        span = np.datetime64(row["end_time"]) - np.datetime64(row["start_time"])
        assert span == np.timedelta64(WINDOW - 1, "s"), row  # no window spans the gap
    alone = tmp_path / "after.csv"  # the windows after the gap are the ones of the new file on its own
    alone.write_text(HEADER + "\n" + rows_text(lines[200:]))
    expected = score_rows(bundle, alone)
    assert [r["end_time"] for r in after] == [r["end_time"] for r in expected]
    np.testing.assert_allclose([r["next_window_risk"] for r in after], [r["next_window_risk"] for r in expected], atol=1e-5)


def test_header_less_rows_after_a_copytruncate_keep_the_files_header(tmp_path):
    from jepawatch.live.sources import FollowSource

    path = tmp_path / "f.csv"
    path.write_text("timestamp,a,b\n2026-01-01 00:00:00,1,2\n")
    source = FollowSource(path, ["a", "b"], None, poll_seconds=0.01)
    ticks = iter(source)
    assert next(ticks).batch.values.tolist() == [[1.0, 2.0]]
    with open(path, "r+") as handle:
        handle.truncate(0)
    path.write_text("2026-01-01 00:00:01,3,4\n2026-01-01 00:00:02,5\n")  # a row, then a malformed one
    tick = next(ticks)
    assert tick.batch.values.tolist() == [[3.0, 4.0]] and tick.malformed == 1
    assert source.position["header"] == "timestamp,a,b"  # a restart from this position still knows the columns


# --- replay --------------------------------------------------------------------------------------

def test_replay_matches_score_and_resumes_with_state(bundle, tmp_path):
    path, state = tmp_path / "done.csv", tmp_path / "replay.state"
    lines = data_lines(500)
    path.write_text(HEADER + "\n" + "".join(line + "\n" for line in lines[:300]))
    first = runner.invoke(app, ["watch", str(path), "--model", str(bundle), "--replay", "--jsonl", "--state", str(state)])
    assert first.exit_code == 0, first.output
    with open(path, "a") as handle:
        handle.write("".join(line + "\n" for line in lines[300:]))
    second = runner.invoke(app, ["watch", str(path), "--model", str(bundle), "--replay", "--jsonl", "--state", str(state),
                                 "--speed", "5000"])
    assert second.exit_code == 0, second.output
    rows = [json.loads(line) for result in (first, second) for line in result.stdout.splitlines()]
    assert_same_windows(rows, score_rows(bundle, path))
    assert len([json.loads(line) for line in second.stdout.splitlines()]) == 10  # windows 300..499 only


def test_replay_of_a_parquet_file_prints_plain_lines_when_piped(bundle, tmp_path):
    path = tmp_path / "data.parquet"
    make_frame(rows=200, seed=2).to_parquet(path)
    result = runner.invoke(app, ["watch", str(path), "--model", str(bundle)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "risk=" in line]
    assert len(lines) == 200 // WINDOW - 1 and "regime=" in lines[0] and "drivers=" in lines[0]


def test_speed_parsing_and_pacing(monkeypatch):
    assert parse_speed("max") == Speed() and parse_speed("250") == Speed(rows_per_second=250)
    assert parse_speed("60x") == Speed(time_multiple=60)
    from jepawatch.errors import ConfigError

    with pytest.raises(ConfigError):
        parse_speed("fast")
    # 400 rows at 200 rows/s are due over 2 s; at 60x real time, 120 one-minute rows over 2 min of data take 2 s
    from jepawatch.adapters import Series
    from jepawatch.live import sources

    now = [0.0]  # a fake clock that sleeping advances
    monkeypatch.setattr(sources.time, "sleep", lambda seconds: now.__setitem__(0, now[0] + seconds))
    monkeypatch.setattr(sources.time, "monotonic", lambda: now[0])
    stamps = np.arange(np.datetime64("2026-01-01T00:00"), np.datetime64("2026-01-01T02:00"), np.timedelta64(1, "m"))
    batch = Series(np.zeros((120, 1), dtype=np.float32), ["a"], stamps.astype("datetime64[ns]"))
    for speed, expected in ((Speed(rows_per_second=60), 2.0), (Speed(time_multiple=3600), 2.0)):
        now[0] = 0.0
        pace = sources._Pace(speed)
        pieces = list(pace.pieces(batch))
        for piece in pieces:
            pace.wait_for(piece)
        assert len(pieces) > 5  # paced in small pieces, not one jump
        assert now[0] == pytest.approx(expected * (1 - len(pieces[-1].values) / 120), rel=0.05)


# --- FollowedFile -----------------------------------------------------------------------------

def lines_of(result) -> list[bytes]:
    return [line for chunk in result.chunks for line in chunk.lines]


def test_followed_file_holds_partial_lines_and_sees_truncation_that_regrew(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b\n1,2\n3,")
    followed = FollowedFile(path)
    assert lines_of(followed.poll()) == [b"a,b", b"1,2"]
    with open(path, "ab") as handle:
        handle.write(b"4\r\n")
    assert lines_of(followed.poll()) == [b"3,4"]
    path.write_bytes(b"a,b\n9,9\n8,8\n7,7\n")  # truncated and already longer than before
    result = followed.poll()
    assert any("truncated" in e for e in result.events)
    assert lines_of(result) == [b"a,b", b"9,9", b"8,8", b"7,7"] and result.chunks[0].starts_file


def test_followed_file_drains_a_rotated_file_and_waits_for_a_vanished_one(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"h\n1\n")
    followed = FollowedFile(path)
    assert lines_of(followed.poll()) == [b"h", b"1"]
    with open(path, "ab") as handle:
        handle.write(b"2\n3")  # written just before rotation; "3" never gets its newline
    os.rename(path, tmp_path / "f.csv.1")
    path.write_bytes(b"h\n4\n")
    result = followed.poll()
    assert lines_of(result) == [b"2", b"h", b"4"] and result.dropped_partial == 1
    os.remove(path)
    result = followed.poll()
    assert result.waiting and any("vanished" in e for e in result.events)
    assert followed.poll().waiting
    path.write_bytes(b"h\n5\n")
    assert lines_of(followed.poll()) == [b"h", b"5"]


def test_a_copytruncate_between_polls_reads_the_rows_before_it_from_the_copy(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"h\n1\n2\n")
    followed = FollowedFile(path)
    assert lines_of(followed.poll()) == [b"h", b"1", b"2"]
    with open(path, "ab") as handle:
        handle.write(b"3\n4\n")  # written after the last poll, then copied away and emptied in place
    (tmp_path / "f.csv.1").write_bytes(path.read_bytes())
    with open(path, "r+b") as handle:
        handle.truncate(0)
        handle.write(b"5\n")
    seen, events = [], []
    for _ in range(4):
        result = followed.poll()
        seen += lines_of(result)
        events += result.events
        assert not any(chunk.after_gap for chunk in result.chunks)
    assert seen == [b"3", b"4", b"5"], seen
    assert any("from its copy f.csv.1" in e for e in events), events


def followed_once(path):
    """Where a watcher that read `path` once and was stopped had got."""
    followed = FollowedFile(path)
    followed.poll()
    saved = followed.position
    followed.close()
    return saved


def test_a_restart_reads_the_saved_file_from_its_compressed_generation_then_the_newer_ones(tmp_path):
    import gzip

    path = tmp_path / "f.csv"
    path.write_bytes(b"h\n1\n2\n")
    saved = followed_once(path)
    with open(path, "ab") as handle:
        handle.write(b"3\n")
    os.rename(path, tmp_path / "f.csv.1")  # rotated twice while nothing watched; the older one compressed
    with gzip.open(tmp_path / "f.csv.2.gz", "wb") as packed:
        packed.write((tmp_path / "f.csv.1").read_bytes())
    os.remove(tmp_path / "f.csv.1")
    (tmp_path / "f.csv.1").write_bytes(b"h\n4\n")
    time.sleep(0.01)
    (tmp_path / "unrelated.csv.1").write_bytes(b"h\n9\n")
    path.write_bytes(b"h\n5\n")
    old = time.time() - 60  # the compressed generation is the oldest (gzip keeps the file's time)
    os.utime(tmp_path / "f.csv.2.gz", (old, old))
    followed = FollowedFile(path, saved)
    seen = []
    for _ in range(6):
        result = followed.poll()
        seen += [(line, chunk.after_gap) for chunk in result.chunks for line in chunk.lines]
    assert [line for line, _ in seen] == [b"3", b"h", b"4", b"h", b"5"] and not any(gap for _, gap in seen)


def test_a_saved_file_found_nowhere_marks_the_next_rows_as_after_a_gap(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"h\n1\n2\n")
    saved = followed_once(path)
    (tmp_path / "f.csv.1").write_bytes(b"h\n7\n8\n")  # a rotated file of other content: not the saved one
    os.remove(path)
    path.write_bytes(b"h\n5\n")
    result = FollowedFile(path, saved).poll()
    assert lines_of(result) == [b"h", b"5"] and result.chunks[0].after_gap
    assert any("in no file beside it" in e for e in result.events)


def test_rows_lost_in_a_gap_are_estimated_from_the_time_stamps_or_said_unknown():
    from jepawatch.scoring.gaps import estimate_rows_lost, gap_record

    stamps = np.array([f"2026-01-01T00:00:{s:02d}" for s in range(0, 20, 2)], dtype=object)
    record = gap_record(stamps)
    assert estimate_rows_lost(record, np.array(["2026-01-01T00:01:00"], dtype=object)) == 20  # 18 -> 60 s, step 2
    assert estimate_rows_lost(gap_record(np.array(["1", "2", "3"], dtype=object)), np.array(["10"], dtype=object)) == 6
    assert estimate_rows_lost(gap_record(None), np.array(["10"], dtype=object)) is None  # no times
    assert estimate_rows_lost(record, None) is None
    assert estimate_rows_lost(record, np.array(["2025-12-31T00:00:00"], dtype=object)) is None  # time went back
    assert gap_record(np.array(["3", "2", "1"], dtype=object))["last"] is None  # no regular step


def test_a_damaged_compressed_generation_is_passed_over_and_the_gap_said(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"h\n1\n2\n")
    saved = followed_once(path)
    (tmp_path / "f.csv.2.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\xff" * 64)  # gzip's magic, then garbage
    os.remove(path)
    path.write_bytes(b"h\n5\n")
    result = FollowedFile(path, saved).poll()
    assert result.gap and lines_of(result) == [b"h", b"5"]


def test_a_gap_met_before_any_row_is_kept_by_a_watch_that_stops_then(bundle, tmp_path):
    """The gap is said and the context starts afresh at once, so a watch stopped before the next
    row arrives saves a state that still knows it: the rows after never join those before."""
    path, state = tmp_path / "live.csv", tmp_path / "watch.state"
    lines = data_lines(20 * WINDOW, seed=6)
    path.write_text(HEADER + "\n" + rows_text(lines[:130]))
    seen = killed_after(Watch(bundle, path, "--follow", "--state", str(state), "--poll", "0.01"), 119)
    os.remove(path)  # rotated away and deleted; the new file has only its header yet
    path.write_text(HEADER + "\n")
    quiet = Watch(bundle, path, "--follow", "--state", str(state), "--poll", "0.01", "--stop-after-idle", "1")
    assert quiet.finish() == 0 and not quiet.rows and "in no file beside it" in "".join(quiet.err)
    with open(path, "a") as handle:
        handle.write(rows_text(lines[200:]))
    after = Watch(bundle, path, "--follow", "--state", str(state), "--poll", "0.01", "--stop-after-idle", "1.5")
    assert after.finish() == 0, "".join(after.err)
    assert after.rows[0]["window_start"] == 130 + WINDOW and "rows_lost_before" in after.rows[0]
    for row in seen + after.rows:
        span = np.datetime64(row["end_time"]) - np.datetime64(row["start_time"])
        assert span == np.timedelta64(WINDOW - 1, "s"), row


def test_a_gap_is_counted_in_the_table_the_summary_and_the_metrics():
    from jepawatch.alerts.metrics import RiskMetrics

    stats = WatchStats("m", "live.csv", "follow", 0.99, "label-free", rows_read=500)
    stats.gaps = 2
    stats.add_windows([{**window_row(1, 0.2, False), "rows_lost_before": 70}, window_row(2, 0.3, False)])
    stats.add_windows([{**window_row(3, 0.2, False), "rows_lost_before": None}])
    assert "2 gap(s) in the file (about 70 rows lost and rows lost unknown in 1" in stats.summary()
    console = Console(width=120, record=True, color_system=None, force_terminal=False)
    console.print(render(stats))
    assert "2 gap(s) in the file" in console.export_text()
    metrics = RiskMetrics()
    for row in ({**window_row(1, 0.2, False), "rows_lost_before": 70}, window_row(2, 0.3, False),
                {**window_row(3, 0.2, False), "rows_lost_before": None}):
        metrics.observe("live", "m", row, False)
    text = metrics.text()
    assert 'jepawatch_gaps_total{model="m",series="live"} 2.0' in text
    assert 'jepawatch_rows_lost_total{model="m",series="live"} 70.0' in text


def test_a_gap_pending_in_a_saved_context_still_starts_windows_afresh_and_is_said(bundle):
    """Killed after the gap was met but before its first window: the saved context carries the gap."""
    import json as json_module

    import torch

    from jepawatch.adapters import Series
    from jepawatch.bundle import load_bundle
    from jepawatch.scoring.scorer import Scorer, ScoringCursor, StreamContext

    scorer = Scorer(load_bundle(bundle), torch.device("cpu"))
    frame = make_frame(rows=400, seed=2)
    channels = [c for c in frame.columns if c != "timestamp"]
    values = frame[channels].to_numpy(np.float32)
    times = frame["timestamp"].to_numpy("datetime64[s]")
    cursor = scorer.cursor()
    cursor.push(Series(values[:130], channels, times[:130]))
    cursor.start_after_gap()  # rows 130..199 lost
    saved = json_module.loads(json_module.dumps(cursor.context.to_dict()))
    resumed = ScoringCursor(scorer, StreamContext.from_dict(saved, len(scorer.channels)))
    rows = resumed.push(Series(values[200:], channels, times[200:]))
    assert [r["window_start"] for r in rows] == list(range(130 + WINDOW, 130 + 200 - WINDOW + 1, WINDOW))
    assert rows[0]["rows_lost_before"] == 70 and "rows_lost_before" not in rows[1]


# --- the display -------------------------------------------------------------------------------

def window_row(i: int, risk: float, alert: bool) -> dict:
    return {"window_start": 100 * i, "window_end": 100 * i + 99, "start_time": None,
            "end_time": f"2026-11-23T10:{i:02d}:00", "next_window_risk": risk, "alert": alert,
            "risk_source": "label-free", "regime": "12 12 12 40 7", "coarse_regime": 3, "next_regime": "40 40 40 40 40",
            "drivers": "cpu_utilisation_percent, memory_used_bytes, disk_io"}


def test_live_table_fits_80_columns_and_shows_what_matters():
    stats = WatchStats("machine_metrics", "/var/log/metrics/a-rather-long-path/live.csv", "follow", 0.99, "label-free",
                       rows_read=12345, malformed=2)
    stats.add_windows([window_row(i, risk, risk >= 0.99) for i, risk in enumerate((0.1, 0.55, 0.995))])
    console = Console(width=80, record=True, color_system=None, force_terminal=False)
    console.print(render(stats))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    for fragment in ("machine_metrics", "12,345 rows", "3 windows", "1 alerts", "2 malformed", "11-23 10:02:00",
                     "0.99", "12×3 40 7 | 3", "cpu_utilisation", "[follow]"):
        assert fragment in text, (fragment, text)
    wide = Console(width=120, record=True, color_system=None, force_terminal=False)
    wide.print(render(stats))
    assert "40×5" in wide.export_text()  # the predicted next codes, from 100 columns
    alert_line = next(line for line in text.splitlines() if line.startswith("11-23 10:02:00"))
    quiet_line = next(line for line in text.splitlines() if line.startswith("11-23 10:00:00"))
    assert "!" in alert_line and "!" not in quiet_line
    assert compact_codes("1 1 2 2 2 3") == "1×2 2×3 3"


# --- bad input ---------------------------------------------------------------------------------

def test_watch_bad_inputs_are_one_line_errors(bundle, tmp_path):
    def error(*args) -> str:
        result = runner.invoke(app, ["watch", *map(str, args), "--model", str(bundle), "--jsonl"])
        text = " ".join(result.output.split())
        assert result.exit_code == 1 and text.startswith("error:") and "Traceback" not in text, result.output
        return text

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("timestamp,ch0,chX\n2026-01-01,1,2\n")
    assert "lacks the model's channel(s) ch1, ch2" in error(wrong, "--follow", "--stop-after-idle", "0.2")
    bare = tmp_path / "bare.csv"
    bare.write_text("1,2,3,4\n")
    assert "no header line" in error(bare, "--follow", "--stop-after-idle", "0.2")
    assert "only a plain CSV" in error(tmp_path / "x.parquet", "--follow")
    assert "does not exist" in error(tmp_path / "missing.csv", "--replay")
    assert "--speed" in error(wrong, "--replay", "--speed", "fast")
    untimed = tmp_path / "untimed.csv"
    make_frame(rows=100).drop(columns="timestamp").to_csv(untimed, index=False)
    assert "no date/time column" in error(untimed, "--replay", "--speed", "10x")
    state = tmp_path / "s.json"
    ok = tmp_path / "ok.csv"
    make_frame(rows=100).to_csv(ok, index=False)
    assert runner.invoke(app, ["watch", str(ok), "--model", str(bundle), "--replay", "--jsonl", "--state", str(state)]).exit_code == 0
    assert "--replay" in error(ok, "--follow", "--state", state, "--stop-after-idle", "0.2")
    assert "--threads must be at least 1" in error(ok, "--replay", "--threads", "0")
    state.write_text("{not json")
    assert "unreadable" in error(ok, "--replay", "--state", state)


def test_a_second_watch_on_the_same_state_exits_75(bundle, tmp_path):
    from jepawatch.locking import state_lock

    ok, state = tmp_path / "ok.csv", tmp_path / "w.state"
    make_frame(rows=100).to_csv(ok, index=False)
    with state_lock(state, 0):  # a first watcher holds it
        result = runner.invoke(app, ["watch", str(ok), "--model", str(bundle), "--replay", "--jsonl", "--state", str(state),
                                     "--lock-wait", "0.2"])
    assert result.exit_code == 75, result.output
    assert " ".join(result.output.split()).startswith("error: another run is using the state file")
    assert not state.exists()


def test_binary_garbage_under_follow_is_counted_or_one_line(bundle, tmp_path):
    from jepawatch.live.sources import FollowSource

    path = tmp_path / "f.csv"
    path.write_text("timestamp,a,b\n2026-01-01 00:00:00,1,2\n")
    ticks = iter(FollowSource(path, ["a", "b"], None, poll_seconds=0.01))
    next(ticks)
    with open(path, "ab") as handle:  # garbage rows: a quote, then a carriage return inside it; NUL bytes
        handle.write(b'"\x8f\r\x01,2,3\n\x00\xff,\x00\n2026-01-01 00:00:01,3,4\n')
    tick = next(ticks)
    assert tick.batch.values.tolist() == [[3.0, 4.0]] and tick.malformed == 2
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 4 + b"\n")
    result = runner.invoke(app, ["watch", str(binary), "--model", str(bundle), "--follow", "--jsonl", "--stop-after-idle", "0.2"])
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and text.startswith("error:") and "is not a text file" in text, result.output


def test_a_rotated_in_file_with_other_columns_is_refused_not_misread(tmp_path):
    from jepawatch.errors import DataError
    from jepawatch.live.sources import FollowSource

    path = tmp_path / "f.csv"
    path.write_text("timestamp,a,b\n2026-01-01 00:00:00,1,2\n")
    ticks = iter(FollowSource(path, ["a", "b"], None, poll_seconds=0.01))
    assert next(ticks).batch.values.tolist() == [[1.0, 2.0]]
    with open(path, "r+") as handle:  # truncated; a row whose channels are all missing is still a row
        handle.truncate(0)
    path.write_text("2026-01-01 00:00:01,,\n")
    assert np.isnan(next(ticks).batch.values).all()
    os.rename(path, tmp_path / "f.csv.1")
    path.write_text("timestamp,x,y\n2026-01-01 00:00:02,3,4\n")  # another file: same field count, other columns
    with pytest.raises(DataError, match="lacks the model's channel"):
        for _ in range(5):
            next(ticks)
