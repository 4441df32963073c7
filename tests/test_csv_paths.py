"""`score` (the CSV adapter) and `watch --follow` (the row parser) read the same file the same way:
one sniffer decides the delimiter and the decimal comma for both."""

from __future__ import annotations

import numpy as np
import pytest

from jepawatch.adapters import ReadOptions, iter_batches
from jepawatch.adapters.csv_dialect import sniff_lines
from jepawatch.adapters.csv_lines import RowParser
from jepawatch.live.sources import FollowSource

CHANNELS = ["a", "b"]

TRICKY = {
    # semicolons with decimal commas (a European Excel export)
    "semicolon-decimal-comma": "time;a;b\n2026-01-01 00:00:00;1,5;2,25\n2026-01-01 00:00:01;3,5;-4,75\n",
    # semicolons with decimal points: a comma-free file must not be read with a decimal comma
    "semicolon-decimal-point": "time;a;b\n2026-01-01 00:00:00;1.5;2.25\n2026-01-01 00:00:01;3.5;-4.75\n",
    # tabs, a decimal comma in one cell only
    "tab-one-comma": "time\ta\tb\n2026-01-01 00:00:00\t1\t2\n2026-01-01 00:00:01\t3,5\t4\n",
    # a header with more commas than semicolons (quoted names): `max(line.count)` took ',' here
    "quoted-names": 'time;"a";"b";"note, free, text, more, words"\n2026-01-01 00:00:00;1;2;x\n2026-01-01 00:00:01;3;4;y\n',
    # commas, quoted numbers and an empty cell
    "comma-quoted": 'time,a,b\n2026-01-01 00:00:00,"1.5",2\n2026-01-01 00:00:01,,4\n',
}


def _score_path(path):
    batches = list(iter_batches(path, None, ReadOptions(columns=tuple(CHANNELS))))
    return np.concatenate([b.values for b in batches])


def _follow_path(path):
    source = FollowSource(path, CHANNELS, None, poll_seconds=0.01)
    for tick in source:  # a finished file arrives in the first poll
        return tick.batch.values


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_score_and_follow_read_a_file_alike(name, tmp_path):
    path = tmp_path / f"{name}.csv"
    path.write_text(TRICKY[name])
    scored, followed = _score_path(path), _follow_path(path)
    np.testing.assert_array_equal(scored, followed)
    assert scored.shape == (2, 2) and np.isfinite(scored).sum() >= 3


def test_a_header_alone_decides_the_decimal_comma_on_the_first_rows():
    parser = RowParser(CHANNELS, None, "f.csv")
    parser.set_header("time;a;b")  # a followed file that has only its header so far
    rows = parser.parse(["2026-01-01 00:00:00;1,5;2"])
    assert rows.values.tolist() == [[1.5, 2.0]]
    assert sniff_lines(["time;a;b", "2026-01-01 00:00:00;1,5;2"]).decimal_comma


def test_the_follow_parser_has_no_dialect_rules_of_its_own():
    """The row parser asks the adapter's sniffer and its number parser; it keeps no delimiter, decimal
    or number rule beside them."""
    import inspect

    from jepawatch.adapters import csv_lines

    text = inspect.getsource(csv_lines)
    assert "DELIMITERS" not in text and "line.count" not in text and 'delimiter != ","' not in text
    assert "float(" not in text and '"true"' not in text
