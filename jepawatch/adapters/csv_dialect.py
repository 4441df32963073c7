"""Look at the first bytes of a delimited text file: is it text, which delimiter, is there a header.

Works on a sample (the first 64 KiB, decompressed for .gz), so it costs the same for any file size.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import math
import re
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

from jepawatch.errors import DataError

SAMPLE_BYTES = 64 * 1024
SAMPLE_LINES = 30
DELIMITERS = (",", ";", "\t")
NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$|^[+-]?(nan|inf|infinity)$", re.IGNORECASE)
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
BOOLEANS = {"true": 1.0, "false": 0.0}  # a boolean cell is a channel value, as the CSV reader's bool columns


@dataclass(frozen=True)
class Dialect:
    delimiter: str
    has_header: bool
    encoding: str  # utf-8 or latin-1
    decimal_comma: bool  # "1,5" means 1.5 (only with ';' or tab as delimiter)
    n_fields: int
    header_fields: int = 0  # fields of the header line (0 without a header)
    ragged_rows: int = 0  # sampled data rows whose field count differs from the header's (beyond empty trailing cells)
    sampled_rows: int = 0


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def read_head(path: Path, n_bytes: int = SAMPLE_BYTES) -> bytes:
    """The first `n_bytes` of the file's content (decompressed when gzip)."""
    try:
        if is_gzip(path):
            with gzip.open(path, "rb") as handle:
                return handle.read(n_bytes)
        with open(path, "rb") as handle:
            return handle.read(n_bytes)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} could not be read ({exc}); check that the file is a complete CSV or .csv.gz") from exc


def decode_head(head: bytes, source: str, truncated: bool = False) -> tuple[str, str]:
    """(text, encoding). Refuses binary content. `truncated`: the sample may end inside a character.

    UTF-16 with a byte-order mark (Excel's "Unicode text" export) is text too."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        usable = len(head) - len(head) % 2 if truncated else len(head)
        try:
            return head[:usable].decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise DataError(f"{source} starts like UTF-16 text but does not decode as it; save it as UTF-8 CSV") from None
    if b"\x00" in head:
        if looks_like_utf16(head):
            raise DataError(f"{source} looks like UTF-16 text without a byte-order mark; save it as UTF-8 CSV")
        raise DataError(f"{source} is not a text file (it holds binary data); give a CSV, or a Parquet file ending in .parquet")
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            text = head.decode(encoding)
        except UnicodeDecodeError as exc:
            if truncated and exc.start >= len(head) - 4:  # a multi-byte character cut by the sample's end
                text = head[: exc.start].decode(encoding)
            else:
                continue
        control = sum(1 for ch in text if ord(ch) < 32 and ch not in "\r\n\t")
        if text and control / len(text) > 0.01:
            raise DataError(f"{source} is not a text file (it holds binary data); give a CSV, or a Parquet file ending in .parquet")
        return text, "utf-8" if encoding == "utf-8-sig" else encoding
    raise DataError(f"{source} could not be decoded as text")  # pragma: no cover - latin-1 decodes anything


def looks_like_utf16(data: bytes | str) -> bool:
    """ASCII text in UTF-16 (no byte-order mark): every other byte a NUL."""
    if isinstance(data, str):
        data = data.encode("latin-1", errors="replace")
    data = data[: len(data) - len(data) % 2]
    if len(data) < 4:
        return False
    even, odd = data[0::2], data[1::2]
    return max(even.count(0), odd.count(0)) >= 0.9 * len(even) and min(even.count(0), odd.count(0)) <= 0.1 * len(even)


def sniff_file(path: Path, skip_rows: int = 0) -> Dialect | None:
    """The dialect of the CSV at `path` from its first bytes; None when it has no non-blank line."""
    head = read_head(path)
    truncated = len(head) == SAMPLE_BYTES
    text, encoding = decode_head(head, str(path), truncated)
    lines = [line for line in text.splitlines()[skip_rows:] if line.strip()]
    if truncated and len(lines) > 1:
        lines = lines[:-1]  # the sample may have cut the last line
    dialect = sniff_lines(lines)
    return None if dialect is None else replace(dialect, encoding=encoding)


def sniff_lines(lines: list[str]) -> Dialect | None:
    """The dialect of a file's first non-blank lines (a header first, if it has one); None for none.

    The one set of rules for delimited text: `score` (the CSV adapter) applies it to a file's first
    SAMPLE_LINES lines, `watch --follow` (`adapters.csv_lines`) to the same lines as they arrive, so both
    read a file alike. The delimiter is the candidate that splits every line into the same number
    (>1) of fields, most fields winning; a decimal comma is read only with ';' or tab as delimiter
    and only when a data cell has one (`1,5`)."""
    lines = lines[:SAMPLE_LINES]
    if not lines:
        return None
    delimiter = _delimiter(lines)
    rows = list(csv.reader(lines, delimiter=delimiter))
    first = [cell.strip() for cell in rows[0]]
    has_header = not all(cell == "" or NUMBER.match(cell) or _looks_like_time(cell) for cell in first)
    body = [cell.strip() for row in rows[1 if has_header else 0 :] for cell in row]
    decimal_comma = delimiter != "," and any(_DECIMAL_COMMA.match(cell) for cell in body)
    data_rows = rows[1:] if has_header else []
    ragged = sum(1 for r in data_rows if len(r) != len(first) and not (len(r) > len(first) and not any(c.strip() for c in r[len(first):])))
    return Dialect(delimiter=delimiter, has_header=has_header, encoding="utf-8", decimal_comma=decimal_comma,
                   n_fields=max(len(r) for r in rows), header_fields=len(first) if has_header else 0,
                   ragged_rows=ragged, sampled_rows=len(data_rows))


def _delimiter(lines: list[str]) -> str:
    """The candidate that splits every line into the same number (>1) of fields; most fields wins."""
    best, best_fields = ",", 1
    for candidate in DELIMITERS:
        try:
            counts = {len(row) for row in csv.reader(lines, delimiter=candidate)}
        except csv.Error:
            continue
        if len(counts) == 1:
            fields = counts.pop()
            if fields > best_fields:
                best, best_fields = candidate, fields
    return best


def _looks_like_time(cell: str) -> bool:
    return bool(re.match(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?.*)?$", cell))


def is_binary_line(line: str) -> bool:
    """NUL bytes or many control characters: not a line of a text file."""
    control = sum(1 for ch in line if ch < " " and ch != "\t")
    return "\x00" in line or control > max(2, len(line) // 20)


def split_line(line: str, delimiter: str) -> list[str]:
    """One line's cells (quotes honoured); csv.Error for a line that is not text."""
    if '"' not in line:
        return line.split(delimiter)
    return next(csv.reader([line], delimiter=delimiter))


def parse_number(cell: str, decimal_comma: bool) -> float:
    """One cell as a channel value: empty, nan and infinities are missing (NaN), true/false are 1/0;
    ValueError for anything else that is not a number."""
    cell = cell.strip()
    if not cell:
        return float("nan")
    if decimal_comma:
        cell = cell.replace(",", ".")
    lowered = cell.lower()
    if lowered in BOOLEANS:
        return BOOLEANS[lowered]
    value = float(cell)
    return value if math.isfinite(value) else float("nan")
