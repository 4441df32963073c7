"""Property: whatever bytes sit in a .csv / .csv.gz file, the CSV adapter reads them or refuses them
with a JepawatchError (a one-line message at the CLI) -- never any other exception."""

from __future__ import annotations

import gzip
import os

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jepawatch.adapters import Series, iter_batches, read_dataset
from jepawatch.errors import JepawatchError

EXAMPLES = int(os.environ.get("JEPAWATCH_FUZZ_EXAMPLES", "150"))

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
)
cells = st.one_of(
    numbers, numbers, numbers, numbers,  # mostly numbers, so that many documents are read, not refused
    st.text(max_size=6),
    st.sampled_from(["", "NA", "nan", "true", "False", "2026-01-01 00:00:00", "1,5", '"', '""', "\r", "3.4e39", "-"]),
)


@st.composite
def csv_documents(draw) -> bytes:
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    width = draw(st.integers(1, 6))
    header = draw(st.lists(st.one_of(st.text(max_size=6), st.sampled_from(["timestamp", "label", "a", "a"])),
                           min_size=width, max_size=width))
    ragged = draw(st.booleans())
    rows = draw(st.lists(st.lists(cells, min_size=1 if ragged else width, max_size=width + 2 if ragged else width),
                         max_size=40))
    lines = [delimiter.join(row) for row in ([header] if draw(st.booleans()) else []) + rows]
    text = draw(st.sampled_from(["\n", "\r\n"])).join(lines) + draw(st.sampled_from(["", "\n"]))
    data = text.encode(draw(st.sampled_from(["utf-8", "latin-1", "utf-16"])), errors="replace")
    corruption = draw(st.sampled_from(["none", "none", "truncate", "flip", "nul"]))
    if data and corruption != "none":
        at = draw(st.integers(0, len(data) - 1))
        if corruption == "truncate":
            data = data[:at]
        elif corruption == "flip":
            data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
        else:
            data = data[:at] + b"\x00" + data[at:]
    return data


def check_read_or_refused(action) -> None:
    try:
        result = action()
    except JepawatchError as exc:
        event(f"refused: {type(exc).__name__}")
        return
    event("read")
    series = [result.part("train")] if hasattr(result, "part") else list(result)
    for part in series:
        assert isinstance(part, Series)
        assert part.values.dtype == np.float32 and part.values.ndim == 2
        assert part.values.shape[1] == len(part.channels) >= 1
        assert not np.isinf(part.values).any()  # infinite cells are missing cells


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(csv_documents(), st.binary(max_size=600)), packing=st.sampled_from(["plain", "gzip", "broken-gzip"]))
def test_any_csv_is_read_or_refused_with_a_jepawatch_error(tmp_path, content, packing):
    path = tmp_path / ("data.csv" if packing == "plain" else "data.csv.gz")
    if packing == "plain":
        path.write_bytes(content)
    else:
        packed = gzip.compress(content)
        path.write_bytes(packed if packing == "gzip" else packed[: max(2, len(packed) // 2)])
    check_read_or_refused(lambda: read_dataset(path, "csv"))
    check_read_or_refused(lambda: list(iter_batches(path, "csv", batch_rows=7)))
